#include "fs/sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"

/* IN_CREATE is for folders: a file is looked at once its writer closes it
 * (IN_CLOSE_WRITE), not while it is being written. IN_EXCL_UNLINK: a file
 * deleted but still open sends nothing more. */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
		    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK | \
		    IN_DONT_FOLLOW | IN_ONLYDIR)

struct watch {
	int wd;
	char *rel;		/* "" for the top */
};

struct pending {
	char *rel;
	int64_t first, last;	/* its first and latest event */
};

struct sync {
	char *host, *guest;
	bool del;
	sync_report_fn report;
	void *report_arg;
	const volatile sig_atomic_t *cancel;
	int ifd;
	struct watch *w;
	size_t nw;
	struct pending *p;
	size_t np;
	bool rescan;		/* events were lost: look at everything again */
	struct sync_stats st;
};

struct hentry {
	char *name;
	struct stat st;
};

static char *rel_join(const char *rel, const char *name)
{
	return *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
}

static char *side_path(const char *top, const char *rel)
{
	size_t n = strlen(top);

	if (!*rel)
		return xstrdup(top);
	return xasprintf("%s%s%s", top, n && top[n - 1] == '/' ? "" : "/", rel);
}

/* Is path rel itself or something below it? */
static bool under(const char *path, const char *rel)
{
	size_t n = strlen(rel);

	if (!n)
		return true;
	return !strncmp(path, rel, n) && (path[n] == '\0' || path[n] == '/');
}

struct sync *sync_new(const struct sync_opts *o)
{
	struct sync *y;
	struct stat st;

	if (stat(o->host_dir, &st) < 0) {
		err_set("cannot use %s on the host: %s", o->host_dir, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set("%s on the host is not a folder", o->host_dir);
		return NULL;
	}
	y = xcalloc(1, sizeof *y);
	/* Watches never follow links: a top given as a link is watched at its
	 * target. */
	y->host = realpath(o->host_dir, NULL);
	if (!y->host)
		y->host = xstrdup(o->host_dir);
	y->guest = xstrdup(o->guest_dir);
	y->del = o->delete;
	y->report = o->report;
	y->report_arg = o->report_arg;
	y->cancel = o->cancel;
	y->ifd = -1;
	return y;
}

void sync_free(struct sync *y)
{
	if (!y)
		return;
	for (size_t i = 0; i < y->nw; i++)
		free(y->w[i].rel);
	for (size_t i = 0; i < y->np; i++)
		free(y->p[i].rel);
	if (y->ifd >= 0)
		close(y->ifd);
	free(y->w);
	free(y->p);
	free(y->host);
	free(y->guest);
	free(y);
}

const struct sync_stats *sync_stats(const struct sync *y)
{
	return &y->st;
}

int sync_fd(const struct sync *y)
{
	return y->ifd;
}

/* ---- watches ------------------------------------------------------------ */

static struct watch *watch_find(struct sync *y, int wd)
{
	for (size_t i = 0; i < y->nw; i++)
		if (y->w[i].wd == wd)
			return &y->w[i];
	return NULL;
}

static void watch_forget(struct sync *y, size_t i)
{
	free(y->w[i].rel);
	y->w[i] = y->w[--y->nw];
}

/* Watch the host folder at rel. A folder already gone is no error (its
 * deletion is an event of its parent). */
static int watch_add(struct sync *y, const char *rel)
{
	char *path;
	struct watch *w;
	int wd;

	if (y->ifd < 0)
		return 0;
	path = side_path(y->host, rel);
	wd = inotify_add_watch(y->ifd, path, WATCH_MASK);
	if (wd < 0) {
		int e = errno;

		free(path);
		if (e == ENOENT || e == ENOTDIR)
			return 0;
		if (e == ENOSPC)
			err_set("cannot watch %s on the host: too many folders watched (raise "
				"/proc/sys/fs/inotify/max_user_watches)", rel);
		else
			err_set("cannot watch %s on the host: %s", *rel ? rel : y->host,
				strerror(e));
		return -1;
	}
	free(path);
	/* The same folder moved to another name keeps its watch. */
	w = watch_find(y, wd);
	if (w) {
		free(w->rel);
		w->rel = xstrdup(rel);
		return 0;
	}
	y->w = xrealloc(y->w, (y->nw + 1) * sizeof *y->w);
	y->w[y->nw++] = (struct watch){ wd, xstrdup(rel) };
	return 0;
}

/* A folder deleted or moved away: stop following it and what is below. */
static void watch_drop_under(struct sync *y, const char *rel)
{
	for (size_t i = 0; i < y->nw;) {
		if (under(y->w[i].rel, rel)) {
			inotify_rm_watch(y->ifd, y->w[i].wd);
			watch_forget(y, i);
		} else {
			i++;
		}
	}
}

int sync_watch(struct sync *y)
{
	y->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (y->ifd < 0) {
		err_set("cannot watch %s on the host (inotify): %s", y->host, strerror(errno));
		return -1;
	}
	return watch_add(y, "");
}

/* ---- paths waiting ------------------------------------------------------ */

static void note(struct sync *y, const char *rel, int64_t now)
{
	for (size_t i = 0; i < y->np; i++) {
		if (!strcmp(y->p[i].rel, rel)) {
			y->p[i].last = now;
			return;
		}
	}
	y->p = xrealloc(y->p, (y->np + 1) * sizeof *y->p);
	y->p[y->np++] = (struct pending){ xstrdup(rel), now, now };
}

static void pending_remove(struct sync *y, size_t i)
{
	free(y->p[i].rel);
	memmove(&y->p[i], &y->p[i + 1], (y->np - i - 1) * sizeof *y->p);
	y->np--;
}

/* A folder about to be compared whole covers what waits below it. */
static void pending_drop_under(struct sync *y, const char *rel)
{
	for (size_t i = 0; i < y->np;) {
		if (under(y->p[i].rel, rel))
			pending_remove(y, i);
		else
			i++;
	}
}

static int64_t due_at(const struct pending *p)
{
	int64_t settle = p->last + SYNC_SETTLE_MS, cap = p->first + SYNC_MAX_WAIT_MS;

	return settle < cap ? settle : cap;
}

size_t sync_pending(const struct sync *y)
{
	return y->np;
}

int sync_next_ms(const struct sync *y, int64_t now)
{
	int64_t best = -1;

	if (y->rescan)
		return 0;
	for (size_t i = 0; i < y->np; i++) {
		int64_t d = due_at(&y->p[i]) - now;

		if (best < 0 || d < best)
			best = d < 0 ? 0 : d;
	}
	return (int)best;
}

int sync_read_events(struct sync *y, int64_t now)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(y->ifd, buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			err_set("cannot read the events of %s on the host: %s", y->host,
				n < 0 ? strerror(errno) : "end of file");
			return -1;
		}
		for (char *at = buf; at < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)at;
			struct watch *w;
			char *rel;

			at += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				y->rescan = true;
				continue;
			}
			w = watch_find(y, ev->wd);
			if (!w)
				continue;
			if (!*w->rel && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))) {
				err_set("%s was deleted or moved away on the host", y->host);
				return -1;
			}
			if (ev->mask & IN_IGNORED) {
				watch_forget(y, (size_t)(w - y->w));
				continue;
			}
			/* A folder's own deletion or move is also an event of its
			 * parent, with its name: that one is followed. */
			if (!ev->len)
				continue;
			if ((ev->mask & IN_CREATE) && !(ev->mask & IN_ISDIR))
				continue;
			rel = rel_join(w->rel, ev->name);
			if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_MOVED_FROM | IN_DELETE)))
				watch_drop_under(y, rel);
			note(y, rel, now);
			free(rel);
		}
	}
}

/* ---- comparing and copying ---------------------------------------------- */

static void report(struct sync *y, enum sync_what what, const char *rel, bool dir,
		   uint64_t bytes, const char *error)
{
	struct sync_change c = { what, *rel ? rel : ".", dir, bytes, error };

	switch (what) {
	case SYNC_ADDED: y->st.added++; break;
	case SYNC_CHANGED: y->st.changed++; break;
	case SYNC_REMOVED: y->st.removed++; break;
	case SYNC_FAILED: y->st.failed++; break;
	}
	y->st.bytes += bytes;
	if (y->report)
		y->report(y->report_arg, &c);
}

/*
 * A path failed (err_msg() says why). If the sandbox still answers, that
 * path is reported and we go on (0); if it does not, or we are being
 * stopped, the whole pass ends (-1, with the first error kept).
 */
static int path_failed(struct sync *y, struct sftp *s, const char *rel, bool dir)
{
	char *why = xstrdup(err_msg());
	struct sftp_attrs a;
	int rc = 0;

	if ((y->cancel && *y->cancel) || sftp_lstat(s, y->guest, &a) != 0) {
		err_set("%s", why);
		rc = -1;
	} else {
		report(y, SYNC_FAILED, rel, dir, 0, why);
	}
	free(why);
	return rc;
}

static bool same_file(const struct stat *st, const struct sftp_attrs *a)
{
	return S_ISREG(a->mode) && a->size == (uint64_t)st->st_size &&
	       a->mtime == (uint64_t)st->st_mtim.tv_sec && (a->mode & 07777) == (st->st_mode & 07777);
}

/*
 * smolvm logs in to the guest with the key in /root/.ssh: removing that, or
 * a folder holding it, would lock every smolvm command out of the sandbox,
 * so sync never does, with or without --delete.
 */
#define LOGIN_KEY_DIR "/root/.ssh"

static bool holds_login_key(const char *gp)
{
	size_t n = strlen(gp), k = strlen(LOGIN_KEY_DIR);

	while (n > 1 && gp[n - 1] == '/')
		n--;
	if (n <= k)	/* the folder itself, or one above it */
		return !strncmp(gp, LOGIN_KEY_DIR, n) && (n == k || n == 1 || LOGIN_KEY_DIR[n] == '/');
	return !strncmp(gp, LOGIN_KEY_DIR, k) && gp[k] == '/';
}

/* What is in the guest where a host file or folder goes, when it is of the
 * other kind: removed with --delete, else the path fails. */
static int clear_conflict(struct sync *y, struct sftp *s, const char *rel, const char *gp,
			  bool guest_dir)
{
	if (!y->del) {
		err_set("%s is a %s in the sandbox and a %s on the host; left as it is (--delete "
			"replaces it)", rel, guest_dir ? "folder" : "file",
			guest_dir ? "file" : "folder");
		return -1;
	}
	if (holds_login_key(gp)) {
		err_set("%s is a %s in the sandbox and a %s on the host; kept: smolvm logs in "
			"to the sandbox with the key in %s", rel, guest_dir ? "folder" : "file",
			guest_dir ? "file" : "folder", LOGIN_KEY_DIR);
		return -1;
	}
	if (sftp_remove(s, gp) < 0)
		return -1;
	report(y, SYNC_REMOVED, rel, guest_dir, 0, NULL);
	return 0;
}

/* Copy the host file at rel unless the guest's (ga, if there) is the same;
 * force: copy even so (its writer just closed it: a change within the
 * same second and size would not show). */
static int put_file(struct sync *y, struct sftp *s, const char *rel, const struct stat *st,
		    const struct sftp_attrs *ga, bool force)
{
	char *hp = side_path(y->host, rel), *gp = side_path(y->guest, rel);
	struct sftp_job job = { .cancel = y->cancel };
	bool there = ga != NULL;
	int rc = 0;

	if (ga && !force && same_file(st, ga))
		goto out;
	if (ga && !S_ISREG(ga->mode)) {
		if (clear_conflict(y, s, rel, gp, S_ISDIR(ga->mode)) < 0) {
			rc = path_failed(y, s, rel, false);
			goto out;
		}
		there = false;
	}
	if (sftp_put_file(s, hp, gp, &job) < 0) {
		struct stat now;

		/* Gone from the host meanwhile: its deletion event follows. */
		if (lstat(hp, &now) < 0 && errno == ENOENT)
			goto out;
		rc = path_failed(y, s, rel, false);
		goto out;
	}
	report(y, there ? SYNC_CHANGED : SYNC_ADDED, rel, false, job.bytes, NULL);
out:
	free(hp);
	free(gp);
	return rc;
}

static int hentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hentry *)a)->name, ((const struct hentry *)b)->name);
}

static void hentries_free(struct hentry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static int host_list(const char *path, struct hentry **out, size_t *n)
{
	DIR *d = opendir(path);
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (!d) {
		err_set("cannot read the folder %s on the host: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		/* Gone since it was listed: its event follows. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		(*out)[*n].name = xstrdup(de->d_name);
		(*out)[(*n)++].st = st;
	}
	closedir(d);
	qsort(*out, *n, sizeof **out, hentry_cmp);
	return 0;
}

static int sync_dir(struct sync *y, struct sftp *s, const char *rel);

/* Make the host folder rel in the guest (ga: what is there, or NULL) and
 * bring its contents in step. */
static int put_dir(struct sync *y, struct sftp *s, const char *rel, const struct stat *st,
		   const struct sftp_attrs *ga)
{
	char *gp = side_path(y->guest, rel);
	int rc = 0;

	if (ga && !S_ISDIR(ga->mode) && clear_conflict(y, s, rel, gp, false) < 0) {
		rc = path_failed(y, s, rel, true);
		goto out;
	}
	if (!ga || !S_ISDIR(ga->mode)) {
		if (sftp_mkdir(s, gp, st->st_mode & 07777) < 0) {
			rc = path_failed(y, s, rel, true);
			goto out;
		}
		report(y, SYNC_ADDED, rel, true, 0, NULL);
	}
	rc = sync_dir(y, s, rel);
out:
	free(gp);
	return rc;
}

/* One entry of a folder being compared: the host's st and the guest's ga
 * (NULL: the guest has nothing of that name). */
static int sync_entry(struct sync *y, struct sftp *s, const char *rel, const struct stat *st,
		      const struct sftp_attrs *ga)
{
	if (S_ISREG(st->st_mode))
		return put_file(y, s, rel, st, ga, false);
	if (S_ISDIR(st->st_mode))
		return put_dir(y, s, rel, st, ga);
	y->st.skipped++;
	return 0;
}

static int remove_guest(struct sync *y, struct sftp *s, const char *rel,
			const struct sftp_attrs *ga)
{
	char *gp = side_path(y->guest, rel);
	int rc = 0;

	if (holds_login_key(gp)) {
		err_set("kept: smolvm logs in to the sandbox with the key in %s", LOGIN_KEY_DIR);
		rc = path_failed(y, s, rel, S_ISDIR(ga->mode));
	} else if (sftp_remove(s, gp) < 0)
		rc = path_failed(y, s, rel, S_ISDIR(ga->mode));
	else
		report(y, SYNC_REMOVED, rel, S_ISDIR(ga->mode), 0, NULL);
	free(gp);
	return rc;
}

/* Compare the folder rel (a folder on both sides) entry by entry. */
static int sync_dir(struct sync *y, struct sftp *s, const char *rel)
{
	char *hp = side_path(y->host, rel), *gp = side_path(y->guest, rel);
	struct hentry *he = NULL;
	struct sftp_dirent *ge = NULL;
	size_t nh = 0, ng = 0, i = 0, j = 0;
	int rc = 0;

	pending_drop_under(y, rel);
	if (watch_add(y, rel) < 0 && (rc = path_failed(y, s, rel, true)) < 0)
		goto out;
	if (host_list(hp, &he, &nh) < 0) {
		rc = path_failed(y, s, rel, true);
		goto out;
	}
	if (sftp_list(s, gp, &ge, &ng) < 0) {
		rc = path_failed(y, s, rel, true);
		goto out;
	}
	while (rc == 0 && (i < nh || j < ng)) {
		int c = i < nh && j < ng ? strcmp(he[i].name, ge[j].name) : i < nh ? -1 : 1;
		char *crel = rel_join(rel, c <= 0 ? he[i].name : ge[j].name);

		if (c < 0) {
			rc = sync_entry(y, s, crel, &he[i++].st, NULL);
		} else if (c == 0) {
			rc = sync_entry(y, s, crel, &he[i].st, &ge[j].a);
			/* What the host leaves out, the guest keeps. */
			i++;
			j++;
		} else {
			if (y->del)
				rc = remove_guest(y, s, crel, &ge[j].a);
			j++;
		}
		free(crel);
	}
out:
	hentries_free(he, nh);
	sftp_dirents_free(ge, ng);
	free(hp);
	free(gp);
	return rc;
}

/* A path that had events: make the guest match what the host has there now. */
static int sync_path(struct sync *y, struct sftp *s, const char *rel)
{
	char *hp = side_path(y->host, rel), *gp = side_path(y->guest, rel);
	struct sftp_attrs ga;
	struct stat st;
	int rc, there;

	there = sftp_lstat(s, gp, &ga);
	if (there < 0) {
		rc = path_failed(y, s, rel, false);
		goto out;
	}
	if (lstat(hp, &st) < 0) {
		rc = there == 0 ? remove_guest(y, s, rel, &ga) : 0;
		goto out;
	}
	if (S_ISREG(st.st_mode))
		rc = put_file(y, s, rel, &st, there == 0 ? &ga : NULL, true);
	else if (S_ISDIR(st.st_mode))
		rc = put_dir(y, s, rel, &st, there == 0 ? &ga : NULL);
	else
		rc = 0;
out:
	free(hp);
	free(gp);
	return rc;
}

int sync_full(struct sync *y, struct sftp *s)
{
	y->rescan = false;
	y->st.skipped = 0;
	if (sync_dir(y, s, "") < 0) {
		y->rescan = true;
		return -1;
	}
	return 0;
}

int sync_flush(struct sync *y, struct sftp *s, int64_t now)
{
	if (y->rescan && sync_full(y, s) < 0)
		return -1;
	for (;;) {
		size_t best = y->np;
		char *rel;
		int rc;

		/* Folders before what is in them: the smallest path first. */
		for (size_t i = 0; i < y->np; i++)
			if (due_at(&y->p[i]) <= now &&
			    (best == y->np || strcmp(y->p[i].rel, y->p[best].rel) < 0))
				best = i;
		if (best == y->np)
			return 0;
		rel = y->p[best].rel;
		y->p[best].rel = NULL;
		pending_remove(y, best);
		rc = sync_path(y, s, rel);
		free(rel);
		if (rc < 0) {
			y->rescan = true;
			return -1;
		}
	}
}
