/* Unit tests for net/policy.c: the strict loader, serialisation, --publish, sharing. */
#include <cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/util.h"
#include "net/policy.h"
#include "tests/unit/unit.h"

static const char sample[] =
	"{\n"
	"  \"mode\": \"allowlist\",\n"
	"  \"comment\": \"agent run 42\",\n"
	"  \"rules\": [\n"
	"    {\"id\": \"openai\", \"comment\": \"chat only\", \"scheme\": \"https\",\n"
	"     \"host\": \"API.OpenAI.com.\", \"paths\": [\"/v1/chat\", \"/v1/%6Dodels/\"],\n"
	"     \"methods\": [\"POST\", \"GET\"]},\n"
	"    {\"id\": \"docs\", \"scheme\": \"https\", \"host\": \"*.docs.example.org\"},\n"
	"    {\"id\": \"local-llm\", \"scheme\": \"http\", \"host\": \"127.0.0.1\", \"port\": "
	"11434,\n"
	"     \"methods\": [\"*\"], \"websocket\": true},\n"
	"    {\"id\": \"pinned\", \"scheme\": \"https\", \"host\": \"api.test\",\n"
	"     \"resolve\": [\"127.0.0.1\", \"[::1]\"]},\n"
	"    {\"id\": \"v6\", \"scheme\": \"http\", \"host\": \"[FD00::0:5]\"}\n"
	"  ],\n"
	"  \"ingress\": [\n"
	"    {\"host\": \"127.0.0.1\", \"host_port\": 8080, \"guest_port\": 80},\n"
	"    {\"host\": \"::1\", \"host_port\": 8080, \"guest_port\": 80, \"comment\": \"v6\"},\n"
	"    {\"host_port\": 2222, \"guest_port\": 22}\n"
	"  ]\n"
	"}\n";

static struct policy *load(const char *json)
{
	struct policy *p = NULL;

	if (policy_load(json, strlen(json), &p) < 0) {
		printf("#   does not load: %s\n", err_msg());
		unit_failed_current = 1;
		return NULL;
	}
	return p;
}

static void sample_loads(void)
{
	struct policy *p = load(sample);
	const struct policy_rule *r;

	if (!p)
		return;
	EXPECT_INT(atomic_load(&p->refs), 1);
	EXPECT_INT(p->mode, POLICY_ALLOWLIST);
	EXPECT_STR(p->comment, "agent run 42");
	EXPECT_INT(p->n_rules, 5);
	r = &p->rules[0];
	EXPECT_STR(r->id, "openai");
	EXPECT_STR(r->comment, "chat only");
	EXPECT_INT(r->scheme, POLICY_HTTPS);
	EXPECT_STR(r->host, "api.openai.com");
	EXPECT(!r->wildcard && !r->host_is_ip);
	EXPECT_INT(r->port, 443);
	EXPECT_INT(r->n_paths, 2);
	EXPECT_STR(r->paths[0], "/v1/chat");
	EXPECT_STR(r->paths[1], "/v1/models/");
	EXPECT_INT(r->methods, POLICY_GET | POLICY_POST);
	EXPECT(!r->websocket);
	EXPECT_INT(r->n_resolve, 0);
	r = &p->rules[1];
	EXPECT_STR(r->host, "*.docs.example.org");
	EXPECT(r->wildcard);
	EXPECT(r->comment == NULL);
	EXPECT_INT(r->n_paths, 1);
	EXPECT_STR(r->paths[0], "/");
	EXPECT_INT(r->methods, POLICY_METHODS_DEFAULT);
	EXPECT_INT(r->methods, POLICY_GET | POLICY_HEAD);
	r = &p->rules[2];
	EXPECT(r->host_is_ip);
	EXPECT_INT(r->port, 11434);
	EXPECT_INT(r->scheme, POLICY_HTTP);
	EXPECT_INT(r->methods, POLICY_METHODS_ALL);
	EXPECT(r->websocket);
	r = &p->rules[3];
	EXPECT_INT(r->n_resolve, 2);
	EXPECT_INT(r->resolve[1].family, AF_INET6);
	r = &p->rules[4];
	EXPECT_STR(r->host, "fd00::5");
	EXPECT_INT(r->port, 80);
	EXPECT_INT(p->n_ingress, 3);
	EXPECT_INT(p->ingress[0].host_port, 8080);
	EXPECT_INT(p->ingress[0].guest_port, 80);
	EXPECT_INT(p->ingress[1].host.family, AF_INET6);
	EXPECT_STR(p->ingress[1].comment, "v6");
	EXPECT_INT(p->ingress[2].host.family, AF_INET);
	EXPECT_INT(p->ingress[2].host.b[0], 127);
	EXPECT_INT(p->ingress[2].host_port, 2222);
	policy_unref(p);
}

static void minimal_policies(void)
{
	struct policy *p = load("{\"mode\": \"none\"}");

	if (p) {
		EXPECT_INT(p->mode, POLICY_NONE);
		EXPECT_INT(p->n_rules, 0);
		EXPECT_INT(p->n_ingress, 0);
		EXPECT(p->comment == NULL);
		policy_unref(p);
	}
	p = load(" {\"mode\": \"full_internet\", \"rules\": [], \"ingress\": []} \n");
	if (p) {
		EXPECT_INT(p->mode, POLICY_FULL_INTERNET);
		policy_unref(p);
	}
}

/* The exact text `policy show` prints: fixed key order, defaults written out. */
static void serialises_in_a_stable_order(void)
{
	struct policy *p = load("{\"ingress\": [{\"guest_port\": 80, \"host_port\": 8080}],"
				" \"rules\": [{\"websocket\": false, \"host\": \"Example.COM\","
				" \"scheme\": \"https\", \"id\": \"a\"}],"
				" \"mode\": \"allowlist\"}");
	char *text;

	if (!p)
		return;
	text = policy_to_json(p);
	EXPECT_STR(text,
		   "{\n"
		   "\t\"mode\":\t\"allowlist\",\n"
		   "\t\"rules\":\t[{\n"
		   "\t\t\t\"id\":\t\"a\",\n"
		   "\t\t\t\"scheme\":\t\"https\",\n"
		   "\t\t\t\"host\":\t\"example.com\",\n"
		   "\t\t\t\"port\":\t443,\n"
		   "\t\t\t\"paths\":\t[\"/\"],\n"
		   "\t\t\t\"methods\":\t[\"GET\", \"HEAD\"],\n"
		   "\t\t\t\"websocket\":\tfalse\n"
		   "\t\t}],\n"
		   "\t\"ingress\":\t[{\n"
		   "\t\t\t\"host\":\t\"127.0.0.1\",\n"
		   "\t\t\t\"host_port\":\t8080,\n"
		   "\t\t\t\"guest_port\":\t80\n"
		   "\t\t}]\n"
		   "}\n");
	free(text);
	policy_unref(p);
}

static void round_trips(void)
{
	struct policy *p = load(sample), *q;
	char *a, *b;

	if (!p)
		return;
	a = policy_to_json(p);
	q = load(a);
	if (q) {
		b = policy_to_json(q);
		EXPECT_STR(b, a);
		free(b);
		policy_unref(q);
	}
	EXPECT(strstr(a, "\"host\":\t\"api.openai.com\""));
	EXPECT(strstr(a, "\"paths\":\t[\"/v1/chat\", \"/v1/models/\"]"));
	EXPECT(strstr(a, "\"methods\":\t[\"GET\", \"POST\"]"));
	EXPECT(strstr(a, "\"methods\":\t[\"*\"]"));
	EXPECT(strstr(a, "\"resolve\":\t[\"127.0.0.1\", \"::1\"]"));
	EXPECT(strstr(a, "\"host\":\t\"fd00::5\""));
	EXPECT(strstr(a, "\"comment\":\t\"chat only\""));
	free(a);
	policy_unref(p);
}

/* The loader's message for text, "" when it loads. */
static const char *load_error(const char *text, size_t len)
{
	static char msg[1024];
	struct policy *p = NULL;

	if (policy_load(text, len, &p) == 0) {
		policy_unref(p);
		return "";
	}
	EXPECT(p == NULL);
	snprintf(msg, sizeof msg, "%s", err_msg());
	return msg;
}

/* For literals, which may hold a NUL. */
#define LOAD_ERROR(lit) load_error(lit, sizeof lit - 1)

struct bad {
	const char *json;
	const char *msg;	/* the whole message */
};

static void expect_errors(const struct bad *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = load_error(cases[i].json, strlen(cases[i].json));

		if (strcmp(got, cases[i].msg)) {
			printf("#   %s\n#     got  \"%s\"\n#     want \"%s\"\n", cases[i].json, got,
			       cases[i].msg);
			unit_failed_current = 1;
		}
	}
}

#define RULE(body) "{\"mode\": \"allowlist\", \"rules\": [" body "]}"
#define R(fields) "{\"id\": \"r\", \"scheme\": \"https\", " fields "}"
#define HOST(h) RULE(R("\"host\": \"" h "\""))

static void top_level_errors(void)
{
	static const struct bad cases[] = {
		{ "[]", "policy: must be a JSON object, not an array" },
		{ "\"x\"", "policy: must be a JSON object, not a string" },
		{ "{}", "mode: missing" },
		{ "{\"mode\": 1}", "mode: must be a string, not a number" },
		{ "{\"mode\": \"open\"}",
		  "mode: \"open\" is not a mode (none, allowlist, full_internet)" },
		{ "{\"mode\": \"None\"}",
		  "mode: \"None\" is not a mode (none, allowlist, full_internet)" },
		{ "{\"mode\": \"none\", \"mode\": \"full_internet\"}", "mode: duplicate key" },
		{ "{\"mode\": \"none\", \"rulez\": []}",
		  "policy: unknown key \"rulez\" (known keys: mode, comment, rules, ingress, secrets)" },
		{ "{\"mode\": \"none\", \"Mode\": \"none\"}",
		  "policy: unknown key \"Mode\" (known keys: mode, comment, rules, ingress, secrets)" },
		{ "{\"mode\": \"none\", \"rules\": {}}", "rules: must be an array, not an object" },
		{ "{\"mode\": \"none\", \"rules\": null}", "rules: must be an array, not null" },
		{ "{\"mode\": \"none\", \"rules\": [1]}",
		  "rules[0]: must be an object, not a number" },
		{ "{\"mode\": \"none\", \"rules\": [], \"rules\": []}", "rules: duplicate key" },
		{ "{\"mode\": \"none\", \"ingress\": \"x\"}",
		  "ingress: must be an array, not a string" },
		{ "{\"mode\": \"none\", \"comment\": 5}",
		  "comment: must be a string, not a number" },
		{ "{\"mode\": \"none\", \"comment\": \"a\\u0001b\"}",
		  "comment: has a control character" },
		{ "{\"mode\": \"none\", \"comment\": \"a\\nb\"}",
		  "comment: has a control character" },
		{ "{\"mode\": \"none\", \"comment\": \"\xff\"}", "comment: is not valid UTF-8" },
		{ "{\"mode\": \"none\", \"comment\": \"\xc0\xaf\"}",
		  "comment: is not valid UTF-8" },
		{ "{\"mode\": \"none\", \"comment\": \"\xed\xa0\x80\"}",
		  "comment: is not valid UTF-8" },
		{ "{\"mode\": \"none\",}", "policy: is not valid JSON (line 1, column 17)" },
		{ "{\n  \"mode\": none\n}", "policy: is not valid JSON (line 2, column 11)" },
		{ "{\"mode\": \"none\"} x", "policy: is not valid JSON (line 1, column 18)" },
		{ "{\"mode\": \"none\"}{}", "policy: is not valid JSON (line 1, column 17)" },
		{ "", "policy: is not valid JSON (line 1, column 1)" },
		{ "{\"mode\": \"none\\u0000x\"}", "policy: a string holds \\u0000" },
		{ "{\"mode\": \"none\", \"comment\": \"\\\"\\u0000\"}",
		  "policy: a string holds \\u0000" },
		{ "{\"mode\": \"none\", \"secrets\": [\"PATH\"]}",
		  "secrets[0]: PATH is a variable the guest's shell needs; pick another name" },
		{ "{\"mode\": \"none\", \"secrets\": [\"API_KEY\", \"LD_PRELOAD\"]}",
		  "secrets[1]: LD_PRELOAD is a variable the guest's shell needs; pick another name" },
		{ "{\"mode\": \"none\", \"secrets\": [\"_\"]}",
		  "secrets[0]: _ is a variable the guest's shell needs; pick another name" },
	};

	expect_errors(cases, sizeof cases / sizeof cases[0]);
	/* An escaped backslash before "u0000" is text, not an escape. */
	EXPECT_STR(LOAD_ERROR("{\"mode\": \"none\", \"comment\": \"\\\\u0000\"}"), "");
	EXPECT_STR(LOAD_ERROR("{\"mode\": \"none\"}\0{\"x\": 1}"), "policy: has a NUL byte");
	EXPECT_STR(LOAD_ERROR("{\"mode\": \"none\", \"secrets\": [\"PATH_TOKEN\", \"LCX\"]}"), "");
	/* The length ends the text, not a NUL: what follows is not read. */
	EXPECT_STR(load_error("{\"mode\": \"none\"}{\"x\"", 16), "");
	EXPECT_STR(load_error("{\"mode\": \"none\"} \r\n\t x", 21), "");
	EXPECT_STR(load_error("{\"mode\": \"none\"} \r\n\t x", 22),
		   "policy: is not valid JSON (line 2, column 3)");
	EXPECT_STR(load_error("{\"mode\": \"none\"}", 15),
		   "policy: is not valid JSON (line 1, column 15)");
	EXPECT_STR(LOAD_ERROR("{\"mode\": \"none\", \"comment\": \"caf\xc3\xa9 \xe2\x9c\x93\"}"),
		   "");
}

static void rule_errors(void)
{
	static const struct bad cases[] = {
		{ RULE("{\"scheme\": \"https\", \"host\": \"a.com\"}"), "rules[0].id: missing" },
		{ RULE(R("\"host\": \"a.com\", \"hots\": \"b.com\"")),
		  "rules[0]: unknown key \"hots\" (known keys: id, comment, scheme, host, port, "
		  "paths, methods, websocket, resolve)" },
		{ RULE(R("\"host\": \"a.com\", \"allow\": true")),
		  "rules[0]: unknown key \"allow\" (known keys: id, comment, scheme, host, port, "
		  "paths, methods, websocket, resolve)" },
		{ RULE(R("\"host\": \"a.com\", \"host\": \"b.com\"")),
		  "rules[0].host: duplicate key" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/a\"], \"paths\": [\"/b\"]")),
		  "rules[0].paths: duplicate key" },
		{ RULE(R("\"host\": \"a.com\", \"port\": 1, \"port\": 1")),
		  "rules[0].port: duplicate key" },
		{ RULE("{\"id\": \"\", \"scheme\": \"https\", \"host\": \"a.com\"}"),
		  "rules[0].id: must be 1 to 64 characters" },
		{ RULE("{\"id\": \"a b\", \"scheme\": \"https\", \"host\": \"a.com\"}"),
		  "rules[0].id: \"a b\": an id is letters, digits, '.', '_' and '-', starting with "
		  "a letter or digit" },
		{ RULE("{\"id\": \"-a\", \"scheme\": \"https\", \"host\": \"a.com\"}"),
		  "rules[0].id: \"-a\": an id is letters, digits, '.', '_' and '-', starting with "
		  "a letter or digit" },
		{ RULE("{\"id\": 7, \"scheme\": \"https\", \"host\": \"a.com\"}"),
		  "rules[0].id: must be a string, not a number" },
		{ RULE(R("\"host\": \"a.com\"") ", " R("\"host\": \"b.com\"")),
		  "rules[1].id: \"r\" is already the id of rules[0]" },
		{ RULE("{\"id\": \"r\", \"host\": \"a.com\"}"), "rules[0].scheme: missing" },
		{ RULE("{\"id\": \"r\", \"scheme\": \"ftp\", \"host\": \"a.com\"}"),
		  "rules[0].scheme: \"ftp\" is not a scheme a rule can allow (http, https)" },
		{ RULE("{\"id\": \"r\", \"scheme\": \"HTTPS\", \"host\": \"a.com\"}"),
		  "rules[0].scheme: \"HTTPS\" is not a scheme a rule can allow (http, https)" },
		{ RULE(R("\"host\": \"a.com\", \"port\": 0")),
		  "rules[0].port: 0 is not a port (a whole number from 1 to 65535)" },
		{ RULE(R("\"host\": \"a.com\", \"port\": 65536")),
		  "rules[0].port: 65536 is not a port (a whole number from 1 to 65535)" },
		{ RULE(R("\"host\": \"a.com\", \"port\": -443")),
		  "rules[0].port: -443 is not a port (a whole number from 1 to 65535)" },
		{ RULE(R("\"host\": \"a.com\", \"port\": 443.5")),
		  "rules[0].port: 443.5 is not a port (a whole number from 1 to 65535)" },
		{ RULE(R("\"host\": \"a.com\", \"port\": 1e999")),
		  "rules[0].port: inf is not a port (a whole number from 1 to 65535)" },
		{ RULE(R("\"host\": \"a.com\", \"port\": \"443\"")),
		  "rules[0].port: must be a number, not a string" },
		{ RULE(R("\"host\": \"a.com\", \"websocket\": \"yes\"")),
		  "rules[0].websocket: must be a boolean, not a string" },
		{ RULE(R("\"host\": \"a.com\", \"websocket\": 1")),
		  "rules[0].websocket: must be a boolean, not a number" },
		{ RULE(R("\"host\": \"a.com\", \"comment\": [\"x\"]")),
		  "rules[0].comment: must be a string, not an array" },
	};

	expect_errors(cases, sizeof cases / sizeof cases[0]);
}

static void host_errors(void)
{
	static const struct bad cases[] = {
		{ RULE(R("\"port\": 1")), "rules[0].host: missing" },
		{ RULE(R("\"host\": 5")), "rules[0].host: must be a string, not a number" },
		{ HOST(""), "rules[0].host: must not be empty" },
		{ RULE(R("\"host\": \"a.com\"") ", " "{\"id\": \"s\", \"scheme\": \"https\", "
		       "\"host\": \"b.com\"}, {\"id\": \"t\", \"scheme\": \"https\", "
		       "\"host\": \"*.com\"}"),
		  "rules[2].host: \"*.com\" is too broad: a wildcard needs at least two labels "
		  "after \"*.\"" },
		{ HOST("*.com."),
		  "rules[0].host: \"*.com.\" is too broad: a wildcard needs at least two labels "
		  "after \"*.\"" },
		{ HOST("*.co.uk"),
		  "rules[0].host: \"*.co.uk\" is too broad: \"co.uk\" is a registry suffix shared "
		  "by many owners" },
		{ HOST("*.COM.AU"),
		  "rules[0].host: \"*.COM.AU\" is too broad: \"com.au\" is a registry suffix "
		  "shared by many owners" },
		{ HOST("*"),
		  "rules[0].host: a lone \"*\" would match every host: use mode full_internet" },
		{ HOST("*."), "rules[0].host: \"*.\": empty host" },
		{ HOST("**.example.com"),
		  "rules[0].host: \"**.example.com\": a wildcard is \"*.\" followed by a domain" },
		{ HOST("*example.com"),
		  "rules[0].host: \"*example.com\": a wildcard is \"*.\" followed by a domain" },
		{ HOST("a.*.example.com"),
		  "rules[0].host: \"a.*.example.com\": the only wildcard allowed is a leading "
		  "\"*.\"" },
		{ HOST("*.*.example.com"),
		  "rules[0].host: \"*.*.example.com\": the only wildcard allowed is a leading "
		  "\"*.\"" },
		{ HOST("example.*"),
		  "rules[0].host: \"example.*\": the only wildcard allowed is a leading \"*.\"" },
		{ HOST("*.1.2.3"),
		  "rules[0].host: \"*.1.2.3\": a wildcard cannot cover an IP address" },
		{ HOST("example.com:443"),
		  "rules[0].host: \"example.com:443\" has a port or is not a valid IPv6 address: a "
		  "port goes in \"port\"" },
		{ HOST("[::1]:443"),
		  "rules[0].host: \"[::1]:443\" has a port or is not a valid IPv6 address: a port "
		  "goes in \"port\"" },
		{ HOST("https://example.com"),
		  "rules[0].host: \"https://example.com\" has a scheme: put it in \"scheme\"" },
		{ HOST("example.com/v1"),
		  "rules[0].host: \"example.com/v1\" has a path: put it in \"paths\"" },
		{ HOST("user@example.com"),
		  "rules[0].host: \"user@example.com\" has user information: a host is a name or "
		  "an address" },
		{ HOST("exa mple.com"),
		  "rules[0].host: \"exa mple.com\": host has a character other than letters, "
		  "digits, '-', '_' and '.'" },
		{ HOST("a..com"), "rules[0].host: \"a..com\": host has an empty label" },
		{ HOST("b\xc3\xbc" "cher.de"),
		  "rules[0].host: \"b\\xc3\\xbccher.de\": host is not ASCII (write an "
		  "international name in punycode, xn--...)" },
		{ HOST("1.2.3.4.5"),
		  "rules[0].host: \"1.2.3.4.5\": host ends in a numeric label but is not an IP "
		  "address, so a resolver could read it either way" },
		{ HOST("127.1"),
		  "rules[0].host: \"127.1\" is an IP address written in a non-standard form: write "
		  "\"127.0.0.1\"" },
		{ HOST("2130706433"),
		  "rules[0].host: \"2130706433\" is an IP address written in a non-standard form: "
		  "write \"127.0.0.1\"" },
		{ HOST("0177.0.0.1"),
		  "rules[0].host: \"0177.0.0.1\" is an IP address written in a non-standard form: "
		  "write \"127.0.0.1\"" },
		{ HOST("0.0.0.0"),
		  "rules[0].host: \"0.0.0.0\" (unspecified address) is not an address a connection "
		  "can go to" },
		{ HOST("[::]"),
		  "rules[0].host: \"[::]\" (unspecified address) is not an address a connection "
		  "can go to" },
		{ HOST("224.0.0.1"),
		  "rules[0].host: \"224.0.0.1\" (multicast address) is not an address a connection "
		  "can go to" },
		{ HOST("255.255.255.255"),
		  "rules[0].host: \"255.255.255.255\" (broadcast address) is not an address a "
		  "connection can go to" },
		{ HOST("[fe80::1%25eth0]"),
		  "rules[0].host: \"[fe80::1%25eth0]\": zone ids are not allowed" },
		{ HOST("[127.0.0.1]"),
		  "rules[0].host: \"[127.0.0.1]\": host in brackets is not an IPv6 address" },
		{ HOST("a\\u0007.com"),
		  "rules[0].host: \"a\\x07.com\": host has a character other than letters, digits, "
		  "'-', '_' and '.'" },
	};

	expect_errors(cases, sizeof cases / sizeof cases[0]);
}

static void paths_methods_resolve_errors(void)
{
	static const struct bad cases[] = {
		{ RULE(R("\"host\": \"a.com\", \"paths\": []")),
		  "rules[0].paths: is empty: leave \"paths\" out to allow every path" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": \"/v1\"")),
		  "rules[0].paths: must be an array, not a string" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/a\", 1]")),
		  "rules[0].paths[1]: must be a string, not a number" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"v1\"]")),
		  "rules[0].paths[0]: \"v1\": a path prefix starts with '/'" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"\"]")),
		  "rules[0].paths[0]: \"\": a path prefix starts with '/'" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/v1/*\"]")),
		  "rules[0].paths[0]: \"/v1/*\": paths are prefixes, not patterns (write \"/v1/\" "
		  "to allow everything under /v1/)" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/v1?x=1\"]")),
		  "rules[0].paths[0]: \"/v1?x=1\": a path prefix cannot hold a query" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/v1/../admin\"]")),
		  "rules[0].paths[0]: \"/v1/../admin\": path has a dot segment (. or ..)" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/v1/%2e\"]")),
		  "rules[0].paths[0]: \"/v1/%2e\": path has an encoded '/', '\\', '.' or '%'" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/v1//x\"]")),
		  "rules[0].paths[0]: \"/v1//x\": path has an empty segment (//)" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/v1\\\\x\"]")),
		  "rules[0].paths[0]: \"/v1\\\\x\": path has a backslash" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/a\", \"/b\", \"/a\"]")),
		  "rules[0].paths[2]: \"/a\" repeats rules[0].paths[0]" },
		{ RULE(R("\"host\": \"a.com\", \"paths\": [\"/chat\", \"/%63hat\"]")),
		  "rules[0].paths[1]: \"/%63hat\" repeats rules[0].paths[0]" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": []")),
		  "rules[0].methods: is empty: leave \"methods\" out to allow GET and HEAD" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": \"GET\"")),
		  "rules[0].methods: must be an array, not a string" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": [\"get\"]")),
		  "rules[0].methods[0]: \"get\" is not a method a rule can allow (GET, HEAD, POST, "
		  "PUT, PATCH, DELETE, OPTIONS, or \"*\" for all; methods are upper case)" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": [\"GET\", \"TRACE\"]")),
		  "rules[0].methods[1]: \"TRACE\" is not a method a rule can allow (GET, HEAD, "
		  "POST, PUT, PATCH, DELETE, OPTIONS, or \"*\" for all; methods are upper case)" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": [\"CONNECT\"]")),
		  "rules[0].methods[0]: \"CONNECT\" is not a method a rule can allow (GET, HEAD, "
		  "POST, PUT, PATCH, DELETE, OPTIONS, or \"*\" for all; methods are upper case)" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": [\"GET\", \"*\"]")),
		  "rules[0].methods[1]: \"*\" (every method) must be the only entry" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": [\"POST\", \"POST\"]")),
		  "rules[0].methods[1]: \"POST\" is listed twice" },
		{ RULE(R("\"host\": \"a.com\", \"methods\": [true]")),
		  "rules[0].methods[0]: must be a string, not a boolean" },
		{ RULE(R("\"host\": \"127.0.0.1\", \"resolve\": [\"127.0.0.1\"]")),
		  "rules[0].resolve: the host is an address already: leave \"resolve\" out" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": []")),
		  "rules[0].resolve: is empty: leave \"resolve\" out to resolve the host through "
		  "DNS" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": [\"localhost\"]")),
		  "rules[0].resolve[0]: \"localhost\" is not an IP address in standard form" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": [\"127.1\"]")),
		  "rules[0].resolve[0]: \"127.1\" is not an IP address in standard form" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": [\"127.0.0.1:80\"]")),
		  "rules[0].resolve[0]: \"127.0.0.1:80\" is not an IP address in standard form" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": [\"0.0.0.0\"]")),
		  "rules[0].resolve[0]: \"0.0.0.0\" (unspecified address) is not an address a "
		  "connection can go to" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": [\"fe80::1%eth0\"]")),
		  "rules[0].resolve[0]: \"fe80::1%eth0\": zone ids are not allowed" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": [\"::1\", \"[::1]\"]")),
		  "rules[0].resolve[1]: \"[::1]\" repeats rules[0].resolve[0]" },
		{ RULE(R("\"host\": \"a.com\", "
			 "\"resolve\": [\"127.0.0.1\", \"::ffff:127.0.0.1\"]")),
		  "rules[0].resolve[1]: \"::ffff:127.0.0.1\" repeats rules[0].resolve[0]" },
		{ RULE(R("\"host\": \"a.com\", \"resolve\": [1]")),
		  "rules[0].resolve[0]: must be a string, not a number" },
	};

	expect_errors(cases, sizeof cases / sizeof cases[0]);
}

#define INGRESS(body) "{\"mode\": \"none\", \"ingress\": [" body "]}"

static void ingress_errors(void)
{
	static const struct bad cases[] = {
		{ INGRESS("{\"guest_port\": 80}"), "ingress[0].host_port: missing" },
		{ INGRESS("{\"host_port\": 80}"), "ingress[0].guest_port: missing" },
		{ INGRESS("{\"host_port\": 80, \"guest_port\": 0}"),
		  "ingress[0].guest_port: 0 is not a port (a whole number from 1 to 65535)" },
		{ INGRESS("{\"host_port\": 80, \"guest_port\": 80, \"proto\": \"udp\"}"),
		  "ingress[0]: unknown key \"proto\" (known keys: host, host_port, guest_port, "
		  "comment)" },
		{ INGRESS("{\"host_port\": 80, \"guest_port\": 80, \"host_port\": 81}"),
		  "ingress[0].host_port: duplicate key" },
		{ INGRESS("{\"host\": \"0.0.0.0\", \"host_port\": 80, \"guest_port\": 80}"),
		  "ingress[0].host: \"0.0.0.0\" is not a loopback address: ingress is published on "
		  "the host's loopback only (127.0.0.0/8 or ::1)" },
		{ INGRESS("{\"host\": \"192.168.1.10\", \"host_port\": 80, \"guest_port\": 80}"),
		  "ingress[0].host: \"192.168.1.10\" is not a loopback address: ingress is "
		  "published on the host's loopback only (127.0.0.0/8 or ::1)" },
		{ INGRESS("{\"host\": \"::\", \"host_port\": 80, \"guest_port\": 80}"),
		  "ingress[0].host: \"::\" is not a loopback address: ingress is published on the "
		  "host's loopback only (127.0.0.0/8 or ::1)" },
		{ INGRESS("{\"host\": \"localhost\", \"host_port\": 80, \"guest_port\": 80}"),
		  "ingress[0].host: \"localhost\" is not an IP address in standard form" },
		{ INGRESS("{\"host\": 127, \"host_port\": 80, \"guest_port\": 80}"),
		  "ingress[0].host: must be a string, not a number" },
		{ INGRESS("{\"host_port\": 8080, \"guest_port\": 80},"
			  "{\"host\": \"127.0.0.1\", \"host_port\": 8080, \"guest_port\": 81}"),
		  "ingress[1].host_port: 127.0.0.1 port 8080 is already published by ingress[0]" },
		{ INGRESS("[]"), "ingress[0]: must be an object, not an array" },
	};

	expect_errors(cases, sizeof cases / sizeof cases[0]);
	/* The same port on two loopback addresses is two listeners. */
	EXPECT_STR(LOAD_ERROR(INGRESS("{\"host\": \"127.0.0.2\", \"host_port\": 8080, "
				      "\"guest_port\": 80}, {\"host_port\": 8080, \"guest_port\": "
				      "80}")),
		   "");
}

static char *repeat(const char *head, const char *item, int n, const char *tail)
{
	size_t hl = strlen(head), il = strlen(item), tl = strlen(tail);
	char *s = xmalloc(hl + (il + 1) * (size_t)n + tl + 1), *o = s;

	memcpy(o, head, hl);
	o += hl;
	for (int i = 0; i < n; i++) {
		if (i)
			*o++ = ',';
		memcpy(o, item, il);
		o += il;
	}
	memcpy(o, tail, tl + 1);
	return s;
}

static void limits(void)
{
	char *s, *rules, *item;

	s = repeat("{\"mode\": \"none\", \"rules\": [", "{}", POLICY_RULES_MAX + 1, "]}");
	EXPECT_STR(load_error(s, strlen(s)), "rules: has more than 1024 entries");
	free(s);
	s = repeat("{\"mode\": \"none\", \"rules\": [{\"id\": \"r\", \"scheme\": \"https\", "
		   "\"host\": \"a.com\", \"paths\": [", "\"/a\"", 65, "]}]}");
	EXPECT_STR(load_error(s, strlen(s)), "rules[0].paths: has more than 64 entries");
	free(s);
	item = xmalloc(70);
	memset(item, 'a', 65);
	item[65] = '\0';
	rules = xasprintf(RULE("{\"id\": \"%s\", \"scheme\": \"https\", \"host\": \"a.com\"}"),
			  item);
	EXPECT_STR(load_error(rules, strlen(rules)), "rules[0].id: must be 1 to 64 characters");
	free(rules);
	item[64] = '\0';
	rules = xasprintf(RULE("{\"id\": \"%s\", \"scheme\": \"https\", \"host\": \"a.com\"}"),
			  item);
	EXPECT_STR(load_error(rules, strlen(rules)), "");
	free(rules);
	free(item);
	s = xcalloc(1, POLICY_TEXT_MAX + 2);
	memset(s, ' ', POLICY_TEXT_MAX + 1);
	EXPECT_STR(load_error(s, POLICY_TEXT_MAX + 1), "policy: is larger than 1048576 bytes");
	free(s);
	s = repeat("{\"mode\": \"none\", \"comment\": \"", "a", 1025, "\"}");
	EXPECT_STR(load_error(s, strlen(s)), "comment: is longer than 1024 bytes");
	free(s);
}

/* Error text cannot carry terminal escapes from a hostile file. */
static void messages_are_escaped(void)
{
	const char *msg = LOAD_ERROR("{\"mode\": \"\\u001b]0;owned\\u0007\"}");

	EXPECT(!strchr(msg, '\x1b'));
	EXPECT(!strchr(msg, '\x07'));
	EXPECT(strstr(msg, "\\x1b]0;owned\\x07"));
}

/* A rejected load leaves the policy in use alone: the caller swaps only on success. */
static void failed_load_keeps_the_old_policy(void)
{
	static const char bad[] = "{\"mode\": \"full_internet\", \"rules\": [{\"id\": \"x\"}]}";
	struct policy *p = load(sample), *before = p;

	if (!p)
		return;
	EXPECT_INT(policy_load(bad, strlen(bad), &p), -1);
	EXPECT(p == before);
	EXPECT_INT(p->mode, POLICY_ALLOWLIST);
	EXPECT_INT(p->n_rules, 5);
	EXPECT_STR(p->rules[0].id, "openai");
	policy_unref(p);
}

static void load_file(void)
{
	char dir[] = "/tmp/smolvm-policy-XXXXXX", *path;
	struct policy *p = NULL;

	if (!mkdtemp(dir)) {
		EXPECT(0);
		return;
	}
	path = xasprintf("%s/policy.json", dir);
	EXPECT_INT(util_write_atomic(path, sample, strlen(sample), 0600), 0);
	EXPECT_INT(policy_load_file(path, &p), 0);
	if (p)
		EXPECT_INT(p->n_rules, 5);
	policy_unref(p);
	EXPECT_INT(util_write_atomic(path, "{\"mode\": 3}", 11, 0600), 0);
	p = NULL;
	EXPECT_INT(policy_load_file(path, &p), -1);
	EXPECT(p == NULL);
	{
		char *want = xasprintf("%s: mode: must be a string, not a number", path);

		EXPECT_STR(err_msg(), want);
		free(want);
	}
	unlink(path);
	EXPECT_INT(policy_load_file(path, &p), -1);
	EXPECT(strstr(err_msg(), path));
	rmdir(dir);
	free(path);
}

static void method_bits(void)
{
	EXPECT_INT(policy_method_bit("GET"), POLICY_GET);
	EXPECT_INT(policy_method_bit("OPTIONS"), POLICY_OPTIONS);
	EXPECT_INT(policy_method_bit("get"), 0);
	EXPECT_INT(policy_method_bit("GETX"), 0);
	EXPECT_INT(policy_method_bit(""), 0);
	EXPECT_INT(policy_method_bit("TRACE"), 0);
	EXPECT_INT(POLICY_METHODS_ALL, POLICY_GET | POLICY_HEAD | POLICY_POST | POLICY_PUT |
				       POLICY_PATCH | POLICY_DELETE | POLICY_OPTIONS);
	EXPECT_STR(policy_mode_str(POLICY_FULL_INTERNET), "full_internet");
	EXPECT_STR(policy_scheme_str(POLICY_HTTP), "http");
}

static void publish_spec(void)
{
	static const struct {
		const char *spec;
		const char *host;
		int host_port, guest_port;
	} good[] = {
		{ "127.0.0.1:8080:80", "127.0.0.1", 8080, 80 },
		{ "8080:80", "127.0.0.1", 8080, 80 },
		{ "127.0.0.2:1:65535", "127.0.0.2", 1, 65535 },
		{ "[::1]:8443:443", "::1", 8443, 443 },
		{ "08080:80", "127.0.0.1", 8080, 80 },
	};
	static const struct {
		const char *spec;
		const char *msg;
	} bad[] = {
		{ "80",
		  "--publish 80: expected [ADDR:]HOST_PORT:GUEST_PORT, e.g. 127.0.0.1:8080:80 (an "
		  "IPv6 address goes in brackets)" },
		{ "",
		  "--publish : expected [ADDR:]HOST_PORT:GUEST_PORT, e.g. 127.0.0.1:8080:80 (an "
		  "IPv6 address goes in brackets)" },
		{ "::1:8080:80",
		  "--publish ::1:8080:80: expected [ADDR:]HOST_PORT:GUEST_PORT, e.g. "
		  "127.0.0.1:8080:80 (an IPv6 address goes in brackets)" },
		{ "127.0.0.1:8080:80:1",
		  "--publish 127.0.0.1:8080:80:1: expected [ADDR:]HOST_PORT:GUEST_PORT, e.g. "
		  "127.0.0.1:8080:80 (an IPv6 address goes in brackets)" },
		{ "0:80", "--publish 0:80: the host port must be a number from 1 to 65535" },
		{ "8080:0", "--publish 8080:0: the guest port must be a number from 1 to 65535" },
		{ "65536:80",
		  "--publish 65536:80: the host port must be a number from 1 to 65535" },
		{ "808080:80",
		  "--publish 808080:80: the host port must be a number from 1 to 65535" },
		{ "+80:80", "--publish +80:80: the host port must be a number from 1 to 65535" },
		{ "80:80 ", "--publish 80:80 : the guest port must be a number from 1 to 65535" },
		{ ":80", "--publish :80: the host port must be a number from 1 to 65535" },
		{ "a:80", "--publish a:80: the host port must be a number from 1 to 65535" },
		{ "0.0.0.0:8080:80",
		  "--publish 0.0.0.0:8080:80: 0.0.0.0 is not a loopback address: ingress is "
		  "published on the host's loopback only (127.0.0.0/8 or ::1)" },
		{ "192.168.1.2:8080:80",
		  "--publish 192.168.1.2:8080:80: 192.168.1.2 is not a loopback address: ingress "
		  "is published on the host's loopback only (127.0.0.0/8 or ::1)" },
		{ "localhost:8080:80",
		  "--publish localhost:8080:80: \"localhost\" is not an IP address in standard "
		  "form" },
		{ "127.1:8080:80",
		  "--publish 127.1:8080:80: \"127.1\" is not an IP address in standard form" },
		{ "[::1]8080:80", "--publish [::1]8080:80: expected [ADDR]:HOST_PORT:GUEST_PORT" },
		{ "[::1:8080:80", "--publish [::1:8080:80: expected [ADDR]:HOST_PORT:GUEST_PORT" },
		{ "[fe80::1%eth0]:80:80",
		  "--publish [fe80::1%eth0]:80:80: [fe80::1%eth0] is not a loopback address: "
		  "ingress is published on the host's loopback only (127.0.0.0/8 or ::1)" },
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct policy_ingress in;
		char buf[ADDR_STR_MAX];

		if (policy_parse_publish(good[i].spec, &in) < 0) {
			printf("#   %s: %s\n", good[i].spec, err_msg());
			unit_failed_current = 1;
			continue;
		}
		addr_format(&in.host, buf);
		EXPECT_STR(buf, good[i].host);
		EXPECT_INT(in.host_port, good[i].host_port);
		EXPECT_INT(in.guest_port, good[i].guest_port);
		EXPECT(in.comment == NULL);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct policy_ingress in;

		EXPECT_INT(policy_parse_publish(bad[i].spec, &in), -1);
		EXPECT_STR(err_msg(), bad[i].msg);
	}
	{
		struct policy_ingress in;
		cJSON *o;
		char *text;

		EXPECT_INT(policy_parse_publish("[::1]:8080:80", &in), 0);
		o = policy_ingress_to_cjson(&in);
		text = cJSON_PrintUnformatted(o);
		EXPECT_STR(text, "{\"host\":\"::1\",\"host_port\":8080,\"guest_port\":80}");
		cJSON_free(text);
		cJSON_Delete(o);
	}
}

static void references(void)
{
	struct policy *p = load(sample);

	if (!p)
		return;
	EXPECT(policy_ref(p) == p);
	EXPECT_INT(atomic_load(&p->refs), 2);
	policy_unref(p);
	EXPECT_INT(atomic_load(&p->refs), 1);
	EXPECT_STR(p->rules[0].id, "openai");
	policy_unref(p);
	policy_unref(NULL);
	EXPECT(policy_ref(NULL) == NULL);
}

static void default_is_mode_none(void)
{
	struct policy *p = policy_default();
	char *text = policy_to_json(p);

	EXPECT(p->mode == POLICY_NONE && p->n_rules == 0 && p->n_ingress == 0 && !p->comment);
	EXPECT_STR(text, "{\n\t\"mode\":\t\"none\",\n\t\"rules\":\t[],\n\t\"ingress\":\t[]\n}\n");
	free(text);
	policy_unref(p);
}

struct reader {
	struct policy_slot *slot;
	int reads;
	int bad;
};

static void *read_policies(void *arg)
{
	struct reader *r = arg;

	for (int i = 0; i < 20000; i++) {
		struct policy *p = policy_slot_get(r->slot);

		/* Every policy the slot ever holds has one rule with id "r" and a port. */
		if (p->n_rules != 1 || strcmp(p->rules[0].id, "r") || !p->rules[0].port)
			r->bad++;
		r->reads++;
		policy_unref(p);
	}
	return NULL;
}

/* Readers keep the policy they took while edits swap new ones in (ASan sees
 * any use after free). */
static void slot_swaps_under_readers(void)
{
	struct policy_slot slot;
	struct reader readers[3];
	pthread_t threads[3];
	struct policy *first = load(RULE(R("\"host\": \"a.com\", \"port\": 1")));

	if (!first)
		return;
	policy_slot_init(&slot, first);
	for (int i = 0; i < 3; i++) {
		readers[i] = (struct reader){ .slot = &slot };
		pthread_create(&threads[i], NULL, read_policies, &readers[i]);
	}
	for (int i = 0; i < 300; i++) {
		char *json = xasprintf(RULE(R("\"host\": \"a.com\", \"port\": %d")), 2 + i);

		struct policy *p = load(json);

		if (p)
			policy_slot_set(&slot, p);
		free(json);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(threads[i], NULL);
		EXPECT_INT(readers[i].reads, 20000);
		EXPECT_INT(readers[i].bad, 0);
	}
	{
		struct policy *p = policy_slot_get(&slot);

		EXPECT_INT(p->rules[0].port, 301);
		EXPECT_INT(atomic_load(&p->refs), 2);
		policy_unref(p);
	}
	policy_slot_destroy(&slot);
}

int main(void)
{
	RUN(sample_loads);
	RUN(minimal_policies);
	RUN(serialises_in_a_stable_order);
	RUN(round_trips);
	RUN(top_level_errors);
	RUN(rule_errors);
	RUN(host_errors);
	RUN(paths_methods_resolve_errors);
	RUN(ingress_errors);
	RUN(limits);
	RUN(messages_are_escaped);
	RUN(failed_load_keeps_the_old_policy);
	RUN(load_file);
	RUN(method_bits);
	RUN(publish_spec);
	RUN(references);
	RUN(default_is_mode_none);
	RUN(slot_swaps_under_readers);
	UNIT_EXIT();
}
