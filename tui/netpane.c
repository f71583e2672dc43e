#include "tui/netpane.h"

#include <cJSON.h>
#include <curses.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "net/proxy.h"
#include "tui/draw.h"
#include "tui/status.h"
#include "tui/theme.h"

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void clamp_rules(struct netpane *np)
{
	size_t n = np->p ? np->p->n_rules : 0;

	if (np->rule_sel >= n)
		np->rule_sel = n ? n - 1 : 0;
}

/* Read the policy file again if it changed (or could not be read). */
static void load_policy(struct netpane *np)
{
	static const char none[] = "{\"mode\": \"none\"}";
	struct stat st;
	bool exists = stat(np->policy_path, &st) == 0;
	int err = errno;

	if (np->p && exists == np->exists && (!exists || same_file(&st, &np->st)))
		return;
	policy_unref(np->p);
	np->p = NULL;
	np->error[0] = '\0';
	np->exists = exists;
	if (exists)
		np->st = st;
	if (!exists && err != ENOENT)
		snprintf(np->error, sizeof np->error, "cannot read %s: %s", np->policy_path,
			 strerror(err));
	else if (!exists ? policy_load(none, sizeof none - 1, &np->p) :
			   policy_load_file(np->policy_path, &np->p))
		snprintf(np->error, sizeof np->error, "%s", err_msg());
	clamp_rules(np);
}

struct netpane *netpane_open(const struct sandbox *sb, bool root)
{
	struct netpane *np = xcalloc(1, sizeof *np);
	char *log = paths_vm_file(sb->id, "policy.log");

	np->sb = *sb;
	np->root = root;
	np->policy_path = paths_vm_file(sb->id, "policy.json");
	netlog_init(&np->log, log, NETLOG_RING);
	free(log);
	np->focus = NETPANE_LOG;
	np->filter.label = "Filter";
	np->filter.unit = "";
	np->filter.width = 20;
	load_policy(np);
	netlog_poll(&np->log);
	return np;
}

void netpane_free(struct netpane *np)
{
	if (!np)
		return;
	policy_unref(np->p);
	netlog_free(&np->log);
	free(np->policy_path);
	free(np);
}

void netpane_refresh(struct netpane *np, const struct sandbox *sb)
{
	np->sb = *sb;
	load_policy(np);
	netlog_poll(&np->log);
}

/* ---- the log as shown: entries that pass the filter ------------------------------- */

struct view {
	const struct netlog_entry **e;
	size_t n, sel;		/* sel: index of the selected entry in e */
};

static void view_build(struct netpane *np, struct view *v)
{
	v->e = xmalloc((np->log.count ? np->log.count : 1) * sizeof *v->e);
	v->n = v->sel = 0;
	for (size_t i = 0; i < np->log.count; i++) {
		const struct netlog_entry *e = netlog_at(&np->log, i);

		if (netlog_match(e, np->filter.value))
			v->e[v->n++] = e;
	}
	v->sel = v->n ? v->n - 1 : 0;
	if (np->log_sel) {
		/* The selected entry, or the first after it if it went. */
		for (size_t i = 0; i < v->n; i++) {
			if (v->e[i]->seq >= np->log_sel) {
				v->sel = i;
				break;
			}
		}
	}
}

static void log_move(struct netpane *np, long delta, bool to_end, bool to_start)
{
	struct view v;
	long at;

	view_build(np, &v);
	at = (long)v.sel + delta;
	if (to_start)
		at = 0;
	if (at < 0)
		at = 0;
	if (to_end || at >= (long)v.n - 1)
		np->log_sel = 0;	/* the newest: follow what comes */
	else
		np->log_sel = v.e[at]->seq;
	free(v.e);
}

void netpane_scroll(struct netpane *np, int lines)
{
	if (np->state == NETPANE_VIEW || np->state == NETPANE_FILTER)
		log_move(np, -lines, false, false);
}

/* The selected entry, or NULL. */
static const struct netlog_entry *log_selected(struct netpane *np)
{
	struct view v;
	const struct netlog_entry *e;

	view_build(np, &v);
	e = v.n ? v.e[v.sel] : NULL;
	free(v.e);
	return e;
}

/* ---- edits ---------------------------------------------------------------------------- */

static bool can_edit(struct netpane *np)
{
	if (!np->root) {
		status_set(STATUS_ERROR, "editing the network policy needs root: the sandbox's files "
			   "and its proxy belong to root; run smolvm with sudo");
		return false;
	}
	load_policy(np);
	if (!np->p) {
		status_set(STATUS_ERROR, "policy.json does not load, so it cannot be edited here; "
			   "fix the file first");
		return false;
	}
	return true;
}

/* Write p (already loaded, so valid) and have the proxy take it now. */
static int commit(struct netpane *np, const struct policy *p, const char *done)
{
	char *text = policy_to_json(p);
	int rc = util_write_atomic(np->policy_path, text, strlen(text), 0600);
	pid_t pid;

	free(text);
	if (rc < 0)
		return -1;
	load_policy(np);
	pid = proxy_pid(&np->sb);
	if (pid > 0 && kill(pid, SIGHUP) < 0)
		status_set(STATUS_ERROR, "%s; the proxy (pid %d) could not be told (%s): it reads "
			   "the file at its next request", done, (int)pid, strerror(errno));
	else if (pid > 0)
		status_set(STATUS_INFO, "%s; the proxy applies it now", done);
	else
		status_set(STATUS_INFO, "%s; %s has no proxy running: it applies when it starts",
			   done, np->sb.name);
	return 0;
}

/* Load an edited document and commit it. */
static int commit_doc(struct netpane *np, cJSON *doc, const char *done)
{
	char *text = cJSON_PrintUnformatted(doc);
	struct policy *p;
	int rc;

	if (!text)
		die("out of memory");
	rc = policy_load(text, strlen(text), &p);
	cJSON_free(text);
	if (rc < 0) {
		status_set(STATUS_ERROR, "the edited policy does not load, nothing was written: %s",
			   err_msg());
		return -1;
	}
	rc = commit(np, p, done);
	if (rc < 0)
		status_set(STATUS_ERROR, "%s", err_msg());
	policy_unref(p);
	return rc;
}

static void set_mode(struct netpane *np, enum policy_mode m, const char *done)
{
	cJSON *doc = policy_to_cjson(np->p);

	cJSON_ReplaceItemInObject(doc, "mode", cJSON_CreateString(policy_mode_str(m)));
	commit_doc(np, doc, done);
	cJSON_Delete(doc);
}

static void delete_rule(struct netpane *np, const char *id)
{
	cJSON *doc = policy_to_cjson(np->p), *rules = cJSON_GetObjectItem(doc, "rules");
	char done[128];
	int n = cJSON_GetArraySize(rules);

	for (int i = 0; i < n; i++) {
		if (strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(rules, i), "id")->valuestring, id))
			continue;
		cJSON_DeleteItemFromArray(rules, i);
		snprintf(done, sizeof done, "rule %s deleted", id);
		commit_doc(np, doc, done);
		cJSON_Delete(doc);
		return;
	}
	status_set(STATUS_ERROR, "rule %s is no longer in the policy: it changed meanwhile", id);
	cJSON_Delete(doc);
}

static void select_rule(struct netpane *np, const char *id)
{
	for (size_t i = 0; np->p && i < np->p->n_rules; i++)
		if (!strcmp(np->p->rules[i].id, id))
			np->rule_sel = i;
}

static void save_form(struct netpane *np)
{
	struct ruleform *f = &np->form;
	struct policy *p;
	char done[200], id[POLICY_ID_MAX + 1];
	size_t at;
	bool was_none;

	load_policy(np);
	if (!np->p) {
		snprintf(f->error, sizeof f->error, "the policy file no longer loads: %.300s",
			 np->error);
		return;
	}
	was_none = np->p->mode == POLICY_NONE && !f->orig_id[0];
	/* An edited rule keeps its place; a new one comes last. */
	at = np->p->n_rules;
	for (size_t i = 0; f->orig_id[0] && i < np->p->n_rules; i++)
		if (!strcmp(np->p->rules[i].id, f->orig_id))
			at = i;
	if (ruleform_apply(f, np->p, &p) < 0)
		return;
	snprintf(id, sizeof id, "%s", p->rules[at < p->n_rules ? at : p->n_rules - 1].id);
	snprintf(done, sizeof done, "rule %s %s%s", id, f->orig_id[0] ? "saved" : "added",
		 was_none ? ", mode allowlist" : "");
	if (commit(np, p, done) < 0) {
		snprintf(f->error, sizeof f->error, "%s", err_msg());
	} else {
		np->state = NETPANE_VIEW;
		select_rule(np, id);
	}
	policy_unref(p);
}

static void ask(struct netpane *np, enum netpane_action act, const char *title, const char *yes)
{
	memset(&np->conf, 0, sizeof np->conf);
	snprintf(np->conf.title, sizeof np->conf.title, "%s", title);
	snprintf(np->conf.yes, sizeof np->conf.yes, "%s", yes);
	np->act = act;
	np->state = NETPANE_CONFIRM;
}

static void ask_full(struct netpane *np)
{
	if (!can_edit(np))
		return;
	if (np->p->mode == POLICY_FULL_INTERNET) {
		ask(np, NETPANE_ACT_FULL, "Full internet off", "Turn off");
		snprintf(np->conf.text[0], sizeof np->conf.text[0],
			 "Turn full internet off for %s?", np->sb.name);
		snprintf(np->conf.text[1], sizeof np->conf.text[1],
			 "Only its rules will allow requests (mode allowlist).");
	} else {
		ask(np, NETPANE_ACT_FULL, "Full internet", "Allow all");
		snprintf(np->conf.text[0], sizeof np->conf.text[0],
			 "Let %s reach any public address?", np->sb.name);
		snprintf(np->conf.text[1], sizeof np->conf.text[1],
			 "Every host, path and method, not only the rules'.");
		snprintf(np->conf.text[2], sizeof np->conf.text[2],
			 "Loopback, private and metadata addresses stay denied.");
	}
}

static void do_confirmed(struct netpane *np)
{
	if (!can_edit(np))
		return;
	if (np->act == NETPANE_ACT_DELETE)
		delete_rule(np, np->act_id);
	else if (np->p->mode == POLICY_FULL_INTERNET)
		set_mode(np, POLICY_ALLOWLIST, "full internet off, mode allowlist");
	else
		set_mode(np, POLICY_FULL_INTERNET, "full internet on");
}

static void toggle_mode(struct netpane *np)
{
	if (!can_edit(np))
		return;
	if (np->p->mode == POLICY_FULL_INTERNET)
		status_set(STATUS_INFO, "full internet is on: f turns it off");
	else if (np->p->mode == POLICY_NONE)
		set_mode(np, POLICY_ALLOWLIST, "mode allowlist: the rules allow requests");
	else
		set_mode(np, POLICY_NONE, "mode none: no outbound traffic");
}

static void start_form(struct netpane *np, int which)
{
	const struct netlog_entry *e;

	if (!can_edit(np))
		return;
	if (which == 'n') {
		ruleform_init_new(&np->form, np->p);
	} else if (which == 'e') {
		if (!np->p->n_rules) {
			status_set(STATUS_INFO, "no rules yet: n adds one");
			return;
		}
		if (ruleform_init_edit(&np->form, np->p, np->rule_sel) < 0) {
			status_set(STATUS_ERROR, "%s", err_msg());
			return;
		}
	} else {
		e = log_selected(np);
		if (!e) {
			status_set(STATUS_INFO, "no request to allow: the log is empty");
			return;
		}
		if (ruleform_init_allow(&np->form, e, np->p) < 0) {
			status_set(STATUS_ERROR, "%s", err_msg());
			return;
		}
	}
	np->state = NETPANE_FORM;
}

static void ask_delete(struct netpane *np)
{
	const struct policy_rule *r;

	if (!can_edit(np))
		return;
	if (!np->p->n_rules) {
		status_set(STATUS_INFO, "there are no rules to delete");
		return;
	}
	r = &np->p->rules[np->rule_sel];
	ask(np, NETPANE_ACT_DELETE, "Delete rule", "Delete");
	snprintf(np->act_id, sizeof np->act_id, "%s", r->id);
	snprintf(np->conf.text[0], sizeof np->conf.text[0], "Delete rule %s (%s://%.60s)?", r->id,
		 policy_scheme_str(r->scheme), r->host);
	snprintf(np->conf.text[1], sizeof np->conf.text[1],
		 "What it allows is refused from the next request on.");
}

/* ---- keys ------------------------------------------------------------------------------ */

static bool is_enter(bool is_code, wint_t wc)
{
	return (!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER);
}

static void move_key(struct netpane *np, bool is_code, wint_t wc)
{
	long page = np->log_rows > 2 ? np->log_rows - 1 : 1;
	size_t n = np->p ? np->p->n_rules : 0;
	int dir = 0;
	bool start = false, end = false;

	if (is_code) {
		switch (wc) {
		case KEY_UP: dir = -1; break;
		case KEY_DOWN: dir = 1; break;
		case KEY_PPAGE: dir = (int)-page; break;
		case KEY_NPAGE: dir = (int)page; break;
		case KEY_HOME: start = true; break;
		case KEY_END: end = true; break;
		default: return;
		}
	} else {
		switch (wc) {
		case 'k': dir = -1; break;
		case 'j': dir = 1; break;
		case 'g': start = true; break;
		case 'G': end = true; break;
		default: return;
		}
	}
	if (np->focus == NETPANE_LOG) {
		log_move(np, dir, end, start);
		return;
	}
	if (start || (dir < 0 && (size_t)-dir > np->rule_sel))
		np->rule_sel = 0;
	else if (end || np->rule_sel + (size_t)(dir > 0 ? dir : 0) >= n)
		np->rule_sel = n ? n - 1 : 0;
	else
		np->rule_sel = (size_t)((long)np->rule_sel + dir);
}

static void filter_key(struct netpane *np, bool is_code, wint_t wc)
{
	if (!is_code && wc == 0x1b) {
		np->filter.len = np->filter.cursor = 0;
		np->filter.value[0] = '\0';
		np->state = NETPANE_VIEW;
	} else if (is_enter(is_code, wc)) {
		np->state = NETPANE_VIEW;
	} else if (is_code && (wc == KEY_UP || wc == KEY_DOWN || wc == KEY_PPAGE ||
			       wc == KEY_NPAGE)) {
		move_key(np, is_code, wc);
	} else {
		dialog_field_key(&np->filter, is_code, wc);
		/* A new filter shows the newest of what matches. */
		np->log_sel = 0;
	}
}

enum netpane_result netpane_key(struct netpane *np, bool is_code, wint_t wc)
{
	enum dialog_result r;

	switch (np->state) {
	case NETPANE_FORM:
		r = ruleform_key(&np->form, is_code, wc);
		if (r == DIALOG_CANCEL)
			np->state = NETPANE_VIEW;
		else if (r == DIALOG_OK)
			save_form(np);
		return NETPANE_HANDLED;
	case NETPANE_CONFIRM:
		r = dialog_confirm_key(&np->conf, is_code, wc);
		if (r != DIALOG_OPEN)
			np->state = NETPANE_VIEW;
		if (r == DIALOG_OK)
			do_confirmed(np);
		return NETPANE_HANDLED;
	case NETPANE_FILTER:
		filter_key(np, is_code, wc);
		return NETPANE_HANDLED;
	case NETPANE_VIEW:
		break;
	}
	if (is_enter(is_code, wc)) {
		if (np->focus == NETPANE_RULES)
			start_form(np, 'e');
		else
			start_form(np, 'a');
		return NETPANE_HANDLED;
	}
	if (is_code) {
		if (wc == KEY_BTAB)
			np->focus = np->focus == NETPANE_LOG ? NETPANE_RULES : NETPANE_LOG;
		else if (wc == KEY_DC && np->focus == NETPANE_RULES)
			ask_delete(np);
		else
			move_key(np, is_code, wc);
		return NETPANE_HANDLED;
	}
	switch (wc) {
	case 0x1b:
		if (!np->filter.len)
			return NETPANE_CLOSE;
		np->filter.len = np->filter.cursor = 0;
		np->filter.value[0] = '\0';
		np->log_sel = 0;
		break;
	case 'q': case 'w':
		return NETPANE_CLOSE;
	case '?':
		return NETPANE_HELP;
	case 't':
		return NETPANE_THEME;
	case '\t':
		np->focus = np->focus == NETPANE_LOG ? NETPANE_RULES : NETPANE_LOG;
		break;
	case '/':
		np->state = NETPANE_FILTER;
		np->focus = NETPANE_LOG;
		np->filter.cursor = np->filter.len;
		break;
	case 'n': case '+':
		start_form(np, 'n');
		break;
	case 'e':
		if (np->focus == NETPANE_RULES)
			start_form(np, 'e');
		else
			status_set(STATUS_INFO, "Tab goes to the rules, then e edits the selected one");
		break;
	case 'd':
		if (np->focus == NETPANE_RULES)
			ask_delete(np);
		else
			status_set(STATUS_INFO, "Tab goes to the rules, then d deletes the selected one");
		break;
	case 'a':
		start_form(np, 'a');
		break;
	case 'f':
		ask_full(np);
		break;
	case 'm':
		toggle_mode(np);
		break;
	default:
		move_key(np, is_code, wc);
		break;
	}
	return NETPANE_HANDLED;
}

/* ---- drawing --------------------------------------------------------------------------- */

static const char *mode_text(enum policy_mode m)
{
	switch (m) {
	case POLICY_NONE: return "none (nothing goes out)";
	case POLICY_ALLOWLIST: return "allowlist (rules only)";
	case POLICY_FULL_INTERNET: return "full internet";
	}
	return "";
}

static void draw_title(struct netpane *np, int y, int cols)
{
	struct style head = theme_style(TH_LIST_HEADER), base = theme_style(TH_LIST);
	char left[160], right[120];
	pid_t pid = proxy_pid(&np->sb);
	int x;

	snprintf(left, sizeof left, " Network of %s (%s) ", np->sb.name, np->sb.id);
	x = draw_text(y, 0, cols, head, left, false);
	if (np->p)
		snprintf(right, sizeof right, " mode %s", mode_text(np->p->mode));
	else
		snprintf(right, sizeof right, " mode unknown: the file does not load");
	x += draw_text(y, x, cols - x, theme_style(np->p && np->p->mode == POLICY_FULL_INTERNET ?
						       TH_LOG_ERROR : TH_LIST), right, false);
	if (pid > 0)
		snprintf(right, sizeof right, "   proxy pid %d ", (int)pid);
	else
		snprintf(right, sizeof right, "   no proxy (%s) ", np->sb.state);
	if (x + draw_width(right) < cols)
		draw_text(y, cols - draw_width(right), draw_width(right), base, right, false);
}

/* Columns of the rule table. */
struct cols {
	int id, scheme, host, port, paths, methods;	/* start columns */
	int w_id, w_host, w_paths, w_methods;
};

static void rule_cols(int cols, struct cols *c)
{
	int rest;

	c->w_id = cols >= 100 ? 20 : 14;
	c->w_methods = 14;
	rest = cols - 2 - (c->w_id + 1) - 7 - 6 - (c->w_methods + 1);
	if (rest < 16)
		rest = 16;
	c->w_host = rest * 11 / 20;
	c->w_paths = rest - c->w_host - 1;
	c->id = 2;
	c->scheme = c->id + c->w_id + 1;
	c->host = c->scheme + 7;
	c->port = c->host + c->w_host + 1;
	c->paths = c->port + 6;
	c->methods = c->paths + c->w_paths + 1;
}

static void join_paths(const struct policy_rule *r, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < r->n_paths && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%s", i ? " " : "", r->paths[i]);
}

static void join_methods(const struct policy_rule *r, char *out, size_t size)
{
	static const char *names[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE",
				       "OPTIONS" };
	size_t o = 0;

	out[0] = '\0';
	if (r->methods == POLICY_METHODS_ALL)
		o = (size_t)snprintf(out, size, "*");
	for (size_t i = 0; r->methods != POLICY_METHODS_ALL && i < ARRAY_LEN(names) && o < size;
	     i++)
		if (r->methods & policy_method_bit(names[i]))
			o += (size_t)snprintf(out + o, size - o, "%s%s", o ? " " : "", names[i]);
	if (r->websocket && o < size)
		snprintf(out + o, size - o, " +ws");
}

static void draw_rules(struct netpane *np, int y, int rows, int cols)
{
	struct style head = theme_style(TH_LIST_HEADER), base = theme_style(TH_LIST);
	bool focused = np->focus == NETPANE_RULES;
	struct cols c;
	char buf[1024];
	size_t n;

	rule_cols(cols, &c);
	draw_fill(y, 0, cols, head);
	draw_text(y, 0, 2, head, focused ? draw_glyph("▸", ">") : "", false);
	draw_text(y, c.id, c.w_id, head, "RULE", false);
	draw_text(y, c.scheme, 6, head, "SCHEME", false);
	draw_text(y, c.host, c.w_host, head, "HOST", false);
	draw_text(y, c.port, 5, head, "PORT", false);
	draw_text(y, c.paths, c.w_paths, head, "PATHS", false);
	draw_text(y, c.methods, cols - c.methods, head, "METHODS", false);
	y++;
	if (!np->p) {
		size_t pl = strlen(np->policy_path);
		const char *msg = np->error;

		/* The loader's message without the path: the line above names the file. */
		if (!strncmp(msg, np->policy_path, pl) && !strncmp(msg + pl, ": ", 2))
			msg += pl + 2;
		draw_text(y, 2, cols - 3, theme_style(TH_STATUS_ERROR), np->exists ?
			  "policy.json does not load (the proxy keeps the policy it had):" :
			  "policy.json cannot be read:", false);
		draw_wrap(y + 1, 4, cols - 5, rows - 1, theme_style(TH_STATUS_ERROR), msg);
		return;
	}
	n = np->p->n_rules;
	if (!n) {
		draw_text(y, 2, cols - 3, base, np->p->mode == POLICY_NONE ?
			  "No rules. n adds one; a allows a refused request from the log." :
			  "No rules. n adds one.", false);
		return;
	}
	if (np->rule_sel < np->rule_top)
		np->rule_top = np->rule_sel;
	if (np->rule_sel >= np->rule_top + (size_t)rows)
		np->rule_top = np->rule_sel - (size_t)rows + 1;
	if (np->rule_top + (size_t)rows > n)
		np->rule_top = n > (size_t)rows ? n - (size_t)rows : 0;
	for (int i = 0; i < rows && np->rule_top + (size_t)i < n; i++) {
		size_t k = np->rule_top + (size_t)i;
		const struct policy_rule *r = &np->p->rules[k];
		bool sel = k == np->rule_sel;
		struct style st = sel && focused ? theme_style(TH_LIST_SELECTED) : base;
		char port[8];

		draw_fill(y + i, 0, cols, st);
		if (sel)
			draw_text(y + i, 0, 2, st, draw_glyph("▸", ">"), false);
		draw_text(y + i, c.id, c.w_id, st, r->id, false);
		draw_text(y + i, c.scheme, 6, st, policy_scheme_str(r->scheme), false);
		if (r->n_resolve) {
			char a[ADDR_STR_MAX];

			addr_format(&r->resolve[0], a);
			snprintf(buf, sizeof buf, "%s%s%s", r->host, draw_glyph("→", "->"), a);
		} else {
			snprintf(buf, sizeof buf, "%s", r->host);
		}
		draw_text(y + i, c.host, c.w_host, st, buf, false);
		snprintf(port, sizeof port, "%u", r->port);
		draw_text(y + i, c.port, 5, st, port, false);
		join_paths(r, buf, sizeof buf);
		draw_text(y + i, c.paths, c.w_paths, st, buf, false);
		join_methods(r, buf, sizeof buf);
		draw_text(y + i, c.methods, cols - c.methods, st, buf, false);
	}
	if (n > (size_t)rows) {
		snprintf(buf, sizeof buf, " %zu-%zu of %zu ", np->rule_top + 1,
			 np->rule_top + (size_t)rows < n ? np->rule_top + (size_t)rows : n, n);
		draw_text(y - 1, cols - draw_width(buf), draw_width(buf), head, buf, false);
	}
}

static void draw_ingress(struct netpane *np, int y, int cols)
{
	struct style base = theme_style(TH_LIST);
	char buf[1024];
	size_t o;

	o = (size_t)snprintf(buf, sizeof buf, "  Ingress: ");
	if (!np->p || !np->p->n_ingress)
		snprintf(buf + o, sizeof buf - o, "%s", np->p ? "none (no guest port published)" :
			 "unknown");
	for (size_t i = 0; np->p && i < np->p->n_ingress && o < sizeof buf; i++) {
		const struct policy_ingress *in = &np->p->ingress[i];
		char a[ADDR_STR_MAX];

		addr_format(&in->host, a);
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s%s%s:%u %s guest %u%s%s%s",
				      i ? ", " : "", in->host.family == AF_INET6 ? "[" : "", a,
				      in->host.family == AF_INET6 ? "]" : "", in->host_port,
				      draw_glyph("→", "->"), in->guest_port,
				      in->comment ? " (" : "", in->comment ? in->comment : "",
				      in->comment ? ")" : "");
	}
	draw_text(y, 0, cols, base, buf, true);
}

static enum theme_elem log_style(const struct netlog_entry *e)
{
	if (e->dns)
		return TH_LIST;
	return e->decision == NETLOG_ALLOW ? TH_LOG_ALLOWED :
	       e->decision == NETLOG_DENY ? TH_LOG_DENIED : TH_LOG_ERROR;
}

static void format_entry(const struct netlog_entry *e, char *buf, size_t size)
{
	static const char *verdict[] = { "allow", "DENY", "error" };
	bool dflt = e->port == (strcmp(e->scheme, "https") ? 80 : 443);
	char url[600], port[8], detail[400];

	if (e->dns) {
		snprintf(buf, size, "%-8s %-5s %-7s %s  %s", e->time, "dns", e->method, e->host,
			 e->reason);
		return;
	}
	snprintf(port, sizeof port, ":%u", e->port);
	if (e->tunnel)
		snprintf(url, sizeof url, "%s:%u", e->host, e->port);
	else
		snprintf(url, sizeof url, "%s://%s%s%s", e->scheme, e->host, dflt ? "" : port,
			 e->path ? e->path : "");
	if (e->decision == NETLOG_ALLOW)
		snprintf(detail, sizeof detail, "%s%s  %d", e->rule ? "rule " : "full internet",
			 e->rule ? e->rule : "", e->status);
	else if (e->decision == NETLOG_DENY)
		snprintf(detail, sizeof detail, "%d %s", e->status, e->reason);
	else
		snprintf(detail, sizeof detail, "%s%s  %d %s", e->rule ? "rule " : "",
			 e->rule ? e->rule : "", e->status, e->reason);
	snprintf(buf, size, "%-8s %-5s %-7s %s  %s", e->time, verdict[e->decision],
		 e->method[0] ? e->method : "-", url, detail);
}

static void draw_log(struct netpane *np, int y, int rows, int cols)
{
	struct style head = theme_style(TH_LIST_HEADER), base = theme_style(TH_LIST);
	bool focused = np->focus == NETPANE_LOG;
	bool filter_row = np->state == NETPANE_FILTER || np->filter.len;
	struct view v;
	char buf[1200];
	int list_rows = rows - (filter_row ? 1 : 0);

	view_build(np, &v);
	draw_fill(y, 0, cols, head);
	draw_text(y, 0, 2, head, focused ? draw_glyph("▸", ">") : "", false);
	if (np->filter.len)
		snprintf(buf, sizeof buf, "REQUESTS  %zu of %zu match \"%s\"", v.n, np->log.count,
			 np->filter.value);
	else
		snprintf(buf, sizeof buf, "REQUESTS  %zu, newest at the bottom%s", v.n,
			 np->log_sel ? " (scrolled: End follows)" : "");
	draw_text(y, 2, cols - 2, head, buf, false);
	y++;
	np->log_rows = list_rows;
	if (!v.n) {
		const char *msg = np->log.error[0] ? np->log.error :
				  np->filter.len ? "No request matches the filter (Esc clears it)." :
				  "No requests yet.";

		draw_text(y, 2, cols - 3, np->log.error[0] ? theme_style(TH_STATUS_ERROR) : base, msg,
			  false);
	} else {
		size_t top = np->log_top;

		if (!np->log_sel || v.sel >= top + (size_t)list_rows)
			top = v.sel + 1 > (size_t)list_rows ? v.sel + 1 - (size_t)list_rows : 0;
		if (top + (size_t)list_rows > v.n)
			top = v.n > (size_t)list_rows ? v.n - (size_t)list_rows : 0;
		if (v.sel < top)
			top = v.sel;
		np->log_top = top;
		for (int i = 0; i < list_rows && top + (size_t)i < v.n; i++) {
			const struct netlog_entry *e = v.e[top + (size_t)i];
			bool sel = top + (size_t)i == v.sel;
			struct style st = theme_style(log_style(e));

			/* The selection keeps the verdict's colour, reversed. */
			if (sel && focused)
				st.attr ^= A_REVERSE;

			format_entry(e, buf, sizeof buf);
			draw_fill(y + i, 0, cols, st);
			if (sel)
				draw_text(y + i, 0, 2, st, draw_glyph("▸", ">"), false);
			draw_text(y + i, 2, cols - 2, st, buf, false);
		}
	}
	free(v.e);
	if (filter_row) {
		int fy = y + list_rows;

		np->filter.width = cols - 12 > 8 ? cols - 12 : 8;
		draw_fill(fy, 0, cols, base);
		dialog_field_draw(&np->filter, fy, 2, np->state == NETPANE_FILTER);
		np->filter_y = fy;
		np->filter_x = 2 + 9;
	}
}

void netpane_draw(struct netpane *np, int y0, int h, int cols)
{
	struct style base = theme_style(TH_LIST);
	int avail = h - 4, rule_rows, n;

	for (int y = y0; y < y0 + h; y++)
		draw_fill(y, 0, cols, base);
	draw_title(np, y0, cols);
	/* The rules get what they need up to two fifths; the log the rest. */
	n = !np->p ? 4 : np->p->n_rules ? (int)np->p->n_rules : 1;
	rule_rows = avail * 2 / 5 > 1 ? avail * 2 / 5 : 1;
	if (n < rule_rows)
		rule_rows = n;
	draw_rules(np, y0 + 1, rule_rows, cols);
	draw_ingress(np, y0 + 2 + rule_rows, cols);
	draw_log(np, y0 + 3 + rule_rows, avail - rule_rows, cols);
}

void netpane_draw_dialog(struct netpane *np, int lines, int cols)
{
	if (np->state == NETPANE_FORM)
		ruleform_draw(&np->form, lines, cols);
	else if (np->state == NETPANE_CONFIRM)
		dialog_confirm_draw(&np->conf, lines, cols);
}

bool netpane_cursor(const struct netpane *np, int lines, int cols, int *y, int *x)
{
	if (np->state == NETPANE_FORM)
		return ruleform_cursor(&np->form, lines, cols, y, x);
	if (np->state == NETPANE_FILTER) {
		*y = np->filter_y;
		*x = np->filter_x + dialog_field_cursor(&np->filter);
		return true;
	}
	return false;
}
