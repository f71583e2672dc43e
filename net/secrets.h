/*
 * secrets: which vault secrets a sandbox has and what stands for them in
 * the guest. The policy names the secrets (its "secrets" list); each gets
 * a placeholder of its own, kept in vms/<id>/secrets.json (names and
 * placeholders only, never a value) so that it stays the same across
 * policy edits and restarts. The guest sees NAME=placeholder in the
 * environment of everything started over SSH; the egress proxy builds its
 * inject set (net/inject.h) from the policy, this file and the vault.
 */
#ifndef SMOLVM_SECRETS_H
#define SMOLVM_SECRETS_H

#include <stddef.h>

#include "backend/vault.h"
#include "net/inject.h"
#include "net/policy.h"

#define SECRETS_FILE "secrets.json"

struct secrets_entry {
	char name[POLICY_SECRET_NAME_MAX + 1];
	char placeholder[INJECT_PH_LEN + 1];
};

struct secrets {
	struct secrets_entry *v;
	size_t n;
};

/* The sandbox's secrets file; none is no secrets. 0, or -1 with err_set()
 * for a file that does not read as one. */
int secrets_load(const char *id, struct secrets *out);

/*
 * Give every secret of p a placeholder: the one the sandbox had, else a
 * new one; those p no longer names are dropped. Writes the file
 * atomically when it changes. *out (may be NULL) gets the result; *changed
 * (may be NULL) whether it differs from before. 0, or -1 with err_set().
 */
int secrets_attach(const char *id, const struct policy *p, struct secrets *out, bool *changed);

void secrets_free(struct secrets *s);

const struct secrets_entry *secrets_find(const struct secrets *s, const char *name);

/* Is every secret p names in the vault? Opens it (asking for a passphrase
 * when there is a terminal). 0, or -1 with err_set() naming the first
 * unknown one. */
int secrets_check_vault(const struct policy *p);

/* p with names added to its secrets (names it has already are kept
 * once); p NULL: the default policy. A new policy, or -1 with err_set(). */
int secrets_policy_with(const struct policy *p, char *const *names, size_t n,
			struct policy **out);

/*
 * The guest command that gives sessions from now on NAME=placeholder for
 * each of s: it restarts the guest's SSH server (dropbear, which takes no
 * environment from clients) with its own command line plus -e, in an
 * environment of PATH and those variables. Sessions already open keep
 * theirs. Newly allocated.
 */
char *secrets_guest_cmd(const struct secrets *s);

/*
 * The proxy's inject set for policy p: each secret p names that has a
 * placeholder in s and an entry in v, its value in v's locked memory (the
 * set holds a reference to v). The names that lack either are written to
 * *missing as "A, B" (NULL when none; free it). Never NULL.
 */
struct inject_set *secrets_inject_set(const struct policy *p, const struct secrets *s,
				      struct vault *v, char **missing);

#endif
