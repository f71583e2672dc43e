/*
 * ingress: guest TCP ports published on the host's loopback, the
 * "ingress" entries of a sandbox's policy (smolvm-policy(5)). It runs in
 * the egress proxy's process: it listens in the host's namespace and, for
 * each connection, dials the guest from inside the sandbox's namespace and
 * copies bytes both ways. It follows the policy in force: an edit that
 * adds an entry opens a listener, one that removes an entry closes it and
 * the connections made through it.
 */
#ifndef SMOLVM_INGRESS_H
#define SMOLVM_INGRESS_H

#include "backend/store.h"
#include "net/policy.h"

/* Connections open at once per sandbox; more are closed as they arrive. */
#define INGRESS_CONN_MAX 64

/*
 * Could the entries of p be published now? Those that held (NULL: none)
 * publishes too are skipped, since whoever holds held listens on them
 * already. 0, or -1 with err_set() naming the first address and port
 * that something else listens on.
 */
int ingress_check(const struct policy *p, const struct policy *held);

typedef void ingress_say_fn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Publish the entries of the policy in force (policy_get() returns a new
 * reference to it), then serve them for the rest of the process's life on
 * a thread of its own, which calls policy_get() four times a second and
 * follows each new policy it gets. -1 with err_set() and nothing left open
 * if an entry cannot be published at start; an entry of a later policy
 * that cannot be published is reported through say and stays unpublished.
 */
int ingress_start(const struct sandbox *sb, struct policy *(*policy_get)(void),
		  ingress_say_fn *say);

#endif
