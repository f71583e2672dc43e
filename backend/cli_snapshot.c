/* cli_snapshot: `smolvm snapshot create|ls|restore|rm` and `smolvm create --from`. */
#include <cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/snapshot.h"
#include "backend/store.h"
#include "backend/util.h"
#include "fs/progress.h"

#define EXIT_USAGE 2

static const char snapshot_usage[] =
	"usage: smolvm snapshot create ID [--name N] [--memory] [--json]\n"
	"       smolvm snapshot ls ID [--json]\n"
	"       smolvm snapshot restore ID SNAP\n"
	"       smolvm snapshot rm ID SNAP\n"
	"\n"
	"Saved states of a sandbox, kept in its directory until it is removed.\n"
	"\n"
	"  create    save the sandbox's disk (running or stopped; a running guest\n"
	"            syncs and is paused for the copy), or with --memory its full\n"
	"            running state: memory, processes, and the disk at that moment.\n"
	"            It runs on afterwards. The name defaults to snap-N.\n"
	"  ls        NAME KIND CREATED SIZE PARENT; '*' marks the snapshot the\n"
	"            current state descends from, PARENT is what the state came from\n"
	"            when it was taken (a snapshot, or ID:SNAP for a clone)\n"
	"  restore   go back to SNAP. Disk: a running sandbox is stopped, gets the\n"
	"            saved disk and boots again. Memory: it resumes where it was\n"
	"            saved, running. A restore that fails leaves the sandbox as it was.\n"
	"  rm        delete SNAP\n"
	"\n"
	"`smolvm create --from ID:SNAP` makes a new sandbox from a snapshot.\n"
	"create and restore need root when the sandbox runs (they reach the guest\n"
	"inside its network namespace).\n";

/* A pause of the guest must not be cut short: it would stay paused. */
static void block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, old);
}

static int usage_error(const char *sub, const char *msg)
{
	fprintf(stderr, "smolvm snapshot %s: %s (see smolvm snapshot --help)\n", sub, msg);
	return EXIT_USAGE;
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm))
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	else
		snprintf(buf, len, "%lld", (long long)t);
}

static cJSON *snap_json(const struct snapshot *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddStringToObject(o, "kind", s->kind);
	cJSON_AddNumberToObject(o, "created", (double)s->created);
	cJSON_AddNumberToObject(o, "size", (double)s->size);
	cJSON_AddStringToObject(o, "parent", s->parent);
	cJSON_AddBoolToObject(o, "current", s->current);
	cJSON_AddBoolToObject(o, "has_disk", s->has_disk);
	return o;
}

/* The sandbox named key; prints why not and returns -1. */
static int resolve(const char *sub, const char *key, struct sandbox *sb)
{
	if (store_resolve(key, sb) == 0)
		return 0;
	fprintf(stderr, "smolvm snapshot %s: %s\n", sub, err_msg());
	return -1;
}

static int snap_create(int argc, char **argv)
{
	const char *name = NULL;
	bool memory = false, json = false;
	struct arg_spec specs[] = {
		{ "--name", 0, ARG_STR, &name, 0, 0 },
		{ "--memory", 0, ARG_FLAG, &memory, 0, 0 },
		{ "--json", 0, ARG_FLAG, &json, 0, 0 },
	};
	struct args_result res;
	struct progress_bar *bar;
	struct snapshot s;
	struct sandbox sb;
	sigset_t old;
	int64_t t0 = util_now_ms();
	const char *why, *key;
	int rc;

	if (args_parse("snapshot create", argc, argv, specs, ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	rc = res.npos;
	key = rc ? res.pos[0] : NULL;	/* points into argv */
	free(res.pos);
	if (res.help)
		return cli_usage(snapshot_usage);
	if (rc != 1)
		return usage_error("create", rc ? "takes one sandbox id" : "needs a sandbox id");
	if (name && (why = snapshot_name_problem(name))) {
		char *msg = xasprintf("--name '%s' %s", name, why);

		rc = usage_error("create", msg);
		free(msg);
		return rc;
	}
	if (resolve("create", key, &sb) < 0)
		return 1;
	if (store_qemu_alive(&sb) && cli_need_root("snapshot create") < 0)
		return 1;
	bar = progress_bar_new(STDERR_FILENO);
	block_signals(&old);
	rc = snapshot_create(&sb, name, memory, progress_bar_update, bar, &s);
	progress_bar_clear(bar);
	progress_bar_free(bar);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		fprintf(stderr, "smolvm snapshot create: %s\n", err_msg());
		return 1;
	}
	if (isatty(STDERR_FILENO)) {
		char size[32];

		progress_fmt_bytes(s.size, size, sizeof size);
		fprintf(stderr, "%s snapshot %s of sandbox %s: %s in %.1f s\n", s.kind, s.name,
			sb.name, size, (double)(util_now_ms() - t0) / 1000.0);
	}
	if (json)
		cli_print_json(snap_json(&s));
	else
		printf("%s\n", s.name);
	return 0;
}

static int snap_ls(int argc, char **argv)
{
	bool json = false;
	struct arg_spec specs[] = { { "--json", 0, ARG_FLAG, &json, 0, 0 } };
	struct args_result res;
	struct snapshot *all;
	struct sandbox sb;
	const char *key;
	size_t n;
	int rc, namew = 4;

	if (args_parse("snapshot ls", argc, argv, specs, ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	rc = res.npos;
	key = rc ? res.pos[0] : NULL;
	free(res.pos);
	if (res.help)
		return cli_usage(snapshot_usage);
	if (rc != 1)
		return usage_error("ls", rc ? "takes one sandbox id" : "needs a sandbox id");
	if (resolve("ls", key, &sb) < 0)
		return 1;
	if (snapshot_list(&sb, &all, &n) < 0) {
		fprintf(stderr, "smolvm snapshot ls: %s\n", err_msg());
		return 1;
	}
	if (json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, snap_json(&all[i]));
		cli_print_json(arr);
		free(all);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if ((int)strlen(all[i].name) > namew)
			namew = (int)strlen(all[i].name);
	}
	printf("  %-*s  %-6s  %-19s  %10s  %s\n", namew, "NAME", "KIND", "CREATED", "SIZE",
	       "PARENT");
	for (size_t i = 0; i < n; i++) {
		char when[32], size[32];

		fmt_time(all[i].created, when, sizeof when);
		progress_fmt_bytes(all[i].size, size, sizeof size);
		printf("%c %-*s  %-6s  %-19s  %10s  %s\n", all[i].current ? '*' : ' ', namew,
		       all[i].name, all[i].kind, when, size, *all[i].parent ? all[i].parent : "-");
	}
	free(all);
	return 0;
}

/* restore and rm: ID SNAP. */
static int snap_two(const char *sub, int argc, char **argv, struct sandbox *sb,
		    const char **snap)
{
	struct args_result res;
	int n;

	if (args_parse(sub, argc, argv, NULL, 0, &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	n = res.npos;
	if (res.help) {
		free(res.pos);
		return cli_usage(snapshot_usage);
	}
	if (n == 2)
		*snap = res.pos[1];
	if (n == 2 && resolve(sub, res.pos[0], sb) < 0) {
		free(res.pos);
		return 1;
	}
	free(res.pos);
	return n == 2 ? -1 : usage_error(sub, "takes a sandbox id and a snapshot name");
}

static int snap_restore(int argc, char **argv)
{
	struct progress_bar *bar;
	struct sandbox sb;
	const char *snap = NULL;
	int64_t t0 = util_now_ms();
	sigset_t old;
	int rc;

	if ((rc = snap_two("restore", argc, argv, &sb, &snap)) >= 0)
		return rc;
	if (cli_need_root("snapshot restore") < 0)
		return 1;
	bar = progress_bar_new(STDERR_FILENO);
	block_signals(&old);
	rc = snapshot_restore(&sb, snap, progress_bar_update, bar);
	progress_bar_clear(bar);
	progress_bar_free(bar);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		fprintf(stderr, "smolvm snapshot restore: %s\n", err_msg());
		return 1;
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "sandbox %s restored to %s in %.1f s\n", sb.name, snap,
			(double)(util_now_ms() - t0) / 1000.0);
	return 0;
}

static int snap_rm(int argc, char **argv)
{
	struct sandbox sb;
	const char *snap = NULL;
	int rc;

	if ((rc = snap_two("rm", argc, argv, &sb, &snap)) >= 0)
		return rc;
	if (snapshot_rm(&sb, snap) < 0) {
		fprintf(stderr, "smolvm snapshot rm: %s\n", err_msg());
		return 1;
	}
	return 0;
}

int cli_snapshot(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} subs[] = {
		{ "create", snap_create },
		{ "ls", snap_ls },
		{ "restore", snap_restore },
		{ "rm", snap_rm },
	};

	if (argc < 2) {
		fputs(snapshot_usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return cli_usage(snapshot_usage);
	for (size_t i = 0; i < ARRAY_LEN(subs); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "smolvm snapshot: unknown subcommand '%s'\n\n%s", argv[1],
		snapshot_usage);
	return EXIT_USAGE;
}

int cli_snapshot_clone(const char *ref, const char *name, bool json)
{
	struct progress_bar *bar;
	struct sandbox sb;
	sigset_t old;
	int64_t t0 = util_now_ms();
	int rc;

	if (cli_need_root("create") < 0)
		return 1;
	bar = progress_bar_new(STDERR_FILENO);
	block_signals(&old);
	rc = snapshot_clone(ref, name, progress_bar_update, bar, &sb);
	progress_bar_clear(bar);
	progress_bar_free(bar);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		fprintf(stderr, "smolvm create --from %s: %s\n", ref, err_msg());
		return 1;
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "sandbox %s from %s ready in %.1f s\n", sb.name, ref,
			(double)(util_now_ms() - t0) / 1000.0);
	if (json)
		cli_print_json(store_to_json(&sb));
	else
		printf("%s\n", sb.id);
	return 0;
}
