/*
 * https_get: the HTTPS client of bench/proxy. GETs https://HOST/PATH COUNT
 * times, straight to ADDR or through an explicit proxy (CONNECT, then TLS
 * inside the tunnel), verifying the server against CA as curl does, and
 * prints one line: "requests N median_ms X p90_ms Y bytes B seconds S".
 *
 *   https_get --to IP:PORT | --proxy IP:PORT, --host NAME, --ca FILE,
 *             --path PATH, [--count N] [--warmup N] [--new-conn] [--raw]
 *
 * With --new-conn every request has a connection of its own (TCP, CONNECT,
 * TLS handshake, one GET, close), as a command-line tool makes them;
 * without, all go one after another on one kept-alive connection. The
 * warm-up requests are not counted; seconds is the counted requests' total.
 * --raw prints each counted request's time first, one "ms X" line each.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/util.h"

#define HEAD_MAX 16384
#define BODY_BUF (256 * 1024)

struct opts {
	struct sockaddr_in to;
	bool proxy, new_conn, raw;
	const char *host, *ca, *path;
	int count, warmup;
};

struct conn {
	int fd;
	SSL *ssl;
	char head[HEAD_MAX];
	size_t len;	/* bytes read past the last response */
};

static SSL_CTX *ctx;
static char *body;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void parse_addr(const char *s, struct sockaddr_in *sa)
{
	char ip[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof ip)
		die("https_get: '%s' is not IP:PORT", s);
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(atoi(colon + 1)) };
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		die("https_get: '%s' is not IP:PORT", s);
}

static void tcp_connect(const struct opts *o, struct conn *c)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&o->to, sizeof o->to) < 0)
		die("https_get: cannot connect: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* CONNECT HOST:443 on the plain socket; the answer's head is read byte by
 * byte so that nothing of the TLS that follows is taken. */
static void proxy_connect(const struct opts *o, struct conn *c)
{
	char req[512], ans[1024];
	size_t n = 0;
	int len = snprintf(req, sizeof req, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n",
			   o->host, o->host);

	if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len)
		die("https_get: cannot send CONNECT");
	while (n < 4 || memcmp(ans + n - 4, "\r\n\r\n", 4)) {
		if (n == sizeof ans - 1 || recv(c->fd, ans + n, 1, 0) != 1)
			die("https_get: the proxy closed during CONNECT");
		n++;
	}
	ans[n] = '\0';
	if (strncmp(ans, "HTTP/1.1 200", 12) && strncmp(ans, "HTTP/1.0 200", 12))
		die("https_get: CONNECT refused: %.*s", (int)strcspn(ans, "\r"), ans);
}

static void conn_open(const struct opts *o, struct conn *c)
{
	tcp_connect(o, c);
	if (o->proxy)
		proxy_connect(o, c);
	c->ssl = SSL_new(ctx);
	c->len = 0;
	if (!c->ssl || !SSL_set_tlsext_host_name(c->ssl, o->host) ||
	    !SSL_set1_host(c->ssl, o->host) || !SSL_set_fd(c->ssl, c->fd))
		die("https_get: cannot set up TLS");
	if (SSL_connect(c->ssl) != 1)
		die("https_get: TLS handshake with %s failed: %s (verify: %s)", o->host,
		    ERR_reason_error_string(ERR_peek_error()),
		    X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
}

static void conn_close(struct conn *c)
{
	SSL_free(c->ssl);
	close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

static size_t read_some(struct conn *c, char *buf, size_t n)
{
	size_t got;

	if (!SSL_read_ex(c->ssl, buf, n, &got))
		die("https_get: the connection ended inside a response");
	return got;
}

/* One GET and its whole response; the body's size. */
static unsigned long long get(const struct opts *o, struct conn *c)
{
	char req[1024];
	int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: "
			   "smolvm-bench\r\nAccept: */*\r\n\r\n", o->path, o->host);
	unsigned long long size, left;
	char *end, *cl;
	size_t used;

	if (SSL_write(c->ssl, req, len) != len)
		die("https_get: cannot send the request");
	while (!(end = memmem(c->head, c->len, "\r\n\r\n", 4))) {
		if (c->len == sizeof c->head - 1)
			die("https_get: response head too large");
		c->len += read_some(c, c->head + c->len, sizeof c->head - 1 - c->len);
	}
	used = (size_t)(end - c->head) + 4;
	c->head[used - 2] = '\0';
	if (strncmp(c->head, "HTTP/1.1 200", 12))
		die("https_get: %.*s", (int)strcspn(c->head, "\r"), c->head);
	cl = strcasestr(c->head, "\r\ncontent-length:");
	if (!cl)
		die("https_get: a response without Content-Length");
	size = strtoull(cl + 17, NULL, 10);
	left = size;
	/* Body bytes that came with the head. */
	if (c->len - used > left)
		die("https_get: more bytes than the response's length");
	left -= c->len - used;
	c->len = 0;
	while (left)
		left -= read_some(c, body, left < BODY_BUF ? (size_t)left : BODY_BUF);
	return size;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct opts o = { .count = 1 };
	struct conn c = { .fd = -1 };
	unsigned long long bytes = 0;
	double *ms, t0, total = 0;
	bool have_to = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--new-conn") || !strcmp(a, "--raw")) {
			*(a[2] == 'n' ? &o.new_conn : &o.raw) = true;
			continue;
		}
		if (!v)
			die("https_get: %s needs a value (see the comment at the top)", a);
		i++;
		if (!strcmp(a, "--to") || !strcmp(a, "--proxy")) {
			parse_addr(v, &o.to);
			o.proxy = a[2] == 'p';
			have_to = true;
		} else if (!strcmp(a, "--host")) {
			o.host = v;
		} else if (!strcmp(a, "--ca")) {
			o.ca = v;
		} else if (!strcmp(a, "--path")) {
			o.path = v;
		} else if (!strcmp(a, "--count")) {
			o.count = atoi(v);
		} else if (!strcmp(a, "--warmup")) {
			o.warmup = atoi(v);
		} else {
			die("https_get: unknown option %s", a);
		}
	}
	if (!have_to || !o.host || !o.ca || !o.path || o.count < 1 || o.warmup < 0)
		die("usage: https_get --to|--proxy IP:PORT --host NAME --ca FILE --path PATH "
		    "[--count N] [--warmup N] [--new-conn] [--raw]");
	signal(SIGPIPE, SIG_IGN);
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, o.ca, NULL) != 1)
		die("https_get: cannot load the CA %s", o.ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	body = xmalloc(BODY_BUF);
	ms = xcalloc((size_t)o.count, sizeof *ms);
	for (int i = 0; i < o.warmup + o.count; i++) {
		t0 = now_ms();
		if (!c.ssl)
			conn_open(&o, &c);
		bytes = get(&o, &c);
		if (o.new_conn)
			conn_close(&c);
		if (i >= o.warmup) {
			ms[i - o.warmup] = now_ms() - t0;
			total += ms[i - o.warmup];
		}
	}
	if (c.ssl)
		conn_close(&c);
	for (int i = 0; o.raw && i < o.count; i++)
		printf("ms %.3f\n", ms[i]);
	qsort(ms, (size_t)o.count, sizeof *ms, cmp);
	printf("requests %d median_ms %.3f p90_ms %.3f bytes %llu seconds %.3f\n", o.count,
	       o.count % 2 ? ms[o.count / 2] : (ms[o.count / 2 - 1] + ms[o.count / 2]) / 2,
	       ms[(o.count * 9 + 9) / 10 - 1], bytes, total / 1e3);
	free(ms);
	free(body);
	SSL_CTX_free(ctx);
	return 0;
}
