/* warm: one SSH session per running sandbox, opened ahead of time by a
 * worker thread so that opening a shell costs only a channel. */
#ifndef SMOLVM_WARM_H
#define SMOLVM_WARM_H

#include <libssh2.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/ssh.h"
#include "backend/store.h"

enum warm_state {
	WARM_IDLE,		/* sandbox not running: no session wanted */
	WARM_OPENING,		/* a worker is connecting */
	WARM_READY,		/* conn is usable, non-blocking */
	WARM_FAILED,		/* the last attempt failed; retried at retry_at */
};

struct session {
	char id[16];
	char name[64];
	pid_t pid;			/* the boot this session belongs to: QEMU's pid ... */
	int64_t started;		/* ... and start time */
	enum warm_state state;
	struct ssh_conn *conn;		/* WARM_READY only */
	unsigned epoch;			/* changes whenever conn is replaced or dropped */
	unsigned worker;		/* matches the worker whose result we wait for */
	int64_t retry_at;		/* WARM_FAILED: monotonic ms */
	int failures;
	char error[256];		/* why the last attempt failed or the session dropped */
	bool opening;			/* a channel open is in progress (one at a time) */
	int users;			/* shells using or waiting for this session */
	int channels;			/* of those, shells with an open channel */
	LIBSSH2_CHANNEL **closing;	/* channels being closed without blocking */
	size_t nclosing;
	struct ssh_chan_req orphan;	/* an open whose shell was closed meanwhile */
	bool orphaned;
	bool seen;			/* still in the list at the last sync */
};

struct warm {
	struct session **s;
	size_t n;
	int pipe[2];			/* workers write results here */
	bool enabled;			/* false without root: no sessions at all */
};

int warm_init(struct warm *w, bool enabled);
void warm_free(struct warm *w);

/*
 * Bring sessions in line with the sandbox list: start workers for running
 * sandboxes, drop sessions of sandboxes that stopped, crashed, restarted or
 * went away, retry failed ones when due. Returns true if anything changed.
 */
bool warm_sync(struct warm *w, const struct sandbox *sbs, size_t n);

/* Take finished workers' results from the pipe (call when it is readable). */
bool warm_collect(struct warm *w);

struct session *warm_find(struct warm *w, const char *id);

/* Drop a session's connection because it broke (why says how); warm_sync
 * opens a new one. */
void warm_drop(struct warm *w, struct session *s, const char *why);

/*
 * Housekeeping for ready sessions: keepalives, closing channels, and
 * noticing that an idle connection broke. *timeout_ms is lowered to when
 * the next keepalive is due. Returns true if a session dropped.
 */
bool warm_tick(struct warm *w, int *timeout_ms);

/* Free a channel without waiting: finished later by warm_tick if need be. */
void warm_close_channel(struct session *s, LIBSSH2_CHANNEL *ch);

/* A shell went away while its channel was opening: finish the open (libssh2
 * wants that) and close the channel. */
void warm_abandon_open(struct session *s, const struct ssh_chan_req *req);

/* The pollfd for a ready session (fd -1 if none). */
struct pollfd warm_pollfd(const struct session *s);

/* A session nobody uses any more is freed at the next sync. */
void warm_release(struct session *s);

#endif
