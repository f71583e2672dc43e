#include "net/secrets.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"

void secrets_free(struct secrets *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

const struct secrets_entry *secrets_find(const struct secrets *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

static int parse_file(const char *path, const char *text, size_t len, struct secrets *out)
{
	cJSON *root = cJSON_ParseWithLength(text, len), *a, *e;
	struct secrets s = { 0 };

	a = cJSON_GetObjectItemCaseSensitive(root, "secrets");
	if (!cJSON_IsArray(a))
		goto bad;
	s.v = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *s.v);
	cJSON_ArrayForEach(e, a) {
		cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "placeholder");

		if (!cJSON_IsString(name) || !cJSON_IsString(ph) || !*name->valuestring ||
		    strlen(name->valuestring) > POLICY_SECRET_NAME_MAX ||
		    !inject_placeholder_valid(ph->valuestring))
			goto bad;
		snprintf(s.v[s.n].name, sizeof s.v[s.n].name, "%s", name->valuestring);
		snprintf(s.v[s.n].placeholder, sizeof s.v[s.n].placeholder, "%s", ph->valuestring);
		s.n++;
	}
	cJSON_Delete(root);
	*out = s;
	return 0;
bad:
	cJSON_Delete(root);
	free(s.v);
	err_set("%s is not a sandbox's secrets file ({\"secrets\": [{\"name\", \"placeholder\"}]}); "
		"`smolvm policy set` with the sandbox's policy writes it again", path);
	return -1;
}

int secrets_load(const char *id, struct secrets *out)
{
	char *path = paths_vm_file(id, SECRETS_FILE);
	size_t len;
	char *text;
	int rc = 0;

	*out = (struct secrets){ 0 };
	if (!util_exists(path)) {
		free(path);
		return 0;
	}
	text = util_read_file(path, &len);
	rc = text ? parse_file(path, text, len, out) : -1;
	free(text);
	free(path);
	return rc;
}

static int save(const char *id, const struct secrets *s)
{
	char *path = paths_vm_file(id, SECRETS_FILE);
	cJSON *root = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(root, "secrets");
	char *text;
	int rc;

	for (size_t i = 0; i < s->n; i++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddStringToObject(e, "name", s->v[i].name);
		cJSON_AddStringToObject(e, "placeholder", s->v[i].placeholder);
		cJSON_AddItemToArray(a, e);
	}
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		die("out of memory");
	rc = util_write_atomic(path, text, strlen(text), 0600);
	cJSON_free(text);
	free(path);
	return rc;
}

int secrets_attach(const char *id, const struct policy *p, struct secrets *out, bool *changed)
{
	struct secrets old, s = { .v = xcalloc(p->n_secrets + 1, sizeof *s.v) };
	bool differs;

	if (secrets_load(id, &old) < 0) {
		/* A damaged file only loses placeholders: new ones replace them. */
		old = (struct secrets){ 0 };
	}
	for (size_t i = 0; i < p->n_secrets; i++) {
		const struct secrets_entry *had = secrets_find(&old, p->secrets[i]);
		struct secrets_entry *e = &s.v[s.n++];

		snprintf(e->name, sizeof e->name, "%s", p->secrets[i]);
		if (had)
			memcpy(e->placeholder, had->placeholder, sizeof e->placeholder);
		else
			inject_placeholder_new(e->placeholder);
	}
	differs = s.n != old.n || (s.n && memcmp(s.v, old.v, s.n * sizeof *s.v));
	secrets_free(&old);
	if (differs && save(id, &s) < 0) {
		secrets_free(&s);
		return -1;
	}
	if (changed)
		*changed = differs;
	if (out)
		*out = s;
	else
		secrets_free(&s);
	return 0;
}

int secrets_check_vault(const struct policy *p)
{
	char *path;
	struct vault_key *k = NULL;
	struct vault *v = NULL;
	int rc = -1;

	if (!p->n_secrets)
		return 0;
	path = vault_path();
	if (!util_exists(path)) {
		err_set("secret %s is not in the vault: there is no vault yet (add the secret with "
			"`smolvm vault add %s --hosts HOST`)", p->secrets[0], p->secrets[0]);
		goto out;
	}
	if (vault_key_get(path, isatty(STDIN_FILENO) ? VAULT_KEY_PROMPT : 0, &k) < 0 ||
	    vault_open(path, k, &v) < 0) {
		char *msg = xstrdup(err_msg());

		err_set("cannot check the secrets in the vault: %s", msg);
		free(msg);
		goto out;
	}
	for (size_t i = 0; i < p->n_secrets; i++) {
		if (!vault_find(v, p->secrets[i])) {
			err_set("secret %s is not in the vault (`smolvm vault ls` lists what is; add "
				"it with `smolvm vault add %s --hosts HOST`)", p->secrets[i],
				p->secrets[i]);
			goto out;
		}
	}
	rc = 0;
out:
	vault_unref(v);
	vault_key_free(k);
	free(path);
	return rc;
}

int secrets_policy_with(const struct policy *p, char *const *names, size_t n,
			struct policy **out)
{
	struct policy *base = p ? policy_ref((struct policy *)p) : policy_default();
	cJSON *j = policy_to_cjson(base), *a = cJSON_GetObjectItemCaseSensitive(j, "secrets");
	char *text;
	int rc;

	if (!a)
		a = cJSON_AddArrayToObject(j, "secrets");
	for (size_t i = 0; i < n; i++) {
		bool have = false;
		cJSON *e;

		cJSON_ArrayForEach(e, a)
			have |= cJSON_IsString(e) && !strcmp(e->valuestring, names[i]);
		if (!have)
			cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
	}
	/* Through the loader, so that the names are checked like any policy's. */
	text = cJSON_PrintUnformatted(j);
	if (!text)
		die("out of memory");
	rc = policy_load(text, strlen(text), out);
	cJSON_free(text);
	cJSON_Delete(j);
	policy_unref(base);
	return rc;
}

char *secrets_guest_cmd(const struct secrets *s)
{
	char *vars = xstrdup(""), *cmd;

	for (size_t i = 0; i < s->n; i++) {
		char *next = xasprintf("%s %s=%s", vars, s->v[i].name, s->v[i].placeholder);

		free(vars);
		vars = next;
	}
	/* Names are [A-Z_][A-Z0-9_]* and placeholders hex: nothing to quote. The
	 * new server binds the port as soon as the old one has let it go. */
	cmd = xasprintf("pid=$(cat /var/run/dropbear.pid) && "
			"args=$(tr '\\0' ' ' </proc/$pid/cmdline) && set -- && "
			"for a in $args; do [ \"$a\" = -e ] || set -- \"$@\" \"$a\"; done && "
			"kill $pid && "
			"env -i PATH=\"$PATH\"%s \"$@\" -e </dev/null >/dev/console 2>&1",
			vars);
	free(vars);
	return cmd;
}

/* What a built set owns. */
struct owned {
	struct inject_set set;
	struct vault *v;
	struct secrets s;
};

static void owned_release(void *arg)
{
	struct owned *o = arg;

	free(o->set.s);
	secrets_free(&o->s);
	vault_unref(o->v);
	free(o);
}

struct inject_set *secrets_inject_set(const struct policy *p, const struct secrets *s,
				      struct vault *v, char **missing)
{
	struct owned *o = xcalloc(1, sizeof *o);
	char *miss = NULL;

	o->v = v ? vault_ref(v) : NULL;
	o->s.v = xcalloc(s->n + 1, sizeof *o->s.v);
	if (s->n)
		memcpy(o->s.v, s->v, s->n * sizeof *s->v);
	o->s.n = s->n;
	o->set.s = xcalloc(p->n_secrets + 1, sizeof *o->set.s);
	for (size_t i = 0; i < p->n_secrets && o->set.n < INJECT_MAX; i++) {
		const struct secrets_entry *ph = secrets_find(&o->s, p->secrets[i]);
		const struct vault_entry *e = v ? vault_find(v, p->secrets[i]) : NULL;

		if (!ph || !e) {
			char *m = xasprintf("%s%s%s", miss ? miss : "", miss ? ", " : "",
					    p->secrets[i]);
			free(miss);
			miss = m;
			continue;
		}
		o->set.s[o->set.n++] = (struct inject_secret){
			.name = ph->name, .placeholder = ph->placeholder,
			.value = e->value, .value_len = e->value_len,
			.hosts = e->hosts, .n_hosts = e->n_hosts,
			.header = e->header, .format = e->format,
			.body = e->flags & VAULT_BODY, .plain_http = e->flags & VAULT_PLAIN_HTTP,
		};
	}
	o->set.release = owned_release;
	o->set.owner = o;
	atomic_init(&o->set.refs, 1);
	*missing = miss;
	return &o->set;
}
