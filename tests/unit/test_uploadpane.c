/* Unit tests for tui/uploadpane.c: Tab completion of host paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"
#include "tui/uploadpane.h"
#include "tests/unit/unit.h"

static char dir[64];

static void touch(const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f)
		fclose(f);
	free(path);
}

static size_t complete(const char *typed, char *out, size_t len, struct paste_paths *m)
{
	char *path = xasprintf("%s/%s", dir, typed);
	size_t n = uploadpane_complete(path, out, len, m);

	free(path);
	return n;
}

static void completion(void)
{
	struct paste_paths m;
	char out[512], *want;

	touch("alpha-one.txt");
	touch("alpha-two.txt");
	touch(".hidden");
	want = xasprintf("%s/beta dir", dir);
	EXPECT(mkdir(want, 0755) == 0);
	free(want);
	/* One match: in full, a folder with a slash after it. */
	EXPECT_INT(complete("be", out, sizeof out, &m), 1);
	want = xasprintf("%s/beta dir/", dir);
	EXPECT_STR(out, want);
	free(want);
	paste_paths_free(&m);
	/* Several: what they share, and the names. */
	EXPECT_INT(complete("al", out, sizeof out, &m), 2);
	want = xasprintf("%s/alpha-", dir);
	EXPECT_STR(out, want);
	free(want);
	if (m.n == 2) {
		EXPECT_STR(m.v[0], "alpha-one.txt");
		EXPECT_STR(m.v[1], "alpha-two.txt");
	}
	paste_paths_free(&m);
	EXPECT_INT(complete("alpha-t", out, sizeof out, &m), 1);
	want = xasprintf("%s/alpha-two.txt", dir);
	EXPECT_STR(out, want);
	free(want);
	paste_paths_free(&m);
	/* Hidden names only when the dot is typed. */
	EXPECT_INT(complete("", out, sizeof out, &m), 3);
	paste_paths_free(&m);
	EXPECT_INT(complete(".h", out, sizeof out, &m), 1);
	paste_paths_free(&m);
	/* Nothing: the text stays as it was. */
	EXPECT_INT(complete("zz", out, sizeof out, &m), 0);
	want = xasprintf("%s/zz", dir);
	EXPECT_STR(out, want);
	free(want);
	EXPECT_INT(uploadpane_complete("/no/such/dir/x", out, sizeof out, &m), 0);
	EXPECT_STR(out, "/no/such/dir/x");
}

static void home(void)
{
	struct paste_paths m;
	char out[512], *old = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;

	setenv("HOME", dir, 1);
	EXPECT_INT(uploadpane_complete("~/alpha-o", out, sizeof out, &m), 1);
	/* What was typed stays typed: ~ is not spelt out. */
	EXPECT_STR(out, "~/alpha-one.txt");
	paste_paths_free(&m);
	if (old) {
		setenv("HOME", old, 1);
		free(old);
	}
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/smolvm-test-upane.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(completion);
	RUN(home);
	util_rm_rf(dir);
	UNIT_EXIT();
}
