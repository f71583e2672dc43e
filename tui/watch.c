#include "tui/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"

#define DIR_EVENTS (IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | \
		    IN_DELETE_SELF | IN_ONLYDIR)

int watch_init(struct watch *w)
{
	w->vms_wd = w->home_wd = -1;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		err_set("inotify is unavailable (%s): the list updates once a second",
			strerror(errno));
		return -1;
	}
	w->home_wd = inotify_add_watch(w->fd, paths_home(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
	return 0;
}

void watch_free(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void watch_sync(struct watch *w, const struct sandbox *sbs, size_t n)
{
	char *vms;

	if (w->fd < 0)
		return;
	vms = paths_vms_dir();
	/* Adding a watch that exists returns the same descriptor: cheap. */
	w->vms_wd = inotify_add_watch(w->fd, vms, DIR_EVENTS);
	free(vms);
	for (size_t i = 0; i < n; i++) {
		char *dir = paths_vm_dir(sbs[i].id);

		inotify_add_watch(w->fd, dir, DIR_EVENTS);
		free(dir);
	}
}

bool watch_drain(struct watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	if (w->fd < 0)
		return false;
	while (read(w->fd, buf, sizeof buf) > 0)
		any = true;
	return any;
}
