#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/store.h"
#include "backend/util.h"
#include "fs/diff.h"

#define EXIT_USAGE 2

static const char diff_usage[] =
	"usage: smolvm diff ID [--json]\n"
	"\n"
	"List what the sandbox added (A), changed (M) and deleted (D) against its\n"
	"image, one path a line, sorted. Works on a running sandbox (its writable\n"
	"layer is held still for the moment it is read) and on a stopped one.\n"
	"\n"
	"  --json  an array of {\"change\", \"path\", \"type\", \"size\"}\n";

/* A name from the guest as a line of text: bytes that would steer the
 * terminal or split the line (controls, DEL) are written as \ooo, and a
 * backslash as \\, so the guest cannot write to the user's terminal. */
static void put_name(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\\')
			fputs("\\\\", stdout);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\%03o", ch);
		else
			putchar(ch);
	}
	putchar('\n');
}

int cli_diff(int argc, char **argv)
{
	bool json = false;
	struct arg_spec specs[] = {
		{ "--json", 0, ARG_FLAG, &json, 0, 0 },
	};
	struct args_result res;
	struct sandbox sb;
	struct diff_change *c = NULL;
	size_t n = 0;
	int rc = 1;

	if (args_parse(argv[0], argc, argv, specs, (int)ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(diff_usage);
	}
	if (res.npos != 1) {
		fprintf(stderr, "smolvm diff: %s (see smolvm diff --help)\n",
			res.npos ? "one sandbox at a time" : "which sandbox? give its id or name");
		rc = EXIT_USAGE;
		goto out;
	}
	if (store_resolve(res.pos[0], &sb) < 0) {
		fprintf(stderr, "smolvm diff: %s\n", err_msg());
		goto out;
	}
	/* a running sandbox is reached over SSH, from inside its namespace */
	if (store_qemu_alive(&sb) && cli_need_root("diff") < 0)
		goto out;
	if (diff_sandbox(&sb, &c, &n) < 0) {
		fprintf(stderr, "smolvm diff: %s\n", err_msg());
		goto out;
	}
	if (json) {
		cJSON *arr = diff_to_json(c, n);
		char *text = cJSON_Print(arr);
		puts(text);
		free(text);
		cJSON_Delete(arr);
	} else {
		for (size_t i = 0; i < n; i++) {
			printf("%c ", c[i].change);
			put_name(c[i].path);
		}
	}
	diff_free(c, n);
	rc = 0;
out:
	free(res.pos);
	return rc;
}
