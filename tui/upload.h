/*
 * upload: files into a sandbox from the workbench. A paste that is only
 * local paths (what a file manager's drag-in types) offers an upload in a
 * small dialog: the destination folder, by default the shell's current one
 * when it is known (an OSC 7 from the guest, see transfer.h), else the
 * home folder /root. Any other paste is typed into the shell. The copies
 * go into the transfer queue (transfer.h), shared with the upload pane;
 * the status line shows the running one, and each batch's outcome.
 */
#ifndef SMOLVM_UPLOAD_H
#define SMOLVM_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "backend/store.h"
#include "tui/dialog.h"
#include "tui/paste.h"

struct app;
struct shell;

#define UPLOAD_HOME "/root"

enum upload_focus { UPLOAD_DEST, UPLOAD_OK, UPLOAD_TYPE, UPLOAD_CANCEL, UPLOAD_NFOCUS };

struct upload_dialog {
	struct sandbox sb;
	struct paste_paths paths;
	struct shell *sh;		/* the shell it was dropped on, or NULL */
	char *text;			/* the paste itself, for "paste as text"; or NULL */
	size_t text_len;
	unsigned cwd_seq;		/* the shell's OSC 7 count when dest was last set */
	bool edited;			/* the user changed dest: it stays */
	struct dialog_field dest;
	int focus;
	char error[160];
};

/* A bracketed paste arrived (text without the markers). */
void upload_paste(struct app *a, const char *text, size_t len);

/* Offer to upload paths (taken over) into sb, dropped on shell sh (or NULL). */
void upload_offer(struct app *a, const struct sandbox *sb, struct shell *sh,
		  struct paste_paths *paths, const char *text, size_t len);

void upload_dialog_key(struct app *a, bool is_code, wint_t wc);
void upload_dialog_draw(const struct upload_dialog *d, int lines, int cols);
bool upload_dialog_cursor(const struct upload_dialog *d, int lines, int cols, int *y, int *x);
void upload_dialog_free(struct upload_dialog *d);

/* Once per turn of the loop: a shell's folder that arrived updates the
 * dialog, finished batches are reported on the status line. */
void upload_tick(struct app *a);

#endif
