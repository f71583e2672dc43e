#include "tui/vaultpane.h"

#include <cJSON.h>
#include <curses.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/paths.h"
#include "backend/sandbox.h"
#include "backend/util.h"
#include "net/policy.h"
#include "tui/app.h"
#include "tui/draw.h"
#include "tui/status.h"
#include "tui/theme.h"

#define FORM_W 66
#define FORM_H 16

/* An attach or detach: sandbox_set_policy() on a thread (it reaches the
 * guest over SSH). Whoever of the pane and the thread is last frees it. */
struct vault_attach {
	pthread_mutex_t lock;
	int refs;
	struct sandbox sb;
	struct policy *p;
	atomic_bool done;
	int rc;
	char error[400];
	char msg[160];
};

static void attach_put(struct vault_attach *j)
{
	int left;

	pthread_mutex_lock(&j->lock);
	left = --j->refs;
	pthread_mutex_unlock(&j->lock);
	if (left)
		return;
	policy_unref(j->p);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static void *attach_main(void *arg)
{
	struct vault_attach *j = arg;

	j->rc = sandbox_set_policy(&j->sb, j->p);
	if (j->rc < 0)
		snprintf(j->error, sizeof j->error, "%s", err_msg());
	atomic_store(&j->done, true);
	attach_put(j);
	return NULL;
}

static void free_attached(struct vaultpane *vp)
{
	for (size_t i = 0; i < vp->nattached; i++)
		free(vp->attached[i]);
	free(vp->attached);
	vp->attached = NULL;
	vp->nattached = 0;
}

/* The sandbox's policy: its file, or the default without one. */
static struct policy *sandbox_policy(const struct sandbox *sb)
{
	char *path = paths_vm_file(sb->id, "policy.json");
	struct policy *p = NULL;

	if (!util_exists(path))
		p = policy_default();
	else if (policy_load_file(path, &p) < 0)
		p = NULL;
	free(path);
	return p;
}

static void load_attached(struct vaultpane *vp)
{
	struct policy *p = sandbox_policy(&vp->sb);

	free_attached(vp);
	if (!p)
		return;
	vp->attached = xcalloc(p->n_secrets ? p->n_secrets : 1, sizeof *vp->attached);
	for (size_t i = 0; i < p->n_secrets; i++)
		vp->attached[vp->nattached++] = xstrdup(p->secrets[i]);
	policy_unref(p);
}

static bool is_attached(const struct vaultpane *vp, const char *name)
{
	for (size_t i = 0; i < vp->nattached; i++)
		if (!strcmp(vp->attached[i], name))
			return true;
	return false;
}

/* Open (or reopen, when the file changed) the vault, and read the counts. */
static void load(struct vaultpane *vp)
{
	char *path = vault_path();
	struct vault_header h;
	struct vault *nv;
	int have;

	free(vp->uses);
	vp->uses = NULL;
	vp->nuses = 0;
	if (vault_uses_load(path, &vp->uses, &vp->nuses) < 0)
		vp->nuses = 0;
	if (!vp->key) {
		have = vault_read_header(path, &h);
		if (have <= 0) {
			if (have < 0)
				snprintf(vp->error, sizeof vp->error, "%s", err_msg());
			free(path);
			return;
		}
		if (vault_key_get(path, 0, &vp->key) < 0) {
			snprintf(vp->error, sizeof vp->error, "%s (a vault sealed with a passphrase "
				 "opens here with SMOLVM_VAULT_PASSPHRASE set)", err_msg());
			vp->key = NULL;
			free(path);
			return;
		}
	}
	if (!vp->v || vault_changed(vp->v, path)) {
		if (vault_open(path, vp->key, &nv) < 0) {
			snprintf(vp->error, sizeof vp->error, "%s", err_msg());
		} else {
			vault_unref(vp->v);
			vp->v = nv;
			vp->error[0] = '\0';
		}
	}
	free(path);
	if (vp->v && vp->sel >= vp->v->n_entries)
		vp->sel = vp->v->n_entries ? vp->v->n_entries - 1 : 0;
}

struct vaultpane *vaultpane_open(const struct sandbox *sb)
{
	struct vaultpane *vp = xcalloc(1, sizeof *vp);

	vp->sb = *sb;
	load(vp);
	load_attached(vp);
	return vp;
}

static void wipe_value(struct vaultpane *vp)
{
	sodium_memzero(vp->f[VF_VALUE].value, sizeof vp->f[VF_VALUE].value);
	vp->f[VF_VALUE].len = vp->f[VF_VALUE].cursor = 0;
}

void vaultpane_free(struct vaultpane *vp)
{
	if (!vp)
		return;
	if (vp->job)
		attach_put(vp->job);
	wipe_value(vp);
	vault_unref(vp->v);
	vault_key_free(vp->key);
	free(vp->uses);
	free_attached(vp);
	free(vp);
}

void vaultpane_refresh(struct vaultpane *vp, const struct sandbox *sb)
{
	vp->sb = *sb;
	if (vp->job && atomic_load(&vp->job->done)) {
		if (vp->job->rc == 0)
			status_set(STATUS_INFO, "%s", vp->job->msg);
		else
			status_set(STATUS_ERROR, "%s", vp->job->error);
		attach_put(vp->job);
		vp->job = NULL;
	}
	load(vp);
	load_attached(vp);
}

static const struct vault_entry *selected(const struct vaultpane *vp)
{
	return vp->v && vp->v->n_entries ? &vp->v->entries[vp->sel] : NULL;
}

/* Attach or detach the selected secret to the pane's sandbox. */
static void toggle_attach(struct vaultpane *vp)
{
	const struct vault_entry *e = selected(vp);
	bool on = e && !is_attached(vp, e->name);
	struct policy *p, *np;
	cJSON *doc, *arr, *list;
	struct vault_attach *j;
	pthread_t t;
	char *text;
	int rc;

	if (!e)
		return;
	if (vp->job) {
		status_set(STATUS_INFO, "an attach or detach is under way; wait for it");
		return;
	}
	if (!(p = sandbox_policy(&vp->sb))) {
		status_set(STATUS_ERROR, "%s", err_msg());
		return;
	}
	doc = policy_to_cjson(p);
	policy_unref(p);
	list = cJSON_CreateArray();
	arr = cJSON_GetObjectItemCaseSensitive(doc, "secrets");
	for (cJSON *it = arr ? arr->child : NULL; it; it = it->next)
		if (cJSON_IsString(it) && strcmp(it->valuestring, e->name))
			cJSON_AddItemToArray(list, cJSON_CreateString(it->valuestring));
	if (on)
		cJSON_AddItemToArray(list, cJSON_CreateString(e->name));
	if (arr)
		cJSON_ReplaceItemInObject(doc, "secrets", list);
	else
		cJSON_AddItemToObject(doc, "secrets", list);
	text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!text)
		die("out of memory");
	rc = policy_load(text, strlen(text), &np);
	cJSON_free(text);
	if (rc < 0) {
		status_set(STATUS_ERROR, "%s", err_msg());
		return;
	}
	j = xcalloc(1, sizeof *j);
	pthread_mutex_init(&j->lock, NULL);
	j->refs = 2;
	j->sb = vp->sb;
	j->p = np;
	snprintf(j->msg, sizeof j->msg, "%s %s %s%s", e->name, on ? "attached to" : "detached from",
		 vp->sb.name, on ? ": its shells get the placeholder in $" : "");
	if (on)
		snprintf(j->msg + strlen(j->msg), sizeof j->msg - strlen(j->msg), "%s", e->name);
	if (pthread_create(&t, NULL, attach_main, j)) {
		status_set(STATUS_ERROR, "cannot start a thread to change the policy");
		j->refs = 1;
		attach_put(j);
		return;
	}
	pthread_detach(t);
	vp->job = j;
	status_set(STATUS_INFO, "%s %s %s...", on ? "attaching" : "detaching", e->name,
		   on ? "to" : "from");
}

static void field(struct dialog_field *f, const char *label, const char *value)
{
	*f = (struct dialog_field){ .label = label, .unit = "", .width = FORM_W - 16 };
	snprintf(f->value, sizeof f->value, "%s", value);
	f->len = f->cursor = strlen(f->value);
}

static void open_form(struct vaultpane *vp)
{
	field(&vp->f[VF_NAME], "Name", "");
	field(&vp->f[VF_HOSTS], "Hosts", "");
	field(&vp->f[VF_HEADER], "Header", "");
	field(&vp->f[VF_FORMAT], "Format", "");
	wipe_value(vp);
	field(&vp->f[VF_VALUE], "Value", "");
	vp->focus = VF_NAME;
	vp->form_error[0] = '\0';
	vp->state = VAULT_FORM;
}

static int add_edit(struct vault *v, void *arg)
{
	struct vault_entry *e = arg;

	if (vault_find(v, e->name)) {
		err_set("there is already a secret called %s (smolvm vault rotate changes its "
			"value)", e->name);
		return -1;
	}
	vault_put(v, e);
	return 0;
}

static int rm_edit(struct vault *v, void *arg)
{
	return vault_remove(v, arg);
}

/* The form's entry into the vault; -1 with form_error set. */
static int submit_form(struct vaultpane *vp)
{
	const char *name = vp->f[VF_NAME].value, *header = vp->f[VF_HEADER].value;
	const char *format = vp->f[VF_FORMAT].value;
	struct dialog_field *val = &vp->f[VF_VALUE];
	struct vault_entry e = { 0 };
	char *path = vault_path();
	int rc = -1, bad = VF_NAME;

	if (vault_check_name(name) < 0)
		goto out;
	e.name = xstrdup(name);
	bad = VF_HOSTS;
	if (vault_entry_set_hosts(&e, vp->f[VF_HOSTS].value) < 0)
		goto out;
	bad = VF_HEADER;
	if (*format && !*header) {
		err_set("a format is the value of a header: give the header too");
		goto out;
	}
	if (*header && vault_check_header(header) < 0)
		goto out;
	bad = VF_FORMAT;
	if (*format && vault_check_format(format) < 0)
		goto out;
	e.header = *header ? xstrdup(header) : NULL;
	e.format = *header ? xstrdup(*format ? format : "%s") : NULL;
	bad = VF_VALUE;
	if (vault_check_value(val->value, val->len) < 0)
		goto out;
	vault_entry_set_value(&e, val->value, val->len);
	e.created = e.updated = util_wall_s();
	bad = VF_NAME;
	if (!vp->key && vault_key_get(path, VAULT_KEY_CREATE, &vp->key) < 0) {
		vp->key = NULL;
		goto out;
	}
	if (vault_update(path, vp->key, add_edit, &e) < 0)
		goto out;
	status_set(STATUS_INFO, "%s added to the vault; a attaches it to %s", name, vp->sb.name);
	rc = 0;
out:
	if (rc < 0) {
		snprintf(vp->form_error, sizeof vp->form_error, "%s", err_msg());
		vp->focus = bad;
	}
	vault_entry_clear(&e);
	free(path);
	return rc;
}

static void form_key(struct vaultpane *vp, bool is_code, wint_t wc)
{
	int n = VF_N + 2;	/* the fields, Add, Cancel */

	if (!is_code && wc == 0x1b) {
		wipe_value(vp);
		vp->state = VAULT_VIEW;
		return;
	}
	if ((!is_code && wc == '\t') || (is_code && (wc == KEY_DOWN || wc == KEY_UP ||
						    wc == KEY_BTAB))) {
		int dir = is_code && (wc == KEY_UP || wc == KEY_BTAB) ? -1 : 1;

		vp->focus = (vp->focus + dir + n) % n;
		return;
	}
	if ((!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER)) {
		if (vp->focus == VF_N + 1 || submit_form(vp) == 0) {
			wipe_value(vp);
			vp->state = VAULT_VIEW;
			load(vp);
		}
		return;
	}
	if (vp->focus < VF_N && dialog_field_key(&vp->f[vp->focus], is_code, wc))
		vp->form_error[0] = '\0';
}

static void ask_delete(struct vaultpane *vp)
{
	const struct vault_entry *e = selected(vp);

	if (!e)
		return;
	memset(&vp->conf, 0, sizeof vp->conf);
	snprintf(vp->target, sizeof vp->target, "%s", e->name);
	snprintf(vp->conf.title, sizeof vp->conf.title, "Delete secret");
	snprintf(vp->conf.yes, sizeof vp->conf.yes, "Delete");
	snprintf(vp->conf.text[0], sizeof vp->conf.text[0], "Delete %s from the vault?", e->name);
	snprintf(vp->conf.text[1], sizeof vp->conf.text[1], "Sandboxes that have it attached "
		 "stop getting it injected.");
	vp->state = VAULT_CONFIRM;
}

static void do_delete(struct vaultpane *vp)
{
	char *path = vault_path();

	if (vault_update(path, vp->key, rm_edit, vp->target) < 0) {
		status_set(STATUS_ERROR, "%s", err_msg());
	} else {
		vault_uses_forget(path, vp->target);
		status_set(STATUS_INFO, "%s deleted from the vault", vp->target);
	}
	free(path);
	load(vp);
}

bool vaultpane_key(struct app *a, bool is_code, wint_t wc)
{
	struct vaultpane *vp = a->vault;
	size_t n = vp->v ? vp->v->n_entries : 0;
	enum dialog_result r;

	switch (vp->state) {
	case VAULT_FORM:
		form_key(vp, is_code, wc);
		return true;
	case VAULT_CONFIRM:
		r = dialog_confirm_key(&vp->conf, is_code, wc);
		if (r != DIALOG_OPEN)
			vp->state = VAULT_VIEW;
		if (r == DIALOG_OK)
			do_delete(vp);
		return true;
	case VAULT_VIEW:
		break;
	}
	if (is_code) {
		if (wc == KEY_UP && vp->sel > 0)
			vp->sel--;
		else if (wc == KEY_DOWN && vp->sel + 1 < n)
			vp->sel++;
		else if (wc == KEY_DC)
			ask_delete(vp);
		return true;
	}
	switch (wc) {
	case 'k': if (vp->sel > 0) vp->sel--; break;
	case 'j': if (vp->sel + 1 < n) vp->sel++; break;
	case 'n': open_form(vp); break;
	case 'd': ask_delete(vp); break;
	case 'a': toggle_attach(vp); break;
	case '?': a->overlay = OV_HELP; break;
	case 'q': case 'v': case 0x1b: return false;
	}
	return true;
}

static const struct vault_use *use_of(const struct vaultpane *vp, const char *name)
{
	for (size_t i = 0; i < vp->nuses; i++)
		if (!strcmp(vp->uses[i].name, name))
			return &vp->uses[i];
	return NULL;
}

void vaultpane_draw(struct vaultpane *vp, int y0, int h, int cols)
{
	struct style base = theme_style(TH_LIST), head = theme_style(TH_LIST_HEADER);
	size_t n = vp->v ? vp->v->n_entries : 0;
	char t[256];
	int y = y0 + 2, rows;

	for (int r = y0; r < y0 + h; r++)
		draw_fill(r, 0, cols, base);
	snprintf(t, sizeof t, "Vault: %zu secret%s%s; for %s (%s): %zu attached", n,
		 n == 1 ? "" : "s", vp->v ? (vp->v->kdf == VAULT_PASSPHRASE ?
		 " (sealed with a passphrase)" : " (sealed with keys/vault.key)") : "",
		 vp->sb.name, vp->sb.id, vp->nattached);
	draw_text(y0, 1, cols - 2, head, t, false);
	if (vp->error[0]) {
		draw_wrap(y0 + 1, 1, cols - 2, 2, theme_style(TH_STATUS_ERROR), vp->error);
		y = y0 + 3;
	}
	if (!n) {
		draw_text(y + 1, 2, cols - 3, base, "No secrets yet. n adds one: its value is typed "
			  "here, never shown, and never enters a sandbox.", false);
		return;
	}
	draw_text(y, 1, cols - 2, head, "  NAME                 HOSTS                     "
		  "HEADER           USES  LAST USE     IN SANDBOX", false);
	rows = y0 + h - y - 1;
	if (vp->sel < vp->top)
		vp->top = vp->sel;
	if (rows > 0 && vp->sel >= vp->top + (size_t)rows)
		vp->top = vp->sel - (size_t)rows + 1;
	for (size_t i = vp->top; i < n && (int)(i - vp->top) < rows; i++) {
		const struct vault_entry *e = &vp->v->entries[i];
		const struct vault_use *u = use_of(vp, e->name);
		struct style st = theme_style(i == vp->sel ? TH_LIST_SELECTED : TH_LIST);
		char hosts[256] = "", count[24], last[32] = "never";
		size_t o = 0;
		int ry = y + 1 + (int)(i - vp->top);

		for (size_t k = 0; k < e->n_hosts && o < sizeof hosts; k++)
			o += (size_t)snprintf(hosts + o, sizeof hosts - o, "%s%s", k ? "," : "",
					      e->hosts[k]);
		snprintf(count, sizeof count, "%llu", u ? (unsigned long long)u->count : 0ULL);
		if (u && u->last) {
			util_fmt_duration(util_wall_s() - u->last, last, sizeof last);
			snprintf(last + strlen(last), sizeof last - strlen(last), " ago");
		}
		draw_fill(ry, 0, cols, st);
		draw_text(ry, 3, 20, st, e->name, true);
		draw_text(ry, 24, 25, st, hosts, true);
		draw_text(ry, 50, 16, st, e->header ? e->header : "-", true);
		draw_text(ry, 67, 5, st, count, true);
		draw_text(ry, 73, 12, st, last, true);
		draw_text(ry, 86, cols - 87, st, is_attached(vp, e->name) ? "attached" : "-",
			  false);
	}
}

static void form_origin(int lines, int cols, int *y, int *x)
{
	*y = (lines - FORM_H) / 2;
	*x = (cols - FORM_W) / 2;
	if (*y < 0)
		*y = 0;
	if (*x < 0)
		*x = 0;
}

void vaultpane_draw_dialog(const struct vaultpane *vp, int lines, int cols)
{
	struct style base = theme_style(TH_DIALOG);
	struct dialog_field masked;
	int y, x;

	if (vp->state == VAULT_CONFIRM) {
		dialog_confirm_draw(&vp->conf, lines, cols);
		return;
	}
	if (vp->state != VAULT_FORM)
		return;
	form_origin(lines, cols, &y, &x);
	draw_box(y, x, FORM_H, FORM_W, theme_style(TH_BORDER), base, "New secret");
	for (int i = 0; i < VF_VALUE; i++)
		dialog_field_draw(&vp->f[i], y + 2 + 2 * i, x + 3, vp->focus == i);
	/* The value is drawn as one mark a character: never the text itself. */
	masked = vp->f[VF_VALUE];
	memset(masked.value, '*', masked.len);
	masked.value[masked.len] = '\0';
	dialog_field_draw(&masked, y + 2 + 2 * VF_VALUE, x + 3, vp->focus == VF_VALUE);
	draw_text(y + 3, x + 12, FORM_W - 15, base, "NAME_LIKE_THIS: the variable the guest gets",
		  false);
	draw_text(y + 5, x + 12, FORM_W - 15, base, "api.example.com,*.example.org", false);
	draw_text(y + 7, x + 12, FORM_W - 15, base, "optional: set outright, e.g. Authorization",
		  false);
	draw_text(y + 9, x + 12, FORM_W - 15, base, "with a header: e.g. Bearer %s", false);
	if (vp->form_error[0])
		draw_wrap(y + 12, x + 3, FORM_W - 6, 2, theme_style(TH_DIALOG_ERROR), vp->form_error);
	else
		draw_text(y + 12, x + 3, FORM_W - 6, base, "Tab: next   Enter: add   Esc: cancel",
			  true);
	draw_text(y + 14, x + FORM_W - 24, 8, theme_style(vp->focus == VF_N ?
		  TH_DIALOG_FIELD_ACTIVE : TH_DIALOG), "[ Add ]", false);
	draw_text(y + 14, x + FORM_W - 14, 10, theme_style(vp->focus == VF_N + 1 ?
		  TH_DIALOG_FIELD_ACTIVE : TH_DIALOG), "[ Cancel ]", false);
}

bool vaultpane_cursor(const struct vaultpane *vp, int lines, int cols, int *cy, int *cx)
{
	int y, x;

	if (vp->state != VAULT_FORM || vp->focus >= VF_N)
		return false;
	form_origin(lines, cols, &y, &x);
	*cy = y + 2 + 2 * vp->focus;
	*cx = x + 3 + 9 + dialog_field_cursor(&vp->f[vp->focus]);
	return true;
}
