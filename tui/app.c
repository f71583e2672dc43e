#include "tui/app.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend/sandbox.h"
#include "backend/util.h"
#include "fs/image.h"
#include "tui/draw.h"
#include "tui/status.h"

int app_pane_rows(void)
{
	return LINES - 3 > 1 ? LINES - 3 : 1;
}

struct shell *app_shell(struct app *a)
{
	return a->view >= 0 ? a->shells[a->view] : NULL;
}

const struct sandbox *app_selected(struct app *a)
{
	return a->nsbs ? &a->sbs[a->sel] : NULL;
}

static int count_shells(struct app *a, const char *id)
{
	int n = 0;

	for (size_t i = 0; i < a->nshells; i++)
		if (!strcmp(a->shells[i]->id, id) && a->shells[i]->state != SHELL_DONE)
			n++;
	return n;
}

static void job_busy_text(struct app *a, struct list_row *r)
{
	int64_t now = util_now_ms();

	r->busy[0] = '\0';
	for (size_t i = 0; i < a->njobs; i++) {
		struct job *j = a->jobs[i];
		char t[16];

		util_fmt_duration((now - j->started_ms) / 1000, t, sizeof t);
		if (j->kind == JOB_REMOVE && !strcmp(j->id, r->sb->id))
			snprintf(r->busy, sizeof r->busy, "deleting %s", t);
		else if (j->kind == JOB_SNAPSHOT && !strcmp(j->id, r->sb->id))
			snprintf(r->busy, sizeof r->busy, "%.14s %.15s", j->what, t);
		else if (j->kind == JOB_CREATE && !strcmp(j->name, r->sb->name) &&
			 strcmp(r->sb->state, SB_RUNNING))
			snprintf(r->busy, sizeof r->busy, "booting %s", t);
	}
}

void app_build_rows(struct app *a)
{
	free(a->rows);
	a->rows = xcalloc(a->nsbs ? a->nsbs : 1, sizeof *a->rows);
	for (size_t i = 0; i < a->nsbs; i++) {
		struct list_row *r = &a->rows[i];
		struct session *s = warm_find(&a->warm, a->sbs[i].id);

		r->sb = &a->sbs[i];
		r->warm = s ? s->state : WARM_IDLE;
		r->warm_error = s ? s->error : "";
		r->shells = count_shells(a, a->sbs[i].id);
		job_busy_text(a, r);
	}
}

void app_select(struct app *a, size_t i)
{
	if (!a->nsbs)
		return;
	if (i >= a->nsbs)
		i = a->nsbs - 1;
	a->sel = i;
	snprintf(a->sel_id, sizeof a->sel_id, "%s", a->sbs[i].id);
	a->dirty = true;
}

/* The network pane follows its sandbox's files, and closes if it is gone. */
static void sync_net(struct app *a)
{
	for (size_t i = 0; i < a->nsbs; i++) {
		if (!strcmp(a->sbs[i].id, a->net->sb.id)) {
			netpane_refresh(a->net, &a->sbs[i]);
			return;
		}
	}
	status_set(STATUS_INFO, "%s is gone: its network pane closed", a->net->sb.name);
	app_close_net(a);
}

void app_reload(struct app *a)
{
	struct sandbox *list;
	size_t n, old_sel = a->sel;

	if (store_list(&list, &n) < 0) {
		/* Say it once, not every second. */
		if (strcmp(a->store_error, err_msg())) {
			snprintf(a->store_error, sizeof a->store_error, "%s", err_msg());
			status_set(STATUS_ERROR, "%s", a->store_error);
		}
		return;
	}
	a->store_error[0] = '\0';
	free(a->sbs);
	a->sbs = list;
	a->nsbs = n;
	/* Keep the selected sandbox; if it went, its neighbour takes its place. */
	a->sel = old_sel < n ? old_sel : n ? n - 1 : 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i].id, a->sel_id))
			a->sel = i;
	if (n)
		snprintf(a->sel_id, sizeof a->sel_id, "%s", list[a->sel].id);
	warm_sync(&a->warm, a->sbs, a->nsbs);
	watch_sync(&a->watch, a->sbs, a->nsbs);
	app_build_rows(a);
	a->dirty = true;
	if (a->net)
		sync_net(a);
	/* The upload pane follows its sandbox's record (a new boot, a new state). */
	for (size_t i = 0; i < n; i++) {
		if (a->up && !strcmp(list[i].id, a->up->sb.id))
			a->up->sb = list[i];
		if (a->files && !strcmp(list[i].id, a->files->sb.id))
			a->files->sb = list[i];
		if (a->snaps && !strcmp(list[i].id, a->snaps->sb.id))
			snappane_refresh(a->snaps, &list[i]);
		if (a->vault && !strcmp(list[i].id, a->vault->sb.id))
			vaultpane_refresh(a->vault, &list[i]);
	}
}

void app_switch_view(struct app *a, int view)
{
	if (view >= (int)a->nshells)
		return;
	a->view = view;
	if (view >= 0) {
		a->shells[view]->activity = false;
		termpane_touch(a->shells[view]->tp);
	}
	a->dirty = true;
}

static bool need_root(struct app *a, const char *what, const char *why)
{
	if (a->root)
		return false;
	status_set(STATUS_ERROR, "%s needs root: %s; run smolvm with sudo", what, why);
	return true;
}

void app_open_shell(struct app *a, const struct sandbox *sb, bool reuse)
{
	struct session *s;

	if (!sb ||
	    need_root(a, "opening a shell", "SSH goes through the sandbox's network namespace"))
		return;
	if (reuse) {
		for (size_t i = 0; i < a->nshells; i++) {
			if (!strcmp(a->shells[i]->id, sb->id) &&
			    a->shells[i]->state != SHELL_DONE) {
				app_switch_view(a, (int)i);
				return;
			}
		}
	}
	if (strcmp(sb->state, SB_RUNNING)) {
		if (!strcmp(sb->state, SB_CREATING))
			status_set(STATUS_INFO, "%s is still booting; try again when it is running",
				   sb->name);
		else
			status_set(STATUS_ERROR, "%s is %s: start it first (smolvm start %s)",
				   sb->name, sb->state, sb->name);
		return;
	}
	if (a->nshells >= MAX_TABS) {
		status_set(STATUS_ERROR, "%d shells are open; close one first (prefix x)",
			   MAX_TABS);
		return;
	}
	s = warm_find(&a->warm, sb->id);
	if (!s) {
		warm_sync(&a->warm, a->sbs, a->nsbs);
		s = warm_find(&a->warm, sb->id);
	}
	if (!s) {
		status_set(STATUS_ERROR, "no SSH session for %s", sb->name);
		return;
	}
	if (s->state == WARM_FAILED) {
		/* Someone is waiting now: try again at once. */
		s->retry_at = 0;
		warm_sync(&a->warm, a->sbs, a->nsbs);
	}
	a->shells = xrealloc(a->shells, (a->nshells + 1) * sizeof *a->shells);
	a->shells[a->nshells++] = shell_new(s, sb->name, app_pane_rows(), COLS);
	app_switch_view(a, (int)a->nshells - 1);
	app_build_rows(a);
}

void app_close_shell(struct app *a, int i)
{
	shell_free(a->shells[i]);
	memmove(&a->shells[i], &a->shells[i + 1], (a->nshells - (size_t)i - 1) * sizeof *a->shells);
	a->nshells--;
	if (a->view == i)
		a->view = -1;
	else if (a->view > i)
		a->view--;
	app_build_rows(a);
	app_switch_view(a, a->view);
	a->full = true;
}

/* Step every shell; read again while libssh2 holds data, since reading one
 * channel can queue data for another. */
void app_pump_shells(struct app *a)
{
	bool again = true;

	for (int round = 0; again && round < 64; round++) {
		again = false;
		for (size_t i = 0; i < a->nshells; i++) {
			struct shell *sh = a->shells[i];
			int ev = shell_step(sh);

			if (ev & SHELL_EV_BROKEN)
				warm_drop(&a->warm, sh->sess, sh->notice);
			if (ev & SHELL_EV_STATE) {
				/* Repaint the row a notice covered. */
				termpane_touch(sh->tp);
				a->dirty = true;
				app_build_rows(a);
			}
			if ((ev & SHELL_EV_OUTPUT) && (int)i != a->view) {
				if (!sh->activity)
					a->dirty = true;
				sh->activity = true;
			}
			if (shell_pending(sh))
				again = true;
		}
	}
}

void app_resize(struct app *a)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col &&
	    (ws.ws_row != LINES || ws.ws_col != COLS))
		resizeterm(ws.ws_row, ws.ws_col);
	for (size_t i = 0; i < a->nshells; i++)
		shell_resize(a->shells[i], app_pane_rows(), COLS);
	a->full = true;
}

void app_start_job(struct app *a, struct job *j)
{
	a->jobs = xrealloc(a->jobs, (a->njobs + 1) * sizeof *a->jobs);
	a->jobs[a->njobs++] = j;
	app_build_rows(a);
}

static void job_finished(struct app *a, struct job *j)
{
	double secs = (util_now_ms() - j->started_ms) / 1000.0;
	char err[400];

	job_error(j, err, sizeof err);
	if (j->kind == JOB_CREATE) {
		if (j->status == 0) {
			status_set(STATUS_INFO, "created %s (%s) in %.1f s; Enter opens a shell",
				   j->name, j->id, secs);
			snprintf(a->sel_id, sizeof a->sel_id, "%s", j->id);
		} else {
			status_set(STATUS_ERROR, "creating %s failed: %s", j->name,
				   *err ? err : "smolvm create exited with an error");
		}
	} else if (j->kind == JOB_SNAPSHOT) {
		if (j->status == 0)
			status_set(STATUS_INFO, "%s %s: done in %.1f s", j->what, j->name, secs);
		else
			status_set(STATUS_ERROR, "%s %s failed: %s", j->what, j->name,
				   *err ? err : "smolvm snapshot exited with an error");
	} else if (j->status == 0) {
		status_set(STATUS_INFO, "deleted %s", j->name);
	} else {
		status_set(STATUS_ERROR, "deleting %s failed: %s", j->name,
			   *err ? err : "smolvm rm exited with an error");
	}
}

void app_reap_jobs(struct app *a)
{
	bool any = false;

	for (size_t i = 0; i < a->njobs;) {
		struct job *j = a->jobs[i];

		if (!job_reap(j)) {
			i++;
			continue;
		}
		job_finished(a, j);
		job_free(j);
		a->jobs[i] = a->jobs[--a->njobs];
		any = true;
	}
	if (any)
		app_reload(a);
}

void app_jobs_summary(struct app *a, char *buf, size_t len)
{
	int64_t now = util_now_ms();
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < a->njobs && o < len; i++) {
		const struct job *j = a->jobs[i];
		char t[16];

		util_fmt_duration((now - j->started_ms) / 1000, t, sizeof t);
		o += (size_t)snprintf(buf + o, len - o, "%s%s %s%s %s", i ? "  " : "",
				      j->kind == JOB_CREATE ? "booting" : j->kind == JOB_SNAPSHOT ?
				      j->what : "deleting", j->name,
				      draw_glyph("…", "..."), t);
	}
}

static bool name_taken(const char *name, void *ctx)
{
	struct app *a = ctx;

	for (size_t i = 0; i < a->nsbs; i++)
		if (!strcmp(a->sbs[i].name, name))
			return true;
	for (size_t i = 0; i < a->njobs; i++)
		if (a->jobs[i]->kind == JOB_CREATE && !strcmp(a->jobs[i]->name, name))
			return true;
	return false;
}

void app_start_new(struct app *a)
{
	char name[64];
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	long host_mib = pages > 0 && psize > 0 ? pages / (1048576 / psize) : 1 << 20;

	if (need_root(a, "creating a sandbox", "it makes a network namespace and a tap device"))
		return;
	if (image_require(IMAGE_DEFAULT_KIND) < 0) {
		status_set(STATUS_ERROR, "%s", err_msg());
		return;
	}
	/* A default name nobody has, also among sandboxes being created. */
	for (int tries = 0; tries < 20; tries++) {
		store_default_name(name, sizeof name);
		if (!name_taken(name, a))
			break;
	}
	dialog_new_init(&a->dnew, name, 256, 1);
	a->dnew.mem_min = SANDBOX_MIN_MEM_MIB;
	a->dnew.mem_max = host_mib < (1 << 20) ? (int)host_mib : 1 << 20;
	a->dnew.cpus_min = 1;
	a->dnew.cpus_max = 64;
	a->dnew.taken = name_taken;
	a->dnew.ctx = a;
	a->overlay = OV_NEW;
	a->dirty = true;
}

void app_submit_new(struct app *a)
{
	struct job *j = job_create(a->dnew.f[NEW_NAME].value, a->dnew.mem, a->dnew.cpus);

	if (!j) {
		status_set(STATUS_ERROR, "%s", err_msg());
		return;
	}
	app_start_job(a, j);
	status_set(STATUS_INFO, "creating %s (%d MiB, %d vCPU%s)...", j->name, a->dnew.mem,
		   a->dnew.cpus, a->dnew.cpus == 1 ? "" : "s");
}

static void confirm(struct app *a, enum confirm_action act, const char *title, const char *yes)
{
	memset(&a->dconf, 0, sizeof a->dconf);
	snprintf(a->dconf.title, sizeof a->dconf.title, "%s", title);
	snprintf(a->dconf.yes, sizeof a->dconf.yes, "%s", yes);
	a->action = act;
	a->overlay = OV_CONFIRM;
	a->dirty = true;
}

void app_ask_delete(struct app *a)
{
	const struct sandbox *sb = app_selected(a);
	int n;

	if (!sb || need_root(a, "deleting a sandbox", "it removes the sandbox's network namespace"))
		return;
	for (size_t i = 0; i < a->njobs; i++) {
		if (a->jobs[i]->kind == JOB_REMOVE && !strcmp(a->jobs[i]->id, sb->id)) {
			status_set(STATUS_INFO, "%s is already being deleted", sb->name);
			return;
		}
	}
	confirm(a, ACT_DELETE, "Delete sandbox", "Delete");
	snprintf(a->action_id, sizeof a->action_id, "%s", sb->id);
	snprintf(a->dconf.text[0], sizeof a->dconf.text[0], "Delete %s (%s)?", sb->name, sb->id);
	snprintf(a->dconf.text[1], sizeof a->dconf.text[1],
		 "Its disk and its network namespace go too.");
	if ((n = count_shells(a, sb->id)))
		snprintf(a->dconf.text[2], sizeof a->dconf.text[2],
			 "%d open shell%s in it will end.", n, n == 1 ? "" : "s");
}

void app_ask_close_shell(struct app *a)
{
	struct shell *sh = app_shell(a);

	if (!sh)
		return;
	if (sh->state == SHELL_DONE) {
		app_close_shell(a, a->view);
		return;
	}
	confirm(a, ACT_CLOSE_SHELL, "Close shell", "Close");
	snprintf(a->dconf.text[0], sizeof a->dconf.text[0], "Close shell %d in %s?", a->view + 1,
		 sh->name);
	snprintf(a->dconf.text[1], sizeof a->dconf.text[1],
		 "Its programs get a hangup; the sandbox keeps running.");
}

void app_ask_quit(struct app *a)
{
	int open = 0, line = 1;

	for (size_t i = 0; i < a->nshells; i++)
		open += a->shells[i]->state != SHELL_DONE;
	bool uploading = transfers_busy(&a->xfers);

	if (!open && !a->njobs && !uploading) {
		a->quit = true;
		return;
	}
	confirm(a, ACT_QUIT, "Quit", "Quit");
	snprintf(a->dconf.text[0], sizeof a->dconf.text[0], "Quit smolvm?");
	if (open)
		snprintf(a->dconf.text[line++], sizeof a->dconf.text[0],
			 "%d open shell%s will end; the sandboxes keep running.", open,
			 open == 1 ? "" : "s");
	if (a->njobs)
		snprintf(a->dconf.text[line++], sizeof a->dconf.text[0],
			 "Creating or deleting goes on in the background.");
	if (uploading && line < 3)
		snprintf(a->dconf.text[line], sizeof a->dconf.text[0],
			 "Uploads still running are stopped, their partial files removed.");
}

void app_do_confirmed(struct app *a)
{
	struct job *j;

	switch (a->action) {
	case ACT_DELETE:
		for (size_t i = 0; i < a->nsbs; i++) {
			if (strcmp(a->sbs[i].id, a->action_id))
				continue;
			j = job_remove(a->sbs[i].id, a->sbs[i].name);
			if (!j) {
				status_set(STATUS_ERROR, "%s", err_msg());
				return;
			}
			app_start_job(a, j);
			status_set(STATUS_INFO, "deleting %s...", j->name);
		}
		break;
	case ACT_CLOSE_SHELL:
		if (a->view >= 0)
			app_close_shell(a, a->view);
		break;
	case ACT_QUIT:
		a->quit = true;
		break;
	}
}

void app_next_theme(struct app *a)
{
	size_t n, i;
	char **names = theme_names(&n);
	struct theme t;

	if (!n) {
		status_set(STATUS_ERROR, "no themes found: %s", err_msg());
		return;
	}
	for (i = 0; i < n && strcmp(names[i], a->theme.name); i++)
		;
	i = i < n ? (i + 1) % n : 0;
	if (theme_load(names[i], &t) < 0) {
		status_set(STATUS_ERROR, "%s", err_msg());
	} else {
		a->theme = t;
		theme_apply(&a->theme, a->colour);
		status_set(STATUS_INFO, "theme %s%s", t.name, a->colour ? "" :
			   " (NO_COLOR is set: attributes only)");
		a->full = true;
	}
	theme_names_free(names, n);
}

void app_cycle_view(struct app *a, int dir)
{
	int n = (int)a->nshells + 1;	/* the list and every shell */

	app_switch_view(a, ((a->view + 1 + dir + n) % n) - 1);
}

/* The full-screen panes replace one another: opening one closes whichever is open. */
static void app_close_panes(struct app *a)
{
	if (a->net)
		app_close_net(a);
	app_close_upload(a);
	app_close_files(a);
	app_close_snaps(a);
	app_close_vault(a);
}

void app_open_net(struct app *a, const struct sandbox *sb)
{
	if (!sb)
		return;
	app_close_panes(a);
	a->net = netpane_open(sb, a->root);
	a->full = true;
}

void app_close_net(struct app *a)
{
	netpane_free(a->net);
	a->net = NULL;
	a->full = true;
}

void app_net_key(struct app *a, bool is_code, wint_t wc)
{
	switch (netpane_key(a->net, is_code, wc)) {
	case NETPANE_CLOSE:
		app_close_net(a);
		break;
	case NETPANE_HELP:
		a->overlay = OV_HELP;
		break;
	case NETPANE_THEME:
		app_next_theme(a);
		break;
	case NETPANE_HANDLED:
		break;
	}
}

void app_open_upload(struct app *a, const struct sandbox *sb)
{
	if (!sb)
		return;
	app_close_panes(a);
	a->up = uploadpane_open(sb);
	a->full = true;
}

void app_close_upload(struct app *a)
{
	app_close_vault(a);
	uploadpane_free(a->up);
	a->up = NULL;
	a->full = true;
}

void app_upload_key(struct app *a, bool is_code, wint_t wc)
{
	if (!uploadpane_key(a, is_code, wc))
		app_close_upload(a);
}

void app_open_files(struct app *a, const struct sandbox *sb)
{
	if (!sb)
		return;
	app_close_panes(a);
	a->files = filespane_open(sb);
	a->full = true;
}

void app_close_files(struct app *a)
{
	app_close_vault(a);
	filespane_free(a->files);
	a->files = NULL;
	a->full = true;
}

void app_files_key(struct app *a, bool is_code, wint_t wc)
{
	switch (filespane_key(a->files, is_code, wc)) {
	case FILESPANE_CLOSE:
		app_close_files(a);
		break;
	case FILESPANE_HELP:
		a->overlay = OV_HELP;
		break;
	case FILESPANE_HANDLED:
		break;
	}
}

void app_open_snaps(struct app *a, const struct sandbox *sb)
{
	if (!sb)
		return;
	app_close_panes(a);
	a->snaps = snappane_open(sb);
	a->full = true;
}

void app_close_snaps(struct app *a)
{
	app_close_vault(a);
	snappane_free(a->snaps);
	a->snaps = NULL;
	a->full = true;
}

void app_snaps_key(struct app *a, bool is_code, wint_t wc)
{
	if (!snappane_key(a, is_code, wc))
		app_close_snaps(a);
}

void app_open_vault(struct app *a, const struct sandbox *sb)
{
	if (!sb)
		return;
	app_close_panes(a);
	a->vault = vaultpane_open(sb);
	a->full = true;
}

void app_close_vault(struct app *a)
{
	vaultpane_free(a->vault);
	a->vault = NULL;
	a->full = true;
}

void app_vault_key(struct app *a, bool is_code, wint_t wc)
{
	if (!vaultpane_key(a, is_code, wc))
		app_close_vault(a);
}
