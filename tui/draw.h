/* draw: text in cells: UTF-8 strings cut to a width, boxes. */
#ifndef SMOLVM_DRAW_H
#define SMOLVM_DRAW_H

#include <curses.h>
#include <stdbool.h>

#include "tui/theme.h"

/* Can the terminal show non-ASCII (the locale is UTF-8)? Set at start. */
extern bool draw_unicode;

/* Pick a glyph: the Unicode one when the terminal can show it. */
const char *draw_glyph(const char *unicode, const char *ascii);

/* Columns s takes on screen. */
int draw_width(const char *s);

/*
 * Draw s at y, x in style st, using at most width columns: a longer s is
 * cut with an ellipsis; with pad the rest of the width is filled with
 * spaces. Returns the columns drawn.
 */
int draw_text(int y, int x, int width, struct style st, const char *s, bool pad);

/*
 * Draw s over up to rows lines from y, x, breaking at spaces (a word wider
 * than width is broken where it must); what does not fit is cut with an
 * ellipsis on the last line. Returns the lines used.
 */
int draw_wrap(int y, int x, int width, int rows, struct style st, const char *s);

/* Fill width columns with spaces in style st. */
void draw_fill(int y, int x, int width, struct style st);

/* A box with an optional title in the top border, its inside cleared. */
void draw_box(int y, int x, int h, int w, struct style border, struct style inside,
	      const char *title);

#endif
