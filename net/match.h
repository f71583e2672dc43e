/*
 * match: does a policy allow one request? The proxy calls match_request()
 * with what it parsed from the request, then match_connect() with every
 * address it is about to dial. Hosts and paths are normalised here, and
 * anything that could be read two ways (an encoded '/', a dot segment, a
 * host that is really an address) is denied rather than guessed at.
 * Nothing allocates; a policy can be matched from many threads at once.
 * Deny reasons are static strings.
 */
#ifndef SMOLVM_MATCH_H
#define SMOLVM_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"
#include "net/policy.h"

#define MATCH_HOST_MAX 253
/* Longest path (query excluded) match_request() accepts. */
#define MATCH_PATH_MAX 8192

/* A host after normalisation: a name or an address. */
struct match_host {
	bool is_ip;
	struct addr_ip ip;			/* when is_ip */
	char name[MATCH_HOST_MAX + 1];		/* when not: lower case, no trailing dot */
};

/*
 * Parse a host as a URL, a Host header, a CONNECT target or SNI carries
 * it, without its port: a name, an IPv4 address in any spelling the
 * resolver takes (2130706433, 0x7f.1, 127.1), or IPv6 with or without
 * brackets. Names are lower-cased and lose one trailing dot; they must be
 * ASCII (IDNs in punycode), labels of letters, digits, '-' and '_', no
 * empty label, not starting or ending in '-'. A name whose last label is
 * numeric (1.2.3.4.5, 08.0.0.1) is refused: a resolver could read it
 * either way. False with *why set when the host is refused.
 */
bool match_host_parse(const char *s, size_t len, struct match_host *out, const char **why);

/* Are two parsed hosts the same: the same name, or the same address? */
bool match_host_same(const struct match_host *a, const struct match_host *b);

/*
 * Normalise a request target in origin form ("/a/b?q") into out, which
 * needs len + 1 bytes (the result is never longer); *path_len gets the
 * length of the path part, the query follows it unchanged. Percent-encoded
 * letters, digits, '-', '_' and '~' are decoded and other escapes get upper
 * case hex. Refused (-1, *why set): anything but '/' first; an encoded '/',
 * '\', '.' or '%' (so %252e too) or control character; a backslash; an
 * empty segment ("//"); a segment of dots ("." ".." "...", also before a
 * ';' parameter); bytes outside the RFC 3986 path characters; encoded
 * bytes that are not valid UTF-8 or that spell a look-alike of '.', '/',
 * '\' or '%' (U+FF0E, U+2025, ...); a '#'; in the query, control
 * characters, spaces and non-ASCII bytes.
 */
int match_path_normalize(const char *target, size_t len, char *out, size_t out_size,
			 size_t *path_len, const char **why);

/* Does a normalised path fall under a normalised prefix? The prefix must
 * end at a segment boundary: "/v1/chat" covers "/v1/chat" and
 * "/v1/chat/x", not "/v1/chatty". */
bool match_path_prefix(const char *path, size_t path_len, const char *prefix);

/* One request as the proxy sees it. */
struct match_target {
	enum policy_scheme scheme;
	const char *host;	/* as sent, without port; host_len bytes */
	size_t host_len;
	uint16_t port;
	/* An uninspected tunnel (TLS passed through): method, path and
	 * websocket are unknown, so only a rule that limits none of them
	 * (paths ["/"], methods ["*"], websocket true) can allow it. */
	bool tunnel;
	/* Only the host and port are known yet (a TLS connection about to be
	 * intercepted): allowed by the first rule for them whatever its paths
	 * and methods, since each request inside is judged on its own. */
	bool host_only;
	const char *method;	/* the request method token, exactly as sent */
	const char *path;	/* the request target in origin form, path_len bytes */
	size_t path_len;
	bool websocket;		/* the request asks to upgrade to a websocket */
};

/*
 * Decide one request. True when allowed: *rule is the first rule (in file
 * order) that allows it, or NULL when full_internet allows it without one;
 * *why is "allowed by rule" or "allowed by full_internet". False when
 * denied, with *why saying what failed (for the closest rule). A host that
 * is an IP address matches only a rule naming that address; under
 * full_internet an always-denied address is refused here already.
 * The proxy must then resolve a name itself (as an absolute name, so no
 * search domain applies) or dial rule->resolve, and pass every address to
 * match_connect(); it must forward the normalised path it matched.
 */
bool match_request(const struct policy *p, const struct match_target *t,
		   const struct policy_rule **rule, const char **why);

/*
 * May the proxy dial sa for a request that match_request() allowed with
 * rule (NULL: allowed by full_internet)? An address the rule names (its
 * host address or a resolve entry) is allowed; a rule that names addresses
 * allows no other. Anything else must be public and not one of own (the
 * host's addresses, may be NULL). False with *why otherwise.
 */
bool match_connect(const struct policy *p, const struct policy_rule *rule,
		   const struct sockaddr *sa, socklen_t salen, const struct addr_list *own,
		   const char **why);

#endif
