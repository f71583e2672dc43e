/* cli_vault: `smolvm vault init|add|ls|rm|rotate`, the API keys that sandboxes use
 * without holding them. Values are read from stdin or the terminal, never from argv. */
#include <cJSON.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/util.h"
#include "backend/vault.h"

static const char usage[] =
	"usage: smolvm vault add NAME --hosts HOST[,HOST...] [--header H [--format F]]\n"
	"                        [--body] [--plain-http]\n"
	"       smolvm vault ls [--json]\n"
	"       smolvm vault rm NAME\n"
	"       smolvm vault rotate NAME\n"
	"       smolvm vault init [--passphrase]\n"
	"\n"
	"API keys that sandboxes use without ever holding them: a sandbox gets a placeholder,\n"
	"and its egress proxy puts the real value into requests to the secret's hosts.\n"
	"\n"
	"  add     store a secret; its value is read from stdin, or asked for on the terminal\n"
	"          (twice, not echoed). NAME is an environment variable name (API_KEY).\n"
	"            --hosts H,...   where it may be sent: names as in a policy rule\n"
	"                            (api.example.com, *.example.com) or addresses\n"
	"            --header H      also set header H outright on requests to those hosts\n"
	"            --format F      the header's value, %s standing for the secret\n"
	"                            (default '%s'; e.g. 'Bearer %s')\n"
	"            --body          replace the placeholder in request bodies too\n"
	"            --plain-http    also on plain HTTP (default: intercepted HTTPS only)\n"
	"  ls      names, hosts, header, use counts and last use; never values\n"
	"  rm      delete a secret\n"
	"  rotate  give a secret a new value (read like add's); running sandboxes use it\n"
	"          from their next request on\n"
	"  init    make an empty vault sealed with a key file (the default, made at first use\n"
	"          otherwise) or, with --passphrase, with a passphrase (Argon2id). On an\n"
	"          existing vault, re-seals it that way (running sandboxes keep the old key:\n"
	"          restart them)\n"
	"\n"
	"The passphrase is asked for on the terminal, or taken from SMOLVM_VAULT_PASSPHRASE.\n";

/* cli_parse() for `smolvm vault CMD`. */
static int parse(const char *cmd, int argc, char **argv, const struct arg_spec *specs,
		 int nspecs, int npos, const char *what, struct args_result *res)
{
	return cli_parse_sub("vault", cmd, argc, argv, specs, nspecs, usage, npos, what, res);
}

static int fail(const char *cmd)
{
	fprintf(stderr, "smolvm vault %s: %s\n", cmd, err_msg());
	return 1;
}

/* The key and the vault it opens; prompts for a passphrase when needed. */
static int unlock(const char *path, unsigned how, struct vault_key **k, struct vault **v)
{
	if (vault_key_get(path, how | VAULT_KEY_PROMPT, k) < 0)
		return -1;
	if (vault_open(path, *k, v) < 0) {
		vault_key_free(*k);
		*k = NULL;
		return -1;
	}
	return 0;
}

/* ---- reading a value ---- */

/* The secret's value into locked memory: stdin when it is not a terminal
 * (one trailing newline dropped), else asked twice on the terminal. */
static int read_value(const char *name, char **out, size_t *len)
{
	size_t cap = VAULT_VALUE_MAX + 3, n = 0;
	char *buf = sodium_malloc(cap), prompt[VAULT_NAME_MAX + 32];

	if (!buf)
		die("out of locked memory");
	if (!isatty(STDIN_FILENO)) {
		for (;;) {
			ssize_t r = read(STDIN_FILENO, buf + n, cap - 1 - n);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				err_set("cannot read the value from stdin: %s", strerror(errno));
				goto fail;
			}
			if (!r || (n += (size_t)r) == cap - 1)
				break;
		}
		if (n && buf[n - 1] == '\n')
			n--;
		if (n && buf[n - 1] == '\r')
			n--;
	} else {
		snprintf(prompt, sizeof prompt, "Value for %s: ", name);
		if (vault_key_ask(prompt, true, buf, cap, &n) < 0)
			goto fail;
	}
	buf[n] = '\0';
	if (vault_check_value(buf, n) < 0)
		goto fail;
	*out = buf;
	*len = n;
	return 0;
fail:
	sodium_free(buf);
	return -1;
}

/* ---- add and rotate ---- */

struct edit {
	const char *name;
	struct vault_entry *entry;	/* add: the new entry */
	const char *value;		/* rotate: the new value */
	size_t value_len;
};

/* May name be added to v? */
static int check_new(const struct vault *v, const char *name)
{
	if (vault_find(v, name)) {
		err_set("%s is in the vault already: `smolvm vault rotate %s` gives it a new "
			"value, `smolvm vault rm %s` deletes it", name, name, name);
		return -1;
	}
	if (v->n_entries >= VAULT_ENTRIES_MAX) {
		err_set("the vault holds %d secrets already", VAULT_ENTRIES_MAX);
		return -1;
	}
	return 0;
}

static int add_edit(struct vault *v, void *arg)
{
	struct edit *ed = arg;

	if (check_new(v, ed->name) < 0)
		return -1;
	vault_put(v, ed->entry);
	return 0;
}

/* The entry called name, or NULL after saying there is none. */
static struct vault_entry *existing(const struct vault *v, const char *name)
{
	struct vault_entry *e = (struct vault_entry *)vault_find(v, name);

	if (!e)
		err_set("there is no secret called %s in the vault (see `smolvm vault ls`)", name);
	return e;
}

static int rotate_edit(struct vault *v, void *arg)
{
	struct edit *ed = arg;
	struct vault_entry *e = existing(v, ed->name);

	if (!e)
		return -1;
	vault_entry_set_value(e, ed->value, ed->value_len);
	e->updated = util_wall_s();
	return 0;
}

static int rm_edit(struct vault *v, void *arg)
{
	return vault_remove(v, ((struct edit *)arg)->name);
}

static int vault_add_cmd(int argc, char **argv)
{
	const char *hosts = NULL, *header = NULL, *format = NULL;
	bool body = false, plain_http = false;
	const struct arg_spec specs[] = {
		{ "--hosts", 0, ARG_STR, &hosts, 0, 0 },
		{ "--header", 0, ARG_STR, &header, 0, 0 },
		{ "--format", 0, ARG_STR, &format, 0, 0 },
		{ "--body", 0, ARG_FLAG, &body, 0, 0 },
		{ "--plain-http", 0, ARG_FLAG, &plain_http, 0, 0 },
	};
	struct vault_entry e = { 0 };
	struct args_result res;
	struct vault_key *k = NULL;
	struct vault *v = NULL;
	struct edit ed = { .entry = &e };
	char *path, *value = NULL;
	size_t len;
	int rc;

	if ((rc = parse("add", argc, argv, specs, ARRAY_LEN(specs), 1,
			"expected one NAME (the value is read from stdin or the terminal)",
			&res)) >= 0)
		return rc;
	ed.name = res.pos[0];
	free(res.pos);
	rc = 1;
	if (vault_check_name(ed.name) < 0)
		return fail("add");
	if (!hosts) {
		fprintf(stderr, "smolvm vault add: --hosts is required: the hosts the secret may "
			"be sent to\n");
		return CLI_EXIT_USAGE;
	}
	if (format && !header) {
		fprintf(stderr, "smolvm vault add: --format is the value of --header: give "
			"--header too\n");
		return CLI_EXIT_USAGE;
	}
	e.name = xstrdup(ed.name);
	if (vault_entry_set_hosts(&e, hosts) < 0 || (header && vault_check_header(header) < 0) ||
	    (format && vault_check_format(format) < 0)) {
		vault_entry_clear(&e);
		return fail("add");
	}
	e.header = header ? xstrdup(header) : NULL;
	e.format = header ? xstrdup(format ? format : "%s") : NULL;
	e.flags = (body ? VAULT_BODY : 0) | (plain_http ? VAULT_PLAIN_HTTP : 0);
	e.created = e.updated = util_wall_s();
	path = vault_path();
	/* Unlock and check the name before asking for the value, so nobody
	 * types a key only to learn that it cannot be stored. */
	if (unlock(path, VAULT_KEY_CREATE, &k, &v) < 0)
		goto out;
	if (check_new(v, ed.name) < 0 || read_value(ed.name, &value, &len) < 0)
		goto out;
	vault_entry_set_value(&e, value, len);
	if (vault_update(path, k, add_edit, &ed) < 0)
		goto out;
	printf("%s added\n", ed.name);
	rc = 0;
out:
	if (rc)
		fail("add");
	if (value)
		sodium_free(value);
	vault_entry_clear(&e);
	vault_unref(v);
	vault_key_free(k);
	free(path);
	return rc;
}

/* rotate and rm: unlock, check that NAME is there, then the locked edit. */
static int vault_rotate_rm_cmd(const char *cmd, int argc, char **argv)
{
	bool rotate = !strcmp(cmd, "rotate");
	struct args_result res;
	struct vault_key *k = NULL;
	struct vault *v = NULL;
	struct edit ed = { 0 };
	char *path = vault_path(), *value = NULL;
	int rc;

	if ((rc = parse(cmd, argc, argv, NULL, 0, 1, "expected one NAME", &res)) >= 0) {
		free(path);
		return rc;
	}
	ed.name = res.pos[0];
	free(res.pos);
	rc = 1;
	if (vault_check_name(ed.name) < 0 || unlock(path, 0, &k, &v) < 0)
		goto out;
	if (!existing(v, ed.name))
		goto out;
	if (rotate) {
		if (read_value(ed.name, &value, &ed.value_len) < 0)
			goto out;
		ed.value = value;
	}
	if (vault_update(path, k, rotate ? rotate_edit : rm_edit, &ed) < 0)
		goto out;
	if (!rotate && vault_uses_forget(path, ed.name) < 0)
		fprintf(stderr, "smolvm vault rm: %s\n", err_msg());
	printf("%s %s\n", ed.name, rotate ? "rotated" : "removed");
	rc = 0;
out:
	if (rc)
		fail(cmd);
	if (value)
		sodium_free(value);
	vault_unref(v);
	vault_key_free(k);
	free(path);
	return rc;
}

/* ---- ls ---- */

static const struct vault_use *use_of(const struct vault_use *u, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(u[i].name, name))
			return &u[i];
	return NULL;
}

static char *join_hosts(const struct vault_entry *e)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < e->n_hosts; i++)
		len += strlen(e->hosts[i]) + 1;
	s = xcalloc(1, len);
	for (size_t i = 0; i < e->n_hosts; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, e->hosts[i]);
	}
	return s;
}

static void print_json(const struct vault *v, const struct vault_use *u, size_t nu)
{
	cJSON *arr = cJSON_CreateArray();
	char *text;

	for (size_t i = 0; i < v->n_entries; i++) {
		const struct vault_entry *e = &v->entries[i];
		const struct vault_use *use = use_of(u, nu, e->name);
		cJSON *o = cJSON_CreateObject(), *hosts;

		cJSON_AddStringToObject(o, "name", e->name);
		hosts = cJSON_AddArrayToObject(o, "hosts");
		for (size_t h = 0; h < e->n_hosts; h++)
			cJSON_AddItemToArray(hosts, cJSON_CreateString(e->hosts[h]));
		if (e->header) {
			cJSON_AddStringToObject(o, "header", e->header);
			cJSON_AddStringToObject(o, "format", e->format);
		} else {
			cJSON_AddNullToObject(o, "header");
			cJSON_AddNullToObject(o, "format");
		}
		cJSON_AddBoolToObject(o, "body", e->flags & VAULT_BODY);
		cJSON_AddBoolToObject(o, "plain_http", e->flags & VAULT_PLAIN_HTTP);
		cJSON_AddNumberToObject(o, "created", (double)e->created);
		cJSON_AddNumberToObject(o, "updated", (double)e->updated);
		cJSON_AddNumberToObject(o, "uses", use ? (double)use->count : 0);
		if (use && use->last)
			cJSON_AddNumberToObject(o, "last_use", (double)use->last);
		else
			cJSON_AddNullToObject(o, "last_use");
		cJSON_AddItemToArray(arr, o);
	}
	text = cJSON_Print(arr);
	puts(text);
	free(text);
	cJSON_Delete(arr);
}

static void print_table(const struct vault *v, const struct vault_use *u, size_t nu)
{
	int64_t now = util_wall_s();

	if (!v->n_entries) {
		printf("the vault is empty; add a secret with `smolvm vault add`\n");
		return;
	}
	printf("%-20s  %-30s  %-28s  %-10s  %6s  %s\n", "NAME", "HOSTS", "HEADER", "WHERE",
	       "USES", "LAST USE");
	for (size_t i = 0; i < v->n_entries; i++) {
		const struct vault_entry *e = &v->entries[i];
		const struct vault_use *use = use_of(u, nu, e->name);
		char *hosts = join_hosts(e), *header, last[24] = "never", ago[16];

		header = e->header ? xasprintf("%s: %s", e->header, e->format) : xstrdup("-");
		if (use && use->last) {
			util_fmt_duration(now > use->last ? now - use->last : 0, ago, sizeof ago);
			snprintf(last, sizeof last, "%s ago", ago);
		}
		printf("%-20s  %-30s  %-28s  %-10s  %6llu  %s\n", e->name, hosts, header,
		       e->flags & VAULT_BODY ? (e->flags & VAULT_PLAIN_HTTP ? "body,http" : "body")
					     : (e->flags & VAULT_PLAIN_HTTP ? "http" : "headers"),
		       use ? (unsigned long long)use->count : 0ull, last);
		free(hosts);
		free(header);
	}
}

static int vault_ls_cmd(int argc, char **argv)
{
	bool json = false;
	const struct arg_spec specs[] = {
		{ "--json", 0, ARG_FLAG, &json, 0, 0 },
	};
	struct args_result res;
	struct vault_key *k = NULL;
	struct vault *v = NULL;
	struct vault_header h;
	struct vault_use *u = NULL;
	size_t nu = 0;
	char *path = vault_path();
	int rc, have;

	if ((rc = parse("ls", argc, argv, specs, ARRAY_LEN(specs), 0, "takes no arguments",
			&res)) >= 0) {
		free(path);
		return rc;
	}
	free(res.pos);
	rc = 1;
	/* No vault yet is an empty one: nothing to unlock, no key to make. */
	if ((have = vault_read_header(path, &h)) < 0)
		goto out;
	if (!have)
		v = vault_new(VAULT_KEYFILE);
	else if (unlock(path, 0, &k, &v) < 0)
		goto out;
	if (vault_uses_load(path, &u, &nu) < 0)
		fprintf(stderr, "smolvm vault ls: %s\n", err_msg());
	if (json)
		print_json(v, u, nu);
	else
		print_table(v, u, nu);
	rc = 0;
out:
	if (rc)
		fail("ls");
	free(u);
	vault_unref(v);
	vault_key_free(k);
	free(path);
	return rc;
}

/* ---- init ---- */

static int init_edit(struct vault *v, void *arg)
{
	(void)arg;
	if (v->stamp.ino) {
		err_set("a vault was made meanwhile by another smolvm");
		return -1;
	}
	return 0;
}

static int vault_init_cmd(int argc, char **argv)
{
	bool pass = false;
	const struct arg_spec specs[] = {
		{ "--passphrase", 0, ARG_FLAG, &pass, 0, 0 },
	};
	struct args_result res;
	struct vault_key *old = NULL, *k = NULL;
	struct vault *v = NULL;
	struct vault_header h;
	char *path = vault_path(), *kpath = vault_key_path();
	int rc, have;

	if ((rc = parse("init", argc, argv, specs, ARRAY_LEN(specs), 0, "takes no arguments",
			&res)) >= 0)
		goto done;
	free(res.pos);
	rc = 1;
	if ((have = vault_read_header(path, &h)) < 0)
		goto out;
	if (have && !pass && h.kdf == VAULT_KEYFILE) {
		printf("the vault is sealed with the key file %s already\n", kpath);
		rc = 0;
		goto out;
	}
	/* Re-sealing: the old key must open the vault before anything changes. */
	if (have && unlock(path, 0, &old, &v) < 0)
		goto out;
	if (pass ? vault_key_new_passphrase(&k) < 0 : vault_key_from_file(true, &k) < 0)
		goto out;
	if (!have ? vault_update(path, k, init_edit, NULL) < 0 : vault_reseal(path, old, k) < 0)
		goto out;
	/* Under a passphrase nothing on disk may open the vault. */
	if (pass && util_exists(kpath) && unlink(kpath) < 0) {
		err_set("the vault is sealed with the passphrase now, but the old key file %s "
			"could not be removed: %s; remove it", kpath, strerror(errno));
		goto out;
	}
	if (!have)
		printf("made an empty vault sealed with %s\n", pass ? "a passphrase" : kpath);
	else
		printf("the vault is sealed with %s now; restart running sandboxes that use it\n",
		       pass ? "the new passphrase" : kpath);
	rc = 0;
out:
	if (rc)
		fail("init");
	vault_unref(v);
	vault_key_free(old);
	vault_key_free(k);
done:
	free(path);
	free(kpath);
	return rc;
}

int cli_vault(int argc, char **argv)
{
	/* No core dump, and no other process of ours reading our memory
	 * (ptrace, /proc/PID/mem) while a value or the key is in it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return argc < 2 ? (fputs(usage, stderr), CLI_EXIT_USAGE) : cli_usage(usage);
	if (!strcmp(argv[1], "add"))
		return vault_add_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ls"))
		return vault_ls_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rm") || !strcmp(argv[1], "rotate"))
		return vault_rotate_rm_cmd(argv[1], argc - 1, argv + 1);
	if (!strcmp(argv[1], "init"))
		return vault_init_cmd(argc - 1, argv + 1);
	fprintf(stderr, "smolvm vault: unknown command '%s' (see smolvm vault --help)\n", argv[1]);
	return CLI_EXIT_USAGE;
}
