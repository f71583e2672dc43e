/*
 * vault_uses: how often each secret was injected, and when last. One line
 * per secret, "NAME COUNT LAST\n", in path + ".uses", rewritten in place
 * under an exclusive flock (readers take a shared one). The counts are
 * bookkeeping, not secrets: they stay out of the sealed file, so a proxy
 * never needs to write that, and a lost count can never cost a secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "backend/util.h"
#include "backend/vault.h"

/* Lines that are not NAME COUNT LAST are dropped: a torn write (a crash
 * halfway through) costs counts, never the file. */
static void parse(const char *text, struct vault_use **out, size_t *n)
{
	const char *line = text;

	*out = NULL;
	*n = 0;
	while (*line) {
		const char *nl = strchr(line, '\n');
		struct vault_use u = { 0 };
		char name[VAULT_NAME_MAX + 2];
		int used = 0;

		if (!nl)
			break;
		if (sscanf(line, "%65s %" SCNu64 " %" SCNd64 "%n", name, &u.count, &u.last,
			   &used) == 3 && line + used == nl && strlen(name) <= VAULT_NAME_MAX &&
		    vault_check_name(name) == 0) {
			strcpy(u.name, name);
			*out = xrealloc(*out, (*n + 1) * sizeof **out);
			(*out)[(*n)++] = u;
		}
		line = nl + 1;
	}
}

static char *read_fd(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	ssize_t r;

	while ((r = pread(fd, buf + len, cap - len - 1, (off_t)len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return NULL;
		}
		len += (size_t)r;
		if (len + 1 == cap)
			buf = xrealloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	return buf;
}

static int write_fd(int fd, const struct vault_use *u, size_t n)
{
	size_t len = 0, cap = 64 + n * (VAULT_NAME_MAX + 48);
	char *buf = xmalloc(cap);
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s %" PRIu64 " %" PRId64 "\n",
					u[i].name, u[i].count, u[i].last);
	if (pwrite(fd, buf, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
		rc = -1;
	free(buf);
	return rc;
}

/* Open the uses file and lock it; -1 with err_set(), or 0 with *fd -1
 * when reading and there is no file. */
static int open_locked(const char *path, bool write, int *fd)
{
	char *upath = xasprintf("%s.uses", path);

	*fd = open(upath, (write ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0600);
	if (*fd < 0) {
		int e = errno;

		if (e == ENOENT && !write) {
			free(upath);
			return 0;
		}
		err_set("cannot open the vault's use counts %s: %s", upath, strerror(e));
		free(upath);
		return -1;
	}
	while (flock(*fd, write ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR) {
			err_set("cannot lock %s: %s", upath, strerror(errno));
			close(*fd);
			free(upath);
			return -1;
		}
	}
	free(upath);
	return 0;
}

/* Read-modify-write of the counts: add one use of name, or (forget) drop it. */
static int change(const char *path, const char *name, bool forget)
{
	struct vault_use *u;
	size_t n, i;
	char *text;
	int fd, rc = -1;

	if (vault_check_name(name) < 0 || open_locked(path, true, &fd) < 0)
		return -1;
	text = read_fd(fd);
	if (!text) {
		err_set("cannot read the vault's use counts: %s", strerror(errno));
		close(fd);
		return -1;
	}
	parse(text, &u, &n);
	free(text);
	for (i = 0; i < n && strcmp(u[i].name, name); i++)
		;
	if (forget) {
		if (i == n) {
			rc = 0;
			goto out;
		}
		memmove(&u[i], &u[i + 1], (n - i - 1) * sizeof *u);
		n--;
	} else {
		if (i == n) {
			u = xrealloc(u, (n + 1) * sizeof *u);
			memset(&u[n], 0, sizeof *u);
			strcpy(u[n++].name, name);
		}
		u[i].count++;
		u[i].last = util_wall_s();
	}
	rc = write_fd(fd, u, n);
	if (rc < 0)
		err_set("cannot write the vault's use counts: %s", strerror(errno));
out:
	free(u);
	close(fd);
	return rc;
}

int vault_uses_record(const char *path, const char *name)
{
	return change(path, name, false);
}

int vault_uses_forget(const char *path, const char *name)
{
	return change(path, name, true);
}

int vault_uses_load(const char *path, struct vault_use **out, size_t *n)
{
	char *text;
	int fd;

	*out = NULL;
	*n = 0;
	if (open_locked(path, false, &fd) < 0)
		return -1;
	if (fd < 0)
		return 0;
	text = read_fd(fd);
	close(fd);
	if (!text) {
		err_set("cannot read the vault's use counts: %s", strerror(errno));
		return -1;
	}
	parse(text, out, n);
	free(text);
	return 0;
}
