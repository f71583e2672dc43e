#include "backend/args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"

static const struct arg_spec *find_long(const struct arg_spec *specs, int n,
					const char *name, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(specs[i].name) == len && !strncmp(specs[i].name, name, len))
			return &specs[i];
	return NULL;
}

static const struct arg_spec *find_short(const struct arg_spec *specs, int n, char c)
{
	for (int i = 0; i < n; i++)
		if (specs[i].short_name == c)
			return &specs[i];
	return NULL;
}

static int store_value(const char *cmd, const struct arg_spec *s, const char *val)
{
	char *end;
	long v;

	if (s->kind == ARG_STR) {
		*(const char **)s->dst = val;
		return 0;
	}
	if (s->kind == ARG_LIST) {
		struct arg_list *l = s->dst;

		l->v = xrealloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
		l->v[l->n++] = val;
		return 0;
	}
	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < s->min || v > s->max) {
		err_set("smolvm %s: %s takes a whole number from %d to %d, not '%s'",
			cmd, s->name, s->min, s->max, val);
		return -1;
	}
	*(int *)s->dst = (int)v;
	return 0;
}

int args_parse(const char *cmd, int argc, char **argv, const struct arg_spec *specs,
	       int nspecs, struct args_result *res)
{
	memset(res, 0, sizeof *res);
	res->pos = xcalloc((size_t)argc + 1, sizeof *res->pos);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct arg_spec *s;
		const char *val = NULL;

		if (res->dashdash || a[0] != '-' || a[1] == '\0') {
			res->pos[res->npos++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			res->dashdash = true;
			res->dash_at = res->npos;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			res->help = true;
			continue;
		}
		if (a[1] == '-') {
			const char *eq = strchr(a, '=');
			size_t len = eq ? (size_t)(eq - a) : strlen(a);
			s = find_long(specs, nspecs, a, len);
			if (eq)
				val = eq + 1;
		} else {
			s = a[2] == '\0' ? find_short(specs, nspecs, a[1]) : NULL;
		}
		if (!s) {
			err_set("smolvm %s: unknown option '%s' (see smolvm %s --help)", cmd, a, cmd);
			goto fail;
		}
		if (s->kind == ARG_FLAG) {
			if (val) {
				err_set("smolvm %s: %s takes no value", cmd, s->name);
				goto fail;
			}
			*(bool *)s->dst = true;
			continue;
		}
		if (!val) {
			if (i + 1 >= argc) {
				err_set("smolvm %s: %s needs a value", cmd, s->name);
				goto fail;
			}
			val = argv[++i];
		}
		if (store_value(cmd, s, val) < 0)
			goto fail;
	}
	if (!res->dashdash)
		res->dash_at = res->npos;
	return 0;
fail:
	free(res->pos);
	res->pos = NULL;
	return -1;
}
