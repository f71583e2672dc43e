/* colour: fit terminal colours (indexed or RGB) to what the screen can show. */
#ifndef SMOLVM_COLOUR_H
#define SMOLVM_COLOUR_H

#include <stdint.h>
#include <vterm.h>

/*
 * A colour as written in a theme: COLOUR_DEFAULT (the terminal's own),
 * 0-255 (an xterm palette index) or COLOUR_RGB | 0xrrggbb.
 */
#define COLOUR_DEFAULT (-1)
#define COLOUR_RGB 0x1000000

/* The xterm palette entry for idx (0-255) as 0xrrggbb. */
uint32_t colour_palette_rgb(int idx);

/* Nearest entry of the 6x6x6 cube or grey ramp (16-255); the first 16 are
 * left out because terminals redefine them. */
int colour_rgb_to_256(uint32_t rgb);

/* Nearest of the first n palette entries (n = 8 or 16). */
int colour_rgb_to_basic(uint32_t rgb, int n);

/*
 * The colour number to give curses on a screen with ncolours colours
 * (COLORS): -1 for the default, an index that exists on that screen, or -1
 * when the screen has fewer than 8.
 */
int colour_fit(int colour, int ncolours);

/* The same for a cell colour from libvterm. */
int colour_from_vterm(const VTermColor *c, int ncolours);

/* Parse "default", a name (red, bright-blue, ...), 0-255 or #rrggbb.
 * Returns 0, or -1 if s is none of these. */
int colour_parse(const char *s, int *out);

#endif
