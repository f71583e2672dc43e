/* Unit tests for tui/netlog.c (the decision log: parsing, lines split
 * across reads, garbage, the ring, following a real file, the filter) and
 * for the narrowest rule that tui/ruleform.c offers for a denied request. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"
#include "net/match.h"
#include "net/policy.h"
#include "tui/netlog.h"
#include "tui/ruleform.h"
#include "tests/unit/unit.h"

/* Lines as the proxy writes them (net/forward.c log_outcome). */
#define DENIED "{\"time\":\"2025-06-01T12:34:56.789Z\",\"sandbox\":\"0a1b2c3d\",\"kind\":\"http\"," \
	"\"method\":\"GET\",\"scheme\":\"http\",\"host\":\"blocked.test\",\"port\":80," \
	"\"path\":\"/v1/x\",\"decision\":\"deny\",\"rule\":null," \
	"\"reason\":\"policy mode is none: no outbound traffic\",\"status\":403," \
	"\"bytes_up\":0,\"bytes_down\":0,\"duration_ms\":0}"
#define ALLOWED "{\"time\":\"2025-06-01T12:35:00.000Z\",\"sandbox\":\"0a1b2c3d\",\"kind\":\"http\"," \
	"\"method\":\"POST\",\"scheme\":\"http\",\"host\":\"api.test\",\"port\":8080," \
	"\"path\":\"/v1/chat\",\"decision\":\"allow\",\"rule\":\"api\",\"reason\":\"allowed by rule\"," \
	"\"status\":200,\"bytes_up\":10,\"bytes_down\":99,\"address\":\"198.51.100.10\"," \
	"\"duration_ms\":4}"
#define TUNNEL "{\"time\":\"2025-06-01T12:36:00.000Z\",\"sandbox\":\"0a1b2c3d\",\"kind\":\"connect\"," \
	"\"method\":\"CONNECT\",\"scheme\":\"https\",\"host\":\"tunnel.test\",\"port\":8443," \
	"\"path\":null,\"decision\":\"deny\",\"rule\":null,\"reason\":\"no rule allows this host\"," \
	"\"status\":403,\"bytes_up\":0,\"bytes_down\":0,\"duration_ms\":1}"
#define FAILED "{\"time\":\"2025-06-01T12:37:00.000Z\",\"kind\":\"http\",\"method\":\"GET\"," \
	"\"scheme\":\"http\",\"host\":\"blocked.test\",\"port\":80,\"path\":\"/v1/x\"," \
	"\"decision\":\"error\",\"rule\":\"blocked.test\",\"reason\":\"cannot resolve the host\"," \
	"\"status\":502}"

static void parses_the_proxy_lines(void)
{
	struct netlog_entry e;

	EXPECT_INT(netlog_parse(DENIED, strlen(DENIED), &e), 0);
	EXPECT_INT(e.decision, NETLOG_DENY);
	EXPECT(!e.tunnel);
	EXPECT_STR(e.method, "GET");
	EXPECT_STR(e.scheme, "http");
	EXPECT_STR(e.host, "blocked.test");
	EXPECT_INT(e.port, 80);
	EXPECT_STR(e.path, "/v1/x");
	EXPECT(e.rule == NULL);
	EXPECT_STR(e.reason, "policy mode is none: no outbound traffic");
	EXPECT_INT(e.status, 403);
	EXPECT_STR(e.time, "12:34:56");	/* TZ=UTC, set in main */
	netlog_entry_clear(&e);

	EXPECT_INT(netlog_parse(ALLOWED, strlen(ALLOWED), &e), 0);
	EXPECT_INT(e.decision, NETLOG_ALLOW);
	EXPECT_STR(e.rule, "api");
	EXPECT_INT(e.port, 8080);
	EXPECT_INT(e.status, 200);
	netlog_entry_clear(&e);

	EXPECT_INT(netlog_parse(TUNNEL, strlen(TUNNEL), &e), 0);
	EXPECT(e.tunnel);
	EXPECT(e.path == NULL);
	EXPECT_STR(e.scheme, "https");
	netlog_entry_clear(&e);

	EXPECT_INT(netlog_parse(FAILED, strlen(FAILED), &e), 0);
	EXPECT_INT(e.decision, NETLOG_ERROR);
	EXPECT_STR(e.rule, "blocked.test");
	netlog_entry_clear(&e);
}

static void rejects_what_is_not_a_decision(void)
{
	static const char *bad[] = {
		"not json",
		"[1, 2]",
		"{\"decision\":\"allow\",\"method\":\"GET\"}",		/* no host */
		"{\"decision\":\"maybe\",\"method\":\"GET\",\"host\":\"a\"}",
		"{\"decision\":7,\"method\":\"GET\",\"host\":\"a\"}",
		"{\"decision\":\"deny\",\"method\":\"GET\",\"host\":\"a\",\"port\":70000}",
		"{\"decision\":\"deny\",\"method\":\"GET\",\"host\":\"a\",\"path\":5}",
		"{\"decision\":\"deny\",\"method\":\"GET\",\"host\":\"a\"",	/* cut short */
	};
	struct netlog_entry e;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (netlog_parse(bad[i], strlen(bad[i]), &e) == 0) {
			printf("#   parsed: %s\n", bad[i]);
			unit_failed_current = 1;
			netlog_entry_clear(&e);
		}
	}
	/* Control bytes never reach the screen. */
	{
		const char *ctl = "{\"decision\":\"deny\",\"method\":\"GET\",\"host\":\"a\\u001bb\"}";

		EXPECT_INT(netlog_parse(ctl, strlen(ctl), &e), 0);
	}
	EXPECT_STR(e.host, "a?b");
	EXPECT_STR(e.reason, "");
	netlog_entry_clear(&e);
}

static struct netlog *new_log(size_t cap)
{
	struct netlog *l = xmalloc(sizeof *l);

	netlog_init(l, "/nonexistent/policy.log", cap);
	return l;
}

static void drop_log(struct netlog *l)
{
	netlog_free(l);
	free(l);
}

static void lines_split_across_reads(void)
{
	const char *text = DENIED "\n" ALLOWED "\n" TUNNEL "\n";
	struct netlog *whole = new_log(10), *bytes = new_log(10);

	EXPECT(netlog_feed(whole, text, strlen(text)));
	EXPECT_INT(whole->count, 3);
	/* One byte at a time: nothing until a newline completes a line. */
	for (size_t i = 0; text[i]; i++) {
		bool added = netlog_feed(bytes, text + i, 1);

		EXPECT(added == (text[i] == '\n'));
	}
	EXPECT_INT(bytes->count, 3);
	for (size_t i = 0; i < 3; i++) {
		EXPECT_STR(netlog_at(bytes, i)->host, netlog_at(whole, i)->host);
		EXPECT_INT(netlog_at(bytes, i)->seq, i + 1);
	}
	/* A line without its newline yet is held back. */
	EXPECT(!netlog_feed(bytes, FAILED, 40));
	EXPECT_INT(bytes->count, 3);
	EXPECT(!netlog_feed(bytes, FAILED + 40, strlen(FAILED) - 40));
	EXPECT_INT(bytes->count, 3);
	EXPECT(netlog_feed(bytes, "\n", 1));
	EXPECT_INT(bytes->count, 4);
	EXPECT_INT(netlog_at(bytes, 3)->decision, NETLOG_ERROR);
	EXPECT(netlog_at(bytes, 4) == NULL);
	drop_log(whole);
	drop_log(bytes);
}

static void garbage_lines_are_skipped(void)
{
	struct netlog *l = new_log(10);
	char *huge = xmalloc(NETLOG_LINE_MAX + 100);
	const char *text = "garbage\n\n{\"half\":\n" DENIED "\n[]\n" ALLOWED "\n";

	EXPECT(netlog_feed(l, text, strlen(text)));
	EXPECT_INT(l->count, 2);
	EXPECT_INT(l->garbage, 3);	/* the empty line is not counted */
	EXPECT_STR(netlog_at(l, 0)->host, "blocked.test");
	EXPECT_STR(netlog_at(l, 1)->host, "api.test");
	/* A line longer than any the proxy writes is dropped, in pieces too,
	 * and the next line is read as usual. */
	memset(huge, 'x', NETLOG_LINE_MAX + 100);
	EXPECT(!netlog_feed(l, huge, NETLOG_LINE_MAX / 2));
	EXPECT(!netlog_feed(l, huge, NETLOG_LINE_MAX / 2 + 100));
	EXPECT(!netlog_feed(l, huge, 100));
	EXPECT(netlog_feed(l, "\n" TUNNEL "\n", strlen(TUNNEL) + 2));
	EXPECT_INT(l->count, 3);
	EXPECT_INT(l->garbage, 4);
	EXPECT(netlog_at(l, 2)->tunnel);
	free(huge);
	drop_log(l);
}

static void the_ring_keeps_the_newest(void)
{
	struct netlog *l = new_log(3);

	for (int i = 0; i < 5; i++) {
		char line[256];

		snprintf(line, sizeof line, "{\"decision\":\"deny\",\"method\":\"GET\","
			 "\"host\":\"h%d.test\",\"port\":80,\"path\":\"/\",\"status\":403}\n", i);
		netlog_feed(l, line, strlen(line));
	}
	EXPECT_INT(l->count, 3);
	EXPECT_STR(netlog_at(l, 0)->host, "h2.test");
	EXPECT_STR(netlog_at(l, 2)->host, "h4.test");
	EXPECT_INT(netlog_at(l, 0)->seq, 3);
	EXPECT_INT(netlog_at(l, 2)->seq, 5);
	drop_log(l);
}

static void filter_matches_fields(void)
{
	struct netlog_entry e;

	netlog_parse(DENIED, strlen(DENIED), &e);
	EXPECT(netlog_match(&e, ""));
	EXPECT(netlog_match(&e, NULL));
	EXPECT(netlog_match(&e, "blocked"));		/* host */
	EXPECT(netlog_match(&e, "BLOCKED.TEST"));	/* any case */
	EXPECT(netlog_match(&e, "/v1/"));		/* path */
	EXPECT(netlog_match(&e, "mode is none"));	/* reason */
	EXPECT(netlog_match(&e, "get"));		/* method */
	EXPECT(!netlog_match(&e, "api.test"));
	EXPECT(!netlog_match(&e, "0a1b2c3d"));		/* the sandbox id is no field of it */
	netlog_entry_clear(&e);
	netlog_parse(ALLOWED, strlen(ALLOWED), &e);
	EXPECT(netlog_match(&e, "api"));		/* host and rule */
	EXPECT(netlog_match(&e, "post"));
	EXPECT(!netlog_match(&e, "blocked"));
	netlog_entry_clear(&e);
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	if (!f)
		die("cannot open %s", path);
	fputs(text, f);
	fclose(f);
}

static void follows_a_file(void)
{
	char dir[256], *path, *other;
	struct netlog *l = xmalloc(sizeof *l);

	snprintf(dir, sizeof dir, "%s/netlog.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp failed");
	path = xasprintf("%s/policy.log", dir);
	other = xasprintf("%s/policy.log.new", dir);
	netlog_init(l, path, 100);

	/* Missing: an empty log and no error. */
	EXPECT(!netlog_poll(l));
	EXPECT_INT(l->count, 0);
	EXPECT_STR(l->error, "");

	append(path, DENIED "\n" ALLOWED);
	EXPECT(netlog_poll(l));
	EXPECT_INT(l->count, 1);
	EXPECT(!netlog_poll(l));		/* nothing new */
	append(path, "\n");
	EXPECT(netlog_poll(l));
	EXPECT_INT(l->count, 2);

	/* Truncated: read again from its start. */
	EXPECT_INT(truncate(path, 0), 0);
	append(path, TUNNEL "\n");
	EXPECT(netlog_poll(l));
	EXPECT_INT(l->count, 3);
	EXPECT(netlog_at(l, 2)->tunnel);

	/* Replaced by another file: that one is read whole. */
	unlink(other);
	append(other, FAILED "\n" DENIED "\n");
	rename(other, path);
	EXPECT(netlog_poll(l));
	EXPECT_INT(l->count, 5);
	EXPECT_INT(netlog_at(l, 3)->decision, NETLOG_ERROR);

	/* Unreadable: the reason, and no entries lost. */
	if (geteuid() != 0) {
		chmod(path, 0);
		unlink(other);
		append(other, "");
		chmod(other, 0);
		rename(other, path);
		EXPECT(netlog_poll(l));
		EXPECT(strstr(l->error, "cannot read") != NULL);
		EXPECT_INT(l->count, 5);
	}
	unlink(path);
	EXPECT(!netlog_poll(l) || !l->error[0]);
	EXPECT_STR(l->error, "");
	netlog_free(l);

	/* A long file: the first read takes its tail, from a line's start. */
	{
		FILE *f = fopen(path, "w");
		size_t lines = 0;

		while (ftell(f) < 2 * NETLOG_TAIL_BYTES) {
			fputs(DENIED "\n", f);
			lines++;
		}
		fputs(ALLOWED "\n", f);
		fclose(f);
		netlog_init(l, path, 100000);
		netlog_poll(l);
		EXPECT(l->count > 0 && l->count < lines / 2 + 2);
		EXPECT_INT(l->garbage, 0);
		EXPECT_STR(netlog_at(l, l->count - 1)->host, "api.test");
		netlog_free(l);
	}
	unlink(path);
	rmdir(dir);
	free(path);
	free(other);
	free(l);
}

/* ---- the narrowest rule ------------------------------------------------------------- */

static struct policy *load(const char *text)
{
	struct policy *p = NULL;

	if (policy_load(text, strlen(text), &p) < 0) {
		printf("#   policy does not load: %s\n", err_msg());
		unit_failed_current = 1;
	}
	return p;
}

static struct netlog_entry entry(const char *line)
{
	struct netlog_entry e;

	if (netlog_parse(line, strlen(line), &e) < 0)
		die("test line does not parse: %s", line);
	return e;
}

static bool allows(const struct policy *p, const char *method, const char *host, uint16_t port,
		   const char *path, const char **rule_id)
{
	struct match_target t = {
		.scheme = POLICY_HTTP, .host = host, .host_len = strlen(host), .port = port,
		.method = method, .path = path, .path_len = strlen(path),
	};
	const struct policy_rule *r = NULL;
	const char *why;
	bool ok = match_request(p, &t, &r, &why);

	if (rule_id)
		*rule_id = r ? r->id : NULL;
	return ok;
}

static void narrowest_rule_for_a_denied_request(void)
{
	struct policy *none = load("{\"mode\": \"none\"}"), *p = NULL;
	struct netlog_entry e = entry(DENIED);
	struct ruleform f;
	const char *rid;

	EXPECT_INT(ruleform_init_allow(&f, &e, none), 0);
	EXPECT_STR(f.f[RF_ID].value, "blocked.test");
	EXPECT_STR(f.f[RF_SCHEME].value, "http");
	EXPECT_STR(f.f[RF_HOST].value, "blocked.test");
	EXPECT_STR(f.f[RF_PORT].value, "80");
	EXPECT_STR(f.f[RF_PATHS].value, "/v1/x");
	EXPECT_STR(f.f[RF_METHODS].value, "GET");
	EXPECT_STR(f.f[RF_RESOLVE].value, "");
	EXPECT(!f.websocket);
	EXPECT_INT(f.focus, RF_SAVE);		/* Enter accepts */
	EXPECT(strstr(f.note[0], "GET http://blocked.test:80/v1/x") != NULL);
	EXPECT(strstr(f.note[1], "allowlist") != NULL);

	EXPECT_INT(ruleform_apply(&f, none, &p), 0);
	EXPECT(p != NULL);
	if (p) {
		EXPECT_INT(p->mode, POLICY_ALLOWLIST);	/* under none it would allow nothing */
		EXPECT_INT(p->n_rules, 1);
		EXPECT(allows(p, "GET", "blocked.test", 80, "/v1/x", &rid));
		EXPECT_STR(rid, "blocked.test");
		EXPECT(allows(p, "GET", "blocked.test", 80, "/v1/x/y", NULL));
		EXPECT(allows(p, "GET", "BLOCKED.test", 80, "/v1/x?q=1", NULL));
		EXPECT(!allows(p, "HEAD", "blocked.test", 80, "/v1/x", NULL));
		EXPECT(!allows(p, "POST", "blocked.test", 80, "/v1/x", NULL));
		EXPECT(!allows(p, "GET", "blocked.test", 80, "/v1/xy", NULL));
		EXPECT(!allows(p, "GET", "blocked.test", 80, "/v1/", NULL));
		EXPECT(!allows(p, "GET", "blocked.test", 8080, "/v1/x", NULL));
		EXPECT(!allows(p, "GET", "a.blocked.test", 80, "/v1/x", NULL));
		EXPECT(!allows(p, "GET", "other.test", 80, "/v1/x", NULL));
	}
	policy_unref(p);
	netlog_entry_clear(&e);
	policy_unref(none);
}

static void narrowest_rule_ids_and_modes(void)
{
	struct policy *p = load("{\"mode\": \"allowlist\", \"rules\": ["
				"{\"id\": \"blocked.test\", \"scheme\": \"http\", \"host\": \"x.test\"},"
				"{\"id\": \"blocked.test-2\", \"scheme\": \"http\", \"host\": \"y.test\"}]}");
	struct policy *out = NULL;
	struct netlog_entry e = entry(DENIED);
	struct ruleform f;

	EXPECT_INT(ruleform_init_allow(&f, &e, p), 0);
	EXPECT_STR(f.f[RF_ID].value, "blocked.test-3");
	EXPECT_STR(f.note[1], "");		/* already an allowlist */
	EXPECT_INT(ruleform_apply(&f, p, &out), 0);
	if (out) {
		EXPECT_INT(out->n_rules, 3);
		EXPECT_STR(out->rules[2].id, "blocked.test-3");	/* added last */
		EXPECT_INT(out->mode, POLICY_ALLOWLIST);
	}
	policy_unref(out);
	netlog_entry_clear(&e);

	/* An address, with a path of "/" only. */
	e = entry("{\"decision\":\"deny\",\"method\":\"PUT\",\"scheme\":\"http\","
		  "\"host\":\"[fd00::5]\",\"port\":8080,\"path\":\"/\",\"status\":403}");
	EXPECT_INT(ruleform_init_allow(&f, &e, p), 0);
	EXPECT_STR(f.f[RF_ID].value, "fd00--5");
	EXPECT_STR(f.f[RF_PATHS].value, "/");
	EXPECT_STR(f.f[RF_METHODS].value, "PUT");
	out = NULL;
	EXPECT_INT(ruleform_apply(&f, p, &out), 0);
	if (out)
		EXPECT_STR(out->rules[2].host, "fd00::5");
	policy_unref(out);
	netlog_entry_clear(&e);
	policy_unref(p);
}

static void narrowest_rule_for_a_connect(void)
{
	struct policy *p = load("{\"mode\": \"allowlist\"}"), *out = NULL;
	struct netlog_entry e = entry(TUNNEL);
	struct ruleform f;
	const struct policy_rule *r = NULL;
	const char *why;

	EXPECT_INT(ruleform_init_allow(&f, &e, p), 0);
	EXPECT_STR(f.f[RF_SCHEME].value, "https");
	EXPECT_STR(f.f[RF_HOST].value, "tunnel.test");
	EXPECT_STR(f.f[RF_PORT].value, "8443");
	EXPECT_STR(f.f[RF_METHODS].value, "");	/* the default: GET and HEAD */
	EXPECT_STR(f.f[RF_PATHS].value, "");
	EXPECT(!f.websocket);
	EXPECT(strstr(f.note[0], "https://tunnel.test:8443") != NULL);
	EXPECT_INT(ruleform_apply(&f, p, &out), 0);
	if (out) {
		struct match_target t = {
			.scheme = POLICY_HTTPS, .host = "tunnel.test", .host_len = 11,
			.port = 8443, .method = "CONNECT", .host_only = true,
		};

		/* The CONNECT is let in to be read ... */
		EXPECT(match_request(out, &t, &r, &why));
		t.port = 443;
		EXPECT(!match_request(out, &t, &r, &why));
		/* ... but not passed through unread ... */
		t.port = 8443;
		t.host_only = false;
		t.tunnel = true;
		EXPECT(!match_request(out, &t, &r, &why));
		/* ... and inside, reading is allowed and writing is not. */
		t.tunnel = false;
		t.path = "/any/thing";
		t.path_len = strlen(t.path);
		t.method = "GET";
		EXPECT(match_request(out, &t, &r, &why));
		t.method = "POST";
		EXPECT(!match_request(out, &t, &r, &why));
	}
	policy_unref(out);
	netlog_entry_clear(&e);

	/* TLS sent straight to a port is judged the same way, on its server name. */
	e = entry("{\"kind\":\"tls\",\"method\":\"\",\"scheme\":\"https\",\"host\":\"sni.test\","
		  "\"port\":443,\"path\":null,\"decision\":\"deny\",\"rule\":null,\"status\":403}");
	EXPECT(e.tunnel);
	EXPECT_INT(ruleform_init_allow(&f, &e, p), 0);
	EXPECT_STR(f.f[RF_HOST].value, "sni.test");
	EXPECT_STR(f.f[RF_PORT].value, "443");
	EXPECT_STR(f.f[RF_METHODS].value, "");
	netlog_entry_clear(&e);
	policy_unref(p);
}

/* The DNS questions the resolver answered are in the same log. */
static void parses_dns_lines(void)
{
	static const char a[] = "{\"time\":\"2025-06-01T12:34:50.000Z\",\"sandbox\":\"0a1b2c3d\","
		"\"kind\":\"dns\",\"name\":\"api.test\",\"type\":\"A\",\"rcode\":\"NOERROR\","
		"\"answer\":\"198.18.0.1\"}";
	static const char aaaa[] = "{\"kind\":\"dns\",\"name\":\"api.test\",\"type\":\"AAAA\","
		"\"rcode\":\"NOERROR\",\"answer\":null}";
	static const char nx[] = "{\"kind\":\"dns\",\"name\":\"1.2.3.4\",\"type\":\"A\","
		"\"rcode\":\"NXDOMAIN\",\"answer\":null}";
	static const char bad[] = "{\"kind\":\"dns\",\"type\":\"A\",\"rcode\":\"NOERROR\"}";
	struct netlog *l = xcalloc(1, sizeof *l);
	struct netlog_entry e;
	struct policy *p = load("{\"mode\": \"none\"}");
	struct ruleform f;

	EXPECT_INT(netlog_parse(a, strlen(a), &e), 0);
	EXPECT(e.dns);
	EXPECT_STR(e.method, "A");
	EXPECT_STR(e.scheme, "dns");
	EXPECT_STR(e.host, "api.test");
	EXPECT_STR(e.reason, "answered 198.18.0.1");
	EXPECT(e.path == NULL && e.rule == NULL && e.port == 0 && e.status == 0);
	EXPECT_STR(e.time, "12:34:50");
	EXPECT(netlog_match(&e, "198.18"));
	EXPECT(netlog_match(&e, "API.TEST"));
	/* Nothing to allow: the resolver answers every name. */
	EXPECT_INT(ruleform_init_allow(&f, &e, p), -1);
	EXPECT(strstr(err_msg(), "DNS question") != NULL);
	netlog_entry_clear(&e);
	EXPECT_INT(netlog_parse(aaaa, strlen(aaaa), &e), 0);
	EXPECT_STR(e.reason, "no record of this type");
	netlog_entry_clear(&e);
	EXPECT_INT(netlog_parse(nx, strlen(nx), &e), 0);
	EXPECT_STR(e.reason, "NXDOMAIN");
	netlog_entry_clear(&e);
	EXPECT_INT(netlog_parse(bad, strlen(bad), &e), -1);
	/* Among requests, as entries of their own and not garbage. */
	netlog_init(l, "/nonexistent", 8);
	netlog_feed(l, a, strlen(a));
	netlog_feed(l, "\n" DENIED "\n", strlen(DENIED) + 2);
	EXPECT_INT(l->count, 2);
	EXPECT_INT(l->garbage, 0);
	EXPECT(netlog_at(l, 0)->dns && !netlog_at(l, 1)->dns);
	netlog_free(l);
	free(l);
	policy_unref(p);
}

static void only_refused_requests_can_be_allowed(void)
{
	struct policy *p = load("{\"mode\": \"none\"}");
	struct ruleform f;
	struct netlog_entry e;

	e = entry(ALLOWED);
	EXPECT_INT(ruleform_init_allow(&f, &e, p), -1);
	EXPECT(strstr(err_msg(), "allowed") != NULL);
	netlog_entry_clear(&e);
	e = entry(FAILED);
	EXPECT_INT(ruleform_init_allow(&f, &e, p), -1);
	netlog_entry_clear(&e);
	/* Malformed requests are refused with 400: no rule changes that. */
	e = entry("{\"decision\":\"deny\",\"method\":\"\",\"host\":\"\",\"status\":400}");
	EXPECT_INT(ruleform_init_allow(&f, &e, p), -1);
	netlog_entry_clear(&e);
	e = entry("{\"decision\":\"deny\",\"method\":\"TRACE\",\"host\":\"a.test\",\"port\":80,"
		  "\"path\":\"/\",\"status\":403}");
	EXPECT_INT(ruleform_init_allow(&f, &e, p), -1);
	EXPECT(strstr(err_msg(), "TRACE") != NULL);
	netlog_entry_clear(&e);
	policy_unref(p);
}

/* ---- the form's checking is the loader's -------------------------------------------- */

static void type(struct ruleform *f, int field, const char *text)
{
	f->f[field].len = f->f[field].cursor = 0;
	f->f[field].value[0] = '\0';
	f->focus = field;
	for (const char *s = text; *s; s++)
		ruleform_key(f, false, (wint_t)(unsigned char)*s);
}

static void form_errors_name_the_field(void)
{
	struct policy *p = load("{\"mode\": \"allowlist\", \"rules\": ["
				"{\"id\": \"api\", \"scheme\": \"https\", \"host\": \"api.test\"}]}");
	struct policy *out = NULL;
	struct ruleform f;
	cJSON *r;

	ruleform_init_new(&f, p);
	type(&f, RF_ID, "docs");
	type(&f, RF_HOST, "*.com");
	EXPECT_INT(ruleform_apply(&f, p, &out), -1);
	EXPECT(out == NULL);
	EXPECT(!strncmp(f.error, "host: \"*.com\" is too broad", 26));
	EXPECT_INT(f.focus, RF_HOST);
	/* Typing clears the message. */
	ruleform_key(&f, false, 'x');
	EXPECT_STR(f.error, "");

	type(&f, RF_HOST, "docs.test");
	type(&f, RF_PATHS, "/a, /b/../c");
	EXPECT_INT(ruleform_apply(&f, p, &out), -1);
	EXPECT(!strncmp(f.error, "paths[1]:", 9));
	EXPECT_INT(f.focus, RF_PATHS);

	type(&f, RF_PATHS, "/a /b");
	type(&f, RF_METHODS, "get");
	EXPECT_INT(ruleform_apply(&f, p, &out), -1);
	EXPECT_INT(f.focus, RF_METHODS);

	type(&f, RF_METHODS, "GET,POST");
	type(&f, RF_PORT, "99999");
	EXPECT_INT(ruleform_apply(&f, p, &out), -1);
	EXPECT_INT(f.focus, RF_PORT);
	type(&f, RF_PORT, "8x0");	/* only digits go in */
	EXPECT_STR(f.f[RF_PORT].value, "80");

	type(&f, RF_ID, "api");
	EXPECT_INT(ruleform_apply(&f, p, &out), -1);
	EXPECT_INT(f.focus, RF_ID);
	EXPECT(strstr(f.error, "already the id") != NULL);

	type(&f, RF_ID, "docs");
	r = ruleform_rule(&f);
	EXPECT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "paths")), 2);
	EXPECT_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "methods")), 2);
	EXPECT(cJSON_GetObjectItem(r, "resolve") == NULL);
	EXPECT(cJSON_GetObjectItem(r, "comment") == NULL);
	cJSON_Delete(r);
	EXPECT_INT(ruleform_apply(&f, p, &out), 0);
	EXPECT_STR(f.error, "");
	if (out) {
		EXPECT_INT(out->n_rules, 2);
		EXPECT_INT(out->rules[1].port, 80);
		EXPECT_INT(out->rules[1].n_paths, 2);
		EXPECT_INT(out->rules[1].methods, POLICY_GET | POLICY_POST);
	}
	policy_unref(out);
	policy_unref(p);
}

static void editing_keeps_the_place(void)
{
	struct policy *p = load("{\"mode\": \"allowlist\", \"rules\": ["
				"{\"id\": \"a\", \"scheme\": \"https\", \"host\": \"a.test\","
				" \"paths\": [\"/x\", \"/y\"], \"resolve\": [\"127.0.0.1\"],"
				" \"comment\": \"first\"},"
				"{\"id\": \"b\", \"scheme\": \"http\", \"host\": \"b.test\"}]}");
	struct policy *out = NULL;
	struct ruleform f;

	EXPECT_INT(ruleform_init_edit(&f, p, 0), 0);
	EXPECT_STR(f.orig_id, "a");
	EXPECT_STR(f.f[RF_PATHS].value, "/x, /y");
	EXPECT_STR(f.f[RF_METHODS].value, "GET, HEAD");
	EXPECT_STR(f.f[RF_PORT].value, "443");
	EXPECT_STR(f.f[RF_RESOLVE].value, "127.0.0.1");
	EXPECT_STR(f.f[RF_COMMENT].value, "first");
	type(&f, RF_ID, "a2");
	type(&f, RF_PATHS, "/z");
	EXPECT_INT(ruleform_apply(&f, p, &out), 0);
	if (out) {
		EXPECT_INT(out->n_rules, 2);
		EXPECT_STR(out->rules[0].id, "a2");
		EXPECT_STR(out->rules[0].paths[0], "/z");
		EXPECT_STR(out->rules[0].comment, "first");
		EXPECT_INT(out->rules[0].n_resolve, 1);
		EXPECT_STR(out->rules[1].id, "b");
	}
	policy_unref(out);
	/* Renaming onto another rule's id names the id field. */
	type(&f, RF_ID, "b");
	out = NULL;
	EXPECT_INT(ruleform_apply(&f, p, &out), -1);
	EXPECT_INT(f.focus, RF_ID);
	EXPECT(!strncmp(f.error, "id: \"b\" is already", 18));
	policy_unref(p);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	RUN(parses_the_proxy_lines);
	RUN(parses_dns_lines);
	RUN(rejects_what_is_not_a_decision);
	RUN(lines_split_across_reads);
	RUN(garbage_lines_are_skipped);
	RUN(the_ring_keeps_the_newest);
	RUN(filter_matches_fields);
	RUN(follows_a_file);
	RUN(narrowest_rule_for_a_denied_request);
	RUN(narrowest_rule_ids_and_modes);
	RUN(narrowest_rule_for_a_connect);
	RUN(only_refused_requests_can_be_allowed);
	RUN(form_errors_name_the_field);
	RUN(editing_keeps_the_place);
	UNIT_EXIT();
}
