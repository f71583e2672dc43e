/* scrollback: a ring of lines that scrolled off the top of a terminal. */
#ifndef SMOLVM_SCROLLBACK_H
#define SMOLVM_SCROLLBACK_H

#include <stddef.h>
#include <vterm.h>

struct scrollback_line {
	int cols;		/* cells kept; trailing blanks are dropped */
	VTermScreenCell blank;	/* what the dropped cells looked like */
	VTermScreenCell cells[];
};

struct scrollback {
	struct scrollback_line **lines;
	size_t cap, head, count;	/* head: where the next line goes */
};

void scrollback_init(struct scrollback *sb, size_t cap);
void scrollback_free(struct scrollback *sb);

/* Keep a line; the oldest goes when the ring is full. */
void scrollback_push(struct scrollback *sb, int cols, const VTermScreenCell *cells);

/* Take back the newest line into cells[0..cols-1] (a terminal grew taller).
 * Returns 0 if the ring is empty. */
int scrollback_pop(struct scrollback *sb, int cols, VTermScreenCell *cells);

/* Line i, 0 being the newest; NULL past the end. */
const struct scrollback_line *scrollback_get(const struct scrollback *sb, size_t i);

/* The cell at column col of a line, blank past its end. */
const VTermScreenCell *scrollback_cell(const struct scrollback_line *l, int col);

#endif
