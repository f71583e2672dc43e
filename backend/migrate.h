/* migrate: a guest's running state to and from a file, over QMP migration. */
#ifndef SMOLVM_MIGRATE_H
#define SMOLVM_MIGRATE_H

#include "fs/progress.h"

struct qmp;

/*
 * Save the state of the guest behind q, which the caller has paused (QMP
 * "stop"), into the new file path (through `cat`, which QEMU runs). It
 * stays paused afterwards, with its disks flushed: the moment to copy them
 * so that they agree with the saved memory; QMP "cont" resumes it. fn (may
 * be NULL) hears how much of the RAM went out. 0, or -1 with err_set() and
 * path removed.
 */
int migrate_save(struct qmp *q, const char *path, progress_fn fn, void *arg);

/*
 * Load a state saved by migrate_save into a QEMU started with "-incoming
 * defer" and the same devices, waiting at most timeout_ms. The guest is
 * left paused (it was paused when saved). QEMU exits when it refuses the
 * state; then -1 with err_set() (qemu.log says why).
 */
int migrate_load(struct qmp *q, const char *path, int timeout_ms);

#endif
