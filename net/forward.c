#include "net/forward.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backend/util.h"
#include "net/addr.h"
#include "net/dns.h"
#include "net/http.h"
#include "net/inject.h"
#include "net/match.h"
#include "net/tls.h"

#define BUF_SIZE (HTTP_HEAD_MAX + 16384)
#define IDLE_MS 60000		/* for the guest's next request on a kept connection */
#define IO_MS 60000		/* a read or write that makes no progress */
#define CONNECT_MS 10000	/* per upstream address */
#define RESPONSE_MS 300000	/* for upstream's response head (slow APIs) */
#define TUNNEL_IDLE_MS (3600 * 1000)
/* A denied request's body is read and dropped up to this size to keep
 * the connection; a larger one closes it. */
#define DISCARD_MAX (1u << 20)
#define METHOD_MAX 32

/* Bytes read from a socket and not yet used: buf[0..len). */
struct stream {
	int fd;
	char *buf;
	size_t cap, len;
	uint64_t got;	/* bytes read in all */
};

/* 1 more bytes, 0 end of stream, -1 error (errno; ETIMEDOUT after timeout_ms). */
static int stream_fill(struct stream *s, int timeout_ms)
{
	if (s->len == s->cap) {
		errno = ENOBUFS;
		return -1;
	}
	for (;;) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int n = poll(&p, 1, timeout_ms);
		ssize_t r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ETIMEDOUT;
		if (n <= 0)
			return -1;
		r = recv(s->fd, s->buf + s->len, s->cap - s->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		s->len += (size_t)r;
		s->got += (uint64_t)r;
		return r > 0;
	}
}

static void stream_consume(struct stream *s, size_t n)
{
	memmove(s->buf, s->buf + n, s->len - n);
	s->len -= n;
}

static int send_iov(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int send_all(int fd, const void *p, size_t n)
{
	struct iovec v = { (void *)p, n };

	return send_iov(fd, &v, 1);
}

struct text;
static void text_add(struct text *t, const char *p, size_t n);

/* Where a body goes: a socket, raw or chunked, a buffer (mem), or nowhere
 * (fd -1); through a filter that puts secrets in or scrubs them out. */
struct sink {
	int fd;
	bool chunked;
	uint64_t count;
	struct inject_stream *filter;	/* NULL: none */
	struct text *mem;
};

static int sink_raw(void *arg, const char *p, size_t n)
{
	struct sink *k = arg;
	char hdr[24];
	struct iovec v[3];

	if (k->mem) {
		text_add(k->mem, p, n);
		return 0;
	}
	if (k->fd < 0)
		return 0;
	if (!k->chunked)
		return send_all(k->fd, p, n);
	v[0] = (struct iovec){ hdr, (size_t)snprintf(hdr, sizeof hdr, "%zx\r\n", n) };
	v[1] = (struct iovec){ (void *)p, n };
	v[2] = (struct iovec){ "\r\n", 2 };
	return send_iov(k->fd, v, 3);
}

static int sink_write(struct sink *k, const char *p, size_t n)
{
	if (!n)
		return 0;
	k->count += n;
	if (k->filter)
		return inject_stream_feed(k->filter, p, n, false, sink_raw, k);
	return sink_raw(k, p, n);
}

static int sink_end(struct sink *k)
{
	if (k->filter && inject_stream_feed(k->filter, "", 0, true, sink_raw, k) < 0)
		return -1;
	return k->fd >= 0 && !k->mem && k->chunked ? send_all(k->fd, "0\r\n\r\n", 5) : 0;
}

/*
 * Move one body of the given framing from in to out, up to limit bytes.
 * What follows the body stays in in. 0, or -1 with *why when reading
 * failed or the body is malformed, -2 when writing to out failed.
 */
static int copy_body(struct stream *in, enum http_framing f, uint64_t length, struct sink *out,
		     uint64_t limit, const char **why)
{
	struct http_chunked ch = { 0 };
	uint64_t left = length;

	*why = NULL;
	for (;;) {
		int rc;

		if (f == HTTP_BODY_NONE || (f == HTTP_BODY_LENGTH && left == 0))
			break;
		if (in->len == 0) {
			rc = stream_fill(in, IO_MS);
			if (rc < 0) {
				*why = errno == ETIMEDOUT ? "body stalled" : "read error in a body";
				return -1;
			}
			if (rc == 0) {
				if (f == HTTP_BODY_CLOSE)
					break;
				*why = "connection closed in the middle of a body";
				return -1;
			}
		}
		if (f == HTTP_BODY_CHUNKED) {
			size_t dlen, used;

			rc = http_chunked_decode(&ch, in->buf, in->len, &dlen, &used, why);
			if (rc < 0)
				return -1;
			if (sink_write(out, in->buf, dlen) < 0)
				goto write_error;
			stream_consume(in, used);
			if (rc == 1)
				break;
		} else {
			size_t n = in->len;

			if (f == HTTP_BODY_LENGTH && (uint64_t)n > left)
				n = (size_t)left;
			if (sink_write(out, in->buf, n) < 0)
				goto write_error;
			stream_consume(in, n);
			left -= n;
		}
		if (out->count > limit) {
			*why = "body too large";
			return -1;
		}
	}
	if (sink_end(out) < 0)
		goto write_error;
	return 0;
write_error:
	*why = "write error in a body";
	return -2;
}

/* Copy both ways until both sides have closed (or a long silence). */
static void tunnel(int a, int b, uint64_t *a_to_b, uint64_t *b_to_a)
{
	char buf[16384];
	bool a_open = true, b_open = true;

	while (a_open || b_open) {
		struct pollfd p[2] = {
			{ .fd = a_open ? a : -1, .events = POLLIN },
			{ .fd = b_open ? b : -1, .events = POLLIN },
		};
		int n = poll(p, 2, TUNNEL_IDLE_MS);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (int i = 0; i < 2; i++) {
			int from = i ? b : a, to = i ? a : b;
			ssize_t r;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(from, buf, sizeof buf, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				if (r < 0)
					return;
				shutdown(to, SHUT_WR);
				*(i ? &b_open : &a_open) = false;
				continue;
			}
			if (send_all(to, buf, (size_t)r) < 0)
				return;
			*(i ? b_to_a : a_to_b) += (uint64_t)r;
		}
	}
}

/* ---- the decision log ------------------------------------------------------------ */

/* What one request was and what became of it. */
struct outcome {
	const char *kind;	/* "http" or "connect" */
	char method[METHOD_MAX];
	const char *scheme;
	char host[MATCH_HOST_MAX + 3];	/* as sent, without port; [v6] in brackets */
	uint16_t port;
	char *path;		/* without query; NULL if none */
	const char *decision;	/* "allow", "deny" or "error" */
	const char *rule;
	const char *reason;
	int status;
	uint64_t up, down;
	char address[ADDR_STR_MAX];
	int64_t t0;
	/* The secrets put into the request: bits of set (which it holds). */
	struct inject_set *set;
	uint64_t secrets;
};

/* A line for the decision log, starting with the fields every line has. */
static cJSON *log_start(const struct forward_env *env, const char *kind)
{
	cJSON *j = cJSON_CreateObject();
	struct timespec ts;
	struct tm tm;
	char when[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof when - strlen(when), ".%03ldZ", ts.tv_nsec / 1000000);
	cJSON_AddStringToObject(j, "time", when);
	cJSON_AddStringToObject(j, "sandbox", env->sandbox_id);
	cJSON_AddStringToObject(j, "kind", kind);
	return j;
}

/* Append j to the decision log as one line, and free it. */
static void log_finish(const struct forward_env *env, cJSON *j)
{
	char *line = cJSON_PrintUnformatted(j);

	cJSON_Delete(j);
	if (!line)
		die("out of memory");
	/* One write per line: O_APPEND keeps concurrent lines whole. */
	size_t n = strlen(line);
	line[n] = '\n';
	if (write(env->log_fd, line, n + 1) < 0)
		fprintf(stderr, "smolvm proxy: cannot write the decision log: %s\n", strerror(errno));
	free(line);
}

void forward_log_dns(const struct forward_env *env, const char *name, int qtype, int rcode)
{
	cJSON *j = log_start(env, "dns");
	char buf[DNS_TYPE_NAME_MAX];
	const char *addr = dns_answer_addr(qtype, rcode);

	cJSON_AddStringToObject(j, "name", name);
	cJSON_AddStringToObject(j, "type", dns_type_name(qtype, buf));
	cJSON_AddStringToObject(j, "rcode", dns_rcode_name(rcode, buf));
	if (addr)
		cJSON_AddStringToObject(j, "answer", addr);
	else
		cJSON_AddNullToObject(j, "answer");
	log_finish(env, j);
}

static void log_outcome(const struct forward_env *env, const struct outcome *o)
{
	cJSON *j = log_start(env, o->kind);

	cJSON_AddStringToObject(j, "method", o->method);
	cJSON_AddStringToObject(j, "scheme", o->scheme);
	cJSON_AddStringToObject(j, "host", o->host);
	cJSON_AddNumberToObject(j, "port", o->port);
	if (o->path)
		cJSON_AddStringToObject(j, "path", o->path);
	else
		cJSON_AddNullToObject(j, "path");
	cJSON_AddStringToObject(j, "decision", o->decision);
	if (o->rule)
		cJSON_AddStringToObject(j, "rule", o->rule);
	else
		cJSON_AddNullToObject(j, "rule");
	cJSON_AddStringToObject(j, "reason", o->reason ? o->reason : "");
	cJSON_AddNumberToObject(j, "status", o->status);
	cJSON_AddNumberToObject(j, "bytes_up", (double)o->up);
	cJSON_AddNumberToObject(j, "bytes_down", (double)o->down);
	if (o->address[0])
		cJSON_AddStringToObject(j, "address", o->address);
	cJSON_AddNumberToObject(j, "duration_ms", (double)(util_now_ms() - o->t0));
	if (o->secrets) {
		/* Names only: a value never reaches the log. */
		cJSON *a = cJSON_AddArrayToObject(j, "secrets");

		for (size_t i = 0; i < o->set->n && i < INJECT_MAX; i++)
			if (o->secrets & (1ull << i))
				cJSON_AddItemToArray(a, cJSON_CreateString(o->set->s[i].name));
	}
	log_finish(env, j);
}

/* ---- one request ----------------------------------------------------------------- */

struct conn {
	const struct forward_env *env;
	struct stream guest;
	bool explicit_proxy;
	uint16_t orig_port;
	/* Inside an intercepted TLS connection guest.fd is its plain side, and
	 * every request in it must be for tls_host. */
	bool tls;
	struct match_host tls_host;
	char why[TLS_ERR_MAX];	/* a reason that is not a static string */
	/* The sandbox's secrets for the request in hand (NULL: none), and
	 * those in scope for it. */
	struct inject_set *set;
	uint64_t scope;
};

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 502: return "Bad Gateway";
	case 504: return "Gateway Timeout";
	}
	return "Error";
}

/* The proxy's own answer, with a one-line text body saying why. */
static int answer(struct conn *c, int status, const char *msg, bool keep)
{
	char *body = xasprintf("smolvm egress proxy: %s\n", msg);
	char *head = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			       "Content-Length: %zu\r\n%s\r\n", status, status_text(status),
			       strlen(body), keep ? "" : "Connection: close\r\n");
	struct iovec v[2] = { { head, strlen(head) }, { body, strlen(body) } };
	int rc = send_iov(c->guest.fd, v, 2);

	free(head);
	free(body);
	return rc;
}

/* A field for the log, cut to size; bytes outside printable ASCII (a Host
 * header may carry any) become '?', so every line is valid UTF-8. */
static void copy_text(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		len = size - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	dst[len] = '\0';
}

/*
 * "host[:port]" with an IPv6 host in brackets. *port keeps its value when
 * none is given unless need_port. 0, or -1 with *why.
 */
static int split_authority(const char *s, size_t len, const char **host, size_t *hlen,
			   uint16_t *port, bool need_port, const char **why)
{
	const char *colon = NULL, *end = s + len;
	unsigned long p = 0;

	*why = "malformed host and port";
	if (len == 0 || memchr(s, '@', len))
		return -1;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return -1;
		*host = s;
		*hlen = (size_t)(close - s) + 1;
		if (close + 1 < end) {
			if (close[1] != ':')
				return -1;
			colon = close + 1;
		}
	} else {
		colon = memchr(s, ':', len);
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return -1;	/* bare IPv6 */
		*host = s;
		*hlen = colon ? (size_t)(colon - s) : len;
	}
	if (*hlen == 0)
		return -1;
	if (!colon)
		return need_port ? -1 : 0;
	if (colon + 1 == end || end - colon - 1 > 5)
		return -1;
	for (const char *q = colon + 1; q < end; q++) {
		if (*q < '0' || *q > '9')
			return -1;
		p = p * 10 + (unsigned long)(*q - '0');
	}
	if (p == 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

/* A head and its body, or TLS records, go out in separate writes: with
 * Nagle the second waits for the peer's delayed ACK, 40 ms a request. */
static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* An upstream connection for an allowed request: every address is checked
 * with match_connect() before it is dialed. fd, or -1 with *status and *why. */
static int dial(const struct policy *p, const struct policy_rule *rule,
		const struct match_host *h, uint16_t port, struct outcome *o, int *status,
		const char **why)
{
	struct addr_ip cand[64];
	size_t n = 0;
	struct addr_list own = { 0 };
	struct addrinfo *res = NULL;
	bool checked = false;
	int fd = -1, err = 0;

	*status = 403;
	if (h->is_ip) {
		cand[n++] = h->ip;
	} else if (rule && rule->n_resolve) {
		for (size_t i = 0; i < rule->n_resolve && n < ARRAY_LEN(cand); i++)
			cand[n++] = rule->resolve[i];
	} else {
		/* An absolute name: no search domain of the host applies. */
		char *fq = xasprintf("%s.", h->name);
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
		int rc = getaddrinfo(fq, NULL, &hints, &res);

		free(fq);
		if (rc) {
			*status = 502;
			*why = "cannot resolve the host";
			return -1;
		}
		for (struct addrinfo *ai = res; ai && n < ARRAY_LEN(cand); ai = ai->ai_next)
			if (addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &cand[n]) == 0)
				n++;
		freeaddrinfo(res);
	}
	if (addr_list_local(&own) < 0) {
		*status = 502;
		*why = "cannot list the host's own addresses";
		return -1;
	}
	*why = "no address to connect to";
	for (size_t i = 0; i < n && fd < 0; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = addr_to_sockaddr(&cand[i], port, &ss);
		const char *cwhy;

		if (!match_connect(p, rule, (struct sockaddr *)&ss, sl, &own, &cwhy)) {
			if (!checked)
				*why = cwhy;
			continue;
		}
		checked = true;
		addr_format(&cand[i], o->address);
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
			err = errno;
		} else {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };
			socklen_t el = sizeof err;
			int r;

			while ((r = poll(&pf, 1, CONNECT_MS)) < 0 && errno == EINTR)
				;
			if (r <= 0)
				err = r == 0 ? ETIMEDOUT : errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
				err = errno;
		}
		if (err) {
			close(fd);
			fd = -1;
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		set_nodelay(fd);
	}
	addr_list_free(&own);
	if (fd < 0 && checked) {
		*status = err == ETIMEDOUT ? 504 : 502;
		*why = err == ETIMEDOUT ? "connecting upstream timed out" : "cannot connect upstream";
	}
	return fd;
}

/* ---- kept upstream connections ------------------------------------------------- */

/*
 * An upstream connection whose response was read to its end is kept for
 * the next request to the same host, port and scheme from any of the
 * guest's connections, which saves a TCP and TLS handshake per request.
 * Each request is still judged on its own, and the kept connection's
 * address is checked against the policy in force before it is used
 * again. It is kept only briefly, well inside servers' idle timeouts so
 * that a server rarely closes one under a request, and one that has
 * anything to read (a close, stray bytes) is dropped.
 */
#define POOL_MAX 32
#define POOL_IDLE_MS 1000	/* some servers (gunicorn) close after 2 s */

struct kept {
	bool used, tls;
	int fd;
	struct match_host host;
	uint16_t port;
	struct addr_ip addr;
	int64_t since;
};

static struct kept pool[POOL_MAX];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

/* Under pool_lock: close the connections kept too long. */
static void pool_expire(int64_t now)
{
	for (size_t i = 0; i < POOL_MAX; i++) {
		if (pool[i].used && now - pool[i].since > POOL_IDLE_MS) {
			close(pool[i].fd);
			pool[i].used = false;
		}
	}
}

/* Take a kept connection to host:port (TLS or not): true with *k filled. */
static bool pool_pick(const struct match_host *h, uint16_t port, bool tls, struct kept *k)
{
	bool found = false;

	pthread_mutex_lock(&pool_lock);
	pool_expire(util_now_ms());
	for (size_t i = 0; i < POOL_MAX && !found; i++) {
		struct kept *e = &pool[i];

		if (e->used && e->tls == tls && e->port == port && match_host_same(&e->host, h)) {
			*k = *e;
			e->used = false;
			found = true;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	return found;
}

/* A kept connection for a request that rule allowed, its address allowed
 * by p too; o->address says which. Or -1: dial a new one. */
static int pool_take(const struct policy *p, const struct policy_rule *rule,
		     const struct match_host *h, uint16_t port, bool tls, struct outcome *o)
{
	struct addr_list own = { 0 };
	bool listed = false;
	struct kept k;
	int fd = -1;

	while (fd < 0 && pool_pick(h, port, tls, &k)) {
		struct pollfd pf = { .fd = k.fd, .events = POLLIN };
		struct sockaddr_storage ss;
		socklen_t sl = addr_to_sockaddr(&k.addr, port, &ss);
		const char *why;

		if (!listed && addr_list_local(&own) < 0) {
			close(k.fd);
			break;
		}
		listed = true;
		if (poll(&pf, 1, 0) == 0 &&
		    match_connect(p, rule, (struct sockaddr *)&ss, sl, &own, &why)) {
			fd = k.fd;
			addr_format(&k.addr, o->address);
		} else {
			close(k.fd);
		}
	}
	addr_list_free(&own);
	return fd;
}

/* Keep fd, to the address o->address, for the next request to host:port. */
static void pool_put(int fd, const struct match_host *h, uint16_t port, bool tls,
		     const struct outcome *o)
{
	struct kept k = { .used = true, .tls = tls, .fd = fd, .host = *h, .port = port };
	struct kept *slot = NULL;

	if (!addr_parse(o->address, strlen(o->address), ADDR_STRICT, &k.addr)) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&pool_lock);
	k.since = util_now_ms();
	pool_expire(k.since);
	for (size_t i = 0; i < POOL_MAX; i++) {
		if (!pool[i].used) {
			slot = &pool[i];
			break;
		}
		if (!slot || pool[i].since < slot->since)
			slot = &pool[i];
	}
	if (slot->used)
		close(slot->fd);	/* the oldest goes */
	*slot = k;
	pthread_mutex_unlock(&pool_lock);
}

static void set_io_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_MS / 1000 };

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* The upstream side of an allowed request: what to dial it again with. */
struct upstream {
	int fd;
	bool reused;	/* fd was kept from an earlier request */
	bool keep;	/* fd can carry another request: keep it */
	const struct policy *p;
	const struct policy_rule *rule;
	const struct match_host *host;
	uint16_t port;
};

/* A connection for u: a kept one unless fresh, else a new one (with TLS
 * when the guest's connection is TLS). 0, or -1 with *status and *why. */
static int upstream_open(struct conn *c, struct upstream *u, bool fresh, struct outcome *o,
			 int *status, const char **why)
{
	int fd = fresh ? -1 : pool_take(u->p, u->rule, u->host, u->port, c->tls, o);

	u->reused = fd >= 0;
	if (!u->reused)
		fd = dial(u->p, u->rule, u->host, u->port, o, status, why);
	if (fd >= 0 && c->tls && !u->reused) {
		int plain = tls_connect(c->env->tls, fd, u->host, c->why);

		if (plain < 0) {
			close(fd);
			*status = 502;
			*why = c->why;
			return -1;
		}
		fd = plain;
	}
	if (fd >= 0)
		set_io_timeouts(fd);
	u->fd = fd;
	return fd < 0 ? -1 : 0;
}

/*
 * A kept connection may have been closed by the server just before the
 * request went out on it. A request without a body is whole in hand, so
 * it goes again on a new connection, once. True when u->fd is that one.
 */
static bool upstream_retry(struct conn *c, const struct http_head *h, struct upstream *u,
			   struct outcome *o)
{
	const char *why;
	int status;

	if (!u->reused || h->framing != HTTP_BODY_NONE || h->websocket)
		return false;
	close(u->fd);
	return upstream_open(c, u, true, o, &status, &why) == 0;
}

/* A growing text buffer for heads. */
struct text {
	char *s;
	size_t len, cap;
};

static void text_add(struct text *t, const char *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = xrealloc(t->s, t->cap);
	}
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* A response's status line and headers as they travel to the guest: hop-by-hop
 * headers dropped, every secret's value scrubbed back to its placeholder. */
static void add_status_head(struct conn *c, struct text *t, const struct http_head *rh)
{
	char line[64], *s;
	size_t n;

	snprintf(line, sizeof line, "HTTP/1.1 %d ", rh->status);
	text_str(t, line);
	s = inject_scrub(c->set, rh->reason, rh->reason_len, &n);
	text_add(t, s, n);
	inject_free(s, n);
	text_str(t, "\r\n");
	s = inject_response_headers(c->set, rh, &n);
	text_add(t, s, n);
	inject_free(s, n);
}

static const struct http_header *find_header(const struct http_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_headers; i++)
		if (http_header_is(&h->headers[i], name))
			return &h->headers[i];
	return NULL;
}

/* A response head from upstream, 1xx interim ones passed to the guest.
 * Head length, or -1 with *status and *why. */
static int read_response(struct conn *c, struct stream *up, const char *method,
			 struct http_head *rh, int *status, const char **why)
{
	for (;;) {
		int n = http_parse_response(up->buf, up->len, method, rh, why);

		if (n < 0) {
			*status = 502;
			return -1;
		}
		if (n == 0) {
			int rc = stream_fill(up, RESPONSE_MS);

			if (rc <= 0) {
				*status = rc < 0 && errno == ETIMEDOUT ? 504 : 502;
				*why = rc < 0 && errno == ETIMEDOUT ? "upstream did not answer in time"
								    : "upstream closed without a response";
				return -1;
			}
			continue;
		}
		if (rh->status >= 200 || rh->status == 101)
			return n;
		/* Interim responses (100, 103) go to the guest as they came. */
		struct text t = { 0 };

		add_status_head(c, &t, rh);
		text_str(&t, "\r\n");
		int rc = send_all(c->guest.fd, t.s, t.len);
		free(t.s);
		stream_consume(up, (size_t)n);
		if (rc < 0) {
			*status = 0;
			*why = "the guest went away";
			return -1;
		}
	}
}

static int count_out(void *arg, const char *p, size_t n)
{
	(void)p;
	*(size_t *)arg += n;
	return 0;
}

static int send_out(void *arg, const char *p, size_t n)
{
	return send_all(*(int *)arg, p, n);
}

/*
 * Forward an allowed, non-CONNECT request on ufd and its response back.
 * The secrets in scope (c->scope) go into the request; a text response is
 * scrubbed of every secret's value as it streams, so its length may change
 * and it goes to the guest chunked (or, to HTTP/1.0, until the close).
 * Returns 1 to keep the guest connection, 0 to close it; u->keep (false
 * on entry) says whether u->fd can carry another request. u->fd may be
 * another connection by then (upstream_retry).
 */
static int exchange(struct conn *c, const struct http_head *h, size_t head_len,
		    const char *method, const char *host_header, const char *path,
		    struct upstream *u, struct outcome *o)
{
	int ufd = u->fd;
	struct text t = { 0 }, tail = { 0 }, body = { 0 };
	struct sink up = { .fd = ufd, .chunked = h->framing == HTTP_BODY_CHUNKED };
	struct stream ups = { .fd = ufd, .buf = xmalloc(BUF_SIZE), .cap = BUF_SIZE };
	struct http_head *rh = xmalloc(sizeof *rh);
	struct sink down = { .fd = c->guest.fd };
	struct inject_stream *in = xcalloc(1, sizeof *in), *scrub = xcalloc(1, sizeof *scrub);
	const struct http_header *cl;
	const char *why = NULL;
	bool keep = false, upload_cut, inject_body, buffered, scrubbing, relength, reframe;
	char line[64], *hdrs;
	size_t hdrs_len, body_len = 0;
	struct iovec v[3];
	int n;

	/* A body that a secret goes into is read whole, to be sent with its new
	 * length; a long one goes chunked, replaced as it streams. */
	inject_body = h->framing != HTTP_BODY_NONE && inject_stream_request(in, c->set, c->scope);
	buffered = inject_body && h->framing == HTTP_BODY_LENGTH && h->length <= INJECT_BODY_MAX;
	if (inject_body && !buffered) {
		up.filter = in;
		up.chunked = true;
	}
	text_str(&t, method);
	text_str(&t, " ");
	text_str(&t, path);
	text_str(&t, " HTTP/1.1\r\nHost: ");
	text_str(&t, host_header);
	text_str(&t, "\r\n");
	/* Values are only ever in inject's buffers, which it wipes. */
	hdrs = inject_request_headers(c->set, c->scope, h, &hdrs_len, &o->secrets);
	/* The head's headers point into the guest's buffer: used up from here. */
	stream_consume(&c->guest, head_len);
	if (h->expect_continue && h->framing != HTTP_BODY_NONE &&
	    send_all(c->guest.fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
		goto out;
	if (buffered) {
		struct sink mem = { .fd = -1, .mem = &body };

		n = copy_body(&c->guest, h->framing, h->length, &mem, UINT64_MAX, &why);
		o->up = mem.count;
		if (n < 0) {
			o->reason = why;
			goto out;
		}
		inject_stream_feed(in, body.s ? body.s : "", body.len, true, count_out, &body_len);
		inject_stream_free(in);
		inject_stream_request(in, c->set, c->scope);
	}
	if (buffered || (h->framing == HTTP_BODY_LENGTH && !up.chunked)) {
		snprintf(line, sizeof line, "Content-Length: %llu\r\n",
			 buffered ? (unsigned long long)body_len : (unsigned long long)h->length);
		text_str(&tail, line);
	} else if (up.chunked) {
		text_str(&tail, "Transfer-Encoding: chunked\r\n");
	}
	text_str(&tail, h->websocket ? "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
				     : "\r\n");
resend:
	v[0] = (struct iovec){ t.s, t.len };
	v[1] = (struct iovec){ hdrs, hdrs_len };
	v[2] = (struct iovec){ tail.s, tail.len };
	if (send_iov(ufd, v, 3) < 0) {
		if (upstream_retry(c, h, u, o)) {
			ufd = ups.fd = up.fd = u->fd;
			goto resend;
		}
		o->status = 502;
		o->reason = "cannot send the request upstream";
		answer(c, 502, o->reason, false);
		goto out;
	}
	if (buffered) {
		n = inject_stream_feed(in, body.s ? body.s : "", body.len, true, send_out, &ufd) < 0
			? -2 : 0;
	} else {
		n = copy_body(&c->guest, h->framing, h->length, &up, UINT64_MAX, &why);
		o->up = up.count;
	}
	o->secrets |= inject_stream_used(in);
	if (n == -1) {
		o->reason = why;
		goto out;
	}
	/* Upstream may stop reading a body it refuses (413) and answer early:
	 * that answer still goes to the guest, and the connection ends. */
	upload_cut = n == -2;
	n = read_response(c, &ups, method, rh, &o->status, &why);
	if (n < 0 && !ups.got && upstream_retry(c, h, u, o)) {
		ufd = ups.fd = up.fd = u->fd;
		goto resend;
	}
	if (n < 0) {
		o->reason = upload_cut ? "upstream stopped reading the request body" : why;
		if (o->status)
			answer(c, o->status, o->reason, false);
		goto out;
	}
	o->status = rh->status;
	if (rh->status == 101 && (!h->websocket || !rh->websocket)) {
		o->status = 502;
		o->reason = "upstream switched protocols unasked";
		answer(c, 502, o->reason, false);
		goto out;
	}

	/* The response head, re-serialised, framed for this guest. */
	scrubbing = rh->status != 101 && rh->framing != HTTP_BODY_NONE && inject_text_body(rh) &&
		    inject_stream_scrub(scrub, c->set);
	relength = scrubbing && rh->framing == HTTP_BODY_LENGTH;
	reframe = rh->framing == HTTP_BODY_CHUNKED || rh->framing == HTTP_BODY_CLOSE || relength;
	keep = h->keep_alive && rh->status != 101 && !upload_cut;
	down.chunked = reframe && h->minor == 1;
	down.filter = scrubbing ? scrub : NULL;
	if (reframe && !down.chunked)
		keep = false;
	t.len = 0;
	add_status_head(c, &t, rh);
	cl = find_header(rh, "content-length");
	if (rh->framing == HTTP_BODY_LENGTH && !relength) {
		snprintf(line, sizeof line, "Content-Length: %llu\r\n",
			 (unsigned long long)rh->length);
		text_str(&t, line);
	} else if (rh->framing == HTTP_BODY_NONE && cl && rh->status >= 200 && rh->status != 204) {
		/* HEAD and 304 answers tell the length they would have had. */
		text_str(&t, "Content-Length: ");
		text_add(&t, cl->value, cl->value_len);
		text_str(&t, "\r\n");
	} else if (down.chunked) {
		text_str(&t, "Transfer-Encoding: chunked\r\n");
	}
	if (rh->status == 101)
		text_str(&t, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
	else if (!keep)
		text_str(&t, "Connection: close\r\n");
	text_str(&t, "\r\n");
	/* rh points into ups until here. */
	stream_consume(&ups, (size_t)n);
	if (send_all(c->guest.fd, t.s, t.len) < 0) {
		keep = false;
		goto out;
	}
	if (rh->status == 101) {
		/* Bytes upstream sent after its head are the guest's already. */
		if (ups.len && send_all(c->guest.fd, ups.buf, ups.len) < 0)
			goto out;
		o->down = ups.len;
		if (c->guest.len && send_all(ufd, c->guest.buf, c->guest.len) < 0)
			goto out;
		o->up += c->guest.len;
		c->guest.len = 0;
		tunnel(c->guest.fd, ufd, &o->up, &o->down);
		goto out;
	}
	if (copy_body(&ups, rh->framing, rh->length, &down, UINT64_MAX, &why) < 0) {
		o->reason = why;
		keep = false;
	} else {
		/* Read to its end with nothing after it: ready for another request. */
		u->keep = rh->keep_alive && rh->framing != HTTP_BODY_CLOSE && !ups.len && !upload_cut;
	}
	o->down = down.count;
out:
	inject_stream_free(in);
	inject_stream_free(scrub);
	free(in);
	free(scrub);
	inject_free(hdrs, hdrs_len);
	free(rh);
	/* What upstream sent may have held a value before it was scrubbed. */
	inject_free(ups.buf, ups.cap);
	free(body.s);
	free(tail.s);
	free(t.s);
	return keep;
}

/* Pass the guest's connection through to fd unread, the bytes already read first. */
static void pass_through(struct conn *c, int fd, struct outcome *o)
{
	if (c->guest.len && send_all(fd, c->guest.buf, c->guest.len) == 0)
		o->up = c->guest.len;
	c->guest.len = 0;
	tunnel(c->guest.fd, fd, &o->up, &o->down);
}

/*
 * Intercept the guest's connection as TLS for host, the bytes already read
 * being the start of its ClientHello: from here c->guest reads the plain
 * requests inside. False, with o saying why, when the handshake failed or
 * the guest named another server (SNI).
 */
static bool tls_start(struct conn *c, const struct match_host *host, uint16_t port,
		      struct outcome *o)
{
	int fd = tls_serve(c->env->tls, c->guest.fd, c->guest.buf, c->guest.len, host, c->why);

	c->guest.len = 0;
	if (fd < 0) {
		o->decision = fd == -2 ? "deny" : "error";
		o->status = fd == -2 ? 400 : o->status;
		o->rule = NULL;
		o->reason = c->why;
		return false;
	}
	/* The TLS side owns the guest's socket now. */
	c->guest.fd = fd;
	set_io_timeouts(fd);
	c->tls = true;
	c->tls_host = *host;
	c->orig_port = port;
	c->explicit_proxy = false;
	return true;
}

/* The secrets put into a request: each use counted, and the set kept for
 * the log line, which names them. */
static void note_secrets(struct conn *c, struct outcome *o)
{
	if (!o->secrets)
		return;
	o->set = inject_set_ref(c->set);
	for (size_t i = 0; i < c->set->n && i < INJECT_MAX; i++)
		if ((o->secrets & (1ull << i)) && c->env->secret_used)
			c->env->secret_used(c->set->s[i].name);
}

/* Parse and judge one request whose head is c->guest.buf[0..head_len). 1 to
 * go on reading requests, 0 to close. */
static int handle(struct conn *c, const struct http_head *h, size_t head_len, struct outcome *o)
{
	const struct forward_env *env = c->env;
	struct policy *p = NULL;
	const struct policy_rule *rule = NULL;
	struct match_host mh;
	struct match_target t = { .scheme = c->tls ? POLICY_HTTPS : POLICY_HTTP };
	const char *host = NULL, *target = h->target, *why = NULL;
	size_t host_len = 0, target_len = h->target_len, plen;
	char *norm = NULL, *host_header = NULL;
	bool connect = h->method_len == 7 && !memcmp(h->method, "CONNECT", 7), redirected = false;
	bool allowed, intercept = false;
	struct upstream u;
	uint16_t port = c->tls ? 443 : 80;
	int fd = -1, status = 0, keep = 0;

	o->kind = connect ? "connect" : "http";
	o->scheme = connect || c->tls ? "https" : "http";
	if (h->method_len >= METHOD_MAX) {
		why = "method too long";
		goto bad;
	}
	copy_text(o->method, sizeof o->method, h->method, h->method_len);

	if (connect) {
		if (!c->explicit_proxy) {
			why = "CONNECT is for the explicit proxy (HTTPS_PROXY)";
			goto bad;
		}
		if (h->framing != HTTP_BODY_NONE) {
			why = "CONNECT with a body";
			goto bad;
		}
		if (split_authority(target, target_len, &host, &host_len, &port, true, &why) < 0)
			goto bad;
		t.scheme = POLICY_HTTPS;
		t.tunnel = true;
	} else if (target_len > 0 && target[0] == '/') {
		if (c->explicit_proxy) {
			why = "this is the sandbox's egress proxy: send absolute URLs (http://host/path)";
			goto bad;
		}
		if (!h->host) {
			why = "no Host header";
			goto bad;
		}
		if (split_authority(h->host->value, h->host->value_len, &host, &host_len, &port,
				    false, &why) < 0)
			goto bad;
		redirected = true;
	} else if (target_len > 7 && !strncasecmp(target, "http://", 7) && c->explicit_proxy) {
		const char *auth = target + 7, *slash;
		size_t alen;

		slash = memchr(auth, '/', target_len - 7);
		if (!slash) {
			why = "absolute URL without a path";
			goto bad;
		}
		alen = (size_t)(slash - auth);
		if (memchr(auth, '?', alen) || memchr(auth, '#', alen)) {
			why = "absolute URL without a path";
			goto bad;
		}
		if (split_authority(auth, alen, &host, &host_len, &port, false, &why) < 0)
			goto bad;
		if (h->host && (h->host->value_len != alen ||
				strncasecmp(h->host->value, auth, alen))) {
			why = "the Host header does not match the URL";
			goto bad;
		}
		target = slash;
		target_len -= (size_t)(slash - h->target);
	} else if (target_len > 8 && !strncasecmp(target, "https://", 8) && c->explicit_proxy) {
		why = "https URLs go through CONNECT";
		goto bad;
	} else {
		why = "request target is not a path (or an http:// URL to the explicit proxy)";
		goto bad;
	}
	copy_text(o->host, sizeof o->host, host, host_len);
	o->port = port;
	if (redirected && port != c->orig_port) {
		why = "the Host header's port is not the port the connection went to";
		goto bad;
	}
	if (c->tls && !(match_host_parse(host, host_len, &mh, &why) &&
			match_host_same(&mh, &c->tls_host))) {
		why = "the Host header names another host than the TLS connection is for";
		goto bad;
	}
	if (!connect) {
		const char *q = memchr(target, '?', target_len);

		size_t n = q ? (size_t)(q - target) : target_len;

		o->path = xmalloc(n + 1);
		copy_text(o->path, n + 1, target, n);
	}

	/* The verdict. */
	p = env->policy_get();
	c->set = env->secrets_get ? env->secrets_get() : NULL;
	t.host = host;
	t.host_len = host_len;
	t.port = port;
	t.method = o->method;
	t.path = connect ? NULL : target;
	t.path_len = connect ? 0 : target_len;
	t.websocket = h->websocket;
	allowed = match_request(p, &t, &rule, &why);
	if (!allowed && connect && env->tls) {
		/* No tunnel for it: read and judge the requests inside instead. */
		t.tunnel = false;
		t.host_only = true;
		allowed = intercept = match_request(p, &t, &rule, &why);
	}
	if (!allowed) {
		status = 403;
		goto deny;
	}
	o->rule = rule ? rule->id : NULL;
	o->reason = why;
	if (!match_host_parse(host, host_len, &mh, &why)) {
		status = 403;
		goto deny;
	}
	/* A secret for the host goes in only where the requests are read. */
	if (connect && !intercept && env->tls && inject_scope(c->set, &mh, true)) {
		intercept = true;
		o->rule = NULL;
	}
	if (intercept) {
		o->decision = "allow";
		o->reason = "intercepted: each request inside is judged on its own";
		stream_consume(&c->guest, head_len);
		if (send_all(c->guest.fd, "HTTP/1.1 200 Connection Established\r\n\r\n", 39) == 0) {
			o->status = 200;
			keep = tls_start(c, &mh, port, o);
		}
		goto out;
	}
	if (!connect) {
		norm = xmalloc(target_len + 1);
		if (match_path_normalize(target, target_len, norm, target_len + 1, &plen, &why) < 0) {
			status = 403;
			goto deny;
		}
	}
	u = (struct upstream){ .p = p, .rule = rule, .host = &mh, .port = port };
	if (upstream_open(c, &u, connect, o, &status, &why) < 0)
		goto deny;
	fd = u.fd;
	o->decision = "allow";
	if (connect) {
		stream_consume(&c->guest, head_len);
		if (send_all(c->guest.fd, "HTTP/1.1 200 Connection Established\r\n\r\n", 39) == 0) {
			o->status = 200;
			pass_through(c, fd, o);
		}
		keep = 0;
	} else {
		if (mh.is_ip) {
			char a[ADDR_STR_MAX];

			addr_format(&mh.ip, a);
			host_header = mh.ip.family == AF_INET6 ? xasprintf("[%s]", a) : xstrdup(a);
		} else {
			host_header = xstrdup(mh.name);
		}
		if (port != (c->tls ? 443 : 80)) {
			char *hp = xasprintf("%s:%u", host_header, port);
			free(host_header);
			host_header = hp;
		}
		c->scope = inject_scope(c->set, &mh, c->tls);
		keep = exchange(c, h, head_len, o->method, host_header, norm, &u, o);
		fd = u.fd;
		if (u.keep) {
			pool_put(fd, &mh, port, c->tls, o);
			fd = -1;
		}
		note_secrets(c, o);
	}
	goto out;

deny:
	o->decision = status == 403 ? "deny" : "error";
	o->reason = why;
	o->rule = status == 403 ? NULL : o->rule;
	o->status = status;
	keep = h->keep_alive && !h->expect_continue && !connect;
	if (answer(c, status, why, keep) < 0) {
		keep = 0;
	} else if (keep) {
		struct sink none = { .fd = -1 };

		/* Drop the body so that the next request starts where it should. */
		stream_consume(&c->guest, head_len);
		keep = copy_body(&c->guest, h->framing, h->length, &none, DISCARD_MAX, &why) == 0;
		o->up = none.count;
	}
	goto out;
bad:
	o->decision = "deny";
	o->reason = why;
	o->status = 400;
	answer(c, 400, why, false);
	keep = 0;
out:
	if (fd >= 0)
		close(fd);
	free(host_header);
	free(norm);
	inject_set_unref(c->set);
	c->set = NULL;
	c->scope = 0;
	policy_unref(p);
	return keep;
}

/*
 * A redirected connection that starts with TLS, judged on the server name
 * it asks for (SNI; without one, the address the guest dialed) and the
 * port: passed through unread when a rule allows an uninspected tunnel
 * there, else intercepted, so that each request inside is judged like
 * plain HTTP and a refusal reaches the guest as a readable 403. True to go
 * on reading requests.
 */
static bool direct_tls(struct conn *c, const struct sockaddr_in *orig)
{
	const struct forward_env *env = c->env;
	struct outcome o = { .t0 = util_now_ms(), .kind = "tls", .scheme = "https",
			     .port = c->orig_port, .decision = "deny", .status = 400 };
	struct match_target t = { .scheme = POLICY_HTTPS, .tunnel = true, .port = c->orig_port };
	const struct policy_rule *rule = NULL;
	char sni[MATCH_HOST_MAX + 2], addr[INET_ADDRSTRLEN];
	const char *host = sni, *why;
	struct policy *p = NULL;
	struct inject_set *set;
	struct match_host mh;
	bool secret;
	int n, fd;

	while ((n = tls_client_hello(c->guest.buf, c->guest.len, sni, sizeof sni, &why)) == 0) {
		if (stream_fill(&c->guest, IO_MS) <= 0) {
			why = "the connection ended inside the TLS ClientHello";
			break;
		}
	}
	if (n > 0 && !sni[0])
		host = inet_ntop(AF_INET, &orig->sin_addr, addr, sizeof addr);
	if (n > 0)
		copy_text(o.host, sizeof o.host, host, strlen(host));
	if (n <= 0 || !match_host_parse(host, strlen(host), &mh, &why)) {
		o.reason = why;
		goto out;
	}
	p = env->policy_get();
	t.host = host;
	t.host_len = strlen(host);
	set = env->secrets_get ? env->secrets_get() : NULL;
	secret = inject_scope(set, &mh, true) != 0;
	inject_set_unref(set);
	/* A secret for the host goes in only where the requests are read. */
	if (secret || !match_request(p, &t, &rule, &why)) {
		/* The requests inside carry the verdicts: this connection is logged
		 * only if the handshake fails. */
		o.status = 0;
		if (tls_start(c, &mh, c->orig_port, &o)) {
			policy_unref(p);
			return true;
		}
		goto out;
	}
	o.rule = rule ? rule->id : NULL;
	fd = dial(p, rule, &mh, c->orig_port, &o, &o.status, &why);
	o.reason = why;
	if (fd < 0) {
		o.decision = o.status == 403 ? "deny" : "error";
		goto out;
	}
	set_io_timeouts(fd);
	o.decision = "allow";
	o.status = 0;
	pass_through(c, fd, &o);
	close(fd);
out:
	log_outcome(env, &o);
	policy_unref(p);
	return false;
}

void forward_conn(const struct forward_env *env, int guest_fd, const struct sockaddr_in *orig)
{
	struct conn c = {
		.env = env,
		.guest = { .fd = guest_fd, .buf = xmalloc(BUF_SIZE), .cap = BUF_SIZE },
		.explicit_proxy = orig->sin_addr.s_addr == env->listen.sin_addr.s_addr &&
				  orig->sin_port == env->listen.sin_port,
		.orig_port = ntohs(orig->sin_port),
	};
	struct http_head *h = xmalloc(sizeof *h);

	set_nodelay(guest_fd);
	set_io_timeouts(guest_fd);
	if (env->tls && !c.explicit_proxy) {
		if (stream_fill(&c.guest, IDLE_MS) <= 0)
			goto done;
		if ((unsigned char)c.guest.buf[0] == TLS_HANDSHAKE_RECORD && !direct_tls(&c, orig))
			goto done;
	}
	for (;;) {
		struct outcome o = { .t0 = util_now_ms(), .kind = "http", .scheme = "http" };
		const char *why = NULL;
		int n, keep;

		while ((n = http_parse_request(c.guest.buf, c.guest.len, h, &why)) == 0) {
			int rc = stream_fill(&c.guest, c.guest.len ? IO_MS : IDLE_MS);

			if (rc <= 0)
				goto done;	/* closed, idle or stalled: nothing to judge */
		}
		if (n < 0) {
			o.decision = "deny";
			o.reason = why;
			o.status = 400;
			copy_text(o.method, sizeof o.method, "", 0);
			answer(&c, 400, why, false);
			log_outcome(env, &o);
			break;
		}
		keep = handle(&c, h, (size_t)n, &o);
		log_outcome(env, &o);
		inject_set_unref(o.set);
		free(o.path);
		if (!keep)
			break;
	}
done:
	free(h);
	free(c.guest.buf);
	close(c.guest.fd);	/* guest_fd, or the plain side of its TLS */
}
