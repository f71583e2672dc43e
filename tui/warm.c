#include "tui/warm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/util.h"

#define OPEN_TIMEOUT_MS 10000
#define RETRY_MAX_MS 15000

/* What a worker hands back; small enough for one atomic pipe write. */
struct warm_msg {
	unsigned worker;
	char id[16];
	struct ssh_conn *conn;
	char error[256];
};

struct worker_arg {
	struct sandbox sb;
	unsigned worker;
	int fd;
};

static unsigned next_worker = 1;

int warm_init(struct warm *w, bool enabled)
{
	memset(w, 0, sizeof *w);
	w->enabled = enabled;
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		err_set("cannot create a pipe for SSH workers: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Close without waiting for the peer: shutting the socket down first makes
 * every pending libssh2 step fail at once instead of asking to wait. */
static void conn_discard(struct ssh_conn *c)
{
	shutdown(ssh_fd(c), SHUT_RDWR);
	ssh_close(c);
}

static void session_free(struct session *s)
{
	if (s->conn)
		conn_discard(s->conn);
	free(s->closing);
	free(s);
}

void warm_free(struct warm *w)
{
	for (size_t i = 0; i < w->n; i++)
		session_free(w->s[i]);
	free(w->s);
	/* Workers still running find the pipe closed and discard their result. */
	close(w->pipe[0]);
	close(w->pipe[1]);
	memset(w, 0, sizeof *w);
}

static void *worker_main(void *p)
{
	struct worker_arg *a = p;
	struct warm_msg m = { .worker = a->worker };

	snprintf(m.id, sizeof m.id, "%s", a->sb.id);
	m.conn = ssh_open(&a->sb, OPEN_TIMEOUT_MS);
	if (!m.conn)
		snprintf(m.error, sizeof m.error, "%s", err_msg());
	if (write(a->fd, &m, sizeof m) != (ssize_t)sizeof m && m.conn)
		conn_discard(m.conn);
	free(a);
	return NULL;
}

static void start_worker(struct warm *w, struct session *s, const struct sandbox *sb)
{
	struct worker_arg *a = xmalloc(sizeof *a);
	pthread_attr_t attr;
	pthread_t t;

	a->sb = *sb;
	a->worker = s->worker = next_worker++;
	a->fd = w->pipe[1];
	s->state = WARM_OPENING;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, worker_main, a)) {
		free(a);
		s->state = WARM_FAILED;
		s->retry_at = util_now_ms() + RETRY_MAX_MS;
		snprintf(s->error, sizeof s->error, "cannot start a thread to connect");
	}
	pthread_attr_destroy(&attr);
}

/* Forget the connection (its channels go with it); why is kept for the
 * shells that were using it. */
static void session_reset(struct session *s, const char *why)
{
	if (s->conn) {
		conn_discard(s->conn);
		s->conn = NULL;
	}
	s->nclosing = 0;
	s->opening = false;
	s->orphaned = false;
	s->channels = 0;
	s->epoch++;
	s->worker = 0;
	s->state = WARM_IDLE;
	snprintf(s->error, sizeof s->error, "%s", why);
}

void warm_drop(struct warm *w, struct session *s, const char *why)
{
	(void)w;
	session_reset(s, why);
	s->state = WARM_FAILED;
	s->retry_at = util_now_ms() + 1000;
}

struct session *warm_find(struct warm *w, const char *id)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->s[i]->id, id))
			return w->s[i];
	return NULL;
}

static struct session *session_add(struct warm *w, const struct sandbox *sb)
{
	struct session *s = xcalloc(1, sizeof *s);

	snprintf(s->id, sizeof s->id, "%s", sb->id);
	w->s = xrealloc(w->s, (w->n + 1) * sizeof *w->s);
	w->s[w->n++] = s;
	return s;
}

bool warm_sync(struct warm *w, const struct sandbox *sbs, size_t n)
{
	int64_t now = util_now_ms();
	bool changed = false;

	for (size_t i = 0; i < w->n; i++)
		w->s[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		const struct sandbox *sb = &sbs[i];
		bool running = !strcmp(sb->state, SB_RUNNING);
		struct session *s = warm_find(w, sb->id);

		if (!s) {
			if (!running)
				continue;
			s = session_add(w, sb);
		}
		s->seen = true;
		snprintf(s->name, sizeof s->name, "%s", sb->name);
		if (!running || s->pid != sb->pid || s->started != sb->started) {
			/* Stopped, crashed or booted again: the old session is dead. */
			if (s->state != WARM_IDLE) {
				char why[128];

				if (running)
					snprintf(why, sizeof why, "%s was started again", sb->name);
				else if (!strcmp(sb->state, SB_CRASHED))
					snprintf(why, sizeof why, "%s crashed", sb->name);
				else if (!strcmp(sb->state, SB_STOPPING) ||
					 !strcmp(sb->state, SB_STOPPED))
					snprintf(why, sizeof why, "%s was stopped", sb->name);
				else
					snprintf(why, sizeof why, "%s is %s", sb->name, sb->state);
				session_reset(s, why);
				changed = true;
			}
			s->pid = sb->pid;
			s->started = sb->started;
			s->failures = 0;
		}
		if (!running || !w->enabled)
			continue;
		if (s->state == WARM_IDLE || (s->state == WARM_FAILED && now >= s->retry_at)) {
			start_worker(w, s, sb);
			changed = true;
		}
	}
	for (size_t i = 0; i < w->n;) {
		struct session *s = w->s[i];

		if (s->seen) {
			i++;
			continue;
		}
		if (s->state != WARM_IDLE) {
			char why[128];

			snprintf(why, sizeof why, "%s was deleted", s->name);
			session_reset(s, why);
			changed = true;
		}
		if (s->users) {
			i++;
			continue;
		}
		session_free(s);
		w->s[i] = w->s[--w->n];
		changed = true;
	}
	return changed;
}

bool warm_collect(struct warm *w)
{
	struct warm_msg m;
	bool changed = false;

	while (read(w->pipe[0], &m, sizeof m) == (ssize_t)sizeof m) {
		struct session *s = warm_find(w, m.id);

		/* A result for a boot or attempt we no longer care about. */
		if (!s || s->worker != m.worker || s->state != WARM_OPENING) {
			if (m.conn)
				conn_discard(m.conn);
			continue;
		}
		changed = true;
		s->worker = 0;
		if (!m.conn) {
			int delay = 1000 << (s->failures < 4 ? s->failures : 4);

			s->failures++;
			s->state = WARM_FAILED;
			s->retry_at = util_now_ms() + (delay < RETRY_MAX_MS ? delay : RETRY_MAX_MS);
			snprintf(s->error, sizeof s->error, "%s", m.error);
			continue;
		}
		ssh_set_blocking(m.conn, false);
		/* Replies to keepalives would arrive on a session that may have no
		 * channel to read them with; the send alone finds a dead link. */
		libssh2_keepalive_config(ssh_session(m.conn), 0, SSH_KEEPALIVE_S);
		s->conn = m.conn;
		s->state = WARM_READY;
		s->failures = 0;
		s->error[0] = '\0';
		s->epoch++;
	}
	return changed;
}

void warm_close_channel(struct session *s, LIBSSH2_CHANNEL *ch)
{
	if (libssh2_channel_free(ch) != LIBSSH2_ERROR_EAGAIN)
		return;
	s->closing = xrealloc(s->closing, (s->nclosing + 1) * sizeof *s->closing);
	s->closing[s->nclosing++] = ch;
}

/* An idle session has no channel to read with; readable means the peer
 * closed it (or sent something nobody asked for): either way start over. */
static bool idle_broken(struct session *s)
{
	struct pollfd p = { .fd = ssh_fd(s->conn), .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

bool warm_tick(struct warm *w, int *timeout_ms)
{
	bool dropped = false;

	for (size_t i = 0; i < w->n; i++) {
		struct session *s = w->s[i];
		int next;

		if (s->state != WARM_READY)
			continue;
		for (size_t j = 0; j < s->nclosing;) {
			if (libssh2_channel_free(s->closing[j]) == LIBSSH2_ERROR_EAGAIN)
				j++;
			else
				s->closing[j] = s->closing[--s->nclosing];
		}
		if (s->orphaned) {
			int rc = ssh_chan_step(s->conn, &s->orphan);

			if (rc != 0) {
				s->orphaned = s->opening = false;
				if (rc > 0)
					warm_close_channel(s, s->orphan.ch);
			}
		}
		if (!s->channels && !s->opening && !s->nclosing && idle_broken(s)) {
			warm_drop(w, s, "the SSH connection closed");
			dropped = true;
			continue;
		}
		if (ssh_keepalive(s->conn, &next) < 0) {
			warm_drop(w, s, err_msg());
			dropped = true;
			continue;
		}
		if (next * 1000 < *timeout_ms)
			*timeout_ms = next * 1000;
	}
	return dropped;
}

void warm_abandon_open(struct session *s, const struct ssh_chan_req *req)
{
	s->orphan = *req;
	s->orphaned = true;
}

struct pollfd warm_pollfd(const struct session *s)
{
	if (s->state != WARM_READY)
		return (struct pollfd){ .fd = -1 };
	return (struct pollfd){ .fd = ssh_fd(s->conn), .events = ssh_poll_events(s->conn) };
}

void warm_release(struct session *s)
{
	if (s->users > 0)
		s->users--;
}
