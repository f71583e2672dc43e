/* sync: keep a folder of the host mirrored into a sandbox, one way, as it changes. */
#ifndef SMOLVM_SYNC_H
#define SMOLVM_SYNC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs/sftp.h"

/*
 * The rules:
 * - one way, the host wins: a regular file on the host whose size, mtime
 *   (whole seconds) or permission bits differ from the guest's copy is
 *   copied over it (through fs/sftp.c: a temporary name renamed into
 *   place, so the guest never sees half a file); a folder on the host is
 *   made in the guest;
 * - symbolic links, sockets, FIFOs and devices on the host are left out
 *   (counted as skipped), and whatever the guest has under their names is
 *   left alone;
 * - the first pass copies what differs; with `delete` it also removes what
 *   the guest has that the host does not;
 * - after that, changes on the host are followed with inotify: a file is
 *   copied when a writer closes it or it is moved in, a new folder is
 *   watched and copied whole, and a file or folder deleted or moved away
 *   on the host is removed from the guest (whether or not `delete` was
 *   given: only what the host had while watched is removed);
 * - a file and a folder of the same name (one on each side) conflict: with
 *   `delete` the guest's is replaced, without it the path is reported as
 *   failed and left;
 * - events for one path are coalesced: it is copied once it has been quiet
 *   for SYNC_SETTLE_MS, or SYNC_MAX_WAIT_MS after its first event.
 */
#define SYNC_SETTLE_MS 150
#define SYNC_MAX_WAIT_MS 2000

enum sync_what { SYNC_ADDED, SYNC_CHANGED, SYNC_REMOVED, SYNC_FAILED };

struct sync_change {
	enum sync_what what;
	const char *path;	/* relative to the two folders */
	bool dir;
	uint64_t bytes;		/* copied, for a file */
	const char *error;	/* SYNC_FAILED: why */
};

typedef void (*sync_report_fn)(void *arg, const struct sync_change *c);

struct sync_opts {
	const char *host_dir;
	const char *guest_dir;	/* an absolute folder in the sandbox */
	bool delete;
	sync_report_fn report;	/* called for every change; may be NULL */
	void *report_arg;
	const volatile sig_atomic_t *cancel;	/* stops a copy half-way; may be NULL */
};

struct sync_stats {
	int added, changed, removed, failed, skipped;
	uint64_t bytes;
};

struct sync;

/* host_dir must be a folder; NULL with err_set() if not. */
struct sync *sync_new(const struct sync_opts *o);
void sync_free(struct sync *y);

/* Start watching the host folder (every folder in it is watched as the
 * passes reach it). Call before the first pass, so nothing made meanwhile
 * is missed. 0, or -1 with err_set(). */
int sync_watch(struct sync *y);
/* The inotify descriptor to poll for reading. */
int sync_fd(const struct sync *y);

/*
 * Read the events waiting on sync_fd() into the set of paths to look at.
 * 0, or -1 with err_set() when the host folder itself was deleted or
 * moved (nothing is left to follow).
 */
int sync_read_events(struct sync *y, int64_t now_ms);
/* Paths waiting to be looked at. */
size_t sync_pending(const struct sync *y);
/* Milliseconds until the next waiting path is due (0: now), -1 if none. */
int sync_next_ms(const struct sync *y, int64_t now_ms);

/*
 * The first pass over the whole tree (also after a reconnect, when events
 * may have been missed), and the handling of the paths that are due.
 * Failures of single paths are reported and counted; -1 with err_set()
 * means the sandbox cannot be reached (or the copy was cancelled): the
 * paths not done stay waiting for another connection.
 */
int sync_full(struct sync *y, struct sftp *s);
int sync_flush(struct sync *y, struct sftp *s, int64_t now_ms);

const struct sync_stats *sync_stats(const struct sync *y);

#endif
