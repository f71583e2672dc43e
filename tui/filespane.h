/*
 * filespane: the files pane of one sandbox, in place of the list: what it
 * added, changed and deleted against its image (fs/diff.h, the same as
 * `smolvm diff`), coloured by kind. Reading it can take a while (a running
 * sandbox's layer is frozen in the guest for the moment it is read), so it
 * is read on a thread of its own; r reads it again.
 */
#ifndef SMOLVM_FILESPANE_H
#define SMOLVM_FILESPANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#include "backend/store.h"
#include "fs/diff.h"

enum filespane_result { FILESPANE_HANDLED, FILESPANE_CLOSE, FILESPANE_HELP };

struct diff_read;

struct filespane {
	struct sandbox sb;
	struct diff_read *reading;	/* a read in progress, or NULL */
	struct diff_change *c;		/* the last read's changes */
	size_t n;
	bool have;			/* a read finished (c, n or error are set) */
	char error[400];		/* why the last read failed, or "" */
	int64_t read_at_ms, took_ms;	/* when the last read finished, and how long it took */
	size_t sel, top;
	int rows;			/* shown at the last draw: a page */
};

/* The pane of sb; the first read starts at once. */
struct filespane *filespane_open(const struct sandbox *sb);
/* A read still going on finishes on its own and is forgotten. */
void filespane_free(struct filespane *fp);

/* Read again (unless a read is going on). */
void filespane_refresh(struct filespane *fp);

/* The descriptor that becomes readable when a read finishes, or -1. */
int filespane_fd(const struct filespane *fp);
/* Take a finished read's result; true if the pane changed. */
bool filespane_collect(struct filespane *fp);

enum filespane_result filespane_key(struct filespane *fp, bool is_code, wint_t wc);
void filespane_draw(struct filespane *fp, int y0, int h, int cols);

#endif
