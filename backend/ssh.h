/* ssh: libssh2 sessions to a sandbox's dropbear, host key pinned. */
#ifndef SMOLVM_SSH_H
#define SMOLVM_SSH_H

#include <libssh2.h>
#include <stdbool.h>

#include "backend/store.h"

struct ssh_conn;

/*
 * Connect from inside the sandbox's namespace, handshake, check the host key
 * against the image's pinned key (a mismatch is an error, never a prompt),
 * and authenticate with the per-install user key. Blocking; safe to call
 * from a worker thread (one connection per thread at a time). NULL with
 * err_set() on failure.
 */
struct ssh_conn *ssh_open(const struct sandbox *sb, int timeout_ms);
void ssh_close(struct ssh_conn *c);

LIBSSH2_SESSION *ssh_session(struct ssh_conn *c);
int ssh_fd(struct ssh_conn *c);

/* Switch the session between blocking and non-blocking use (the TUI runs
 * sessions non-blocking in its poll loop). */
void ssh_set_blocking(struct ssh_conn *c, bool blocking);

/* Run cmd (a shell command line), streaming stdin from in_fd (-1: none),
 * stdout to out_fd and stderr to err_fd. Returns the remote exit status
 * (128+N for a signal), or -1 with err_set(). */
int ssh_exec(struct ssh_conn *c, const char *cmd, int in_fd, int out_fd, int err_fd);

/* ssh_exec() giving up after timeout_ms (0: never): then the command is
 * killed in the guest (by its timeout(1)), the channel abandoned, and
 * SSH_TIMED_OUT returned with err_set(); close the connection after it.
 * ssh_exec() and
 * ssh_interactive() drive the session themselves until they return, whatever
 * its blocking mode; they restore the mode on return. */
#define SSH_TIMED_OUT (-2)
int ssh_exec_timeout(struct ssh_conn *c, const char *cmd, int in_fd, int out_fd, int err_fd,
		     int timeout_ms);

/* ssh_exec_timeout() that the user can interrupt: each time stop_fd becomes
 * readable (a signal handler writes to it), the command's whole process
 * group in the guest gets SIGINT, and SIGKILL from the second time on; the
 * call still returns the command's status (130 after a SIGINT). When
 * timeout_ms runs out, the whole group gets SIGKILL. */
int ssh_exec_stoppable(struct ssh_conn *c, const char *cmd, int in_fd, int out_fd, int err_fd,
		       int timeout_ms, int stop_fd);

/* Quote argv into one shell command line for ssh_exec: every argument in
 * POSIX single quotes (it's -> 'it'\''s'), joined by spaces, so the remote
 * shell runs exactly this argv. */
char *ssh_quote_argv(int argc, char **argv);

/* An interactive shell wired to the calling terminal (smolvm ssh). With a
 * terminal on stdin: raw mode, a pty of the terminal's size ($TERM, else
 * xterm-256color), resized on SIGWINCH. Otherwise no pty, stdin piped.
 * Returns the shell's exit status, or -1 with err_set(). */
int ssh_interactive(struct ssh_conn *c);

/*
 * Non-blocking use (the TUI's poll loop)
 *
 * After ssh_set_blocking(c, false), every libssh2 call may return
 * LIBSSH2_ERROR_EAGAIN; poll ssh_fd() for ssh_poll_events() and call it
 * again. A write that returned EAGAIN must be repeated with the same bytes.
 * Reading one channel may queue data for others, so after reading every
 * channel until EAGAIN, check ssh_chan_pending() before sleeping in poll().
 */

/* POLLIN, plus POLLOUT while libssh2 waits to send. */
short ssh_poll_events(struct ssh_conn *c);

/*
 * Opening a channel takes several round trips (open, pty, shell or exec).
 * Fill a request and call ssh_chan_step() until it returns 1 (r->ch is
 * ready) or -1 (failed, err_set(), nothing left to free); 0 means "again
 * when the socket is ready". Only one request per session may be in
 * progress at a time (libssh2 keeps the open state in the session), and
 * once started it must be stepped to the end.
 *   struct ssh_chan_req r = { .term = "xterm-256color", .cols = 80, .rows = 24 };
 * term != NULL asks for a pty; cmd == NULL starts the login shell.
 */
struct ssh_chan_req {
	const char *cmd;
	const char *term;
	int cols, rows;
	int step;		/* progress; 0 to start */
	LIBSSH2_CHANNEL *ch;	/* the channel once ssh_chan_step() returns 1 */
};
int ssh_chan_step(struct ssh_conn *c, struct ssh_chan_req *r);

/* A shell with a pty of cols x rows ($TERM or xterm-256color) in one call:
 * ssh_chan_step() on a request kept in c. Returns the channel when ready;
 * NULL with *eagain = 1 to call again when the socket is ready, or NULL
 * with *eagain = 0 and err_set() on failure. */
LIBSSH2_CHANNEL *ssh_open_shell_nb(struct ssh_conn *c, int cols, int rows, int *eagain);

/* Does libssh2 hold unread data (stdout or stderr) for this channel? */
bool ssh_chan_pending(LIBSSH2_CHANNEL *ch);

/* Exit status of a channel whose remote end closed: the status, or 128+N
 * if the command was killed by signal N (255 for an unknown signal). */
int ssh_chan_exit_status(struct ssh_conn *c, LIBSSH2_CHANNEL *ch);

/* Send a keepalive if one is due (every SSH_KEEPALIVE_S seconds, set up by
 * ssh_open); *next_s gets the seconds until the next one is due, for the
 * poll timeout. Returns 0, or -1 with err_set() if the connection broke. */
#define SSH_KEEPALIVE_S 15
int ssh_keepalive(struct ssh_conn *c, int *next_s);

/* libssh2's last error on this session, for messages. */
const char *ssh_last_error(struct ssh_conn *c);

#endif
