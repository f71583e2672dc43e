#include "fs/sftp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2_sftp.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"
#include "fs/sftp_wire.h"

/* Bytes read from a file on the host per call (and written per call to one). */
#define LOCAL_CHUNK (256 * 1024)
/* A sandbox that sends nothing for this long while we wait is given up on. */
#define IDLE_TIMEOUT_MS 60000
/* A write that fails with this little room left means the disk is full. */
#define FULL_BELOW (1024 * 1024)
#define TMP_TAG ".smolvm-"
/* Keep temporary names within NAME_MAX. */
#define TMP_NAME_KEEP 200
#define REMOTE_NAME_MAX 4096

struct attrs {
	uint32_t mode;		/* type (S_IFMT) and permission bits */
	uint64_t size;
	uint64_t atime, mtime;
};

struct node {
	char *name;		/* its name at the destination */
	char *src;		/* its path on the source side */
	char *rel;		/* the path shown in progress, from the top of the copy */
	struct attrs a;
	char *link;		/* a symbolic link's target */
	struct node **kids;
	size_t nkids;
};

struct sftp_tree {
	struct node **roots;
	size_t n;
	uint64_t bytes;
	int files;
	int skipped;
};

struct sftp {
	struct ssh_conn *c;
	LIBSSH2_SESSION *sess;
	LIBSSH2_SFTP *sftp;
	char *name;
	unsigned long fx;	/* SFTP status of the last failed request, 0 if none */
	struct sftp_wire *wire;	/* file reads and writes on the same channel */
	unsigned gen;		/* counts new SFTP channels (see remote_renew) */
	struct retired {
		LIBSSH2_SFTP *sftp;
		struct sftp_wire *wire;
	} *retired;		/* channels given up, to shut at the end */
	size_t nretired;
};

/* ---- the two sides: this host, and the sandbox over SFTP ---------------- */

struct side;

struct file {
	struct side *sd;
	int fd;				/* a file on the host */
	struct sftp_wire_file *wf;	/* a file in the sandbox */
	unsigned gen;			/* the SFTP channel wf belongs to */
	char *path;
	char *shown;		/* its final path, for messages */
	char *dir_shown;	/* and the directory it goes into */
};

struct entry {
	char *name;
	struct attrs a;
};

struct side_ops {
	/* 0 and *a filled, 1 if there is nothing at path, -1 on error */
	int (*stat)(struct side *sd, const char *path, bool follow, struct attrs *a);
	/* entries other than "." and "..", with lstat attributes */
	int (*list)(struct side *sd, const char *dir, struct entry **out, size_t *n);
	char *(*readlink)(struct side *sd, const char *path);
	/* size: as scanned, what to expect */
	struct file *(*open_read)(struct side *sd, const char *path, uint64_t size);
	/* a new file (never an existing one), mode 0600 */
	struct file *(*create)(struct side *sd, const char *path, const char *shown,
			       const char *dir_shown);
	/* 0 at the end; n is at least the side's chunk */
	ssize_t (*read)(struct file *f, char *buf, size_t n);
	/* all n bytes */
	int (*write)(struct file *f, const char *buf, size_t n);
	/* close; a file written gets a's permissions and times (a may be NULL) */
	int (*close)(struct file *f, const struct attrs *a);
	/* close a file whose copy stopped half-way, keeping the error message */
	void (*abandon)(struct file *f);
	/* shown: the name to give in messages (path may be a temporary one) */
	int (*mkdir)(struct side *sd, const char *path, const char *shown);
	int (*symlink)(struct side *sd, const char *target, const char *path, const char *shown);
	/* a folder's permissions and times */
	int (*setattr)(struct side *sd, const char *path, const struct attrs *a);
	/* replaces anything but a directory at to */
	int (*rename)(struct side *sd, const char *from, const char *to);
	int (*unlink)(struct side *sd, const char *path);
	int (*rmdir)(struct side *sd, const char *path);
};

struct side {
	const struct side_ops *ops;
	struct sftp *s;		/* NULL on the host */
	const char *where;	/* "on the host", "in sandbox NAME" */
	mode_t keep_bits;	/* permission bits kept when writing here */
	size_t chunk;		/* bytes per request (the copy reads this much at a time) */
};

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir);

	if (!n)
		return xstrdup(name);
	return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

/* The folder part of path, without trailing slashes ("." if none). */
static char *dir_name(const char *path)
{
	size_t end = strlen(path);

	while (end > 1 && path[end - 1] == '/')
		end--;
	while (end > 0 && path[end - 1] != '/')
		end--;
	while (end > 1 && path[end - 1] == '/')
		end--;
	return end ? xasprintf("%.*s", (int)end, path) : xstrdup(".");
}

static void attrs_from_stat(struct attrs *a, const struct stat *st)
{
	*a = (struct attrs){ .mode = st->st_mode, .size = (uint64_t)st->st_size,
			     .atime = (uint64_t)st->st_atim.tv_sec,
			     .mtime = (uint64_t)st->st_mtim.tv_sec };
}

static int local_fail(const char *what, const char *path)
{
	err_set("cannot %s %s on the host: %s", what, path, strerror(errno));
	return -1;
}

static int local_stat(struct side *sd, const char *path, bool follow, struct attrs *a)
{
	struct stat st;

	(void)sd;
	if ((follow ? stat(path, &st) : lstat(path, &st)) == 0) {
		attrs_from_stat(a, &st);
		return 0;
	}
	if (errno == ENOENT || errno == ENOTDIR)
		return 1;
	return local_fail("look at", path);
}

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct entry *)x)->name, ((const struct entry *)y)->name);
}

static void entries_free(struct entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static int local_list(struct side *sd, const char *dir, struct entry **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	(void)sd;
	*out = NULL;
	*n = 0;
	if (!d)
		return local_fail("read the folder", dir);
	while ((errno = 0, de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			char *p = join(dir, de->d_name);

			local_fail("look at", p);
			free(p);
			goto fail;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		(*out)[*n].name = xstrdup(de->d_name);
		attrs_from_stat(&(*out)[(*n)++].a, &st);
	}
	if (errno) {
		local_fail("read the folder", dir);
		goto fail;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	entries_free(*out, *n);
	*out = NULL;
	*n = 0;
	return -1;
}

static char *local_readlink(struct side *sd, const char *path)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof buf - 1);

	(void)sd;
	if (n < 0) {
		local_fail("read the link", path);
		return NULL;
	}
	buf[n] = '\0';
	return xstrdup(buf);
}

static struct file *local_file(struct side *sd, int fd, const char *path, const char *shown,
			       const char *dir_shown)
{
	struct file *f = xcalloc(1, sizeof *f);

	f->sd = sd;
	f->fd = fd;
	f->path = xstrdup(path);
	f->shown = xstrdup(shown);
	f->dir_shown = xstrdup(dir_shown ? dir_shown : "");
	return f;
}

static struct file *local_open_read(struct side *sd, const char *path, uint64_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	(void)size;
	if (fd < 0) {
		local_fail("open", path);
		return NULL;
	}
	return local_file(sd, fd, path, path, NULL);
}

static struct file *local_create(struct side *sd, const char *path, const char *shown,
				 const char *dir_shown)
{
	/* O_EXCL: never through a link or into a file that is there already. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		err_set("cannot create %s on the host: %s", shown, strerror(errno));
		return NULL;
	}
	return local_file(sd, fd, path, shown, dir_shown);
}

static ssize_t local_read(struct file *f, char *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(f->fd, buf, n);

		if (r >= 0)
			return r;
		if (errno != EINTR)
			return local_fail("read", f->shown);
	}
}

static int local_write(struct file *f, const char *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = write(f->fd, buf + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return local_fail("write", f->shown);
		done += (size_t)w;
	}
	return 0;
}

static void file_free(struct file *f)
{
	free(f->path);
	free(f->shown);
	free(f->dir_shown);
	free(f);
}

/* Permissions and times of an open file or folder: on the descriptor, so
 * that a name swapped meanwhile (in a shared folder) cannot redirect them. */
static int local_fset(int fd, const char *shown, mode_t keep, const struct attrs *a)
{
	struct timespec ts[2] = { { .tv_sec = (time_t)a->atime }, { .tv_sec = (time_t)a->mtime } };

	if (fchmod(fd, a->mode & keep) < 0)
		return local_fail("set the permissions of", shown);
	if (futimens(fd, ts) < 0)
		return local_fail("set the times of", shown);
	return 0;
}

static int local_close(struct file *f, const struct attrs *a)
{
	int rc = a ? local_fset(f->fd, f->shown, f->sd->keep_bits, a) : 0;

	if (close(f->fd) < 0 && rc == 0)
		rc = local_fail("write", f->shown);
	file_free(f);
	return rc;
}

static void local_abandon(struct file *f)
{
	close(f->fd);
	file_free(f);
}

static int local_mkdir(struct side *sd, const char *path, const char *shown)
{
	(void)sd;
	return mkdir(path, 0700) < 0 ? local_fail("create the folder", shown) : 0;
}

static int local_symlink(struct side *sd, const char *target, const char *path,
			 const char *shown)
{
	(void)sd;
	return symlink(target, path) < 0 ? local_fail("create the link", shown) : 0;
}

static int local_setattr(struct side *sd, const char *path, const struct attrs *a)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), rc;

	if (fd < 0)
		return local_fail("open the folder", path);
	rc = local_fset(fd, path, sd->keep_bits, a);
	close(fd);
	return rc;
}

static int local_rename(struct side *sd, const char *from, const char *to)
{
	(void)sd;
	return rename(from, to) < 0 ? local_fail("move a finished copy to", to) : 0;
}

static int local_unlink(struct side *sd, const char *path)
{
	(void)sd;
	return unlink(path) < 0 ? local_fail("remove", path) : 0;
}

static int local_rmdir(struct side *sd, const char *path)
{
	(void)sd;
	return rmdir(path) < 0 ? local_fail("remove the folder", path) : 0;
}

static const struct side_ops local_ops = {
	.stat = local_stat, .list = local_list, .readlink = local_readlink,
	.open_read = local_open_read, .create = local_create, .read = local_read,
	.write = local_write, .close = local_close, .abandon = local_abandon,
	.mkdir = local_mkdir,
	.symlink = local_symlink, .setattr = local_setattr, .rename = local_rename,
	.unlink = local_unlink, .rmdir = local_rmdir,
};

/* ---- the sandbox's side ------------------------------------------------ */

/* Wait for the socket after libssh2 said EAGAIN: 0 when it is ready; with
 * timeout_ms >= 0, 1 when that passed first. */
static int remote_wait_for(struct sftp *s, int timeout_ms)
{
	int64_t deadline = util_now_ms() + (timeout_ms >= 0 ? timeout_ms : IDLE_TIMEOUT_MS);
	struct pollfd p = { .fd = ssh_fd(s->c), .events = ssh_poll_events(s->c) };

	/* A server that went away (its process killed) closes the channel: no
	 * answer will come, so waiting the idle timeout out would be for nothing. */
	if (s->sftp && libssh2_channel_eof(libssh2_sftp_get_channel(s->sftp))) {
		err_set("the SFTP server of sandbox %s has ended", s->name);
		return -1;
	}
	for (;;) {
		int64_t left = deadline - util_now_ms();
		int rc;

		if (left <= 0 && timeout_ms >= 0)
			return 1;
		if (left <= 0) {
			err_set("sandbox %s stopped answering (nothing for %d s)", s->name,
				IDLE_TIMEOUT_MS / 1000);
			return -1;
		}
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR) {
			err_set("waiting for sandbox %s: %s", s->name, strerror(errno));
			return -1;
		}
	}
}

static int remote_wait(struct sftp *s)
{
	return remote_wait_for(s, -1);
}

static int wire_wait(void *arg, int timeout_ms)
{
	return remote_wait_for(arg, timeout_ms);
}

/* Repeat a libssh2 call until it is not EAGAIN; rc stays EAGAIN (with
 * err_set) when the wait failed. */
#define AGAIN(s, rc, call) \
	do { (rc) = (call); } while ((rc) == LIBSSH2_ERROR_EAGAIN && remote_wait(s) == 0)
#define AGAIN_PTR(s, p, call) \
	do { (p) = (call); } while (!(p) && \
		libssh2_session_last_errno((s)->sess) == LIBSSH2_ERROR_EAGAIN && remote_wait(s) == 0)

/* err_set() for a failed call with result rc; returns -1. */
static int remote_fail(struct sftp *s, int rc, const char *what, const char *path)
{
	char *why;

	s->fx = 0;
	if (rc == LIBSSH2_ERROR_EAGAIN) {
		why = xstrdup(err_msg());
	} else if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL) {
		s->fx = libssh2_sftp_last_error(s->sftp);
		why = xstrdup(sftp_wire_status_text(s->fx));
	} else {
		why = xasprintf("SSH error: %s", ssh_last_error(s->c));
	}
	err_set("cannot %s %s in sandbox %s: %s", what, path, s->name, why);
	free(why);
	return -1;
}

static int remote_fail_last(struct sftp *s, const char *what, const char *path)
{
	return remote_fail(s, libssh2_session_last_errno(s->sess), what, path);
}

static void attrs_from_sftp(struct attrs *a, const LIBSSH2_SFTP_ATTRIBUTES *at)
{
	*a = (struct attrs){
		.mode = at->flags & LIBSSH2_SFTP_ATTR_PERMISSIONS ? (uint32_t)at->permissions : 0,
		.size = at->flags & LIBSSH2_SFTP_ATTR_SIZE ? at->filesize : 0,
		.atime = at->flags & LIBSSH2_SFTP_ATTR_ACMODTIME ? at->atime : 0,
		.mtime = at->flags & LIBSSH2_SFTP_ATTR_ACMODTIME ? at->mtime : 0,
	};
}

static int remote_stat(struct side *sd, const char *path, bool follow, struct attrs *a)
{
	struct sftp *s = sd->s;
	LIBSSH2_SFTP_ATTRIBUTES at;
	int rc;

	AGAIN(s, rc, libssh2_sftp_stat_ex(s->sftp, path, (unsigned)strlen(path),
					  follow ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT, &at));
	if (rc == 0) {
		attrs_from_sftp(a, &at);
		return 0;
	}
	remote_fail(s, rc, "look at", path);
	return s->fx == LIBSSH2_FX_NO_SUCH_FILE ? 1 : -1;
}

static int remote_close_handle(struct sftp *s, LIBSSH2_SFTP_HANDLE *h)
{
	int rc;

	AGAIN(s, rc, libssh2_sftp_close_handle(h));
	return rc;
}

/* A name from the sandbox becomes a path on the host: it must be one plain
 * component, never "..", "." or something with a slash in it. */
static bool plain_name(const char *name, size_t len)
{
	return len && memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL &&
	       strcmp(name, ".") && strcmp(name, "..");
}

static int remote_list(struct side *sd, const char *dir, struct entry **out, size_t *n)
{
	struct sftp *s = sd->s;
	LIBSSH2_SFTP_HANDLE *h;
	char name[REMOTE_NAME_MAX + 1];
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	AGAIN_PTR(s, h, libssh2_sftp_open_ex(s->sftp, dir, (unsigned)strlen(dir), 0, 0,
					     LIBSSH2_SFTP_OPENDIR));
	if (!h)
		return remote_fail_last(s, "read the folder", dir);
	for (;;) {
		LIBSSH2_SFTP_ATTRIBUTES at;

		AGAIN(s, rc, libssh2_sftp_readdir_ex(h, name, sizeof name - 1, NULL, 0, &at));
		if (rc == 0)
			break;
		if (rc < 0) {
			remote_fail(s, rc, "read the folder", dir);
			goto fail;
		}
		name[rc] = '\0';
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (!plain_name(name, (size_t)rc)) {
			err_set("sandbox %s listed a bad file name in %s; not copying it", s->name,
				dir);
			goto fail;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		(*out)[*n].name = xstrdup(name);
		attrs_from_sftp(&(*out)[(*n)++].a, &at);
	}
	remote_close_handle(s, h);
	return 0;
fail:
	remote_close_handle(s, h);
	entries_free(*out, *n);
	*out = NULL;
	*n = 0;
	return -1;
}

static char *remote_readlink(struct side *sd, const char *path)
{
	struct sftp *s = sd->s;
	char buf[REMOTE_NAME_MAX + 1];
	int rc;

	AGAIN(s, rc, libssh2_sftp_symlink_ex(s->sftp, path, (unsigned)strlen(path), buf,
					     sizeof buf - 1, LIBSSH2_SFTP_READLINK));
	if (rc < 0) {
		remote_fail(s, rc, "read the link", path);
		return NULL;
	}
	buf[rc] = '\0';
	return xstrdup(buf);
}

static struct file *remote_file(struct side *sd, struct sftp_wire_file *wf, const char *path,
				const char *shown, const char *dir_shown)
{
	struct file *f = xcalloc(1, sizeof *f);

	f->sd = sd;
	f->fd = -1;
	f->wf = wf;
	f->gen = sd->s->gen;
	f->path = xstrdup(path);
	f->shown = xstrdup(shown);
	f->dir_shown = xstrdup(dir_shown ? dir_shown : "");
	return f;
}

/*
 * A channel that failed (a broken packet, a timeout half-way through a
 * request) is retired and a new one started; files of the old one are
 * only forgotten (gen tells them apart). The old channel is shut only in
 * sftp_close(): freed earlier, its last messages could arrive while the
 * next one is being set up, and libssh2 then stalls setting it up. The
 * error message is kept.
 */
static void remote_renew(struct sftp *s)
{
	char *why = xstrdup(err_msg());

	s->gen++;
	s->retired = xrealloc(s->retired, (s->nretired + 1) * sizeof *s->retired);
	s->retired[s->nretired++] = (struct retired){ s->sftp, s->wire };
	s->wire = NULL;
	AGAIN_PTR(s, s->sftp, libssh2_sftp_init(s->sess));
	if (s->sftp) {
		s->wire = sftp_wire_new(libssh2_sftp_get_channel(s->sftp), wire_wait, s);
		if (sftp_wire_start(s->wire) < 0) {
			sftp_wire_free(s->wire);
			s->wire = NULL;
		}
	}
	err_set("%s", why);
	free(why);
}

/* A failed sftp_wire call: the server refused, or the channel broke (it is
 * then replaced). */
static int wire_fail(struct sftp *s, const char *what, const char *path)
{
	char *why;

	s->fx = sftp_wire_status(s->wire);
	why = xstrdup(s->fx ? sftp_wire_status_text(s->fx) : err_msg());
	err_set("cannot %s %s in sandbox %s: %s", what, path, s->name, why);
	free(why);
	if (!s->fx)
		remote_renew(s);
	return -1;
}

/* After a failed remote_renew() no channel is left to use. */
static bool remote_usable(struct sftp *s, const char *path)
{
	if (s->wire)
		return true;
	err_set("cannot reach the SFTP server of sandbox %s any more (for %s)", s->name, path);
	return false;
}

static struct file *remote_open_read(struct side *sd, const char *path, uint64_t size)
{
	struct sftp *s = sd->s;
	struct sftp_wire_file *wf;

	if (!remote_usable(s, path))
		return NULL;
	if (sftp_wire_open(s->wire, path, size, &wf) < 0) {
		wire_fail(s, "open", path);
		return NULL;
	}
	return remote_file(sd, wf, path, path, NULL);
}

static struct file *remote_create(struct side *sd, const char *path, const char *shown,
				  const char *dir_shown)
{
	struct sftp *s = sd->s;
	struct sftp_wire_file *wf;

	if (!remote_usable(s, shown))
		return NULL;
	if (sftp_wire_create(s->wire, path, 0600, &wf) < 0) {
		wire_fail(s, "create", shown);
		return NULL;
	}
	return remote_file(sd, wf, path, shown, dir_shown);
}

static ssize_t remote_read(struct file *f, char *buf, size_t n)
{
	ssize_t rc = sftp_wire_read(f->wf, buf, n);

	return rc < 0 ? wire_fail(f->sd->s, "read", f->shown) : rc;
}

/*
 * OpenSSH's SFTP server (version 3) reports a full disk as a plain
 * FAILURE; ask the file system how much room is left to tell the two
 * apart.
 */
static void remote_check_space(struct sftp *s, struct file *f, unsigned long fx)
{
	LIBSSH2_SFTP_STATVFS st;
	char *dir;
	int rc;

	if (fx != LIBSSH2_FX_FAILURE && fx != LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM &&
	    fx != LIBSSH2_FX_QUOTA_EXCEEDED)
		return;
	dir = dir_name(f->path);
	AGAIN(s, rc, libssh2_sftp_statvfs(s->sftp, dir, strlen(dir), &st));
	free(dir);
	if (rc == 0 && st.f_bavail * st.f_frsize < FULL_BELOW)
		err_set("no space left in the sandbox at %s (while writing %s)", f->dir_shown,
			f->shown);
}

/* Close f's file in the sandbox (setting a, if not NULL), or forget it if
 * its channel is gone. */
static int remote_finish(struct file *f, const struct sftp_wire_attrs *a)
{
	struct sftp *s = f->sd->s;
	int rc;

	if (!f->wf)
		return 0;
	if (f->gen != s->gen) {
		sftp_wire_drop(f->wf);
		f->wf = NULL;
		return -1;
	}
	rc = sftp_wire_close(f->wf, a);
	f->wf = NULL;
	return rc;
}

static int remote_write(struct file *f, const char *buf, size_t n)
{
	struct sftp *s = f->sd->s;
	size_t chunk = sftp_wire_chunk(s->wire);
	unsigned long fx;
	char *why;

	for (size_t off = 0; off < n; off += chunk)
		if (sftp_wire_write(f->wf, buf + off, n - off < chunk ? n - off : chunk) < 0)
			goto fail;
	return 0;
fail:
	wire_fail(s, "write", f->shown);
	fx = s->fx;
	if (!fx)
		return -1;
	/* Refused: finish the file (answers to it are still to come) before
	 * anything else is asked on the channel. */
	why = xstrdup(err_msg());
	if (remote_finish(f, NULL) < 0 && !sftp_wire_status(s->wire))
		remote_renew(s);
	err_set("%s", why);
	free(why);
	remote_check_space(s, f, fx);
	return -1;
}

static int remote_close(struct file *f, const struct attrs *a)
{
	struct sftp *s = f->sd->s;
	struct sftp_wire_attrs wa;
	bool stale = f->wf && f->gen != s->gen;
	int rc;

	if (a)
		wa = (struct sftp_wire_attrs){ .mode = a->mode & f->sd->keep_bits,
					       .atime = (uint32_t)a->atime,
					       .mtime = (uint32_t)a->mtime };
	rc = remote_finish(f, a ? &wa : NULL);
	if (rc < 0 && !stale) {
		wire_fail(s, "finish", f->shown);
		remote_check_space(s, f, s->fx);
	}
	file_free(f);
	return rc;
}

/* Our requests are always whole, so even a copy stopped half-way closes
 * its file normally. */
static void remote_abandon(struct file *f)
{
	struct sftp *s = f->sd->s;
	char *why = xstrdup(err_msg());

	if (remote_finish(f, NULL) < 0 && f->gen == s->gen && !sftp_wire_status(s->wire))
		remote_renew(s);
	err_set("%s", why);
	free(why);
	file_free(f);
}

static int remote_mkdir(struct side *sd, const char *path, const char *shown)
{
	struct sftp *s = sd->s;
	int rc;

	AGAIN(s, rc, libssh2_sftp_mkdir_ex(s->sftp, path, (unsigned)strlen(path), 0700));
	return rc ? remote_fail(s, rc, "create the folder", shown) : 0;
}

static int remote_symlink(struct side *sd, const char *target, const char *path,
			  const char *shown)
{
	struct sftp *s = sd->s;
	char *made;
	int rc;

	/* OpenSSH's server takes the two paths the other way round from the
	 * SFTP draft (target first), and libssh2 sends them as given. */
	AGAIN(s, rc, libssh2_sftp_symlink_ex(s->sftp, target, (unsigned)strlen(target),
					     (char *)path, (unsigned)strlen(path),
					     LIBSSH2_SFTP_SYMLINK));
	if (rc != LIBSSH2_ERROR_SFTP_PROTOCOL)
		return rc ? remote_fail(s, rc, "create the link", shown) : 0;
	/*
	 * libssh2 1.10 (as Debian 12 ships it) misreads the status of a
	 * SYMLINK reply and reports a made link as failed, with a garbage
	 * status. Whether it failed is what the link says.
	 */
	made = remote_readlink(sd, path);
	rc = made && !strcmp(made, target) ? 0 : -1;
	free(made);
	if (rc < 0)
		err_set("cannot create the link %s in sandbox %s", shown, s->name);
	return rc;
}

static int remote_setattr(struct side *sd, const char *path, const struct attrs *a)
{
	struct sftp *s = sd->s;
	LIBSSH2_SFTP_ATTRIBUTES at = {
		.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS | LIBSSH2_SFTP_ATTR_ACMODTIME,
		.permissions = a->mode & sd->keep_bits,
		.atime = a->atime, .mtime = a->mtime,
	};
	int rc;

	AGAIN(s, rc, libssh2_sftp_stat_ex(s->sftp, path, (unsigned)strlen(path),
					  LIBSSH2_SFTP_SETSTAT, &at));
	return rc ? remote_fail(s, rc, "set the permissions of", path) : 0;
}

static int remote_unlink(struct side *sd, const char *path)
{
	struct sftp *s = sd->s;
	int rc;

	AGAIN(s, rc, libssh2_sftp_unlink_ex(s->sftp, path, (unsigned)strlen(path)));
	return rc ? remote_fail(s, rc, "remove", path) : 0;
}

static int remote_rename(struct side *sd, const char *from, const char *to)
{
	struct sftp *s = sd->s;
	struct attrs a;
	int rc;

	if (!remote_usable(s, to))
		return -1;
	/* The plain SFTP rename (version 3) never replaces, so OpenSSH's
	 * extension does it first: the old file is replaced in one step. */
	if (sftp_wire_rename(s->wire, from, to) == 0)
		return 0;
	if (sftp_wire_status(s->wire) != LIBSSH2_FX_OP_UNSUPPORTED)
		return wire_fail(s, "move a finished copy to", to);
	AGAIN(s, rc, libssh2_sftp_rename_ex(s->sftp, from, (unsigned)strlen(from), to,
					    (unsigned)strlen(to), LIBSSH2_SFTP_RENAME_OVERWRITE));
	if (rc == 0)
		return 0;
	remote_fail(s, rc, "move a finished copy to", to);
	/* Without the extension: remove the old file and try once more. The
	 * new one is complete by now, so the name is missing for a moment
	 * but never shows a partial file. */
	if (rc != LIBSSH2_ERROR_SFTP_PROTOCOL || remote_stat(sd, to, false, &a) != 0 ||
	    S_ISDIR(a.mode) || remote_unlink(sd, to) < 0)
		return -1;
	AGAIN(s, rc, libssh2_sftp_rename_ex(s->sftp, from, (unsigned)strlen(from), to,
					    (unsigned)strlen(to), LIBSSH2_SFTP_RENAME_OVERWRITE));
	return rc ? remote_fail(s, rc, "move a finished copy to", to) : 0;
}

static int remote_rmdir(struct side *sd, const char *path)
{
	struct sftp *s = sd->s;
	int rc;

	AGAIN(s, rc, libssh2_sftp_rmdir_ex(s->sftp, path, (unsigned)strlen(path)));
	return rc ? remote_fail(s, rc, "remove the folder", path) : 0;
}

static const struct side_ops remote_ops = {
	.stat = remote_stat, .list = remote_list, .readlink = remote_readlink,
	.open_read = remote_open_read, .create = remote_create, .read = remote_read,
	.write = remote_write, .close = remote_close, .abandon = remote_abandon,
	.mkdir = remote_mkdir,
	.symlink = remote_symlink, .setattr = remote_setattr, .rename = remote_rename,
	.unlink = remote_unlink, .rmdir = remote_rmdir,
};

/* ---- scanning a source tree -------------------------------------------- */

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->src);
	free(n->rel);
	free(n->link);
	free(n);
}

/* Fill n (name, src, rel, a set) from the source side: a link's target, a
 * folder's contents; special files are counted in t and left out. */
static int scan_node(struct side *sd, struct node *n, struct sftp_tree *t)
{
	struct entry *e;
	size_t ne;

	if (S_ISLNK(n->a.mode)) {
		n->link = sd->ops->readlink(sd, n->src);
		return n->link ? 0 : -1;
	}
	if (S_ISREG(n->a.mode)) {
		t->bytes += n->a.size;
		t->files++;
		return 0;
	}
	if (!S_ISDIR(n->a.mode))
		return 0;
	if (sd->ops->list(sd, n->src, &e, &ne) < 0)
		return -1;
	qsort(e, ne, sizeof *e, entry_cmp);
	n->kids = xcalloc(ne ? ne : 1, sizeof *n->kids);
	for (size_t i = 0; i < ne; i++) {
		uint32_t type = e[i].a.mode & S_IFMT;
		struct node *k;

		if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK) {
			t->skipped++;
			continue;
		}
		k = xcalloc(1, sizeof *k);
		k->name = xstrdup(e[i].name);
		k->src = join(n->src, e[i].name);
		k->rel = join(n->rel, e[i].name);
		k->a = e[i].a;
		n->kids[n->nkids++] = k;
		if (scan_node(sd, k, t) < 0) {
			entries_free(e, ne);
			return -1;
		}
	}
	entries_free(e, ne);
	return 0;
}

/* The last component of path, without trailing slashes ("" for "/"). */
static char *base_name(const char *path)
{
	size_t end = strlen(path), start;

	while (end > 1 && path[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (end == 1 && path[0] == '/')
		return xstrdup("");
	return xasprintf("%.*s", (int)(end - start), path + start);
}

static bool dot_name(const char *name)
{
	return !*name || !strcmp(name, ".") || !strcmp(name, "..");
}

/* A top of a copy: path on side sd, followed if it is a link. */
static struct node *scan_root(struct side *sd, const char *path, const char *name,
			      struct sftp_tree *t)
{
	struct node *n = xcalloc(1, sizeof *n);
	int rc = sd->ops->stat(sd, path, true, &n->a);

	if (rc != 0) {
		if (rc > 0)
			err_set("no such file or directory %s: %s", sd->where, path);
		free(n);
		return NULL;
	}
	if (!S_ISREG(n->a.mode) && !S_ISDIR(n->a.mode)) {
		err_set("%s %s is not a file or folder; not copying it", path, sd->where);
		free(n);
		return NULL;
	}
	n->name = xstrdup(name);
	n->src = xstrdup(path);
	n->rel = xstrdup(name);
	if (scan_node(sd, n, t) < 0) {
		node_free(n);
		return NULL;
	}
	return n;
}

static struct side host_side = { .ops = &local_ops, .where = "on the host", .keep_bits = 07777,
				 .chunk = LOCAL_CHUNK };

struct sftp_tree *sftp_scan_local(char *const *paths, int n)
{
	struct sftp_tree *t = xcalloc(1, sizeof *t);

	t->roots = xcalloc((size_t)(n > 0 ? n : 1), sizeof *t->roots);
	for (int i = 0; i < n; i++) {
		char *name = base_name(paths[i]);

		if (dot_name(name)) {
			char *real = realpath(paths[i], NULL);

			free(name);
			name = real ? base_name(real) : xstrdup("");
			free(real);
		}
		if (!*name) {
			err_set("cannot copy %s: name a file or folder below it", paths[i]);
			free(name);
			goto fail;
		}
		for (size_t j = 0; j < t->n; j++) {
			if (!strcmp(t->roots[j]->name, name)) {
				err_set("%s and %s would both be copied as %s; copy them one at a "
					"time", t->roots[j]->src, paths[i], name);
				free(name);
				goto fail;
			}
		}
		t->roots[t->n] = scan_root(&host_side, paths[i], name, t);
		free(name);
		if (!t->roots[t->n])
			goto fail;
		t->n++;
	}
	return t;
fail:
	sftp_tree_free(t);
	return NULL;
}

uint64_t sftp_tree_bytes(const struct sftp_tree *t)
{
	return t->bytes;
}

int sftp_tree_files(const struct sftp_tree *t)
{
	return t->files;
}

void sftp_tree_free(struct sftp_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		node_free(t->roots[i]);
	free(t->roots);
	free(t);
}

/* ---- copying ------------------------------------------------------------ */

struct xfer {
	struct side *src, *dst;
	const char *top;	/* the destination folder given, for messages */
	struct sftp_job *job;
	struct progress_info info;
	char *buf;
	size_t chunk;		/* its size */
};

static int cancelled(struct xfer *x)
{
	if (x->job->cancel && *x->job->cancel) {
		err_set("interrupted");
		return 1;
	}
	return 0;
}

static void report(struct xfer *x)
{
	x->info.done = x->job->bytes;
	if (x->job->progress)
		x->job->progress(x->job->progress_arg, &x->info);
}

/* Remove what a failed copy left (a temporary file or tree), keeping the
 * error message of the failure. */
static void remove_tree(struct side *sd, const char *path)
{
	struct attrs a;
	struct entry *e;
	size_t n;

	if (sd->ops->stat(sd, path, false, &a) != 0)
		return;
	if (!S_ISDIR(a.mode)) {
		sd->ops->unlink(sd, path);
		return;
	}
	if (sd->ops->list(sd, path, &e, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			char *p = join(path, e[i].name);

			remove_tree(sd, p);
			free(p);
		}
		entries_free(e, n);
	}
	sd->ops->rmdir(sd, path);
}

static void undo(struct side *sd, const char *path)
{
	char *why = xstrdup(err_msg());

	remove_tree(sd, path);
	err_set("%s", why);
	free(why);
}

/* A hidden name next to `name` in dir, for a copy in progress. */
static char *temp_path(const char *dir, const char *name)
{
	unsigned char r[4];
	char *base, *path;

	if (getrandom(r, sizeof r, 0) != sizeof r) {
		int64_t t = util_now_ms() ^ getpid();

		memcpy(r, &t, sizeof r);
	}
	base = xasprintf(".%.*s%s%02x%02x%02x%02x", TMP_NAME_KEEP, name, TMP_TAG, r[0], r[1], r[2],
			 r[3]);
	path = join(dir, base);
	free(base);
	return path;
}

static int copy_data(struct xfer *x, struct file *in, struct file *out)
{
	for (;;) {
		ssize_t n;

		if (cancelled(x))
			return -1;
		n = x->src->ops->read(in, x->buf, x->chunk);
		if (n <= 0)
			return (int)n;
		if (x->dst->ops->write(out, x->buf, (size_t)n) < 0)
			return -1;
		x->job->bytes += (uint64_t)n;
		report(x);
	}
}

/* A regular file's contents and attributes, at path (a new name). */
static int copy_file(struct xfer *x, const struct node *n, const char *path, const char *shown)
{
	struct file *in, *out;
	int rc;

	x->info.name = n->rel;
	report(x);
	in = x->src->ops->open_read(x->src, n->src, n->a.size);
	if (!in)
		return -1;
	out = x->dst->ops->create(x->dst, path, shown, x->top);
	if (!out) {
		x->src->ops->close(in, NULL);
		return -1;
	}
	if (copy_data(x, in, out) < 0) {
		x->src->ops->abandon(in);
		x->dst->ops->abandon(out);
		return -1;
	}
	rc = x->src->ops->close(in, NULL);
	if (x->dst->ops->close(out, &n->a) < 0 || rc < 0)
		return -1;
	x->job->files++;
	x->info.files_done++;
	report(x);
	return 0;
}

/* Refuse to put a folder where a file is, or the other way round. */
static int check_replace(struct xfer *x, const struct node *n, const struct attrs *cur,
			 const char *shown)
{
	if (S_ISDIR(n->a.mode) && !S_ISDIR(cur->mode)) {
		err_set("%s %s is not a folder; not replacing it with the folder %s", shown,
			x->dst->where, n->rel);
		return -1;
	}
	if (!S_ISDIR(n->a.mode) && S_ISDIR(cur->mode)) {
		err_set("%s %s is a folder; not replacing it with the file %s", shown,
			x->dst->where, n->rel);
		return -1;
	}
	return 0;
}

static int copy_node(struct xfer *x, const struct node *n, const char *dir, const char *dir_shown,
		     bool fresh);

static int copy_kids(struct xfer *x, const struct node *n, const char *dir, const char *shown,
		     bool fresh)
{
	for (size_t i = 0; i < n->nkids; i++)
		if (copy_node(x, n->kids[i], dir, shown, fresh) < 0)
			return -1;
	return 0;
}

/* Write what n is at `at` (where nothing is yet). */
static int make_node(struct xfer *x, const struct node *n, const char *at, const char *shown)
{
	if (S_ISLNK(n->a.mode)) {
		if (x->dst->ops->symlink(x->dst, n->link, at, shown) < 0)
			return -1;
		x->job->links++;
		return 0;
	}
	if (S_ISREG(n->a.mode))
		return copy_file(x, n, at, shown);
	if (x->dst->ops->mkdir(x->dst, at, shown) < 0 || copy_kids(x, n, at, shown, true) < 0 ||
	    x->dst->ops->setattr(x->dst, at, &n->a) < 0)
		return -1;
	x->job->dirs++;
	return 0;
}

/*
 * Copy n into dir. fresh: dir is a folder this copy made (under a temporary
 * name), so nothing is in it and n goes straight to its name; otherwise n
 * is made under a temporary name and renamed into place.
 */
static int copy_node(struct xfer *x, const struct node *n, const char *dir, const char *dir_shown,
		     bool fresh)
{
	char *path = join(dir, n->name), *shown = join(dir_shown, n->name), *tmp = NULL;
	struct attrs cur;
	int rc = -1, there = 1;

	if (!fresh) {
		there = x->dst->ops->stat(x->dst, path, false, &cur);
		if (there < 0 || (there == 0 && check_replace(x, n, &cur, shown) < 0))
			goto out;
	}
	if (fresh) {
		rc = make_node(x, n, path, shown);
	} else if (there == 0 && S_ISDIR(n->a.mode)) {
		/* An existing folder: merge into it. */
		rc = copy_kids(x, n, path, shown, false) < 0 ||
		     x->dst->ops->setattr(x->dst, path, &n->a) < 0 ? -1 : 0;
	} else {
		tmp = temp_path(dir, n->name);
		rc = make_node(x, n, tmp, shown);
		if (rc == 0 && cancelled(x))
			rc = -1;
		if (rc == 0)
			rc = x->dst->ops->rename(x->dst, tmp, path);
		if (rc < 0)
			undo(x->dst, tmp);
	}
out:
	free(tmp);
	free(shown);
	free(path);
	return rc;
}

static int copy_roots(struct xfer *x, struct node *const *roots, size_t n, const char *dir,
		      const char *dir_shown)
{
	int rc = 0;

	/* Check every top first, so that a conflict stops the copy before
	 * anything is written. */
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *path = join(dir, roots[i]->name), *shown = join(dir_shown, roots[i]->name);
		struct attrs cur;
		int there = x->dst->ops->stat(x->dst, path, false, &cur);

		if (there < 0 || (there == 0 && check_replace(x, roots[i], &cur, shown) < 0))
			rc = -1;
		free(shown);
		free(path);
	}
	x->top = dir_shown;
	/* Read what the destination takes in one request, and never less
	 * than one request of the source. */
	x->chunk = x->dst->chunk;
	if (x->src->s && x->chunk < x->src->chunk)
		x->chunk = x->src->chunk;
	x->buf = xmalloc(x->chunk);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = copy_node(x, roots[i], dir, dir_shown, false);
	free(x->buf);
	x->buf = NULL;
	return rc;
}

/* ---- sessions and the two directions ----------------------------------- */

struct sftp *sftp_open(struct ssh_conn *c, const char *name)
{
	struct sftp *s = xcalloc(1, sizeof *s);

	s->c = c;
	s->sess = ssh_session(c);
	s->name = xstrdup(name);
	ssh_set_blocking(c, false);
	AGAIN_PTR(s, s->sftp, libssh2_sftp_init(s->sess));
	if (!s->sftp) {
		int rc = libssh2_session_last_errno(s->sess);

		char *why = xstrdup(rc == LIBSSH2_ERROR_EAGAIN ? err_msg() : ssh_last_error(c));

		err_set("cannot start SFTP in sandbox %s (is /usr/lib/sftp-server in its image?): "
			"%s", name, why);
		free(why);
		ssh_set_blocking(c, true);
		free(s->name);
		free(s);
		return NULL;
	}
	s->wire = sftp_wire_new(libssh2_sftp_get_channel(s->sftp), wire_wait, s);
	if (sftp_wire_start(s->wire) < 0) {
		err_set("cannot talk SFTP with sandbox %s: %s", name, err_msg());
		sftp_close(s);
		return NULL;
	}
	return s;
}

/* Closing is a courtesy to the server: a sandbox that is gone (its network
 * with it, so nothing ever answers) must not hold the caller for the idle
 * timeout. Given up after CLOSE_MS, libssh2's handle is left to the
 * session. */
#define CLOSE_MS 2000

static void shutdown_bounded(struct sftp *s, LIBSSH2_SFTP *h)
{
	int64_t deadline = util_now_ms() + CLOSE_MS;

	while (libssh2_sftp_shutdown(h) == LIBSSH2_ERROR_EAGAIN) {
		int64_t left = deadline - util_now_ms();

		if (left <= 0 || remote_wait_for(s, (int)left) != 0)
			break;
	}
}

void sftp_close(struct sftp *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nretired; i++) {
		shutdown_bounded(s, s->retired[i].sftp);
		sftp_wire_free(s->retired[i].wire);
	}
	shutdown_bounded(s, s->sftp);
	sftp_wire_free(s->wire);
	ssh_set_blocking(s->c, true);
	free(s->retired);
	free(s->name);
	free(s);
}

static char *remote_realpath(struct sftp *s, const char *path)
{
	char buf[REMOTE_NAME_MAX + 1];
	int rc;

	AGAIN(s, rc, libssh2_sftp_symlink_ex(s->sftp, path, (unsigned)strlen(path), buf,
					     sizeof buf - 1, LIBSSH2_SFTP_REALPATH));
	if (rc < 0) {
		remote_fail(s, rc, "find", path);
		return NULL;
	}
	buf[rc] = '\0';
	return xstrdup(buf);
}

char *sftp_home(struct sftp *s)
{
	return remote_realpath(s, ".");
}

static void job_start(struct xfer *x, const struct sftp_tree *t)
{
	x->job->bytes = 0;
	x->job->files = x->job->dirs = x->job->links = 0;
	x->job->skipped = t->skipped;
	x->info = (struct progress_info){ .name = "", .total = t->bytes,
					  .files_total = t->files };
}

int sftp_upload(struct sftp *s, const struct sftp_tree *t, const char *dest_dir,
		struct sftp_job *job)
{
	struct side remote = { .ops = &remote_ops, .s = s, .keep_bits = 07777,
			       .chunk = sftp_wire_chunk(s->wire) };
	struct xfer x = { .src = &host_side, .dst = &remote, .job = job };
	struct attrs a;
	char *where = xasprintf("in sandbox %s", s->name), *dir;
	int rc = -1;

	remote.where = where;
	dir = xstrdup(dest_dir);
	job_start(&x, t);
	rc = remote_stat(&remote, dir, true, &a);
	if (rc != 0) {
		if (rc > 0)
			err_set("no folder %s in sandbox %s (create it first, or choose another "
				"--dest)", dir, s->name);
		rc = -1;
		goto out;
	}
	if (!S_ISDIR(a.mode)) {
		err_set("%s in sandbox %s is not a folder", dir, s->name);
		rc = -1;
		goto out;
	}
	rc = copy_roots(&x, t->roots, t->n, dir, dir);
out:
	free(dir);
	free(where);
	return rc;
}

/* Where a download goes: *dir (to create entries in) and *name (NULL: the
 * source's own name). */
static int local_dest(const char *local, char **dir, char **name)
{
	struct attrs a;
	char *base = base_name(local);
	int rc = local_stat(NULL, local, true, &a);

	*dir = *name = NULL;
	if (rc < 0)
		goto fail;
	if (rc == 0 && S_ISDIR(a.mode)) {
		*dir = xstrdup(local);
		free(base);
		return 0;
	}
	if (dot_name(base)) {
		err_set("%s on the host is not a folder", local);
		goto fail;
	}
	*dir = dir_name(local);
	rc = local_stat(NULL, *dir, true, &a);
	if (rc != 0 || !S_ISDIR(a.mode)) {
		if (rc >= 0)
			err_set("no folder %s on the host to put %s in", *dir, base);
		goto fail;
	}
	*name = base;
	return 0;
fail:
	free(*dir);
	*dir = NULL;
	free(base);
	return -1;
}

int sftp_check_local_dest(const char *local)
{
	char *dir, *name;

	if (local_dest(local, &dir, &name) < 0)
		return -1;
	free(dir);
	free(name);
	return 0;
}

int sftp_download(struct sftp *s, const char *remote_path, const char *local,
		  struct sftp_job *job)
{
	/* Set-id bits from the sandbox are not wanted on the host. */
	struct side remote = { .ops = &remote_ops, .s = s, .chunk = sftp_wire_chunk(s->wire) };
	struct side host = { .ops = &local_ops, .where = "on the host", .keep_bits = 01777,
			     .chunk = LOCAL_CHUNK };
	struct xfer x = { .src = &remote, .dst = &host, .job = job };
	struct sftp_tree t = { 0 };
	struct node *root = NULL;
	char *where = xasprintf("in sandbox %s", s->name), *dir = NULL, *name = NULL, *src_name;
	int rc = -1;

	remote.where = where;
	if (local_dest(local, &dir, &name) < 0)
		goto out;
	src_name = base_name(remote_path);
	if (dot_name(src_name)) {
		char *real = remote_realpath(s, *remote_path ? remote_path : ".");

		free(src_name);
		if (!real)
			goto out;
		src_name = base_name(real);
		free(real);
	}
	if (!*src_name) {
		err_set("cannot copy %s from sandbox %s: name a file or folder below it",
			remote_path, s->name);
		free(src_name);
		goto out;
	}
	root = scan_root(&remote, *remote_path ? remote_path : ".", name ? name : src_name, &t);
	free(src_name);
	if (!root)
		goto out;
	job_start(&x, &t);
	rc = copy_roots(&x, &root, 1, dir, dir);
out:
	node_free(root);
	free(dir);
	free(name);
	free(where);
	return rc;
}

/* ---- single entries in the sandbox ------------------------------------- */

/* The sandbox as the side written to (sd->where is allocated). */
static void remote_side(struct sftp *s, struct side *sd)
{
	*sd = (struct side){ .ops = &remote_ops, .s = s, .keep_bits = 07777,
			     .where = xasprintf("in sandbox %s", s->name),
			     .chunk = s->wire ? sftp_wire_chunk(s->wire) : 32768 };
}

static void sftp_attrs_from(struct sftp_attrs *out, const struct attrs *a)
{
	*out = (struct sftp_attrs){ .mode = a->mode, .size = a->size, .mtime = a->mtime };
}

int sftp_lstat(struct sftp *s, const char *path, struct sftp_attrs *a)
{
	struct side sd;
	struct attrs at;
	int rc;

	remote_side(s, &sd);
	rc = remote_stat(&sd, path, false, &at);
	if (rc == 0)
		sftp_attrs_from(a, &at);
	free((char *)sd.where);
	return rc;
}

int sftp_list(struct sftp *s, const char *dir, struct sftp_dirent **out, size_t *n)
{
	struct side sd;
	struct entry *e;
	int rc;

	*out = NULL;
	*n = 0;
	remote_side(s, &sd);
	rc = remote_list(&sd, dir, &e, n);
	free((char *)sd.where);
	if (rc < 0)
		return -1;
	qsort(e, *n, sizeof *e, entry_cmp);
	*out = xcalloc(*n ? *n : 1, sizeof **out);
	for (size_t i = 0; i < *n; i++) {
		(*out)[i].name = e[i].name;
		sftp_attrs_from(&(*out)[i].a, &e[i].a);
	}
	free(e);
	return 0;
}

void sftp_dirents_free(struct sftp_dirent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

int sftp_mkdir(struct sftp *s, const char *path, uint32_t mode)
{
	int rc;

	AGAIN(s, rc, libssh2_sftp_mkdir_ex(s->sftp, path, (unsigned)strlen(path), (long)mode));
	return rc ? remote_fail(s, rc, "create the folder", path) : 0;
}

int sftp_remove(struct sftp *s, const char *path)
{
	struct side sd;
	struct attrs a;
	int rc;

	remote_side(s, &sd);
	remove_tree(&sd, path);
	rc = remote_stat(&sd, path, false, &a);
	free((char *)sd.where);
	if (rc == 0)
		err_set("cannot remove all of %s in sandbox %s", path, s->name);
	return rc == 1 ? 0 : -1;
}

int sftp_put_file(struct sftp *s, const char *local, const char *remote, struct sftp_job *job)
{
	struct side sd;
	struct xfer x = { .src = &host_side, .dst = &sd, .job = job };
	struct sftp_tree t = { 0 };
	struct node n = { 0 };
	struct node *root = &n;
	char *dir = NULL;
	int rc = local_stat(NULL, local, false, &n.a);

	if (rc != 0) {
		if (rc > 0)
			err_set("no such file on the host: %s", local);
		return -1;
	}
	if (!S_ISREG(n.a.mode)) {
		err_set("%s on the host is not a regular file; not copying it", local);
		return -1;
	}
	remote_side(s, &sd);
	n.name = base_name(remote);
	n.src = (char *)local;
	n.rel = n.name;
	t.bytes = n.a.size;
	t.files = 1;
	dir = dir_name(remote);
	job_start(&x, &t);
	rc = dot_name(n.name) ? -1 : copy_roots(&x, &root, 1, dir, dir);
	if (dot_name(n.name))
		err_set("cannot copy to %s in sandbox %s: name a file", remote, s->name);
	free(dir);
	free(n.name);
	free((char *)sd.where);
	return rc;
}
