/* Unit tests for backend/args.c: the subcommand option parser. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/args.h"
#include "backend/util.h"
#include "tests/unit/unit.h"

/* The options of a typical command, reset before every parse. */
static bool force, json;
static const char *name;
static int mem;

static const struct arg_spec specs[] = {
	{ "--force", 'f', ARG_FLAG, &force, 0, 0 },
	{ "--json", 0, ARG_FLAG, &json, 0, 0 },
	{ "--name", 'n', ARG_STR, &name, 0, 0 },
	{ "--mem", 'm', ARG_INT, &mem, 64, 4096 },
};

/* Parse a NULL-terminated list of words (argv[0] is the command). */
static int parse(struct args_result *res, char **words)
{
	int argc = 0;

	while (words[argc])
		argc++;
	force = json = false;
	name = NULL;
	mem = 256;
	return args_parse("create", argc, words, specs, (int)ARRAY_LEN(specs), res);
}

#define PARSE(res, ...) parse(res, (char *[]){ "create", __VA_ARGS__, NULL })

static void long_and_short_options(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "--force", "--name", "box", "--mem", "512", "--json"), 0);
	EXPECT(force && json);
	EXPECT_STR(name, "box");
	EXPECT_INT(mem, 512);
	EXPECT_INT(r.npos, 0);
	EXPECT(!r.help);
	free(r.pos);

	EXPECT_INT(PARSE(&r, "-f", "-n", "b2", "-m", "64"), 0);
	EXPECT(force && !json);
	EXPECT_STR(name, "b2");
	EXPECT_INT(mem, 64);
	free(r.pos);
}

static void equals_form(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "--name=a=b", "--mem=4096"), 0);
	EXPECT_STR(name, "a=b");
	EXPECT_INT(mem, 4096);
	free(r.pos);

	/* An empty value after '=' is a value, not a missing one. */
	EXPECT_INT(PARSE(&r, "--name="), 0);
	EXPECT_STR(name, "");
	free(r.pos);
}

static void flag_with_value_rejected(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "--force=yes"), -1);
	EXPECT(strstr(err_msg(), "--force takes no value") != NULL);
	EXPECT(r.pos == NULL);
}

static void positionals_between_options(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "one", "--force", "two", "-", "--name", "x", "three"), 0);
	EXPECT_INT(r.npos, 4);
	EXPECT_STR(r.pos[0], "one");
	EXPECT_STR(r.pos[1], "two");
	EXPECT_STR(r.pos[2], "-");	/* a lone dash is a positional (stdin) */
	EXPECT_STR(r.pos[3], "three");
	EXPECT(r.pos[4] == NULL);
	EXPECT(!r.dashdash);
	EXPECT_INT(r.dash_at, 4);
	free(r.pos);
}

static void missing_value(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "--name"), -1);
	EXPECT(strstr(err_msg(), "--name needs a value") != NULL);
	EXPECT_INT(PARSE(&r, "box", "-m"), -1);
	EXPECT(strstr(err_msg(), "--mem needs a value") != NULL);
	EXPECT(strstr(err_msg(), "smolvm create") != NULL);
}

static void int_out_of_range_or_malformed(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "--mem", "63"), -1);
	EXPECT(strstr(err_msg(), "from 64 to 4096, not '63'") != NULL);
	EXPECT_INT(PARSE(&r, "--mem", "4097"), -1);
	EXPECT_INT(PARSE(&r, "--mem", "99999999999999999999"), -1);
	EXPECT_INT(PARSE(&r, "--mem", "512M"), -1);
	EXPECT(strstr(err_msg(), "'512M'") != NULL);
	EXPECT_INT(PARSE(&r, "--mem="), -1);
	EXPECT_INT(PARSE(&r, "--mem", "-100"), -1);
	/* Bounds themselves are accepted. */
	EXPECT_INT(PARSE(&r, "--mem", "64"), 0);
	EXPECT_INT(mem, 64);
	free(r.pos);
}

static void unknown_options(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "--frobnicate"), -1);
	EXPECT(strstr(err_msg(), "unknown option '--frobnicate'") != NULL);
	EXPECT(strstr(err_msg(), "smolvm create --help") != NULL);
	EXPECT_INT(PARSE(&r, "-z"), -1);
	EXPECT(strstr(err_msg(), "'-z'") != NULL);
	/* Short options do not bundle, and a long name must match whole. */
	EXPECT_INT(PARSE(&r, "-fn"), -1);
	EXPECT_INT(PARSE(&r, "--forc"), -1);
	EXPECT_INT(PARSE(&r, "--forcefully"), -1);
	EXPECT_INT(PARSE(&r, "--nam=x"), -1);
}

static void dashdash_ends_options(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "box", "--force", "--", "ls", "--json", "-l", "--"), 0);
	EXPECT(force);
	EXPECT(!json);	/* after "--" it belongs to the command */
	EXPECT(r.dashdash);
	EXPECT_INT(r.npos, 5);
	EXPECT_INT(r.dash_at, 1);
	EXPECT_STR(r.pos[0], "box");
	EXPECT_STR(r.pos[1], "ls");
	EXPECT_STR(r.pos[2], "--json");
	EXPECT_STR(r.pos[3], "-l");
	EXPECT_STR(r.pos[4], "--");
	free(r.pos);

	EXPECT_INT(PARSE(&r, "--"), 0);
	EXPECT(r.dashdash);
	EXPECT_INT(r.npos, 0);
	EXPECT_INT(r.dash_at, 0);
	free(r.pos);
}

static void help(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, "--help"), 0);
	EXPECT(r.help);
	free(r.pos);
	EXPECT_INT(PARSE(&r, "box", "-h"), 0);
	EXPECT(r.help);
	EXPECT_INT(r.npos, 1);
	free(r.pos);
	/* After "--", -h is the command's. */
	EXPECT_INT(PARSE(&r, "--", "-h"), 0);
	EXPECT(!r.help);
	EXPECT_STR(r.pos[0], "-h");
	free(r.pos);
}

static void no_arguments(void)
{
	struct args_result r;

	EXPECT_INT(PARSE(&r, NULL), 0);
	EXPECT_INT(r.npos, 0);
	EXPECT(r.pos != NULL && r.pos[0] == NULL);
	EXPECT_INT(mem, 256);	/* defaults untouched */
	EXPECT(name == NULL);
	free(r.pos);
}

static void repeated_list_option(void)
{
	struct arg_list pub = { 0 };
	const struct arg_spec list_specs[] = {
		{ "--publish", 'p', ARG_LIST, &pub, 0, 0 },
	};
	char *words[] = { "create", "--publish", "80:8080", "box", "-p", "2:3",
			  "--publish=[::1]:4:5", NULL };
	struct args_result r;

	EXPECT_INT(args_parse("create", 7, words, list_specs, 1, &r), 0);
	EXPECT_INT(pub.n, 3);
	EXPECT_STR(pub.v[0], "80:8080");
	EXPECT_STR(pub.v[1], "2:3");
	EXPECT_STR(pub.v[2], "[::1]:4:5");
	EXPECT_INT(r.npos, 1);
	EXPECT_STR(r.pos[0], "box");
	free(r.pos);
	free(pub.v);

	/* Not given: nothing allocated. */
	pub = (struct arg_list){ 0 };
	EXPECT_INT(args_parse("create", 1, words, list_specs, 1, &r), 0);
	EXPECT_INT(pub.n, 0);
	EXPECT(pub.v == NULL);
	free(r.pos);
	EXPECT_INT(args_parse("create", 2, words, list_specs, 1, &r), -1);
	EXPECT(strstr(err_msg(), "--publish needs a value") != NULL);
}

int main(void)
{
	RUN(long_and_short_options);
	RUN(equals_form);
	RUN(flag_with_value_rejected);
	RUN(positionals_between_options);
	RUN(missing_value);
	RUN(int_out_of_range_or_malformed);
	RUN(unknown_options);
	RUN(dashdash_ends_options);
	RUN(help);
	RUN(no_arguments);
	RUN(repeated_list_option);
	UNIT_EXIT();
}
