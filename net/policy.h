/*
 * policy: a sandbox's network policy (smolvm-policy(5)): the model, its
 * strict JSON loader and its serialisation. A loaded policy is immutable
 * and reference counted, so the proxy's threads can keep using the one
 * they hold while an edit swaps in a new one (struct policy_slot).
 */
#ifndef SMOLVM_POLICY_H
#define SMOLVM_POLICY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/addr.h"

struct cJSON;

enum policy_mode {
	POLICY_NONE,		/* no egress at all */
	POLICY_ALLOWLIST,	/* only what a rule allows */
	POLICY_FULL_INTERNET,	/* any public address; rules still name private ones */
};

enum policy_scheme {
	POLICY_HTTP,
	POLICY_HTTPS,
};

/* The methods a rule can allow, as bits. */
enum policy_method {
	POLICY_GET = 1 << 0,
	POLICY_HEAD = 1 << 1,
	POLICY_POST = 1 << 2,
	POLICY_PUT = 1 << 3,
	POLICY_PATCH = 1 << 4,
	POLICY_DELETE = 1 << 5,
	POLICY_OPTIONS = 1 << 6,
};
#define POLICY_METHODS_ALL 0x7fu
/* What a rule without "methods" allows: reading only. */
#define POLICY_METHODS_DEFAULT (POLICY_GET | POLICY_HEAD)

struct policy_rule {
	char *id;
	char *comment;		/* NULL when none */
	enum policy_scheme scheme;
	/* Lower case, no trailing dot: "api.example.com", "*.example.com", or
	 * an address in standard form ("127.0.0.1", "::1"). */
	char *host;
	bool wildcard;		/* host is "*.SUFFIX": every strict subdomain of SUFFIX */
	bool host_is_ip;
	struct addr_ip ip;	/* the address, when host_is_ip */
	uint16_t port;
	char **paths;		/* normalised prefixes, at least one ("/" if none was given) */
	size_t n_paths;
	unsigned methods;	/* POLICY_GET | ... */
	bool websocket;
	/* Addresses to dial instead of resolving host (curl --resolve); the
	 * rule names them, so they are allowed even when always-denied. */
	struct addr_ip *resolve;
	size_t n_resolve;
};

/* A guest port published on a host loopback address. */
struct policy_ingress {
	struct addr_ip host;	/* in 127.0.0.0/8, or ::1 */
	uint16_t host_port;
	uint16_t guest_port;
	char *comment;		/* NULL when none */
};

struct policy {
	atomic_int refs;
	enum policy_mode mode;
	char *comment;		/* NULL when none */
	struct policy_rule *rules;
	size_t n_rules;
	struct policy_ingress *ingress;
	size_t n_ingress;
	/* Vault secrets attached to the sandbox (net/inject.h), by name:
	 * [A-Z_][A-Z0-9_]*, the shape of an environment variable. */
	char **secrets;
	size_t n_secrets;
};

/* Limits that keep a policy (and the work per request) bounded. */
#define POLICY_TEXT_MAX (1024 * 1024)
#define POLICY_RULES_MAX 1024
#define POLICY_LIST_MAX 64	/* paths and resolve entries per rule */
#define POLICY_INGRESS_MAX 256
#define POLICY_ID_MAX 64
#define POLICY_SECRETS_MAX 64
#define POLICY_SECRET_NAME_MAX 64

/*
 * Parse a policy from text[0..len). On success
 * *out is a new policy holding one reference. On error returns -1, leaves
 * *out alone and err_msg() names the field: `rules[2].host: "*.com" is
 * too broad: ...`. Unknown keys, duplicate keys, wrong types and values
 * out of range are all errors.
 */
int policy_load(const char *text, size_t len, struct policy **out);

/* policy_load() on a file's content; errors start with the file's path. */
int policy_load_file(const char *path, struct policy **out);

/* The policy of a sandbox that has no policy file: mode none, nothing else. */
struct policy *policy_default(void);

/* Take and drop a reference; the last policy_unref() frees. NULL is ignored. */
struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);

/*
 * The policy as JSON in a fixed key order, every default written out, so
 * that it loads back to the same policy. policy_to_json() returns
 * indented text ending in a newline (free it).
 */
struct cJSON *policy_to_cjson(const struct policy *p);
char *policy_to_json(const struct policy *p);
struct cJSON *policy_ingress_to_cjson(const struct policy_ingress *in);

const char *policy_mode_str(enum policy_mode m);
const char *policy_scheme_str(enum policy_scheme s);

/*
 * Check and normalise one host as a rule's "host" takes it (a name, "*."
 * and a domain, or an address in standard form) into r->host, wildcard,
 * host_is_ip and ip. -1 with err_set("WHERE: ...") when it is refused.
 */
int policy_rule_host(struct policy_rule *r, const char *host, const char *where);

/* Whether a secret's name is one the guest's shell, login or SSH server needs
 * (PATH, HOME, LD_*, SSH_*, ...), so that it cannot be a secret. */
bool policy_secret_name_reserved(const char *name);

/* The bit of a method token ("GET"), 0 if no rule can allow it. Methods
 * are case-sensitive: "get" is not GET. */
unsigned policy_method_bit(const char *token);

/*
 * The CLI form of an ingress entry: "[ADDR:]HOST_PORT:GUEST_PORT", ADDR
 * being a loopback address (default 127.0.0.1; IPv6 in brackets:
 * "[::1]:8080:80"). Fills *out (comment NULL) or returns -1 with err_set().
 */
int policy_parse_publish(const char *spec, struct policy_ingress *out);

/*
 * The current policy of a sandbox, shared between threads. get returns a
 * new reference (drop it with policy_unref); set takes over the caller's
 * reference to p and drops the slot's old one, so a request that started
 * under the old policy finishes under it.
 */
struct policy_slot {
	pthread_mutex_t lock;
	struct policy *p;
};

void policy_slot_init(struct policy_slot *s, struct policy *p);
struct policy *policy_slot_get(struct policy_slot *s);
void policy_slot_set(struct policy_slot *s, struct policy *p);
void policy_slot_destroy(struct policy_slot *s);

#endif
