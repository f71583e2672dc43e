/*
 * The writable layer and its diff: disk sizes, a new disk.img's cost, and
 * diff_layers() on real ext4 images made with mke2fs -d from trees that
 * hold what overlayfs leaves in an upper directory (whiteouts, opaque
 * directories). Making whiteouts and trusted.* attributes needs root.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/util.h"
#include "fs/diff.h"
#include "unit.h"

static char dir[] = "/tmp/smolvm-test-diff.XXXXXX";

static void test_sizes(void)
{
	int64_t b = 0;

	EXPECT_INT(disk_parse_size("2G", &b), 0);
	EXPECT_INT(b, 2LL << 30);
	EXPECT_INT(disk_parse_size("512M", &b), 0);
	EXPECT_INT(b, 512LL << 20);
	EXPECT_INT(disk_parse_size("10GiB", &b), 0);
	EXPECT_INT(b, 10LL << 30);
	EXPECT_INT(disk_parse_size("1t", &b), 0);
	EXPECT_INT(b, 1LL << 40);
	EXPECT_INT(disk_parse_size("67108864", &b), 0);
	EXPECT_INT(b, 64LL << 20);
	EXPECT_INT(disk_parse_size("65536K", &b), 0);
	EXPECT_INT(b, 64LL << 20);
	b = 7;
	EXPECT_INT(disk_parse_size("1M", &b), -1);	/* below 64M */
	EXPECT(strstr(err_msg(), "out of range") != NULL);
	EXPECT_INT(disk_parse_size("17T", &b), -1);
	EXPECT_INT(disk_parse_size("99999999999999999999G", &b), -1);
	EXPECT_INT(disk_parse_size("", &b), -1);
	EXPECT(strstr(err_msg(), "is not a size") != NULL);
	EXPECT_INT(disk_parse_size("2X", &b), -1);
	EXPECT_INT(disk_parse_size("2GG", &b), -1);
	EXPECT_INT(disk_parse_size("-2G", &b), -1);
	EXPECT_INT(disk_parse_size("G", &b), -1);
	EXPECT_INT(disk_parse_size(" 2G", &b), -1);
	EXPECT_INT(b, 7);	/* untouched on failure */
}

/* A new layer is as big as asked and costs about a megabyte; an existing file is kept. */
static void test_make(void)
{
	char *path = xasprintf("%s/disk.img", dir);
	struct stat st;

	EXPECT_INT(disk_make(path, 2LL << 30), 0);
	EXPECT_INT(stat(path, &st), 0);
	EXPECT_INT(st.st_size, 2LL << 30);
	EXPECT(st.st_blocks * 512 < 4LL << 20);
	EXPECT_INT(st.st_mode & 0777, 0600);
	EXPECT_INT(disk_make(path, 1LL << 30), -1);
	EXPECT_INT(stat(path, &st), 0);
	EXPECT_INT(st.st_size, 2LL << 30);
	unlink(path);
	free(path);
}

static void put(const char *tree, const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s/%s", dir, tree, rel);
	char *slash = strrchr(p, '/');

	*slash = '\0';
	util_mkdir_p(p, 0755);
	*slash = '/';
	if (text)
		EXPECT_INT(util_write_atomic(p, text, strlen(text), 0644), 0);
	else
		EXPECT_INT(util_mkdir_p(p, 0755), 0);
	free(p);
}

static void whiteout(const char *rel)
{
	char *p = xasprintf("%s/upper/root/%s", dir, rel);

	EXPECT_INT(mknod(p, S_IFCHR, makedev(0, 0)), 0);
	free(p);
}

static void opaque(const char *rel)
{
	char *p = xasprintf("%s/upper/root/%s", dir, rel);

	EXPECT_INT(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
	free(p);
}

static char *mkfs(const char *tree)
{
	char *img = xasprintf("%s/%s.img", dir, tree), *src = xasprintf("%s/%s", dir, tree);
	char *argv[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d", src, img, "16M", NULL };

	EXPECT_INT(util_run_capture(argv, NULL, NULL), 0);
	free(src);
	return img;
}

static const struct diff_change *find(const struct diff_change *c, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(c[i].path, path))
			return &c[i];
	return NULL;
}

static void test_layers(void)
{
	struct diff_change *c = NULL;
	size_t n = 0;
	char *lower, *upper, *empty;
	const struct diff_change *e;

	char *probe = xasprintf("%s/probe", dir);
	bool can = geteuid() == 0 && mkdir(probe, 0755) == 0 &&
		   setxattr(probe, "trusted.smolvm", "y", 1, 0) == 0;

	free(probe);
	if (!can) {
		/* not root, or /tmp is itself an overlay (a container) that keeps trusted.* */
		printf("# test_layers: SKIP needs root and trusted xattrs in %s\n", dir);
		return;
	}
	/* the base */
	put("lower", "etc/profile", "base\n");
	put("lower", "etc/shells", "/bin/sh\n");
	put("lower", "etc/ssl/certs/ca.crt", "ca\n");
	put("lower", "etc/ssl/certs/other.crt", "ca2\n");
	put("lower", "etc/ssl/openssl.cnf", "cnf\n");
	put("lower", "usr/share/doc/a/README", "doc\n");
	put("lower", "mnt", NULL);
	put("lower", "home/old/notes", "n\n");
	/* what the sandbox did, as overlayfs records it */
	put("upper", "work/index", NULL);
	put("upper", "root/etc/profile", "base\nchanged\n");
	whiteout("etc/shells");
	put("upper", "root/etc/ssl/certs/own.pem", "mine\n");
	opaque("etc/ssl/certs");
	put("upper", "root/newdir/sub/file", "f\n");
	put("upper", "root/root/new.txt", "four");
	whiteout("mnt");
	put("upper", "root/home", NULL);
	whiteout("home/old");
	whiteout("etc/never-there");
	lower = mkfs("lower");
	upper = mkfs("upper");

	EXPECT_INT(diff_layers(upper, lower, &c, &n), 0);
	static const char *const want[] = {
		"M /etc/profile", "D /etc/shells", "M /etc/ssl/certs", "D /etc/ssl/certs/ca.crt",
		"D /etc/ssl/certs/other.crt", "A /etc/ssl/certs/own.pem", "D /home/old", "D /mnt",
		"A /newdir", "A /newdir/sub", "A /newdir/sub/file", "A /root", "A /root/new.txt",
	};
	EXPECT_INT(n, ARRAY_LEN(want));
	for (size_t i = 0; i < n && i < ARRAY_LEN(want); i++) {
		char *got = xasprintf("%c %s", c[i].change, c[i].path);
		EXPECT_STR(got, want[i]);
		free(got);
	}
	e = find(c, n, "/root/new.txt");
	EXPECT(e && !strcmp(e->type, "file") && e->size == 4);
	e = find(c, n, "/mnt");
	EXPECT(e && !strcmp(e->type, "dir") && e->size == 0);
	e = find(c, n, "/home/old");
	EXPECT(e && !strcmp(e->type, "dir"));
	e = find(c, n, "/etc/ssl/certs");
	EXPECT(e && !strcmp(e->type, "dir"));
	diff_free(c, n);

	/* A layer never booted has no upper directory: no changes. */
	put("empty", "lost+found", NULL);
	empty = mkfs("empty");
	EXPECT_INT(diff_layers(empty, lower, &c, &n), 0);
	EXPECT_INT(n, 0);
	diff_free(c, n);

	/* Not an ext4 image: an error that names it. */
	EXPECT_INT(diff_layers("/dev/null", lower, &c, &n), -1);
	EXPECT(strstr(err_msg(), "/dev/null") != NULL);
	free(empty);
	free(upper);
	free(lower);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(test_sizes);
	RUN(test_make);
	RUN(test_layers);
	util_rm_rf(dir);
	UNIT_EXIT();
}
