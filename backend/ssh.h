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

/* Quote argv into one shell command line for ssh_exec. */
char *ssh_quote_argv(int argc, char **argv);

/* An interactive shell wired to the calling terminal (smolvm ssh). */
int ssh_interactive(struct ssh_conn *c);

#endif
