#include "net/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "backend/util.h"

#define NETNS_DIR "/run/netns"

static int ns_path(const char *name, char *buf, size_t len)
{
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		err_set("invalid network namespace name '%s'", name ? name : "");
		return -1;
	}
	if ((size_t)snprintf(buf, len, NETNS_DIR "/%s", name) >= len) {
		err_set("network namespace name too long: %s", name);
		return -1;
	}
	return 0;
}

static const char *perm_hint(int e)
{
	return e == EPERM || e == EACCES ? " (network namespaces need root; run with sudo)" : "";
}

/*
 * Make /run/netns a shared mount point, as iproute2 does, so the bind mounts
 * below it propagate into mount namespaces created later (QEMU helpers,
 * `ip netns exec`) and unmounting one here removes it there too. The first
 * time it is not a mount point at all: bind it onto itself, then retry.
 */
static int make_shared_dir(void)
{
	if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST) {
		err_set("cannot create " NETNS_DIR ": %s%s", strerror(errno), perm_hint(errno));
		return -1;
	}
	for (int tries = 0; ; tries++) {
		if (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
			return 0;
		if (errno != EINVAL || tries > 0) {
			err_set("cannot make " NETNS_DIR " a shared mount: %s%s", strerror(errno),
				perm_hint(errno));
			return -1;
		}
		if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0) {
			err_set("cannot bind-mount " NETNS_DIR " onto itself: %s%s",
				strerror(errno), perm_hint(errno));
			return -1;
		}
	}
}

struct create_job {
	const char *path;
	char err[512];
};

/* Runs in its own thread: unshare() moves only this thread into the new
 * namespace, so the caller's threads never leave the host's namespace. */
static void *create_thread(void *arg)
{
	struct create_job *job = arg;
	char src[64];

	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(job->err, sizeof job->err, "cannot create a network namespace: %s%s",
			 strerror(errno), perm_hint(errno));
		return NULL;
	}
	snprintf(src, sizeof src, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
	if (mount(src, job->path, "none", MS_BIND, NULL) < 0)
		snprintf(job->err, sizeof job->err, "cannot bind-mount %s onto %s: %s", src,
			 job->path, strerror(errno));
	return NULL;
}

int netns_create(const char *name)
{
	char path[PATH_MAX];
	struct create_job job = { .path = path };
	pthread_t th;
	int fd, rc;

	if (ns_path(name, path, sizeof path) < 0 || make_shared_dir() < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EEXIST)
			err_set("network namespace %s already exists (remove it with `ip netns del %s`"
				" if nothing uses it)", name, name);
		else
			err_set("cannot create %s: %s%s", path, strerror(errno), perm_hint(errno));
		return -1;
	}
	close(fd);
	rc = pthread_create(&th, NULL, create_thread, &job);
	if (rc) {
		snprintf(job.err, sizeof job.err, "cannot start a thread: %s", strerror(rc));
	} else {
		pthread_join(th, NULL);
	}
	if (job.err[0]) {
		err_set("netns %s: %s", name, job.err);
		unlink(path);
		return -1;
	}
	return 0;
}

int netns_remove(const char *name)
{
	char path[PATH_MAX];

	if (ns_path(name, path, sizeof path) < 0)
		return -1;
	/* Lazy detach: a process still inside keeps the namespace alive, the
	 * name goes away now. EINVAL means it was not mounted (half-made). */
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
		err_set("cannot unmount %s: %s%s", path, strerror(errno), perm_hint(errno));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		err_set("cannot remove %s: %s%s", path, strerror(errno), perm_hint(errno));
		return -1;
	}
	return 0;
}

int netns_exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (ns_path(name, path, sizeof path) < 0)
		return 0;
	return stat(path, &st) == 0;
}

int netns_enter(const char *name, int *saved_fd)
{
	char path[PATH_MAX];
	int self, fd;

	if (ns_path(name, path, sizeof path) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			err_set("network namespace %s does not exist (is the sandbox running?)", name);
		else
			err_set("cannot open %s: %s%s", path, strerror(errno), perm_hint(errno));
		return -1;
	}
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		err_set("cannot open /proc/thread-self/ns/net: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		err_set("cannot enter network namespace %s: %s%s", name, strerror(errno),
			perm_hint(errno));
		close(fd);
		close(self);
		return -1;
	}
	close(fd);
	*saved_fd = self;
	return 0;
}

int netns_leave(int saved_fd)
{
	int rc = setns(saved_fd, CLONE_NEWNET);

	if (rc < 0)
		err_set("cannot return to the original network namespace: %s", strerror(errno));
	close(saved_fd);
	return rc;
}

int netns_socket(const char *name, int domain, int type)
{
	int saved, fd, e;

	if (netns_enter(name, &saved) < 0)
		return -1;
	fd = socket(domain, type | SOCK_CLOEXEC, 0);
	e = errno;
	/* A thread left in the sandbox's namespace would be a hole: die. */
	if (netns_leave(saved) < 0)
		die("%s", err_msg());
	if (fd < 0) {
		err_set("cannot create a socket in network namespace %s: %s", name, strerror(e));
		return -1;
	}
	return fd;
}

int netns_connect_tcp(const char *name, const char *ip, int port, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd, soerr = 0, flags;
	socklen_t sl = sizeof soerr;
	int64_t deadline = util_now_ms() + timeout_ms;

	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		err_set("not an IPv4 address: '%s'", ip);
		return -1;
	}
	fd = netns_socket(name, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno != EINPROGRESS) {
			soerr = errno;
			goto fail;
		}
		for (;;) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int64_t left = deadline - util_now_ms();
			int n;

			if (left <= 0) {
				err_set("connecting to %s:%d in namespace %s timed out after %d ms",
					ip, port, name, timeout_ms);
				close(fd);
				return -1;
			}
			n = poll(&p, 1, (int)left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				soerr = errno;
				goto fail;
			}
			if (n > 0)
				break;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr)
			goto fail;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		soerr = errno;
		goto fail;
	}
	return fd;
fail:
	err_set("cannot connect to %s:%d in network namespace %s: %s", ip, port, name,
		strerror(soerr));
	close(fd);
	return -1;
}
