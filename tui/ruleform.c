#include "tui/ruleform.h"

#include <cJSON.h>
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"
#include "tui/draw.h"
#include "tui/theme.h"

static const struct {
	const char *label;
	const char *key;	/* in the policy's rule object */
	const char *hint;	/* shown while the field has the focus */
} fields[RF_NFIELDS] = {
	[RF_ID] = { "Id", "id", "a name for the rule: letters, digits, '.', '_', '-'" },
	[RF_SCHEME] = { "Scheme", "scheme", "http or https" },
	[RF_HOST] = { "Host", "host", "an exact name, *.domain, or an IP address" },
	[RF_PORT] = { "Port", "port", "empty: 80 for http, 443 for https" },
	[RF_PATHS] = { "Paths", "paths", "URL path prefixes, comma-separated; empty: every path" },
	[RF_METHODS] = { "Methods", "methods", "GET, POST, ... or *; empty: GET and HEAD" },
	[RF_RESOLVE] = { "Resolve", "resolve", "addresses to dial instead of DNS (optional)" },
	[RF_COMMENT] = { "Comment", "comment", "why the rule exists (optional)" },
};

static void set_field(struct dialog_field *f, int i, const char *value)
{
	f->label = fields[i].label;
	f->unit = "";
	snprintf(f->value, sizeof f->value, "%s", value);
	f->len = f->cursor = strlen(f->value);
	f->digits = i == RF_PORT;
	f->width = 8;
}

static void init_blank(struct ruleform *f, const char *title, const struct policy *p)
{
	memset(f, 0, sizeof *f);
	for (int i = 0; i < RF_NFIELDS; i++)
		set_field(&f->f[i], i, "");
	snprintf(f->title, sizeof f->title, "%s", title);
	if (p->mode == POLICY_NONE)
		snprintf(f->note[1], sizeof f->note[1],
			 "The mode is none: saving turns on the allowlist.");
}

void ruleform_init_new(struct ruleform *f, const struct policy *p)
{
	init_blank(f, "New rule", p);
	set_field(&f->f[RF_SCHEME], RF_SCHEME, "https");
	snprintf(f->note[0], sizeof f->note[0], "A rule allows requests that match all its fields.");
}

/* Join a string array with ", "; -1 if it does not fit. */
static int join(const cJSON *arr, char *out, size_t size)
{
	const cJSON *v;
	size_t o = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(v, arr) {
		int n = snprintf(out + o, size - o, "%s%s", o ? ", " : "", v->valuestring);

		if (n < 0 || (size_t)n >= size - o)
			return -1;
		o += (size_t)n;
	}
	return 0;
}

int ruleform_init_edit(struct ruleform *f, const struct policy *p, size_t i)
{
	cJSON *doc = policy_to_cjson(p);
	const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rules"), (int)i);
	char buf[sizeof f->f[0].value];
	int rc = -1;

	if (!r) {
		err_set("the policy has no rule %zu", i + 1);
		goto out;
	}
	init_blank(f, "Edit rule", p);
	snprintf(f->orig_id, sizeof f->orig_id, "%s", p->rules[i].id);
	snprintf(f->note[0], sizeof f->note[0], "Saving replaces rule %s.", p->rules[i].id);
	f->note[1][0] = '\0';
	for (int k = 0; k < RF_NFIELDS; k++) {
		const cJSON *v = cJSON_GetObjectItem(r, fields[k].key);

		if (!v)
			continue;
		if (cJSON_IsArray(v) && join(v, buf, sizeof buf) < 0) {
			err_set("rule %s has more %s than the form can show: change it with "
				"smolvm policy set", p->rules[i].id, fields[k].key);
			goto out;
		}
		if (cJSON_IsNumber(v))
			snprintf(buf, sizeof buf, "%d", v->valueint);
		else if (cJSON_IsString(v))
			snprintf(buf, sizeof buf, "%s", v->valuestring);
		set_field(&f->f[k], k, buf);
	}
	f->websocket = p->rules[i].websocket;
	rc = 0;
out:
	cJSON_Delete(doc);
	return rc;
}

static bool id_taken(const struct policy *p, const char *id)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (!strcmp(p->rules[i].id, id))
			return true;
	return false;
}

/* An id from the host ("api.example.com", "[::1]" -> "1"), unique in p. */
static void id_from_host(const char *host, const struct policy *p, char out[POLICY_ID_MAX + 1])
{
	char base[POLICY_ID_MAX - 4 + 1];
	size_t n = 0;

	for (const char *s = host; *s && n < sizeof base - 1; s++) {
		char c = *s;
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9');

		if (!n && !word)
			continue;	/* an id starts with a letter or digit */
		base[n++] = word || c == '.' || c == '_' || c == '-' ? c : '-';
	}
	while (n && base[n - 1] == '-')
		n--;
	base[n] = '\0';
	snprintf(out, POLICY_ID_MAX + 1, "%s", n ? base : "rule");
	for (int k = 2; id_taken(p, out); k++)
		snprintf(out, POLICY_ID_MAX + 1, "%.52s-%d", n ? base : "rule", k);
}

int ruleform_init_allow(struct ruleform *f, const struct netlog_entry *e,
			const struct policy *p)
{
	char id[POLICY_ID_MAX + 1], port[8], what[120];

	if (e->dns) {
		err_set("a DNS question: the sandbox's resolver answers every name, and the policy "
			"judges the request that follows");
		return -1;
	}
	if (e->decision != NETLOG_DENY || e->status != 403) {
		err_set("only a request the policy refused (403) can be allowed; this one was %s",
			e->decision == NETLOG_ALLOW ? "allowed" :
			e->decision == NETLOG_DENY ? "malformed" : "allowed but failed");
		return -1;
	}
	if (!e->host[0]) {
		err_set("the refused request named no host, so no rule can allow it");
		return -1;
	}
	if (!e->tunnel && !policy_method_bit(e->method)) {
		err_set("no rule can allow the method %s (see smolvm-policy(5), METHODS)",
			e->method);
		return -1;
	}
	if (strlen(e->host) >= sizeof f->f[0].value ||
	    (e->path && strlen(e->path) >= sizeof f->f[0].value)) {
		err_set("the request's host or path is too long for the form: add the rule with "
			"smolvm policy set");
		return -1;
	}
	init_blank(f, "Allow this request", p);
	id_from_host(e->host, p, id);
	snprintf(port, sizeof port, "%u", e->port);
	set_field(&f->f[RF_ID], RF_ID, id);
	set_field(&f->f[RF_SCHEME], RF_SCHEME, e->scheme);
	set_field(&f->f[RF_HOST], RF_HOST, e->host);
	set_field(&f->f[RF_PORT], RF_PORT, port);
	if (e->tunnel) {
		/* The proxy reads the requests inside TLS it does not pass
		 * through (a CONNECT, or TLS sent straight to a port) and judges
		 * each: the rule opens the host and port for reading only, and a
		 * request inside that it refuses can be allowed in turn. */
		snprintf(f->note[0], sizeof f->note[0],
			 "Only https://%.60s:%u, GET and HEAD: each request inside is judged.",
			 e->host, e->port);
	} else {
		set_field(&f->f[RF_METHODS], RF_METHODS, e->method);
		set_field(&f->f[RF_PATHS], RF_PATHS, e->path && *e->path ? e->path : "/");
		snprintf(what, sizeof what, "%s %s://%s:%u%s", e->method, e->scheme, e->host,
			 e->port, e->path ? e->path : "");
		snprintf(f->note[0], sizeof f->note[0], "Narrowest: only %s and below it.", what);
	}
	f->focus = RF_SAVE;
	return 0;
}

/* Split at commas and white space into a new string array (NULL if empty). */
static cJSON *split_list(const char *s)
{
	cJSON *arr = NULL;

	while (*s) {
		size_t n;

		s += strspn(s, ", \t");
		n = strcspn(s, ", \t");
		if (!n)
			break;
		if (!arr)
			arr = cJSON_CreateArray();
		char *item = xasprintf("%.*s", (int)n, s);
		cJSON_AddItemToArray(arr, cJSON_CreateString(item));
		free(item);
		s += n;
	}
	return arr;
}

/* A field's text without white space around it. */
static char *trimmed(const struct dialog_field *fd)
{
	const char *s = fd->value + strspn(fd->value, " \t");
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return xasprintf("%.*s", (int)n, s);
}

cJSON *ruleform_rule(const struct ruleform *f)
{
	cJSON *r = cJSON_CreateObject();

	for (int k = 0; k < RF_NFIELDS; k++) {
		char *v = trimmed(&f->f[k]);
		cJSON *list;

		switch (k) {
		case RF_ID: case RF_SCHEME: case RF_HOST:
			/* Required: an empty one is the loader's to name. */
			cJSON_AddStringToObject(r, fields[k].key, v);
			break;
		case RF_COMMENT:
			if (*v)
				cJSON_AddStringToObject(r, fields[k].key, v);
			break;
		case RF_PORT:
			/* Digits only (the field takes no others); the loader checks the range. */
			if (*v)
				cJSON_AddNumberToObject(r, fields[k].key, atof(v));
			break;
		default:
			if ((list = split_list(v)))
				cJSON_AddItemToObject(r, fields[k].key, list);
			break;
		}
		free(v);
	}
	cJSON_AddBoolToObject(r, "websocket", f->websocket);
	return r;
}

/* Point the form at what the loader's message names: "rules[3].host: ..." */
static void show_error(struct ruleform *f, int idx, const char *msg)
{
	char prefix[32], dup[64];
	size_t pl = (size_t)snprintf(prefix, sizeof prefix, "rules[%d]", idx);
	const char *rest = msg + pl, *q;

	/* A later rule clashing with this one's new id says so at its own index. */
	snprintf(dup, sizeof dup, " is already the id of %s", prefix);
	if ((q = strstr(msg, dup)) && !q[strlen(dup)] && (rest = strstr(msg, ".id: "))) {
		snprintf(f->error, sizeof f->error, "id: %.*s is already the id of another rule",
			 (int)(q - rest - 5), rest + 5);
		f->focus = RF_ID;
		return;
	}
	rest = msg + pl;
	if (strncmp(msg, prefix, pl) || (*rest != '.' && *rest != ':')) {
		snprintf(f->error, sizeof f->error, "%s", msg);
		return;
	}
	if (*rest == ':') {
		snprintf(f->error, sizeof f->error, "rule%s", rest);
		return;
	}
	rest++;
	snprintf(f->error, sizeof f->error, "%s", rest);
	for (int k = 0; k < RF_NFIELDS; k++) {
		size_t kl = strlen(fields[k].key);

		if (!strncmp(rest, fields[k].key, kl) && strchr(":[.", rest[kl]))
			f->focus = k;
	}
	if (!strncmp(rest, "websocket", 9))
		f->focus = RF_WEBSOCKET;
}

int ruleform_apply(struct ruleform *f, const struct policy *p, struct policy **out)
{
	cJSON *doc = policy_to_cjson(p), *rules = cJSON_GetObjectItem(doc, "rules");
	cJSON *rule = ruleform_rule(f);
	int idx = -1, n = cJSON_GetArraySize(rules), rc;
	char *text;

	if (f->orig_id[0]) {
		for (int i = 0; i < n; i++)
			if (!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(rules, i), "id")->valuestring,
				    f->orig_id))
				idx = i;
		if (idx < 0) {
			snprintf(f->error, sizeof f->error, "rule %s is no longer in the policy "
				 "(it changed meanwhile): Esc, then try again", f->orig_id);
			cJSON_Delete(rule);
			cJSON_Delete(doc);
			return -1;
		}
		cJSON_ReplaceItemInArray(rules, idx, rule);
	} else {
		idx = n;
		cJSON_AddItemToArray(rules, rule);
		if (p->mode == POLICY_NONE)
			cJSON_ReplaceItemInObject(doc, "mode", cJSON_CreateString("allowlist"));
	}
	text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!text)
		die("out of memory");
	rc = policy_load(text, strlen(text), out);
	cJSON_free(text);
	if (rc < 0)
		show_error(f, idx, err_msg());
	else
		f->error[0] = '\0';
	return rc;
}

enum dialog_result ruleform_key(struct ruleform *f, bool is_code, wint_t wc)
{
	if (!is_code && wc == 0x1b)
		return DIALOG_CANCEL;
	if ((!is_code && wc == '\t') || (is_code && wc == KEY_DOWN)) {
		f->focus = (f->focus + 1) % RF_NFOCUS;
		return DIALOG_OPEN;
	}
	if (is_code && (wc == KEY_BTAB || wc == KEY_UP)) {
		f->focus = (f->focus + RF_NFOCUS - 1) % RF_NFOCUS;
		return DIALOG_OPEN;
	}
	if ((!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER))
		return f->focus == RF_CANCEL ? DIALOG_CANCEL : DIALOG_OK;
	if (f->focus == RF_WEBSOCKET) {
		if (!is_code && (wc == ' ' || wc == 'x'))
			f->websocket = !f->websocket;
		return DIALOG_OPEN;
	}
	if (f->focus >= RF_SAVE) {
		if (is_code && (wc == KEY_LEFT || wc == KEY_RIGHT))
			f->focus = f->focus == RF_SAVE ? RF_CANCEL : RF_SAVE;
		return DIALOG_OPEN;
	}
	if (dialog_field_key(&f->f[f->focus], is_code, wc))
		f->error[0] = '\0';
	return DIALOG_OPEN;
}

/* Where everything goes for a screen of lines x cols. */
struct layout {
	int y, x, h, w;
	int notes;		/* note lines shown */
	int fields_y, ws_y, hint_y, hint_rows, buttons_y;
};

static void layout(const struct ruleform *f, int lines, int cols, struct layout *l)
{
	int notes = !!f->note[0][0] + !!f->note[1][0];
	int gap = notes ? 1 : 0, gap2 = 1, hint_rows = 2;

	l->w = cols - 2 < 78 ? cols - 2 : 78;
	/* Borders, fields, WebSocket, a message line and the buttons take 13
	 * rows; spacing, notes and a second message line come when there is room. */
	while (12 + hint_rows + notes + gap + gap2 > lines && (gap || gap2 || notes ||
							       hint_rows > 1)) {
		if (gap2)
			gap2 = 0;
		else if (gap)
			gap = 0;
		else if (notes)
			notes--;
		else
			hint_rows--;
	}
	l->notes = notes;
	l->hint_rows = hint_rows;
	l->h = 12 + hint_rows + notes + gap + gap2;
	l->y = (lines - l->h) / 2 > 0 ? (lines - l->h) / 2 : 0;
	l->x = (cols - l->w) / 2 > 0 ? (cols - l->w) / 2 : 0;
	l->fields_y = l->y + 1 + notes + gap;
	l->ws_y = l->fields_y + RF_NFIELDS;
	l->hint_y = l->ws_y + 1 + gap2;
	l->buttons_y = l->hint_y + hint_rows;
}

static void draw_button(int y, int x, const char *label, bool active)
{
	struct style st = theme_style(active ? TH_DIALOG_FIELD_ACTIVE : TH_DIALOG);
	char b[32];

	snprintf(b, sizeof b, "[ %s ]", label);
	draw_text(y, x, (int)strlen(b), st, b, false);
}

void ruleform_draw(struct ruleform *f, int lines, int cols)
{
	struct style base = theme_style(TH_DIALOG);
	struct layout l;
	int shown = 0;
	const char *hint;

	layout(f, lines, cols, &l);
	draw_box(l.y, l.x, l.h, l.w, theme_style(TH_BORDER), base, f->title);
	for (int i = 0; i < 2 && shown < l.notes; i++)
		if (f->note[i][0])
			draw_text(l.y + 1 + shown++, l.x + 3, l.w - 6, base, f->note[i], true);
	for (int i = 0; i < RF_NFIELDS; i++) {
		f->f[i].width = i == RF_SCHEME ? 8 : i == RF_PORT ? 6 : l.w - 15;
		dialog_field_draw(&f->f[i], l.fields_y + i, l.x + 3, f->focus == i);
	}
	draw_text(l.fields_y + RF_SCHEME, l.x + 3 + 9 + 10, l.w - 25, base, "(http, https)", false);
	draw_text(l.fields_y + RF_PORT, l.x + 3 + 9 + 8, l.w - 23, base, "(empty: 80 / 443)", false);
	draw_text(l.ws_y, l.x + 3 + 9, 3, theme_style(f->focus == RF_WEBSOCKET ?
		  TH_DIALOG_FIELD_ACTIVE : TH_DIALOG_FIELD), f->websocket ? "[x]" : "[ ]", false);
	draw_text(l.ws_y, l.x + 3 + 13, l.w - 19, base, "WebSocket upgrades allowed", false);
	if (f->error[0]) {
		draw_wrap(l.hint_y, l.x + 3, l.w - 6, l.hint_rows, theme_style(TH_DIALOG_ERROR),
			  f->error);
	} else {
		hint = f->focus < RF_NFIELDS ? fields[f->focus].hint :
		       f->focus == RF_WEBSOCKET ? "Space toggles" : "Enter: save   Esc: cancel";
		draw_text(l.hint_y, l.x + 3, l.w - 6, base, hint, true);
	}
	draw_button(l.buttons_y, l.x + l.w - 25, "Save", f->focus == RF_SAVE);
	draw_button(l.buttons_y, l.x + l.w - 14, "Cancel", f->focus == RF_CANCEL);
}

bool ruleform_cursor(const struct ruleform *f, int lines, int cols, int *y, int *x)
{
	struct layout l;

	if (f->focus >= RF_NFIELDS)
		return false;
	layout(f, lines, cols, &l);
	*y = l.fields_y + f->focus;
	*x = l.x + 3 + 9 + dialog_field_cursor(&f->f[f->focus]);
	return true;
}
