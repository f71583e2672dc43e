/* cli_ssh: `smolvm exec` and `smolvm ssh`, commands in a running sandbox. */
#include <fcntl.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/ssh.h"
#include "backend/store.h"
#include "backend/util.h"

/* Like ssh: the remote status is passed through, smolvm's own failures are
 * 255, so a script can tell them apart. */
#define EXIT_SSH_ERROR 255
#define EXIT_TIMEOUT 124
#define CONNECT_TIMEOUT_MS 10000

static const char exec_usage[] =
	"usage: smolvm exec [--timeout S] ID [--] CMD [ARG...]\n"
	"\n"
	"Run CMD with its arguments in the sandbox ID as root, as an argument vector\n"
	"(each argument arrives as it is: quoted for the guest's shell, which only runs it;\n"
	"use `sh -c '...'` for pipes and variables).\n"
	"stdout and stderr stay separate. stdin is passed to the command when it is\n"
	"not a terminal (`echo hi | smolvm exec ID -- cat`); from a terminal the\n"
	"command gets an empty stdin (use `smolvm ssh ID` to work interactively).\n"
	"Options go before ID; everything after ID (and an optional --) is the command.\n"
	"\n"
	"  --timeout S   give up after S seconds (connecting included); exit 124\n"
	"\n"
	"Exit status: the command's; 128+N if it was killed by signal N; 124 on\n"
	"--timeout; 255 if smolvm itself failed (bad usage, no such sandbox, not\n"
	"running, SSH failure). Needs root (it enters the sandbox's network namespace).\n"
	"\n"
	"Ctrl-C (or SIGTERM, SIGHUP) stops the command in the guest too: its process\n"
	"group gets SIGINT, and SIGKILL on a second Ctrl-C.\n";

static const char ssh_usage[] =
	"usage: smolvm ssh ID\n"
	"\n"
	"An interactive root shell in the sandbox ID, in this terminal (with a pty of\n"
	"its size, following resizes). With stdin not a terminal, the shell reads its\n"
	"commands from stdin instead. Exits with the shell's status; 255 if smolvm\n"
	"itself failed. Needs root (it enters the sandbox's network namespace).\n";

static struct ssh_conn *connect_sandbox(const struct sandbox *sb, int timeout_ms)
{
	struct ssh_conn *c = ssh_open(sb, timeout_ms);

	if (!c)
		fprintf(stderr, "smolvm: %s\n", err_msg());
	return c;
}

/* A terminal is the user's, not the command's: reading it would block the
 * command on input nobody means to give it (and stop us if in the
 * background). A closed stdin is simply none. */
static int stdin_to_pass(void)
{
	if (fcntl(STDIN_FILENO, F_GETFD) < 0 || isatty(STDIN_FILENO))
		return -1;
	return STDIN_FILENO;
}

/*
 * Options come before ID; the command starts after ID (and a "--" right
 * after it, if any), so the command's own options are never taken for ours.
 * Returns the index of ID in argv, or argc if there is none.
 */
static int stop_pipe[2] = { -1, -1 };

static void on_stop_signal(int sig)
{
	int e = errno;

	(void)sig;
	if (write(stop_pipe[1], "s", 1) < 0) {
		/* pipe full: a stop is already pending */
	}
	errno = e;
}

/* Interrupts during the command stop it in the guest (ssh_exec_stoppable)
 * instead of ending smolvm and leaving the command running there. */
static int catch_stop_signals(void)
{
	/* SA_RESTART: an interrupt must not fail libssh2's reads and writes. */
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };

	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return stop_pipe[0];
}

static int find_id(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout"))
			i++;
		else if (argv[i][0] != '-' || !strcmp(argv[i], "--"))
			return strcmp(argv[i], "--") ? i : i + 1;
	}
	return argc;
}

int cli_exec(int argc, char **argv)
{
	int timeout_s = 0;
	const struct arg_spec specs[] = {
		{ "--timeout", 0, ARG_INT, &timeout_s, 1, 7 * 24 * 3600 },
	};
	struct args_result res;
	struct sandbox sb;
	struct ssh_conn *c;
	int id_at = find_id(argc, argv), cmd_at, connect_ms = CONNECT_TIMEOUT_MS, in_fd, rc;
	int64_t t0 = util_now_ms(), left_ms = 0;
	char *cmd;

	if (args_parse("exec", id_at < argc ? id_at : argc, argv, specs, ARRAY_LEN(specs),
		       &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_SSH_ERROR;
	}
	free(res.pos);
	if (res.help)
		return cli_usage(exec_usage);
	cmd_at = id_at + 1;
	if (cmd_at < argc && !strcmp(argv[cmd_at], "--"))
		cmd_at++;
	if (id_at >= argc || cmd_at >= argc) {
		fprintf(stderr, "smolvm exec: %s\n\n%s",
			id_at >= argc ? "no sandbox given" : "no command given", exec_usage);
		return EXIT_SSH_ERROR;
	}
	if (cli_need_root("exec") < 0 || cli_running_sandbox(argv[id_at], &sb) < 0)
		return EXIT_SSH_ERROR;
	/* Before connecting: with stdin closed, the socket would become fd 0. */
	in_fd = stdin_to_pass();
	if (timeout_s && timeout_s * 1000 < connect_ms)
		connect_ms = timeout_s * 1000;
	c = connect_sandbox(&sb, connect_ms);
	if (!c) {
		/* Running out of --timeout while connecting is still a timeout. */
		return timeout_s && util_now_ms() - t0 >= timeout_s * 1000 ? EXIT_TIMEOUT
									    : EXIT_SSH_ERROR;
	}
	if (timeout_s) {
		left_ms = timeout_s * 1000 - (util_now_ms() - t0);
		if (left_ms < 1)
			left_ms = 1;
	}
	cmd = ssh_quote_argv(argc - cmd_at, argv + cmd_at);
	rc = ssh_exec_stoppable(c, cmd, in_fd, STDOUT_FILENO, STDERR_FILENO, (int)left_ms,
				catch_stop_signals());
	free(cmd);
	ssh_close(c);
	if (rc == SSH_TIMED_OUT) {
		fprintf(stderr, "smolvm exec: %s: command timed out after %d s\n", sb.name,
			timeout_s);
		return EXIT_TIMEOUT;
	}
	if (rc < 0) {
		fprintf(stderr, "smolvm exec: %s: %s\n", sb.name, err_msg());
		return EXIT_SSH_ERROR;
	}
	return rc;
}

int cli_ssh(int argc, char **argv)
{
	struct args_result res;
	struct sandbox sb;
	struct ssh_conn *c;
	int rc;

	if (args_parse("ssh", argc, argv, NULL, 0, &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_SSH_ERROR;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(ssh_usage);
	}
	if (res.npos != 1) {
		fprintf(stderr, "smolvm ssh: %s\n\n%s",
			res.npos ? "give exactly one sandbox" : "no sandbox given", ssh_usage);
		free(res.pos);
		return EXIT_SSH_ERROR;
	}
	rc = cli_need_root("ssh") < 0 || cli_running_sandbox(res.pos[0], &sb) < 0;
	free(res.pos);
	if (rc || !(c = connect_sandbox(&sb, CONNECT_TIMEOUT_MS)))
		return EXIT_SSH_ERROR;
	rc = ssh_interactive(c);
	ssh_close(c);
	if (rc < 0) {
		fprintf(stderr, "smolvm ssh: %s: %s\n", sb.name, err_msg());
		return EXIT_SSH_ERROR;
	}
	return rc;
}
