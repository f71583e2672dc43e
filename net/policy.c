#include "net/policy.h"

#include <cJSON.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"
#include "net/match.h"

/* Field names in messages: "rules[2].host". */
#define WHERE_MAX 96
/* Room for a quoted value in a message. */
#define QUOTE_MAX 96
#define COMMENT_MAX 1024

static const char *const method_names[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
};

unsigned policy_method_bit(const char *token)
{
	for (size_t i = 0; i < ARRAY_LEN(method_names); i++)
		if (!strcmp(token, method_names[i]))
			return 1u << i;
	return 0;
}

const char *policy_mode_str(enum policy_mode m)
{
	switch (m) {
	case POLICY_NONE:
		return "none";
	case POLICY_ALLOWLIST:
		return "allowlist";
	case POLICY_FULL_INTERNET:
		return "full_internet";
	}
	return "?";
}

const char *policy_scheme_str(enum policy_scheme s)
{
	return s == POLICY_HTTPS ? "https" : "http";
}

/* s in double quotes for a message: control and non-ASCII bytes escaped,
 * cut after 64 characters, so a hostile file cannot write to the terminal. */
static const char *quoted(char buf[QUOTE_MAX], const char *s)
{
	size_t o = 0;

	buf[o++] = '"';
	for (; *s && o < 70; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(buf + o, QUOTE_MAX - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	if (*s)
		o += (size_t)snprintf(buf + o, QUOTE_MAX - o, "...");
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static int fail(const char *where, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const char *where, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_set("%s: %s", where, msg);
	return -1;
}

/* Field paths stay short (rules[12].paths[3]); longer parts are cut. */
static void field(char out[WHERE_MAX], const char *where, const char *key)
{
	size_t w = strnlen(where, WHERE_MAX / 2), k = strnlen(key, WHERE_MAX / 2 - 2);

	memcpy(out, where, w);
	if (w)
		out[w++] = '.';
	memcpy(out + w, key, k);
	out[w + k] = '\0';
}

static void item(char out[WHERE_MAX], const char *where, size_t i)
{
	snprintf(out, WHERE_MAX, "%.48s[%zu]", where, i);
}

/* Every key of object o is one of known (NULL-terminated) and none repeats
 * (cJSON keeps duplicates, and a lookup would silently take the first). */
static int check_keys(const cJSON *o, const char *where, const char *const *known)
{
	for (const cJSON *c = o->child; c; c = c->next) {
		char f[WHERE_MAX], q[QUOTE_MAX], list[256] = "";
		bool ok = false;

		for (const char *const *k = known; *k; k++) {
			ok |= !strcmp(*k, c->string);
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
				 k == known ? "" : ", ", *k);
		}
		if (!ok)
			return fail(*where ? where : "policy", "unknown key %s (known keys: %s)",
				    quoted(q, c->string), list);
		for (const cJSON *d = o->child; d != c; d = d->next) {
			if (!strcmp(d->string, c->string)) {
				field(f, where, c->string);
				return fail(f, "duplicate key");
			}
		}
	}
	return 0;
}

static const char *json_type(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	return "an object";
}

static int want_type(const cJSON *v, cJSON_bool ok, const char *where, const char *want)
{
	if (ok)
		return 0;
	return fail(where, "must be %s, not %s", want, json_type(v));
}

/* A string member; *out stays NULL when optional and missing. */
static int get_string(const cJSON *o, const char *key, const char *where, bool required,
		      const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char f[WHERE_MAX];

	field(f, where, key);
	*out = NULL;
	if (!v)
		return required ? fail(f, "missing") : 0;
	if (want_type(v, cJSON_IsString(v), f, "a string") < 0)
		return -1;
	*out = v->valuestring;
	return 0;
}

static int get_port(const cJSON *o, const char *key, const char *where, uint16_t dflt,
		    uint16_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char f[WHERE_MAX];

	field(f, where, key);
	*out = dflt;
	if (!v)
		return dflt ? 0 : fail(f, "missing");
	if (want_type(v, cJSON_IsNumber(v), f, "a number") < 0)
		return -1;
	if (!(v->valuedouble >= 1 && v->valuedouble <= 65535) ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return fail(f, "%g is not a port (a whole number from 1 to 65535)", v->valuedouble);
	*out = (uint16_t)v->valuedouble;
	return 0;
}

/* An optional array member with 1 to max entries; *out stays NULL if missing. */
static int get_array(const cJSON *o, const char *key, const char *where, int max,
		     const cJSON **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char f[WHERE_MAX];

	field(f, where, key);
	*out = NULL;
	if (!v)
		return 0;
	if (want_type(v, cJSON_IsArray(v), f, "an array") < 0)
		return -1;
	if (max > 0 && cJSON_GetArraySize(v) > max)
		return fail(f, "has more than %d entries", max);
	*out = v;
	return 0;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : *p >= 0xc2 && *p <= 0xdf ? 1 : *p >= 0xe0 && *p <= 0xef ? 2
			: *p >= 0xf0 && *p <= 0xf4 ? 3 : -1;
		uint32_t cp;

		if (n < 0)
			return false;
		cp = *p & (0x7fu >> n);
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

static int get_comment(const cJSON *o, const char *where, char **out)
{
	const char *s;
	char f[WHERE_MAX];

	if (get_string(o, "comment", where, false, &s) < 0)
		return -1;
	if (!s)
		return 0;
	field(f, where, "comment");
	if (strlen(s) > COMMENT_MAX)
		return fail(f, "is longer than %d bytes", COMMENT_MAX);
	if (!utf8_valid(s))
		return fail(f, "is not valid UTF-8");
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(f, "has a control character");
	*out = xstrdup(s);
	return 0;
}

static void rule_free(struct policy_rule *r)
{
	free(r->id);
	free(r->comment);
	free(r->host);
	for (size_t i = 0; i < r->n_paths; i++)
		free(r->paths[i]);
	free(r->paths);
	free(r->resolve);
}

static void policy_free(struct policy *p)
{
	for (size_t i = 0; i < p->n_rules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	for (size_t i = 0; i < p->n_ingress; i++)
		free(p->ingress[i].comment);
	free(p->ingress);
	for (size_t i = 0; i < p->n_secrets; i++)
		free(p->secrets[i]);
	free(p->secrets);
	free(p->comment);
	free(p);
}

struct policy *policy_ref(struct policy *p)
{
	if (p)
		atomic_fetch_add(&p->refs, 1);
	return p;
}

void policy_unref(struct policy *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1)
		policy_free(p);
}

static int parse_id(struct policy_rule *r, const cJSON *o, const char *where)
{
	const char *s;
	char f[WHERE_MAX], q[QUOTE_MAX];
	size_t n;

	if (get_string(o, "id", where, true, &s) < 0)
		return -1;
	field(f, where, "id");
	n = strlen(s);
	if (n == 0 || n > POLICY_ID_MAX)
		return fail(f, "must be 1 to %d characters", POLICY_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return fail(f, "%s: an id is letters, digits, '.', '_' and '-', "
				    "starting with a letter or digit", quoted(q, s));
	}
	r->id = xstrdup(s);
	return 0;
}

/* An address a connection can be aimed at: not "any", not a group. */
static int check_dialable(const struct addr_ip *a, const char *where, const char *text)
{
	enum addr_class c = addr_classify(a, NULL);
	char q[QUOTE_MAX];

	if (a->zone)
		return fail(where, "%s: zone ids are not allowed", quoted(q, text));
	if (c == ADDR_UNSPECIFIED || c == ADDR_MULTICAST || c == ADDR_BROADCAST)
		return fail(where, "%s (%s) is not an address a connection can go to",
			    quoted(q, text), addr_class_str(c));
	return 0;
}

/* "co.uk", "com.au", "ac.jp": a registry's second level under a country
 * code. Not the public suffix list, but the common shape of it. */
static bool registry_suffix(const char *name)
{
	static const char *const slds[] = {
		"ac", "co", "com", "edu", "gob", "gov", "mil", "ne", "net", "or", "org",
	};
	const char *dot = strchr(name, '.');
	size_t n = dot ? (size_t)(dot - name) : 0;

	if (!dot || strchr(dot + 1, '.') || strlen(dot + 1) != 2)
		return false;
	for (size_t i = 0; i < ARRAY_LEN(slds); i++)
		if (strlen(slds[i]) == n && !memcmp(name, slds[i], n))
			return true;
	return false;
}

int policy_rule_host(struct policy_rule *r, const char *s, const char *f)
{
	const char *why;
	char q[QUOTE_MAX], buf[ADDR_STR_MAX];
	struct match_host h;
	struct addr_ip strict;
	bool wild;

	quoted(q, s);
	if (!*s)
		return fail(f, "must not be empty");
	if (strstr(s, "://"))
		return fail(f, "%s has a scheme: put it in \"scheme\"", q);
	if (strchr(s, '/'))
		return fail(f, "%s has a path: put it in \"paths\"", q);
	if (strchr(s, '@'))
		return fail(f, "%s has user information: a host is a name or an address", q);
	if (!strcmp(s, "*"))
		return fail(f, "a lone \"*\" would match every host: use mode full_internet");
	wild = s[0] == '*';
	if (wild && s[1] != '.')
		return fail(f, "%s: a wildcard is \"*.\" followed by a domain", q);
	if (strchr(s + wild, '*'))
		return fail(f, "%s: the only wildcard allowed is a leading \"*.\"", q);
	if (!match_host_parse(s + 2 * wild, strlen(s + 2 * wild), &h, &why)) {
		if (strchr(s, ':'))
			return fail(f, "%s has a port or is not a valid IPv6 address: a port goes "
				    "in \"port\"", q);
		return fail(f, "%s: %s", q, why);
	}
	if (wild) {
		if (h.is_ip)
			return fail(f, "%s: a wildcard cannot cover an IP address", q);
		if (!strchr(h.name, '.'))
			return fail(f, "%s is too broad: a wildcard needs at least two labels "
				    "after \"*.\"", q);
		if (registry_suffix(h.name))
			return fail(f, "%s is too broad: \"%s\" is a registry suffix shared by "
				    "many owners", q, h.name);
		r->wildcard = true;
		r->host = xasprintf("*.%s", h.name);
		return 0;
	}
	if (!h.is_ip) {
		r->host = xstrdup(h.name);
		return 0;
	}
	addr_format(&h.ip, buf);
	if (h.ip.family == AF_INET && !addr_parse(s, strlen(s), ADDR_STRICT, &strict))
		return fail(f, "%s is an IP address written in a non-standard form: write \"%s\"",
			    q, buf);
	if (check_dialable(&h.ip, f, s) < 0)
		return -1;
	r->host_is_ip = true;
	r->ip = h.ip;
	r->host = xstrdup(buf);
	return 0;
}

static int parse_host(struct policy_rule *r, const cJSON *o, const char *where)
{
	const char *s;
	char f[WHERE_MAX];

	if (get_string(o, "host", where, true, &s) < 0)
		return -1;
	field(f, where, "host");
	return policy_rule_host(r, s, f);
}

static int parse_scheme_port(struct policy_rule *r, const cJSON *o, const char *where)
{
	const char *s;
	char f[WHERE_MAX], q[QUOTE_MAX];

	if (get_string(o, "scheme", where, true, &s) < 0)
		return -1;
	if (!strcmp(s, "http")) {
		r->scheme = POLICY_HTTP;
	} else if (!strcmp(s, "https")) {
		r->scheme = POLICY_HTTPS;
	} else {
		field(f, where, "scheme");
		return fail(f, "%s is not a scheme a rule can allow (http, https)", quoted(q, s));
	}
	return get_port(o, "port", where, r->scheme == POLICY_HTTPS ? 443 : 80, &r->port);
}

static int parse_paths(struct policy_rule *r, const cJSON *o, const char *where)
{
	const cJSON *a, *v;
	char f[WHERE_MAX], fi[WHERE_MAX], q[QUOTE_MAX];
	size_t i = 0;

	if (get_array(o, "paths", where, POLICY_LIST_MAX, &a) < 0)
		return -1;
	field(f, where, "paths");
	if (!a) {
		r->paths = xcalloc(1, sizeof *r->paths);
		r->paths[r->n_paths++] = xstrdup("/");
		return 0;
	}
	if (!cJSON_GetArraySize(a))
		return fail(f, "is empty: leave \"paths\" out to allow every path");
	r->paths = xcalloc((size_t)cJSON_GetArraySize(a), sizeof *r->paths);
	cJSON_ArrayForEach(v, a) {
		const char *why;
		size_t len, plen;
		char *norm;

		item(fi, f, i++);
		if (want_type(v, cJSON_IsString(v), fi, "a string") < 0)
			return -1;
		len = strlen(v->valuestring);
		quoted(q, v->valuestring);
		if (v->valuestring[0] != '/')
			return fail(fi, "%s: a path prefix starts with '/'", q);
		if (memchr(v->valuestring, '?', len))
			return fail(fi, "%s: a path prefix cannot hold a query", q);
		if (strchr(v->valuestring, '*'))
			return fail(fi, "%s: paths are prefixes, not patterns (write \"/v1/\" to "
				    "allow everything under /v1/)", q);
		norm = xmalloc(len + 1);
		if (match_path_normalize(v->valuestring, len, norm, len + 1, &plen, &why) < 0) {
			free(norm);
			return fail(fi, "%s: %s", q, why);
		}
		for (size_t k = 0; k < r->n_paths; k++) {
			if (!strcmp(r->paths[k], norm)) {
				free(norm);
				return fail(fi, "%s repeats %s[%zu]", q, f, k);
			}
		}
		r->paths[r->n_paths++] = norm;
	}
	return 0;
}

static int parse_methods(struct policy_rule *r, const cJSON *o, const char *where)
{
	const cJSON *a, *v;
	char f[WHERE_MAX], fi[WHERE_MAX], q[QUOTE_MAX];
	size_t i = 0;

	if (get_array(o, "methods", where, 0, &a) < 0)
		return -1;
	field(f, where, "methods");
	r->methods = a ? 0 : POLICY_METHODS_DEFAULT;
	if (a && !cJSON_GetArraySize(a))
		return fail(f, "is empty: leave \"methods\" out to allow GET and HEAD");
	cJSON_ArrayForEach(v, a) {
		unsigned bit;

		item(fi, f, i++);
		if (want_type(v, cJSON_IsString(v), fi, "a string") < 0)
			return -1;
		if (!strcmp(v->valuestring, "*")) {
			if (cJSON_GetArraySize(a) != 1)
				return fail(fi, "\"*\" (every method) must be the only entry");
			r->methods = POLICY_METHODS_ALL;
			continue;
		}
		bit = policy_method_bit(v->valuestring);
		if (!bit)
			return fail(fi, "%s is not a method a rule can allow (GET, HEAD, POST, "
				    "PUT, PATCH, DELETE, OPTIONS, or \"*\" for all; methods are "
				    "upper case)", quoted(q, v->valuestring));
		if (r->methods & bit)
			return fail(fi, "%s is listed twice", quoted(q, v->valuestring));
		r->methods |= bit;
	}
	return 0;
}

static int parse_websocket(struct policy_rule *r, const cJSON *o, const char *where)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "websocket");
	char f[WHERE_MAX];

	field(f, where, "websocket");
	if (!v)
		return 0;
	if (want_type(v, cJSON_IsBool(v), f, "a boolean") < 0)
		return -1;
	r->websocket = cJSON_IsTrue(v);
	return 0;
}

/* An address in a policy: standard text, IPv6 with or without brackets. */
static bool parse_policy_addr(const char *s, struct addr_ip *out)
{
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
		return addr_parse(s + 1, len - 2, ADDR_STRICT, out) && out->family == AF_INET6;
	return addr_parse(s, len, ADDR_STRICT, out);
}

static int parse_resolve(struct policy_rule *r, const cJSON *o, const char *where)
{
	const cJSON *a, *v;
	char f[WHERE_MAX], fi[WHERE_MAX], q[QUOTE_MAX];
	size_t i = 0;

	/* get_array leaves a NULL on a type error as when "resolve" is missing. */
	if (get_array(o, "resolve", where, POLICY_LIST_MAX, &a) < 0)
		return -1;
	if (!a)
		return 0;
	field(f, where, "resolve");
	if (r->host_is_ip)
		return fail(f, "the host is an address already: leave \"resolve\" out");
	if (!cJSON_GetArraySize(a))
		return fail(f, "is empty: leave \"resolve\" out to resolve the host through DNS");
	r->resolve = xcalloc((size_t)cJSON_GetArraySize(a), sizeof *r->resolve);
	cJSON_ArrayForEach(v, a) {
		struct addr_ip ip;

		item(fi, f, i++);
		if (want_type(v, cJSON_IsString(v), fi, "a string") < 0)
			return -1;
		quoted(q, v->valuestring);
		if (!parse_policy_addr(v->valuestring, &ip))
			return fail(fi, "%s is not an IP address in standard form", q);
		if (check_dialable(&ip, fi, v->valuestring) < 0)
			return -1;
		for (size_t k = 0; k < r->n_resolve; k++)
			if (addr_equal(&r->resolve[k], &ip))
				return fail(fi, "%s repeats %s[%zu]", q, f, k);
		r->resolve[r->n_resolve++] = ip;
	}
	return 0;
}

static const char *const rule_keys[] = {
	"id", "comment", "scheme", "host", "port", "paths", "methods", "websocket", "resolve", NULL,
};

static int parse_rule(struct policy *p, const cJSON *o, const char *where)
{
	struct policy_rule *r = &p->rules[p->n_rules];

	if (want_type(o, cJSON_IsObject(o), where, "an object") < 0 ||
	    check_keys(o, where, rule_keys) < 0)
		return -1;
	/* Counted first, so that whatever was filled in is freed on error. */
	p->n_rules++;
	if (parse_id(r, o, where) < 0)
		return -1;
	for (size_t k = 0; k + 1 < p->n_rules; k++) {
		if (!strcmp(p->rules[k].id, r->id)) {
			char f[WHERE_MAX], q[QUOTE_MAX];

			field(f, where, "id");
			return fail(f, "%s is already the id of rules[%zu]", quoted(q, r->id), k);
		}
	}
	if (get_comment(o, where, &r->comment) < 0 || parse_host(r, o, where) < 0 ||
	    parse_scheme_port(r, o, where) < 0 || parse_paths(r, o, where) < 0 ||
	    parse_methods(r, o, where) < 0 || parse_websocket(r, o, where) < 0 ||
	    parse_resolve(r, o, where) < 0)
		return -1;
	return 0;
}

/* Ingress listens on the host's loopback only: 127.0.0.0/8 or ::1. */
static bool ingress_addr_ok(const struct addr_ip *a)
{
	static const struct addr_ip lo6 = { .family = AF_INET6, .b = { [15] = 1 } };

	return (a->family == AF_INET && a->b[0] == 127) ||
	       (a->family == AF_INET6 && !memcmp(a->b, lo6.b, 16) && !a->zone);
}

static const char *const ingress_keys[] = { "host", "host_port", "guest_port", "comment", NULL };

static int parse_ingress(struct policy *p, const cJSON *o, const char *where)
{
	struct policy_ingress *in = &p->ingress[p->n_ingress];
	const char *host;
	char f[WHERE_MAX], q[QUOTE_MAX], buf[ADDR_STR_MAX];

	if (want_type(o, cJSON_IsObject(o), where, "an object") < 0 ||
	    check_keys(o, where, ingress_keys) < 0)
		return -1;
	p->n_ingress++;
	if (get_comment(o, where, &in->comment) < 0 ||
	    get_string(o, "host", where, false, &host) < 0)
		return -1;
	field(f, where, "host");
	if (!host)
		host = "127.0.0.1";
	if (!parse_policy_addr(host, &in->host))
		return fail(f, "%s is not an IP address in standard form", quoted(q, host));
	if (!ingress_addr_ok(&in->host))
		return fail(f, "%s is not a loopback address: ingress is published on the host's "
			    "loopback only (127.0.0.0/8 or ::1)", quoted(q, host));
	if (get_port(o, "host_port", where, 0, &in->host_port) < 0 ||
	    get_port(o, "guest_port", where, 0, &in->guest_port) < 0)
		return -1;
	for (size_t k = 0; k + 1 < p->n_ingress; k++) {
		if (addr_equal(&p->ingress[k].host, &in->host) &&
		    p->ingress[k].host_port == in->host_port) {
			addr_format(&in->host, buf);
			field(f, where, "host_port");
			return fail(f, "%s port %u is already published by ingress[%zu]", buf,
				    in->host_port, k);
		}
	}
	return 0;
}

static int parse_mode(struct policy *p, const cJSON *o)
{
	const char *s;
	char q[QUOTE_MAX];

	if (get_string(o, "mode", "", true, &s) < 0)
		return -1;
	for (int m = POLICY_NONE; m <= POLICY_FULL_INTERNET; m++) {
		if (!strcmp(s, policy_mode_str(m))) {
			p->mode = m;
			return 0;
		}
	}
	return fail("mode", "%s is not a mode (none, allowlist, full_internet)", quoted(q, s));
}

/* cJSON turns "\u0000" into a NUL that silently cuts the string short. */
static int check_no_nul_escape(const char *text, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '"') {
			in_str = !in_str;
		} else if (in_str && text[i] == '\\') {
			if (i + 5 < len && text[i + 1] == 'u' && !memcmp(text + i + 2, "0000", 4))
				return fail("policy", "a string holds \\u0000");
			i++;
		}
	}
	return 0;
}

static void line_col(const char *text, const char *at, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *c = text; c < at; c++) {
		if (*c == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* Variables the guest's shell, login and SSH server read: a secret under one
 * of these names would be exported over it and break every session. */
bool policy_secret_name_reserved(const char *name)
{
	static const char *const names[] = {
		"PATH", "HOME", "SHELL", "USER", "LOGNAME", "TERM", "PWD", "OLDPWD", "IFS",
		"ENV", "PS1", "PS2", "PS3", "PS4", "HOSTNAME", "MAIL", "TZ", "LANG", "_",
	};
	static const char *const prefixes[] = { "LC_", "LD_", "SSH_", "SMOLVM_" };

	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (!strcmp(name, names[i]))
			return true;
	for (size_t i = 0; i < ARRAY_LEN(prefixes); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* A secret's name is an environment variable in the guest: upper case,
 * digits and '_', not starting with a digit (the vault's names). */
static int parse_secrets(struct policy *p, const cJSON *root)
{
	const cJSON *a, *v;
	char fi[WHERE_MAX], q[QUOTE_MAX];
	size_t i = 0;

	if (get_array(root, "secrets", "", POLICY_SECRETS_MAX, &a) < 0)
		return -1;
	if (!a)
		return 0;
	p->secrets = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *p->secrets);
	cJSON_ArrayForEach(v, a) {
		const char *s;
		size_t n;

		item(fi, "secrets", i++);
		if (want_type(v, cJSON_IsString(v), fi, "a string") < 0)
			return -1;
		s = v->valuestring;
		n = strlen(s);
		quoted(q, s);
		if (n == 0 || n > POLICY_SECRET_NAME_MAX)
			return fail(fi, "%s: a secret's name is 1 to %d characters", q,
				    POLICY_SECRET_NAME_MAX);
		for (size_t k = 0; k < n; k++) {
			char c = s[k];

			if (!((c >= 'A' && c <= 'Z') || c == '_' || (k && c >= '0' && c <= '9')))
				return fail(fi, "%s is not a secret's name (upper-case letters, digits "
					    "and '_', not starting with a digit, as `smolvm vault ls` "
					    "shows them)", q);
		}
		if (policy_secret_name_reserved(s))
			return fail(fi, "%s is a variable the guest's shell needs; pick another "
				    "name", s);
		for (size_t k = 0; k < p->n_secrets; k++)
			if (!strcmp(p->secrets[k], s))
				return fail(fi, "%s repeats secrets[%zu]", q, k);
		p->secrets[p->n_secrets++] = xstrdup(s);
	}
	return 0;
}

static const char *const top_keys[] = { "mode", "comment", "rules", "ingress", "secrets", NULL };

static int parse_policy(struct policy *p, const cJSON *root)
{
	const cJSON *rules, *ingress, *v;
	char f[WHERE_MAX];
	size_t i = 0;

	if (!cJSON_IsObject(root))
		return fail("policy", "must be a JSON object, not %s", json_type(root));
	if (check_keys(root, "", top_keys) < 0 || parse_mode(p, root) < 0 ||
	    get_comment(root, "", &p->comment) < 0 ||
	    get_array(root, "rules", "", POLICY_RULES_MAX, &rules) < 0 ||
	    get_array(root, "ingress", "", POLICY_INGRESS_MAX, &ingress) < 0)
		return -1;
	if (rules) {
		p->rules = xcalloc((size_t)cJSON_GetArraySize(rules) + 1, sizeof *p->rules);
		cJSON_ArrayForEach(v, rules) {
			item(f, "rules", i++);
			if (parse_rule(p, v, f) < 0)
				return -1;
		}
	}
	i = 0;
	if (ingress) {
		p->ingress = xcalloc((size_t)cJSON_GetArraySize(ingress) + 1, sizeof *p->ingress);
		cJSON_ArrayForEach(v, ingress) {
			item(f, "ingress", i++);
			if (parse_ingress(p, v, f) < 0)
				return -1;
		}
	}
	return parse_secrets(p, root);
}

int policy_load(const char *text, size_t len, struct policy **out)
{
	const char *end = NULL;
	struct policy *p;
	cJSON *root;
	int line, col, rc;

	if (len > POLICY_TEXT_MAX)
		return fail("policy", "is larger than %d bytes", POLICY_TEXT_MAX);
	if (memchr(text, '\0', len))
		return fail("policy", "has a NUL byte");
	if (check_no_nul_escape(text, len) < 0)
		return -1;
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (root) {
		while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' ||
					    *end == '\n'))
			end++;
		if (end < text + len) {
			cJSON_Delete(root);
			root = NULL;
		}
	}
	if (!root) {
		line_col(text, end && end <= text + len ? end : text, &line, &col);
		return fail("policy", "is not valid JSON (line %d, column %d)", line, col);
	}
	p = xcalloc(1, sizeof *p);
	atomic_init(&p->refs, 1);
	rc = parse_policy(p, root);
	cJSON_Delete(root);
	if (rc < 0) {
		policy_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

int policy_load_file(const char *path, struct policy **out)
{
	size_t len;
	char *text = util_read_file(path, &len);
	int rc;

	if (!text)
		return -1;
	rc = policy_load(text, len, out);
	free(text);
	if (rc < 0) {
		char *msg = xstrdup(err_msg());

		err_set("%s: %s", path, msg);
		free(msg);
	}
	return rc;
}

struct policy *policy_default(void)
{
	static const char text[] = "{\"mode\": \"none\"}";
	struct policy *p;

	if (policy_load(text, sizeof text - 1, &p) < 0)
		die("the built-in policy does not load: %s", err_msg());
	return p;
}

cJSON *policy_ingress_to_cjson(const struct policy_ingress *in)
{
	cJSON *o = cJSON_CreateObject();
	char buf[ADDR_STR_MAX];

	addr_format(&in->host, buf);
	cJSON_AddStringToObject(o, "host", buf);
	cJSON_AddNumberToObject(o, "host_port", in->host_port);
	cJSON_AddNumberToObject(o, "guest_port", in->guest_port);
	if (in->comment)
		cJSON_AddStringToObject(o, "comment", in->comment);
	return o;
}

static cJSON *rule_to_cjson(const struct policy_rule *r)
{
	cJSON *o = cJSON_CreateObject(), *a;
	char buf[ADDR_STR_MAX];

	cJSON_AddStringToObject(o, "id", r->id);
	if (r->comment)
		cJSON_AddStringToObject(o, "comment", r->comment);
	cJSON_AddStringToObject(o, "scheme", policy_scheme_str(r->scheme));
	cJSON_AddStringToObject(o, "host", r->host);
	cJSON_AddNumberToObject(o, "port", r->port);
	a = cJSON_AddArrayToObject(o, "paths");
	for (size_t i = 0; i < r->n_paths; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(r->paths[i]));
	a = cJSON_AddArrayToObject(o, "methods");
	if (r->methods == POLICY_METHODS_ALL)
		cJSON_AddItemToArray(a, cJSON_CreateString("*"));
	for (size_t i = 0; r->methods != POLICY_METHODS_ALL && i < ARRAY_LEN(method_names); i++)
		if (r->methods & (1u << i))
			cJSON_AddItemToArray(a, cJSON_CreateString(method_names[i]));
	cJSON_AddBoolToObject(o, "websocket", r->websocket);
	if (r->n_resolve) {
		a = cJSON_AddArrayToObject(o, "resolve");
		for (size_t i = 0; i < r->n_resolve; i++) {
			addr_format(&r->resolve[i], buf);
			cJSON_AddItemToArray(a, cJSON_CreateString(buf));
		}
	}
	return o;
}

cJSON *policy_to_cjson(const struct policy *p)
{
	cJSON *o = cJSON_CreateObject(), *a;

	cJSON_AddStringToObject(o, "mode", policy_mode_str(p->mode));
	if (p->comment)
		cJSON_AddStringToObject(o, "comment", p->comment);
	a = cJSON_AddArrayToObject(o, "rules");
	for (size_t i = 0; i < p->n_rules; i++)
		cJSON_AddItemToArray(a, rule_to_cjson(&p->rules[i]));
	a = cJSON_AddArrayToObject(o, "ingress");
	for (size_t i = 0; i < p->n_ingress; i++)
		cJSON_AddItemToArray(a, policy_ingress_to_cjson(&p->ingress[i]));
	if (p->n_secrets) {
		a = cJSON_AddArrayToObject(o, "secrets");
		for (size_t i = 0; i < p->n_secrets; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(p->secrets[i]));
	}
	return o;
}

char *policy_to_json(const struct policy *p)
{
	cJSON *o = policy_to_cjson(p);
	char *text = cJSON_Print(o), *out;

	cJSON_Delete(o);
	if (!text)
		die("out of memory");
	out = xasprintf("%s\n", text);
	cJSON_free(text);
	return out;
}

/* A port in decimal, 1-65535, nothing else around it. */
static int publish_port(const char *s, size_t len, const char *spec, const char *what,
			uint16_t *out)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		goto bad;
	*out = (uint16_t)v;
	return 0;
bad:
	err_set("--publish %s: the %s port must be a number from 1 to 65535", spec, what);
	return -1;
}

int policy_parse_publish(const char *spec, struct policy_ingress *out)
{
	const char *ports = spec, *colon;
	char addr[ADDR_STR_MAX + 2] = "127.0.0.1";

	memset(out, 0, sizeof *out);
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':' || (size_t)(close - spec + 1) >= sizeof addr) {
			err_set("--publish %s: expected [ADDR]:HOST_PORT:GUEST_PORT", spec);
			return -1;
		}
		snprintf(addr, sizeof addr, "%.*s", (int)(close - spec + 1), spec);
		ports = close + 2;
	} else if ((colon = strchr(spec, ':')) && strchr(colon + 1, ':')) {
		if ((size_t)(colon - spec) >= sizeof addr) {
			err_set("--publish %s: %.*s... is not an IP address", spec, 16, spec);
			return -1;
		}
		snprintf(addr, sizeof addr, "%.*s", (int)(colon - spec), spec);
		ports = colon + 1;
	}
	colon = strchr(ports, ':');
	if (!colon || strchr(colon + 1, ':')) {
		err_set("--publish %s: expected [ADDR:]HOST_PORT:GUEST_PORT, e.g. "
			"127.0.0.1:8080:80 (an IPv6 address goes in brackets)", spec);
		return -1;
	}
	if (!parse_policy_addr(addr, &out->host)) {
		err_set("--publish %s: \"%s\" is not an IP address in standard form", spec, addr);
		return -1;
	}
	if (!ingress_addr_ok(&out->host)) {
		err_set("--publish %s: %s is not a loopback address: ingress is published on the "
			"host's loopback only (127.0.0.0/8 or ::1)", spec, addr);
		return -1;
	}
	if (publish_port(ports, (size_t)(colon - ports), spec, "host", &out->host_port) < 0 ||
	    publish_port(colon + 1, strlen(colon + 1), spec, "guest", &out->guest_port) < 0)
		return -1;
	return 0;
}

void policy_slot_init(struct policy_slot *s, struct policy *p)
{
	pthread_mutex_init(&s->lock, NULL);
	s->p = p;
}

struct policy *policy_slot_get(struct policy_slot *s)
{
	struct policy *p;

	pthread_mutex_lock(&s->lock);
	p = policy_ref(s->p);
	pthread_mutex_unlock(&s->lock);
	return p;
}

void policy_slot_set(struct policy_slot *s, struct policy *p)
{
	struct policy *old;

	pthread_mutex_lock(&s->lock);
	old = s->p;
	s->p = p;
	pthread_mutex_unlock(&s->lock);
	policy_unref(old);
}

void policy_slot_destroy(struct policy_slot *s)
{
	policy_unref(s->p);
	s->p = NULL;
	pthread_mutex_destroy(&s->lock);
}
