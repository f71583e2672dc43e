/* termpane: a terminal emulated by libvterm and drawn into part of the
 * screen, with its own scrollback. It knows nothing about where its bytes
 * come from; shell.c connects it to an SSH channel. */
#ifndef SMOLVM_TERMPANE_H
#define SMOLVM_TERMPANE_H

#include <curses.h>
#include <stdbool.h>
#include <vterm.h>

#include "tui/buf.h"
#include "tui/keys.h"
#include "tui/scrollback.h"

#define TERMPANE_SCROLLBACK 2000

struct termpane {
	VTerm *vt;
	VTermScreen *vs;
	int rows, cols;
	int dirty_lo, dirty_hi;	/* rows [lo, hi) need drawing */
	struct scrollback sb;
	int scroll;		/* lines scrolled back from the live screen */
	struct buf out;		/* bytes for the guest (keys, terminal replies) */
	VTermPos cursor;
	bool cursor_visible;
	bool bell;		/* the guest rang it; cleared by whoever rings ours */
	char title[128];	/* set by the guest (OSC 0/2) */
	bool retitled;		/* title changed since last drawn */
	char cwd[256];		/* the guest shell's folder, from OSC 7; "" if never said */
	unsigned cwd_seq;	/* counts OSC 7s, so a change can be noticed */
};

struct termpane *termpane_new(int rows, int cols);
void termpane_free(struct termpane *p);

/* Bytes from the guest. */
void termpane_feed(struct termpane *p, const char *data, size_t len);

/* A key for the guest: its encoding is appended to p->out. */
void termpane_key(struct termpane *p, const struct keys_vt *k);

/* Text pasted or typed as a whole (sent as-is, UTF-8). */
void termpane_text(struct termpane *p, const char *s);

/* Pasted text: inside ESC[200~ ... ESC[201~ if the guest turned on
 * bracketed paste mode (libvterm tracks it), else as it is. */
void termpane_paste(struct termpane *p, const char *s, size_t len);

void termpane_resize(struct termpane *p, int rows, int cols);

/* Scroll the view back (delta > 0) or forward; 0 lines back is live. */
void termpane_scroll(struct termpane *p, int delta);

/* Everything needs drawing (after the pane was covered or switched to). */
void termpane_touch(struct termpane *p);

/* Colours on or off (NO_COLOR), for every pane. */
void termpane_set_colour(bool on);

/*
 * Draw the dirty rows (all rows if full) at y0, x0 of w. Returns true if
 * anything was drawn.
 */
bool termpane_draw(struct termpane *p, WINDOW *w, int y0, int x0, bool full);

/* Where the real cursor belongs; false if it should be hidden. */
bool termpane_cursor(const struct termpane *p, int *row, int *col);

/* The text of a row of the live screen, UTF-8, trailing blanks dropped. */
void termpane_row_text(const struct termpane *p, int row, char *buf, size_t len);

#endif
