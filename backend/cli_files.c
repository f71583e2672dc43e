/* cli_files: `smolvm upload` and `smolvm download`, files in and out of a sandbox. */
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

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define CONNECT_TIMEOUT_MS 10000

static const char upload_usage[] =
	"usage: smolvm upload FILE... --vm-id ID [--dest DIR]\n"
	"\n"
	"Copy files and folders (folders with everything in them) from the host into\n"
	"the sandbox ID over SFTP, each under its own name in DIR. Permission bits and\n"
	"modification times are kept; symbolic links inside folders stay links. A file\n"
	"is written under a hidden temporary name and renamed when complete, so it never\n"
	"shows half-written; a failed copy leaves nothing behind. Files already there\n"
	"are replaced, folders already there are merged into.\n"
	"\n"
	"  --vm-id ID   the sandbox: its id, a unique id prefix, or its name\n"
	"  --dest DIR   an existing folder in the sandbox (default: the home folder,\n"
	"               /root; relative paths start there)\n"
	"\n"
	"Every FILE is checked before anything is sent. A progress bar is drawn when\n"
	"stderr is a terminal. Exit status: 0 copied, 1 failed, 2 bad usage, 128+N\n"
	"interrupted by signal N. Needs root (it enters the sandbox's network namespace).\n";

static const char download_usage[] =
	"usage: smolvm download ID:PATH [LOCAL]\n"
	"\n"
	"Copy the file or folder PATH (folders with everything in them) out of the\n"
	"sandbox ID over SFTP: into LOCAL if that is an existing folder (default: the\n"
	"current one), else to the path LOCAL itself. A relative PATH starts in the\n"
	"guest's home folder (/root). Permission bits and modification times are kept,\n"
	"except set-user-ID and set-group-ID bits; symbolic links stay links. Files are\n"
	"written under hidden temporary names and renamed when complete; a failed copy\n"
	"leaves nothing behind.\n"
	"\n"
	"A progress bar is drawn when stderr is a terminal. Exit status: 0 copied,\n"
	"1 failed, 2 bad usage, 128+N interrupted by signal N. Needs root (it enters the\n"
	"sandbox's network namespace).\n";

static int usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "smolvm %s: %s (see smolvm %s --help)\n", cmd, msg, cmd);
	return EXIT_USAGE;
}

/* A copy in progress: the connection, the bar, the counts. */
struct copy {
	const char *cmd;
	struct sandbox sb;
	struct ssh_conn *c;
	struct sftp *s;
	struct progress_bar *bar;
	struct sftp_job job;
	int64_t t0;
};

static int copy_connect(struct copy *k)
{
	k->c = ssh_open(&k->sb, CONNECT_TIMEOUT_MS);
	if (!k->c)
		return -1;
	k->s = sftp_open(k->c, k->sb.name);
	if (!k->s)
		return -1;
	k->bar = progress_bar_new(STDERR_FILENO);
	k->job = (struct sftp_job){ .progress = progress_bar_update, .progress_arg = k->bar,
				    .cancel = &cli_interrupted };
	/* The first Ctrl-C stops the copy after the current chunk and removes the
	 * partial file; the handler resets itself, so a second one ends us at once. */
	cli_catch_signals(true);
	k->t0 = util_now_ms();
	return 0;
}

static void add_count(char *buf, size_t len, int n, const char *one, const char *many)
{
	size_t at = strlen(buf);

	if (n)
		snprintf(buf + at, len - at, "%s%d %s", at ? ", " : "", n, n == 1 ? one : many);
}

/* "uploaded 2 files, 1 folder (1.5 MiB) to demo:/root in 0.4 s (3.7 MiB/s)" */
static void print_summary(const struct copy *k, const char *verb, const char *dir,
			  const char *where)
{
	char what[96] = "", size[32], rate[32];
	int64_t ms = util_now_ms() - k->t0;

	add_count(what, sizeof what, k->job.files, "file", "files");
	add_count(what, sizeof what, k->job.dirs, "folder", "folders");
	add_count(what, sizeof what, k->job.links, "link", "links");
	if (!*what)
		strcpy(what, "nothing");
	progress_fmt_bytes(k->job.bytes, size, sizeof size);
	progress_fmt_bytes(ms > 0 ? k->job.bytes * 1000 / (uint64_t)ms : k->job.bytes, rate,
			   sizeof rate);
	fprintf(stderr, "%s %s (%s) %s %s in %.1f s (%s/s)\n", verb, what, size, dir, where,
		(double)ms / 1000.0, rate);
}

/* Report, close everything, and turn rc into the exit status. */
static int copy_finish(struct copy *k, int rc, const char *verb, const char *dir,
		       const char *where)
{
	progress_bar_clear(k->bar);
	if (rc < 0)
		fprintf(stderr, "smolvm %s: %s\n", k->cmd, err_msg());
	else if (progress_bar_active(k->bar))
		print_summary(k, verb, dir, where);
	if (k->job.skipped)
		fprintf(stderr, "smolvm %s: left out %d special file%s (sockets, FIFOs or "
			"devices)\n", k->cmd, k->job.skipped, k->job.skipped == 1 ? "" : "s");
	sftp_close(k->s);
	ssh_close(k->c);
	progress_bar_free(k->bar);
	if (rc == 0)
		return 0;
	return cli_interrupted ? 128 + cli_interrupted : EXIT_FAILED;
}

int cli_upload(int argc, char **argv)
{
	const char *id = NULL, *dest = NULL;
	const struct arg_spec specs[] = {
		{ "--vm-id", 0, ARG_STR, &id, 0, 0 },
		{ "--dest", 0, ARG_STR, &dest, 0, 0 },
	};
	struct copy k = { .cmd = "upload" };
	struct sftp_tree *t = NULL;
	struct args_result res;
	char *dir = NULL, *where = NULL;
	int rc;

	if (args_parse("upload", argc, argv, specs, ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(upload_usage);
	}
	if (!res.npos || !id || !*id || (dest && !*dest)) {
		free(res.pos);
		return usage_error("upload", !res.npos ? "no file given" :
				   dest && !*dest ? "--dest is empty" :
				   "say which sandbox with --vm-id ID");
	}
	/* Every source is checked (and sized) before anything is sent. */
	t = sftp_scan_local(res.pos, res.npos);
	free(res.pos);
	if (!t) {
		fprintf(stderr, "smolvm upload: %s\n", err_msg());
		return EXIT_FAILED;
	}
	if (cli_need_root("upload") < 0 || cli_running_sandbox(id, &k.sb) < 0) {
		sftp_tree_free(t);
		return EXIT_FAILED;
	}
	rc = copy_connect(&k);
	if (rc == 0) {
		dir = dest ? xstrdup(dest) : sftp_home(k.s);
		rc = dir ? sftp_upload(k.s, t, dir, &k.job) : -1;
		where = xasprintf("%s:%s", k.sb.name, dir ? dir : "");
	}
	rc = copy_finish(&k, rc, "uploaded", "to", where ? where : "");
	free(where);
	free(dir);
	sftp_tree_free(t);
	return rc;
}

int cli_download(int argc, char **argv)
{
	struct copy k = { .cmd = "download" };
	struct args_result res;
	const char *local, *colon;
	char *id = NULL, *where = NULL;
	int rc;

	if (args_parse("download", argc, argv, NULL, 0, &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(download_usage);
	}
	colon = res.npos ? strchr(res.pos[0], ':') : NULL;
	if (res.npos < 1 || res.npos > 2 || !colon || colon == res.pos[0]) {
		rc = usage_error("download", res.npos > 2 ? "give one ID:PATH and at most one "
				 "LOCAL" : "give the sandbox and the path in it as ID:PATH");
		free(res.pos);
		return rc;
	}
	id = xasprintf("%.*s", (int)(colon - res.pos[0]), res.pos[0]);
	local = res.npos == 2 ? res.pos[1] : ".";
	rc = -1;
	/* A missing local folder is reported before connecting to anything. */
	if (sftp_check_local_dest(local) < 0)
		fprintf(stderr, "smolvm download: %s\n", err_msg());
	else if (cli_need_root("download") == 0 && cli_running_sandbox(id, &k.sb) == 0)
		rc = 0;
	if (rc < 0) {
		free(id);
		free(res.pos);
		return EXIT_FAILED;
	}
	rc = copy_connect(&k);
	if (rc == 0)
		rc = sftp_download(k.s, colon + 1, local, &k.job);
	where = xasprintf("from %s:%s to", k.sb.name, colon + 1);
	rc = copy_finish(&k, rc, "downloaded", where, local);
	free(where);
	free(id);
	free(res.pos);
	return rc;
}
