/* args: the option parser every subcommand uses. */
#ifndef SMOLVM_ARGS_H
#define SMOLVM_ARGS_H

#include <stdbool.h>

enum arg_kind {
	ARG_FLAG,	/* bool *: present or not */
	ARG_STR,	/* const char **: takes a value */
	ARG_INT,	/* int *: takes a whole number within [min, max] */
	ARG_LIST,	/* struct arg_list *: takes a value, may be given again */
};

/* Every value of an ARG_LIST option, in order; free(v) after args_parse,
 * whatever it returned. */
struct arg_list {
	const char **v;
	int n;
};

struct arg_spec {
	const char *name;	/* long form, "--mem" */
	char short_name;	/* 'f' for -f, or 0 */
	enum arg_kind kind;
	void *dst;
	int min, max;		/* ARG_INT only */
};

struct args_result {
	int npos;
	char **pos;		/* positional arguments, in order (points into argv) */
	bool help;		/* -h or --help was given */
	bool dashdash;		/* a "--" was seen; pos[dash_at..] came after it */
	int dash_at;
};

/*
 * Parse argv[1..argc-1] for command `cmd` (used in messages). Options may
 * come before or between positionals; "--" ends options. "--name=value"
 * and "--name value" both work. Returns 0, or -1 with err_set() naming the
 * bad option. res->pos must be freed by the caller.
 */
int args_parse(const char *cmd, int argc, char **argv, const struct arg_spec *specs,
	       int nspecs, struct args_result *res);

#endif
