/* app: the workbench's state, shared by the loop (tui.c), the key and
 * mouse handlers (input.c) and the drawing (screen.c), and the actions
 * they all use (app.c): opening shells, creating, deleting, quitting. */
#ifndef SMOLVM_APP_H
#define SMOLVM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/store.h"
#include "tui/dialog.h"
#include "tui/filespane.h"
#include "tui/job.h"
#include "tui/list.h"
#include "tui/netpane.h"
#include "tui/shell.h"
#include "tui/snappane.h"
#include "tui/theme.h"
#include "tui/transfer.h"
#include "tui/upload.h"
#include "tui/uploadpane.h"
#include "tui/vaultpane.h"
#include "tui/warm.h"
#include "tui/watch.h"

#define MAX_TABS 64

enum overlay { OV_NONE, OV_HELP, OV_NEW, OV_CONFIRM, OV_UPLOAD };
enum confirm_action { ACT_DELETE, ACT_CLOSE_SHELL, ACT_QUIT };

struct tab_hit {
	int x0, x1;	/* columns [x0, x1) of row 0 */
	int view;	/* -1: the list */
};

struct app {
	struct sandbox *sbs;
	size_t nsbs;
	struct list_row *rows;
	size_t sel, top;
	char sel_id[16];

	struct warm warm;
	struct watch watch;
	struct shell **shells;
	size_t nshells;
	int view;			/* -1: the list, else a shell */
	struct job **jobs;
	size_t njobs;
	struct netpane *net;		/* a sandbox's network pane in place of the list, or NULL */
	struct uploadpane *up;		/* the upload pane in place of the list, or NULL */
	struct filespane *files;	/* a sandbox's files pane in place of the list, or NULL */
	struct snappane *snaps;		/* a sandbox's snapshot pane in place of the list, or NULL */
	struct vaultpane *vault;	/* the vault pane (for a sandbox) in place of the list */
	struct transfers xfers;		/* uploads: drag-in and the upload pane share them */
	struct upload_dialog *updlg;	/* OV_UPLOAD: where dropped files go */
	struct buf paste;		/* a bracketed paste coming in */
	bool pasting;

	enum overlay overlay;
	struct dialog_new dnew;
	struct dialog_confirm dconf;
	enum confirm_action action;
	char action_id[16];

	int prefix;			/* the prefix key's byte */
	char prefix_label[8];		/* "^B" */
	char prefix_name[16];		/* "Ctrl-b" */
	bool prefix_armed;

	struct theme theme;
	bool colour;
	bool root;

	bool dirty;			/* anything besides panes changed */
	bool full;			/* repaint everything */
	int64_t last_tick;
	int sig_pipe[2];
	bool quit;
	struct tab_hit tabs[MAX_TABS + 1];
	int ntabs;
	int click_row;
	int64_t click_ms;
	char store_error[256];
};

/* Rows a shell pane has: the screen less the tab line, status and keys. */
int app_pane_rows(void);
struct shell *app_shell(struct app *a);			/* shown, or NULL */
const struct sandbox *app_selected(struct app *a);	/* or NULL */

/* Read the store again (and sync sessions and watches with it). */
void app_reload(struct app *a);
void app_build_rows(struct app *a);
void app_select(struct app *a, size_t i);

/* -1 shows the list. */
void app_switch_view(struct app *a, int view);
/* One step through the list and the shells. */
void app_cycle_view(struct app *a, int dir);
/* Go to a shell in sb, opening one unless reuse finds one open. */
void app_open_shell(struct app *a, const struct sandbox *sb, bool reuse);
void app_close_shell(struct app *a, int i);
/* Let every shell make progress on its channel. */
void app_pump_shells(struct app *a);
/* The terminal changed size: the screen and every pane follow. */
void app_resize(struct app *a);

void app_reap_jobs(struct app *a);
/* "booting beta… 4s" for the status line. */
void app_jobs_summary(struct app *a, char *buf, size_t len);

void app_start_new(struct app *a);
void app_submit_new(struct app *a);
void app_ask_delete(struct app *a);
void app_ask_close_shell(struct app *a);
void app_ask_quit(struct app *a);
void app_do_confirmed(struct app *a);
void app_next_theme(struct app *a);

/* The network pane of sb in place of the list (replacing one open). */
void app_open_net(struct app *a, const struct sandbox *sb);
void app_close_net(struct app *a);
void app_net_key(struct app *a, bool is_code, wint_t wc);

/* The upload pane (for uploads into sb) in place of the list. */
void app_open_upload(struct app *a, const struct sandbox *sb);
void app_close_upload(struct app *a);
void app_upload_key(struct app *a, bool is_code, wint_t wc);

/* The files pane of sb (what it changed) in place of the list. */
void app_open_files(struct app *a, const struct sandbox *sb);
void app_close_files(struct app *a);
void app_files_key(struct app *a, bool is_code, wint_t wc);

/* The snapshot pane of sb in place of the list. */
void app_open_snaps(struct app *a, const struct sandbox *sb);
void app_close_snaps(struct app *a);
void app_snaps_key(struct app *a, bool is_code, wint_t wc);

/* The vault pane, attaching to sb, in place of the list. */
void app_open_vault(struct app *a, const struct sandbox *sb);
void app_close_vault(struct app *a);
void app_vault_key(struct app *a, bool is_code, wint_t wc);

/* Watch a job started elsewhere (a snapshot, a clone) like create and rm. */
void app_start_job(struct app *a, struct job *j);

#endif
