/* list: the table of sandboxes and the details of the selected one. */
#ifndef SMOLVM_LIST_H
#define SMOLVM_LIST_H

#include <stddef.h>

#include "backend/store.h"
#include "tui/warm.h"

struct list_row {
	const struct sandbox *sb;
	enum warm_state warm;
	const char *warm_error;	/* why connecting failed, or "" */
	char busy[32];		/* shown instead of the state: "booting 12s" */
	int shells;		/* open shells in it */
};

/* The mark for "ready", "connecting" or "failed". */
const char *list_mark(const char *which);

/*
 * Draw rows in y0..y0+h-1 (a column header first, details of the selected
 * row at the bottom when there is room). *top is the first row shown and
 * is adjusted to keep sel visible.
 */
void list_draw(int y0, int h, int cols, const struct list_row *rows, size_t n, size_t sel,
	       size_t *top, const char *empty_hint);

/* The row under screen line y, or -1. */
int list_row_at(int y, int y0, int h, size_t n, size_t top);

#endif
