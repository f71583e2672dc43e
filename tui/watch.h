/* watch: notice sandboxes appearing, changing and going away in
 * $SMOLVM_HOME/vms (inotify), so the list updates without polling. */
#ifndef SMOLVM_WATCH_H
#define SMOLVM_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/store.h"

struct watch {
	int fd;			/* inotify, non-blocking; -1 if unavailable */
	int vms_wd;		/* the vms directory, or -1 until it exists */
	int home_wd;		/* $SMOLVM_HOME, to see vms appear */
};

int watch_init(struct watch *w);
void watch_free(struct watch *w);

/* Watch the record directories of these sandboxes (state changes are
 * atomic renames into them) and the vms directory once it exists. */
void watch_sync(struct watch *w, const struct sandbox *sbs, size_t n);

/* Consume pending events; true if any arrived. */
bool watch_drain(struct watch *w);

#endif
