#include "fs/extfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/util.h"

#define OPAQUE_LINE "trusted.overlay.opaque (1) = \"y\""
#define ECHO "debugfs: "

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct extfs_entry *)a)->name, ((const struct extfs_entry *)b)->name);
}

void extfs_dir_free(struct extfs_dir *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	free(d->e);
	memset(d, 0, sizeof *d);
}

const struct extfs_entry *extfs_find(const struct extfs_dir *d, const char *name)
{
	struct extfs_entry key = { .name = (char *)name };

	return d->n ? bsearch(&key, d->e, d->n, sizeof *d->e, cmp_entry) : NULL;
}

/* A number ending at '/', in base; *p moves past the '/'. */
static bool field(const char **p, const char *end, int base, unsigned long long *v)
{
	char *stop;

	*v = 0;
	if (*p < end && **p == '/') {	/* empty (the size of a directory) */
		(*p)++;
		return true;
	}
	errno = 0;
	*v = strtoull(*p, &stop, base);
	if (errno || stop == *p || stop >= end || *stop != '/')
		return false;
	*p = stop + 1;
	return true;
}

/*
 * The entries of one `ls -p` listing, text..end: lines "/ino/mode/uid/gid/name/size/".
 * A name holds anything but '/' and NUL, newlines too, so it is read up to its '/'.
 * False if the text is not such a listing (then it has no "." either).
 */
static bool parse_listing(const char *p, const char *end, struct extfs_dir *d)
{
	size_t cap = 0;
	bool dot = false;

	while (p < end) {
		unsigned long long ino, mode, uid, gid, size;
		const char *name, *slash;

		if (*p == '\n') {
			p++;
			continue;
		}
		if (*p++ != '/' || !field(&p, end, 10, &ino) || !field(&p, end, 8, &mode) ||
		    !field(&p, end, 10, &uid) || !field(&p, end, 10, &gid))
			return false;
		name = p;
		slash = memchr(p, '/', (size_t)(end - p));
		if (!slash)
			return false;
		p = slash + 1;
		if (!field(&p, end, 10, &size))
			return false;
		if ((slash - name == 1 && name[0] == '.') ||
		    (slash - name == 2 && name[0] == '.' && name[1] == '.')) {
			dot = true;
			continue;
		}
		if (d->n == cap)
			d->e = xrealloc(d->e, (cap = cap ? cap * 2 : 16) * sizeof *d->e);
		d->e[d->n++] = (struct extfs_entry){
			.name = xasprintf("%.*s", (int)(slash - name), name),
			.ino = (uint32_t)ino, .mode = (mode_t)mode, .uid = (uid_t)uid,
			.gid = (gid_t)gid, .size = size,
		};
	}
	if (d->n)
		qsort(d->e, d->n, sizeof *d->e, cmp_entry);
	return dot;
}

/* Where the output of the command echoed as "debugfs: cmd\n" starts, at or after from. */
static const char *section(const char *out, const char *from, const char *cmd)
{
	char *echo = xasprintf(ECHO "%s\n", cmd);
	const char *p = from;

	while ((p = strstr(p, echo)) && p != out && p[-1] != '\n')
		p++;
	if (p)
		p += strlen(echo);
	free(echo);
	return p;
}

/* The end of a section: the next command's echo at the start of a line, or the end. */
static const char *section_end(const char *p)
{
	const char *q = strstr(p, "\n" ECHO);

	if (!strncmp(p, ECHO, strlen(ECHO)))	/* a command with no output */
		return p;
	return q ? q + 1 : p + strlen(p);
}

static int run_debugfs(const char *image, const char *cmds, char **out)
{
	char tmpl[] = "/tmp/smolvm-debugfs.XXXXXX";
	int fd = mkstemp(tmpl), rc;
	char *err = NULL;
	size_t len = strlen(cmds);

	if (fd < 0) {
		err_set("cannot make a temporary file in /tmp: %s", strerror(errno));
		return -1;
	}
	if (write(fd, cmds, len) != (ssize_t)len) {
		err_set("cannot write %s: %s", tmpl, strerror(errno));
		close(fd);
		unlink(tmpl);
		return -1;
	}
	close(fd);
	/* -c: no bitmaps are read (nothing here needs them); read-only without -w */
	char *argv[] = {
		"env", "DEBUGFS_PAGER=__none__", "debugfs", "-c", "-f", tmpl, (char *)image, NULL,
	};
	*out = NULL;
	rc = util_run_capture(argv, out, &err);
	unlink(tmpl);
	/* debugfs goes on (and exits 0) after an image it cannot open */
	if (rc == 0 && (strstr(err, "while trying to open") || strstr(err, "not open")))
		rc = 1;
	if (rc == 127)
		err_set("cannot read %s: debugfs is missing (Debian: apt-get install e2fsprogs)",
			image);
	else if (rc > 0)
		err_set("debugfs cannot read %s: %.300s", image, err);
	if (rc != 0) {
		free(*out);
		*out = NULL;
		rc = -1;
	}
	free(err);
	return rc;
}

int extfs_list(const char *image, const uint32_t *inos, size_t n, struct extfs_dir *out)
{
	size_t len = 0, cap = 256;
	char *cmds = xmalloc(cap), *text = NULL, cmd[64];
	const char *pos;
	int rc = -1;

	memset(out, 0, n * sizeof *out);
	cmds[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(cmd, sizeof cmd, "ls -p <%u>\nea_get <%u> trusted.overlay.opaque\n",
				 inos[i], inos[i]);
		if (len + (size_t)w + 1 > cap)
			cmds = xrealloc(cmds, cap = (cap + (size_t)w) * 2);
		memcpy(cmds + len, cmd, (size_t)w + 1);
		len += (size_t)w;
	}
	if (!n) {
		rc = 0;
		goto out;
	}
	if (run_debugfs(image, cmds, &text) < 0)
		goto out;
	pos = text;
	for (size_t i = 0; i < n; i++) {
		const char *p, *end;

		snprintf(cmd, sizeof cmd, "ls -p <%u>", inos[i]);
		p = section(text, pos, cmd);
		end = p ? section_end(p) : NULL;
		if (!p || !parse_listing(p, end, &out[i])) {
			err_set("%s: inode %u is not a directory debugfs can list", image, inos[i]);
			goto out;
		}
		snprintf(cmd, sizeof cmd, "ea_get <%u> trusted.overlay.opaque", inos[i]);
		p = section(text, end, cmd);
		if (!p) {
			err_set("%s: debugfs did not answer for inode %u", image, inos[i]);
			goto out;
		}
		end = section_end(p);
		out[i].opaque = memmem(p, (size_t)(end - p), OPAQUE_LINE, strlen(OPAQUE_LINE));
		pos = end;
	}
	rc = 0;
out:
	if (rc < 0)
		for (size_t i = 0; i < n; i++)
			extfs_dir_free(&out[i]);
	free(text);
	free(cmds);
	return rc;
}

int extfs_needs_recovery(const char *image)
{
	char *argv[] = { "dumpe2fs", "-h", (char *)image, NULL };
	char *out = NULL, *err = NULL;
	int rc = util_run_capture(argv, &out, &err);
	char *features = out ? strstr(out, "Filesystem features:") : NULL;

	if (rc != 0 || !features) {
		err_set("cannot read the superblock of %s: %.300s", image,
			rc == 127 ? "dumpe2fs is missing (Debian: apt-get install e2fsprogs)"
				  : err ? err : "");
		rc = -1;
	} else {
		size_t line = strcspn(features, "\n");
		rc = memmem(features, line, " needs_recovery", 15) != NULL;
	}
	free(out);
	free(err);
	return rc;
}

int extfs_recover(const char *image)
{
	char *argv[] = { "e2fsck", "-p", "-E", "journal_only", (char *)image, NULL };
	char *err = NULL;
	int rc = util_run_capture(argv, NULL, &err);

	/* 1: errors were corrected (the journal was replayed) */
	if (rc != 0 && rc != 1) {
		err_set("cannot replay the journal of %s (e2fsck exit status %d): %.300s", image, rc,
			err ? err : "");
		rc = -1;
	} else {
		rc = 0;
	}
	free(err);
	return rc;
}
