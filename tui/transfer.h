/*
 * transfer: the workbench's queue of uploads into sandboxes, fed by drag-in
 * and by the upload pane alike. Each file or folder is one entry with its
 * own progress. The copying runs on a thread per sandbox, so the screen
 * never waits: fs/sftp.c's calls block, and a libssh2 session must not be
 * used by two threads, so the thread keeps an SSH connection of its own to
 * the sandbox (the shells' session stays with the screen's loop). It opens
 * that connection ahead of time when an upload is being prepared, keeps it
 * for the entries that follow, and closes it after a while with nothing to
 * do. Entries to one sandbox go one after another; sandboxes go side by side.
 */
#ifndef SMOLVM_TRANSFER_H
#define SMOLVM_TRANSFER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/store.h"

enum transfer_state { XFER_QUEUED, XFER_RUNNING, XFER_DONE, XFER_FAILED, XFER_CANCELLED };

struct transfer {
	unsigned id;
	unsigned batch;			/* entries queued together share it */
	char sb_id[16], sb_name[64];
	char *local;			/* the file or folder on the host */
	char *name;			/* its last component, for the screen */
	char *dest;			/* the folder in the sandbox it goes into */
	enum transfer_state state;
	uint64_t done, total;		/* bytes */
	int files_done, files_total;
	char error[400];		/* XFER_FAILED: why */
	int64_t started_ms, ended_ms;
	volatile sig_atomic_t cancel;
	bool reported;			/* its batch's outcome was handed out */
};

struct transfer_lane;

/* Fields are read by the screen with transfers_lock() held. */
struct transfers {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct transfer **v;		/* oldest first */
	size_t n;
	struct transfer_lane **lanes;
	size_t nlanes;
	int pipe[2];			/* threads write a byte here when anything changed */
	unsigned next_id, next_batch;
	bool stop;
};

int transfers_init(struct transfers *q);
/* Cancel everything, wait for the threads, free it all. */
void transfers_free(struct transfers *q);

/* Start a batch: the entries added until the next call belong together. */
void transfers_batch(struct transfers *q);
/* Queue local (a file or folder) for dest_dir in sb. */
void transfers_add(struct transfers *q, const struct sandbox *sb, const char *local,
		   const char *dest_dir);

/*
 * Get sb's connection ready before anything is queued. With ask_cwd, the
 * sandbox is also asked to report each shell's current folder: for every
 * login shell on a pseudo-terminal (the session leader of a /dev/pts/N),
 * it writes an OSC 7 sequence with that shell's /proc/PID/cwd to the
 * terminal, and the pane showing it learns it (termpane.h). This is for
 * shells like busybox ash that do not say where they are themselves.
 */
void transfers_prepare(struct transfers *q, const struct sandbox *sb, bool ask_cwd);

/* Cancel entry id: a queued one is dropped, a running one stops after the
 * current chunk (its partial file removed). */
void transfers_cancel(struct transfers *q, unsigned id);
/* Forget the finished entries (done, failed, cancelled). */
void transfers_clear(struct transfers *q);

/* Read the threads' wake-ups (when q->pipe[0] is readable). */
void transfers_drain(struct transfers *q);

void transfers_lock(struct transfers *q);
void transfers_unlock(struct transfers *q);

/*
 * The outcome of a batch that just finished, once: "uploaded 2 files
 * (1.5 MiB) to demo:/root" or why an entry failed. true with msg set
 * (*failed if any entry failed), false if no batch is newly finished.
 */
bool transfers_outcome(struct transfers *q, char *msg, size_t len, bool *failed);

/* What runs now, for the status line ("↑ a.txt 45% 2/3"); "" if nothing. */
void transfers_summary(struct transfers *q, char *buf, size_t len);

/* Is anything queued or running? */
bool transfers_busy(struct transfers *q);

#endif
