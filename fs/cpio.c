#include "fs/cpio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"

#define NEWC_MAGIC "070701"
#define NEWC_HEADER_LEN 110
#define TRAILER_NAME "TRAILER!!!"

struct cpio {
	char *path;
	FILE *f;
	int64_t mtime;
	uint32_t next_ino;
	int64_t offset;		/* bytes written so far, for padding */
};

struct cpio *cpio_create(const char *path, int64_t mtime)
{
	FILE *f = fopen(path, "wbe");
	struct cpio *c;

	if (!f) {
		err_set("cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	c->f = f;
	c->mtime = mtime;
	c->next_ino = 1;
	return c;
}

static int put(struct cpio *c, const void *data, size_t len)
{
	if (len && fwrite(data, 1, len, c->f) != len) {
		err_set("cannot write %s: %s", c->path, strerror(errno));
		return -1;
	}
	c->offset += (int64_t)len;
	return 0;
}

/* newc aligns every header and every file body to 4 bytes. */
static int pad4(struct cpio *c)
{
	static const char zeros[4];

	return put(c, zeros, (size_t)((4 - c->offset % 4) % 4));
}

struct entry {
	uint32_t ino;
	uint32_t mode;
	uint32_t nlink;
	uint32_t size;
	uint32_t rmajor, rminor;
};

static int put_header(struct cpio *c, const char *name, const struct entry *e)
{
	char hdr[NEWC_HEADER_LEN + 1];
	size_t namesize = strlen(name) + 1;

	if (namesize > PATH_MAX) {
		err_set("cannot add %s to %s: name too long", name, c->path);
		return -1;
	}
	snprintf(hdr, sizeof hdr,
		 NEWC_MAGIC "%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 e->ino, e->mode, 0u, 0u, e->nlink, (uint32_t)c->mtime, e->size,
		 0u, 0u, e->rmajor, e->rminor, (uint32_t)namesize, 0u);
	if (put(c, hdr, NEWC_HEADER_LEN) < 0 || put(c, name, namesize) < 0)
		return -1;
	return pad4(c);
}

static int check_name(struct cpio *c, const char *name)
{
	if (!*name || name[0] == '/') {
		err_set("cannot add '%s' to %s: entry names must be relative", name, c->path);
		return -1;
	}
	return 0;
}

int cpio_add_dir(struct cpio *c, const char *name, mode_t perm)
{
	struct entry e = { .ino = c->next_ino++, .mode = S_IFDIR | (perm & 07777), .nlink = 2 };

	if (check_name(c, name) < 0)
		return -1;
	return put_header(c, name, &e);
}

int cpio_add_symlink(struct cpio *c, const char *name, const char *target)
{
	struct entry e = { .ino = c->next_ino++, .mode = S_IFLNK | 0777, .nlink = 1,
			   .size = (uint32_t)strlen(target) };

	if (check_name(c, name) < 0 || put_header(c, name, &e) < 0 ||
	    put(c, target, e.size) < 0)
		return -1;
	return pad4(c);
}

int cpio_add_chardev(struct cpio *c, const char *name, mode_t perm,
		     unsigned int major, unsigned int minor)
{
	struct entry e = { .ino = c->next_ino++, .mode = S_IFCHR | (perm & 07777), .nlink = 1,
			   .rmajor = major, .rminor = minor };

	if (check_name(c, name) < 0)
		return -1;
	return put_header(c, name, &e);
}

int cpio_add_file(struct cpio *c, const char *name, mode_t perm, const char *src)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	struct entry e = { .ino = c->next_ino++, .mode = S_IFREG | (perm & 07777), .nlink = 1 };
	char buf[65536];
	off_t left;

	if (check_name(c, name) < 0)
		goto fail_closed;
	if (fd < 0 || fstat(fd, &st) < 0) {
		err_set("cannot read %s for %s: %s", src, c->path, strerror(errno));
		goto fail_closed;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > UINT32_MAX) {
		err_set("cannot add %s to %s: not a regular file under 4 GiB", src, c->path);
		goto fail;
	}
	e.size = (uint32_t)st.st_size;
	if (put_header(c, name, &e) < 0)
		goto fail;
	/* Copy exactly the size in the header, so a file that changes under us fails. */
	for (left = st.st_size; left > 0; ) {
		ssize_t n = read(fd, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set("cannot read %s for %s: %s", src, c->path,
				n < 0 ? strerror(errno) : "file shrank while being read");
			goto fail;
		}
		if (put(c, buf, (size_t)n) < 0)
			goto fail;
		left -= n;
	}
	close(fd);
	return pad4(c);
fail:
	close(fd);
fail_closed:
	return -1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in a directory, without . and .. */
static char **list_dir(const char *path, size_t *n)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t cap = 0;

	*n = 0;
	if (!d) {
		err_set("cannot open directory %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap)
			names = xrealloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof *names, cmp_names);
	else
		names = xcalloc(1, sizeof *names);
	return names;
}

static int add_one(struct cpio *c, const char *path, const char *rel);

static int add_children(struct cpio *c, const char *path, const char *rel)
{
	size_t n;
	char **names = list_dir(path, &n);
	int rc = names ? 0 : -1;

	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			char *child = xasprintf("%s/%s", path, names[i]);
			char *child_rel = rel ? xasprintf("%s/%s", rel, names[i])
					      : xstrdup(names[i]);
			rc = add_one(c, child, child_rel);
			free(child);
			free(child_rel);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int add_one(struct cpio *c, const char *path, const char *rel)
{
	struct stat st;
	char target[PATH_MAX];
	ssize_t len;

	if (lstat(path, &st) < 0) {
		err_set("cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		if (cpio_add_dir(c, rel, st.st_mode) < 0)
			return -1;
		return add_children(c, path, rel);
	case S_IFREG:
		return cpio_add_file(c, rel, st.st_mode, path);
	case S_IFLNK:
		len = readlink(path, target, sizeof target - 1);
		if (len < 0) {
			err_set("cannot read link %s: %s", path, strerror(errno));
			return -1;
		}
		target[len] = '\0';
		return cpio_add_symlink(c, rel, target);
	default:
		err_set("cannot add %s to %s: only files, directories and symlinks are supported",
			path, c->path);
		return -1;
	}
}

int cpio_add_tree(struct cpio *c, const char *dir)
{
	return add_children(c, dir, NULL);
}

int64_t cpio_finish(struct cpio *c)
{
	struct entry e = { .nlink = 1 };
	int64_t size = -1;

	if (put_header(c, TRAILER_NAME, &e) < 0)
		goto out;
	if (fflush(c->f) != 0 || fsync(fileno(c->f)) < 0) {
		err_set("cannot write %s: %s", c->path, strerror(errno));
		goto out;
	}
	size = c->offset;
out:
	if (fclose(c->f) != 0 && size >= 0) {
		err_set("cannot write %s: %s", c->path, strerror(errno));
		size = -1;
	}
	if (size < 0)
		unlink(c->path);
	free(c->path);
	free(c);
	return size;
}

void cpio_abort(struct cpio *c)
{
	fclose(c->f);
	unlink(c->path);
	free(c->path);
	free(c);
}
