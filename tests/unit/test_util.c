/* Unit tests for backend/util.c: durations, directories, atomic files, rm -rf. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"
#include "tests/unit/unit.h"

static char *tmpdir;

static void fmt(int64_t secs, const char *want)
{
	char buf[32];

	util_fmt_duration(secs, buf, sizeof buf);
	EXPECT_STR(buf, want);
}

static void fmt_duration_units(void)
{
	fmt(0, "0s");
	fmt(59, "59s");
	fmt(60, "1m");
	fmt(3599, "59m");
	fmt(3600, "1h00m");
	fmt(2 * 3600 + 10 * 60 + 59, "2h10m");
	fmt(86399, "23h59m");
	fmt(86400, "1d");
	fmt(4 * 86400 + 3600, "4d");
}

static void fmt_duration_negative_is_zero(void)
{
	fmt(-5, "0s");
}

static void fmt_duration_truncates_to_buffer(void)
{
	char buf[3];

	util_fmt_duration(12345, buf, sizeof buf);
	EXPECT_INT(strlen(buf), 2);
}

static void mkdir_p_nested(void)
{
	char *deep = xasprintf("%s/a/b/c", tmpdir);
	struct stat st;

	EXPECT_INT(util_mkdir_p(deep, 0700), 0);
	EXPECT_INT(stat(deep, &st), 0);
	EXPECT(S_ISDIR(st.st_mode));
	EXPECT_INT(st.st_mode & 0777, 0700);
	/* Existing directories are fine. */
	EXPECT_INT(util_mkdir_p(deep, 0700), 0);
	free(deep);
}

static void mkdir_p_through_a_file_fails(void)
{
	char *file = xasprintf("%s/plain", tmpdir);
	char *below = xasprintf("%s/plain/sub", tmpdir);

	EXPECT_INT(util_write_atomic(file, "x", 1, 0600), 0);
	EXPECT_INT(util_mkdir_p(below, 0700), -1);
	EXPECT(strstr(err_msg(), "plain") != NULL);
	free(below);
	free(file);
}

static void write_atomic_round_trip(void)
{
	char *path = xasprintf("%s/data.bin", tmpdir);
	static const char data[] = "first line\n\0binary after NUL";
	size_t len = 0;
	char *got;
	struct stat st;

	EXPECT_INT(util_write_atomic(path, data, sizeof data, 0640), 0);
	got = util_read_file(path, &len);
	EXPECT(got != NULL);
	EXPECT_INT(len, sizeof data);
	EXPECT(got && !memcmp(got, data, sizeof data));
	EXPECT(got && got[len] == '\0');
	EXPECT_INT(stat(path, &st), 0);
	EXPECT_INT(st.st_mode & 0777, 0640);
	free(got);

	/* Replacing leaves only the new content and no temporary file behind. */
	EXPECT_INT(util_write_atomic(path, "new", 3, 0640), 0);
	got = util_read_file(path, NULL);
	EXPECT_STR(got, "new");
	free(got);
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	EXPECT(!util_exists(tmp));
	free(tmp);
	free(path);
}

static void write_atomic_into_missing_dir_fails(void)
{
	char *path = xasprintf("%s/no/such/dir/file", tmpdir);

	EXPECT_INT(util_write_atomic(path, "x", 1, 0600), -1);
	EXPECT(strstr(err_msg(), "cannot write") != NULL);
	free(path);
}

static void read_file_large(void)
{
	char *path = xasprintf("%s/large", tmpdir);
	size_t n = 100000, len = 0;
	char *data = xmalloc(n);
	char *got;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	EXPECT_INT(util_write_atomic(path, data, n, 0600), 0);
	got = util_read_file(path, &len);
	EXPECT_INT(len, n);
	EXPECT(got && !memcmp(got, data, n));
	free(got);
	free(data);
	free(path);
}

static void read_file_missing(void)
{
	char *path = xasprintf("%s/absent", tmpdir);

	EXPECT(util_read_file(path, NULL) == NULL);
	EXPECT(strstr(err_msg(), "absent") != NULL);
	free(path);
}

static void rm_rf_tree(void)
{
	char *root = xasprintf("%s/tree", tmpdir);
	char *deep = xasprintf("%s/x/y", root);
	char *f1 = xasprintf("%s/x/f", root);
	char *f2 = xasprintf("%s/x/y/g", root);
	char *link = xasprintf("%s/link", root);
	char *outside = xasprintf("%s/keep", tmpdir);

	EXPECT_INT(util_mkdir_p(deep, 0700), 0);
	EXPECT_INT(util_write_atomic(f1, "1", 1, 0600), 0);
	EXPECT_INT(util_write_atomic(f2, "2", 1, 0600), 0);
	EXPECT_INT(util_write_atomic(outside, "k", 1, 0600), 0);
	/* A symlink is removed, not followed. */
	EXPECT_INT(symlink(outside, link), 0);
	EXPECT_INT(util_rm_rf(root), 0);
	EXPECT(!util_exists(root));
	EXPECT(util_exists(outside));
	/* Missing paths are not an error; a single file works too. */
	EXPECT_INT(util_rm_rf(root), 0);
	EXPECT_INT(util_rm_rf(outside), 0);
	EXPECT(!util_exists(outside));
	free(outside);
	free(link);
	free(f2);
	free(f1);
	free(deep);
	free(root);
}

static void err_set_can_quote_itself(void)
{
	err_set("inner %d", 1);
	err_set("outer: %s", err_msg());
	EXPECT_STR(err_msg(), "outer: inner 1");
}

int main(void)
{
	/* Under $TMPDIR, so that tests/run removes it even if a check crashes. */
	const char *tmp = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/smolvm-unit.XXXXXX", tmp && *tmp ? tmp : "/tmp");

	umask(022);
	tmpdir = mkdtemp(tmpl);
	if (!tmpdir)
		die("cannot make a directory %s: %s", tmpl, strerror(errno));
	RUN(fmt_duration_units);
	RUN(fmt_duration_negative_is_zero);
	RUN(fmt_duration_truncates_to_buffer);
	RUN(mkdir_p_nested);
	RUN(mkdir_p_through_a_file_fails);
	RUN(write_atomic_round_trip);
	RUN(write_atomic_into_missing_dir_fails);
	RUN(read_file_large);
	RUN(read_file_missing);
	RUN(rm_rf_tree);
	RUN(err_set_can_quote_itself);
	util_rm_rf(tmpdir);
	free(tmpl);
	UNIT_EXIT();
}
