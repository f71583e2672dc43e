/*
 * forward: one guest connection at the egress proxy. Reads the guest's
 * HTTP/1.1 requests one at a time (net/http.h), judges each on its own
 * (net/match.h), and for an allowed one resolves the host itself, checks
 * every address before dialing it, re-serialises the request upstream and
 * streams both bodies. CONNECT tunnels and TLS sent straight to a port are
 * passed through uninspected when a rule allows a tunnel, and otherwise
 * intercepted (net/tls.h) so that each request inside is judged the same
 * way, as https. Every decision becomes one JSON line in the decision log.
 */
#ifndef SMOLVM_FORWARD_H
#define SMOLVM_FORWARD_H

#include <netinet/in.h>

#include "net/policy.h"

struct tls_ctx;
struct inject_set;

struct forward_env {
	const char *sandbox_id;
	/* Where the proxy listens: a connection the guest made to this very
	 * address uses the proxy explicitly (absolute URLs, CONNECT); any
	 * other reached it by redirection (origin-form, Host header). */
	struct sockaddr_in listen;
	/* A new reference to the policy in force (policy_unref it). */
	struct policy *(*policy_get)(void);
	int log_fd;		/* the decision log, opened O_APPEND */
	/* HTTPS interception (net/tls.h); NULL: uninspected CONNECT tunnels only. */
	struct tls_ctx *tls;
	/* A new reference to the sandbox's secrets (inject_set_unref it), and
	 * where each use of one is counted; NULL: none. */
	struct inject_set *(*secrets_get)(void);
	void (*secret_used)(const char *name);
};

/*
 * Serve guest_fd until the guest closes it, an error, or an idle timeout;
 * closes it. orig is the destination the guest dialed (before the
 * redirection). Blocking; run it on a thread of its own, in the host's
 * network namespace (that is where upstream connections are made).
 */
void forward_conn(const struct forward_env *env, int guest_fd, const struct sockaddr_in *orig);

/* A line in the same log for a DNS question the sandbox's resolver answers
 * (net/dns.h): kind "dns", the name, its type, the response code and the
 * address answered (null for none). */
void forward_log_dns(const struct forward_env *env, const char *name, int qtype, int rcode);

#endif
