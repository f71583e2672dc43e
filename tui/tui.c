/* tui: the workbench's main loop. One poll() over the keyboard, the SSH
 * sockets, inotify, child processes and a self-pipe for signals; handlers
 * only change state and mark what needs drawing, and drawing happens once
 * per turn of the loop. */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <langinfo.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/paths.h"
#include "backend/store.h"
#include "backend/util.h"
#include "fs/image.h"
#include "tui/dialog.h"
#include "tui/draw.h"
#include "tui/help.h"
#include "tui/job.h"
#include "tui/keys.h"
#include "tui/list.h"
#include "tui/shell.h"
#include "tui/status.h"
#include "tui/theme.h"
#include "tui/warm.h"
#include "tui/watch.h"

#define TICK_MS 1000
#define DOUBLE_CLICK_MS 400
#define MAX_TABS 64
#define MIN_LINES 10
#define MIN_COLS 40

static const char usage[] =
	"usage: smolvm tui [--theme NAME] [--prefix KEY]\n"
	"\n"
	"The full-screen workbench: the sandboxes, live shells in them, creating and\n"
	"deleting. Press ? in it for every key.\n"
	"\n"
	"  --theme NAME   colours from themes/NAME.theme (dark, light, ...); t cycles\n"
	"  --prefix KEY   the key before workbench commands in a shell (default C-b)\n"
	"\n"
	"NO_COLOR set to anything non-empty turns colours off.\n";

enum overlay { OV_NONE, OV_HELP, OV_NEW, OV_CONFIRM };
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

static int sig_fd = -1;

static void on_signal(int sig)
{
	int e = errno;
	char c = sig == SIGWINCH ? 'w' : sig == SIGCHLD ? 'c' : 'q';

	if (write(sig_fd, &c, 1) < 0) {
		/* full pipe: the loop already has this kind of wakeup pending */
	}
	errno = e;
}

/* ---- the model --------------------------------------------------------- */

static int pane_rows(void)
{
	return LINES - 3 > 1 ? LINES - 3 : 1;
}

static struct shell *current_shell(struct app *a)
{
	return a->view >= 0 ? a->shells[a->view] : NULL;
}

static const struct sandbox *selected(struct app *a)
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
		else if (j->kind == JOB_CREATE && !strcmp(j->name, r->sb->name) &&
			 strcmp(r->sb->state, SB_RUNNING))
			snprintf(r->busy, sizeof r->busy, "booting %s", t);
	}
}

static void build_rows(struct app *a)
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

static void select_index(struct app *a, size_t i)
{
	if (!a->nsbs)
		return;
	if (i >= a->nsbs)
		i = a->nsbs - 1;
	a->sel = i;
	snprintf(a->sel_id, sizeof a->sel_id, "%s", a->sbs[i].id);
	a->dirty = true;
}

static void reload(struct app *a)
{
	struct sandbox *list;
	size_t n;

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
	a->sel = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i].id, a->sel_id))
			a->sel = i;
	if (n)
		snprintf(a->sel_id, sizeof a->sel_id, "%s", list[a->sel].id);
	warm_sync(&a->warm, a->sbs, a->nsbs);
	watch_sync(&a->watch, a->sbs, a->nsbs);
	build_rows(a);
	a->dirty = true;
}

/* ---- shells -------------------------------------------------------------- */

static void switch_view(struct app *a, int view)
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

static bool need_root(struct app *a, const char *what)
{
	if (a->root)
		return false;
	status_set(STATUS_ERROR, "%s needs root: it goes through the sandbox's network namespace; "
		   "run smolvm with sudo", what);
	return true;
}

static void open_shell(struct app *a, const struct sandbox *sb, bool reuse)
{
	struct session *s;

	if (!sb || need_root(a, "opening a shell"))
		return;
	if (reuse) {
		for (size_t i = 0; i < a->nshells; i++) {
			if (!strcmp(a->shells[i]->id, sb->id) &&
			    a->shells[i]->state != SHELL_DONE) {
				switch_view(a, (int)i);
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
		status_set(STATUS_ERROR, "%d shells are open; close one first (prefix x)", MAX_TABS);
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
	a->shells[a->nshells++] = shell_new(s, sb->name, pane_rows(), COLS);
	switch_view(a, (int)a->nshells - 1);
	build_rows(a);
}

static void close_shell(struct app *a, int i)
{
	shell_free(a->shells[i]);
	memmove(&a->shells[i], &a->shells[i + 1], (a->nshells - (size_t)i - 1) * sizeof *a->shells);
	a->nshells--;
	if (a->view == i)
		a->view = -1;
	else if (a->view > i)
		a->view--;
	build_rows(a);
	switch_view(a, a->view);
	a->full = true;
}

/* Step every shell; read again while libssh2 holds data, since reading one
 * channel can queue data for another. */
static void pump_shells(struct app *a)
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
				build_rows(a);
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

static void resize_all(struct app *a)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col &&
	    (ws.ws_row != LINES || ws.ws_col != COLS))
		resizeterm(ws.ws_row, ws.ws_col);
	for (size_t i = 0; i < a->nshells; i++)
		shell_resize(a->shells[i], pane_rows(), COLS);
	a->full = true;
}

/* ---- jobs ----------------------------------------------------------------- */

static void add_job(struct app *a, struct job *j)
{
	a->jobs = xrealloc(a->jobs, (a->njobs + 1) * sizeof *a->jobs);
	a->jobs[a->njobs++] = j;
	build_rows(a);
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
	} else if (j->status == 0) {
		status_set(STATUS_INFO, "deleted %s", j->name);
	} else {
		status_set(STATUS_ERROR, "deleting %s failed: %s", j->name,
			   *err ? err : "smolvm rm exited with an error");
	}
}

static void reap_jobs(struct app *a)
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
		reload(a);
}

static void jobs_summary(struct app *a, char *buf, size_t len)
{
	int64_t now = util_now_ms();
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < a->njobs && o < len; i++) {
		const struct job *j = a->jobs[i];
		char t[16];

		util_fmt_duration((now - j->started_ms) / 1000, t, sizeof t);
		o += (size_t)snprintf(buf + o, len - o, "%s%s %s%s %s", i ? "  " : "",
				      j->kind == JOB_CREATE ? "booting" : "deleting", j->name,
				      draw_glyph("…", "..."), t);
	}
}

/* ---- actions ---------------------------------------------------------------- */

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

static void start_new(struct app *a)
{
	char name[64];
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	long host_mib = pages > 0 && psize > 0 ? pages / (1048576 / psize) : 1 << 20;

	if (need_root(a, "creating a sandbox"))
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
	a->dnew.mem_min = 64;
	a->dnew.mem_max = host_mib < (1 << 20) ? (int)host_mib : 1 << 20;
	a->dnew.cpus_min = 1;
	a->dnew.cpus_max = 64;
	a->dnew.taken = name_taken;
	a->dnew.ctx = a;
	a->overlay = OV_NEW;
	a->dirty = true;
}

static void submit_new(struct app *a)
{
	struct job *j = job_create(a->dnew.f[NEW_NAME].value, a->dnew.mem, a->dnew.cpus);

	if (!j) {
		status_set(STATUS_ERROR, "%s", err_msg());
		return;
	}
	add_job(a, j);
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

static void ask_delete(struct app *a)
{
	const struct sandbox *sb = selected(a);
	int n;

	if (!sb || need_root(a, "deleting a sandbox"))
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
		snprintf(a->dconf.text[2], sizeof a->dconf.text[2], "%d open shell%s in it will end.",
			 n, n == 1 ? "" : "s");
}

static void ask_close_shell(struct app *a)
{
	struct shell *sh = current_shell(a);

	if (!sh)
		return;
	if (sh->state == SHELL_DONE) {
		close_shell(a, a->view);
		return;
	}
	confirm(a, ACT_CLOSE_SHELL, "Close shell", "Close");
	snprintf(a->dconf.text[0], sizeof a->dconf.text[0], "Close shell %d in %s?", a->view + 1,
		 sh->name);
	snprintf(a->dconf.text[1], sizeof a->dconf.text[1],
		 "What runs in it gets a hangup; the sandbox keeps running.");
}

static void ask_quit(struct app *a)
{
	int open = 0;

	for (size_t i = 0; i < a->nshells; i++)
		open += a->shells[i]->state != SHELL_DONE;
	if (!open && !a->njobs) {
		a->quit = true;
		return;
	}
	confirm(a, ACT_QUIT, "Quit", "Quit");
	snprintf(a->dconf.text[0], sizeof a->dconf.text[0], "Quit smolvm?");
	if (open)
		snprintf(a->dconf.text[1], sizeof a->dconf.text[1],
			 "%d open shell%s will end; the sandboxes keep running.", open,
			 open == 1 ? "" : "s");
	if (a->njobs)
		snprintf(a->dconf.text[2], sizeof a->dconf.text[2],
			 "Creating or deleting goes on in the background.");
}

static void do_confirmed(struct app *a)
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
			add_job(a, j);
			status_set(STATUS_INFO, "deleting %s...", j->name);
		}
		break;
	case ACT_CLOSE_SHELL:
		if (a->view >= 0)
			close_shell(a, a->view);
		break;
	case ACT_QUIT:
		a->quit = true;
		break;
	}
}

static void next_theme(struct app *a)
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

/* ---- keys --------------------------------------------------------------------- */

static bool is_enter(bool is_code, wint_t wc)
{
	return (!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER);
}

static void cycle_view(struct app *a, int dir)
{
	int n = (int)a->nshells + 1;	/* the list and every shell */

	switch_view(a, ((a->view + 1 + dir + n) % n) - 1);
}

/* A key after the prefix. */
static void prefix_command(struct app *a, bool is_code, wint_t wc)
{
	struct shell *sh = current_shell(a);

	a->prefix_armed = false;
	a->dirty = true;
	if (!is_code && (int)wc == a->prefix) {
		if (sh)
			termpane_text(sh->tp, (char[]){ (char)a->prefix, 0 });
		return;
	}
	if (is_code && wc == KEY_PPAGE) {
		wc = '[';
		is_code = false;
	}
	if (is_code) {
		status_set(STATUS_ERROR, "no command on that key after %s; ? lists them",
			   a->prefix_label);
		return;
	}
	switch (wc) {
	case 'l': case 0x1b: case '0':
		switch_view(a, -1);
		return;
	case 'n':
		cycle_view(a, 1);
		return;
	case 'p':
		cycle_view(a, -1);
		return;
	case 'c':
		if (sh) {
			for (size_t i = 0; i < a->nsbs; i++)
				if (!strcmp(a->sbs[i].id, sh->id))
					open_shell(a, &a->sbs[i], false);
		} else {
			open_shell(a, selected(a), false);
		}
		return;
	case 'x':
		ask_close_shell(a);
		return;
	case '[':
		if (sh)
			termpane_scroll(sh->tp, pane_rows() / 2);
		return;
	case 't':
		next_theme(a);
		return;
	case '?':
		a->overlay = OV_HELP;
		return;
	case 'q':
		ask_quit(a);
		return;
	}
	if (wc >= '1' && wc <= '9') {
		if ((size_t)(wc - '1') < a->nshells)
			switch_view(a, (int)(wc - '1'));
		else
			status_set(STATUS_INFO, "there is no shell %d", (int)(wc - '0'));
		return;
	}
	status_set(STATUS_ERROR, "no command on that key after %s; ? lists them", a->prefix_label);
}

static void list_key(struct app *a, bool is_code, wint_t wc)
{
	if (is_enter(is_code, wc)) {
		open_shell(a, selected(a), true);
		return;
	}
	if (is_code) {
		switch (wc) {
		case KEY_UP: if (a->sel > 0) select_index(a, a->sel - 1); return;
		case KEY_DOWN: select_index(a, a->sel + 1); return;
		case KEY_HOME: select_index(a, 0); return;
		case KEY_END: select_index(a, a->nsbs ? a->nsbs - 1 : 0); return;
		case KEY_PPAGE: select_index(a, a->sel > 10 ? a->sel - 10 : 0); return;
		case KEY_NPAGE: select_index(a, a->sel + 10); return;
		case KEY_DC: ask_delete(a); return;
		case KEY_BTAB: cycle_view(a, -1); return;
		}
		return;
	}
	switch (wc) {
	case 'k': if (a->sel > 0) select_index(a, a->sel - 1); return;
	case 'j': select_index(a, a->sel + 1); return;
	case 'g': select_index(a, 0); return;
	case 'G': select_index(a, a->nsbs ? a->nsbs - 1 : 0); return;
	case 's': open_shell(a, selected(a), false); return;
	case 'n': start_new(a); return;
	case 'd': ask_delete(a); return;
	case 't': next_theme(a); return;
	case '?': a->overlay = OV_HELP; a->dirty = true; return;
	case 'q': ask_quit(a); return;
	case '\t': cycle_view(a, 1); return;
	}
	if (wc >= '1' && wc <= '9' && (size_t)(wc - '1') < a->nshells)
		switch_view(a, (int)(wc - '1'));
}

/* Keys while scrolled back; false if the key ends scrolling and goes on
 * to the shell. */
static bool scroll_key(struct shell *sh, bool is_code, wint_t wc)
{
	int page = sh->tp->rows - 1 > 1 ? sh->tp->rows - 1 : 1;

	if (is_code) {
		switch (wc) {
		case KEY_SPREVIOUS: case KEY_PPAGE: termpane_scroll(sh->tp, page); return true;
		case KEY_SNEXT: case KEY_NPAGE: termpane_scroll(sh->tp, -page); return true;
		case KEY_UP: case KEY_SR: termpane_scroll(sh->tp, 1); return true;
		case KEY_DOWN: case KEY_SF: termpane_scroll(sh->tp, -1); return true;
		case KEY_HOME: termpane_scroll(sh->tp, (int)sh->tp->sb.count); return true;
		case KEY_END: termpane_scroll(sh->tp, -sh->tp->scroll); return true;
		}
	} else if (wc == 0x1b || wc == 'q') {
		termpane_scroll(sh->tp, -sh->tp->scroll);
		return true;
	}
	termpane_scroll(sh->tp, -sh->tp->scroll);
	return false;
}

static void shell_key(struct app *a, struct shell *sh, bool is_code, wint_t wc, bool alt)
{
	struct keys_vt k;

	if (sh->state == SHELL_DONE) {
		close_shell(a, a->view);
		return;
	}
	if (is_code && (wc == KEY_SPREVIOUS || wc == KEY_SNEXT)) {
		termpane_scroll(sh->tp, (wc == KEY_SPREVIOUS ? 1 : -1) * (sh->tp->rows - 1));
		return;
	}
	if (sh->tp->scroll && scroll_key(sh, is_code, wc))
		return;
	k = keys_translate(is_code, wc, alt);
	/* Typed before the shell is up: kept and sent once it is. */
	termpane_key(sh->tp, &k);
}

static void on_key(struct app *a, bool is_code, wint_t wc, bool alt)
{
	struct shell *sh = current_shell(a);
	enum dialog_result r;

	a->dirty = true;
	switch (a->overlay) {
	case OV_HELP:
		a->overlay = OV_NONE;
		a->full = true;
		return;
	case OV_NEW:
		r = dialog_new_key(&a->dnew, is_code, wc);
		if (r != DIALOG_OPEN) {
			a->overlay = OV_NONE;
			a->full = true;
		}
		if (r == DIALOG_OK)
			submit_new(a);
		return;
	case OV_CONFIRM:
		r = dialog_confirm_key(&a->dconf, is_code, wc);
		if (r != DIALOG_OPEN) {
			a->overlay = OV_NONE;
			a->full = true;
		}
		if (r == DIALOG_OK)
			do_confirmed(a);
		return;
	case OV_NONE:
		break;
	}
	if (a->prefix_armed) {
		prefix_command(a, is_code, wc);
		return;
	}
	if (!is_code && !alt && (int)wc == a->prefix) {
		a->prefix_armed = true;
		return;
	}
	if (sh)
		shell_key(a, sh, is_code, wc, alt);
	else
		list_key(a, is_code, wc);
}

static void on_mouse(struct app *a)
{
	struct shell *sh = current_shell(a);
	MEVENT ev;

	if (getmouse(&ev) != OK)
		return;
	a->dirty = true;
	if (ev.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		int dir = ev.bstate & BUTTON4_PRESSED ? 1 : -1;

		if (a->overlay != OV_NONE)
			return;
		if (sh)
			termpane_scroll(sh->tp, 3 * dir);
		else if (dir > 0 && a->sel > 0)
			select_index(a, a->sel - 1);
		else if (dir < 0)
			select_index(a, a->sel + 1);
		return;
	}
	if (!(ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)))
		return;
	if (a->overlay == OV_HELP) {
		a->overlay = OV_NONE;
		a->full = true;
		return;
	}
	if (a->overlay != OV_NONE)
		return;
	if (ev.y == 0) {
		for (int i = 0; i < a->ntabs; i++)
			if (ev.x >= a->tabs[i].x0 && ev.x < a->tabs[i].x1)
				switch_view(a, a->tabs[i].view);
		return;
	}
	if (!sh) {
		int row = list_row_at(ev.y, 1, LINES - 3, a->nsbs, a->top);
		int64_t now = util_now_ms();

		if (row < 0)
			return;
		select_index(a, (size_t)row);
		if (row == a->click_row && now - a->click_ms < DOUBLE_CLICK_MS)
			open_shell(a, selected(a), true);
		a->click_row = row;
		a->click_ms = now;
	}
}

static void read_keys(struct app *a)
{
	for (;;) {
		wint_t wc, wc2;
		int r = get_wch(&wc), r2;
		bool alt = false;

		if (r == ERR)
			return;
		/* ESC with another key right behind it is how Alt arrives; but
		 * Esc then the prefix are two keys (Alt-prefix means nothing). */
		if (r == OK && wc == 0x1b && (r2 = get_wch(&wc2)) != ERR) {
			if (r2 == OK && (int)wc2 == a->prefix) {
				on_key(a, false, wc, false);
			} else {
				alt = true;
			}
			r = r2;
			wc = wc2;
		}
		if (r == KEY_CODE_YES && wc == KEY_MOUSE) {
			on_mouse(a);
			continue;
		}
		if (r == KEY_CODE_YES && wc == KEY_RESIZE) {
			resize_all(a);
			continue;
		}
		on_key(a, r == KEY_CODE_YES, wc, alt);
	}
}

/* ---- drawing ------------------------------------------------------------------- */

static int add_tab(struct app *a, int x, int view, const char *label, bool active)
{
	struct style st = theme_style(active ? TH_TAB_ACTIVE : TH_TAB);
	char text[96];
	int w;

	snprintf(text, sizeof text, " %s ", label);
	w = draw_width(text);
	if (x + w >= COLS - 1 || a->ntabs > MAX_TABS)
		return x;
	draw_text(0, x, w, st, text, false);
	a->tabs[a->ntabs++] = (struct tab_hit){ x, x + w, view };
	return x + w + 1;
}

static void draw_header(struct app *a)
{
	struct style hd = theme_style(TH_HEADER);
	char right[96], label[96];
	int x, running = 0;

	for (size_t i = 0; i < a->nsbs; i++)
		running += !strcmp(a->sbs[i].state, SB_RUNNING);
	draw_fill(0, 0, COLS, hd);
	hd.attr |= A_BOLD;
	x = draw_text(0, 1, 8, hd, "smolvm", false) + 2;
	a->ntabs = 0;
	x = add_tab(a, x, -1, "sandboxes", a->view < 0);
	for (size_t i = 0; i < a->nshells; i++) {
		const struct shell *sh = a->shells[i];

		snprintf(label, sizeof label, "%zu %.20s%s", i + 1, sh->name,
			 sh->state == SHELL_DONE ? " (ended)" : sh->activity ? "*" : "");
		x = add_tab(a, x, (int)i, label, a->view == (int)i);
	}
	if (a->view >= 0 && a->shells[a->view]->tp->title[0])
		snprintf(right, sizeof right, "%.80s ", a->shells[a->view]->tp->title);
	else
		snprintf(right, sizeof right, "%s%zu sandbox%s, %d running ", a->root ? "" :
			 "read-only (not root)  ", a->nsbs, a->nsbs == 1 ? "" : "es", running);
	if (x + draw_width(right) < COLS)
		draw_text(0, COLS - draw_width(right), draw_width(right), theme_style(TH_HEADER),
			  right, false);
}

struct key_hint {
	const char *key, *what;
};

static void draw_footer(const struct key_hint *h, size_t n, const char *lead)
{
	struct style ft = theme_style(TH_FOOTER), key = theme_style(TH_FOOTER_KEY);
	int x = 1;

	draw_fill(LINES - 1, 0, COLS, ft);
	if (lead)
		x += draw_text(LINES - 1, x, COLS - x, key, lead, false) + 1;
	for (size_t i = 0; i < n; i++) {
		int w = draw_width(h[i].key) + 1 + draw_width(h[i].what);

		if (x + w >= COLS)
			break;
		x += draw_text(LINES - 1, x, w, key, h[i].key, false) + 1;
		x += draw_text(LINES - 1, x, w, ft, h[i].what, false) + 2;
	}
}

static void draw_keys(struct app *a)
{
	static const struct key_hint list[] = {
		{ "Enter", "shell" }, { "s", "new shell" }, { "n", "new" }, { "d", "delete" },
		{ "Tab", "shells" }, { "t", "theme" }, { "?", "help" }, { "q", "quit" },
	};
	static const struct key_hint shell[] = {
		{ "l", "list" }, { "n/p", "next/prev" }, { "1-9", "shell" }, { "c", "new" },
		{ "x", "close" }, { "[", "scroll" }, { "?", "help" },
	};
	static const struct key_hint armed[] = {
		{ "l", "list" }, { "n", "next" }, { "p", "prev" }, { "1-9", "shell" },
		{ "c", "new shell" }, { "x", "close" }, { "[", "scroll" }, { "t", "theme" },
		{ "?", "help" },
	};
	static const struct key_hint dnew[] = {
		{ "Tab", "next field" }, { "Enter", "create" }, { "Esc", "cancel" },
	};
	static const struct key_hint dconf[] = { { "y", "yes" }, { "n", "no" } };
	static const struct key_hint scroll[] = {
		{ "PgUp/PgDn", "page" }, { "Up/Down", "line" }, { "Esc", "back to live" },
	};
	static const struct key_hint help[] = { { "any key", "closes the help" } };
	struct shell *sh = current_shell(a);
	char lead[32];

	switch (a->overlay) {
	case OV_HELP: draw_footer(help, ARRAY_LEN(help), NULL); return;
	case OV_NEW: draw_footer(dnew, ARRAY_LEN(dnew), NULL); return;
	case OV_CONFIRM: draw_footer(dconf, ARRAY_LEN(dconf), NULL); return;
	case OV_NONE: break;
	}
	if (a->prefix_armed) {
		snprintf(lead, sizeof lead, "%s then:", a->prefix_label);
		draw_footer(armed, ARRAY_LEN(armed), lead);
	} else if (sh && sh->tp->scroll) {
		draw_footer(scroll, ARRAY_LEN(scroll), "scrolled back:");
	} else if (sh) {
		snprintf(lead, sizeof lead, "%s then:", a->prefix_label);
		draw_footer(shell, ARRAY_LEN(shell), lead);
	} else {
		struct key_hint h[ARRAY_LEN(list)];
		size_t n = 0;

		/* Tab only means something once shells are open. */
		for (size_t i = 0; i < ARRAY_LEN(list); i++)
			if (a->nshells || strcmp(list[i].key, "Tab"))
				h[n++] = list[i];
		draw_footer(h, n, NULL);
	}
}

/* A bar over the pane's bottom row: why the shell is not live. */
static void draw_pane_notice(struct shell *sh)
{
	char text[320], line[400];
	int y = 1 + sh->tp->rows - 1;

	shell_describe(sh, text, sizeof text);
	if (sh->state == SHELL_DONE)
		snprintf(line, sizeof line, " %s. Press any key to close this pane. ", text);
	else
		snprintf(line, sizeof line, " %s ", text);
	draw_text(y, 0, COLS, theme_style(TH_PANE_NOTICE), line, true);
}

static void draw_scroll_mark(struct shell *sh)
{
	char mark[48];
	int w;

	snprintf(mark, sizeof mark, " %d/%zu lines back ", sh->tp->scroll, sh->tp->sb.count);
	w = draw_width(mark);
	draw_text(1, COLS - w, w, theme_style(TH_PANE_NOTICE), mark, false);
}

static void place_cursor(struct app *a)
{
	struct shell *sh = current_shell(a);
	int y, x;

	if (a->overlay == OV_NEW && dialog_new_cursor(&a->dnew, LINES, COLS, &y, &x)) {
		curs_set(1);
		move(y, x);
		return;
	}
	if (a->overlay == OV_NONE && sh && sh->state == SHELL_LIVE &&
	    termpane_cursor(sh->tp, &y, &x)) {
		curs_set(1);
		move(1 + y, x);
		return;
	}
	curs_set(0);
}

static void draw(struct app *a)
{
	struct shell *sh = current_shell(a);
	bool pane_drawn = false;
	char jobs[256], hint[160];

	if (a->full) {
		erase();
		a->dirty = true;
	}
	if (LINES < MIN_LINES || COLS < MIN_COLS) {
		if (a->dirty) {
			erase();
			mvprintw(0, 0, "smolvm needs at least %dx%d (this is %dx%d)", MIN_COLS,
				 MIN_LINES, COLS, LINES);
			refresh();
		}
		a->dirty = a->full = false;
		return;
	}
	if (sh && a->overlay != OV_HELP) {
		pane_drawn = termpane_draw(sh->tp, stdscr, 1, 0, a->full);
		if (sh->state != SHELL_LIVE && (pane_drawn || a->dirty))
			draw_pane_notice(sh);
		if (sh->tp->scroll && (pane_drawn || a->dirty))
			draw_scroll_mark(sh);
		/* The pane drew over the dialog. */
		if (pane_drawn && a->overlay != OV_NONE)
			a->dirty = true;
	}
	if (sh && sh->tp->bell) {
		sh->tp->bell = false;
		beep();
	}
	if (sh && sh->tp->retitled) {
		sh->tp->retitled = false;
		a->dirty = true;
	}
	if (!a->dirty && !pane_drawn) {
		place_cursor(a);
		refresh();
		return;
	}
	build_rows(a);
	draw_header(a);
	if (a->overlay == OV_HELP) {
		help_draw(1, LINES - 3, COLS, a->prefix_label, a->prefix_name);
	} else if (!sh) {
		if (a->root)
			snprintf(hint, sizeof hint, "No sandboxes yet. Press n to create one.");
		else
			snprintf(hint, sizeof hint, "No sandboxes yet (create one with sudo smolvm "
				 "create).");
		list_draw(1, LINES - 3, COLS, a->rows, a->nsbs, a->sel, &a->top, hint);
	}
	jobs_summary(a, jobs, sizeof jobs);
	status_draw(LINES - 2, COLS, jobs);
	draw_keys(a);
	if (a->overlay == OV_NEW)
		dialog_new_draw(&a->dnew, LINES, COLS);
	else if (a->overlay == OV_CONFIRM)
		dialog_confirm_draw(&a->dconf, LINES, COLS);
	place_cursor(a);
	refresh();
	a->dirty = a->full = false;
}

/* ---- setup and the loop --------------------------------------------------------- */

static int parse_prefix(const char *s, struct app *a)
{
	char c;

	if ((!strncasecmp(s, "C-", 2) || s[0] == '^') && s[s[0] == '^' ? 1 : 2] &&
	    !s[s[0] == '^' ? 2 : 3]) {
		c = s[s[0] == '^' ? 1 : 2];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c >= '@' && c <= '_') {
			a->prefix = c & 0x1f;
			snprintf(a->prefix_label, sizeof a->prefix_label, "^%c", c);
			snprintf(a->prefix_name, sizeof a->prefix_name, "Ctrl-%c",
				 c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
			return 0;
		}
	}
	err_set("--prefix takes a control key such as C-b, C-a or C-], not '%s'", s);
	return -1;
}

static void setup_locale(void)
{
	setlocale(LC_ALL, "");
	/* Shells in sandboxes speak UTF-8; with no locale set at all, use it. */
	if (strcmp(nl_langinfo(CODESET), "UTF-8") && !getenv("LANG") && !getenv("LC_ALL") &&
	    !getenv("LC_CTYPE"))
		setlocale(LC_CTYPE, "C.UTF-8");
	draw_unicode = !strcmp(nl_langinfo(CODESET), "UTF-8");
}

static int setup_signals(struct app *a)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	const int sigs[] = { SIGWINCH, SIGCHLD, SIGTERM, SIGHUP, SIGINT };

	if (pipe2(a->sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		err_set("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	sig_fd = a->sig_pipe[1];
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Whatever ends the process (even die() on a failed allocation) must give
 * the terminal back. */
static void restore_terminal(void)
{
	if (!isendwin())
		endwin();
}

static void setup_screen(struct app *a)
{
	initscr();
	atexit(restore_terminal);
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	/* Long enough for a key sequence split by a busy terminal or tmux. */
	set_escdelay(100);
	a->colour = has_colors() && !(getenv("NO_COLOR") && *getenv("NO_COLOR"));
	if (a->colour) {
		start_color();
		use_default_colors();
	}
	termpane_set_colour(a->colour);
	mousemask(BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
	mouseinterval(0);
	keys_init();
	theme_apply(&a->theme, a->colour);
}

static void on_sig_pipe(struct app *a)
{
	char buf[64];
	ssize_t n;

	while ((n = read(a->sig_pipe[0], buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == 'w')
				resize_all(a);
			else if (buf[i] == 'c')
				reap_jobs(a);
			else if (buf[i] == 'q')
				a->quit = true;
		}
	}
}

static void loop(struct app *a)
{
	struct pollfd fds[8 + 2 * 64 + MAX_TABS];
	struct session *sfd[ARRAY_LEN(fds)];
	struct job *jfd[ARRAY_LEN(fds)];

	while (!a->quit) {
		int64_t now = util_now_ms();
		int timeout, st, nfds = 0;

		if (now - a->last_tick >= TICK_MS) {
			a->last_tick = now;
			reload(a);
			reap_jobs(a);
		}
		if (status_expire(now))
			a->dirty = true;
		timeout = (int)(TICK_MS - (now - a->last_tick));
		if (warm_tick(&a->warm, &timeout))
			a->dirty = true;
		pump_shells(a);
		draw(a);
		if ((st = status_timeout(now)) >= 0 && st < timeout)
			timeout = st;

		memset(sfd, 0, sizeof sfd);
		memset(jfd, 0, sizeof jfd);
		fds[nfds++] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = a->sig_pipe[0], .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = a->watch.fd, .events = POLLIN };
		fds[nfds++] = (struct pollfd){ .fd = a->warm.pipe[0], .events = POLLIN };
		for (size_t i = 0; i < a->warm.n && nfds < (int)ARRAY_LEN(fds); i++) {
			struct pollfd p = warm_pollfd(a->warm.s[i]);

			if (p.fd < 0)
				continue;
			sfd[nfds] = a->warm.s[i];
			fds[nfds++] = p;
		}
		for (size_t i = 0; i < a->njobs && nfds + 2 <= (int)ARRAY_LEN(fds); i++) {
			if (a->jobs[i]->out_fd >= 0) {
				jfd[nfds] = a->jobs[i];
				fds[nfds++] = (struct pollfd){ .fd = a->jobs[i]->out_fd, .events = POLLIN };
			}
			if (a->jobs[i]->err_fd >= 0) {
				jfd[nfds] = a->jobs[i];
				fds[nfds++] = (struct pollfd){ .fd = a->jobs[i]->err_fd, .events = POLLIN };
			}
		}
		if (poll(fds, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			status_set(STATUS_ERROR, "poll failed: %s", strerror(errno));
			continue;
		}
		if (fds[1].revents)
			on_sig_pipe(a);
		if (fds[0].revents)
			read_keys(a);
		if (fds[2].revents && watch_drain(&a->watch))
			reload(a);
		if (fds[3].revents && warm_collect(&a->warm)) {
			build_rows(a);
			a->dirty = true;
		}
		for (int i = 4; i < nfds; i++)
			if (jfd[i] && fds[i].revents)
				job_read(jfd[i]);
		/* Readable sessions are served by pump_shells at the top. */
	}
}

static void cleanup(struct app *a)
{
	for (size_t i = 0; i < a->nshells; i++)
		shell_free(a->shells[i]);
	free(a->shells);
	warm_free(&a->warm);
	watch_free(&a->watch);
	for (size_t i = 0; i < a->njobs; i++)
		job_free(a->jobs[i]);
	free(a->jobs);
	free(a->rows);
	free(a->sbs);
	close(a->sig_pipe[0]);
	close(a->sig_pipe[1]);
	sig_fd = -1;
}

int tui_main(int argc, char **argv)
{
	const char *theme = "dark", *prefix = "C-b";
	struct arg_spec specs[] = {
		{ "--theme", 0, ARG_STR, &theme, 0, 0 },
		{ "--prefix", 0, ARG_STR, &prefix, 0, 0 },
	};
	struct args_result res;
	struct app *a;

	if (args_parse("tui", argc, argv, specs, ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n\n%s", err_msg(), usage);
		return 2;
	}
	free(res.pos);
	if (res.help)
		return cli_usage(usage);
	if (res.npos) {
		fprintf(stderr, "smolvm tui: unexpected argument '%s'\n\n%s", res.pos[0], usage);
		return 2;
	}
	a = xcalloc(1, sizeof *a);
	a->view = -1;
	a->click_row = -1;
	a->root = geteuid() == 0;
	setup_locale();
	if (parse_prefix(prefix, a) < 0 || theme_load(theme, &a->theme) < 0) {
		fprintf(stderr, "smolvm: %s\n", err_msg());
		free(a);
		return 2;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "smolvm: the workbench needs a terminal; for scripts use the "
			"commands (smolvm --help)\n");
		free(a);
		return 2;
	}
	if (setup_signals(a) < 0 || warm_init(&a->warm, a->root) < 0) {
		fprintf(stderr, "smolvm: %s\n", err_msg());
		free(a);
		return 1;
	}
	if (watch_init(&a->watch) < 0)
		status_set(STATUS_INFO, "%s", err_msg());
	setup_screen(a);
	if (!a->root)
		status_set(STATUS_INFO, "not running as root: the list works, but creating, "
			   "deleting and shells need sudo");
	reload(a);
	a->full = true;
	loop(a);
	endwin();
	cleanup(a);
	free(a);
	return 0;
}
