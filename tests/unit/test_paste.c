/* Unit tests for tui/paste.c: pasted text read as files to upload, or not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/util.h"
#include "tui/paste.h"
#include "tui/termpane.h"
#include "tests/unit/unit.h"

static char dir[64];

static int split(const char *text, struct paste_paths *p)
{
	return paste_split(text, strlen(text), p);
}

static bool files(const char *text, struct paste_paths *p)
{
	return paste_files(text, strlen(text), p);
}

static void quoting(void)
{
	struct paste_paths p;

	EXPECT_INT(split("'/a b/c d' \"/e f\" /g", &p), 0);
	EXPECT_INT(p.n, 3);
	if (p.n == 3) {
		EXPECT_STR(p.v[0], "/a b/c d");
		EXPECT_STR(p.v[1], "/e f");
		EXPECT_STR(p.v[2], "/g");
	}
	paste_paths_free(&p);
	/* Quotes inside a word join with it; the other quote is literal inside. */
	EXPECT_INT(split("/x'y \"z'\"a'b\"", &p), 0);
	EXPECT_INT(p.n, 1);
	if (p.n == 1)
		EXPECT_STR(p.v[0], "/xy \"za'b");
	paste_paths_free(&p);
	/* In double quotes only \" \\ \$ \` are escapes. */
	EXPECT_INT(split("\"/a\\\"b\\\\c\\d\"", &p), 0);
	if (p.n == 1)
		EXPECT_STR(p.v[0], "/a\"b\\c\\d");
	paste_paths_free(&p);
	/* How a file manager quotes a name with a single quote in it. */
	EXPECT_INT(split("'/it'\\''s'", &p), 0);
	if (p.n == 1)
		EXPECT_STR(p.v[0], "/it's");
	paste_paths_free(&p);
	EXPECT_INT(split("'/open", &p), -1);
	EXPECT_INT(p.n, 0);
	EXPECT_INT(split("\"/open", &p), -1);
	EXPECT_INT(split("/trailing\\", &p), -1);
}

static void escapes(void)
{
	struct paste_paths p;

	EXPECT_INT(split("/my\\ file.txt /b\\\\c /d\\'e", &p), 0);
	EXPECT_INT(p.n, 3);
	if (p.n == 3) {
		EXPECT_STR(p.v[0], "/my file.txt");
		EXPECT_STR(p.v[1], "/b\\c");
		EXPECT_STR(p.v[2], "/d'e");
	}
	paste_paths_free(&p);
	/* Newlines, tabs and CRs separate like spaces; runs of them count once. */
	EXPECT_INT(split("  /a\r\n/b\t\t/c\n\n", &p), 0);
	EXPECT_INT(p.n, 3);
	paste_paths_free(&p);
	EXPECT_INT(split("/long\\\nline", &p), 0);
	if (p.n == 1)
		EXPECT_STR(p.v[0], "/longline");
	paste_paths_free(&p);
	EXPECT_INT(split("", &p), 0);
	EXPECT_INT(p.n, 0);
	EXPECT_INT(paste_split("/a\0b", 4, &p), -1);
}

static void uris(void)
{
	struct paste_paths p;
	char host[256], *s, uri[400];

	s = paste_uri_path("file:///tmp/a%20b%C3%A9", 23);
	EXPECT_STR(s, "/tmp/a bé");
	free(s);
	s = paste_uri_path("file://localhost/x/y", 20);
	EXPECT_STR(s, "/x/y");
	free(s);
	s = paste_uri_path("FILE:/single/slash", 18);
	EXPECT_STR(s, "/single/slash");
	free(s);
	s = paste_uri_path("file:///a%25b?q#frag", 20);
	EXPECT_STR(s, "/a%b");
	free(s);
	EXPECT(!paste_uri_path("file://elsewhere.example/x", 26));
	EXPECT(!paste_uri_path("file:///bad%zz", 14));
	EXPECT(!paste_uri_path("file:///trunc%4", 15));
	EXPECT(!paste_uri_path("file:///nul%00", 14));
	EXPECT(!paste_uri_path("file:relative", 13));
	EXPECT(!paste_uri_path("http://host/x", 13));
	EXPECT(gethostname(host, sizeof host) == 0);
	snprintf(uri, sizeof uri, "file://%s/etc", host);
	s = paste_uri_path(uri, strlen(uri));
	EXPECT_STR(s, "/etc");
	free(s);
	/* Several URIs, one a line, as file managers put them on a clipboard. */
	EXPECT_INT(split("file:///a\r\nfile:///b%20c\r\n", &p), 0);
	EXPECT_INT(p.n, 2);
	if (p.n == 2) {
		EXPECT_STR(p.v[0], "/a");
		EXPECT_STR(p.v[1], "/b c");
	}
	paste_paths_free(&p);
	/* A URI of another machine is not a local file. */
	EXPECT_INT(split("file://remote.example/a", &p), -1);
}

static void touch(const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	EXPECT(f != NULL);
	if (f)
		fclose(f);
	free(path);
}

static void mixed(void)
{
	struct paste_paths p;
	char *text;

	touch("with space.txt");
	touch("plain");
	text = xasprintf("'%s/with space.txt' file://%s/plain %s", dir, dir, dir);
	EXPECT(files(text, &p));
	EXPECT_INT(p.n, 3);
	if (p.n == 3) {
		char *want = xasprintf("%s/with space.txt", dir);

		EXPECT_STR(p.v[0], want);
		free(want);
		EXPECT_STR(p.v[2], dir);
	}
	paste_paths_free(&p);
	free(text);
	text = xasprintf("%s/with\\ space.txt\n%s/plain\n", dir, dir);
	EXPECT(files(text, &p));
	EXPECT_INT(p.n, 2);
	paste_paths_free(&p);
	free(text);
	/* One missing file among existing ones: the whole paste is text. */
	text = xasprintf("%s/plain %s/missing", dir, dir);
	EXPECT(!files(text, &p));
	EXPECT_INT(p.n, 0);
	free(text);
}

static void not_paths(void)
{
	struct paste_paths p;

	EXPECT(!files("", &p));
	EXPECT(!files("   \n", &p));
	EXPECT(!files("echo hello", &p));
	EXPECT(!files("ls /tmp", &p));
	EXPECT(!files("tmp", &p));		/* relative: typed, even if it exists */
	EXPECT(!files("/dev/null", &p));	/* neither a file nor a folder */
	EXPECT(!files("'/tmp", &p));
	EXPECT(!files("https://example.com/x", &p));
	EXPECT(files("/tmp", &p));
	paste_paths_free(&p);
}

static void feed(struct termpane *p, const char *s)
{
	termpane_feed(p, s, strlen(s));
}

/* Where the guest's shell is, as it says in OSC 7 (or as the workbench
 * makes the guest say it), for the upload's default folder. */
static void shell_folder(void)
{
	struct termpane *p = termpane_new(5, 40);

	EXPECT_STR(p->cwd, "");
	feed(p, "\033]7;file://guest/tmp/drop%20zone\007");
	EXPECT_STR(p->cwd, "/tmp/drop zone");
	EXPECT_INT(p->cwd_seq, 1);
	feed(p, "\033]7;file://other-name/a%25b\033\\");
	EXPECT_STR(p->cwd, "/a%b");
	EXPECT_INT(p->cwd_seq, 2);
	/* Not OSC 7, or a bad one: nothing changes. */
	feed(p, "\033]8;;file:///x\007\033]7;file:///bad%zz\007\033]7;nonsense\007");
	EXPECT_STR(p->cwd, "/a%b");
	EXPECT_INT(p->cwd_seq, 2);
	termpane_free(p);
}

static void typed_paste(void)
{
	struct termpane *p = termpane_new(5, 40);

	termpane_paste(p, "ls /x", 5);
	EXPECT_INT(p->out.len, 5);
	EXPECT(p->out.len == 5 && !memcmp(p->out.data, "ls /x", 5));
	buf_consume(&p->out, p->out.len);
	/* The guest turns bracketed paste on: the paste comes marked. */
	feed(p, "\033[?2004h");
	termpane_paste(p, "hi", 2);
	EXPECT(p->out.len == 14 && !memcmp(p->out.data, "\033[200~hi\033[201~", 14));
	termpane_free(p);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/smolvm-test-paste.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(quoting);
	RUN(escapes);
	RUN(uris);
	RUN(mixed);
	RUN(not_paths);
	RUN(shell_folder);
	RUN(typed_paste);
	util_rm_rf(dir);
	UNIT_EXIT();
}
