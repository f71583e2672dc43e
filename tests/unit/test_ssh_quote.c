/* ssh_quote_argv: exact output, and a round trip through a real POSIX shell. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/ssh.h"
#include "backend/util.h"
#include "tests/unit/unit.h"

static void expect_quote(int argc, char **argv, const char *want)
{
	char *got = ssh_quote_argv(argc, argv);

	EXPECT_STR(got, want);
	free(got);
}

static void test_plain(void)
{
	char *argv[] = { "uname", "-a" };

	expect_quote(2, argv, "'uname' '-a'");
}

static void test_empty(void)
{
	char *one[] = { "" };
	char *mid[] = { "a", "", "b" };

	expect_quote(0, NULL, "");
	expect_quote(1, one, "''");
	expect_quote(3, mid, "'a' '' 'b'");
}

static void test_quotes(void)
{
	char *argv[] = { "it's", "'", "''", "\"dq\"" };

	expect_quote(4, argv, "'it'\\''s' ''\\''' ''\\'''\\''' '\"dq\"'");
}

static void test_shell_chars(void)
{
	char *argv[] = { "a b", "$HOME", "`id`", "x;y", "*", "\\n", "line1\nline2", "~", "!" };

	expect_quote(9, argv,
		     "'a b' '$HOME' '`id`' 'x;y' '*' '\\n' 'line1\nline2' '~' '!'");
}

static void test_utf8(void)
{
	char *argv[] = { "h\xc3\xa9llo", "\xe2\x9c\x93", "\xf0\x9f\x90\xa7 x" };

	expect_quote(3, argv, "'h\xc3\xa9llo' '\xe2\x9c\x93' '\xf0\x9f\x90\xa7 x'");
}

/*
 * Run `printf '%s\0' QUOTED` in /bin/sh and read back NUL-separated words:
 * the shell must see exactly the argv we quoted, whatever is in it.
 */
static char *shell_round_trip(int argc, char **argv, size_t *len)
{
	char *quoted = ssh_quote_argv(argc, argv);
	char *script = malloc(strlen(quoted) + 32);
	char *out = malloc(65536);
	int pfd[2];
	pid_t pid;
	ssize_t n;
	int status;

	strcpy(script, "printf '%s\\0' ");
	strcat(script, quoted);
	free(quoted);
	*len = 0;
	if (pipe(pfd) < 0)
		return out;
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + *len, 65536 - *len)) > 0)
		*len += (size_t)n;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(script);
	return out;
}

static void test_round_trip(void)
{
	char *argv[] = { "", "it's", "a  b", "'\"'\"", "$(echo no)", "`echo no`", "x\ny\n",
			 "\t", "h\xc3\xa9llo \xf0\x9f\x90\xa7", "-n", "--", "\\", "'" };
	int argc = (int)ARRAY_LEN(argv);
	size_t len, off = 0;
	char *out = shell_round_trip(argc, argv, &len);

	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);
		EXPECT(off + l < len);
		if (off + l >= len)
			break;
		EXPECT_STR(out + off, argv[i]);
		off += l + 1;
	}
	EXPECT_INT(off, len);
	free(out);
}

int main(void)
{
	RUN(test_plain);
	RUN(test_empty);
	RUN(test_quotes);
	RUN(test_shell_chars);
	RUN(test_utf8);
	RUN(test_round_trip);
	UNIT_EXIT();
}
