/*
 * Unit tests for net/match.c. Most are attacks: each request here is one
 * a sandbox could send to get past its policy, and the test fails if the
 * matcher lets it through.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"
#include "net/match.h"
#include "net/policy.h"
#include "tests/unit/unit.h"

static const char rules_json[] =
	"{\"mode\": \"allowlist\", \"rules\": ["
	"{\"id\": \"chat\", \"scheme\": \"https\", \"host\": \"api.example.com\","
	" \"paths\": [\"/v1/chat\"], \"methods\": [\"POST\"]},"
	"{\"id\": \"docs\", \"scheme\": \"https\", \"host\": \"*.docs.example.org\"},"
	"{\"id\": \"local\", \"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": 8080,"
	" \"methods\": [\"*\"]},"
	"{\"id\": \"pinned\", \"scheme\": \"https\", \"host\": \"internal.test\","
	" \"resolve\": [\"10.1.2.3\", \"::1\"]},"
	"{\"id\": \"ws\", \"scheme\": \"https\", \"host\": \"ws.example.com\","
	" \"paths\": [\"/socket/\"], \"websocket\": true},"
	"{\"id\": \"tunnel\", \"scheme\": \"https\", \"host\": \"git.example.net\","
	" \"methods\": [\"*\"], \"websocket\": true},"
	"{\"id\": \"v6\", \"scheme\": \"http\", \"host\": \"[fd00::5]\", \"port\": 9000,"
	" \"methods\": [\"GET\", \"PUT\"]},"
	"{\"id\": \"name\", \"scheme\": \"http\", \"host\": \"localhost\"}"
	"]}";

static struct policy *load(const char *json)
{
	struct policy *p = NULL;

	if (policy_load(json, strlen(json), &p) < 0)
		die("test policy does not load: %s", err_msg());
	return p;
}

static const char *last_why;

/* The id of the rule allowing the request, "(full_internet)", or "deny". */
static const char *decide_len(const struct policy *p, enum policy_scheme scheme, const char *host,
			      size_t host_len, int port, const char *method, const char *path,
			      size_t path_len, bool websocket)
{
	struct match_target t = {
		.scheme = scheme, .host = host, .host_len = host_len, .port = (uint16_t)port,
		.method = method, .path = path, .path_len = path_len, .websocket = websocket,
	};
	const struct policy_rule *r = (const struct policy_rule *)&t;	/* must be overwritten */
	bool ok = match_request(p, &t, &r, &last_why);

	if (!last_why)
		return "no reason given";
	if (!ok)
		return r ? "deny with a rule" : "deny";
	return r ? r->id : "(full_internet)";
}

static const char *decide(const struct policy *p, enum policy_scheme scheme, const char *host,
			  int port, const char *method, const char *path)
{
	return decide_len(p, scheme, host, strlen(host), port, method, path, strlen(path), false);
}

static const char *https(const struct policy *p, const char *host, const char *method,
			 const char *path)
{
	return decide(p, POLICY_HTTPS, host, 443, method, path);
}

static const char *tunnel(const struct policy *p, const char *host, int port)
{
	struct match_target t = {
		.scheme = POLICY_HTTPS, .host = host, .host_len = strlen(host),
		.port = (uint16_t)port, .tunnel = true,
	};
	const struct policy_rule *r;
	bool ok = match_request(p, &t, &r, &last_why);

	if (!ok)
		return "deny";
	return r ? r->id : "(full_internet)";
}

#define EXPECT_DENY(call, reason) do { \
	EXPECT_STR(call, "deny"); \
	if (last_why && !strstr(last_why, reason)) { \
		printf("#   %s:%d: reason \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, last_why, \
		       reason); \
		unit_failed_current = 1; \
	} \
} while (0)

static void host_normalisation(void)
{
	struct match_host h;
	const char *why;

	EXPECT(match_host_parse("API.Example.COM.", 16, &h, &why));
	EXPECT(!h.is_ip);
	EXPECT_STR(h.name, "api.example.com");
	EXPECT(match_host_parse("xn--bcher-kva.example", 21, &h, &why));
	EXPECT_STR(h.name, "xn--bcher-kva.example");
	EXPECT(match_host_parse("_dmarc.example.com", 18, &h, &why));
	EXPECT(match_host_parse("localhost", 9, &h, &why));
	EXPECT(match_host_parse("0x7f.1", 6, &h, &why));
	EXPECT(h.is_ip);
	EXPECT(match_host_parse("127.0.0.1.", 10, &h, &why));
	EXPECT(h.is_ip);
	EXPECT(match_host_parse("[::1]", 5, &h, &why));
	EXPECT(h.is_ip && h.ip.family == AF_INET6);
	EXPECT(match_host_parse("::1", 3, &h, &why));
	EXPECT(h.is_ip);
	EXPECT(match_host_parse("[fe80::1%25eth0]", 16, &h, &why));
	EXPECT(h.is_ip && h.ip.zone);
	EXPECT(match_host_parse("3f2a1bc4d5e6", 12, &h, &why));
	EXPECT(!h.is_ip);
}

static void host_refusals(void)
{
	static const struct {
		const char *host;
		const char *why;
	} cases[] = {
		{ "", "empty" }, { ".", "empty" }, { "..", "empty label" },
		{ "example.com..", "empty label" }, { ".example.com", "empty label" },
		{ "a..example.com", "empty label" }, { "exa mple.com", "character" },
		{ "example.com ", "character" }, { "example.com/x", "character" },
		{ "user@example.com", "character" }, { "example.com:443", "':'" },
		{ "[::1]:443", "brackets" }, { "[127.0.0.1]", "brackets" }, { "[]", "brackets" },
		{ "[::1", "brackets" }, { "\xd0\xb0pi.example.com", "ASCII" },
		{ "b\xc3\xbc" "cher.example", "ASCII" }, { "-a.example.com", "'-'" },
		{ "a-.example.com", "'-'" }, { "1.2.3.4.5", "numeric" }, { "08.0.0.1", "numeric" },
		{ "127.0.0.1.5", "numeric" }, { "example.0x10", "numeric" },
		{ "4294967296", "numeric" }, { "0x100000000", "numeric" },
		{ "example.123", "numeric" },
		{ "a*.example.com", "character" }, { "*.example.com", "character" },
		{ "example.com%2f", "character" }, { "1.2.3.4%eth0", "character" },
	};
	char label[70], longname[300];
	struct match_host h;
	const char *why;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why = NULL;
		if (match_host_parse(cases[i].host, strlen(cases[i].host), &h, &why)) {
			printf("#   host \"%s\" was accepted\n", cases[i].host);
			unit_failed_current = 1;
		} else if (!why || !strstr(why, cases[i].why)) {
			printf("#   host \"%s\": \"%s\" lacks \"%s\"\n", cases[i].host,
			       why ? why : "(null)", cases[i].why);
			unit_failed_current = 1;
		}
	}
	memset(label, 'a', 64);
	memcpy(label + 64, ".com", 5);
	EXPECT(!match_host_parse(label, strlen(label), &h, &why));
	EXPECT(strstr(why, "63"));
	/* A NUL inside the given length is a bad character, not the end. */
	EXPECT(!match_host_parse("example.com\0.evil.net", 21, &h, &why));
	for (int i = 0; i < 127; i++)
		memcpy(longname + 2 * i, "a.", 2);
	memcpy(longname + 254, "ab", 3);
	EXPECT(!match_host_parse(longname, strlen(longname), &h, &why));
	EXPECT(strstr(why, "253"));
	longname[253] = '\0';	/* 253 characters, ending in a label "a" */
	EXPECT(match_host_parse(longname, 253, &h, &why));
}

static const char *norm(const char *in)
{
	static char out[256];
	const char *why;
	size_t plen;

	if (match_path_normalize(in, strlen(in), out, sizeof out, &plen, &why) < 0)
		return NULL;
	return out;
}

static void path_normalisation(void)
{
	char small[4];
	size_t plen;
	const char *why;

	EXPECT_STR(norm("/"), "/");
	EXPECT_STR(norm("/v1/%63hat"), "/v1/chat");
	EXPECT_STR(norm("/%7Euser/%2D%5f%41z%39"), "/~user/-_Az9");
	EXPECT_STR(norm("/a/%c3%a9"), "/a/%C3%A9");
	EXPECT_STR(norm("/a/%3f%3B%20"), "/a/%3F%3B%20");
	EXPECT_STR(norm("/a/b;c=d/e:f@g!$&'()*+,="), "/a/b;c=d/e:f@g!$&'()*+,=");
	EXPECT_STR(norm("/a/"), "/a/");
	EXPECT_STR(norm("/a/.b/..c/b..."), "/a/.b/..c/b...");
	EXPECT_STR(norm("/a?b=%2e%2e/../&c=//"), "/a?b=%2e%2e/../&c=//");
	EXPECT_STR(norm("/%F0%9F%98%80"), "/%F0%9F%98%80");
	EXPECT(match_path_normalize("/a%41?q", 7, small, sizeof small, &plen, &why) == -1);
	{
		char out[16];

		EXPECT_INT(match_path_normalize("/a%41?q=1", 9, out, sizeof out, &plen, &why), 0);
		EXPECT_STR(out, "/aA?q=1");
		EXPECT_INT(plen, 3);
	}
}

/* Every way to smuggle a '..', a separator or a second reading into a path. */
static void path_tricks_are_refused(void)
{
	static const struct {
		const char *path;
		const char *why;
	} cases[] = {
		{ "/v1/chat/../admin", "dot segment" }, { "/v1/chat/..", "dot segment" },
		{ "/v1/chat/.", "dot segment" }, { "/v1/chat/./x", "dot segment" },
		{ "/v1/chat/...", "dot segment" }, { "/v1/chat/..;/admin", "dot segment" },
		{ "/v1/chat/.;x/", "dot segment" }, { "/..", "dot segment" },
		{ "/v1/chat/%2e%2e/admin", "encoded" }, { "/v1/chat/%2E%2E/admin", "encoded" },
		{ "/v1/chat/.%2e/admin", "encoded" }, { "/v1/chat/%2e./admin", "encoded" },
		{ "/v1/chat%2f..%2fadmin", "encoded" }, { "/v1/chat%2F", "encoded" },
		{ "/v1/chat/%5c..%5cadmin", "encoded" }, { "/v1/chat/%5C", "encoded" },
		{ "/v1/chat/%252e%252e/admin", "encoded" }, { "/v1/chat/%25", "encoded" },
		{ "/v1/chat/%25252e", "encoded" }, { "/v1/chat\\..\\admin", "backslash" },
		{ "/v1/chat/\\", "backslash" }, { "/v1/chat//x", "empty segment" },
		{ "//v1/chat", "empty segment" }, { "/v1//chat", "empty segment" },
		{ "/v1/chat/%", "escape" }, { "/v1/chat/%2", "escape" },
		{ "/v1/chat/%g1", "escape" },
		{ "/v1/chat/%%32%65", "escape" }, { "/v1/chat/\r\nHost: evil", "control" },
		{ "/v1/chat/\n", "control" }, { "/v1/chat/\t", "control" },
		{ "/v1/chat/\x7f", "control" },
		{ "/v1/chat/%00", "control" }, { "/v1/chat/%0d%0a", "control" },
		{ "/v1/chat/%7F", "control" }, { "/v1/chat/\xc3\xa9", "not ASCII" },
		{ "/v1/chat/%c0%ae%c0%ae/admin", "UTF-8" }, { "/v1/chat/%e0%80%ae", "UTF-8" },
		{ "/v1/chat/%ed%a0%80", "UTF-8" }, { "/v1/chat/%c3", "UTF-8" },
		{ "/v1/chat/%c3x", "UTF-8" }, { "/v1/chat/%c3%41", "UTF-8" },
		{ "/v1/chat/%ff", "UTF-8" },
		{ "/v1/chat/%f5%80%80%80", "UTF-8" },
		{ "/v1/chat/%ef%bc%8e%ef%bc%8e/x", "look-alike" },
		{ "/v1/chat/%e2%80%a5/x", "look-alike" }, { "/v1/chat/%e2%80%a4", "look-alike" },
		{ "/v1/chat/%ef%bc%8f", "look-alike" }, { "/v1/chat/%ef%bc%bc", "look-alike" },
		{ "/v1/chat/%ef%bc%85", "look-alike" }, { "/v1/chat/%ef%b9%92", "look-alike" },
		{ "/v1/chat#x", "fragment" }, { "/v1/chat/ x", "percent-encoded" },
		{ "/v1/chat/<script>", "percent-encoded" }, { "/v1/chat/\"", "percent-encoded" },
		{ "/v1/chat/{x}", "percent-encoded" }, { "/v1/chat/|", "percent-encoded" },
		{ "v1/chat", "start with '/'" }, { "*", "start with '/'" },
		{ "", "start with '/'" },
		{ "?x", "start with '/'" }, { "https://api.example.com/v1/chat", "start with '/'" },
		{ "/v1/chat?a b", "query" }, { "/v1/chat?a\r\nb", "query" },
		{ "/v1/chat?a#b", "query" },
		{ "/v1/chat?\xc3\xa9", "query" },
	};
	struct policy *p = load(rules_json);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = https(p, "api.example.com", "POST", cases[i].path);

		if (strcmp(got, "deny") || !strstr(last_why, cases[i].why)) {
			printf("#   path \"%s\": %s (%s), want deny for \"%s\"\n", cases[i].path,
			       got, last_why, cases[i].why);
			unit_failed_current = 1;
		}
		/* Refused even under a rule that allows every path. */
		EXPECT_STR(https(p, "a.docs.example.org", "GET", cases[i].path), "deny");
	}
	/* A NUL inside the path's length. */
	EXPECT_STR(decide_len(p, POLICY_HTTPS, "api.example.com", 15, 443, "POST",
			      "/v1/chat\0/../admin", 18, false), "deny");
	policy_unref(p);
}

static void path_prefix_ends_at_a_segment(void)
{
	struct policy *p = load(rules_json);

	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat"), "chat");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat/"), "chat");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat/completions"), "chat");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat?stream=1"), "chat");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat?x=/../admin"), "chat");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/%63hat/x"), "chat");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat/a%20b"), "chat");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat/%C3%A9"), "chat");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1/chatty"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1/chat.json"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1/chat-x"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1/chat;x"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1/cha"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1/"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/V1/chat"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/x/v1/chat"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1?q=/v1/chat"), "path");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v1%2fchat"), "encoded");
	/* A prefix ending in '/' needs that '/'. */
	EXPECT_STR(https(p, "ws.example.com", "GET", "/socket/"), "ws");
	EXPECT_STR(https(p, "ws.example.com", "GET", "/socket/x"), "ws");
	EXPECT_DENY(https(p, "ws.example.com", "GET", "/socket"), "path");
	EXPECT_DENY(https(p, "ws.example.com", "GET", "/socketx"), "path");

	EXPECT(match_path_prefix("/", 1, "/"));
	EXPECT(match_path_prefix("/anything", 9, "/"));
	EXPECT(match_path_prefix("/v1/chat", 8, "/v1/chat"));
	EXPECT(!match_path_prefix("/v1/chatty", 10, "/v1/chat"));
	EXPECT(!match_path_prefix("/v1/chat", 7, "/v1/chat"));
	policy_unref(p);
}

static void path_length_is_bounded(void)
{
	struct policy *p = load(rules_json);
	char *path = xmalloc(MATCH_PATH_MAX + 16);

	memset(path, 'a', MATCH_PATH_MAX + 1);
	memcpy(path, "/v1/chat/", 9);
	path[MATCH_PATH_MAX] = '\0';
	EXPECT_STR(https(p, "api.example.com", "POST", path), "chat");
	path[MATCH_PATH_MAX] = 'a';
	path[MATCH_PATH_MAX + 1] = '\0';
	EXPECT_DENY(https(p, "api.example.com", "POST", path), "longer");
	free(path);
	policy_unref(p);
}

static void host_case_dots_and_look_alikes(void)
{
	struct policy *p = load(rules_json);

	EXPECT_STR(https(p, "API.EXAMPLE.COM", "POST", "/v1/chat"), "chat");
	EXPECT_STR(https(p, "api.example.com.", "POST", "/v1/chat"), "chat");
	EXPECT_STR(https(p, "Api.Example.Com.", "POST", "/v1/chat"), "chat");
	EXPECT_DENY(https(p, "api.example.com..", "POST", "/v1/chat"), "empty label");
	EXPECT_DENY(https(p, ".api.example.com", "POST", "/v1/chat"), "empty label");
	EXPECT_DENY(https(p, "evilapi.example.com", "POST", "/v1/chat"), "this host");
	EXPECT_DENY(https(p, "api.example.com.evil.net", "POST", "/v1/chat"), "this host");
	EXPECT_DENY(https(p, "api.example.com.evil", "POST", "/v1/chat"), "this host");
	EXPECT_DENY(https(p, "api-example.com", "POST", "/v1/chat"), "this host");
	EXPECT_DENY(https(p, "api.example.co", "POST", "/v1/chat"), "this host");
	EXPECT_DENY(https(p, "x.api.example.com", "POST", "/v1/chat"), "this host");
	EXPECT_DENY(https(p, "example.com", "POST", "/v1/chat"), "this host");
	EXPECT_DENY(https(p, "api.example.com:443", "POST", "/v1/chat"), "':'");
	EXPECT_DENY(https(p, "\xd0\xb0pi.example.com", "POST", "/v1/chat"), "ASCII");
	EXPECT_DENY(https(p, "api.example.com ", "POST", "/v1/chat"), "character");
	EXPECT_STR(decide_len(p, POLICY_HTTPS, "api.example.com\0.evil.net", 25, 443, "POST",
			      "/v1/chat", 8, false), "deny");
	EXPECT_STR(decide_len(p, POLICY_HTTPS, "api.example.comX", 15, 443, "POST",
			      "/v1/chat", 8, false), "chat");
	policy_unref(p);
}

static void wildcard_is_strict_subdomains(void)
{
	struct policy *p = load(rules_json);

	EXPECT_STR(https(p, "a.docs.example.org", "GET", "/"), "docs");
	EXPECT_STR(https(p, "a.b.docs.example.org", "GET", "/x"), "docs");
	EXPECT_STR(https(p, "A.DOCS.EXAMPLE.ORG.", "GET", "/"), "docs");
	EXPECT_STR(https(p, "docs.example.org.docs.example.org", "GET", "/"), "docs");
	EXPECT_DENY(https(p, "docs.example.org", "GET", "/"), "this host");
	EXPECT_DENY(https(p, "xdocs.example.org", "GET", "/"), "this host");
	EXPECT_DENY(https(p, "a.xdocs.example.org", "GET", "/"), "this host");
	EXPECT_DENY(https(p, "a-docs.example.org", "GET", "/"), "this host");
	EXPECT_DENY(https(p, "a.docs.example.org.evil.net", "GET", "/"), "this host");
	EXPECT_DENY(https(p, "a.docs.example.orgx", "GET", "/"), "this host");
	EXPECT_DENY(https(p, ".docs.example.org", "GET", "/"), "empty label");
	EXPECT_DENY(https(p, "a..docs.example.org", "GET", "/"), "empty label");
	policy_unref(p);
}

static void scheme_and_port(void)
{
	struct policy *p = load(rules_json);

	EXPECT_STR(decide(p, POLICY_HTTPS, "api.example.com", 443, "POST", "/v1/chat"), "chat");
	EXPECT_DENY(decide(p, POLICY_HTTP, "api.example.com", 443, "POST", "/v1/chat"),
		    "scheme and port");
	EXPECT_DENY(decide(p, POLICY_HTTP, "api.example.com", 80, "POST", "/v1/chat"), "port");
	EXPECT_DENY(decide(p, POLICY_HTTPS, "api.example.com", 8443, "POST", "/v1/chat"), "port");
	EXPECT_DENY(decide(p, POLICY_HTTPS, "api.example.com", 0, "POST", "/v1/chat"), "port 0");
	EXPECT_STR(decide(p, POLICY_HTTP, "127.0.0.1", 8080, "GET", "/"), "local");
	EXPECT_DENY(decide(p, POLICY_HTTP, "127.0.0.1", 80, "GET", "/"), "port");
	EXPECT_DENY(decide(p, POLICY_HTTPS, "127.0.0.1", 8080, "GET", "/"), "port");
	/* A rule without "port" takes the scheme's. */
	EXPECT_STR(decide(p, POLICY_HTTP, "localhost", 80, "GET", "/"), "name");
	policy_unref(p);
}

/* No "methods": GET and HEAD only. Methods are case-sensitive tokens. */
static void methods(void)
{
	struct policy *p = load(rules_json);

	EXPECT_STR(https(p, "a.docs.example.org", "GET", "/"), "docs");
	EXPECT_STR(https(p, "a.docs.example.org", "HEAD", "/"), "docs");
	EXPECT_DENY(https(p, "a.docs.example.org", "POST", "/"), "method");
	EXPECT_DENY(https(p, "a.docs.example.org", "PUT", "/"), "method");
	EXPECT_DENY(https(p, "a.docs.example.org", "DELETE", "/"), "method");
	EXPECT_DENY(https(p, "a.docs.example.org", "OPTIONS", "/"), "method");
	EXPECT_DENY(https(p, "a.docs.example.org", "PATCH", "/"), "method");
	EXPECT_DENY(https(p, "a.docs.example.org", "get", "/"), "method");
	EXPECT_DENY(https(p, "a.docs.example.org", "Get", "/"), "method");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat"), "chat");
	EXPECT_DENY(https(p, "api.example.com", "GET", "/v1/chat"), "method");
	EXPECT_DENY(https(p, "api.example.com", "post", "/v1/chat"), "method");
	EXPECT_DENY(https(p, "api.example.com", "POST ", "/v1/chat"), "not a valid token");
	EXPECT_DENY(https(p, "api.example.com", "PO\r\nST", "/v1/chat"), "not a valid token");
	EXPECT_DENY(https(p, "api.example.com", "", "/v1/chat"), "not a valid token");
	EXPECT_DENY(https(p, "api.example.com", NULL, "/v1/chat"), "not a valid token");
	EXPECT_STR(decide_len(p, POLICY_HTTPS, "api.example.com", 15, 443, "POST", NULL, 0, false),
		   "deny");
	EXPECT_STR(last_why, "request has no path");
	/* "*" is every method a rule can allow, and no other. */
	for (const char *const *m = (const char *const[]){ "GET", "HEAD", "POST", "PUT", "PATCH",
							   "DELETE", "OPTIONS", NULL }; *m; m++)
		EXPECT_STR(decide(p, POLICY_HTTP, "127.0.0.1", 8080, *m, "/"), "local");
	EXPECT_DENY(decide(p, POLICY_HTTP, "127.0.0.1", 8080, "TRACE", "/"), "method");
	EXPECT_DENY(decide(p, POLICY_HTTP, "127.0.0.1", 8080, "CONNECT", "/"), "method");
	EXPECT_DENY(decide(p, POLICY_HTTP, "127.0.0.1", 8080, "PROPFIND", "/"), "method");
	EXPECT_STR(decide(p, POLICY_HTTP, "[fd00::5]", 9000, "PUT", "/"), "v6");
	EXPECT_DENY(decide(p, POLICY_HTTP, "[fd00::5]", 9000, "POST", "/"), "method");
	policy_unref(p);
}

static void websocket_needs_the_rule(void)
{
	struct policy *p = load(rules_json);

	EXPECT_STR(decide_len(p, POLICY_HTTPS, "ws.example.com", 14, 443, "GET", "/socket/x", 9,
			      true), "ws");
	EXPECT_STR(decide_len(p, POLICY_HTTPS, "ws.example.com", 14, 443, "GET", "/socket/x", 9,
			      false), "ws");
	EXPECT_DENY(decide_len(p, POLICY_HTTPS, "a.docs.example.org", 18, 443, "GET", "/x", 2,
			       true), "websocket");
	EXPECT_STR(decide_len(p, POLICY_HTTPS, "a.docs.example.org", 18, 443, "GET", "/x", 2,
			      false), "docs");
	policy_unref(p);
}

/* A host that is an address in any spelling matches only a rule naming that address. */
static void ip_literal_hosts(void)
{
	static const char *const loopback[] = {
		"127.0.0.1", "2130706433", "0x7f000001", "0X7F000001", "0177.0.0.1", "127.1",
		"127.0.1", "0x7f.1", "0x7f.0.0.1", "127.0.0.1.", "[::ffff:127.0.0.1]",
		"[::ffff:7f00:1]", "::ffff:7f00:1", "017700000001",
	};
	static const char *const others[] = {
		"127.0.0.2", "[::1]", "::1", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
		"[2002:7f00:1::]", "localhost", "127.0.0.1.nip.io", "0.0.0.0", "0",
	};
	struct policy *p = load(rules_json);

	for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
		const char *got = decide(p, POLICY_HTTP, loopback[i], 8080, "GET", "/");

		if (strcmp(got, "local")) {
			printf("#   %s: %s (%s)\n", loopback[i], got, last_why);
			unit_failed_current = 1;
		}
	}
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
		EXPECT_STR(decide(p, POLICY_HTTP, others[i], 8080, "GET", "/"), "deny");
	EXPECT_STR(decide(p, POLICY_HTTP, "[fd00::5]", 9000, "GET", "/"), "v6");
	EXPECT_STR(decide(p, POLICY_HTTP, "[FD00:0:0::5]", 9000, "GET", "/"), "v6");
	EXPECT_STR(decide(p, POLICY_HTTP, "fd00::5", 9000, "GET", "/"), "v6");
	EXPECT_DENY(decide(p, POLICY_HTTP, "[fd00::5%eth0]", 9000, "GET", "/"), "zone");
	EXPECT_DENY(decide(p, POLICY_HTTP, "[fd00::5%25eth0]", 9000, "GET", "/"), "zone");
	/* A resolve entry pins a name; it does not make the address a host. */
	EXPECT_STR(https(p, "internal.test", "GET", "/"), "pinned");
	EXPECT_STR(https(p, "10.1.2.3", "GET", "/"), "deny");
	EXPECT_STR(https(p, "[::1]", "GET", "/"), "deny");
	/* Names a resolver could read as numbers are refused outright. */
	EXPECT_DENY(decide(p, POLICY_HTTP, "127.0.0.1.5", 8080, "GET", "/"), "numeric");
	EXPECT_DENY(decide(p, POLICY_HTTP, "08.0.0.1", 8080, "GET", "/"), "numeric");
	EXPECT_DENY(decide(p, POLICY_HTTP, "4294967297", 8080, "GET", "/"), "numeric");
	policy_unref(p);
}

static void mode_none_denies_everything(void)
{
	struct policy *p = load("{\"mode\": \"none\", \"rules\": [{\"id\": \"a\", \"scheme\":"
				" \"https\", \"host\": \"api.example.com\", \"methods\": "
				"[\"*\"]}]}");
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *why;

	EXPECT_DENY(https(p, "api.example.com", "GET", "/"), "none");
	EXPECT_DENY(tunnel(p, "api.example.com", 443), "none");
	inet_pton(AF_INET, "93.184.216.34", &sin.sin_addr);
	EXPECT(!match_connect(p, &p->rules[0], (struct sockaddr *)&sin, sizeof sin, NULL, &why));
	EXPECT(!match_connect(p, NULL, (struct sockaddr *)&sin, sizeof sin, NULL, &why));
	policy_unref(p);
}

/* full_internet allows public hosts without a rule, never the always-denied ones. */
static void full_internet(void)
{
	static const struct {
		const char *host;
		const char *why;
	} denied[] = {
		{ "127.0.0.1", "loopback" }, { "2130706433", "loopback" }, { "0x7f.1", "loopback" },
		{ "0177.0.0.1", "loopback" }, { "[::1]", "loopback" },
		{ "[::ffff:127.0.0.1]", "loopback" }, { "[::ffff:7f00:1]", "loopback" },
		{ "[::127.0.0.1]", "loopback" }, { "[64:ff9b::7f00:1]", "loopback" },
		{ "[2002:7f00:1::]", "loopback" }, { "169.254.169.254", "metadata" },
		{ "2852039166", "metadata" }, { "0xa9fea9fe", "metadata" },
		{ "[::ffff:169.254.169.254]", "metadata" }, { "[fd00:ec2::254]", "metadata" },
		{ "100.100.100.200", "metadata" }, { "10.0.0.1", "private" },
		{ "172.16.5.4", "private" }, { "192.168.1.1", "private" },
		{ "[fc00::1]", "private" },
		{ "100.64.1.1", "shared" }, { "[fe80::1]", "link-local" },
		{ "169.254.1.1", "link-local" }, { "0.0.0.0", "unspecified" },
		{ "0", "unspecified" },
		{ "[::]", "unspecified" }, { "224.0.0.1", "multicast" },
		{ "[ff02::1]", "multicast" },
		{ "255.255.255.255", "broadcast" }, { "240.0.0.1", "reserved" },
		{ "[2001:db8::1]", "reserved" },
	};
	struct policy *p = load("{\"mode\": \"full_internet\", \"rules\": [{\"id\": \"chat\","
				" \"scheme\": \"https\", \"host\": \"api.example.com\","
				" \"paths\": [\"/v1/chat\"], \"methods\": [\"POST\"]}]}");

	EXPECT_STR(https(p, "anything.example.net", "GET", "/"), "(full_internet)");
	EXPECT_STR(https(p, "anything.example.net", "PROPFIND", "/"), "(full_internet)");
	EXPECT_STR(https(p, "api.example.com", "POST", "/v1/chat"), "chat");
	EXPECT_STR(https(p, "api.example.com", "GET", "/v2"), "(full_internet)");
	EXPECT_STR(https(p, "8.8.8.8", "GET", "/"), "(full_internet)");
	EXPECT_STR(https(p, "[2606:4700:4700::1111]", "GET", "/"), "(full_internet)");
	EXPECT_STR(tunnel(p, "anything.example.net", 443), "(full_internet)");
	for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
		const char *got = https(p, denied[i].host, "GET", "/");

		if (strcmp(got, "deny") || !strstr(last_why, denied[i].why)) {
			printf("#   %s: %s (%s), want deny for %s\n", denied[i].host, got, last_why,
			       denied[i].why);
			unit_failed_current = 1;
		}
		EXPECT_STR(tunnel(p, denied[i].host, 443), "deny");
	}
	/* Ambiguous paths and hosts stay refused. */
	EXPECT_DENY(https(p, "anything.example.net", "GET", "/a/../b"), "dot segment");
	EXPECT_DENY(https(p, "anything.example.net", "GET", "/a%2fb"), "encoded");
	EXPECT_DENY(https(p, "1.2.3.4.5", "GET", "/"), "numeric");
	EXPECT_DENY(https(p, "anything.example.net", "GE T", "/"), "token");
	policy_unref(p);
}

/* An uninspected tunnel needs a rule that limits nothing the proxy cannot see. */
static void tunnels(void)
{
	struct policy *p = load(rules_json);

	EXPECT_STR(tunnel(p, "git.example.net", 443), "tunnel");
	EXPECT_STR(tunnel(p, "GIT.example.net.", 443), "tunnel");
	EXPECT_DENY(tunnel(p, "git.example.net", 8443), "port");
	EXPECT_DENY(tunnel(p, "api.example.com", 443), "tunnel");
	EXPECT_DENY(tunnel(p, "a.docs.example.org", 443), "tunnel");
	EXPECT_DENY(tunnel(p, "ws.example.com", 443), "tunnel");
	EXPECT_DENY(tunnel(p, "other.example.net", 443), "this host");
	EXPECT_DENY(tunnel(p, "169.254.169.254", 443), "this host");
	policy_unref(p);
}

/* Before the first request of an intercepted TLS connection only host and port are known:
 * the first rule for them answers, whatever its paths and methods. */
static const char *host_only(const struct policy *p, enum policy_scheme scheme, const char *host,
			     int port)
{
	struct match_target t = {
		.scheme = scheme, .host = host, .host_len = strlen(host),
		.port = (uint16_t)port, .host_only = true,
	};
	const struct policy_rule *r;

	if (!match_request(p, &t, &r, &last_why))
		return "deny";
	return r ? r->id : "(full_internet)";
}

static void host_only_targets(void)
{
	struct policy *p = load(rules_json);
	struct match_host a, b;
	const char *why;

	EXPECT_STR(host_only(p, POLICY_HTTPS, "api.example.com", 443), "chat");
	EXPECT_STR(host_only(p, POLICY_HTTPS, "API.example.com.", 443), "chat");
	EXPECT_STR(host_only(p, POLICY_HTTPS, "a.docs.example.org", 443), "docs");
	EXPECT_STR(host_only(p, POLICY_HTTP, "127.1", 8080), "local");
	EXPECT_DENY(host_only(p, POLICY_HTTPS, "api.example.com", 8443), "scheme and port");
	EXPECT_DENY(host_only(p, POLICY_HTTP, "api.example.com", 443), "scheme and port");
	EXPECT_DENY(host_only(p, POLICY_HTTPS, "other.example.net", 443), "this host");
	EXPECT_DENY(host_only(p, POLICY_HTTPS, "10.1.2.3", 443), "this host");
	policy_unref(p);
	p = load("{\"mode\": \"none\", \"rules\": [{\"id\": \"a\", \"scheme\": \"https\","
		 " \"host\": \"api.example.com\"}]}");
	EXPECT_DENY(host_only(p, POLICY_HTTPS, "api.example.com", 443), "none");
	policy_unref(p);
	p = load("{\"mode\": \"full_internet\"}");
	EXPECT_STR(host_only(p, POLICY_HTTPS, "anything.example.net", 443), "(full_internet)");
	EXPECT_DENY(host_only(p, POLICY_HTTPS, "10.1.2.3", 443), "private");
	policy_unref(p);

	EXPECT(match_host_parse("API.Example.com.", 16, &a, &why));
	EXPECT(match_host_parse("api.example.com", 15, &b, &why));
	EXPECT(match_host_same(&a, &b));
	EXPECT(match_host_parse("127.1", 5, &a, &why));
	EXPECT(match_host_parse("[::ffff:127.0.0.1]", 18, &b, &why));
	EXPECT(match_host_same(&a, &b));
	EXPECT(match_host_parse("localhost", 9, &b, &why));
	EXPECT(!match_host_same(&a, &b));
	EXPECT(!match_host_same(&b, &a));
}

static const char *connect_to(const struct policy *p, const char *rule_id, const char *addr,
			      const struct addr_list *own)
{
	const struct policy_rule *r = NULL;
	struct sockaddr_storage ss;
	struct addr_ip a;
	socklen_t len;

	for (size_t i = 0; rule_id && i < p->n_rules; i++)
		if (!strcmp(p->rules[i].id, rule_id))
			r = &p->rules[i];
	if (rule_id && !r)
		die("no rule %s", rule_id);
	if (!addr_parse(addr, strlen(addr), ADDR_LOOSE, &a))
		die("bad address %s", addr);
	len = addr_to_sockaddr(&a, 443, &ss);
	last_why = NULL;
	if (match_connect(p, r, (struct sockaddr *)&ss, len, own, &last_why))
		return "allow";
	return last_why ? "deny" : "deny without a reason";
}

/* What the proxy may dial after DNS: DNS rebinding, pinned names, named addresses. */
static void connect_addresses(void)
{
	struct policy *p = load(rules_json);
	struct policy *full = load("{\"mode\": \"full_internet\"}");
	struct addr_ip host_addr;
	struct addr_list own = { &host_addr, 1 };
	struct sockaddr_in6 scoped = { .sin6_family = AF_INET6, .sin6_scope_id = 1 };
	const char *why;

	addr_parse("93.184.216.34", 13, ADDR_LOOSE, &host_addr);
	/* A name that resolves to an always-denied address is refused. */
	EXPECT_STR(connect_to(p, "chat", "8.8.8.8", &own), "allow");
	EXPECT_STR(connect_to(p, "chat", "93.184.216.34", &own), "deny");
	EXPECT(strstr(last_why, "this host"));
	EXPECT_STR(connect_to(p, "chat", "93.184.216.34", NULL), "allow");
	EXPECT_STR(connect_to(p, "chat", "127.0.0.1", &own), "deny");
	EXPECT(strstr(last_why, "loopback"));
	EXPECT_STR(connect_to(p, "chat", "::ffff:127.0.0.1", &own), "deny");
	EXPECT_STR(connect_to(p, "chat", "::1", &own), "deny");
	EXPECT_STR(connect_to(p, "chat", "169.254.169.254", &own), "deny");
	EXPECT(strstr(last_why, "metadata"));
	EXPECT_STR(connect_to(p, "chat", "fd00:ec2::254", &own), "deny");
	EXPECT_STR(connect_to(p, "chat", "10.0.0.1", &own), "deny");
	EXPECT_STR(connect_to(p, "chat", "64:ff9b::a9fe:a9fe", &own), "deny");
	EXPECT_STR(connect_to(p, "chat", "2002:c0a8:1::1", &own), "deny");
	/* A rule named "localhost" does not name 127.0.0.1: only an address does. */
	EXPECT_STR(connect_to(p, "name", "127.0.0.1", &own), "deny");
	/* A rule whose host is an address allows that address and no other. */
	EXPECT_STR(connect_to(p, "local", "127.0.0.1", &own), "allow");
	EXPECT_STR(connect_to(p, "local", "::ffff:127.0.0.1", &own), "allow");
	EXPECT_STR(connect_to(p, "local", "127.0.0.2", &own), "deny");
	EXPECT_STR(connect_to(p, "local", "8.8.8.8", &own), "deny");
	EXPECT(strstr(last_why, "names its addresses"));
	EXPECT_STR(connect_to(p, "v6", "fd00::5", &own), "allow");
	/* A pinned name dials exactly its pins. */
	EXPECT_STR(connect_to(p, "pinned", "10.1.2.3", &own), "allow");
	EXPECT_STR(connect_to(p, "pinned", "::1", &own), "allow");
	EXPECT_STR(connect_to(p, "pinned", "10.1.2.4", &own), "deny");
	EXPECT_STR(connect_to(p, "pinned", "8.8.8.8", &own), "deny");
	/* Without a rule only full_internet dials, and only public addresses. */
	EXPECT_STR(connect_to(p, NULL, "8.8.8.8", &own), "deny");
	EXPECT_STR(connect_to(full, NULL, "8.8.8.8", &own), "allow");
	EXPECT_STR(connect_to(full, NULL, "2606:4700:4700::1111", &own), "allow");
	EXPECT_STR(connect_to(full, NULL, "93.184.216.34", &own), "deny");
	EXPECT_STR(connect_to(full, NULL, "::ffff:93.184.216.34", &own), "deny");
	EXPECT_STR(connect_to(full, NULL, "127.0.0.1", &own), "deny");
	EXPECT_STR(connect_to(full, NULL, "169.254.169.254", &own), "deny");
	EXPECT_STR(connect_to(full, NULL, "0.0.0.0", &own), "deny");
	inet_pton(AF_INET6, "2606:4700:4700::1111", &scoped.sin6_addr);
	EXPECT(!match_connect(full, NULL, (struct sockaddr *)&scoped, sizeof scoped, &own, &why));
	EXPECT(strstr(why, "zone"));
	EXPECT(!match_connect(full, NULL, (struct sockaddr *)&scoped, 4, &own, &why));
	policy_unref(full);
	policy_unref(p);
}

/* The reason names the step that failed for the closest rule. */
static void deny_reasons(void)
{
	struct policy *p = load(rules_json);

	EXPECT_DENY(https(p, "nothing.example", "GET", "/"), "no rule allows this host");
	EXPECT_DENY(decide(p, POLICY_HTTP, "api.example.com", 80, "POST", "/v1/chat"),
		    "on this scheme and port");
	EXPECT_DENY(https(p, "api.example.com", "POST", "/v2"), "allows this path");
	EXPECT_DENY(https(p, "api.example.com", "DELETE", "/v1/chat"), "allows this method");
	EXPECT_DENY(https(p, "api.example.com", "MKCOL", "/v1/chat"), "not one a rule can allow");
	EXPECT_DENY(decide_len(p, POLICY_HTTPS, "a.docs.example.org", 18, 443, "GET", "/", 1, true),
		    "websocket");
	policy_unref(p);
}

int main(void)
{
	RUN(host_normalisation);
	RUN(host_refusals);
	RUN(path_normalisation);
	RUN(path_tricks_are_refused);
	RUN(path_prefix_ends_at_a_segment);
	RUN(path_length_is_bounded);
	RUN(host_case_dots_and_look_alikes);
	RUN(wildcard_is_strict_subdomains);
	RUN(scheme_and_port);
	RUN(methods);
	RUN(websocket_needs_the_rule);
	RUN(ip_literal_hosts);
	RUN(mode_none_denies_everything);
	RUN(full_internet);
	RUN(tunnels);
	RUN(host_only_targets);
	RUN(connect_addresses);
	RUN(deny_reasons);
	UNIT_EXIT();
}
