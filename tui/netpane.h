/*
 * netpane: the network pane of one sandbox. It shows the policy in
 * vms/<id>/policy.json (mode, rules, ingress; the loader's error when the
 * file does not load) and a live log of the egress proxy's decisions from
 * vms/<id>/policy.log, and it edits the policy: rules added, changed or
 * deleted in a form, full internet turned on or off, and "allow this" for
 * a denied request. Every edit goes through the policy loader first, is
 * written atomically, and the sandbox's proxy is told at once (SIGHUP).
 */
#ifndef SMOLVM_NETPANE_H
#define SMOLVM_NETPANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <wchar.h>

#include "backend/store.h"
#include "net/policy.h"
#include "tui/dialog.h"
#include "tui/netlog.h"
#include "tui/ruleform.h"

/* What a key asks of the workbench. */
enum netpane_result { NETPANE_HANDLED, NETPANE_CLOSE, NETPANE_HELP, NETPANE_THEME };

/* What keys do now (the footer shows the matching hints). */
enum netpane_state { NETPANE_VIEW, NETPANE_FILTER, NETPANE_FORM, NETPANE_CONFIRM };

enum netpane_focus { NETPANE_RULES, NETPANE_LOG };
enum netpane_action { NETPANE_ACT_DELETE, NETPANE_ACT_FULL };

struct netpane {
	struct sandbox sb;
	bool root;
	char *policy_path;
	struct policy *p;	/* the file's policy (mode none without one); NULL if it does not load */
	bool exists;
	struct stat st;		/* of the file last read */
	char error[600];	/* why the file does not load */
	struct netlog log;

	enum netpane_state state;
	enum netpane_focus focus;
	size_t rule_sel, rule_top;
	uint64_t log_sel;	/* seq of the selected entry; 0 follows the newest */
	size_t log_top;
	int log_rows;		/* shown at the last draw: a page */
	struct dialog_field filter;
	int filter_y, filter_x;	/* where the filter was drawn */

	struct ruleform form;
	struct dialog_confirm conf;
	enum netpane_action act;
	char act_id[POLICY_ID_MAX + 1];
};

/* The pane of sandbox sb; root: whether edits can be written. */
struct netpane *netpane_open(const struct sandbox *sb, bool root);
void netpane_free(struct netpane *np);

/* Catch up with the files (the policy if it changed, new log lines); sb is
 * the sandbox's record now. */
void netpane_refresh(struct netpane *np, const struct sandbox *sb);

enum netpane_result netpane_key(struct netpane *np, bool is_code, wint_t wc);
/* The mouse wheel: lines up (> 0) or down in the log. */
void netpane_scroll(struct netpane *np, int lines);

/* The pane in rows y0..y0+h-1; then, over everything, its open dialog. */
void netpane_draw(struct netpane *np, int y0, int h, int cols);
void netpane_draw_dialog(struct netpane *np, int lines, int cols);
/* Where the text cursor goes (false: hidden). */
bool netpane_cursor(const struct netpane *np, int lines, int cols, int *y, int *x);

#endif
