/*
 * uploadpane: the upload pane, in place of the list. A prompt for a file or
 * folder on the host (Tab completes it from the local file system; Enter
 * asks for the destination in the same dialog as a drag-in), and the
 * transfer queue: every upload of this session with its progress, done or
 * failed with the error. The queue is the one drag-in feeds (transfer.h).
 */
#ifndef SMOLVM_UPLOADPANE_H
#define SMOLVM_UPLOADPANE_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "backend/store.h"
#include "tui/dialog.h"
#include "tui/paste.h"

struct app;

struct uploadpane {
	struct sandbox sb;		/* where new uploads go */
	struct dialog_field path;
	char note[512];			/* what the last Tab found */
	unsigned sel_id;		/* the selected transfer; 0: the newest */
	size_t top;
	int prompt_y, prompt_x;		/* where the prompt was drawn */
};

struct uploadpane *uploadpane_open(const struct sandbox *sb);
void uploadpane_free(struct uploadpane *up);

/* A key for the pane; false if it asks to close it. */
bool uploadpane_key(struct app *a, bool is_code, wint_t wc);
/* Pasted text: files go to the destination dialog, other text into the prompt. */
void uploadpane_paste(struct app *a, const char *text, size_t len);

void uploadpane_draw(struct app *a, int y0, int h, int cols);
bool uploadpane_cursor(const struct uploadpane *up, int *y, int *x);

/*
 * Complete the last component of path (a leading ~/ is the home folder,
 * relative paths start in the current one) against the local file system,
 * into out: a single match in full (with a / after a folder), several
 * extended to what they share. matches gets the names that fit, sorted
 * (free with paste_paths_free). Returns how many matched.
 */
size_t uploadpane_complete(const char *path, char *out, size_t len, struct paste_paths *matches);

#endif
