/* Unit tests for net/inject.c: placeholders, scope, header injection and
 * scrubbing, and replacement in bodies that arrive in pieces. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "net/http.h"
#include "net/inject.h"
#include "net/policy.h"
#include "net/secrets.h"
#include "tests/unit/unit.h"

#define PH1 "smolvm-ph-0123456789abcdef0123456789abcdef"
#define PH2 "smolvm-ph-fedcba9876543210fedcba9876543210"
#define KEY1 "sk-live-REALKEY1-abcdefghijklmnop"
#define KEY2 "gh-token-REALKEY2"

static char *hosts1[] = { "api.test", "*.models.test" };
static char *hosts2[] = { "127.0.0.1" };
static struct inject_secret secrets[2];
static struct inject_set set;

static void no_release(void *owner)
{
	(void)owner;
}

static void setup(void)
{
	secrets[0] = (struct inject_secret){ .name = "API_KEY", .placeholder = PH1,
					     .value = KEY1, .value_len = strlen(KEY1),
					     .hosts = hosts1, .n_hosts = 2 };
	secrets[1] = (struct inject_secret){ .name = "GH_TOKEN", .placeholder = PH2,
					     .value = KEY2, .value_len = strlen(KEY2),
					     .hosts = hosts2, .n_hosts = 1,
					     .header = "Authorization", .format = "Bearer %s (100%%)",
					     .body = true, .plain_http = true };
	set = (struct inject_set){ .s = secrets, .n = 2, .release = no_release };
	atomic_init(&set.refs, 1);
}

static struct match_host host(const char *s)
{
	struct match_host h;
	const char *why;

	if (!match_host_parse(s, strlen(s), &h, &why))
		abort();
	return h;
}

static void test_placeholder(void)
{
	char a[INJECT_PH_LEN + 1], b[INJECT_PH_LEN + 1];

	inject_placeholder_new(a);
	inject_placeholder_new(b);
	EXPECT_INT(strlen(a), INJECT_PH_LEN);
	EXPECT(!strncmp(a, "smolvm-ph-", 10));
	EXPECT(strcmp(a, b));
	EXPECT(inject_placeholder_valid(a));
	EXPECT(inject_placeholder_valid(PH1));
	EXPECT(!inject_placeholder_valid("smolvm-ph-0123"));
	EXPECT(!inject_placeholder_valid(PH1 "0"));
	EXPECT(!inject_placeholder_valid("smolvm-ph-0123456789ABCDEF0123456789abcdef"));
	EXPECT(!inject_placeholder_valid("smolvm-xx-0123456789abcdef0123456789abcdef"));
}

static void test_scope(void)
{
	struct match_host h;

	setup();
	h = host("api.test");
	EXPECT(inject_in_scope(&secrets[0], &h, true));
	EXPECT(!inject_in_scope(&secrets[0], &h, false));	/* plain HTTP not allowed */
	h = host("API.Test.");
	EXPECT(inject_in_scope(&secrets[0], &h, true));
	h = host("x.models.test");
	EXPECT(inject_in_scope(&secrets[0], &h, true));
	h = host("models.test");
	EXPECT(!inject_in_scope(&secrets[0], &h, true));	/* strict subdomains only */
	h = host("evilmodels.test");
	EXPECT(!inject_in_scope(&secrets[0], &h, true));
	h = host("api.test.evil");
	EXPECT(!inject_in_scope(&secrets[0], &h, true));
	h = host("other.test");
	EXPECT(!inject_in_scope(&secrets[0], &h, true));
	h = host("127.1");
	EXPECT(inject_in_scope(&secrets[1], &h, false));
	EXPECT_INT(inject_scope(&set, &h, false), 2);
	h = host("api.test");
	EXPECT_INT(inject_scope(&set, &h, true), 1);
	EXPECT_INT(inject_scope(NULL, &h, true), 0);
}

/* The header block for a request head in text, under scope. */
static char *req_headers(const char *text, uint64_t scope, uint64_t *used, size_t *len)
{
	static struct http_head h;
	const char *why;

	if (http_parse_request(text, strlen(text), &h, &why) <= 0)
		abort();
	return inject_request_headers(&set, scope, &h, len, used);
}

static void test_request_headers(void)
{
	uint64_t used;
	size_t len;
	char *out;

	setup();
	out = req_headers("GET / HTTP/1.1\r\nHost: api.test\r\nX-Key: " PH1 "\r\n"
			  "X-Two: a" PH1 "b" PH1 "\r\nX-Other: " PH2 "\r\n"
			  "Accept-Encoding: gzip\r\nExpect: 100-continue\r\n\r\n", 1, &used, &len);
	EXPECT_STR(out, "X-Key: " KEY1 "\r\nX-Two: a" KEY1 "b" KEY1 "\r\nX-Other: " PH2 "\r\n"
		   "Accept-Encoding: identity\r\n");
	EXPECT_INT(len, strlen(out));
	EXPECT_INT(used, 1);
	inject_free(out, len);

	/* Out of scope: nothing replaced, encodings left as they are. */
	out = req_headers("GET / HTTP/1.1\r\nHost: x\r\nX-Key: " PH1 "\r\n"
			  "Accept-Encoding: gzip\r\n\r\n", 0, &used, &len);
	EXPECT_STR(out, "X-Key: " PH1 "\r\nAccept-Encoding: gzip\r\n");
	EXPECT_INT(used, 0);
	inject_free(out, len);

	/* The placeholder inside another encoding (base64, case changed) stays. */
	out = req_headers("GET / HTTP/1.1\r\nHost: x\r\nX-B64: c21vbHZtLXBoLTAxMjM0NTY3ODlhYmNkZWY=\r\n"
			  "X-Up: SMOLVM-PH-0123456789ABCDEF0123456789ABCDEF\r\n"
			  "X-Cut: smolvm-ph-0123456789abcdef0123456789abcde\r\n\r\n", 1, &used,
			  &len);
	EXPECT(!strstr(out, KEY1));
	EXPECT_INT(used, 0);
	inject_free(out, len);

	/* Set outright: the guest's Authorization goes, the formatted value comes,
	 * and hop-by-hop headers (those Connection names too) are dropped. */
	out = req_headers("POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic Z3Vlc3Q=\r\n"
			  "Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\n"
			  "Proxy-Authorization: x\r\nTE: trailers\r\nUpgrade: h2c\r\n"
			  "authorization: second\r\nX-Keep: " PH2 "\r\nContent-Length: 0\r\n\r\n",
			  2, &used, &len);
	EXPECT_STR(out, "X-Keep: " KEY2 "\r\nAuthorization: Bearer " KEY2 " (100%)\r\n"
		   "Accept-Encoding: identity\r\n");
	EXPECT_INT(used, 2);
	inject_free(out, len);

	/* A guest that names Authorization in Connection cannot remove the one set. */
	out = req_headers("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Authorization\r\n"
			  "\r\n", 2, &used, &len);
	EXPECT_STR(out, "Authorization: Bearer " KEY2 " (100%)\r\nAccept-Encoding: identity\r\n");
	inject_free(out, len);
}

static void test_response_headers(void)
{
	static struct http_head h;
	const char *why;
	const char *text = "HTTP/1.1 302 Found " KEY1 "\r\nLocation: https://b.test/?k=" KEY1 "\r\n"
			   "X-Echo: Bearer " KEY2 "\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
			   "Content-Length: 0\r\n\r\n";
	size_t len;
	char *out;

	setup();
	if (http_parse_response(text, strlen(text), "GET", &h, &why) <= 0)
		abort();
	out = inject_response_headers(&set, &h, &len);
	EXPECT_STR(out, "Location: https://b.test/?k=" PH1 "\r\nX-Echo: Bearer " PH2 "\r\n");
	inject_free(out, len);
	out = inject_scrub(&set, h.reason, h.reason_len, &len);
	EXPECT_STR(out, "Found " PH1);
	inject_free(out, len);
}

struct collect {
	char buf[4096];
	size_t len;
	int calls;
};

static int collect(void *arg, const char *p, size_t n)
{
	struct collect *c = arg;

	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	c->calls++;
	return 0;
}

/* text fed in pieces of size step through st; the result. */
static const char *feed(struct inject_stream *st, const char *text, size_t step,
			struct collect *c)
{
	size_t len = strlen(text);

	c->len = 0;
	c->buf[0] = '\0';
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;

		EXPECT_INT(inject_stream_feed(st, text + i, n, false, collect, c), 0);
	}
	EXPECT_INT(inject_stream_feed(st, "", 0, true, collect, c), 0);
	return c->buf;
}

static void test_stream_scrub(void)
{
	static struct collect c;
	const char *text = "{\"echo\": \"" KEY1 "\", \"k2\": \"" KEY2 KEY2 "\", \"x\": \"sk-live\"}";
	const char *want = "{\"echo\": \"" PH1 "\", \"k2\": \"" PH2 PH2 "\", \"x\": \"sk-live\"}";
	struct inject_stream st;

	setup();
	/* Every split point of every piece size, 1 byte at a time included. */
	for (size_t step = 1; step <= strlen(text) + 1; step++) {
		EXPECT(inject_stream_scrub(&st, &set));
		EXPECT_STR(feed(&st, text, step, &c), want);
		EXPECT_INT(inject_stream_used(&st), 3);
		inject_stream_free(&st);
	}
	/* A start of a value at the very end is held back, then let go at the end. */
	EXPECT(inject_stream_scrub(&st, &set));
	EXPECT_STR(feed(&st, "abc sk-live-REAL", 4, &c), "abc sk-live-REAL");
	EXPECT_INT(st.hits, 0);
	inject_stream_free(&st);
}

static void test_stream_request(void)
{
	static struct collect c;
	struct inject_stream st;

	setup();
	/* Only the secret that opts into bodies, and only when in scope. */
	EXPECT(!inject_stream_request(&st, &set, 1));
	EXPECT(inject_stream_request(&st, &set, 3));
	EXPECT_STR(feed(&st, "token=" PH2 "&other=" PH1, 7, &c), "token=" KEY2 "&other=" PH1);
	EXPECT_INT(inject_stream_used(&st), 2);
	inject_stream_free(&st);
	EXPECT(!inject_stream_request(&st, &set, 0));
}

static void test_text_body(void)
{
	static const struct {
		const char *ct;
		bool text;
	} cases[] = {
		{ "text/plain", true }, { "Text/HTML; charset=utf-8", true },
		{ "application/json", true }, { "application/problem+json", true },
		{ "application/atom+xml", true }, { "application/xml", true },
		{ "application/javascript", true }, { "application/x-www-form-urlencoded", true },
		{ "image/png", false }, { "application/octet-stream", false },
		{ "application/jsonx", false }, { "application/gzip", false },
	};
	static struct http_head h;
	const char *why;
	char text[256];

	snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	if (http_parse_response(text, strlen(text), "GET", &h, &why) <= 0)
		abort();
	EXPECT(inject_text_body(&h));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
			 "Content-Length: 0\r\n\r\n", cases[i].ct);
		if (http_parse_response(text, strlen(text), "GET", &h, &why) <= 0)
			abort();
		if (inject_text_body(&h) != cases[i].text)
			printf("#   %s\n", cases[i].ct);
		EXPECT(inject_text_body(&h) == cases[i].text);
	}
}

static struct policy *load(const char *text)
{
	struct policy *p = NULL;

	if (policy_load(text, strlen(text), &p) < 0)
		return NULL;
	return p;
}

static void test_policy_secrets(void)
{
	struct policy *p = load("{\"mode\": \"none\", \"secrets\": [\"API_KEY\", \"_X2\"]}"), *q;
	char *text;

	EXPECT(p && p->n_secrets == 2);
	if (!p)
		return;
	EXPECT_STR(p->secrets[1], "_X2");
	text = policy_to_json(p);
	EXPECT(strstr(text, "\"secrets\":") && strstr(text, "[\"API_KEY\", \"_X2\"]"));
	q = load(text);
	EXPECT(q && q->n_secrets == 2);
	free(text);
	policy_unref(q);
	/* Without secrets nothing is written. */
	q = load("{\"mode\": \"none\"}");
	text = policy_to_json(q);
	EXPECT(!strstr(text, "secrets"));
	free(text);
	policy_unref(q);

	EXPECT(!load("{\"mode\": \"none\", \"secrets\": [\"api_key\"]}"));
	EXPECT(strstr(err_msg(), "secrets[0]: \"api_key\" is not a secret's name"));
	EXPECT(!load("{\"mode\": \"none\", \"secrets\": [\"1X\"]}"));
	EXPECT(!load("{\"mode\": \"none\", \"secrets\": [\"\"]}"));
	EXPECT(!load("{\"mode\": \"none\", \"secrets\": [\"A-B\"]}"));
	EXPECT(!load("{\"mode\": \"none\", \"secrets\": [\"A\", \"A\"]}"));
	EXPECT(strstr(err_msg(), "secrets[1]: \"A\" repeats secrets[0]"));
	EXPECT(!load("{\"mode\": \"none\", \"secrets\": \"A\"}"));
	EXPECT(!load("{\"mode\": \"none\", \"secrets\": [1]}"));
	/* The same shape of check for a rule's resolve list. */
	EXPECT(!load("{\"mode\": \"allowlist\", \"rules\": [{\"id\": \"a\", \"scheme\": \"http\", "
		     "\"host\": \"a.test\", \"resolve\": \"127.0.0.1\"}]}"));
	EXPECT(strstr(err_msg(), "rules[0].resolve: must be an array"));

	/* create --secret adds names once, to a policy or to the default one. */
	EXPECT_INT(secrets_policy_with(p, (char *[]){ "B", "API_KEY", "B" }, 3, &q), 0);
	EXPECT(q && q->n_secrets == 3 && !strcmp(q->secrets[2], "B"));
	policy_unref(q);
	EXPECT_INT(secrets_policy_with(NULL, (char *[]){ "C" }, 1, &q), 0);
	EXPECT(q && q->mode == POLICY_NONE && q->n_secrets == 1);
	policy_unref(q);
	EXPECT_INT(secrets_policy_with(NULL, (char *[]){ "c" }, 1, &q), -1);
	policy_unref(p);
}

static void test_secrets_attach(void)
{
	char home[] = "/tmp/smolvm-test-inject.XXXXXX";
	struct policy *p = load("{\"mode\": \"none\", \"secrets\": [\"A\", \"B\"]}");
	struct policy *p2 = load("{\"mode\": \"none\", \"secrets\": [\"B\", \"C\"]}");
	struct secrets s1, s2, s3;
	bool changed;
	char *dir, *cmd;

	if (!mkdtemp(home) || !p || !p2)
		abort();
	setenv("SMOLVM_HOME", home, 1);
	paths_reset();
	dir = paths_vm_dir("0000abcd");
	util_mkdir_p(dir, 0700);
	EXPECT_INT(secrets_load("0000abcd", &s1), 0);
	EXPECT_INT(s1.n, 0);
	EXPECT_INT(secrets_attach("0000abcd", p, &s1, &changed), 0);
	EXPECT(changed && s1.n == 2);
	EXPECT(inject_placeholder_valid(s1.v[0].placeholder));
	EXPECT(strcmp(s1.v[0].placeholder, s1.v[1].placeholder));
	EXPECT_INT(secrets_attach("0000abcd", p, NULL, &changed), 0);
	EXPECT(!changed);
	/* B keeps its placeholder, A goes, C gets a new one. */
	EXPECT_INT(secrets_attach("0000abcd", p2, NULL, &changed), 0);
	EXPECT(changed);
	EXPECT_INT(secrets_load("0000abcd", &s2), 0);
	EXPECT(s2.n == 2 && !strcmp(s2.v[0].name, "B") && !strcmp(s2.v[1].name, "C"));
	EXPECT_STR(s2.v[0].placeholder, secrets_find(&s1, "B")->placeholder);
	EXPECT(!secrets_find(&s2, "A"));
	/* The guest command sets exactly these, and restarts the SSH server with -e. */
	cmd = secrets_guest_cmd(&s2);
	EXPECT(strstr(cmd, " B=smolvm-ph-") && strstr(cmd, " C=smolvm-ph-") && !strstr(cmd, " A="));
	EXPECT(strstr(cmd, "\"$@\" -e"));
	free(cmd);
	/* A damaged file is refused when read, and replaced by attach. */
	{
		char *f = paths_vm_file("0000abcd", SECRETS_FILE);

		util_write_atomic(f, "{\"secrets\": [{\"name\": \"B\"}]}", 29, 0600);
		EXPECT_INT(secrets_load("0000abcd", &s3), -1);
		EXPECT_INT(secrets_attach("0000abcd", p2, &s3, NULL), 0);
		EXPECT(s3.n == 2 && inject_placeholder_valid(s3.v[0].placeholder));
		secrets_free(&s3);
		free(f);
	}
	secrets_free(&s1);
	secrets_free(&s2);
	policy_unref(p);
	policy_unref(p2);
	util_rm_rf(home);
	free(dir);
}

int main(void)
{
	RUN(test_placeholder);
	RUN(test_scope);
	RUN(test_request_headers);
	RUN(test_response_headers);
	RUN(test_stream_scrub);
	RUN(test_stream_request);
	RUN(test_text_body);
	RUN(test_policy_secrets);
	RUN(test_secrets_attach);
	UNIT_EXIT();
}
