/*
 * snappane: the snapshot pane of one sandbox, in place of the list: its
 * snapshots as a tree (each under the one its state came from), with kind,
 * time and size, '*' on the one the current state descends from; taking a
 * disk or memory snapshot, restoring one and deleting one (each asked
 * first), and cloning one into a new sandbox. Listing is read in place
 * (backend/snapshot.h); the long operations run as `smolvm snapshot ...`
 * and `smolvm create --from` jobs (job.h), so the screen never waits.
 */
#ifndef SMOLVM_SNAPPANE_H
#define SMOLVM_SNAPPANE_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "backend/snapshot.h"
#include "backend/store.h"
#include "tui/dialog.h"

struct app;

enum snappane_state { SNAP_VIEW, SNAP_FORM, SNAP_CONFIRM };
enum snappane_form { SNAP_FORM_CREATE, SNAP_FORM_CLONE };
enum snappane_act { SNAP_ACT_RESTORE, SNAP_ACT_DELETE };

struct snappane {
	struct sandbox sb;
	struct snapshot *v;		/* as listed, oldest first */
	size_t n;
	size_t *order;			/* v's indexes in tree order */
	int *depth;			/* of each row in tree order */
	char error[400];		/* why the list could not be read */
	size_t sel, top;		/* rows (tree order) */
	int rows;

	enum snappane_state state;
	enum snappane_form form;
	struct dialog_field name;
	bool memory;			/* SNAP_FORM_CREATE: of the running state */
	int focus;			/* 0 name, 1 kind (create), 2 OK, 3 Cancel */
	char form_error[160];
	char snap[64];			/* the snapshot the form or question is about */
	struct dialog_confirm conf;
	enum snappane_act act;
};

struct snappane *snappane_open(const struct sandbox *sb);
void snappane_free(struct snappane *sp);
/* List again; sb is the sandbox's record now. */
void snappane_refresh(struct snappane *sp, const struct sandbox *sb);

/* Keys for the pane; false when it asks to close. */
bool snappane_key(struct app *a, bool is_code, wint_t wc);
void snappane_draw(struct snappane *sp, int y0, int h, int cols);
void snappane_draw_dialog(const struct snappane *sp, int lines, int cols);
bool snappane_cursor(const struct snappane *sp, int lines, int cols, int *y, int *x);

/*
 * Tree order of n snapshots: each after its parent (by name; a parent not
 * among them, such as a clone's "ID:SNAP", makes a root), siblings oldest
 * first. order and depth get n entries each. Exposed for tests.
 */
void snappane_tree(const struct snapshot *v, size_t n, size_t *order, int *depth);

#endif
