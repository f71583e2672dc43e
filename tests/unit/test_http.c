/*
 * Unit tests for net/http.c. Most cases are request smuggling and header
 * injection attempts: a head the proxy and an upstream server could read
 * differently must be refused, and the test fails if it parses.
 */
#include <stdlib.h>
#include <string.h>

#include "net/http.h"
#include "tests/unit/unit.h"

static struct http_head head;
static const char *why;

static int req(const char *s)
{
	why = NULL;
	return http_parse_request(s, strlen(s), &head, &why);
}

/* Refused, with a reason. */
static bool bad(const char *s)
{
	return req(s) == -1 && why != NULL;
}

static void test_simple_get(void)
{
	const char *s = "GET /v1/x?a=b HTTP/1.1\r\nHost: api.test\r\nAccept: */*\r\n\r\n";

	EXPECT_INT(req(s), (long long)strlen(s));
	EXPECT_INT(head.method_len, 3);
	EXPECT(!memcmp(head.method, "GET", 3));
	EXPECT_INT(head.target_len, 9);
	EXPECT(!memcmp(head.target, "/v1/x?a=b", 9));
	EXPECT_INT(head.minor, 1);
	EXPECT(head.host != NULL);
	EXPECT(head.host && head.host->value_len == 8 && !memcmp(head.host->value, "api.test", 8));
	EXPECT_INT(head.n_headers, 2);
	EXPECT_INT(head.framing, HTTP_BODY_NONE);
	EXPECT(head.keep_alive);
	EXPECT(!head.websocket);
	EXPECT(!head.expect_continue);
}

static void test_incomplete(void)
{
	const char *s = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		why = NULL;
		if (http_parse_request(s, i, &head, &why) != 0) {
			printf("#   prefix of %zu bytes: not incomplete (%s)\n", i, why ? why : "");
			EXPECT(0);
		}
	}
	EXPECT_INT(req(s), (long long)n);
	EXPECT_INT(head.framing, HTTP_BODY_LENGTH);
	EXPECT_INT(head.length, 3);
}

static void test_line_endings(void)
{
	EXPECT(bad("GET / HTTP/1.1\nHost: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\r\n\n"));
	EXPECT(bad("GET / HTTP/1.1\n\n"));
	/* A bare LF is refused as soon as it arrives, not after a timeout. */
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\nX"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\rHost: h\r\n\r\n"));
	EXPECT(bad("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"));
}

static void test_obs_fold(void)
{
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\n Host: h\r\n\r\n"));
}

static void test_framing_conflicts(void)
{
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		   "Content-Length: 5\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nContent-Length: 6\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\x0b\r\n\r\n"));
	EXPECT(bad("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"));

	EXPECT(req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n\r\n") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_CHUNKED);
	EXPECT(req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  007\t\r\n\r\n") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_LENGTH);
	EXPECT_INT(head.length, 7);
}

static void test_control_characters(void)
{
	static const char nul_host[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	static const char nul_value[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
	static const char nul_target[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";

	why = NULL;
	EXPECT_INT(http_parse_request(nul_host, sizeof nul_host - 1, &head, &why), -1);
	EXPECT_INT(http_parse_request(nul_value, sizeof nul_value - 1, &head, &why), -1);
	EXPECT_INT(http_parse_request(nul_target, sizeof nul_target - 1, &head, &why), -1);
	EXPECT(bad("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\r\nX: \x7f\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\r\nX\x01Y: v\r\n\r\n"));
	/* Tabs and bytes above 0x7f are allowed in values (obs-text). */
	EXPECT(req("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb \xc3\xa9\r\n\r\n") > 0);
}

static void test_header_names(void)
{
	EXPECT(bad("GET / HTTP/1.1\r\nHost : h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\n: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHo(st: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nHost: a\r\nhOsT: b\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1\r\nX: y\r\n\r\n"));
	EXPECT(req("GET / HTTP/1.0\r\n\r\n") > 0);
	EXPECT(head.host == NULL);
	EXPECT(!head.keep_alive);
}

static void test_request_line(void)
{
	EXPECT(bad("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/2.0\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET / HTTP/1.2\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET / http/1.1\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET /\r\nHost: h\r\n\r\n"));
	EXPECT(bad("G(ET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	EXPECT(bad(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
	EXPECT(bad("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"));
	EXPECT(req("CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n") > 0);
	EXPECT_INT(head.target_len, 12);
}

static void test_limits(void)
{
	size_t n = HTTP_HEAD_MAX + 100;
	char *big = malloc(n + 1);
	size_t len;

	strcpy(big, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
	len = strlen(big);
	memset(big + len, 'a', n - len);
	big[n] = '\0';
	why = NULL;
	EXPECT_INT(http_parse_request(big, n, &head, &why), -1);
	/* A complete head that is too long, too. */
	memcpy(big + n - 4, "\r\n\r\n", 4);
	EXPECT_INT(http_parse_request(big, n, &head, &why), -1);
	free(big);

	big = malloc(64 * (HTTP_HEADERS_MAX + 2));
	strcpy(big, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < HTTP_HEADERS_MAX; i++)
		sprintf(big + strlen(big), "X-%d: v\r\n", i);
	strcat(big, "\r\n");
	EXPECT(bad(big));
	free(big);
}

static void test_connection(void)
{
	EXPECT(req("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n") > 0);
	EXPECT(!head.keep_alive);
	EXPECT(bad("GET / HTTP/1.1\r\nHost: h\r\nConnection: a b\r\n\r\n"));
	EXPECT(req("GET /s HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		   "Connection: Upgrade\r\n\r\n") > 0);
	EXPECT(head.websocket);
	EXPECT(req("GET /s HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n") > 0);
	EXPECT(!head.websocket);
	EXPECT(req("GET /s HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n") > 0);
	EXPECT(!head.websocket);
	EXPECT(bad("GET /s HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n"
		   "Connection: upgrade\r\n\r\n"));
	EXPECT(req("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
	       > 0);
	EXPECT(head.expect_continue);
	EXPECT(bad("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n"));
}

static void test_dropped_headers(void)
{
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\n"
			"X-Secret: 1\r\nX-Other: 2\r\nKeep-Alive: 5\r\nProxy-Authorization: b\r\n"
			"TE: trailers\r\nContent-Length: 0\r\nx-secret: 3\r\n\r\n";
	const char *names = "";

	EXPECT(req(s) > 0);
	for (size_t i = 0; i < head.n_headers; i++)
		if (!http_header_dropped(&head, &head.headers[i])) {
			EXPECT(i == 0 || i == 3);	/* Host, X-Other */
			names = "kept";
		}
	EXPECT_STR(names, "kept");
}

static void test_pipelined(void)
{
	const char *s = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	int n = req(s);

	EXPECT_INT(n, 28);
	EXPECT(req(s + n) == 28);
	EXPECT(head.target_len == 2 && !memcmp(head.target, "/b", 2));
}

static int resp(const char *s, const char *method)
{
	why = NULL;
	return http_parse_response(s, strlen(s), method, &head, &why);
}

static void test_responses(void)
{
	EXPECT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET") == 38);
	EXPECT_INT(head.status, 200);
	EXPECT_INT(head.framing, HTTP_BODY_LENGTH);
	EXPECT_INT(head.length, 5);
	EXPECT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_NONE);
	EXPECT(resp("HTTP/1.1 204 No Content\r\n\r\n", "GET") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_NONE);
	EXPECT(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_NONE);
	EXPECT(resp("HTTP/1.1 100 Continue\r\n\r\n", "POST") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_NONE);
	EXPECT(resp("HTTP/1.0 200 OK\r\n\r\n", "GET") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_CLOSE);
	EXPECT(!head.keep_alive);
	EXPECT(resp("HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n", "GET") > 0);
	EXPECT_INT(head.framing, HTTP_BODY_CHUNKED);
	EXPECT_INT(head.reason_len, 0);
	EXPECT(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		    "Connection: upgrade\r\n\r\n", "GET") > 0);
	EXPECT(head.websocket);

	EXPECT_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
			"GET"), -1);
	EXPECT_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
			"GET"), -1);
	EXPECT_INT(resp("HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n", "GET"), -1);
	EXPECT_INT(resp("HTTP/1.1 20 OK\r\n\r\n", "GET"), -1);
	EXPECT_INT(resp("HTTP/1.1 099 OK\r\n\r\n", "GET"), -1);
	EXPECT_INT(resp("HTTP/1.1 200OK\r\n\r\n", "GET"), -1);
	EXPECT_INT(resp("HTTP/1.1 200 O\x01K\r\n\r\n", "GET"), -1);
	EXPECT_INT(resp("ICY 200 OK\r\n\r\n", "GET"), -1);
	EXPECT_INT(resp("HTTP/1.1 200 OK\r\nSet-Cookie: a\r\n b\r\n\r\n", "GET"), -1);
}

/* Decode s fed in pieces of step bytes; returns the status, data in out. */
static int decode(const char *s, size_t step, char *out, size_t *out_n, size_t *consumed)
{
	struct http_chunked c = { 0 };
	size_t len = strlen(s), pos = 0, have = 0;
	char buf[256];
	int rc = 0;

	*out_n = 0;
	while (rc == 0 && pos < len) {
		size_t n = len - pos < step ? len - pos : step, dlen, used;

		memcpy(buf + have, s + pos, n);
		have += n;
		pos += n;
		rc = http_chunked_decode(&c, buf, have, &dlen, &used, &why);
		memcpy(out + *out_n, buf, dlen);
		*out_n += dlen;
		/* Unused input stays for the next call. */
		memmove(buf, buf + used, have - used);
		have -= used;
		pos -= rc == 1 ? have : 0;
		if (rc == 1)
			have = 0;
	}
	*consumed = pos;
	return rc;
}

static void test_chunked(void)
{
	const char *body = "5\r\nhello\r\n6;ext=1;q=\"a b\"\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
	char out[256];
	size_t n, used;

	for (size_t step = 1; step <= strlen(body); step++) {
		EXPECT_INT(decode(body, step, out, &n, &used), 1);
		EXPECT_INT(n, 11);
		EXPECT(n == 11 && !memcmp(out, "hello world", 11));
		EXPECT_INT(used, strlen(body) - 4);
	}
	EXPECT_INT(decode("0\r\n\r\n", 1, out, &n, &used), 1);
	EXPECT_INT(n, 0);
	EXPECT_INT(decode("A\r\n0123456789\r\n0\r\n\r\n", 3, out, &n, &used), 1);
	EXPECT_INT(n, 10);
	/* Incomplete: more is needed. */
	EXPECT_INT(decode("5\r\nhel", 2, out, &n, &used), 0);
	EXPECT_INT(n, 3);
}

static void test_chunked_attacks(void)
{
	static const char *const bodies[] = {
		"5\nhello\r\n0\r\n\r\n",		/* bare LF after the size */
		"5\r\nhello\n0\r\n\r\n",		/* bare LF after the data */
		"5\r\nhelloXX\r\n0\r\n\r\n",		/* more data than the size */
		"5\r\nhell\r\n0\r\n\r\n",		/* less data than the size */
		"\r\nhello\r\n0\r\n\r\n",		/* empty size */
		"-5\r\nhello\r\n0\r\n\r\n",
		"+5\r\nhello\r\n0\r\n\r\n",
		"0x5\r\nhello\r\n0\r\n\r\n",
		" 5\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"5 ;x\r\nhello\r\n0\r\n\r\n",
		"5;x\x01\r\nhello\r\n0\r\n\r\n",
		"10000000000000000\r\n",		/* 2^64 */
		"00000000000000005\r\n",		/* 17 digits */
		"5\r\nhello\r\n0\r\n X: y\r\n\r\n",	/* folded trailer */
		"5\r\nhello\r\n0\r\nX: y\n\r\n",
		"5\r\nhello\r\n0\r\n\n",
		"5\r\nhello\r\n0\r\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		char out[256];
		size_t n, used;

		why = NULL;
		if (decode(bodies[i], 1, out, &n, &used) != -1 || !why) {
			printf("#   body %zu was not refused\n", i);
			EXPECT(0);
		}
	}
}

int main(void)
{
	RUN(test_simple_get);
	RUN(test_incomplete);
	RUN(test_line_endings);
	RUN(test_obs_fold);
	RUN(test_framing_conflicts);
	RUN(test_control_characters);
	RUN(test_header_names);
	RUN(test_request_line);
	RUN(test_limits);
	RUN(test_connection);
	RUN(test_dropped_headers);
	RUN(test_pipelined);
	RUN(test_responses);
	RUN(test_chunked);
	RUN(test_chunked_attacks);
	UNIT_EXIT();
}
