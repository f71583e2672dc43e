#include "net/ingress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/util.h"
#include "net/addr.h"
#include "net/netns.h"

/* How often the thread asks for the policy in force. */
#define TICK_MS 250
#define CONNECT_MS 5000
#define BUF_SIZE 65536
#define BACKLOG 64
/* "[::1]:65535" and the like. */
#define WHERE_MAX (ADDR_STR_MAX + 8)

/* Bytes read from one side of a connection on their way to the other. */
struct flow {
	char *buf;
	size_t len, off;	/* buf[off..len) is still to be written */
	bool eof;		/* the reading side has sent all it will */
	bool shut;		/* and that end was passed on (shutdown) */
};

struct conn {
	int fd[2];		/* [0] the client on the host, [1] the guest */
	bool connecting;	/* fd[1]'s connect() has not finished */
	int64_t deadline;
	struct policy_ingress map;	/* the entry it came through; comment NULL */
	struct flow flow[2];	/* flow[i] is read from fd[i], written to fd[!i] */
};

struct listener {
	struct policy_ingress map;	/* comment NULL */
	int fd;
};

struct ingress {
	char netns[sizeof ((struct sandbox *)0)->netns];
	struct sockaddr_in guest;	/* the guest's address; the port is each entry's */
	struct policy *(*policy_get)(void);
	ingress_say_fn *say;
	struct policy *applied;		/* the policy the listeners follow (a reference) */
	struct listener *ls;
	size_t n_ls;
	struct conn *conns[INGRESS_CONN_MAX];
	size_t n_conns;
	int64_t full_said;		/* when "too many connections" was last said */
};

static const char *where(const struct policy_ingress *in, char buf[WHERE_MAX])
{
	char a[ADDR_STR_MAX];

	addr_format(&in->host, a);
	snprintf(buf, WHERE_MAX, in->host.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 in->host_port);
	return buf;
}

static bool same_listener(const struct policy_ingress *a, const struct policy_ingress *b)
{
	return a->host_port == b->host_port && addr_equal(&a->host, &b->host);
}

/* A listening socket on the entry's host address and port, non-blocking. */
static int listen_on(const struct policy_ingress *in)
{
	struct sockaddr_storage ss;
	socklen_t sl = addr_to_sockaddr(&in->host, in->host_port, &ss);
	char w[WHERE_MAX];
	int fd, one = 1, e;

	fd = socket(in->host.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set("cannot publish %s: socket: %s", where(in, w), strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (in->host.family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) == 0 && listen(fd, BACKLOG) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == EADDRINUSE)
		err_set("%s is in use on this host already (by another sandbox or program); "
			"publish another host port", where(in, w));
	else
		err_set("cannot listen on %s: %s", where(in, w), strerror(e));
	return -1;
}

int ingress_check(const struct policy *p, const struct policy *held)
{
	for (size_t i = 0; i < p->n_ingress; i++) {
		bool is_held = false;
		int fd;

		for (size_t k = 0; held && k < held->n_ingress && !is_held; k++)
			is_held = same_listener(&p->ingress[i], &held->ingress[k]);
		if (is_held)
			continue;
		fd = listen_on(&p->ingress[i]);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

/* ---- connections ------------------------------------------------------------------- */

static void conn_free(struct conn *c)
{
	for (int i = 0; i < 2; i++) {
		if (c->fd[i] >= 0)
			close(c->fd[i]);
		free(c->flow[i].buf);
	}
	free(c);
}

static void conn_drop(struct ingress *ig, size_t i)
{
	conn_free(ig->conns[i]);
	ig->conns[i] = ig->conns[--ig->n_conns];
}

/* Start dialing the guest for a client that came in through l. */
static void conn_open(struct ingress *ig, const struct listener *l, int client)
{
	struct conn *c = xcalloc(1, sizeof *c);
	struct sockaddr_in sa = ig->guest;
	char w[WHERE_MAX];

	c->fd[0] = client;
	c->map = l->map;
	sa.sin_port = htons(l->map.guest_port);
	c->fd[1] = netns_socket(ig->netns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
	if (c->fd[1] < 0) {
		ig->say("ingress %s: %s", where(&l->map, w), err_msg());
		conn_free(c);
		return;
	}
	if (connect(c->fd[1], (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno != EINPROGRESS) {
			ig->say("ingress %s: cannot connect to guest port %u: %s",
				where(&l->map, w), l->map.guest_port, strerror(errno));
			conn_free(c);
			return;
		}
		c->connecting = true;
		c->deadline = util_now_ms() + CONNECT_MS;
	}
	for (int i = 0; i < 2; i++)
		c->flow[i].buf = xmalloc(BUF_SIZE);
	ig->conns[ig->n_conns++] = c;
}

static void accept_all(struct ingress *ig, const struct listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		char w[WHERE_MAX];

		if (fd < 0)
			return;
		if (ig->n_conns < INGRESS_CONN_MAX) {
			conn_open(ig, l, fd);
			continue;
		}
		close(fd);
		if (util_now_ms() - ig->full_said >= 1000) {
			ig->full_said = util_now_ms();
			ig->say("ingress %s: %d connections are open already; refusing more",
				where(&l->map, w), INGRESS_CONN_MAX);
		}
	}
}

static bool pending(const struct flow *f)
{
	return f->off < f->len;
}

/* The poll events side i of c waits for; 0 when none. */
static short conn_events(const struct conn *c, int i)
{
	short ev = 0;

	if (c->connecting)
		return i == 1 ? POLLOUT : 0;
	if (!c->flow[i].eof && !pending(&c->flow[i]))
		ev |= POLLIN;
	if (pending(&c->flow[!i]))
		ev |= POLLOUT;
	return ev;
}

/* Read side i if its flow has room. -1 when the connection is broken. */
static int flow_read(struct conn *c, int i)
{
	struct flow *f = &c->flow[i];
	ssize_t n;

	if (f->eof || pending(f))
		return 0;
	n = read(c->fd[i], f->buf, BUF_SIZE);
	if (n > 0) {
		f->off = 0;
		f->len = (size_t)n;
	} else if (n == 0) {
		f->eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		return -1;
	}
	return 0;
}

/* Write what flow i holds to the other side, as much as it takes now. */
static int flow_write(struct conn *c, int i)
{
	struct flow *f = &c->flow[i];

	while (pending(f)) {
		ssize_t n = send(c->fd[!i], f->buf + f->off, f->len - f->off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		f->off += (size_t)n;
	}
	f->off = f->len = 0;
	if (f->eof && !f->shut) {
		shutdown(c->fd[!i], SHUT_WR);
		f->shut = true;
	}
	return 0;
}

/* One round for c after poll filled p[0] and p[1]; false once it is over. */
static bool conn_step(struct ingress *ig, struct conn *c, const struct pollfd p[2], int64_t now)
{
	if (c->connecting) {
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		char w[WHERE_MAX];

		if (!p[1].revents && now < c->deadline)
			return true;
		if (!p[1].revents)
			soerr = ETIMEDOUT;
		else if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			/* The client sees its connection closed; this says why. */
			ig->say("ingress %s: cannot connect to guest port %u: %s",
				where(&c->map, w), c->map.guest_port, strerror(soerr));
			return false;
		}
		c->connecting = false;
		return true;
	}
	for (int i = 0; i < 2; i++) {
		if (p[i].revents & POLLERR)
			return false;
		if ((p[i].revents & (POLLIN | POLLHUP)) && flow_read(c, i) < 0)
			return false;
	}
	for (int i = 0; i < 2; i++)
		if (flow_write(c, i) < 0)
			return false;
	return !(c->flow[0].shut && c->flow[1].shut);
}

/* ---- following the policy ----------------------------------------------------------- */

static bool in_policy(const struct policy *p, const struct policy_ingress *map)
{
	for (size_t i = 0; i < p->n_ingress; i++)
		if (same_listener(&p->ingress[i], map) &&
		    p->ingress[i].guest_port == map->guest_port)
			return true;
	return false;
}

/*
 * Listen on exactly the entries of p: keep the listeners p still has,
 * open the new ones, close the rest, and cut the connections that came
 * through an entry p no longer has. strict: the first entry that cannot
 * be published fails it all (only at start, when nothing is open yet).
 */
static int follow(struct ingress *ig, const struct policy *p, bool strict)
{
	struct listener *next = xcalloc(p->n_ingress + 1, sizeof *next);
	size_t n = 0;
	char w[WHERE_MAX];

	for (size_t i = 0; i < p->n_ingress; i++) {
		const struct policy_ingress *in = &p->ingress[i];
		struct listener *old = NULL;

		for (size_t k = 0; k < ig->n_ls && !old; k++)
			if (ig->ls[k].fd >= 0 && same_listener(&ig->ls[k].map, in))
				old = &ig->ls[k];
		next[n].map = *in;
		next[n].map.comment = NULL;
		if (old) {
			next[n++].fd = old->fd;
			old->fd = -1;
			continue;
		}
		next[n].fd = listen_on(in);
		if (next[n].fd < 0) {
			if (strict) {
				while (n > 0)
					close(next[--n].fd);
				free(next);
				return -1;
			}
			ig->say("ingress[%zu]: %s; it stays unpublished until the policy "
				"changes", i, err_msg());
			continue;
		}
		ig->say("ingress: %s -> guest port %u", where(in, w), in->guest_port);
		n++;
	}
	for (size_t k = 0; k < ig->n_ls; k++) {
		if (ig->ls[k].fd >= 0) {
			ig->say("ingress: %s closed", where(&ig->ls[k].map, w));
			close(ig->ls[k].fd);
		}
	}
	free(ig->ls);
	ig->ls = next;
	ig->n_ls = n;
	for (size_t i = ig->n_conns; i-- > 0; )
		if (!in_policy(p, &ig->conns[i]->map))
			conn_drop(ig, i);
	return 0;
}

static void check_policy(struct ingress *ig)
{
	struct policy *p = ig->policy_get();

	if (p == ig->applied) {
		policy_unref(p);
		return;
	}
	follow(ig, p, false);
	policy_unref(ig->applied);
	ig->applied = p;
}

static void *ingress_thread(void *arg)
{
	struct ingress *ig = arg;
	struct pollfd *pfd = xcalloc(POLICY_INGRESS_MAX + 2 * INGRESS_CONN_MAX, sizeof *pfd);
	int64_t next_check = util_now_ms() + TICK_MS;

	for (;;) {
		size_t n = 0, nc = ig->n_conns;
		int64_t now = util_now_ms();

		if (now >= next_check) {
			check_policy(ig);
			next_check = now + TICK_MS;
			nc = ig->n_conns;
		}
		for (size_t i = 0; i < ig->n_ls; i++)
			pfd[n++] = (struct pollfd){ .fd = ig->ls[i].fd, .events = POLLIN };
		for (size_t i = 0; i < nc; i++) {
			for (int s = 0; s < 2; s++) {
				short ev = conn_events(ig->conns[i], s);

				pfd[n++] = (struct pollfd){ .fd = ev ? ig->conns[i]->fd[s] : -1,
							    .events = ev };
			}
		}
		if (poll(pfd, n, (int)(next_check - now > 0 ? next_check - now : 0)) < 0) {
			if (errno != EINTR)
				ig->say("ingress: poll: %s", strerror(errno));
			continue;
		}
		now = util_now_ms();
		/* Connections first: accepting adds to the end of the list. */
		for (size_t i = nc; i-- > 0; )
			if (!conn_step(ig, ig->conns[i], &pfd[ig->n_ls + 2 * i], now))
				conn_drop(ig, i);
		for (size_t i = 0; i < ig->n_ls; i++)
			if (pfd[i].revents & POLLIN)
				accept_all(ig, &ig->ls[i]);
	}
	return NULL;
}

int ingress_start(const struct sandbox *sb, struct policy *(*policy_get)(void),
		  ingress_say_fn *say)
{
	struct ingress *ig = xcalloc(1, sizeof *ig);
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	snprintf(ig->netns, sizeof ig->netns, "%s", sb->netns);
	ig->guest.sin_family = AF_INET;
	if (inet_pton(AF_INET, sb->guest_ip, &ig->guest.sin_addr) != 1) {
		err_set("the sandbox's guest address '%s' is not IPv4", sb->guest_ip);
		free(ig);
		return -1;
	}
	ig->policy_get = policy_get;
	ig->say = say;
	ig->applied = policy_get();
	if (follow(ig, ig->applied, true) < 0) {
		policy_unref(ig->applied);
		free(ig);
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, ingress_thread, ig);
	pthread_attr_destroy(&attr);
	if (rc) {
		err_set("cannot start the ingress thread: %s", strerror(rc));
		for (size_t i = 0; i < ig->n_ls; i++)
			close(ig->ls[i].fd);
		free(ig->ls);
		policy_unref(ig->applied);
		free(ig);
		return -1;
	}
	return 0;
}
