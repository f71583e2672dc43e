/*
 * vault: API keys that sandboxes use without ever holding them. The vault
 * file ($SMOLVM_HOME/vault, 0600) is one libsodium secretbox (XSalsa20 +
 * Poly1305, a fresh nonce per write) under a 32-byte key that comes either
 * from the key file keys/vault.key (0600, made at first use) or from a
 * passphrase through Argon2id (salt and limits in the file's header).
 * Writers take an exclusive lock (vault.lock) and replace the file
 * atomically; a file that does not decrypt is never written over. Secret
 * values live only in sodium_malloc'd (locked, guarded) memory and are
 * wiped when freed. Use counts live apart from the vault, in vault.uses,
 * so that recording a use never rewrites the sealed file.
 */
#ifndef SMOLVM_VAULT_H
#define SMOLVM_VAULT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define VAULT_NAME_MAX 64	/* [A-Z_][A-Z0-9_]*, an environment variable's shape */
#define VAULT_VALUE_MAX 8192	/* bytes of one secret value */
#define VAULT_HOSTS_MAX 32	/* hosts per entry */
#define VAULT_HEADER_MAX 128	/* length of a header name */
#define VAULT_FORMAT_MAX 256	/* length of a header value format */
#define VAULT_ENTRIES_MAX 1024

/* Where the vault's key comes from (recorded in the file's header). */
enum vault_kdf {
	VAULT_KEYFILE = 0,	/* keys/vault.key */
	VAULT_PASSPHRASE = 1,	/* Argon2id of a passphrase */
};

enum vault_flag {
	VAULT_BODY = 1 << 0,		/* the placeholder is also replaced in request bodies */
	VAULT_PLAIN_HTTP = 1 << 1,	/* also on plain HTTP, not only on intercepted TLS */
};

struct vault_entry {
	char *name;
	/* Normalised like a policy rule's host (lower case, no trailing dot):
	 * "api.example.com", "*.example.com" (every strict subdomain), or an
	 * address in standard form. At least one. */
	char **hosts;
	size_t n_hosts;
	/* A header the proxy sets outright on requests to the hosts, NULL for
	 * none (then the guest's placeholder is only replaced where it is). */
	char *header;
	/* With header: its value, "%s" standing for the secret ("Bearer %s");
	 * exactly one "%s", "%%" for a '%'. NULL when header is NULL. */
	char *format;
	unsigned flags;			/* VAULT_BODY | VAULT_PLAIN_HTTP */
	int64_t created, updated;	/* wall-clock seconds; updated changes on rotate */
	/* The secret: value_len bytes of printable ASCII (no control
	 * characters), NUL-terminated, in sodium_malloc'd memory. */
	char *value;
	size_t value_len;
};

/* What identifies one version of the vault file: rename() always gives a
 * new inode, so a rewrite is never missed. All zero: there was no file. */
struct vault_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* A decrypted vault. Reference counted like a policy: a proxy thread keeps
 * the one it holds while a reload swaps in the next (struct vault_slot). */
struct vault {
	atomic_int refs;
	enum vault_kdf kdf;
	struct vault_entry *entries;	/* sorted by name */
	size_t n_entries;
	struct vault_stamp stamp;
};

#define VAULT_KEY_BYTES 32
#define VAULT_SALT_BYTES 16

/*
 * The key and how it was made (the header fields a sealed file records).
 * Always in sodium_malloc'd memory: get one from vault_key_get(),
 * vault_key_new_passphrase() or vault_key_recv(), free it with
 * vault_key_free().
 */
struct vault_key {
	enum vault_kdf kdf;
	uint64_t opslimit, memlimit;		/* Argon2id limits; 0 for a key file */
	unsigned char salt[VAULT_SALT_BYTES];	/* zero for a key file */
	unsigned char key[VAULT_KEY_BYTES];
};

/* The cleartext header of a vault file. */
struct vault_header {
	enum vault_kdf kdf;
	uint64_t opslimit, memlimit;
	unsigned char salt[VAULT_SALT_BYTES];
};

/*
 * The header of the vault at path, after checking that the file is whole:
 * 1, 0 when there is no file, -1 with err_set() ("vault file is corrupt:
 * ...", or an I/O error).
 */
int vault_read_header(const char *path, struct vault_header *h);

/* $SMOLVM_HOME/vault and keys/vault.key (newly allocated). */
char *vault_path(void);
char *vault_key_path(void);

/* ---- keys (backend/vault_key.c) ---- */

/* How vault_key_get() may find a key. */
enum vault_key_how {
	VAULT_KEY_PROMPT = 1 << 0,	/* may ask for a passphrase on the terminal */
	VAULT_KEY_CREATE = 1 << 1,	/* no vault yet: make keys/vault.key if it is missing */
};

/*
 * The key that opens the vault at path, as its header says: the key file,
 * or the passphrase from $SMOLVM_VAULT_PASSPHRASE, else (with
 * VAULT_KEY_PROMPT and a terminal) asked for. With no vault file yet, the
 * key file (made with VAULT_KEY_CREATE, else an error that says there is
 * no vault). Whether the key is the right one is known only when it opens
 * the vault. 0, or -1 with err_set().
 */
int vault_key_get(const char *path, unsigned how, struct vault_key **out);

/* A new passphrase key (fresh salt) for `vault init --passphrase`: from
 * $SMOLVM_VAULT_NEW_PASSPHRASE, else $SMOLVM_VAULT_PASSPHRASE, else asked
 * twice on the terminal. */
int vault_key_new_passphrase(struct vault_key **out);

/* The key file's key, whatever the vault's header says (made first when
 * missing and create), for sealing a vault with it. */
int vault_key_from_file(bool create, struct vault_key **out);

/*
 * Hand a key to a process without a terminal: the sender writes it to fd
 * (a pipe; it fits in one atomic write, so this never blocks on an empty
 * pipe) and the receiver reads it from fd into locked memory. The key's
 * bytes are never in argv, the environment or a file.
 */
int vault_key_send(const struct vault_key *k, int fd);
int vault_key_recv(int fd, struct vault_key **out);

/*
 * A pipe's read end that already holds k (the write end is closed), for a
 * child to vault_key_recv() from: how a proxy started by `create` gets a
 * passphrase vault's key without a terminal and without the passphrase in
 * its environment. create unlocks (it has the terminal), the child
 * inherits the fd, the parent closes its copy after the fork. -1 with
 * err_set() if no pipe can be made.
 */
int vault_key_pipe(const struct vault_key *k);

/*
 * Both ends of that handover, so that a proxy gets its key the same way
 * whatever seals the vault:
 * - vault_key_handover(), in the process that starts the proxy: for a
 *   vault sealed with a passphrase, unlock it (asking on the terminal, or
 *   $SMOLVM_VAULT_PASSPHRASE), check that the key opens it, and set *fd to
 *   vault_key_pipe()'s read end, to be left open in the proxy and its
 *   number given to it as $SMOLVM_VAULT_KEY_FD; otherwise *fd = -1 (the
 *   proxy reads the key file itself). 0, or -1 with err_set() ("wrong
 *   passphrase or key file", ...).
 * - vault_key_for_proxy(), in the proxy: the key from $SMOLVM_VAULT_KEY_FD
 *   when set (the fd is closed after), else vault_key_get(path, 0).
 */
int vault_key_handover(const char *path, int *fd);
int vault_key_for_proxy(const char *path, struct vault_key **out);

/*
 * Read one line from the terminal with echo off into buf (locked memory of
 * cap bytes; NUL-terminated, newline dropped, *len its length): for
 * passphrases and secret values; with twice, a second time to compare.
 * Ctrl-C restores the terminal. -1 with err_set() when there is no
 * terminal, the line does not fit, or the two lines differ.
 */
int vault_key_ask(const char *prompt, bool twice, char *buf, size_t cap, size_t *len);

/* Wipe and free; NULL is ignored. */
void vault_key_free(struct vault_key *k);

/* ---- the vault file (backend/vault.c) ---- */

/*
 * Read and decrypt the vault at path. A missing file is an empty vault
 * (stamp all zero). Errors (-1, err_set, *out untouched): "wrong
 * passphrase or key file" when the key does not fit the file, "vault file
 * is corrupt: ..." when the file is damaged, and I/O errors.
 */
int vault_open(const char *path, const struct vault_key *k, struct vault **out);

/* An empty vault (for `vault init`). */
struct vault *vault_new(enum vault_kdf kdf);

struct vault *vault_ref(struct vault *v);
/* The last reference wipes every value and frees; NULL is ignored. */
void vault_unref(struct vault *v);

/* The entry called name, or NULL. */
const struct vault_entry *vault_find(const struct vault *v, const char *name);

/* Has the file at path changed since v was read? One stat(). */
bool vault_changed(const struct vault *v, const char *path);

/*
 * Seal v under k and replace the file at path atomically (temporary file
 * in the same directory, fsync, rename, fsync of the directory), 0600.
 * Call with the lock held. On failure the previous file is intact and the
 * temporary file is gone. The header takes k's kdf and salt.
 */
int vault_save(const char *path, const struct vault *v, const struct vault_key *k);

/*
 * The writers' lock (path + ".lock", flock): waits up to timeout_ms for
 * another writer, then fails saying so. Returns the fd to pass to
 * vault_unlock(), or -1 with err_set().
 */
int vault_lock(const char *path, int timeout_ms);
void vault_unlock(int fd);

/*
 * Lock, open, call edit(v, arg), save if it returned 0, unlock: one
 * read-modify-write that no concurrent writer can undo. edit returns 0,
 * or -1 after err_set() to leave the file as it is. 0, or -1 with err_set().
 */
int vault_update(const char *path, const struct vault_key *k,
		 int (*edit)(struct vault *v, void *arg), void *arg);

/* How long vault_update() and vault_reseal() wait for another writer. */
#define VAULT_LOCK_MS 10000

/* The same read-modify-write changing only the key: the vault that old
 * opens is sealed with k (`vault init` on an existing vault). */
int vault_reseal(const char *path, const struct vault_key *old, const struct vault_key *k);

/* ---- entries (backend/vault.c) ---- */

/* Validation of what `vault add` takes; 0, or -1 with err_set() saying
 * what is wrong and what would be right. */
int vault_check_name(const char *name);
int vault_check_value(const char *value, size_t len);
int vault_check_header(const char *header);
int vault_check_format(const char *format);

/*
 * Parse a comma-separated host list ("api.example.com,*.example.org") as
 * policy rules take hosts, into e->hosts (normalised, duplicates dropped).
 * 0, or -1 with err_set() naming the host at fault.
 */
int vault_entry_set_hosts(struct vault_entry *e, const char *list);

/* Copy value into a new sodium_malloc'd buffer as e's value (wiping and
 * freeing the old one); the caller wipes its own copy. */
void vault_entry_set_value(struct vault_entry *e, const char *value, size_t len);

/* Add e to v, or replace the entry of the same name; v takes over e's
 * contents (e is left zeroed). */
void vault_put(struct vault *v, struct vault_entry *e);

/* Remove the entry called name: 0, or -1 with err_set() if there is none. */
int vault_remove(struct vault *v, const char *name);

/* Free the contents of an entry not in a vault (wiping its value). */
void vault_entry_clear(struct vault_entry *e);

/* ---- for the proxy: the current vault, reloaded when it changes ---- */

struct vault_slot {
	pthread_mutex_t lock;
	char *path;
	struct vault_key *key;
	struct vault *v;
	struct vault_stamp failed;	/* a version that did not open, not retried */
};

/* Takes over key (freed on failure too); opens the vault at path: 0, or -1
 * with err_set(). */
int vault_slot_init(struct vault_slot *s, const char *path, struct vault_key *key);

/* If the file changed, open it and swap it in: 1 when reloaded, 0 when
 * unchanged, -1 (err_set, the old vault stays) when the new version does
 * not open; a version that failed once returns 0 after that. Cheap: one
 * stat() when nothing changed. */
int vault_slot_refresh(struct vault_slot *s);

/* The current vault with a new reference (drop it with vault_unref). */
struct vault *vault_slot_get(struct vault_slot *s);
void vault_slot_destroy(struct vault_slot *s);

/* ---- use counts (backend/vault_uses.c) ---- */

struct vault_use {
	char name[VAULT_NAME_MAX + 1];
	uint64_t count;
	int64_t last;		/* wall-clock seconds, 0 for never */
};

/*
 * Count one use of the secret name (injected into a request) in the uses
 * file next to the vault at path (path + ".uses"), under an flock, so that
 * many proxy processes can record at once without losing a count. A few
 * syscalls, no fsync. 0, or -1 with err_set().
 */
int vault_uses_record(const char *path, const char *name);

/* All counts: *out (free it) has *n entries. A missing file is none. */
int vault_uses_load(const char *path, struct vault_use **out, size_t *n);

/* Drop the count of name (after `vault rm`). */
int vault_uses_forget(const char *path, const char *name);

#endif
