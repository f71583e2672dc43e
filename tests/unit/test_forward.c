/*
 * Unit tests for net/forward.c: one guest connection, served over a
 * socketpair, against an upstream server on 127.0.0.1 that records the
 * bytes it is sent. What reaches upstream must be the proxy's own
 * re-serialisation of an allowed request, never the guest's bytes.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/util.h"
#include "net/forward.h"
#include "net/policy.h"
#include "tests/unit/unit.h"

static int up_fd;
static uint16_t up_port;
static char up_seen[65536];	/* every request upstream got, one after another */
static size_t up_len;
static const char *up_reply;	/* what upstream answers each request with */
static bool up_head_only;	/* answer after the head, leaving the body unread */
static bool up_keep;		/* serve more requests on a connection */
static int up_drop_nth;		/* close a connection unanswered at its Nth request */
static int up_conns;		/* connections accepted */
static pthread_mutex_t up_lock = PTHREAD_MUTEX_INITIALIZER;
static struct policy *policy;

static struct policy *get_policy(void)
{
	return policy_ref(policy);
}

/* Read one request (head, then a Content-Length or chunked body). */
static void read_request(int fd, char *buf, size_t cap, size_t *len)
{
	char *end = NULL;
	ssize_t n;

	*len = 0;
	while (*len < cap - 1 && (n = read(fd, buf + *len, cap - 1 - *len)) > 0) {
		*len += (size_t)n;
		buf[*len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		if (up_head_only)
			break;
		if (strstr(buf, "Transfer-Encoding: chunked")) {
			if (strstr(end + 4, "0\r\n\r\n"))
				break;
		} else {
			const char *cl = strstr(buf, "Content-Length: ");
			size_t body = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0;

			if (*len >= (size_t)(end + 4 - buf) + body)
				break;
		}
	}
}

static void *upstream(void *arg)
{
	(void)arg;
	for (;;) {
		char buf[16384];
		size_t len;
		int fd = accept(up_fd, NULL, NULL), nth = 0;
		bool drop;

		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&up_lock);
		up_conns++;
		pthread_mutex_unlock(&up_lock);
		do {
			read_request(fd, buf, sizeof buf, &len);
			if (!len)
				break;
			pthread_mutex_lock(&up_lock);
			if (up_len + len < sizeof up_seen) {
				memcpy(up_seen + up_len, buf, len);
				up_len += len;
				up_seen[up_len] = '\0';
			}
			drop = ++nth == up_drop_nth;
			pthread_mutex_unlock(&up_lock);
			if (drop)
				break;
			if (write(fd, up_reply, strlen(up_reply)) < 0)
				perror("upstream write");
		} while (up_keep);
		close(fd);
	}
}

struct served {
	struct forward_env *env;
	int fd;
	struct sockaddr_in orig;
};

static void *serve(void *arg)
{
	struct served *s = arg;

	forward_conn(s->env, s->fd, &s->orig);
	return NULL;
}

static char *log_path;

/* Send req as the guest to a transparent connection for up_port; returns
 * everything the proxy answered until it closed. */
static char *exchange(const char *req)
{
	struct forward_env env = { .sandbox_id = "0000test", .policy_get = get_policy };
	struct served s = { .env = &env };
	static char out[1 << 20];
	size_t len = 0;
	pthread_t th;
	int sv[2];
	ssize_t n;

	env.listen.sin_family = AF_INET;
	env.listen.sin_port = htons(3128);
	inet_pton(AF_INET, "10.77.0.1", &env.listen.sin_addr);
	env.log_fd = open(log_path, O_WRONLY | O_APPEND);
	s.orig.sin_family = AF_INET;
	s.orig.sin_port = htons(up_port);
	inet_pton(AF_INET, "198.18.0.1", &s.orig.sin_addr);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	s.fd = sv[1];
	pthread_mutex_lock(&up_lock);
	up_len = 0;
	up_seen[0] = '\0';
	pthread_mutex_unlock(&up_lock);
	pthread_create(&th, NULL, serve, &s);
	/* The proxy may close before it has read everything (a refused body). */
	for (size_t off = 0, n_req = strlen(req); off < n_req; ) {
		ssize_t w = write(sv[0], req + off, n_req - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	while (len < sizeof out - 1 && (n = read(sv[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(sv[0]);
	pthread_join(th, NULL);
	close(env.log_fd);
	return out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_reserialised(void)
{
	char *req = xasprintf("GET /ok/%%7euser?q=1 HTTP/1.1\r\nHost: UP.test:%u\r\nX-A:   1  \r\n"
			      "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
			      "Proxy-Authorization: Basic eDp5\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
			      "Expect: 100-continue\r\nConnection: close\r\n\r\n", up_port);
	char *want = xasprintf("GET /ok/~user?q=1 HTTP/1.1\r\nHost: up.test:%u\r\nX-A: 1\r\n\r\n",
			       up_port);
	char *out;

	up_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Up: yes\r\nKeep-Alive: 9\r\n\r\nhi";
	out = exchange(req);
	EXPECT_STR(up_seen, want);
	EXPECT_STR(out, "HTTP/1.1 200 OK\r\nX-Up: yes\r\nContent-Length: 2\r\n"
			"Connection: close\r\n\r\nhi");
	free(want);
	free(req);
}

static void test_each_request_judged(void)
{
	char *req = xasprintf("GET /no HTTP/1.1\r\nHost: up.test:%u\r\n\r\n"
			      "GET /ok HTTP/1.1\r\nHost: up.test:%u\r\n\r\n"
			      "GET /okay HTTP/1.1\r\nHost: up.test:%u\r\n\r\n"
			      "GET /ok/2 HTTP/1.1\r\nHost: up.test:%u\r\nConnection: close\r\n\r\n",
			      up_port, up_port, up_port, up_port);
	char *out;

	up_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	out = exchange(req);
	EXPECT_INT(count(out, "HTTP/1.1 403 Forbidden"), 2);
	EXPECT_INT(count(out, "HTTP/1.1 200 OK"), 2);
	EXPECT(strstr(out, "403") < strstr(out, "200"));
	EXPECT_INT(count(up_seen, "GET "), 2);
	EXPECT(strstr(up_seen, "GET /ok HTTP/1.1") && strstr(up_seen, "GET /ok/2 HTTP/1.1"));
	EXPECT(!strstr(up_seen, "/no") && !strstr(up_seen, "/okay"));
	free(req);
}

/* A denied request's body is dropped, never read as the next request. */
static void test_denied_body_is_not_a_request(void)
{
	const char *smuggled = "GET /ok/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
	char *req = xasprintf("POST /no HTTP/1.1\r\nHost: up.test:%u\r\nContent-Length: %zu\r\n\r\n%s"
			      "POST /no HTTP/1.1\r\nHost: up.test:%u\r\nTransfer-Encoding: chunked\r\n"
			      "\r\n%zx\r\n%s\r\n0\r\n\r\n"
			      "GET /ok HTTP/1.1\r\nHost: up.test:%u\r\nConnection: close\r\n\r\n",
			      up_port, strlen(smuggled), smuggled, up_port, strlen(smuggled),
			      smuggled, up_port);
	char *out;

	up_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	out = exchange(req);
	EXPECT_INT(count(out, "HTTP/1.1 403"), 2);
	EXPECT_INT(count(out, "HTTP/1.1 200"), 1);
	EXPECT_INT(count(out, "HTTP/1.1 "), 3);
	EXPECT(!strstr(up_seen, "smuggled"));
	EXPECT_INT(count(up_seen, "GET /ok HTTP/1.1"), 1);
	free(req);
}

static void test_chunked_both_ways(void)
{
	char *req = xasprintf("POST /ok HTTP/1.1\r\nHost: up.test:%u\r\nTransfer-Encoding: chunked\r\n"
			      "Connection: close\r\n\r\n5;name=v\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n",
			      up_port);
	char *want = xasprintf("POST /ok HTTP/1.1\r\nHost: up.test:%u\r\nTransfer-Encoding: chunked\r\n"
			       "\r\n6\r\nhello!\r\n0\r\n\r\n", up_port);
	char *out;

	/* Chunks are decoded and written anew (extensions and trailers go);
	 * upstream's body runs until it closes, and the guest gets it chunked. */
	up_reply = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close";
	out = exchange(req);
	EXPECT_STR(up_seen, want);
	EXPECT_STR(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
			"\r\nb\r\nuntil-close\r\n0\r\n\r\n");
	free(want);
	free(req);
}

/* Requests one after another share one upstream connection, each still
 * judged; one the server closes under a request is replaced, and a request
 * without a body is sent again on the new one. */
static void test_kept_upstream(void)
{
	char *req = xasprintf("GET /ok/1 HTTP/1.1\r\nHost: up.test:%u\r\n\r\n"
			      "GET /no HTTP/1.1\r\nHost: up.test:%u\r\n\r\n"
			      "GET /ok/2 HTTP/1.1\r\nHost: up.test:%u\r\nConnection: close\r\n\r\n",
			      up_port, up_port, up_port);
	char *out;

	up_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	up_keep = true;
	up_conns = 0;
	out = exchange(req);
	EXPECT_INT(count(out, "HTTP/1.1 200 OK"), 2);
	EXPECT_INT(count(out, "HTTP/1.1 403"), 1);
	EXPECT_INT(count(up_seen, "GET "), 2);
	EXPECT(!strstr(up_seen, "/no"));
	EXPECT_INT(up_conns, 1);

	/* The connection kept from that run closes on its third request
	 * unanswered: /ok/1 goes again on a new one. */
	up_drop_nth = 3;
	out = exchange(req);
	EXPECT_INT(count(out, "HTTP/1.1 200 OK"), 2);
	EXPECT_INT(count(out, "HTTP/1.1 502"), 0);
	EXPECT_INT(up_conns, 2);
	up_drop_nth = 0;
	up_keep = false;
	free(req);
}

/* Upstream answers 413 without reading a large body: the guest gets the 413. */
static void test_early_answer(void)
{
	size_t body = 4 << 20;
	char *head = xasprintf("POST /ok HTTP/1.1\r\nHost: up.test:%u\r\nContent-Length: %zu\r\n\r\n",
			       up_port, body);
	size_t hl = strlen(head);
	char *req = xmalloc(hl + body + 1);
	char *out;

	memcpy(req, head, hl);
	memset(req + hl, 'b', body);
	req[hl + body] = '\0';
	up_reply = "HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\n\r\nbig";
	up_head_only = true;
	out = exchange(req);
	up_head_only = false;
	EXPECT_STR(out, "HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig");
	free(req);
	free(head);
}

static void test_bad_requests(void)
{
	static const char *const bad[] = {
		"GET /ok HTTP/1.1\r\nHost: up.test\r\nContent-Length: 1\r\n"
		"Transfer-Encoding: chunked\r\n\r\n",
		"GET /ok HTTP/1.1\nHost: up.test\n\n",
		"GET http://up.test/ok HTTP/1.1\r\nHost: up.test\r\n\r\n",	/* not explicit */
		"CONNECT up.test:443 HTTP/1.1\r\nHost: up.test:443\r\n\r\n",
		"GET /ok HTTP/1.1\r\nHost: up.test:1\r\n\r\n",			/* port mismatch */
		"GET /ok HTTP/1.1\r\nHost: user@up.test\r\n\r\n",
		"GET /ok HTTP/1.1\r\nHost: up.t\xc3\xa9st\xff\r\n\r\n",
	};

	up_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *out = exchange(bad[i]);

		if (strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) || up_len) {
			printf("#   request %zu: got %.40s, upstream saw %zu bytes\n", i, out, up_len);
			EXPECT(0);
		}
	}
}

static void test_upstream_garbage(void)
{
	char *req = xasprintf("GET /ok HTTP/1.1\r\nHost: up.test:%u\r\n\r\n", up_port);
	char *out;

	up_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi";
	out = exchange(req);
	EXPECT(!strncmp(out, "HTTP/1.1 502 Bad Gateway\r\n", 26));
	EXPECT(!strstr(out, "hi"));
	free(req);
}

static void test_log(void)
{
	char *text = util_read_file(log_path, NULL);

	EXPECT(text && strstr(text, "\"path\":\"/okay\",\"decision\":\"deny\",\"rule\":null,"
			  "\"reason\":\"no rule for this host allows this path\",\"status\":403"));
	EXPECT(text && strstr(text, "\"path\":\"/ok/~user\"") == NULL);
	EXPECT(text && strstr(text, "\"path\":\"/ok/%7euser\",\"decision\":\"allow\",\"rule\":\"up\""));
	/* The query string is left out of the log. */
	EXPECT(text && !strstr(text, "q=1"));
	/* Bytes outside ASCII in a Host header are logged as '?'. */
	EXPECT(text && strstr(text, "\"host\":\"up.t??st?\""));
	free(text);
}

int main(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	pthread_t up;
	char *json;
	int fd;

	/* Under $TMPDIR, so that tests/run removes it even if a check crashes. */
	log_path = xasprintf("%s/smolvm-test-forward.XXXXXX",
			     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(log_path);
	signal(SIGPIPE, SIG_IGN);
	if (fd < 0)
		die("mkstemp");
	close(fd);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	up_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (up_fd < 0 || bind(up_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(up_fd, 16) < 0 ||
	    getsockname(up_fd, (struct sockaddr *)&sa, &sl) < 0)
		die("upstream listener");
	up_port = ntohs(sa.sin_port);
	json = xasprintf("{\"mode\": \"allowlist\", \"rules\": [{\"id\": \"up\", \"scheme\": \"http\","
			 " \"host\": \"up.test\", \"port\": %u, \"paths\": [\"/ok\"], \"methods\": [\"*\"],"
			 " \"resolve\": [\"127.0.0.1\"]}]}", up_port);
	if (policy_load(json, strlen(json), &policy) < 0)
		die("policy: %s", err_msg());
	free(json);
	pthread_create(&up, NULL, upstream, NULL);

	RUN(test_reserialised);
	RUN(test_each_request_judged);
	RUN(test_denied_body_is_not_a_request);
	RUN(test_chunked_both_ways);
	RUN(test_kept_upstream);
	RUN(test_early_answer);
	RUN(test_bad_requests);
	RUN(test_upstream_garbage);
	RUN(test_log);

	shutdown(up_fd, SHUT_RDWR);
	pthread_join(up, NULL);
	close(up_fd);
	unlink(log_path);
	free(log_path);
	policy_unref(policy);
	UNIT_EXIT();
}
