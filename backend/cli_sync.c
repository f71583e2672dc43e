/* cli_sync: `smolvm sync`, a host folder kept mirrored into a sandbox until stopped. */
#include <cJSON.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/ssh.h"
#include "backend/store.h"
#include "backend/util.h"
#include "fs/progress.h"
#include "fs/sftp.h"
#include "fs/sync.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define CONNECT_TIMEOUT_MS 10000
/* How often the sandbox's state is looked at while nothing happens. */
#define STATE_CHECK_MS 1000
/* A sandbox that still runs but cannot be reached is tried this often. */
#define RECONNECT_TRIES 10
#define RECONNECT_PAUSE_MS 1000

static const char sync_usage[] =
	"usage: smolvm sync HOSTDIR ID:GUESTDIR [--delete] [--json] [--quiet]\n"
	"\n"
	"Mirror the folder HOSTDIR into GUESTDIR in the sandbox ID, one way, and keep\n"
	"it mirrored as files change on the host (inotify), until stopped with Ctrl-C\n"
	"or SIGTERM; then a summary is printed and the exit status is 0.\n"
	"\n"
	"  --delete   also remove what GUESTDIR has that HOSTDIR does not, in the first\n"
	"             pass, and replace a guest folder by a host file of the same name\n"
	"             (and the other way round)\n"
	"  --json     one JSON object per line on stdout instead of the text lines\n"
	"  --quiet    no line per file (failures are still reported on stderr)\n"
	"\n"
	"Rules:\n"
	"  - One way, the host wins: what is changed in GUESTDIR is overwritten by\n"
	"    the host's file the next time that file changes; nothing is ever copied\n"
	"    back. A file is copied when its size, modification time or permission\n"
	"    bits differ; it appears in the guest whole (written under a hidden\n"
	"    temporary name, then renamed), with the host's mode and mtime.\n"
	"  - First a full pass copies what differs. Then a file is copied once its\n"
	"    writer closes it (a burst of writes copies it once), new folders are\n"
	"    watched and copied, and files or folders deleted or moved away on the\n"
	"    host are removed from the guest (with or without --delete).\n"
	"  - Left out: symbolic links, sockets, FIFOs and devices (the guest keeps\n"
	"    what it has under those names). Folders only the guest has are kept\n"
	"    unless --delete.\n"
	"  - GUESTDIR is made if it is missing (its parent must exist); a relative\n"
	"    GUESTDIR starts in the guest's home folder (/root). / is refused.\n"
	"  - /root/.ssh, which holds the key smolvm logs in with, is never removed\n"
	"    (nor a folder holding it), with or without --delete.\n"
	"  - If the sandbox stops, sync ends with status 1 and says so. If it runs\n"
	"    but cannot be reached, sync reconnects and makes a full pass again.\n"
	"\n"
	"Output: \"+ PATH\" added, \"~ PATH\" changed, \"- PATH\" removed (folders end\n"
	"in /), \"! PATH: WHY\" failed (on stderr). --json objects have \"event\"\n"
	"(added, changed, removed, failed, watching, reconnected, summary), \"path\",\n"
	"\"type\" (file or dir), \"bytes\" and \"error\". Needs root (it enters the\n"
	"sandbox's network namespace).\n";

struct run {
	struct sandbox sb;
	struct ssh_conn *c;
	struct sftp *s;
	struct sync *y;
	char *guest_dir;	/* absolute */
	bool json, quiet;
};

static const char *const what_names[] = {
	[SYNC_ADDED] = "added", [SYNC_CHANGED] = "changed", [SYNC_REMOVED] = "removed",
	[SYNC_FAILED] = "failed",
};

static void json_line(cJSON *o)
{
	cli_print_json(o);
	fflush(stdout);
}

static cJSON *json_event(const char *event)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "event", event);
	return o;
}

static void on_change(void *arg, const struct sync_change *ch)
{
	struct run *r = arg;
	static const char marks[] = { [SYNC_ADDED] = '+', [SYNC_CHANGED] = '~',
				      [SYNC_REMOVED] = '-', [SYNC_FAILED] = '!' };

	if (ch->what == SYNC_FAILED && !r->json) {
		fprintf(stderr, "! %s: %s\n", ch->path, ch->error);
		return;
	}
	if (r->quiet && ch->what != SYNC_FAILED)
		return;
	if (r->json) {
		cJSON *o = json_event(what_names[ch->what]);

		cJSON_AddStringToObject(o, "path", ch->path);
		cJSON_AddStringToObject(o, "type", ch->dir ? "dir" : "file");
		if (ch->what == SYNC_ADDED || ch->what == SYNC_CHANGED)
			cJSON_AddNumberToObject(o, "bytes", (double)ch->bytes);
		if (ch->error)
			cJSON_AddStringToObject(o, "error", ch->error);
		json_line(o);
		return;
	}
	printf("%c %s%s\n", marks[ch->what], ch->path, ch->dir ? "/" : "");
	fflush(stdout);
}

static void disconnect(struct run *r)
{
	sftp_close(r->s);
	ssh_close(r->c);
	r->s = NULL;
	r->c = NULL;
}

static int connect_guest(struct run *r)
{
	r->c = ssh_open(&r->sb, CONNECT_TIMEOUT_MS);
	if (!r->c)
		return -1;
	r->s = sftp_open(r->c, r->sb.name);
	if (!r->s) {
		ssh_close(r->c);
		r->c = NULL;
		return -1;
	}
	return 0;
}

/* The guest folder, absolute (a relative one is from the guest's home). */
static int resolve_guest_dir(struct run *r, const char *dir)
{
	char *home;

	if (*dir == '/') {
		if (!dir[strspn(dir, "/")]) {
			err_set("cannot mirror a folder onto the whole of sandbox %s: name a "
				"folder below /", r->sb.name);
			return -1;
		}
		r->guest_dir = xstrdup(dir);
		return 0;
	}
	home = sftp_home(r->s);
	if (!home)
		return -1;
	r->guest_dir = xasprintf("%s/%s", strcmp(home, "/") ? home : "", dir);
	free(home);
	return 0;
}

/* Make the guest folder if it is missing. */
static int prepare_guest_dir(struct run *r)
{
	struct sftp_attrs a;
	int rc = sftp_lstat(r->s, r->guest_dir, &a);

	if (rc < 0)
		return -1;
	if (rc == 1)
		return sftp_mkdir(r->s, r->guest_dir, 0755);
	if ((a.mode & 0170000) != 0040000) {
		err_set("%s in sandbox %s is not a folder", r->guest_dir, r->sb.name);
		return -1;
	}
	return 0;
}

/* 1 while the sandbox runs, else 0 with err_set() saying what it is now. */
static int still_running(struct run *r)
{
	struct sandbox now;

	if (store_load(r->sb.id, &now) < 0) {
		err_set("sandbox %s is gone (removed)", r->sb.name);
		return 0;
	}
	store_reconcile(&now);
	if (!strcmp(now.state, SB_RUNNING) && now.pid == r->sb.pid)
		return 1;
	if (!strcmp(now.state, SB_RUNNING))
		err_set("sandbox %s was restarted", r->sb.name);
	else
		err_set("sandbox %s is %s", r->sb.name, now.state);
	return 0;
}

/*
 * The sandbox could not be reached: if it has stopped, that is the end
 * (-1); if it runs, connect again (0; events may have been missed, so the
 * next flush makes a full pass).
 */
static int reconnect(struct run *r)
{
	char *why = xstrdup(err_msg());

	disconnect(r);
	for (int i = 0; i < RECONNECT_TRIES && !cli_interrupted; i++) {
		if (!still_running(r))
			break;
		if (i)
			usleep(RECONNECT_PAUSE_MS * 1000);
		if (connect_guest(r) == 0) {
			free(why);
			if (r->json)
				json_line(json_event("reconnected"));
			else
				fprintf(stderr, "smolvm sync: reconnected to %s; checking everything "
					"again\n", r->sb.name);
			return 0;
		}
	}
	if (!cli_interrupted && still_running(r))
		err_set("cannot reach sandbox %s any more: %s", r->sb.name, why);
	free(why);
	return -1;
}

static void print_summary(struct run *r)
{
	const struct sync_stats *st = sync_stats(r->y);
	char size[32];

	if (r->json) {
		cJSON *o = json_event("summary");

		cJSON_AddNumberToObject(o, "added", st->added);
		cJSON_AddNumberToObject(o, "changed", st->changed);
		cJSON_AddNumberToObject(o, "removed", st->removed);
		cJSON_AddNumberToObject(o, "failed", st->failed);
		cJSON_AddNumberToObject(o, "skipped", st->skipped);
		cJSON_AddNumberToObject(o, "bytes", (double)st->bytes);
		json_line(o);
		return;
	}
	progress_fmt_bytes(st->bytes, size, sizeof size);
	fprintf(stderr, "smolvm sync: %d added, %d changed, %d removed (%s copied), %d failed, "
		"%d left out\n", st->added, st->changed, st->removed, size, st->failed,
		st->skipped);
}

/* Follow events until a signal (0) or the end of the sandbox or the host folder (-1). */
static int follow(struct run *r)
{
	int64_t next_check = util_now_ms() + STATE_CHECK_MS;

	for (;;) {
		struct pollfd p = { .fd = sync_fd(r->y), .events = POLLIN };
		int64_t now = util_now_ms();
		int wait = sync_next_ms(r->y, now), rc;

		if (cli_interrupted)
			return 0;
		if (wait < 0 || wait > next_check - now)
			wait = next_check > now ? (int)(next_check - now) : 0;
		rc = poll(&p, 1, wait);
		if (rc < 0 && errno != EINTR) {
			err_set("waiting for events: %s", strerror(errno));
			return -1;
		}
		if (cli_interrupted)
			return 0;
		now = util_now_ms();
		if (rc > 0 && sync_read_events(r->y, now) < 0)
			return -1;
		if (now >= next_check) {
			next_check = now + STATE_CHECK_MS;
			if (!still_running(r))
				return -1;
		}
		if (sync_next_ms(r->y, now) == 0 && sync_flush(r->y, r->s, now) < 0 &&
		    !cli_interrupted && reconnect(r) < 0)
			return -1;
	}
}

static int run_sync(struct run *r, struct sync_opts *o, const char *guest_dir)
{
	const char *host_dir = o->host_dir;

	if (connect_guest(r) < 0 || resolve_guest_dir(r, guest_dir) < 0)
		return -1;
	o->guest_dir = r->guest_dir;
	r->y = sync_new(o);
	if (!r->y || prepare_guest_dir(r) < 0 || sync_watch(r->y) < 0)
		return -1;
	/* The first signal ends the sync cleanly (a copy under way stops and its
	 * temporary file is removed); a second one ends us at once. */
	cli_catch_signals(true);
	while (sync_full(r->y, r->s) < 0) {
		if (cli_interrupted)
			return 0;
		if (reconnect(r) < 0)
			return -1;
	}
	if (r->json) {
		cJSON *o = json_event("watching");

		cJSON_AddStringToObject(o, "host", host_dir);
		cJSON_AddStringToObject(o, "guest", r->guest_dir);
		json_line(o);
	} else {
		fprintf(stderr, "smolvm sync: %s is in step with %s:%s; watching for changes "
			"(Ctrl-C to stop)\n", host_dir, r->sb.name, r->guest_dir);
	}
	return follow(r);
}

int cli_sync(int argc, char **argv)
{
	bool del = false, json = false, quiet = false;
	const struct arg_spec specs[] = {
		{ "--delete", 0, ARG_FLAG, &del, 0, 0 },
		{ "--json", 0, ARG_FLAG, &json, 0, 0 },
		{ "--quiet", 'q', ARG_FLAG, &quiet, 0, 0 },
	};
	struct run r = { 0 };
	struct args_result res;
	const char *colon;
	char *id;
	int rc;

	if (args_parse("sync", argc, argv, specs, ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(sync_usage);
	}
	colon = res.npos == 2 ? strchr(res.pos[1], ':') : NULL;
	if (!colon || colon == res.pos[1] || !colon[1]) {
		fprintf(stderr, "smolvm sync: give the host folder and the sandbox's folder as "
			"HOSTDIR ID:GUESTDIR (see smolvm sync --help)\n");
		free(res.pos);
		return EXIT_USAGE;
	}
	r.json = json;
	r.quiet = quiet;
	setvbuf(stdout, NULL, _IOLBF, 0);
	id = xasprintf("%.*s", (int)(colon - res.pos[1]), res.pos[1]);
	rc = EXIT_FAILED;
	if (cli_need_root("sync") == 0 && cli_running_sandbox(id, &r.sb) == 0) {
		struct sync_opts o = { .host_dir = res.pos[0], .delete = del, .report = on_change,
				       .report_arg = &r, .cancel = &cli_interrupted };

		rc = run_sync(&r, &o, colon + 1);
		if (rc < 0)
			fprintf(stderr, "smolvm sync: %s\n", err_msg());
		if (r.y)
			print_summary(&r);
		rc = rc < 0 ? EXIT_FAILED : 0;
	}
	disconnect(&r);
	sync_free(r.y);
	free(r.guest_dir);
	free(id);
	free(res.pos);
	return rc;
}
