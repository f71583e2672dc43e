/* tui: the workbench's main loop. One poll() over the keyboard, the SSH
 * sockets, inotify, child processes and a self-pipe for signals; handlers
 * only change state and mark what needs drawing, and drawing happens once
 * per turn of the loop. */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/util.h"
#include "tui/app.h"
#include "tui/draw.h"
#include "tui/input.h"
#include "tui/keys.h"
#include "tui/screen.h"
#include "tui/status.h"
#include "tui/termpane.h"
#include "tui/upload.h"

#define TICK_MS 1000

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
	if (!isendwin()) {
		keys_bracketed_paste(false);
		endwin();
	}
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
	/* Files dragged onto the terminal arrive as a marked paste (upload.h). */
	keys_bracketed_paste(true);
	theme_apply(&a->theme, a->colour);
}

static void on_sig_pipe(struct app *a)
{
	char buf[64];
	ssize_t n;

	while ((n = read(a->sig_pipe[0], buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == 'w')
				app_resize(a);
			else if (buf[i] == 'c')
				app_reap_jobs(a);
			else if (buf[i] == 'q')
				a->quit = true;
		}
	}
}

/* The poll set: the fixed descriptors, then ready sessions, then jobs. */
enum { FD_STDIN, FD_SIGNALS, FD_WATCH, FD_WORKERS, FD_TRANSFERS, FD_FILES, FD_FIXED };

static nfds_t poll_set(struct app *a, struct pollfd **fds, struct job ***jobs, size_t *cap)
{
	size_t need = FD_FIXED + a->warm.n + 2 * a->njobs;
	nfds_t n = FD_FIXED;

	if (need > *cap) {
		*cap = need;
		*fds = xrealloc(*fds, need * sizeof **fds);
		*jobs = xrealloc(*jobs, need * sizeof **jobs);
	}
	memset(*jobs, 0, need * sizeof **jobs);
	(*fds)[FD_STDIN] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	(*fds)[FD_SIGNALS] = (struct pollfd){ .fd = a->sig_pipe[0], .events = POLLIN };
	(*fds)[FD_WATCH] = (struct pollfd){ .fd = a->watch.fd, .events = POLLIN };
	(*fds)[FD_WORKERS] = (struct pollfd){ .fd = a->warm.pipe[0], .events = POLLIN };
	(*fds)[FD_TRANSFERS] = (struct pollfd){ .fd = a->xfers.pipe[0], .events = POLLIN };
	(*fds)[FD_FILES] = (struct pollfd){ .fd = a->files ? filespane_fd(a->files) : -1,
					    .events = POLLIN };
	/* Readable sessions are served by pump_shells and warm_tick. */
	for (size_t i = 0; i < a->warm.n; i++) {
		struct pollfd p = warm_pollfd(a->warm.s[i]);

		if (p.fd >= 0)
			(*fds)[n++] = p;
	}
	for (size_t i = 0; i < a->njobs; i++) {
		int fd[2] = { a->jobs[i]->out_fd, a->jobs[i]->err_fd };

		for (int k = 0; k < 2; k++) {
			if (fd[k] < 0)
				continue;
			(*jobs)[n] = a->jobs[i];
			(*fds)[n++] = (struct pollfd){ .fd = fd[k], .events = POLLIN };
		}
	}
	return n;
}

static void loop(struct app *a)
{
	struct pollfd *fds = NULL;
	struct job **jobs = NULL;
	size_t cap = 0;

	while (!a->quit) {
		int64_t now = util_now_ms();
		int timeout, st;
		nfds_t n;

		if (now - a->last_tick >= TICK_MS) {
			a->last_tick = now;
			app_reload(a);
			app_reap_jobs(a);
		}
		if (status_expire(now))
			a->dirty = true;
		timeout = (int)(TICK_MS - (now - a->last_tick));
		if (warm_tick(&a->warm, &timeout))
			a->dirty = true;
		app_pump_shells(a);
		upload_tick(a);
		screen_draw(a);
		if ((st = status_timeout(now)) >= 0 && st < timeout)
			timeout = st;
		n = poll_set(a, &fds, &jobs, &cap);
		if (poll(fds, n, timeout) < 0) {
			if (errno != EINTR)
				die("poll failed: %s", strerror(errno));
			continue;
		}
		/* Jobs first, while jobs[] still points at live ones: a SIGCHLD
		 * below reaps (frees) the jobs that ended. */
		for (nfds_t i = FD_FIXED; i < n; i++)
			if (jobs[i] && fds[i].revents)
				job_read(jobs[i]);
		if (fds[FD_SIGNALS].revents)
			on_sig_pipe(a);
		/* The terminal went away: nobody is left to see the screen. */
		if (fds[FD_STDIN].revents & (POLLHUP | POLLERR | POLLNVAL))
			a->quit = true;
		else if (fds[FD_STDIN].revents)
			input_read_keys(a);
		if (fds[FD_WATCH].revents && watch_drain(&a->watch))
			app_reload(a);
		if (fds[FD_WORKERS].revents && warm_collect(&a->warm)) {
			app_build_rows(a);
			a->dirty = true;
		}
		if (fds[FD_FILES].revents && a->files && filespane_collect(a->files))
			a->dirty = true;
		if (fds[FD_TRANSFERS].revents) {
			transfers_drain(&a->xfers);
			a->dirty = true;
		}
	}
	free(fds);
	free(jobs);
}

static void cleanup(struct app *a)
{
	transfers_free(&a->xfers);
	upload_dialog_free(a->updlg);
	uploadpane_free(a->up);
	filespane_free(a->files);
	snappane_free(a->snaps);
	vaultpane_free(a->vault);
	buf_free(&a->paste);
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
	if (res.help) {
		free(res.pos);
		return cli_usage(usage);
	}
	if (res.npos) {
		fprintf(stderr, "smolvm tui: unexpected argument '%s'\n\n%s", res.pos[0], usage);
		free(res.pos);
		return 2;
	}
	free(res.pos);
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
	if (setup_signals(a) < 0 || warm_init(&a->warm, a->root) < 0 ||
	    transfers_init(&a->xfers) < 0) {
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
	app_reload(a);
	a->full = true;
	loop(a);
	keys_bracketed_paste(false);
	endwin();
	cleanup(a);
	free(a);
	return 0;
}
