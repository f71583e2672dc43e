/* cpio writer: write archives, parse them back with an independent newc reader. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"
#include "fs/cpio.h"
#include "tests/unit/unit.h"

struct parsed {
	char name[256];
	uint32_t ino, mode, uid, gid, nlink, mtime, size, rmajor, rminor;
	char data[256];
};

static uint32_t hex8(const char *p)
{
	char buf[9];

	memcpy(buf, p, 8);
	buf[8] = '\0';
	return (uint32_t)strtoul(buf, NULL, 16);
}

/* Parse a whole archive; returns the entry count (trailer included), or -1
 * if the bytes break the format. */
static int parse(const char *buf, size_t len, struct parsed *out, int max)
{
	size_t off = 0;
	int n = 0;

	while (n < max) {
		struct parsed *e = &out[n];
		uint32_t namesize;

		if (off % 4 || off + 110 > len || memcmp(buf + off, "070701", 6))
			return -1;
		const char *h = buf + off + 6;
		e->ino = hex8(h);
		e->mode = hex8(h + 8);
		e->uid = hex8(h + 16);
		e->gid = hex8(h + 24);
		e->nlink = hex8(h + 32);
		e->mtime = hex8(h + 40);
		e->size = hex8(h + 48);
		e->rmajor = hex8(h + 72);
		e->rminor = hex8(h + 80);
		namesize = hex8(h + 88);
		off += 110;
		if (namesize == 0 || namesize > sizeof e->name || off + namesize > len ||
		    buf[off + namesize - 1] != '\0')
			return -1;
		memcpy(e->name, buf + off, namesize);
		off = (off + namesize + 3) & ~(size_t)3;
		if (e->size >= sizeof e->data || off + e->size > len)
			return -1;
		memcpy(e->data, buf + off, e->size);
		e->data[e->size] = '\0';
		off = (off + e->size + 3) & ~(size_t)3;
		n++;
		if (!strcmp(e->name, "TRAILER!!!"))
			return off == len ? n : -1;
	}
	return -1;
}

static char tmpdir[64];

static char *tpath(const char *rel)
{
	return xasprintf("%s/%s", tmpdir, rel);
}

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char *p = tpath(rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("test setup: cannot write %s", p);
	close(fd);
	chmod(p, mode);
	free(p);
}

/* A small tree: names chosen so byte order differs from creation order. */
static void make_tree(void)
{
	char *p;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_cpio.XXXXXX");
	if (!mkdtemp(tmpdir))
		die("mkdtemp failed");
	p = tpath("tree/sbin");
	util_mkdir_p(p, 0755);
	free(p);
	p = tpath("tree/etc/ssh");
	util_mkdir_p(p, 0700);
	free(p);
	p = tpath("tree/etc");
	chmod(p, 0751);
	free(p);
	write_file("tree/init", "#!/bin/sh\necho hi\n", 0755);
	write_file("tree/etc/ssh/key", "secret", 0600);
	write_file("tree/etc/empty", "", 0644);
	write_file("tree/etc/B", "abc", 0640);
	p = tpath("tree/sbin/sh");
	if (symlink("/bin/busybox", p) < 0)
		die("symlink failed");
	free(p);
}

static char *write_archive(const char *name, int64_t mtime, size_t *len)
{
	char *out = tpath(name), *tree = tpath("tree"), *data;
	struct cpio *c = cpio_create(out, mtime);

	EXPECT(c != NULL);
	if (!c)
		return NULL;
	EXPECT_INT(cpio_add_tree(c, tree), 0);
	EXPECT_INT(cpio_add_dir(c, "dev", 0755), 0);
	EXPECT_INT(cpio_add_chardev(c, "dev/console", 0600, 5, 1), 0);
	int64_t size = cpio_finish(c);
	data = util_read_file(out, len);
	EXPECT(data != NULL);
	EXPECT_INT(size, (int64_t)*len);
	free(out);
	free(tree);
	return data;
}

static void test_tree_roundtrip(void)
{
	static const char *const want[] = {
		"etc", "etc/B", "etc/empty", "etc/ssh", "etc/ssh/key", "init", "sbin", "sbin/sh",
		"dev", "dev/console", "TRAILER!!!",
	};
	struct parsed e[16];
	size_t len;
	char *buf = write_archive("a.cpio", 1700000000, &len);
	int n;

	if (!buf)
		return;
	EXPECT_INT(len % 4, 0);
	n = parse(buf, len, e, 16);
	EXPECT_INT(n, (int)ARRAY_LEN(want));
	for (int i = 0; i < n && i < (int)ARRAY_LEN(want); i++) {
		EXPECT_STR(e[i].name, want[i]);
		EXPECT_INT(e[i].uid, 0);
		EXPECT_INT(e[i].gid, 0);
		if (i < n - 1) {
			EXPECT_INT(e[i].ino, i + 1);
			EXPECT_INT(e[i].mtime, 1700000000);
		}
	}
	if (n != (int)ARRAY_LEN(want)) {
		free(buf);
		return;
	}
	EXPECT_INT(e[0].mode, S_IFDIR | 0751);
	EXPECT_INT(e[1].mode, S_IFREG | 0640);
	EXPECT_STR(e[1].data, "abc");
	EXPECT_INT(e[2].size, 0);
	EXPECT_INT(e[3].mode, S_IFDIR | 0700);
	EXPECT_INT(e[4].mode, S_IFREG | 0600);
	EXPECT_STR(e[4].data, "secret");
	EXPECT_INT(e[5].mode, S_IFREG | 0755);
	EXPECT_STR(e[5].data, "#!/bin/sh\necho hi\n");
	EXPECT_INT(e[7].mode, S_IFLNK | 0777);
	EXPECT_STR(e[7].data, "/bin/busybox");
	EXPECT_INT(e[9].mode, S_IFCHR | 0600);
	EXPECT_INT(e[9].rmajor, 5);
	EXPECT_INT(e[9].rminor, 1);
	EXPECT_INT(e[10].size, 0);
	free(buf);
}

static void test_deterministic(void)
{
	size_t l1, l2, l3;
	char *a = write_archive("d1.cpio", 42, &l1);
	char *b = write_archive("d2.cpio", 42, &l2);
	char *c = write_archive("d3.cpio", 43, &l3);

	EXPECT(a && b && c);
	if (a && b && c) {
		EXPECT(l1 == l2 && !memcmp(a, b, l1));
		EXPECT(l1 == l3 && memcmp(a, c, l1) != 0);
	}
	free(a);
	free(b);
	free(c);
}

static void test_errors(void)
{
	char *out = tpath("e.cpio"), *fifo = tpath("tree2/fifo"), *tree2 = tpath("tree2");
	struct cpio *c;

	EXPECT(cpio_create("/nonexistent-dir/x.cpio", 0) == NULL);
	EXPECT(strstr(err_msg(), "/nonexistent-dir/x.cpio") != NULL);

	c = cpio_create(out, 0);
	EXPECT(c != NULL);
	if (!c)
		goto out;
	EXPECT_INT(cpio_add_dir(c, "/abs", 0755), -1);
	EXPECT_INT(cpio_add_file(c, "missing", 0644, "/nonexistent-file"), -1);
	util_mkdir_p(tree2, 0755);
	EXPECT_INT(mkfifo(fifo, 0600), 0);
	EXPECT_INT(cpio_add_tree(c, tree2), -1);
	EXPECT(strstr(err_msg(), "fifo") != NULL);
	cpio_abort(c);
	EXPECT(!util_exists(out));
out:
	free(out);
	free(fifo);
	free(tree2);
}

int main(void)
{
	make_tree();
	RUN(test_tree_roundtrip);
	RUN(test_deterministic);
	RUN(test_errors);
	util_rm_rf(tmpdir);
	UNIT_EXIT();
}
