/*
 * vault: the sealed file and its entries.
 *
 * File layout (integers little-endian):
 *    0  8  magic "smolvlt\n"
 *    8  1  format version (1)
 *    9  1  kdf (enum vault_kdf)
 *   10  6  zero
 *   16  8  Argon2id opslimit   (0 for a key file)
 *   24  8  Argon2id memlimit   (0 for a key file)
 *   32 16  Argon2id salt       (0 for a key file)
 *   48 16  key check: BLAKE2b keyed with the key, of a fixed text
 *   64 24  nonce, fresh for every write
 *   88  4  length of the box
 *   92  .  the box: crypto_secretbox_easy() of the entries
 *  end 16  BLAKE2b of everything before it
 * The checksum tells a damaged file from a wrong key: a file whose
 * checksum fails is corrupt; one whose key check fails was sealed with
 * another key; one whose box then fails to open was altered on purpose.
 *
 * The entries, inside the box: a u32 count, then for each: u8 length +
 * name, u8 count of hosts and u8 length + host each, u8 length + header,
 * u16 length + format, u32 flags, u64 created, u64 updated, u16 length +
 * value. Parsed in place from locked memory, so a value is only ever
 * copied from one locked buffer into another.
 */
#include "backend/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "net/policy.h"

#define MAGIC "smolvlt\n"
#define VERSION 1
#define HEADER_BYTES 64
#define BOX_AT 92
#define SUM_BYTES 16
#define CHECK_BYTES 16
/* Largest box: every entry at its limits (about 17 MiB), with room to spare. */
#define BOX_MAX (32u << 20)
/* A tampered header must not make us spend unbounded time or memory. */
#define OPSLIMIT_MAX 64
#define MEMLIMIT_MAX (1ull << 30)

static const char check_text[] = "smolvm vault key check";

char *vault_path(void)
{
	return xasprintf("%s/vault", paths_home());
}

char *vault_key_path(void)
{
	char *dir = paths_keys_dir(), *p = xasprintf("%s/vault.key", dir);

	free(dir);
	return p;
}

static void *locked(size_t n)
{
	void *p;

	if (sodium_init() < 0)
		die("libsodium does not initialise");
	p = sodium_malloc(n ? n : 1);
	if (!p)
		die("out of locked memory (%zu bytes)", n);
	return p;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void key_check(const struct vault_key *k, unsigned char out[CHECK_BYTES])
{
	crypto_generichash(out, CHECK_BYTES, (const unsigned char *)check_text,
			   sizeof check_text - 1, k->key, sizeof k->key);
}

/* ---- validation ---- */

int vault_check_name(const char *name)
{
	size_t n = strlen(name);

	if (!n) {
		err_set("a secret's name must not be empty");
		return -1;
	}
	if (n > VAULT_NAME_MAX) {
		err_set("the name %.16s... is longer than %d characters", name, VAULT_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (c == '_' || (c >= 'A' && c <= 'Z') || (i && c >= '0' && c <= '9'))
			continue;
		err_set("\"%s\" is not a secret name: it becomes an environment variable in the "
			"sandbox, so it is upper-case letters, digits and '_', not starting with "
			"a digit (like OPENAI_API_KEY)", name);
		return -1;
	}
	if (policy_secret_name_reserved(name)) {
		err_set("%s is a variable the guest's shell needs; pick another name", name);
		return -1;
	}
	return 0;
}

int vault_check_value(const char *value, size_t len)
{
	if (!len) {
		err_set("the secret's value is empty");
		return -1;
	}
	if (len > VAULT_VALUE_MAX) {
		err_set("the secret's value is longer than %d bytes", VAULT_VALUE_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c < 0x20 || c >= 0x7f) {
			/* The position only: the value itself is never shown. */
			err_set("the secret's value has a control or non-ASCII byte at offset %zu: "
				"it goes into HTTP headers, so it must be printable ASCII", i);
			return -1;
		}
	}
	return 0;
}

/* What the proxy owns, or what would let a guest's request be read two ways. */
static const char *const reserved_headers[] = {
	"host", "content-length", "transfer-encoding", "connection", "keep-alive",
	"upgrade", "te", "trailer", "proxy-connection", "expect",
};

int vault_check_header(const char *header)
{
	size_t n = strlen(header);

	if (!n || n > VAULT_HEADER_MAX) {
		err_set("--header must be a header name of 1 to %d characters", VAULT_HEADER_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)header[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c)) {
			err_set("--header \"%.*s\" is not a header name (letters, digits and "
				"!#$%%&'*+-.^_`|~, no ':')", (int)(n > 64 ? 64 : n), header);
			return -1;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(reserved_headers); i++) {
		if (!strcasecmp(header, reserved_headers[i])) {
			err_set("--header %s is not one a secret can set: the proxy owns it", header);
			return -1;
		}
	}
	return 0;
}

int vault_check_format(const char *format)
{
	size_t n = strlen(format);
	int slots = 0;

	if (n > VAULT_FORMAT_MAX) {
		err_set("--format is longer than %d characters", VAULT_FORMAT_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)format[i];

		if (c < 0x20 || c >= 0x7f) {
			err_set("--format has a control or non-ASCII character at offset %zu", i);
			return -1;
		}
		if (c != '%')
			continue;
		if (format[i + 1] == 's') {
			slots++;
		} else if (format[i + 1] != '%') {
			err_set("--format \"%s\": '%%' is followed by 's' (the secret) or '%%' (a "
				"literal '%%')", format);
			return -1;
		}
		i++;
	}
	if (slots != 1) {
		err_set("--format \"%s\" must have exactly one %%s, where the secret goes (like "
			"'Bearer %%s')", format);
		return -1;
	}
	return 0;
}

int vault_entry_set_hosts(struct vault_entry *e, const char *list)
{
	char **hosts = NULL, *copy = xstrdup(list);
	size_t n = 0;
	int rc = -1;

	if (!*list) {
		err_set("--hosts is empty: name at least one host the secret may be sent to");
		goto out;
	}
	for (char *h = copy, *next; h; h = next) {
		struct policy_rule r = { 0 };
		bool dup = false;

		next = strchr(h, ',');
		if (next)
			*next++ = '\0';
		while (*h == ' ')
			h++;
		for (char *t = h + strlen(h); t > h && t[-1] == ' '; t--)
			t[-1] = '\0';
		if (!*h) {
			err_set("--hosts \"%s\" has an empty entry: remove the extra "
				"comma", list);
			goto out;
		}
		if (strstr(h, "://")) {
			err_set("--hosts: \"%s\" is a URL: give host names only, without "
				"https://", h);
			goto out;
		}
		if (policy_rule_host(&r, h, "--hosts") < 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			dup |= !strcmp(hosts[i], r.host);
		if (dup) {
			free(r.host);
			continue;
		}
		if (n == VAULT_HOSTS_MAX) {
			free(r.host);
			err_set("--hosts names more than %d hosts", VAULT_HOSTS_MAX);
			goto out;
		}
		hosts = xrealloc(hosts, (n + 1) * sizeof *hosts);
		hosts[n++] = r.host;
	}
	if (!n) {
		err_set("--hosts \"%s\" names no host", list);
		goto out;
	}
	for (size_t i = 0; i < e->n_hosts; i++)
		free(e->hosts[i]);
	free(e->hosts);
	e->hosts = hosts;
	e->n_hosts = n;
	hosts = NULL;
	n = 0;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(hosts[i]);
	free(hosts);
	free(copy);
	return rc;
}

/* ---- entries ---- */

void vault_entry_set_value(struct vault_entry *e, const char *value, size_t len)
{
	char *v = locked(len + 1);

	memcpy(v, value, len);
	v[len] = '\0';
	if (e->value)
		sodium_free(e->value);
	e->value = v;
	e->value_len = len;
}

void vault_entry_clear(struct vault_entry *e)
{
	free(e->name);
	for (size_t i = 0; i < e->n_hosts; i++)
		free(e->hosts[i]);
	free(e->hosts);
	free(e->header);
	free(e->format);
	if (e->value)
		sodium_free(e->value);
	memset(e, 0, sizeof *e);
}

struct vault *vault_new(enum vault_kdf kdf)
{
	struct vault *v = xcalloc(1, sizeof *v);

	atomic_init(&v->refs, 1);
	v->kdf = kdf;
	return v;
}

struct vault *vault_ref(struct vault *v)
{
	if (v)
		atomic_fetch_add(&v->refs, 1);
	return v;
}

void vault_unref(struct vault *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	for (size_t i = 0; i < v->n_entries; i++)
		vault_entry_clear(&v->entries[i]);
	free(v->entries);
	free(v);
}

/* Where name is, or would go, in the sorted entries. */
static size_t find_slot(const struct vault *v, const char *name, bool *found)
{
	size_t lo = 0, hi = v->n_entries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->entries[mid].name, name);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct vault_entry *vault_find(const struct vault *v, const char *name)
{
	bool found;
	size_t i = find_slot(v, name, &found);

	return found ? &v->entries[i] : NULL;
}

void vault_put(struct vault *v, struct vault_entry *e)
{
	bool found;
	size_t i = find_slot(v, e->name, &found);

	if (found) {
		vault_entry_clear(&v->entries[i]);
	} else {
		v->entries = xrealloc(v->entries, (v->n_entries + 1) * sizeof *v->entries);
		memmove(&v->entries[i + 1], &v->entries[i],
			(v->n_entries - i) * sizeof *v->entries);
		v->n_entries++;
	}
	v->entries[i] = *e;
	memset(e, 0, sizeof *e);
}

int vault_remove(struct vault *v, const char *name)
{
	bool found;
	size_t i = find_slot(v, name, &found);

	if (!found) {
		err_set("there is no secret called %s in the vault (see `smolvm vault ls`)", name);
		return -1;
	}
	vault_entry_clear(&v->entries[i]);
	memmove(&v->entries[i], &v->entries[i + 1], (v->n_entries - i - 1) * sizeof *v->entries);
	v->n_entries--;
	return 0;
}

/* ---- the entries inside the box ---- */

static size_t plain_size(const struct vault *v)
{
	size_t n = 4;

	for (size_t i = 0; i < v->n_entries; i++) {
		const struct vault_entry *e = &v->entries[i];

		n += 1 + strlen(e->name) + 1 + 1 + (e->header ? strlen(e->header) : 0) + 2 +
		     (e->format ? strlen(e->format) : 0) + 4 + 8 + 8 + 2 + e->value_len;
		for (size_t h = 0; h < e->n_hosts; h++)
			n += 1 + strlen(e->hosts[h]);
	}
	return n;
}

static unsigned char *put_str(unsigned char *p, const char *s, int width)
{
	size_t n = s ? strlen(s) : 0;

	if (width == 1) {
		*p++ = (unsigned char)n;
	} else {
		*p++ = (unsigned char)n;
		*p++ = (unsigned char)(n >> 8);
	}
	memcpy(p, s ? s : "", n);
	return p + n;
}

static void plain_write(const struct vault *v, unsigned char *p)
{
	put32(p, (uint32_t)v->n_entries);
	p += 4;
	for (size_t i = 0; i < v->n_entries; i++) {
		const struct vault_entry *e = &v->entries[i];

		p = put_str(p, e->name, 1);
		*p++ = (unsigned char)e->n_hosts;
		for (size_t h = 0; h < e->n_hosts; h++)
			p = put_str(p, e->hosts[h], 1);
		p = put_str(p, e->header, 1);
		p = put_str(p, e->format, 2);
		put32(p, e->flags);
		put64(p + 4, (uint64_t)e->created);
		put64(p + 12, (uint64_t)e->updated);
		p += 20;
		*p++ = (unsigned char)e->value_len;
		*p++ = (unsigned char)(e->value_len >> 8);
		memcpy(p, e->value, e->value_len);
		p += e->value_len;
	}
}

struct reader {
	const unsigned char *p, *end;
};

static bool take(struct reader *r, size_t n, const unsigned char **out)
{
	if ((size_t)(r->end - r->p) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

/* A string of width-byte length; NULL in *out when empty and may_be_empty. */
static bool take_str(struct reader *r, int width, char **out)
{
	const unsigned char *l, *s;
	size_t n;

	if (!take(r, (size_t)width, &l))
		return false;
	n = width == 1 ? l[0] : (size_t)(l[0] | l[1] << 8);
	if (!take(r, n, &s) || memchr(s, 0, n))
		return false;
	*out = n ? strndup((const char *)s, n) : NULL;
	if (n && !*out)
		die("out of memory");
	return true;
}

static int corrupt(const char *path, const char *what)
{
	err_set("vault file is corrupt: %s: %s (it is left as it is; restore it from a backup, "
		"or move it away to start an empty vault)", path, what);
	return -1;
}

static int plain_parse(const char *path, const unsigned char *plain, size_t len, struct vault *v)
{
	struct reader r = { plain, plain + len };
	const unsigned char *p;
	uint32_t n;

	if (!take(&r, 4, &p) || (n = get32(p)) > VAULT_ENTRIES_MAX)
		return corrupt(path, "bad entry count");
	for (uint32_t i = 0; i < n; i++) {
		struct vault_entry e = { 0 };
		const unsigned char *nh, *f, *vl, *val;
		size_t vlen;
		bool ok = take_str(&r, 1, &e.name) && e.name && take(&r, 1, &nh) && *nh &&
			  *nh <= VAULT_HOSTS_MAX;

		if (ok) {
			e.hosts = xcalloc(*nh, sizeof *e.hosts);
			for (; ok && e.n_hosts < *nh; e.n_hosts++)
				ok = take_str(&r, 1, &e.hosts[e.n_hosts]) && e.hosts[e.n_hosts];
		}
		ok = ok && take_str(&r, 1, &e.header) && take_str(&r, 2, &e.format) &&
		     !e.header == !e.format && take(&r, 20, &f) && take(&r, 2, &vl);
		if (ok) {
			vlen = (size_t)(vl[0] | vl[1] << 8);
			ok = take(&r, vlen, &val);
		}
		if (ok) {
			e.flags = get32(f);
			e.created = (int64_t)get64(f + 4);
			e.updated = (int64_t)get64(f + 12);
			vault_entry_set_value(&e, (const char *)val, vlen);
			ok = vault_check_name(e.name) == 0 &&
			     (!e.header || vault_check_header(e.header) == 0) &&
			     (!e.format || vault_check_format(e.format) == 0) &&
			     vault_check_value(e.value, e.value_len) == 0 &&
			     (!v->n_entries || strcmp(v->entries[v->n_entries - 1].name, e.name) < 0);
		}
		if (!ok) {
			vault_entry_clear(&e);
			return corrupt(path, "an entry does not read back");
		}
		v->entries = xrealloc(v->entries, (v->n_entries + 1) * sizeof *v->entries);
		v->entries[v->n_entries++] = e;
	}
	if (r.p != r.end)
		return corrupt(path, "bytes after the last entry");
	return 0;
}

/* ---- reading ---- */

static int parse_header(const char *path, const unsigned char *f, size_t len,
			struct vault_header *h)
{
	unsigned char sum[SUM_BYTES];

	if (len < BOX_AT + crypto_secretbox_MACBYTES + SUM_BYTES) {
		if (len >= 8 && memcmp(f, MAGIC, 8))
			return corrupt(path, "not a smolvm vault");
		return corrupt(path, "too short (truncated?)");
	}
	crypto_generichash(sum, SUM_BYTES, f, len - SUM_BYTES, NULL, 0);
	if (memcmp(f, MAGIC, 8))
		return corrupt(path, "not a smolvm vault");
	if (sodium_memcmp(sum, f + len - SUM_BYTES, SUM_BYTES))
		return corrupt(path, "checksum mismatch (damaged or truncated)");
	if (f[8] != VERSION) {
		err_set("%s is a vault of format %u, which this smolvm does not read (it reads %d): "
			"use a newer smolvm", path, f[8], VERSION);
		return -1;
	}
	h->kdf = f[9];
	h->opslimit = get64(f + 16);
	h->memlimit = get64(f + 24);
	memcpy(h->salt, f + 32, VAULT_SALT_BYTES);
	if (h->kdf == VAULT_PASSPHRASE) {
		if (h->opslimit < crypto_pwhash_OPSLIMIT_MIN || h->opslimit > OPSLIMIT_MAX ||
		    h->memlimit < crypto_pwhash_MEMLIMIT_MIN || h->memlimit > MEMLIMIT_MAX)
			return corrupt(path, "Argon2id limits out of range");
	} else if (h->kdf != VAULT_KEYFILE || h->opslimit || h->memlimit) {
		return corrupt(path, "unknown key kind");
	}
	if (get32(f + 88) != len - BOX_AT - SUM_BYTES)
		return corrupt(path, "box length does not match the file");
	return 0;
}

/* The whole file in *buf (malloc'd: it holds only ciphertext), its stat in *st.
 * 0 when there is no file. */
static int read_sealed(const char *path, unsigned char **buf, size_t *len, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		err_set("cannot open the vault %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		err_set("the vault %s is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((size_t)st->st_size > BOX_MAX + BOX_AT + SUM_BYTES) {
		close(fd);
		return corrupt(path, "far larger than any vault");
	}
	*buf = xmalloc((size_t)st->st_size + 1);
	while (n < (size_t)st->st_size + 1) {
		ssize_t r = read(fd, *buf + n, (size_t)st->st_size + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set("cannot read the vault %s: %s", path, strerror(errno));
			free(*buf);
			close(fd);
			return -1;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return 1;
}

int vault_read_header(const char *path, struct vault_header *h)
{
	unsigned char *f;
	size_t len;
	struct stat st;
	int rc = read_sealed(path, &f, &len, &st);

	if (rc <= 0)
		return rc;
	rc = parse_header(path, f, len, h) < 0 ? -1 : 1;
	free(f);
	return rc;
}

static const char *kdf_str(enum vault_kdf kdf)
{
	return kdf == VAULT_PASSPHRASE ? "passphrase" : "key file";
}

static void stamp_of(const struct stat *st, struct vault_stamp *s)
{
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = st->st_size;
	s->mtime = st->st_mtim;
}

int vault_open(const char *path, const struct vault_key *k, struct vault **out)
{
	unsigned char *f, check[CHECK_BYTES], *plain = NULL;
	struct vault_header h;
	struct vault *v;
	struct stat st;
	size_t len, box_len;
	int rc = read_sealed(path, &f, &len, &st);

	if (rc < 0)
		return -1;
	if (!rc) {
		*out = vault_new(k->kdf);
		return 0;
	}
	rc = -1;
	if (parse_header(path, f, len, &h) < 0)
		goto out;
	key_check(k, check);
	if (h.kdf != k->kdf) {
		err_set("wrong passphrase or key file: the vault %s is sealed with a %s, not a %s",
			path, kdf_str(h.kdf), kdf_str(k->kdf));
		goto out;
	}
	if (sodium_memcmp(check, f + 48, CHECK_BYTES)) {
		err_set("wrong passphrase or key file: the vault %s was sealed with another %s",
			path, kdf_str(h.kdf));
		goto out;
	}
	box_len = len - BOX_AT - SUM_BYTES;
	plain = locked(box_len - crypto_secretbox_MACBYTES);
	if (crypto_secretbox_open_easy(plain, f + BOX_AT, box_len, f + HEADER_BYTES, k->key) < 0) {
		corrupt(path, "it does not authenticate (it was altered)");
		goto out;
	}
	v = vault_new(h.kdf);
	if (plain_parse(path, plain, box_len - crypto_secretbox_MACBYTES, v) < 0) {
		vault_unref(v);
		goto out;
	}
	stamp_of(&st, &v->stamp);
	*out = v;
	rc = 0;
out:
	if (plain)
		sodium_free(plain);
	free(f);
	return rc;
}

bool vault_changed(const struct vault *v, const char *path)
{
	struct stat st;
	struct vault_stamp now = { 0 };

	if (stat(path, &st) == 0)
		stamp_of(&st, &now);
	return now.dev != v->stamp.dev || now.ino != v->stamp.ino || now.size != v->stamp.size ||
	       now.mtime.tv_sec != v->stamp.mtime.tv_sec ||
	       now.mtime.tv_nsec != v->stamp.mtime.tv_nsec;
}

/* ---- writing ---- */

int vault_save(const char *path, const struct vault *v, const struct vault_key *k)
{
	size_t plen = plain_size(v), len = BOX_AT + plen + crypto_secretbox_MACBYTES + SUM_BYTES;
	unsigned char *plain = locked(plen), *f = xcalloc(1, len);
	int rc;

	memcpy(f, MAGIC, 8);
	f[8] = VERSION;
	f[9] = (unsigned char)k->kdf;
	put64(f + 16, k->opslimit);
	put64(f + 24, k->memlimit);
	memcpy(f + 32, k->salt, VAULT_SALT_BYTES);
	key_check(k, f + 48);
	randombytes_buf(f + HEADER_BYTES, crypto_secretbox_NONCEBYTES);
	put32(f + 88, (uint32_t)(plen + crypto_secretbox_MACBYTES));
	plain_write(v, plain);
	crypto_secretbox_easy(f + BOX_AT, plain, plen, f + HEADER_BYTES, k->key);
	sodium_free(plain);
	crypto_generichash(f + len - SUM_BYTES, SUM_BYTES, f, len - SUM_BYTES, NULL, 0);
	rc = util_write_atomic(path, f, len, 0600);
	if (rc < 0)
		err_set("%s (the vault is unchanged)", err_msg());
	free(f);
	return rc;
}

int vault_lock(const char *path, int timeout_ms)
{
	char *lpath = xasprintf("%s.lock", path), *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int64_t until = util_now_ms() + timeout_ms;
	int fd;

	/* The first write may come before anything else made the home. */
	if (slash && slash != dir) {
		*slash = '\0';
		util_mkdir_p(dir, 0700);
	}
	free(dir);
	fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set("cannot open the vault's lock %s: %s", lpath, strerror(errno));
		free(lpath);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			err_set("cannot lock %s: %s", lpath, strerror(errno));
			goto fail;
		}
		if (util_now_ms() >= until) {
			err_set("another smolvm is writing the vault (%s has been locked for %d s): "
				"try again when it is done", lpath, timeout_ms / 1000);
			goto fail;
		}
		usleep(20000);
	}
	free(lpath);
	return fd;
fail:
	close(fd);
	free(lpath);
	return -1;
}

void vault_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* releases the flock */
}

/* Lock, open with open_k, edit (if any), seal with save_k, unlock. */
static int update(const char *path, const struct vault_key *open_k,
		  const struct vault_key *save_k, int (*edit)(struct vault *v, void *arg),
		  void *arg)
{
	struct vault *v;
	int fd = vault_lock(path, VAULT_LOCK_MS), rc = -1;

	if (fd < 0)
		return -1;
	if (vault_open(path, open_k, &v) == 0) {
		rc = edit && edit(v, arg) < 0 ? -1 : vault_save(path, v, save_k);
		vault_unref(v);
	}
	vault_unlock(fd);
	return rc;
}

int vault_update(const char *path, const struct vault_key *k,
		 int (*edit)(struct vault *v, void *arg), void *arg)
{
	return update(path, k, k, edit, arg);
}

int vault_reseal(const char *path, const struct vault_key *old, const struct vault_key *k)
{
	return update(path, old, k, NULL, NULL);
}

/* ---- the proxy's current vault ---- */

int vault_slot_init(struct vault_slot *s, const char *path, struct vault_key *key)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
	s->path = xstrdup(path);
	s->key = key;
	if (vault_open(path, key, &s->v) < 0) {
		vault_slot_destroy(s);
		return -1;
	}
	return 0;
}

static bool same_stamp(const struct vault_stamp *a, const struct stat *st)
{
	return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
	       a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int vault_slot_refresh(struct vault_slot *s)
{
	struct vault *v, *old;
	struct stat st;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (!vault_changed(s->v, s->path))
		goto out;
	if (stat(s->path, &st) == 0 && same_stamp(&s->failed, &st))
		goto out;
	if (vault_open(s->path, s->key, &v) < 0) {
		memset(&s->failed, 0, sizeof s->failed);
		if (stat(s->path, &st) == 0)
			stamp_of(&st, &s->failed);
		rc = -1;
		goto out;
	}
	old = s->v;
	s->v = v;
	vault_unref(old);
	rc = 1;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

struct vault *vault_slot_get(struct vault_slot *s)
{
	struct vault *v;

	pthread_mutex_lock(&s->lock);
	v = vault_ref(s->v);
	pthread_mutex_unlock(&s->lock);
	return v;
}

void vault_slot_destroy(struct vault_slot *s)
{
	vault_unref(s->v);
	vault_key_free(s->key);
	free(s->path);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof *s);
}
