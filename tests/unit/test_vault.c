/* Unit tests for backend/vault*.c: sealing, tampering, keys, atomic writes, reloads, use counts. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "backend/vault.h"
#include "tests/unit/unit.h"

static char *home, *vpath;

static void fresh_home(void)
{
	char tmpl[] = "/tmp/smolvm-test-vault-XXXXXX";

	if (home) {
		util_rm_rf(home);
		free(home);
		free(vpath);
	}
	home = xstrdup(mkdtemp(tmpl));
	setenv("SMOLVM_HOME", home, 1);
	paths_reset();
	vpath = vault_path();
}

static void add(struct vault *v, const char *name, const char *hosts, const char *value)
{
	struct vault_entry e = { 0 };

	e.name = xstrdup(name);
	EXPECT_INT(vault_entry_set_hosts(&e, hosts), 0);
	vault_entry_set_value(&e, value, strlen(value));
	e.created = 100;
	e.updated = 200;
	vault_put(v, &e);
}

static int add_one(struct vault *v, void *arg)
{
	add(v, arg, "x.example.com", "v");
	return 0;
}

/* A vault with two entries sealed under the key file; returns its key. */
static struct vault_key *sealed_two(void)
{
	struct vault_key *k = NULL;
	struct vault *v = vault_new(VAULT_KEYFILE);
	struct vault_entry e = { 0 };

	EXPECT_INT(vault_key_get(vpath, VAULT_KEY_CREATE, &k), 0);
	add(v, "OPENAI_KEY", "api.openai.com", "sk-one-1234567890");
	e.name = xstrdup("GH_TOKEN");
	EXPECT_INT(vault_entry_set_hosts(&e, "API.GitHub.com.,*.githubusercontent.com, api.github.com"),
		   0);
	vault_entry_set_value(&e, "ghp_two", 7);
	e.header = xstrdup("Authorization");
	e.format = xstrdup("token %s");
	e.flags = VAULT_BODY | VAULT_PLAIN_HTTP;
	vault_put(v, &e);
	EXPECT_INT(vault_save(vpath, v, k), 0);
	vault_unref(v);
	return k;
}

static char *file_bytes(const char *path, size_t *len)
{
	char *s = util_read_file(path, len);

	EXPECT(s != NULL);
	return s;
}

static void write_bytes(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	EXPECT(fd >= 0);
	EXPECT_INT(write(fd, p, len), (long long)len);
	close(fd);
}

static bool err_has(const char *what)
{
	if (strstr(err_msg(), what))
		return true;
	printf("#   error was: %s\n", err_msg());
	return false;
}

static void test_round_trip(void)
{
	struct vault_key *k;
	struct vault *v = NULL;
	const struct vault_entry *e;
	struct stat st;

	fresh_home();
	k = sealed_two();
	EXPECT_INT(vault_open(vpath, k, &v), 0);
	EXPECT_INT(v->n_entries, 2);
	/* Sorted by name. */
	EXPECT_STR(v->entries[0].name, "GH_TOKEN");
	e = vault_find(v, "GH_TOKEN");
	EXPECT(e != NULL);
	EXPECT_INT(e->n_hosts, 2);
	EXPECT_STR(e->hosts[0], "api.github.com");
	EXPECT_STR(e->hosts[1], "*.githubusercontent.com");
	EXPECT_STR(e->header, "Authorization");
	EXPECT_STR(e->format, "token %s");
	EXPECT_INT(e->flags, VAULT_BODY | VAULT_PLAIN_HTTP);
	EXPECT_STR(e->value, "ghp_two");
	EXPECT_INT(e->value_len, 7);
	e = vault_find(v, "OPENAI_KEY");
	EXPECT(e && !e->header && !e->format && e->flags == 0);
	EXPECT(e && e->created == 100 && e->updated == 200);
	EXPECT_STR(e ? e->value : NULL, "sk-one-1234567890");
	EXPECT(vault_find(v, "NOPE") == NULL);
	EXPECT(!vault_changed(v, vpath));
	EXPECT_INT(stat(vpath, &st), 0);
	EXPECT_INT(st.st_mode & 0777, 0600);
	/* The value is nowhere in the file in the clear. */
	{
		size_t len;
		char *f = file_bytes(vpath, &len);

		EXPECT(!memmem(f, len, "sk-one", 6) && !memmem(f, len, "ghp_two", 7));
		EXPECT(!memmem(f, len, "OPENAI_KEY", 10));
		free(f);
	}
	vault_unref(v);
	vault_key_free(k);
}

static void test_missing_is_empty(void)
{
	struct vault_key *k = NULL;
	struct vault *v = NULL;
	struct vault_header h;

	fresh_home();
	EXPECT_INT(vault_read_header(vpath, &h), 0);
	EXPECT_INT(vault_key_get(vpath, 0, &k), -1);
	EXPECT(err_has("no vault yet"));
	EXPECT_INT(vault_key_get(vpath, VAULT_KEY_CREATE, &k), 0);
	EXPECT_INT(vault_open(vpath, k, &v), 0);
	EXPECT_INT(v->n_entries, 0);
	EXPECT(!vault_changed(v, vpath));
	vault_unref(v);
	vault_key_free(k);
}

/* Every single flipped byte is caught, and the file is not touched. */
static void test_tamper_any_byte(void)
{
	struct vault_key *k;
	struct vault *v = NULL;
	size_t len, bad = 0;
	char *orig, *now;

	fresh_home();
	k = sealed_two();
	orig = file_bytes(vpath, &len);
	for (size_t i = 0; i < len; i++) {
		char *f = xmalloc(len);

		memcpy(f, orig, len);
		f[i] ^= 0x20;
		write_bytes(vpath, f, len);
		if (vault_open(vpath, k, &v) == 0) {
			vault_unref(v);
			printf("#   flipping byte %zu went unnoticed\n", i);
			bad++;
		} else if (!strstr(err_msg(), "corrupt")) {
			printf("#   byte %zu: %s\n", i, err_msg());
			bad++;
		}
		free(f);
	}
	EXPECT_INT(bad, 0);
	/* Truncated to every length. */
	for (size_t n = 0; n < len; n += 7) {
		write_bytes(vpath, orig, n);
		EXPECT_INT(vault_open(vpath, k, &v), -1);
		EXPECT(strstr(err_msg(), "corrupt") != NULL);
	}
	/* A failed open changes nothing on disk. */
	write_bytes(vpath, orig, len - 1);
	EXPECT_INT(vault_open(vpath, k, &v), -1);
	{
		size_t now_len;

		now = file_bytes(vpath, &now_len);
		EXPECT(now_len == len - 1 && !memcmp(now, orig, now_len));
		free(now);
	}
	free(orig);
	vault_key_free(k);
}

/* Someone who rewrites the box and fixes the checksum still fails the MAC. */
static void test_tamper_with_checksum(void)
{
	struct vault_key *k;
	struct vault *v = NULL;
	size_t len;
	char *f;

	fresh_home();
	k = sealed_two();
	f = file_bytes(vpath, &len);
	f[100] ^= 1;
	crypto_generichash((unsigned char *)f + len - 16, 16, (unsigned char *)f, len - 16, NULL, 0);
	write_bytes(vpath, f, len);
	EXPECT_INT(vault_open(vpath, k, &v), -1);
	EXPECT(err_has("does not authenticate"));
	free(f);
	vault_key_free(k);
}

/* A box that authenticates but holds what no vault writes is still refused. */
static void test_bad_entry_inside(void)
{
	struct vault_key *k = NULL;
	struct vault *v = vault_new(VAULT_KEYFILE);

	fresh_home();
	EXPECT_INT(vault_key_get(vpath, VAULT_KEY_CREATE, &k), 0);
	add(v, "not-a-name", "a.example.com", "v");
	EXPECT_INT(vault_save(vpath, v, k), 0);
	vault_unref(v);
	v = NULL;
	EXPECT_INT(vault_open(vpath, k, &v), -1);
	EXPECT(err_has("corrupt") && err_has("an entry does not read back"));
	vault_key_free(k);
}

static void test_wrong_key(void)
{
	struct vault_key *k, *other = sodium_malloc(sizeof *other);
	struct vault *v = NULL;
	size_t len, len2;
	char *before, *after, *kpath;

	fresh_home();
	k = sealed_two();
	memcpy(other, k, sizeof *other);
	other->key[0] ^= 1;
	before = file_bytes(vpath, &len);
	EXPECT_INT(vault_open(vpath, other, &v), -1);
	EXPECT(err_has("wrong passphrase or key file"));
	/* vault_update() with the wrong key does not write. */
	EXPECT_INT(vault_update(vpath, other, add_one, "NEW"), -1);
	after = file_bytes(vpath, &len2);
	EXPECT(len == len2 && !memcmp(before, after, len));
	/* The key file gone: said so, and not made again. */
	kpath = vault_key_path();
	EXPECT_INT(unlink(kpath), 0);
	vault_key_free(other);
	EXPECT_INT(vault_key_get(vpath, VAULT_KEY_CREATE, &other), -1);
	EXPECT(err_has("missing"));
	EXPECT(!util_exists(kpath));
	free(kpath);
	free(before);
	free(after);
	vault_key_free(k);
}

static void test_keyfile_mode(void)
{
	struct vault_key *k;
	char *kpath;

	fresh_home();
	k = sealed_two();
	vault_key_free(k);
	kpath = vault_key_path();
	EXPECT_INT(chmod(kpath, 0644), 0);
	EXPECT_INT(vault_key_get(vpath, 0, &k), -1);
	EXPECT(err_has("chmod 600"));
	EXPECT_INT(chmod(kpath, 0600), 0);
	EXPECT_INT(vault_key_get(vpath, 0, &k), 0);
	vault_key_free(k);
	free(kpath);
}

static void test_passphrase(void)
{
	struct vault_key *k = NULL, *k2 = NULL;
	struct vault *v = vault_new(VAULT_PASSPHRASE);
	struct vault_header h;

	fresh_home();
	setenv("SMOLVM_VAULT_PASSPHRASE", "correct horse", 1);
	EXPECT_INT(vault_key_new_passphrase(&k), 0);
	add(v, "KEY", "a.example.com", "value-1");
	EXPECT_INT(vault_save(vpath, v, k), 0);
	vault_unref(v);
	v = NULL;
	EXPECT_INT(vault_read_header(vpath, &h), 1);
	EXPECT_INT(h.kdf, VAULT_PASSPHRASE);
	EXPECT(!memcmp(h.salt, k->salt, sizeof h.salt));
	EXPECT_INT(vault_key_get(vpath, 0, &k2), 0);
	EXPECT_INT(vault_open(vpath, k2, &v), 0);
	EXPECT_STR(v && v->n_entries ? v->entries[0].value : NULL, "value-1");
	vault_unref(v);
	vault_key_free(k2);
	setenv("SMOLVM_VAULT_PASSPHRASE", "correct horsf", 1);
	EXPECT_INT(vault_key_get(vpath, 0, &k2), 0);
	EXPECT_INT(vault_open(vpath, k2, &v), -1);
	EXPECT(err_has("wrong passphrase or key file"));
	vault_key_free(k2);
	/* No passphrase and no terminal to ask on: says how to give one. */
	unsetenv("SMOLVM_VAULT_PASSPHRASE");
	EXPECT_INT(vault_key_get(vpath, 0, &k2), -1);
	EXPECT(err_has("SMOLVM_VAULT_PASSPHRASE"));
	/* A key file key does not open a passphrase vault. */
	EXPECT_INT(vault_key_from_file(true, &k2), 0);
	EXPECT_INT(vault_open(vpath, k2, &v), -1);
	EXPECT(err_has("is sealed with a passphrase, not a key file"));
	/* The handover: checked against the vault, then through the fd. */
	setenv("SMOLVM_VAULT_PASSPHRASE", "correct horse", 1);
	{
		int fd = -1;
		char num[16];

		EXPECT_INT(vault_key_handover(vpath, &fd), 0);
		EXPECT(fd >= 3);
		snprintf(num, sizeof num, "%d", fd);
		setenv("SMOLVM_VAULT_KEY_FD", num, 1);
		unsetenv("SMOLVM_VAULT_PASSPHRASE");
		vault_key_free(k2);
		k2 = NULL;
		EXPECT_INT(vault_key_for_proxy(vpath, &k2), 0);
		EXPECT(k2 && !memcmp(k2->key, k->key, sizeof k->key));
		EXPECT(fcntl(fd, F_GETFD) < 0);	/* closed after */
		unsetenv("SMOLVM_VAULT_KEY_FD");
		setenv("SMOLVM_VAULT_PASSPHRASE", "wrong", 1);
		EXPECT_INT(vault_key_handover(vpath, &fd), -1);
		EXPECT(err_has("wrong passphrase or key file"));
		EXPECT_INT(fd, -1);
		unsetenv("SMOLVM_VAULT_PASSPHRASE");
		vault_key_free(k2);
		EXPECT_INT(vault_key_from_file(false, &k2), 0);
	}
	/* Re-sealed with it, it does, and the passphrase no longer does. */
	EXPECT_INT(vault_reseal(vpath, k2, k), -1);
	EXPECT_INT(vault_reseal(vpath, k, k2), 0);
	EXPECT_INT(vault_open(vpath, k2, &v), 0);
	EXPECT_STR(v && v->n_entries ? v->entries[0].value : NULL, "value-1");
	vault_unref(v);
	EXPECT_INT(vault_open(vpath, k, &v), -1);
	vault_key_free(k2);
	vault_key_free(k);
}

/* A write that fails (file size limit: what a full disk does halfway)
 * leaves the old vault byte for byte and no temporary file. */
static void test_failed_write_keeps_old(void)
{
	struct vault_key *k;
	struct vault *v = NULL;
	struct rlimit old, small;
	size_t len, len2;
	char *before, *after, *tmp;
	char big[VAULT_VALUE_MAX];

	fresh_home();
	k = sealed_two();
	before = file_bytes(vpath, &len);
	EXPECT_INT(vault_open(vpath, k, &v), 0);
	memset(big, 'x', sizeof big);
	add(v, "BIG", "big.example.com", "");
	vault_entry_set_value((struct vault_entry *)vault_find(v, "BIG"), big, sizeof big);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	small = old;
	small.rlim_cur = 128;
	EXPECT_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	EXPECT_INT(vault_save(vpath, v, k), -1);
	setrlimit(RLIMIT_FSIZE, &old);
	EXPECT(err_has("unchanged"));
	after = file_bytes(vpath, &len2);
	EXPECT(len == len2 && !memcmp(before, after, len));
	tmp = xasprintf("%s.tmp.%d", vpath, (int)getpid());
	EXPECT(!util_exists(tmp));
	/* A temporary file that cannot be made at all: the same. */
	EXPECT_INT(mkdir(tmp, 0700), 0);
	EXPECT_INT(vault_save(vpath, v, k), -1);
	rmdir(tmp);
	free(after);
	after = file_bytes(vpath, &len2);
	EXPECT(len == len2 && !memcmp(before, after, len));
	free(tmp);
	free(before);
	free(after);
	vault_unref(v);
	vault_key_free(k);
}

static void test_key_handover(void)
{
	struct vault_key *k, *got = NULL;
	struct vault *v = NULL;
	int p[2];

	fresh_home();
	k = sealed_two();
	EXPECT_INT(pipe(p), 0);
	EXPECT_INT(vault_key_send(k, p[1]), 0);
	close(p[1]);
	EXPECT_INT(vault_key_recv(p[0], &got), 0);
	close(p[0]);
	EXPECT(got && !memcmp(got, k, sizeof *k));
	EXPECT_INT(vault_open(vpath, got, &v), 0);
	vault_unref(v);
	vault_key_free(got);
	got = NULL;
	/* The ready-made pipe: the key is in it, nothing else. */
	p[0] = vault_key_pipe(k);
	EXPECT(p[0] >= 0);
	EXPECT_INT(vault_key_recv(p[0], &got), 0);
	EXPECT(got && !memcmp(got->key, k->key, sizeof k->key));
	vault_key_free(got);
	got = NULL;
	EXPECT_INT(vault_key_recv(p[0], &got), -1);
	close(p[0]);
	/* A key file vault needs no handover; the proxy reads the file. */
	EXPECT_INT(vault_key_handover(vpath, &p[0]), 0);
	EXPECT_INT(p[0], -1);
	unsetenv("SMOLVM_VAULT_KEY_FD");
	EXPECT_INT(vault_key_for_proxy(vpath, &got), 0);
	EXPECT(got && !memcmp(got->key, k->key, sizeof k->key));
	vault_key_free(got);
	got = NULL;
	setenv("SMOLVM_VAULT_KEY_FD", "1x", 1);
	EXPECT_INT(vault_key_for_proxy(vpath, &got), -1);
	unsetenv("SMOLVM_VAULT_KEY_FD");
	/* A writer that goes away early hands over nothing. */
	EXPECT_INT(pipe(p), 0);
	EXPECT_INT(write(p[1], "\0abc", 4), 4);
	close(p[1]);
	EXPECT_INT(vault_key_recv(p[0], &got), -1);
	EXPECT(err_has("closed early"));
	close(p[0]);
	vault_key_free(k);
}

static void test_slot_reload(void)
{
	struct vault_key *k, *k2 = NULL;
	struct vault_slot s;
	struct vault *v = NULL, *held;
	size_t len;
	char *good;

	fresh_home();
	k = sealed_two();
	EXPECT_INT(vault_key_get(vpath, 0, &k2), 0);
	EXPECT_INT(vault_slot_init(&s, vpath, k2), 0);
	EXPECT_INT(vault_slot_refresh(&s), 0);
	held = vault_slot_get(&s);
	/* Rotate: a new value under the lock; the slot picks it up. */
	EXPECT_INT(vault_open(vpath, k, &v), 0);
	vault_entry_set_value((struct vault_entry *)vault_find(v, "OPENAI_KEY"), "sk-new", 6);
	EXPECT_INT(vault_save(vpath, v, k), 0);
	vault_unref(v);
	EXPECT(vault_changed(held, vpath));
	EXPECT_INT(vault_slot_refresh(&s), 1);
	v = vault_slot_get(&s);
	EXPECT_STR(vault_find(v, "OPENAI_KEY")->value, "sk-new");
	vault_unref(v);
	/* The old one is still whole for whoever holds it. */
	EXPECT_STR(vault_find(held, "OPENAI_KEY")->value, "sk-one-1234567890");
	vault_unref(held);
	/* A damaged version: reported once, the last good vault stays. */
	good = file_bytes(vpath, &len);
	good[len / 2] ^= 1;
	EXPECT_INT(util_write_atomic(vpath, good, len, 0600), 0);
	EXPECT_INT(vault_slot_refresh(&s), -1);
	EXPECT(err_has("corrupt"));
	EXPECT_INT(vault_slot_refresh(&s), 0);
	v = vault_slot_get(&s);
	EXPECT_STR(vault_find(v, "OPENAI_KEY")->value, "sk-new");
	vault_unref(v);
	/* Removed: no secrets. */
	EXPECT_INT(unlink(vpath), 0);
	EXPECT_INT(vault_slot_refresh(&s), 1);
	v = vault_slot_get(&s);
	EXPECT_INT(v->n_entries, 0);
	vault_unref(v);
	vault_slot_destroy(&s);
	free(good);
	vault_key_free(k);
}

static void test_lock(void)
{
	int a, b;
	int64_t t0;

	fresh_home();
	a = vault_lock(vpath, 1000);
	EXPECT(a >= 0);
	t0 = util_now_ms();
	b = vault_lock(vpath, 200);
	EXPECT_INT(b, -1);
	EXPECT(util_now_ms() - t0 >= 200);
	EXPECT(err_has("another smolvm is writing the vault"));
	vault_unlock(a);
	b = vault_lock(vpath, 200);
	EXPECT(b >= 0);
	vault_unlock(b);
}

/* Writers in several processes at once: every entry lands. */
static void test_concurrent_updates(void)
{
	struct vault_key *k;
	struct vault *v = NULL;
	enum { PROCS = 4, EACH = 5 };
	pid_t pids[PROCS];

	fresh_home();
	k = sealed_two();
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			int bad = 0;

			for (int i = 0; i < EACH; i++) {
				char name[16];

				snprintf(name, sizeof name, "K_%d_%d", p, i);
				bad |= vault_update(vpath, k, add_one, name) < 0;
			}
			_exit(bad);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;

		EXPECT_INT(waitpid(pids[p], &st, 0), pids[p]);
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	EXPECT_INT(vault_open(vpath, k, &v), 0);
	EXPECT_INT(v ? v->n_entries : 0, 2 + PROCS * EACH);
	vault_unref(v);
	vault_key_free(k);
}

static void test_uses(void)
{
	enum { PROCS = 4, EACH = 50 };
	struct vault_use *u;
	size_t n;
	pid_t pids[PROCS];
	char *upath;

	fresh_home();
	EXPECT_INT(vault_uses_load(vpath, &u, &n), 0);
	EXPECT_INT(n, 0);
	free(u);
	EXPECT_INT(vault_uses_record(vpath, "B_KEY"), 0);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		if (pids[p] == 0) {
			int bad = 0;

			for (int i = 0; i < EACH; i++)
				bad |= vault_uses_record(vpath, "A_KEY") < 0;
			_exit(bad);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;

		waitpid(pids[p], &st, 0);
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	EXPECT_INT(vault_uses_load(vpath, &u, &n), 0);
	EXPECT_INT(n, 2);
	for (size_t i = 0; i < n; i++) {
		EXPECT_INT(u[i].count, !strcmp(u[i].name, "A_KEY") ? PROCS * EACH : 1);
		EXPECT(u[i].last > 0);
	}
	free(u);
	EXPECT_INT(vault_uses_record(vpath, "not a name"), -1);
	EXPECT_INT(vault_uses_forget(vpath, "A_KEY"), 0);
	EXPECT_INT(vault_uses_load(vpath, &u, &n), 0);
	EXPECT_INT(n, 1);
	EXPECT_STR(n ? u[0].name : NULL, "B_KEY");
	free(u);
	/* A torn line costs only itself. */
	upath = xasprintf("%s.uses", vpath);
	{
		int fd = open(upath, O_WRONLY | O_APPEND);

		EXPECT_INT(write(fd, "C_KEY 12", 8), 8);
		close(fd);
	}
	EXPECT_INT(vault_uses_load(vpath, &u, &n), 0);
	EXPECT_INT(n, 1);
	free(u);
	free(upath);
}

static void test_validation(void)
{
	struct vault_entry e = { 0 };
	char longname[VAULT_NAME_MAX + 2];

	EXPECT_INT(vault_check_name("OPENAI_API_KEY"), 0);
	EXPECT_INT(vault_check_name("_X9"), 0);
	EXPECT_INT(vault_check_name(""), -1);
	EXPECT_INT(vault_check_name("9LIVES"), -1);
	EXPECT_INT(vault_check_name("lower"), -1);
	EXPECT_INT(vault_check_name("A-B"), -1);
	EXPECT_INT(vault_check_name("A B"), -1);
	memset(longname, 'A', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	EXPECT_INT(vault_check_name(longname), -1);
	EXPECT_INT(vault_check_value("sk-abc def", 10), 0);
	EXPECT_INT(vault_check_value("", 0), -1);
	EXPECT_INT(vault_check_value("a\r\nX-Evil: 1", 12), -1);
	EXPECT(err_has("offset 1"));
	EXPECT_INT(vault_check_value("caf\xc3\xa9", 5), -1);
	EXPECT_INT(vault_check_header("Authorization"), 0);
	EXPECT_INT(vault_check_header("X-Api-Key"), 0);
	EXPECT_INT(vault_check_header("Bad Header"), -1);
	EXPECT_INT(vault_check_header("X:"), -1);
	EXPECT_INT(vault_check_header("host"), -1);
	EXPECT_INT(vault_check_header("Transfer-Encoding"), -1);
	EXPECT_INT(vault_check_format("Bearer %s"), 0);
	EXPECT_INT(vault_check_format("%s"), 0);
	EXPECT_INT(vault_check_format("100%% %s"), 0);
	EXPECT_INT(vault_check_format("Bearer"), -1);
	EXPECT_INT(vault_check_format("%s%s"), -1);
	EXPECT_INT(vault_check_format("%d %s"), -1);
	EXPECT_INT(vault_check_format("%s\n"), -1);
	EXPECT_INT(vault_entry_set_hosts(&e, "api.example.com,*.example.org,127.0.0.1"), 0);
	EXPECT_INT(e.n_hosts, 3);
	EXPECT_INT(vault_entry_set_hosts(&e, "*.com"), -1);
	EXPECT(err_has("--hosts"));
	EXPECT_INT(e.n_hosts, 3);	/* unchanged on error */
	EXPECT_INT(vault_entry_set_hosts(&e, "https://a.com"), -1);
	EXPECT_INT(vault_entry_set_hosts(&e, "a.com:443"), -1);
	EXPECT_INT(vault_entry_set_hosts(&e, "*"), -1);
	EXPECT_INT(vault_entry_set_hosts(&e, ""), -1);
	EXPECT_INT(vault_entry_set_hosts(&e, ","), -1);
	vault_entry_clear(&e);
}

static void test_put_remove(void)
{
	struct vault *v = vault_new(VAULT_KEYFILE);

	add(v, "C", "c.example.com", "3");
	add(v, "A", "a.example.com", "1");
	add(v, "B", "b.example.com", "2");
	add(v, "A", "a2.example.com", "1b");
	EXPECT_INT(v->n_entries, 3);
	EXPECT_STR(v->entries[0].name, "A");
	EXPECT_STR(v->entries[0].value, "1b");
	EXPECT_STR(v->entries[2].name, "C");
	EXPECT_INT(vault_remove(v, "B"), 0);
	EXPECT_INT(vault_remove(v, "B"), -1);
	EXPECT_INT(v->n_entries, 2);
	EXPECT_STR(v->entries[1].name, "C");
	vault_unref(v);
}

int main(void)
{
	/* Line by line, so that what a failed check printed survives a crash. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_round_trip);
	RUN(test_missing_is_empty);
	RUN(test_tamper_any_byte);
	RUN(test_tamper_with_checksum);
	RUN(test_bad_entry_inside);
	RUN(test_wrong_key);
	RUN(test_keyfile_mode);
	RUN(test_passphrase);
	RUN(test_failed_write_keeps_old);
	RUN(test_key_handover);
	RUN(test_slot_reload);
	RUN(test_lock);
	RUN(test_concurrent_updates);
	RUN(test_uses);
	RUN(test_validation);
	RUN(test_put_remove);
	util_rm_rf(home);
	UNIT_EXIT();
}
