/* shell: a terminal pane wired to a shell in a sandbox over a channel of
 * the sandbox's warm SSH session; every step is non-blocking. */
#ifndef SMOLVM_SHELL_H
#define SMOLVM_SHELL_H

#include <stdbool.h>
#include <stdint.h>

#include "tui/termpane.h"
#include "tui/warm.h"

/* The terminal type the guest is told; it is what libvterm emulates. */
#define SHELL_TERM "xterm-256color"

enum shell_state {
	SHELL_WAITING,		/* for the session to be ready */
	SHELL_OPENING,		/* channel, pty, shell requests in flight */
	SHELL_LIVE,
	SHELL_ENDING,		/* the guest sent EOF; waiting for close and status */
	SHELL_DONE,		/* over; notice says why */
};

struct shell {
	struct termpane *tp;
	struct session *sess;
	unsigned epoch;			/* sess->epoch when the channel was opened */
	LIBSSH2_CHANNEL *ch;
	struct ssh_chan_req req;
	enum shell_state state;
	char id[16], name[64];
	char notice[400];		/* SHELL_DONE: why it ended */
	int pty_rows, pty_cols;		/* the size the guest has, or is being sent */
	bool pty_sending;		/* a size request returned EAGAIN: repeat it */
	bool activity;			/* output arrived while not shown */
};

/* Events from shell_step. */
enum {
	SHELL_EV_OUTPUT = 1,	/* the pane changed */
	SHELL_EV_STATE = 2,	/* state changed */
	SHELL_EV_BROKEN = 4,	/* the connection failed: drop the session */
};

/* A shell in sandbox sb_name using session s (which it holds a use of). */
struct shell *shell_new(struct session *s, const char *sb_name, int rows, int cols);

/* Close the channel (without waiting) and free everything. */
void shell_free(struct shell *sh);

/* Make whatever progress is possible now; returns SHELL_EV_* bits. */
int shell_step(struct shell *sh);

/* Does libssh2 hold more data for this shell (read again before sleeping)? */
bool shell_pending(const struct shell *sh);

/* The pane got a new size; the guest's pty follows. */
void shell_resize(struct shell *sh, int rows, int cols);

/* A one-line description of a shell that is not live, for the pane. */
const char *shell_describe(const struct shell *sh, char *buf, size_t len);

#endif
