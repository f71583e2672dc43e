#include "tui/transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/ssh.h"
#include "backend/util.h"
#include "fs/progress.h"
#include "fs/sftp.h"
#include "tui/draw.h"

#define CONNECT_TIMEOUT_MS 10000
#define ASK_CWD_TIMEOUT_MS 5000
#define IDLE_CLOSE_MS 60000
#define WAKE_EVERY_MS 100

/*
 * For each login shell on a pseudo-terminal (pid == session id, tty_nr a
 * pts major 136-143): its folder, as OSC 7, written to its own terminal.
 * The fields after "pid (comm) " in /proc/PID/stat are state, ppid, pgrp,
 * session, tty_nr; a name with ") " in it is cut at the last one.
 */
static const char ask_cwd_script[] =
	"for d in /proc/[0-9]*; do "
	"read -r l <\"$d/stat\" 2>/dev/null || continue; "
	"p=${d#/proc/}; set -- ${l##*) }; "
	"[ \"$4\" = \"$p\" ] && [ \"$5\" -ne 0 ] || continue; "
	"m=$(( ($5 >> 8) & 4095 )); [ $m -ge 136 ] && [ $m -le 143 ] || continue; "
	"n=$(( (m - 136) * 256 + (($5 & 255) | (($5 >> 12) & 1048320)) )); "
	"c=$(readlink \"$d/cwd\") || continue; "
	"printf '\\033]7;file://%s%s\\007' \"$(hostname)\" "
	"\"$(printf %s \"$c\" | sed 's/%/%25/g')\" >/dev/pts/$n; "
	"done";

struct transfer_lane {
	struct transfers *q;
	struct sandbox sb;
	pthread_t thread;
	bool running;			/* the thread is there */
	bool joinable;			/* a thread was started and not joined yet */
	bool ask_cwd;
	bool want_conn;			/* connect even with nothing queued */
	struct ssh_conn *conn;
	struct sftp *sftp;
};

struct progress_ctx {
	struct transfers *q;
	struct transfer *t;
	int64_t last_wake;
};

static void wake_ui(struct transfers *q)
{
	if (write(q->pipe[1], "x", 1) < 0) {
		/* a full pipe: the loop is woken already */
	}
}

int transfers_init(struct transfers *q)
{
	memset(q, 0, sizeof *q);
	if (pipe2(q->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		err_set("cannot create a pipe for transfers: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	q->next_id = q->next_batch = 1;
	return 0;
}

void transfers_lock(struct transfers *q)
{
	pthread_mutex_lock(&q->lock);
}

void transfers_unlock(struct transfers *q)
{
	pthread_mutex_unlock(&q->lock);
}

static void transfer_free(struct transfer *t)
{
	free(t->local);
	free(t->name);
	free(t->dest);
	free(t);
}

void transfers_free(struct transfers *q)
{
	transfers_lock(q);
	q->stop = true;
	for (size_t i = 0; i < q->n; i++)
		q->v[i]->cancel = 1;
	/* A thread waiting on its sandbox gives up at once. */
	for (size_t i = 0; i < q->nlanes; i++)
		if (q->lanes[i]->conn)
			shutdown(ssh_fd(q->lanes[i]->conn), SHUT_RDWR);
	pthread_cond_broadcast(&q->wake);
	transfers_unlock(q);
	for (size_t i = 0; i < q->nlanes; i++) {
		if (q->lanes[i]->joinable)
			pthread_join(q->lanes[i]->thread, NULL);
		free(q->lanes[i]);
	}
	for (size_t i = 0; i < q->n; i++)
		transfer_free(q->v[i]);
	free(q->v);
	free(q->lanes);
	close(q->pipe[0]);
	close(q->pipe[1]);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->lock);
	memset(q, 0, sizeof *q);
}

/* The next entry queued for the lane's sandbox, or NULL. Lock held. */
static struct transfer *next_for(struct transfer_lane *l)
{
	for (size_t i = 0; i < l->q->n; i++)
		if (l->q->v[i]->state == XFER_QUEUED && !strcmp(l->q->v[i]->sb_id, l->sb.id))
			return l->q->v[i];
	return NULL;
}

/* Lock held on entry and return; dropped while connecting. */
static void disconnect(struct transfer_lane *l)
{
	struct ssh_conn *c = l->conn;
	struct sftp *s = l->sftp;

	l->conn = NULL;
	l->sftp = NULL;
	transfers_unlock(l->q);
	sftp_close(s);
	if (c)
		ssh_close(c);
	transfers_lock(l->q);
}

static int connect_lane(struct transfer_lane *l)
{
	struct sandbox sb = l->sb;
	struct ssh_conn *c;
	struct sftp *s = NULL;

	if (l->conn)
		return 0;
	transfers_unlock(l->q);
	c = ssh_open(&sb, CONNECT_TIMEOUT_MS);
	if (c) {
		s = sftp_open(c, sb.name);
		if (!s) {
			ssh_close(c);
			c = NULL;
		}
	}
	transfers_lock(l->q);
	if (!c)
		return -1;
	l->conn = c;
	l->sftp = s;
	if (l->q->stop)
		shutdown(ssh_fd(c), SHUT_RDWR);
	return 0;
}

/* Lock held; dropped while the guest runs the script. */
static void ask_cwd(struct transfer_lane *l)
{
	struct ssh_conn *c = l->conn;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), rc;

	l->ask_cwd = false;
	transfers_unlock(l->q);
	rc = ssh_exec_timeout(c, ask_cwd_script, -1, null, null, ASK_CWD_TIMEOUT_MS);
	if (null >= 0)
		close(null);
	transfers_lock(l->q);
	if (rc == SSH_TIMED_OUT)
		disconnect(l);
}

static void on_progress(void *arg, const struct progress_info *p)
{
	struct progress_ctx *x = arg;
	int64_t now = util_now_ms();

	transfers_lock(x->q);
	x->t->done = p->done;
	x->t->total = p->total;
	x->t->files_done = p->files_done;
	x->t->files_total = p->files_total;
	transfers_unlock(x->q);
	if (now - x->last_wake >= WAKE_EVERY_MS) {
		x->last_wake = now;
		wake_ui(x->q);
	}
}

/* Lock held; dropped while copying. */
static void run_one(struct transfer_lane *l, struct transfer *t)
{
	struct progress_ctx x = { .q = l->q, .t = t };
	struct sftp_job job = { .progress = on_progress, .progress_arg = &x, .cancel = &t->cancel };
	char *local = xstrdup(t->local), *dest = xstrdup(t->dest);
	struct sftp_tree *tree;
	int rc = -1;

	t->state = XFER_RUNNING;
	t->started_ms = util_now_ms();
	wake_ui(l->q);
	if (connect_lane(l) == 0) {
		struct sftp *s = l->sftp;

		transfers_unlock(l->q);
		tree = sftp_scan_local(&local, 1);
		if (tree) {
			transfers_lock(l->q);
			t->total = sftp_tree_bytes(tree);
			t->files_total = sftp_tree_files(tree);
			transfers_unlock(l->q);
			rc = sftp_upload(s, tree, dest, &job);
			sftp_tree_free(tree);
		}
		transfers_lock(l->q);
	}
	t->ended_ms = util_now_ms();
	if (rc == 0) {
		t->state = XFER_DONE;
		t->done = t->total;
		t->files_done = t->files_total;
	} else if (t->cancel) {
		t->state = XFER_CANCELLED;
	} else {
		t->state = XFER_FAILED;
		snprintf(t->error, sizeof t->error, "%s", err_msg());
	}
	/* After a failure the connection may be what broke: the next entry
	 * starts on a new one. */
	if (rc != 0 && l->conn)
		disconnect(l);
	free(local);
	free(dest);
	wake_ui(l->q);
}

static void *lane_main(void *arg)
{
	struct transfer_lane *l = arg;
	struct transfers *q = l->q;
	int64_t idle_since = util_now_ms();

	transfers_lock(q);
again:
	while (!q->stop) {
		struct transfer *t = next_for(l);

		if (l->want_conn || l->ask_cwd) {
			l->want_conn = false;
			if (connect_lane(l) == 0 && l->ask_cwd)
				ask_cwd(l);
			l->ask_cwd = false;
			idle_since = util_now_ms();
			continue;
		}
		if (t) {
			run_one(l, t);
			idle_since = util_now_ms();
			continue;
		}
		if (util_now_ms() - idle_since >= IDLE_CLOSE_MS)
			break;
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&q->wake, &q->lock, &ts);
		}
	}
	disconnect(l);
	/* Work that came while the connection was closing. */
	if (!q->stop && (next_for(l) || l->want_conn || l->ask_cwd)) {
		idle_since = util_now_ms();
		goto again;
	}
	l->running = false;
	transfers_unlock(q);
	return NULL;
}

/* The lane of sb, its thread started if need be. Lock held. */
static struct transfer_lane *lane_for(struct transfers *q, const struct sandbox *sb)
{
	struct transfer_lane *l = NULL;

	for (size_t i = 0; i < q->nlanes && !l; i++)
		if (!strcmp(q->lanes[i]->sb.id, sb->id))
			l = q->lanes[i];
	if (!l) {
		l = xcalloc(1, sizeof *l);
		l->q = q;
		q->lanes = xrealloc(q->lanes, (q->nlanes + 1) * sizeof *q->lanes);
		q->lanes[q->nlanes++] = l;
	}
	/* A thread that ended was not joined yet. */
	if (!l->running && l->joinable) {
		pthread_join(l->thread, NULL);
		l->joinable = false;
	}
	/* A later boot of the sandbox: the old connection is no good. */
	if (l->sb.pid != sb->pid || l->sb.started != sb->started) {
		if (l->conn)
			shutdown(ssh_fd(l->conn), SHUT_RDWR);
	}
	l->sb = *sb;
	if (!l->running) {
		l->running = l->joinable = !pthread_create(&l->thread, NULL, lane_main, l);
	}
	pthread_cond_broadcast(&q->wake);
	return l;
}

void transfers_batch(struct transfers *q)
{
	transfers_lock(q);
	q->next_batch++;
	transfers_unlock(q);
}

static char *last_component(const char *path)
{
	size_t len = strlen(path);
	const char *b;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (b = path + len; b > path && b[-1] != '/'; b--)
		;
	return xasprintf("%.*s", (int)(path + len - b), b);
}

void transfers_add(struct transfers *q, const struct sandbox *sb, const char *local,
		   const char *dest_dir)
{
	struct transfer *t = xcalloc(1, sizeof *t);
	struct transfer_lane *l;

	snprintf(t->sb_id, sizeof t->sb_id, "%s", sb->id);
	snprintf(t->sb_name, sizeof t->sb_name, "%s", sb->name);
	t->local = xstrdup(local);
	t->name = last_component(local);
	t->dest = xstrdup(dest_dir);
	t->state = XFER_QUEUED;
	transfers_lock(q);
	t->id = q->next_id++;
	t->batch = q->next_batch;
	q->v = xrealloc(q->v, (q->n + 1) * sizeof *q->v);
	q->v[q->n++] = t;
	l = lane_for(q, sb);
	if (!l->running) {
		t->state = XFER_FAILED;
		snprintf(t->error, sizeof t->error, "cannot start a thread for the copy");
	}
	transfers_unlock(q);
}

void transfers_prepare(struct transfers *q, const struct sandbox *sb, bool ask)
{
	struct transfer_lane *l;

	transfers_lock(q);
	l = lane_for(q, sb);
	l->want_conn = true;
	l->ask_cwd = l->ask_cwd || ask;
	transfers_unlock(q);
}

void transfers_cancel(struct transfers *q, unsigned id)
{
	transfers_lock(q);
	for (size_t i = 0; i < q->n; i++) {
		struct transfer *t = q->v[i];

		if (t->id != id)
			continue;
		t->cancel = 1;
		if (t->state == XFER_QUEUED) {
			t->state = XFER_CANCELLED;
			t->ended_ms = util_now_ms();
		}
	}
	transfers_unlock(q);
}

void transfers_clear(struct transfers *q)
{
	size_t o = 0;

	transfers_lock(q);
	for (size_t i = 0; i < q->n; i++) {
		struct transfer *t = q->v[i];

		if (t->state == XFER_QUEUED || t->state == XFER_RUNNING)
			q->v[o++] = t;
		else
			transfer_free(t);
	}
	q->n = o;
	transfers_unlock(q);
}

void transfers_drain(struct transfers *q)
{
	char buf[64];

	while (read(q->pipe[0], buf, sizeof buf) > 0)
		;
}

static bool finished(const struct transfer *t)
{
	return t->state == XFER_DONE || t->state == XFER_FAILED || t->state == XFER_CANCELLED;
}

bool transfers_outcome(struct transfers *q, char *msg, size_t len, bool *failed)
{
	bool found = false;

	transfers_lock(q);
	for (size_t i = 0; i < q->n && !found; i++) {
		unsigned b = q->v[i]->batch;
		int done = 0, bad = 0, cancelled = 0, all = 0;
		const struct transfer *first_bad = NULL, *t0 = q->v[i];
		uint64_t bytes = 0;
		bool complete = true;
		char size[32];

		if (q->v[i]->reported)
			continue;
		for (size_t j = 0; j < q->n; j++) {
			const struct transfer *t = q->v[j];

			if (t->batch != b)
				continue;
			all++;
			complete = complete && finished(t);
			done += t->state == XFER_DONE;
			cancelled += t->state == XFER_CANCELLED;
			if (t->state == XFER_FAILED && !bad++)
				first_bad = t;
			bytes += t->state == XFER_DONE ? t->total : 0;
		}
		if (!complete)
			continue;
		for (size_t j = 0; j < q->n; j++)
			if (q->v[j]->batch == b)
				q->v[j]->reported = true;
		found = true;
		*failed = bad > 0;
		progress_fmt_bytes(bytes, size, sizeof size);
		if (bad)
			snprintf(msg, len, "upload of %s to %s failed: %s%s", first_bad->name,
				 first_bad->sb_name, first_bad->error,
				 all > 1 ? " (the upload pane lists each file)" : "");
		else if (cancelled && !done)
			snprintf(msg, len, "upload to %s cancelled", t0->sb_name);
		else
			snprintf(msg, len, "uploaded %d item%s (%s) to %s:%s%s", done,
				 done == 1 ? "" : "s", size, t0->sb_name, t0->dest,
				 cancelled ? ", the rest cancelled" : "");
	}
	transfers_unlock(q);
	return found;
}

void transfers_summary(struct transfers *q, char *buf, size_t len)
{
	const struct transfer *run = NULL;
	int queued = 0, pos = 0, all = 0;

	buf[0] = '\0';
	transfers_lock(q);
	for (size_t i = 0; i < q->n; i++) {
		queued += q->v[i]->state == XFER_QUEUED;
		if (q->v[i]->state == XFER_RUNNING && !run)
			run = q->v[i];
	}
	/* Where the running entry is in its batch: "2/3". */
	for (size_t i = 0; run && i < q->n; i++) {
		if (q->v[i]->batch != run->batch)
			continue;
		all++;
		if (q->v[i] == run)
			pos = all;
	}
	if (run)
		snprintf(buf, len, "%s %.24s %d%% %d/%d", draw_glyph("↑", "up"), run->name,
			 run->total ? (int)(run->done * 100 / run->total) : 0, pos, all);
	else if (queued)
		snprintf(buf, len, "%s %d queued", draw_glyph("↑", "up"), queued);
	transfers_unlock(q);
}

bool transfers_busy(struct transfers *q)
{
	bool busy = false;

	transfers_lock(q);
	for (size_t i = 0; i < q->n && !busy; i++)
		busy = !finished(q->v[i]);
	transfers_unlock(q);
	return busy;
}
