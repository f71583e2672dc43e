#include "backend/diskcopy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"

#define CHUNK (1u << 20)
/* Zero runs shorter than a file system block could not become holes anyway. */
#define ZERO_BLOCK 4096u

static bool all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

static int write_all_at(int fd, const unsigned char *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Write buf (len bytes, file offset off) leaving its zero blocks out. */
static int write_sparse(int fd, const unsigned char *buf, size_t len, off_t off)
{
	size_t i = 0;

	while (i < len) {
		size_t start, n;

		while (i < len && all_zero(buf + i, len - i < ZERO_BLOCK ? len - i : ZERO_BLOCK))
			i += ZERO_BLOCK;
		if (i >= len)
			break;
		start = i;
		while (i < len && !all_zero(buf + i, len - i < ZERO_BLOCK ? len - i : ZERO_BLOCK))
			i += ZERO_BLOCK;
		n = (i < len ? i : len) - start;
		if (write_all_at(fd, buf + start, n, off + (off_t)start) < 0)
			return -1;
	}
	return 0;
}

/* The data of [from, to) of in, read in chunks and written sparsely to out. */
static int copy_range(int in, int out, off_t from, off_t to, unsigned char *buf,
		      const char *name, uint64_t total, progress_fn fn, void *arg)
{
	while (from < to) {
		size_t want = (size_t)(to - from) < CHUNK ? (size_t)(to - from) : CHUNK;
		ssize_t n = pread(in, buf, want, from);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;	/* the source shrank under us: the rest reads as zeros */
		if (write_sparse(out, buf, (size_t)n, from) < 0)
			return -1;
		from += n;
		if (fn) {
			struct progress_info p = { .name = name, .done = (uint64_t)from,
						   .total = total, .files_total = 1 };
			fn(arg, &p);
		}
	}
	return 0;
}

/* Walk the data segments (SEEK_DATA/SEEK_HOLE); a file system without them
 * is all data, which write_sparse still thins out. */
static int copy_data(int in, int out, off_t size, const char *name, progress_fn fn, void *arg)
{
	unsigned char *buf = xmalloc(CHUNK);
	off_t pos = 0;
	int rc = 0;

	while (pos < size && rc == 0) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;		/* only a hole is left */
		if (data < 0) {
			data = pos;
			hole = size;
		} else {
			hole = lseek(in, data, SEEK_HOLE);
			if (hole < 0 || hole > size)
				hole = size;
		}
		rc = copy_range(in, out, data, hole, buf, name, (uint64_t)size, fn, arg);
		pos = hole;
	}
	free(buf);
	return rc;
}

int diskcopy_file(const char *src, const char *dst, const char *name, progress_fn fn, void *arg)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, e;
	struct stat st;

	if (in < 0) {
		err_set("cannot read %s: %s", src, strerror(errno));
		return -1;
	}
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set("%s is not a regular file", src);
		close(in);
		return -1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		err_set("cannot create %s: %s", dst, strerror(errno));
		close(in);
		return -1;
	}
	if (ioctl(out, FICLONE, in) == 0)
		goto done;
	if (copy_data(in, out, st.st_size, name, fn, arg) < 0 || ftruncate(out, st.st_size) < 0)
		goto fail;
done:
	if (fsync(out) < 0)
		goto fail;
	if (fn) {
		struct progress_info p = { .name = name, .done = (uint64_t)st.st_size,
					   .total = (uint64_t)st.st_size, .files_done = 1,
					   .files_total = 1 };
		fn(arg, &p);
	}
	close(in);
	if (close(out) < 0) {
		out = -1;
		goto fail;
	}
	return 0;
fail:
	e = errno;
	if (e == ENOSPC || e == EDQUOT)
		err_set("no space left for %s (%s): free some space on the host", dst,
			strerror(e));
	else
		err_set("cannot copy %s to %s: %s", src, dst, strerror(e));
	close(in);
	if (out >= 0)
		close(out);
	unlink(dst);
	return -1;
}

static uint64_t allocated(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0;
}

uint64_t diskcopy_allocated(const char *path)
{
	struct stat st;
	struct dirent *e;
	uint64_t sum = 0;
	DIR *d;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return allocated(path);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", path, e->d_name);
		sum += allocated(p);
		free(p);
	}
	closedir(d);
	return sum;
}
