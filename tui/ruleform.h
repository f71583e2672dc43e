/*
 * ruleform: the form that adds or edits one rule of a sandbox's network
 * policy, including "allow this" for a denied request, which starts from
 * the narrowest rule that allows it. The form checks nothing itself: the
 * policy with the rule put in goes through the policy loader, and the
 * loader's message, naming the field, is what the form shows.
 */
#ifndef SMOLVM_RULEFORM_H
#define SMOLVM_RULEFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "net/policy.h"
#include "tui/dialog.h"
#include "tui/netlog.h"

struct cJSON;

enum {
	RF_ID, RF_SCHEME, RF_HOST, RF_PORT, RF_PATHS, RF_METHODS, RF_RESOLVE, RF_COMMENT,
	RF_NFIELDS
};
/* Where the focus can be after the fields. */
enum { RF_WEBSOCKET = RF_NFIELDS, RF_SAVE, RF_CANCEL, RF_NFOCUS };

struct ruleform {
	struct dialog_field f[RF_NFIELDS];
	bool websocket;
	int focus;
	char title[48];
	char note[2][160];	/* what saving will do, above the fields */
	char error[400];	/* the loader's verdict on the last try, or "" */
	char orig_id[POLICY_ID_MAX + 1];	/* the rule being edited; "" for a new one */
};

/* An empty rule to add to p. */
void ruleform_init_new(struct ruleform *f, const struct policy *p);

/* Rule i of p. -1 with err_set() if one of its lists is too long for the
 * form (the form must never cut a rule short). */
int ruleform_init_edit(struct ruleform *f, const struct policy *p, size_t i);

/*
 * The narrowest rule that allows the denied request e, to add to p: its
 * scheme, its exact host and port, its method only, and its whole path as
 * the prefix (so the path and what is below it). A CONNECT shows no path
 * or method: its rule is for that host and port with the default methods
 * (GET and HEAD) on every path, since the proxy judges the requests inside
 * the TLS connection one by one. The id is made from the host, unique in
 * p. -1 with err_set() if e is not a request a rule could allow.
 */
int ruleform_init_allow(struct ruleform *f, const struct netlog_entry *e,
			const struct policy *p);

/* The rule as typed, as a policy rule object (lists split at commas and
 * spaces, empty fields left out so that their defaults apply). */
struct cJSON *ruleform_rule(const struct ruleform *f);

/*
 * Put the rule into p: in place of orig_id, or at the end for a new rule
 * (which also turns mode none into allowlist, since under none no rule
 * allows anything). The result goes through policy_load: 0 and *out, or
 * -1 with error set and the focus on the field the message names. Writes
 * nothing.
 */
int ruleform_apply(struct ruleform *f, const struct policy *p, struct policy **out);

/* DIALOG_OK asks to save (the caller applies and keeps the form open if
 * that fails). */
enum dialog_result ruleform_key(struct ruleform *f, bool is_code, wint_t wc);
void ruleform_draw(struct ruleform *f, int lines, int cols);
/* Where the text cursor goes after a draw (false: hidden). */
bool ruleform_cursor(const struct ruleform *f, int lines, int cols, int *y, int *x);

#endif
