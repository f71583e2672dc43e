#include "net/match.h"

#include <netinet/in.h>
#include <string.h>

#include "backend/util.h"

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len > 0;
}

/* A label a resolver might read as a number: 123, 0x7f, 0x. */
static bool numeric_label(const char *s, size_t len)
{
	if (len >= 2 && s[0] == '0' && s[1] == 'x') {
		for (size_t i = 2; i < len; i++)
			if (util_hex_value(s[i]) < 0)
				return false;
		return true;
	}
	return all_digits(s, len);
}

static bool check_labels(const char *name, size_t len, const char **why)
{
	const char *label = name, *end = name + len;

	while (label <= end) {
		const char *dot = memchr(label, '.', (size_t)(end - label));
		size_t n = (size_t)((dot ? dot : end) - label);

		if (n == 0) {
			*why = "host has an empty label";
			return false;
		}
		if (n > 63) {
			*why = "host has a label longer than 63 characters";
			return false;
		}
		if (label[0] == '-' || label[n - 1] == '-') {
			*why = "host has a label that starts or ends with '-'";
			return false;
		}
		if (!dot) {
			if (numeric_label(label, n)) {
				*why = "host ends in a numeric label but is not an IP address, "
				       "so a resolver could read it either way";
				return false;
			}
			break;
		}
		label = dot + 1;
	}
	return true;
}

bool match_host_parse(const char *s, size_t len, struct match_host *out, const char **why)
{
	size_t n;

	memset(out, 0, sizeof *out);
	if (len == 0) {
		*why = "empty host";
		return false;
	}
	if (s[0] == '[') {
		if (len < 3 || s[len - 1] != ']' ||
		    !addr_parse(s + 1, len - 2, ADDR_LOOSE, &out->ip) ||
		    out->ip.family != AF_INET6) {
			*why = "host in brackets is not an IPv6 address";
			return false;
		}
		out->is_ip = true;
		return true;
	}
	if (memchr(s, ':', len)) {
		if (addr_parse(s, len, ADDR_LOOSE, &out->ip) && out->ip.family == AF_INET6) {
			out->is_ip = true;
			return true;
		}
		*why = "host has a ':' but is not an IPv6 address (a port does not belong in it)";
		return false;
	}
	if (len > MATCH_HOST_MAX + 1) {
		*why = "host is longer than 253 characters";
		return false;
	}
	for (n = 0; n < len; n++) {
		unsigned char c = (unsigned char)s[n];

		if (c >= 0x80) {
			*why = "host is not ASCII (write an international name in punycode, "
			       "xn--...)";
			return false;
		}
		if (!is_alnum(c) && c != '-' && c != '_' && c != '.') {
			*why = "host has a character other than letters, digits, '-', '_' and '.'";
			return false;
		}
		out->name[n] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (out->name[n - 1] == '.')
		out->name[--n] = '\0';
	if (n == 0 || n > MATCH_HOST_MAX) {
		*why = n ? "host is longer than 253 characters" : "empty host";
		return false;
	}
	if (addr_parse(out->name, n, ADDR_LOOSE, &out->ip)) {
		out->is_ip = true;
		out->name[0] = '\0';
		return true;
	}
	return check_labels(out->name, n, why);
}

/* RFC 3986 pchar other than pct-encoded, and '/'. */
static bool path_char(unsigned char c)
{
	return is_alnum(c) || (c && strchr("-._~!$&'()*+,;=:@/", c));
}

/* Code points whose compatibility form (NFKC) holds '.', '/', '\' or '%':
 * a server that normalises Unicode would see a separator or a dot segment. */
static bool lookalike(uint32_t cp)
{
	static const uint32_t cps[] = {
		0x2024, 0x2025, 0x2026, 0xfe52, 0xfe68, 0xfe6a, 0xff05, 0xff0e, 0xff0f, 0xff3c,
	};

	for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++)
		if (cps[i] == cp)
			return true;
	return false;
}

/* Incremental UTF-8 check of the percent-encoded bytes of a path. */
struct utf8 {
	int need;
	uint32_t cp, min;
};

static bool utf8_feed(struct utf8 *u, unsigned v, const char **why)
{
	if (!u->need) {
		if (v >= 0xc2 && v <= 0xdf)
			u->need = 1, u->cp = v & 0x1f, u->min = 0x80;
		else if (v >= 0xe0 && v <= 0xef)
			u->need = 2, u->cp = v & 0x0f, u->min = 0x800;
		else if (v >= 0xf0 && v <= 0xf4)
			u->need = 3, u->cp = v & 0x07, u->min = 0x10000;
		else
			goto bad;
		return true;
	}
	if ((v & 0xc0) != 0x80)
		goto bad;
	u->cp = u->cp << 6 | (v & 0x3f);
	if (--u->need)
		return true;
	if (u->cp < u->min || (u->cp >= 0xd800 && u->cp <= 0xdfff) || u->cp > 0x10ffff)
		goto bad;
	if (lookalike(u->cp)) {
		*why = "path has an encoded look-alike of '.', '/', '\\' or '%'";
		return false;
	}
	return true;
bad:
	*why = "path has percent-encoded bytes that are not valid UTF-8";
	return false;
}

static const char hex_upper[] = "0123456789ABCDEF";

/* Normalise p[0..len) (no query) into out (len + 1 bytes). */
static bool norm_path(const char *p, size_t len, char *out, size_t *out_len, const char **why)
{
	struct utf8 u = { 0 };
	size_t o = 0, seg;

	if (len == 0 || p[0] != '/') {
		*why = "path does not start with '/'";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '%') {
			int hi = i + 2 < len ? util_hex_value(p[i + 1]) : -1;
			int lo = hi >= 0 ? util_hex_value(p[i + 2]) : -1;
			unsigned v;

			if (hi < 0 || lo < 0) {
				*why = "path has a '%' that does not start an escape (%XX)";
				return false;
			}
			v = (unsigned)hi << 4 | (unsigned)lo;
			i += 2;
			if (v == '/' || v == '\\' || v == '.' || v == '%') {
				*why = "path has an encoded '/', '\\', '.' or '%'";
				return false;
			}
			if (v < 0x20 || v == 0x7f) {
				*why = "path has an encoded control character";
				return false;
			}
			if (v >= 0x80) {
				if (!utf8_feed(&u, v, why))
					return false;
			} else if (u.need) {
				break;
			} else if (is_alnum((unsigned char)v) || v == '-' || v == '_' || v == '~') {
				out[o++] = (char)v;
				continue;
			}
			out[o++] = '%';
			out[o++] = hex_upper[v >> 4];
			out[o++] = hex_upper[v & 15];
			continue;
		}
		if (u.need)
			break;
		if (c == '\\') {
			*why = "path has a backslash";
			return false;
		}
		if (c < 0x20 || c == 0x7f) {
			*why = "path has a control character";
			return false;
		}
		if (c >= 0x80) {
			*why = "path has a byte that is not ASCII (it must be percent-encoded)";
			return false;
		}
		if (c == '#') {
			*why = "path has a '#' fragment";
			return false;
		}
		if (!path_char(c)) {
			*why = "path has a character that must be percent-encoded";
			return false;
		}
		out[o++] = (char)c;
	}
	if (u.need) {
		*why = "path has percent-encoded bytes that are not valid UTF-8";
		return false;
	}
	out[o] = '\0';
	/* Segment checks on the decoded text: an escape can no longer hide a dot. */
	for (seg = 1; seg <= o;) {
		const char *end = memchr(out + seg, '/', o - seg);
		size_t n = (size_t)((end ? end : out + o) - (out + seg));
		const char *semi = memchr(out + seg, ';', n);
		size_t name = semi ? (size_t)(semi - (out + seg)) : n;
		size_t dots = 0;

		if (n == 0 && end) {
			*why = "path has an empty segment (//)";
			return false;
		}
		while (dots < name && out[seg + dots] == '.')
			dots++;
		if (name && dots == name) {
			*why = "path has a dot segment (. or ..)";
			return false;
		}
		seg += n + 1;
	}
	*out_len = o;
	return true;
}

static bool check_query(const char *q, size_t len, const char **why)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)q[i];

		if (c <= 0x20 || c >= 0x7f || c == '#') {
			*why = "query has a space, control character, '#' or byte that is not "
			       "ASCII";
			return false;
		}
	}
	return true;
}

int match_path_normalize(const char *target, size_t len, char *out, size_t out_size,
			 size_t *path_len, const char **why)
{
	const char *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len;

	if (out_size < len + 1) {
		*why = "path does not fit the buffer";
		return -1;
	}
	if (!norm_path(target, plen, out, path_len, why) ||
	    !check_query(q ? q + 1 : "", q ? len - plen - 1 : 0, why))
		return -1;
	memcpy(out + *path_len, target + plen, len - plen);
	out[*path_len + len - plen] = '\0';
	return 0;
}

bool match_path_prefix(const char *path, size_t path_len, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n > path_len || memcmp(path, prefix, n))
		return false;
	return n == path_len || prefix[n - 1] == '/' || path[n] == '/';
}

bool match_host_same(const struct match_host *a, const struct match_host *b)
{
	if (a->is_ip || b->is_ip)
		return a->is_ip && b->is_ip && addr_equal(&a->ip, &b->ip);
	return !strcmp(a->name, b->name);
}

static bool host_matches(const struct policy_rule *r, const struct match_host *h)
{
	size_t nl, sl;

	if (h->is_ip)
		return r->host_is_ip && addr_equal(&r->ip, &h->ip);
	if (r->host_is_ip)
		return false;
	if (!r->wildcard)
		return !strcmp(r->host, h->name);
	/* "*.example.com": the name must end in ".example.com" with a label before it. */
	nl = strlen(h->name);
	sl = strlen(r->host + 1);
	return nl > sl && !strcmp(h->name + nl - sl, r->host + 1);
}

static bool any_prefix(const struct policy_rule *r, const char *path, size_t len)
{
	for (size_t i = 0; i < r->n_paths; i++)
		if (match_path_prefix(path, len, r->paths[i]))
			return true;
	return false;
}

static bool allows_everything(const struct policy_rule *r)
{
	return r->methods == POLICY_METHODS_ALL && r->websocket && any_prefix(r, "/", 1);
}

/* RFC 9110 token characters. */
static bool method_token(const char *m)
{
	if (!m || !*m)
		return false;
	for (; *m; m++)
		if (!is_alnum((unsigned char)*m) && !strchr("!#$%&'*+-.^_`|~", *m))
			return false;
	return true;
}

/* How far the closest rule got: the step after the last one it passed failed. */
enum stage { NO_HOST, HOST, PORT, PATH, METHOD };

static const char *deny_reason(enum stage best, bool tunnel)
{
	switch (best) {
	case NO_HOST:
		return "no rule allows this host";
	case HOST:
		return "no rule allows this host on this scheme and port";
	case PORT:
		return tunnel ? "no rule for this host allows an uninspected tunnel (that needs "
				"paths [\"/\"], methods [\"*\"] and websocket true)"
			      : "no rule for this host allows this path";
	case PATH:
		return "no rule for this host and path allows this method";
	case METHOD:
		return "no rule for this host, path and method allows a websocket upgrade";
	}
	return "denied";
}

bool match_request(const struct policy *p, const struct match_target *t,
		   const struct policy_rule **rule, const char **why)
{
	struct match_host h;
	char path[MATCH_PATH_MAX + 1];
	size_t plen = 0;
	unsigned mbit = 0;
	enum stage best = NO_HOST;

	*rule = NULL;
	if (p->mode == POLICY_NONE) {
		*why = "policy mode is none: no outbound traffic";
		return false;
	}
	if (!match_host_parse(t->host, t->host_len, &h, why))
		return false;
	if (h.is_ip && h.ip.zone) {
		*why = "host has an IPv6 zone id";
		return false;
	}
	if (t->port == 0) {
		*why = "port 0";
		return false;
	}
	if (!t->tunnel && !t->host_only) {
		const char *q = t->path ? memchr(t->path, '?', t->path_len) : NULL;
		size_t raw = q ? (size_t)(q - t->path) : t->path_len;

		if (!t->path) {
			*why = "request has no path";
			return false;
		}
		if (raw > MATCH_PATH_MAX) {
			*why = "path is longer than 8192 bytes";
			return false;
		}
		if (!norm_path(t->path, raw, path, &plen, why) ||
		    (q && !check_query(q + 1, t->path_len - raw - 1, why)))
			return false;
		if (!method_token(t->method)) {
			*why = "method is not a valid token";
			return false;
		}
		mbit = policy_method_bit(t->method);
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_rule *r = &p->rules[i];
		enum stage s = NO_HOST;

		if (host_matches(r, &h)) {
			s = HOST;
			if (r->scheme == t->scheme && r->port == t->port) {
				s = PORT;
				if (t->host_only)
					goto allow;
				if (t->tunnel) {
					if (allows_everything(r))
						goto allow;
				} else if (any_prefix(r, path, plen)) {
					s = PATH;
					if (r->methods & mbit) {
						s = METHOD;
						if (!t->websocket || r->websocket)
							goto allow;
					}
				}
			}
		}
		if (s > best)
			best = s;
		continue;
allow:
		*rule = r;
		*why = "allowed by rule";
		return true;
	}
	if (p->mode == POLICY_FULL_INTERNET) {
		enum addr_class c = h.is_ip ? addr_classify(&h.ip, NULL) : ADDR_PUBLIC;

		if (c != ADDR_PUBLIC) {
			*why = addr_class_str(c);
			return false;
		}
		*why = "allowed by full_internet";
		return true;
	}
	if (!t->tunnel && best == PATH && !mbit)
		*why = "method is not one a rule can allow";
	else
		*why = deny_reason(best, t->tunnel);
	return false;
}

bool match_connect(const struct policy *p, const struct policy_rule *rule,
		   const struct sockaddr *sa, socklen_t salen, const struct addr_list *own,
		   const char **why)
{
	struct addr_ip a;
	enum addr_class c;

	if (p->mode == POLICY_NONE) {
		*why = "policy mode is none: no outbound traffic";
		return false;
	}
	if (addr_from_sockaddr(sa, salen, &a) < 0) {
		*why = "not an IPv4 or IPv6 address";
		return false;
	}
	if (a.zone) {
		*why = "address has an IPv6 zone id";
		return false;
	}
	if (rule) {
		if (rule->host_is_ip && addr_equal(&rule->ip, &a))
			goto named;
		for (size_t i = 0; i < rule->n_resolve; i++)
			if (addr_equal(&rule->resolve[i], &a))
				goto named;
		if (rule->host_is_ip || rule->n_resolve) {
			*why = "the rule names its addresses and this is not one of them";
			return false;
		}
	} else if (p->mode != POLICY_FULL_INTERNET) {
		*why = "no rule allowed the request";
		return false;
	}
	c = addr_classify(&a, own);
	if (c != ADDR_PUBLIC) {
		*why = addr_class_str(c);
		return false;
	}
	*why = "public address";
	return true;
named:
	*why = "address named by the rule";
	return true;
}
