/* job: create and rm run as child processes of this same binary, watched
 * from the poll loop, so that a booting sandbox never blocks the screen. */
#ifndef SMOLVM_JOB_H
#define SMOLVM_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tui/buf.h"

enum job_kind { JOB_CREATE, JOB_REMOVE, JOB_SNAPSHOT };

struct job {
	enum job_kind kind;
	pid_t pid;
	int out_fd, err_fd;		/* -1 once closed */
	struct buf out, err;
	int64_t started_ms;
	char name[64];			/* the sandbox's name */
	char id[16];			/* its id: known for rm, read from create's --json */
	char what[32];			/* JOB_SNAPSHOT: "snapshotting", "restoring", ... */
	bool done;
	int status;			/* exit status, or -1 if killed */
};

/* `smolvm create --name N --mem M --cpus C --json` */
struct job *job_create(const char *name, int mem_mib, int cpus);
/* `smolvm rm --force ID` */
struct job *job_remove(const char *id, const char *name);
/* `smolvm create --from ID:SNAP --name N --json`: a JOB_CREATE. */
struct job *job_clone(const char *ref, const char *name);
/* `smolvm snapshot ARGS...` (NULL-terminated) on sandbox id (named name);
 * what says what it does, for the screen ("restoring"). */
struct job *job_snapshot(char *const args[], const char *id, const char *name, const char *what);

/* Read what the child wrote so far (call when a pipe is readable). */
void job_read(struct job *j);

/* Has the child exited? Collects it (waitpid) and the rest of its output. */
bool job_reap(struct job *j);

/* Last line of the child's stderr, without the "smolvm: " prefix, or "". */
void job_error(const struct job *j, char *buf, size_t len);

void job_free(struct job *j);

#endif
