#include "tui/snappane.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/util.h"
#include "fs/progress.h"
#include "tui/app.h"
#include "tui/draw.h"
#include "tui/status.h"
#include "tui/theme.h"

#define FORM_W 60
#define FORM_H 11

static void tree_walk(const struct snapshot *v, size_t n, size_t at, int depth, bool *seen,
		      size_t *order, int *dep, size_t *k)
{
	seen[at] = true;
	order[*k] = at;
	dep[(*k)++] = depth;
	for (size_t i = 0; i < n; i++)
		if (!seen[i] && !strcmp(v[i].parent, v[at].name))
			tree_walk(v, n, i, depth + 1, seen, order, dep, k);
}

void snappane_tree(const struct snapshot *v, size_t n, size_t *order, int *depth)
{
	bool *seen = xcalloc(n ? n : 1, sizeof *seen);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		bool has_parent = false;

		for (size_t j = 0; j < n && !has_parent; j++)
			has_parent = j != i && !strcmp(v[i].parent, v[j].name);
		if (!has_parent && !seen[i])
			tree_walk(v, n, i, 0, seen, order, depth, &k);
	}
	/* Whatever a cycle of parents kept out. */
	for (size_t i = 0; i < n; i++)
		if (!seen[i])
			tree_walk(v, n, i, 0, seen, order, depth, &k);
	free(seen);
}

void snappane_refresh(struct snappane *sp, const struct sandbox *sb)
{
	struct snapshot *v;
	size_t n;

	sp->sb = *sb;
	if (snapshot_list(sb, &v, &n) < 0) {
		snprintf(sp->error, sizeof sp->error, "%s", err_msg());
		return;
	}
	sp->error[0] = '\0';
	free(sp->v);
	free(sp->order);
	free(sp->depth);
	sp->v = v;
	sp->n = n;
	sp->order = xcalloc(n ? n : 1, sizeof *sp->order);
	sp->depth = xcalloc(n ? n : 1, sizeof *sp->depth);
	snappane_tree(v, n, sp->order, sp->depth);
	if (sp->sel >= n)
		sp->sel = n ? n - 1 : 0;
}

struct snappane *snappane_open(const struct sandbox *sb)
{
	struct snappane *sp = xcalloc(1, sizeof *sp);

	snappane_refresh(sp, sb);
	/* The newest first in sight. */
	for (size_t i = 0; i < sp->n; i++)
		if (sp->order[i] == sp->n - 1)
			sp->sel = i;
	return sp;
}

void snappane_free(struct snappane *sp)
{
	if (!sp)
		return;
	free(sp->v);
	free(sp->order);
	free(sp->depth);
	free(sp);
}

static const struct snapshot *selected(const struct snappane *sp)
{
	return sp->n ? &sp->v[sp->order[sp->sel]] : NULL;
}

/* Is a snapshot job or clone of this sandbox under way? */
static bool busy(struct app *a, const struct snappane *sp)
{
	for (size_t i = 0; i < a->njobs; i++) {
		if (a->jobs[i]->kind == JOB_SNAPSHOT && !strcmp(a->jobs[i]->id, sp->sb.id)) {
			status_set(STATUS_INFO, "%s %s is under way; wait for it", a->jobs[i]->what,
				   sp->sb.name);
			return true;
		}
	}
	return false;
}

static void open_form(struct snappane *sp, enum snappane_form form)
{
	const struct snapshot *s = selected(sp);
	char def[64] = "";

	sp->form = form;
	sp->state = SNAP_FORM;
	sp->focus = 0;
	sp->form_error[0] = '\0';
	sp->memory = false;
	snprintf(sp->snap, sizeof sp->snap, "%s", s ? s->name : "");
	if (form == SNAP_FORM_CLONE)
		snprintf(def, sizeof def, "%.30s-%.30s", sp->sb.name, sp->snap);
	sp->name = (struct dialog_field){ .label = "Name", .unit = "", .width = FORM_W - 16 };
	snprintf(sp->name.value, sizeof sp->name.value, "%s", def);
	sp->name.len = sp->name.cursor = strlen(sp->name.value);
}

static void submit_form(struct app *a, struct snappane *sp)
{
	const char *name = sp->name.value;
	struct job *j;

	if (sp->form == SNAP_FORM_CREATE) {
		char *args[8] = { "create", sp->sb.id };
		int n = 2;

		if (*name && snapshot_name_problem(name)) {
			snprintf(sp->form_error, sizeof sp->form_error, "the name %s",
				 snapshot_name_problem(name));
			return;
		}
		if (sp->memory && strcmp(sp->sb.state, SB_RUNNING)) {
			snprintf(sp->form_error, sizeof sp->form_error, "a memory snapshot needs %s "
				 "running; it is %s", sp->sb.name, sp->sb.state);
			return;
		}
		if (*name) {
			args[n++] = "--name";
			args[n++] = (char *)name;
		}
		if (sp->memory)
			args[n++] = "--memory";
		args[n] = NULL;
		j = job_snapshot(args, sp->sb.id, sp->sb.name, "snapshotting");
	} else {
		char ref[96];

		if (!store_name_valid(name)) {
			snprintf(sp->form_error, sizeof sp->form_error, "the name %s",
				 *name ? store_name_problem(name) : "is empty");
			return;
		}
		snprintf(ref, sizeof ref, "%s:%s", sp->sb.id, sp->snap);
		j = job_clone(ref, name);
	}
	sp->state = SNAP_VIEW;
	if (!j) {
		status_set(STATUS_ERROR, "%s", err_msg());
		return;
	}
	app_start_job(a, j);
	if (sp->form == SNAP_FORM_CREATE)
		status_set(STATUS_INFO, "taking a %s snapshot of %s...", sp->memory ? "memory" :
			   "disk", sp->sb.name);
	else
		status_set(STATUS_INFO, "cloning %s:%s into %s...", sp->sb.name, sp->snap, name);
}

static void form_key(struct app *a, struct snappane *sp, bool is_code, wint_t wc)
{
	int nfocus = 4;

	if (!is_code && wc == 0x1b) {
		sp->state = SNAP_VIEW;
		return;
	}
	if ((!is_code && wc == '\t') || (is_code && (wc == KEY_DOWN || wc == KEY_BTAB ||
						    wc == KEY_UP))) {
		int dir = is_code && (wc == KEY_BTAB || wc == KEY_UP) ? -1 : 1;

		do
			sp->focus = (sp->focus + dir + nfocus) % nfocus;
		while (sp->focus == 1 && sp->form == SNAP_FORM_CLONE);
		return;
	}
	if ((!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER)) {
		if (sp->focus == 3)
			sp->state = SNAP_VIEW;
		else
			submit_form(a, sp);
		return;
	}
	if (sp->focus == 1) {
		if ((!is_code && wc == ' ') || (is_code && (wc == KEY_LEFT || wc == KEY_RIGHT)))
			sp->memory = !sp->memory;
		return;
	}
	if (sp->focus == 0 && dialog_field_key(&sp->name, is_code, wc))
		sp->form_error[0] = '\0';
}

static void ask(struct snappane *sp, enum snappane_act act)
{
	const struct snapshot *s = selected(sp);

	if (!s)
		return;
	memset(&sp->conf, 0, sizeof sp->conf);
	sp->act = act;
	snprintf(sp->snap, sizeof sp->snap, "%s", s->name);
	if (act == SNAP_ACT_RESTORE) {
		snprintf(sp->conf.title, sizeof sp->conf.title, "Restore snapshot");
		snprintf(sp->conf.yes, sizeof sp->conf.yes, "Restore");
		snprintf(sp->conf.text[0], sizeof sp->conf.text[0], "Restore %s to %s (%s)?",
			 sp->sb.name, s->name, s->kind);
		snprintf(sp->conf.text[1], sizeof sp->conf.text[1], "What changed since is lost; "
			 "open shells in it end.");
		snprintf(sp->conf.text[2], sizeof sp->conf.text[2], "%s",
			 strcmp(s->kind, SNAPSHOT_MEMORY) ? "It restarts on the saved disk." :
			 "It resumes where it was, processes and all.");
	} else {
		snprintf(sp->conf.title, sizeof sp->conf.title, "Delete snapshot");
		snprintf(sp->conf.yes, sizeof sp->conf.yes, "Delete");
		snprintf(sp->conf.text[0], sizeof sp->conf.text[0], "Delete snapshot %s of %s?",
			 s->name, sp->sb.name);
		snprintf(sp->conf.text[1], sizeof sp->conf.text[1], "The sandbox itself stays as "
			 "it is.");
	}
	sp->state = SNAP_CONFIRM;
}

static void confirmed(struct app *a, struct snappane *sp)
{
	char *args[] = { sp->act == SNAP_ACT_RESTORE ? "restore" : "rm", sp->sb.id, sp->snap,
			 NULL };
	const char *what = sp->act == SNAP_ACT_RESTORE ? "restoring" : "deleting a snapshot of";
	struct job *j = job_snapshot(args, sp->sb.id, sp->sb.name, what);

	if (!j) {
		status_set(STATUS_ERROR, "%s", err_msg());
		return;
	}
	app_start_job(a, j);
	status_set(STATUS_INFO, "%s %s %s...", sp->act == SNAP_ACT_RESTORE ? "restoring" :
		   "deleting", sp->act == SNAP_ACT_RESTORE ? sp->sb.name : sp->snap,
		   sp->act == SNAP_ACT_RESTORE ? sp->snap : "");
}

static void move_sel(struct snappane *sp, long d)
{
	long s = (long)sp->sel + d;

	if (s >= (long)sp->n)
		s = (long)sp->n - 1;
	sp->sel = s < 0 ? 0 : (size_t)s;
}

bool snappane_key(struct app *a, bool is_code, wint_t wc)
{
	struct snappane *sp = a->snaps;
	enum dialog_result r;

	switch (sp->state) {
	case SNAP_FORM:
		form_key(a, sp, is_code, wc);
		return true;
	case SNAP_CONFIRM:
		r = dialog_confirm_key(&sp->conf, is_code, wc);
		if (r != DIALOG_OPEN)
			sp->state = SNAP_VIEW;
		if (r == DIALOG_OK)
			confirmed(a, sp);
		return true;
	case SNAP_VIEW:
		break;
	}
	if (is_code) {
		switch (wc) {
		case KEY_UP: move_sel(sp, -1); break;
		case KEY_DOWN: move_sel(sp, 1); break;
		case KEY_HOME: sp->sel = 0; break;
		case KEY_END: move_sel(sp, (long)sp->n); break;
		case KEY_DC: if (!busy(a, sp)) ask(sp, SNAP_ACT_DELETE); break;
		}
		return true;
	}
	switch (wc) {
	case 'k': move_sel(sp, -1); break;
	case 'j': move_sel(sp, 1); break;
	case 'n': if (!busy(a, sp)) open_form(sp, SNAP_FORM_CREATE); break;
	case 'r': case '\r': if (selected(sp) && !busy(a, sp)) ask(sp, SNAP_ACT_RESTORE); break;
	case 'd': if (selected(sp) && !busy(a, sp)) ask(sp, SNAP_ACT_DELETE); break;
	case 'c': if (selected(sp)) open_form(sp, SNAP_FORM_CLONE); break;
	case '?': a->overlay = OV_HELP; break;
	case 'q': case 'S': case 0x1b: return false;
	}
	return true;
}

void snappane_draw(struct snappane *sp, int y0, int h, int cols)
{
	struct style base = theme_style(TH_LIST), head = theme_style(TH_LIST_HEADER);
	uint64_t total = 0;
	char t[256], sz[32];
	int y = y0 + 2;

	for (int r = y0; r < y0 + h; r++)
		draw_fill(r, 0, cols, base);
	for (size_t i = 0; i < sp->n; i++)
		total += sp->v[i].size;
	progress_fmt_bytes(total, sz, sizeof sz);
	snprintf(t, sizeof t, "Snapshots of %s (%s, %s): %zu, %s in all", sp->sb.name, sp->sb.id,
		 sp->sb.state, sp->n, sz);
	draw_text(y0, 1, cols - 2, head, t, false);
	if (sp->error[0]) {
		draw_wrap(y0 + 1, 1, cols - 2, 2, theme_style(TH_STATUS_ERROR), sp->error);
		y = y0 + 3;
	}
	if (!sp->n) {
		draw_text(y + 1, 2, cols - 3, base, "No snapshots yet. n takes one (of the disk, "
			  "or with its memory the running state).", false);
		return;
	}
	draw_text(y, 1, cols - 2, head, "  NAME                      KIND    TAKEN             "
		  "SIZE       FROM", false);
	sp->rows = y0 + h - y - 1;
	if (sp->rows < 1)
		return;
	if (sp->sel < sp->top)
		sp->top = sp->sel;
	if (sp->sel >= sp->top + (size_t)sp->rows)
		sp->top = sp->sel - (size_t)sp->rows + 1;
	for (size_t i = sp->top; i < sp->n && (int)(i - sp->top) < sp->rows; i++) {
		const struct snapshot *s = &sp->v[sp->order[i]];
		struct style st = theme_style(i == sp->sel ? TH_LIST_SELECTED : TH_LIST);
		int ry = y + 1 + (int)(i - sp->top), d = sp->depth[i] > 8 ? 8 : sp->depth[i];
		char name[128], when[32], size[32];
		time_t tt = (time_t)s->created;
		struct tm tm;

		localtime_r(&tt, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		progress_fmt_bytes(s->size, size, sizeof size);
		snprintf(name, sizeof name, "%*s%s%s", 2 * d, "", d ? draw_glyph("└ ", "`-") : "",
			 s->name);
		draw_fill(ry, 0, cols, st);
		draw_text(ry, 1, 2, st, s->current ? "*" : " ", false);
		draw_text(ry, 3, 26, st, name, true);
		draw_text(ry, 29, 7, st, s->kind, true);
		draw_text(ry, 37, 17, st, when, true);
		draw_text(ry, 55, 10, st, size, true);
		draw_text(ry, 66, cols - 67, st, s->parent, false);
	}
}

static void form_origin(int lines, int cols, int *y, int *x)
{
	*y = (lines - FORM_H) / 2;
	*x = (cols - FORM_W) / 2;
	if (*y < 0)
		*y = 0;
	if (*x < 0)
		*x = 0;
}

void snappane_draw_dialog(const struct snappane *sp, int lines, int cols)
{
	struct style base = theme_style(TH_DIALOG);
	char t[128], kind[64];
	int y, x;

	if (sp->state == SNAP_CONFIRM) {
		dialog_confirm_draw(&sp->conf, lines, cols);
		return;
	}
	if (sp->state != SNAP_FORM)
		return;
	form_origin(lines, cols, &y, &x);
	if (sp->form == SNAP_FORM_CREATE)
		snprintf(t, sizeof t, "New snapshot of %.30s", sp->sb.name);
	else
		snprintf(t, sizeof t, "Clone %.20s:%.20s", sp->sb.name, sp->snap);
	draw_box(y, x, FORM_H, FORM_W, theme_style(TH_BORDER), base, t);
	dialog_field_draw(&sp->name, y + 2, x + 3, sp->focus == 0);
	if (sp->form == SNAP_FORM_CREATE) {
		draw_text(y + 3, x + 12, FORM_W - 15, base, "(empty: snap-N)", false);
		draw_text(y + 5, x + 3, 8, base, "Kind", true);
		snprintf(kind, sizeof kind, "%s disk   %s memory (running state)",
			 sp->memory ? "( )" : "(o)", sp->memory ? "(o)" : "( )");
		draw_text(y + 5, x + 12, FORM_W - 15, theme_style(sp->focus == 1 ?
			  TH_DIALOG_FIELD_ACTIVE : TH_DIALOG), kind, false);
	} else {
		draw_text(y + 3, x + 12, FORM_W - 15, base, "the new sandbox's name", false);
	}
	if (sp->form_error[0])
		draw_text(y + 7, x + 3, FORM_W - 6, theme_style(TH_DIALOG_ERROR), sp->form_error,
			  true);
	else
		draw_text(y + 7, x + 3, FORM_W - 6, base, sp->form == SNAP_FORM_CREATE ?
			  "Tab: next   Space: kind   Enter: take it   Esc: cancel" :
			  "Enter: clone   Esc: cancel", true);
	draw_text(y + 9, x + FORM_W - 26, 10, theme_style(sp->focus == 2 ? TH_DIALOG_FIELD_ACTIVE :
		  TH_DIALOG), sp->form == SNAP_FORM_CREATE ? "[ Take ]" : "[ Clone ]", false);
	draw_text(y + 9, x + FORM_W - 14, 10, theme_style(sp->focus == 3 ? TH_DIALOG_FIELD_ACTIVE :
		  TH_DIALOG), "[ Cancel ]", false);
}

bool snappane_cursor(const struct snappane *sp, int lines, int cols, int *cy, int *cx)
{
	int y, x;

	if (sp->state != SNAP_FORM || sp->focus != 0)
		return false;
	form_origin(lines, cols, &y, &x);
	*cy = y + 2;
	*cx = x + 3 + 9 + dialog_field_cursor(&sp->name);
	return true;
}
