/* vault_key: the vault's key, from the key file, a passphrase, or a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "backend/util.h"
#include "backend/vault.h"

#define PASS_MAX 1024
/* Argon2id for new passphrase vaults: three passes over 64 MiB, under a
 * second here, and what a guesser must pay per guess. */
#define NEW_OPSLIMIT 3
#define NEW_MEMLIMIT (64ull << 20)

static struct vault_key *key_alloc(void)
{
	struct vault_key *k;

	if (sodium_init() < 0)
		die("libsodium does not initialise");
	k = sodium_malloc(sizeof *k);
	if (!k)
		die("out of locked memory for the vault key");
	memset(k, 0, sizeof *k);
	return k;
}

void vault_key_free(struct vault_key *k)
{
	if (k)
		sodium_free(k);	/* wipes first */
}

/* ---- the terminal ---- */

static int tty_fd = -1;
static struct termios tty_saved;

static void tty_restore(int sig)
{
	if (tty_fd >= 0)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int ask_once(const char *prompt, char *buf, size_t cap, size_t *len)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = tty_restore }, old[ARRAY_LEN(sigs)];
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_tstp;
	struct termios quiet;
	size_t n = 0;
	bool too_long = false;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), rc = -1;
	char c;

	if (fd < 0) {
		err_set("there is no terminal to ask on (%s)", strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &tty_saved) < 0) {
		err_set("cannot read the terminal's settings: %s", strerror(errno));
		close(fd);
		return -1;
	}
	quiet = tty_saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	tty_fd = fd;
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &sa, &old[i]);
	/* Stopped halfway, the job would come back with echo on. */
	sigaction(SIGTSTP, &ign, &old_tstp);
	if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		err_set("cannot use the terminal: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set("cannot read the terminal: %s", strerror(errno));
			goto out;
		}
		if (r == 0 || c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
		else
			too_long = true;
	}
	c = 0;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (too_long) {
		sodium_memzero(buf, cap);
		err_set("the line is longer than %zu bytes", cap - 1);
		goto out;
	}
	*len = n;
	rc = 0;
out:
	tcsetattr(fd, TCSAFLUSH, &tty_saved);
	if (write(fd, "\n", 1) < 0) {
		/* The prompt's line is left open; nothing else is lost. */
	}
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &old[i], NULL);
	sigaction(SIGTSTP, &old_tstp, NULL);
	tty_fd = -1;
	close(fd);
	return rc;
}

int vault_key_ask(const char *prompt, bool twice, char *buf, size_t cap, size_t *len)
{
	char *again;
	size_t alen;
	int rc;

	if (ask_once(prompt, buf, cap, len) < 0)
		return -1;
	if (!twice)
		return 0;
	again = sodium_malloc(cap);
	if (!again)
		die("out of locked memory");
	rc = ask_once("Again: ", again, cap, &alen);
	if (rc == 0 && (alen != *len || sodium_memcmp(again, buf, alen))) {
		err_set("the second entry differs from the first");
		rc = -1;
	}
	sodium_free(again);
	if (rc < 0)
		sodium_memzero(buf, cap);
	return rc;
}

/* ---- passphrases ---- */

/* The passphrase into pass (PASS_MAX locked bytes): the environment, else
 * the terminal (asked twice when confirm). */
static int passphrase(bool prompt, bool confirm, char *pass, size_t *len)
{
	const char *env = confirm && getenv("SMOLVM_VAULT_NEW_PASSPHRASE") ?
		getenv("SMOLVM_VAULT_NEW_PASSPHRASE") : getenv("SMOLVM_VAULT_PASSPHRASE");

	if (env) {
		*len = strlen(env);
		if (*len >= PASS_MAX) {
			err_set("SMOLVM_VAULT_PASSPHRASE is longer than %d bytes", PASS_MAX - 1);
			return -1;
		}
		memcpy(pass, env, *len + 1);
	} else if (!prompt) {
		err_set("the vault is sealed with a passphrase and there is no terminal to ask for "
			"it on: set SMOLVM_VAULT_PASSPHRASE");
		return -1;
	} else if (vault_key_ask(confirm ? "New vault passphrase: " : "Vault passphrase: ",
				 confirm, pass, PASS_MAX, len) < 0) {
		err_set("cannot read the vault passphrase: %s (or set SMOLVM_VAULT_PASSPHRASE)",
			err_msg());
		return -1;
	}
	if (!*len) {
		err_set("the vault passphrase is empty");
		return -1;
	}
	return 0;
}

static int derive(struct vault_key *k, bool prompt, bool confirm)
{
	char *pass = sodium_malloc(PASS_MAX);
	size_t len = 0;
	int rc = -1;

	if (!pass)
		die("out of locked memory");
	if (passphrase(prompt, confirm, pass, &len) < 0)
		goto out;
	if (crypto_pwhash(k->key, sizeof k->key, pass, len, k->salt, k->opslimit,
			  (size_t)k->memlimit, crypto_pwhash_ALG_ARGON2ID13) < 0) {
		err_set("cannot derive the vault key: Argon2id needs %llu MiB of memory",
			(unsigned long long)(k->memlimit >> 20));
		goto out;
	}
	rc = 0;
out:
	sodium_free(pass);
	return rc;
}

int vault_key_new_passphrase(struct vault_key **out)
{
	struct vault_key *k = key_alloc();

	k->kdf = VAULT_PASSPHRASE;
	k->opslimit = NEW_OPSLIMIT;
	k->memlimit = NEW_MEMLIMIT;
	randombytes_buf(k->salt, sizeof k->salt);
	if (derive(k, true, true) < 0) {
		vault_key_free(k);
		return -1;
	}
	*out = k;
	return 0;
}

/* ---- the key file ---- */

static int keyfile_read(const char *path, struct vault_key *k)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	if (fd < 0) {
		err_set("cannot open the vault's key file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != VAULT_KEY_BYTES) {
		err_set("%s is not a vault key file (%d bytes of key)", path, VAULT_KEY_BYTES);
		goto fail;
	}
	if (st.st_mode & 077) {
		err_set("%s can be read by others (mode %04o): the key must be private to you; "
			"chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if (st.st_uid != geteuid() && geteuid() != 0) {
		err_set("%s belongs to another user (uid %u)", path, (unsigned)st.st_uid);
		goto fail;
	}
	do
		n = read(fd, k->key, sizeof k->key);
	while (n < 0 && errno == EINTR);
	if (n != VAULT_KEY_BYTES) {
		err_set("cannot read %s: %s", path, n < 0 ? strerror(errno) : "short read");
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* Make the key file unless it exists: written whole under a temporary
 * name, then linked into place, so a concurrent first use finds either no
 * key file or a complete one, and both end up with the same key. */
static int keyfile_create(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/'), *tmp;
	unsigned char *key = sodium_malloc(VAULT_KEY_BYTES);
	int fd, rc = -1;

	if (!key)
		die("out of locked memory");
	*slash = '\0';
	tmp = xasprintf("%s.new.%d", path, (int)getpid());
	if (util_mkdir_p(dir, 0700) < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set("cannot make the vault's key file %s: %s", tmp, strerror(errno));
		goto out;
	}
	randombytes_buf(key, VAULT_KEY_BYTES);
	if (write(fd, key, VAULT_KEY_BYTES) != VAULT_KEY_BYTES || fsync(fd) < 0) {
		err_set("cannot write the vault's key file %s: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	close(fd);
	if (link(tmp, path) < 0 && errno != EEXIST) {
		err_set("cannot make the vault's key file %s: %s", path, strerror(errno));
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	rc = 0;
out:
	unlink(tmp);
	sodium_free(key);
	free(tmp);
	free(dir);
	return rc;
}

int vault_key_from_file(bool create, struct vault_key **out)
{
	struct vault_key *k = key_alloc();
	char *kpath = vault_key_path();
	int rc = create ? keyfile_create(kpath) : 0;

	k->kdf = VAULT_KEYFILE;
	if (rc == 0)
		rc = keyfile_read(kpath, k);
	free(kpath);
	if (rc < 0) {
		vault_key_free(k);
		return -1;
	}
	*out = k;
	return 0;
}

int vault_key_get(const char *path, unsigned how, struct vault_key **out)
{
	struct vault_header h;
	struct vault_key *k;
	char *kpath;
	int have = vault_read_header(path, &h), rc = -1;

	if (have < 0)
		return -1;
	if (have && h.kdf == VAULT_PASSPHRASE) {
		k = key_alloc();
		k->kdf = VAULT_PASSPHRASE;
		k->opslimit = h.opslimit;
		k->memlimit = h.memlimit;
		memcpy(k->salt, h.salt, sizeof k->salt);
		if (derive(k, how & VAULT_KEY_PROMPT, false) < 0) {
			vault_key_free(k);
			return -1;
		}
		*out = k;
		return 0;
	}
	kpath = vault_key_path();
	if (!have && !(how & VAULT_KEY_CREATE) && !util_exists(kpath))
		err_set("there is no vault yet (%s): add a secret with `smolvm vault add`", path);
	else if (have && !util_exists(kpath))
		err_set("wrong passphrase or key file: the vault %s is sealed with the key file "
			"%s, which is missing", path, kpath);
	else
		rc = vault_key_from_file(!have && (how & VAULT_KEY_CREATE), out);
	free(kpath);
	return rc;
}

/* ---- handing a key over ---- */

/* The struct as it is: both ends are this same program. */
int vault_key_send(const struct vault_key *k, int fd)
{
	ssize_t n;

	do
		n = write(fd, k, sizeof *k);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof *k) {
		err_set("cannot hand the vault key over: %s", n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

int vault_key_pipe(const struct vault_key *k)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		err_set("cannot make a pipe for the vault key: %s", strerror(errno));
		return -1;
	}
	if (vault_key_send(k, p[1]) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
}

int vault_key_handover(const char *path, int *fd)
{
	struct vault_header h;
	struct vault_key *k;
	struct vault *v;
	int have = vault_read_header(path, &h);

	*fd = -1;
	if (have < 0)
		return -1;
	if (!have || h.kdf != VAULT_PASSPHRASE)
		return 0;
	if (vault_key_get(path, VAULT_KEY_PROMPT, &k) < 0)
		return -1;
	if (vault_open(path, k, &v) < 0) {
		vault_key_free(k);
		return -1;
	}
	vault_unref(v);
	*fd = vault_key_pipe(k);
	vault_key_free(k);
	return *fd < 0 ? -1 : 0;
}

int vault_key_for_proxy(const char *path, struct vault_key **out)
{
	const char *env = getenv("SMOLVM_VAULT_KEY_FD");
	char *end;
	long fd;
	int rc;

	if (!env)
		return vault_key_get(path, 0, out);
	fd = strtol(env, &end, 10);
	if (*env < '0' || *env > '9' || *end || fd < 3 || fd > 65535) {
		err_set("SMOLVM_VAULT_KEY_FD=%s is not a file descriptor", env);
		return -1;
	}
	rc = vault_key_recv((int)fd, out);
	close((int)fd);
	return rc;
}

int vault_key_recv(int fd, struct vault_key **out)
{
	struct vault_key *k = key_alloc();
	size_t got = 0;

	while (got < sizeof *k) {
		ssize_t n = read(fd, (char *)k + got, sizeof *k - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err_set("cannot receive the vault key on fd %d: %s", fd,
				n < 0 ? strerror(errno) : "it closed early");
			vault_key_free(k);
			return -1;
		}
		got += (size_t)n;
	}
	if (k->kdf != VAULT_KEYFILE && k->kdf != VAULT_PASSPHRASE) {
		err_set("cannot receive the vault key on fd %d: not a vault key", fd);
		vault_key_free(k);
		return -1;
	}
	*out = k;
	return 0;
}
