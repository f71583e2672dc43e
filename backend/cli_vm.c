/* cli_vm: `smolvm create|ls|start|stop|rm|logs`, the sandbox lifecycle. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/disk.h"
#include "backend/paths.h"
#include "backend/qemu.h"
#include "backend/sandbox.h"
#include "backend/store.h"
#include "backend/util.h"
#include "fs/image.h"
#include "net/ingress.h"
#include "net/policy.h"
#include "net/proxy.h"
#include "net/secrets.h"

#define EXIT_USAGE 2
#define TAIL_LINES 15
/* ls asks each QEMU for its run state but never waits longer than this. */
#define LS_QMP_TIMEOUT_MS 300

static const char create_usage[] =
	"usage: smolvm create [--name N] [--mem MIB] [--cpus N] [--image KIND] [--json]\n"
	"                     [--disk SIZE] [--policy FILE]\n"
	"                     [--publish [ADDR:]HOST_PORT:GUEST_PORT]... [--secret NAME]...\n"
	"\n"
	"Boot a new sandbox and wait until it accepts commands, then print its id.\n"
	"\n"
	"  --name N      its name (default: a random one like quiet-otter); letters,\n"
	"                digits, '.', '_' and '-', unique\n"
	"  --mem MIB     guest memory in MiB (default 256)\n"
	"  --cpus N      virtual CPUs (default 1)\n"
	"  --image KIND  guest image (default tiny; build it with `smolvm image build`)\n"
	"  --disk SIZE   room for the sandbox's changes to its image, e.g. 512M or 10G\n"
	"                (default " DISK_DEFAULT_SIZE "); a sparse file, only what is written\n"
	"                takes space\n"
	"  --json        print the whole record as JSON instead of the id\n"
	"  --policy FILE its network policy (smolvm-policy(5); default: mode none, no\n"
	"                egress); checked before anything is made\n"
	"  --publish [ADDR:]HOST_PORT:GUEST_PORT\n"
	"                make the guest's TCP port reachable on the host's loopback,\n"
	"                ADDR 127.0.0.1 by default (127.0.0.0/8 or [::1]); repeatable\n"
	"  --secret NAME attach the vault's secret NAME (smolvm vault ls): the guest\n"
	"                gets NAME set to a placeholder, which the egress proxy\n"
	"                replaces by the value in requests to the secret's hosts\n"
	"                (added to the policy's \"secrets\"); repeatable\n"
	"  --from ID:SNAP  a clone of sandbox ID's snapshot SNAP (smolvm snapshot),\n"
	"                with its memory, CPUs, image and policy (published ports\n"
	"                left out); a memory snapshot resumes running, with the\n"
	"                original's addresses inside the clone's own namespace\n"
	"\n"
	"Needs root: it creates a network namespace and a tap device.\n"
	"Environment: SMOLVM_ACCEL=kvm|tcg skips the KVM check; SMOLVM_BOOT_TIMEOUT=S\n"
	"is how long to wait for the guest (default 120 s under TCG).\n";

static const char ls_usage[] =
	"usage: smolvm ls [--json]\n"
	"\n"
	"List sandboxes: ID NAME STATE UPTIME MEM CPUS ADDRESS. A sandbox whose QEMU\n"
	"died shows as crashed. --json prints an array of records, each with its\n"
	"uptime in seconds as \"uptime_s\" and, when running, \"proxy_running\". A\n"
	"running sandbox whose egress proxy died is warned about on stderr.\n";

static const char start_usage[] =
	"usage: smolvm start ID\n"
	"\n"
	"Boot a stopped (or crashed) sandbox again and wait until it accepts commands.\n"
	"On a running sandbox whose egress proxy died, start the proxy again.\n"
	"Needs root: QEMU runs inside the sandbox's network namespace.\n";

static const char stop_usage[] =
	"usage: smolvm stop [--force] ID...\n"
	"\n"
	"Shut sandboxes down: the guest is asked to power off and gets 10 s, then QEMU\n"
	"is told to quit, then killed. The sandbox keeps its network and files; start\n"
	"it again with `smolvm start`.\n"
	"\n"
	"  -f, --force   don't ask the guest, stop QEMU at once\n"
	"\n"
	"Needs root: it reaches the guest inside the sandbox's network namespace.\n";

static const char rm_usage[] =
	"usage: smolvm rm [--force] ID...\n"
	"\n"
	"Delete sandboxes and everything they own: QEMU, network namespace, tap,\n"
	"files. A running sandbox needs --force (or `smolvm stop` first).\n"
	"\n"
	"  -f, --force   remove running sandboxes too, killing their QEMU\n"
	"\n"
	"Needs root: it removes the sandbox's network namespace.\n";

static const char logs_usage[] =
	"usage: smolvm logs [-f] ID\n"
	"\n"
	"Print the sandbox's serial console (all boots, each after a QEMU start).\n"
	"\n"
	"  -f, --follow  keep printing new output until the sandbox stops (or Ctrl-C)\n";

static int need_root(const char *cmd, const char *why)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr, "smolvm %s needs root: it %s; run it with sudo\n", cmd, why);
	return -1;
}

static int usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "smolvm %s: %s (see smolvm %s --help)\n", cmd, msg, cmd);
	return EXIT_USAGE;
}

/* Parse options; on error or --help returns the exit status to use, else -1. */
static bool progress_shown(void)
{
	return isatty(STDERR_FILENO);
}

/* Why a boot failed: the message, then the last lines QEMU and the guest wrote. */
static void report_boot_failure(const struct sandbox *sb, const struct sandbox_booting *b,
				const char *what)
{
	char *console, *qlog;

	fprintf(stderr, "smolvm: %s sandbox %s (%s) failed: %s\n", what, sb->name, sb->id,
		err_msg());
	console = sandbox_log_tail(sb, "console.log", b->console_from, TAIL_LINES);
	qlog = sandbox_log_tail(sb, "qemu.log", b->log_from, TAIL_LINES);
	if (*console)
		fprintf(stderr, "--- last console lines ---\n%s%s", console,
			console[strlen(console) - 1] == '\n' ? "" : "\n");
	else
		fprintf(stderr, "(the guest wrote nothing on its console)\n");
	if (*qlog)
		fprintf(stderr, "--- QEMU said ---\n%s%s", qlog,
			qlog[strlen(qlog) - 1] == '\n' ? "" : "\n");
	free(qlog);
	free(console);
}

/* Boot and wait; on failure the sandbox is left stopped and the reason printed. */
static int boot(struct sandbox *sb, int64_t t0, const char *what)
{
	struct sandbox_booting b = { .pidfd = -1 };

	if (sandbox_boot(sb, &b) < 0) {
		fprintf(stderr, "smolvm: %s sandbox %s (%s) failed: %s\n", what, sb->name, sb->id,
			err_msg());
		return -1;
	}
	if (progress_shown())
		fprintf(stderr, "booting sandbox %s (%s)... ", sb->name, sb->accel);
	if (sandbox_wait_ready(sb, &b, t0, &cli_interrupted) < 0) {
		if (progress_shown())
			fputs("failed\n", stderr);
		report_boot_failure(sb, &b, what);
		return -1;
	}
	if (progress_shown())
		fprintf(stderr, "ready in %.1f s\n", (double)sb->ready_ms / 1000.0);
	return 0;
}

static cJSON *record_json(const struct sandbox *sb)
{
	cJSON *o = store_to_json(sb);

	cJSON_AddNumberToObject(o, "uptime_s", (double)sandbox_uptime_s(sb));
	if (!strcmp(sb->state, SB_RUNNING))
		cJSON_AddBoolToObject(o, "proxy_running", proxy_pid(sb) > 0);
	return o;
}

/* create after its options are parsed: npos is the number of arguments besides them. */
static int create(const char *cmd, int npos, const struct sandbox_opts *o, bool json,
		  int64_t t0)
{
	struct sandbox sb;
	int rc;

	if (npos)
		return usage_error(cmd, "takes no arguments besides options");
	if (o->name && !store_name_valid(o->name)) {
		char *msg = xasprintf("--name '%s' %s", o->name, store_name_problem(o->name));
		rc = usage_error(cmd, msg);
		free(msg);
		return rc;
	}
	if (!image_kind_known(o->image)) {
		char *msg = xasprintf("unknown image kind '%s'", o->image);
		rc = usage_error(cmd, msg);
		free(msg);
		return rc;
	}
	if (need_root(cmd, "creates a network namespace and a tap device") < 0)
		return 1;
	if (o->policy && ingress_check(o->policy, NULL) < 0) {
		fprintf(stderr, "smolvm create: %s\n", err_msg());
		return 1;
	}

	/* Ctrl-C during a boot cleans up instead of leaving a half-made sandbox. */
	cli_catch_signals(false);
	if (sandbox_create(o, &sb) < 0) {
		fprintf(stderr, "smolvm: create failed: %s\n", err_msg());
		return 1;
	}
	if (cli_interrupted || boot(&sb, t0, "create") < 0) {
		if (sandbox_rm(&sb) < 0)
			fprintf(stderr, "smolvm: cleaning up sandbox %s failed too: %s\n",
				sb.id, err_msg());
		return cli_interrupted ? 128 + cli_interrupted : 1;
	}
	if (json)
		cli_print_json(record_json(&sb));
	else
		printf("%s\n", sb.id);
	return 0;
}

int cli_create(int argc, char **argv)
{
	int64_t t0 = util_now_ms();
	const char *name = NULL, *image = IMAGE_DEFAULT_KIND, *policy_file = NULL, *from = NULL;
	const char *disk = DISK_DEFAULT_SIZE;
	int64_t disk_bytes = 0;
	int mem = 256, cpus = 1, rc;
	bool json = false;
	struct arg_list publish = { 0 }, secret = { 0 };
	struct arg_spec specs[] = {
		{ "--name", 0, ARG_STR, &name, 0, 0 },
		{ "--mem", 0, ARG_INT, &mem, SANDBOX_MIN_MEM_MIB, 1 << 20 },
		{ "--cpus", 0, ARG_INT, &cpus, 1, 64 },
		{ "--image", 0, ARG_STR, &image, 0, 0 },
		{ "--disk", 0, ARG_STR, &disk, 0, 0 },
		{ "--json", 0, ARG_FLAG, &json, 0, 0 },
		{ "--policy", 0, ARG_STR, &policy_file, 0, 0 },
		{ "--publish", 0, ARG_LIST, &publish, 0, 0 },
		{ "--secret", 0, ARG_LIST, &secret, 0, 0 },
		{ "--from", 0, ARG_STR, &from, 0, 0 },
	};
	struct args_result res;
	struct sandbox_opts o;
	struct policy *policy;

	rc = cli_parse(argv[0], argc, argv, specs, ARRAY_LEN(specs), create_usage, -1, NULL, &res);
	if (rc < 0 && from) {
		/* A clone is the snapshot's machine: only its name is new. */
		if (res.npos || mem != 256 || cpus != 1 || strcmp(image, IMAGE_DEFAULT_KIND) ||
		    policy_file || publish.n || secret.n)
			rc = usage_error(argv[0], "--from takes only --name and --json");
		else
			rc = cli_snapshot_clone(from, name, json);
		free(res.pos);
	} else if (rc < 0) {
		/* Checked before anything is made: a bad policy must not cost a boot. */
		rc = disk_parse_size(disk, &disk_bytes);
		if (rc == 0)
			rc = cli_policy_for_create(policy_file, &publish, &policy);
		if (rc == 0 && secret.n) {
			struct policy *with;

			rc = secrets_policy_with(policy, (char *const *)secret.v, (size_t)secret.n,
						 &with);
			if (rc < 0) {
				char *msg = xstrdup(err_msg());

				err_set("--secret: %s", msg);
				free(msg);
			}
			policy_unref(policy);
			policy = rc == 0 ? with : NULL;
		}
		if (rc < 0) {
			fprintf(stderr, "smolvm create: %s\n", err_msg());
			rc = 1;
		} else {
			o = (struct sandbox_opts){ .name = name, .image = image, .mem_mib = mem,
						   .cpus = cpus, .policy = policy,
						   .disk_bytes = disk_bytes };
			rc = create(argv[0], res.npos, &o, json, t0);
			policy_unref(policy);
		}
		free(res.pos);
	}
	free(publish.v);
	free(secret.v);
	return rc;
}

/* The state to show: the record's, or QEMU's own when it knows better (paused). */
static void live_state(struct sandbox *sb)
{
	char status[sizeof sb->state];

	if (strcmp(sb->state, SB_RUNNING) ||
	    sandbox_qmp_status(sb, status, sizeof status, LS_QMP_TIMEOUT_MS) < 0)
		return;
	if (strcmp(status, "running"))
		snprintf(sb->state, sizeof sb->state, "%s", status);
}

/* ls leaves out what it cannot read, but never silently. */
static void warn_broken(const char *id, const char *why, void *arg)
{
	(void)arg;
	fprintf(stderr, "smolvm ls: warning: %s (smolvm rm --force %s removes what it left)\n",
		why, id);
}

int cli_ls(int argc, char **argv)
{
	bool json = false;
	struct arg_spec specs[] = { { "--json", 0, ARG_FLAG, &json, 0, 0 } };
	struct args_result res;
	struct sandbox *all;
	size_t n;
	int rc, namew = 4;

	if ((rc = cli_parse(argv[0], argc, argv, specs, ARRAY_LEN(specs), ls_usage, -1, NULL, &res)) >= 0)
		return rc;
	rc = res.npos;
	free(res.pos);
	if (rc)
		return usage_error(argv[0], "takes no arguments besides options");
	if (store_list(&all, &n) < 0) {
		fprintf(stderr, "smolvm: %s\n", err_msg());
		return 1;
	}
	store_each_broken(warn_broken, NULL);
	for (size_t i = 0; i < n; i++) {
		live_state(&all[i]);
		if ((int)strlen(all[i].name) > namew)
			namew = (int)strlen(all[i].name);
	}
	if (json) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, record_json(&all[i]));
		cli_print_json(arr);
	} else {
		printf("%-8s  %-*s  %-8s  %-7s  %-6s  %-4s  %s\n", "ID", namew, "NAME", "STATE",
		       "UPTIME", "MEM", "CPUS", "ADDRESS");
		for (size_t i = 0; i < n; i++) {
			const struct sandbox *sb = &all[i];
			int64_t up = sandbox_uptime_s(sb);
			char upbuf[16], mem[16];

			if (up > 0 || store_qemu_alive(sb))
				util_fmt_duration(up, upbuf, sizeof upbuf);
			else
				snprintf(upbuf, sizeof upbuf, "-");
			snprintf(mem, sizeof mem, "%dM", sb->mem_mib);
			printf("%-8s  %-*s  %-8s  %-7s  %-6s  %-4d  %s\n", sb->id, namew, sb->name,
			       sb->state, upbuf, mem, sb->cpus, sb->guest_ip);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].state, SB_RUNNING) && proxy_pid(&all[i]) == 0)
			fprintf(stderr, "smolvm: warning: the egress proxy of %s is not running, so "
				"the sandbox has no network; `smolvm start %s` restarts it\n",
				all[i].name, all[i].name);
	free(all);
	return 0;
}

/* One ID positional, resolved. Returns -1 when it did, else the exit status. */
static int one_sandbox(const char *cmd, struct args_result *res, struct sandbox *sb)
{
	int npos = res->npos;
	const char *key = npos ? res->pos[0] : NULL;

	if (npos != 1) {
		free(res->pos);
		return usage_error(cmd, npos ? "takes one sandbox id" : "needs a sandbox id");
	}
	if (store_resolve(key, sb) < 0) {
		fprintf(stderr, "smolvm %s: %s\n", cmd, err_msg());
		free(res->pos);
		return 1;
	}
	free(res->pos);
	return -1;
}

int cli_start(int argc, char **argv)
{
	int64_t t0 = util_now_ms();
	struct args_result res;
	struct sandbox sb;
	int rc;

	if ((rc = cli_parse(argv[0], argc, argv, NULL, 0, start_usage, -1, NULL, &res)) >= 0)
		return rc;
	if ((rc = one_sandbox(argv[0], &res, &sb)) >= 0)
		return rc;
	if (store_qemu_alive(&sb) && !strcmp(sb.state, SB_RUNNING) && proxy_pid(&sb) == 0) {
		/* The guest is fine but cut off: bring its network back. */
		if (need_root(argv[0], "starts the sandbox's egress proxy") < 0)
			return 1;
		if (proxy_start(&sb) < 0) {
			fprintf(stderr, "smolvm start: %s\n", err_msg());
			return 1;
		}
		fprintf(stderr, "smolvm start: %s was running without its egress proxy; restarted it\n",
			sb.name);
		return 0;
	}
	if (store_qemu_alive(&sb)) {
		fprintf(stderr, "smolvm start: sandbox %s is already %s\n", sb.name,
			strcmp(sb.state, SB_CREATING) ? "running" : "starting");
		return 1;
	}
	if (need_root(argv[0], "runs QEMU inside the sandbox's network namespace") < 0)
		return 1;
	cli_catch_signals(false);
	return boot(&sb, t0, "start") < 0 ? (cli_interrupted ? 128 + cli_interrupted : 1) : 0;
}

int cli_stop(int argc, char **argv)
{
	bool force = false;
	struct arg_spec specs[] = { { "--force", 'f', ARG_FLAG, &force, 0, 0 } };
	struct args_result res;
	int rc, status = 0;

	if ((rc = cli_parse(argv[0], argc, argv, specs, ARRAY_LEN(specs), stop_usage, -1, NULL, &res)) >= 0)
		return rc;
	if (res.npos == 0) {
		free(res.pos);
		return usage_error(argv[0], "needs a sandbox id");
	}
	for (int i = 0; i < res.npos; i++) {
		int64_t t0 = util_now_ms();
		struct sandbox sb;

		if (store_resolve(res.pos[i], &sb) < 0) {
			fprintf(stderr, "smolvm stop: %s\n", err_msg());
			status = 1;
			continue;
		}
		if (!store_qemu_alive(&sb)) {
			fprintf(stderr, "smolvm stop: sandbox %s is not running (it is %s)\n",
				sb.name, sb.state);
			status = 1;
			continue;
		}
		/* Stopping under a running create would leave it failing for no
		 * reason it can tell; --force means it. */
		if (!strcmp(sb.state, SB_CREATING) && !force) {
			fprintf(stderr, "smolvm stop: sandbox %s is still starting: wait for it, or "
				"use stop --force to cut its boot short\n", sb.name);
			status = 1;
			continue;
		}
		if (need_root(argv[0], "reaches the guest inside the sandbox's network namespace")) {
			status = 1;
			break;
		}
		if (progress_shown())
			fprintf(stderr, "stopping sandbox %s... ", sb.name);
		if (sandbox_stop(&sb, force) < 0) {
			if (progress_shown())
				fputs("failed\n", stderr);
			fprintf(stderr, "smolvm stop: %s: %s\n", sb.name, err_msg());
			status = 1;
		} else if (progress_shown()) {
			fprintf(stderr, "stopped in %.1f s\n", (double)(util_now_ms() - t0) / 1000.0);
		}
	}
	free(res.pos);
	return status;
}

/* rm of an id whose directory is there but whose record is unreadable:
 * with --force, remove what it left; otherwise say how. Returns 0 if it
 * removed one, -1 after saying why not. */
static int rm_broken(const char *cmd, const char *key, bool force)
{
	struct sandbox sb;
	char *dir = paths_vm_dir(key);
	bool there = store_id_valid(key) && util_exists(dir);

	free(dir);
	if (!there || store_load(key, &sb) == 0) {
		store_resolve(key, &sb);
		fprintf(stderr, "smolvm rm: %s\n", err_msg());
		return -1;
	}
	if (!force) {
		fprintf(stderr, "smolvm rm: %s; use rm --force %s to remove what it left\n",
			err_msg(), key);
		return -1;
	}
	if (need_root(cmd, "removes the sandbox's network namespace"))
		return -1;
	if (sandbox_rm_broken(key) < 0) {
		fprintf(stderr, "smolvm rm: %s: %s\n", key, err_msg());
		return -1;
	}
	return 0;
}

int cli_rm(int argc, char **argv)
{
	bool force = false;
	struct arg_spec specs[] = { { "--force", 'f', ARG_FLAG, &force, 0, 0 } };
	struct args_result res;
	int rc, status = 0;

	if ((rc = cli_parse(argv[0], argc, argv, specs, ARRAY_LEN(specs), rm_usage, -1, NULL, &res)) >= 0)
		return rc;
	if (res.npos == 0) {
		free(res.pos);
		return usage_error(argv[0], "needs a sandbox id");
	}
	for (int i = 0; i < res.npos; i++) {
		struct sandbox sb;

		if (store_resolve(res.pos[i], &sb) < 0) {
			if (rm_broken(argv[0], res.pos[i], force) < 0)
				status = 1;
			continue;
		}
		if (store_qemu_alive(&sb) && !force) {
			fprintf(stderr, "smolvm rm: sandbox %s is %s: stop it first (smolvm stop "
				"%s) or use rm --force\n", sb.name,
				strcmp(sb.state, SB_CREATING) ? "running" : "still starting", sb.name);
			status = 1;
			continue;
		}
		if (need_root(argv[0], "removes the sandbox's network namespace")) {
			status = 1;
			break;
		}
		if (sandbox_rm(&sb) < 0) {
			fprintf(stderr, "smolvm rm: %s: %s\n", sb.name, err_msg());
			status = 1;
		}
	}
	free(res.pos);
	return status;
}

static int copy_new(int fd, const char *path)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < n; ) {
			ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;	/* stdout closed (| head): stop quietly */
			off += w;
		}
	}
	if (n < 0) {
		fprintf(stderr, "smolvm logs: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int cli_logs(int argc, char **argv)
{
	bool follow = false;
	struct arg_spec specs[] = { { "--follow", 'f', ARG_FLAG, &follow, 0, 0 } };
	struct args_result res;
	struct sandbox sb;
	char *path;
	int rc, fd, pidfd;

	if ((rc = cli_parse(argv[0], argc, argv, specs, ARRAY_LEN(specs), logs_usage, -1, NULL, &res)) >= 0)
		return rc;
	if ((rc = one_sandbox(argv[0], &res, &sb)) >= 0)
		return rc;
	path = paths_vm_file(sb.id, "console.log");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? 0 : 1;
		if (rc)
			fprintf(stderr, "smolvm logs: cannot open %s: %s\n", path, strerror(errno));
		free(path);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = copy_new(fd, path) < 0;
	/* Follow while this QEMU lives; its pidfd says when it is gone. */
	pidfd = follow && !rc && store_qemu_alive(&sb) ? qemu_pidfd(sb.pid) : -1;
	while (pidfd >= 0) {
		int gone = qemu_wait_exit(pidfd, 50);

		if (copy_new(fd, path) < 0) {
			rc = 1;
			break;
		}
		if (gone)
			break;
	}
	if (pidfd >= 0)
		close(pidfd);
	close(fd);
	free(path);
	return rc;
}
