#include "net/inject.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "backend/util.h"

void inject_placeholder_new(char out[INJECT_PH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[INJECT_PH_HEX / 2];
	size_t got = 0, o = sizeof INJECT_PH_PREFIX - 1;

	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);

		if (n < 0)
			die("getrandom: cannot make a placeholder");
		got += (size_t)n;
	}
	memcpy(out, INJECT_PH_PREFIX, o);
	for (size_t i = 0; i < sizeof r; i++) {
		out[o++] = hex[r[i] >> 4];
		out[o++] = hex[r[i] & 15];
	}
	out[o] = '\0';
}

bool inject_placeholder_valid(const char *s)
{
	size_t p = sizeof INJECT_PH_PREFIX - 1;

	if (strlen(s) != INJECT_PH_LEN || strncmp(s, INJECT_PH_PREFIX, p))
		return false;
	for (s += p; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

struct inject_set *inject_set_ref(struct inject_set *set)
{
	if (set)
		atomic_fetch_add(&set->refs, 1);
	return set;
}

void inject_set_unref(struct inject_set *set)
{
	if (set && atomic_fetch_sub(&set->refs, 1) == 1)
		set->release(set->owner);
}

/* ---- scope ------------------------------------------------------------------------ */

static bool host_matches(const char *entry, const struct match_host *host)
{
	struct match_host e;
	const char *why;

	if (entry[0] == '*' && entry[1] == '.') {
		size_t sl = strlen(entry + 1), hl = strlen(host->name);

		/* ".example.com" at the end, and at least one label before it. */
		return !host->is_ip && hl > sl && !strcmp(host->name + hl - sl, entry + 1);
	}
	if (!match_host_parse(entry, strlen(entry), &e, &why))
		return false;
	return match_host_same(&e, host);
}

bool inject_in_scope(const struct inject_secret *s, const struct match_host *host, bool tls)
{
	if (!tls && !s->plain_http)
		return false;
	for (size_t i = 0; i < s->n_hosts; i++)
		if (host_matches(s->hosts[i], host))
			return true;
	return false;
}

uint64_t inject_scope(const struct inject_set *set, const struct match_host *host, bool tls)
{
	uint64_t m = 0;

	for (size_t i = 0; set && i < set->n && i < INJECT_MAX; i++)
		if (inject_in_scope(&set->s[i], host, tls))
			m |= 1ull << i;
	return m;
}

/* ---- a growing buffer whose old copies are wiped ------------------------------------ */

struct buf {
	char *s;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *s = xmalloc(cap);

		/* Not realloc: the old block may hold a value and must be wiped. */
		if (b->s)
			memcpy(s, b->s, b->len);
		inject_free(b->s, b->cap);
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static char *buf_done(struct buf *b, size_t *len)
{
	if (!b->s)
		buf_add(b, "", 0);
	*len = b->len;
	return b->s;
}

void inject_free(char *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

/* The pair whose from is at text[i] (the longest if several are), or n. */
static size_t pair_at(const struct inject_pair *pairs, size_t n, const char *text, size_t len,
		      size_t i)
{
	size_t best = n;

	for (size_t k = 0; k < n; k++) {
		const struct inject_pair *pk = &pairs[k];

		if (pk->from_len && pk->from_len <= len - i && text[i] == pk->from[0] &&
		    !memcmp(text + i, pk->from, pk->from_len) &&
		    (best == n || pk->from_len > pairs[best].from_len))
			best = k;
	}
	return best;
}

/*
 * Append text[0..len) to b with every pair's from that starts before
 * decided replaced by its to (text beyond decided is only looked at).
 * Returns where the appended part ends (decided, or past it when a
 * replacement reached further); *hits gets a bit per pair replaced.
 */
static size_t replace_into(struct buf *b, const struct inject_pair *pairs, size_t n,
			   const char *text, size_t len, size_t decided, uint64_t *hits)
{
	size_t i = 0, start = 0;

	while (i < decided) {
		size_t k = pair_at(pairs, n, text, len, i);

		if (k == n) {
			i++;
			continue;
		}
		buf_add(b, text + start, i - start);
		buf_add(b, pairs[k].to, pairs[k].to_len);
		*hits |= 1ull << k;
		i += pairs[k].from_len;
		start = i;
	}
	buf_add(b, text + start, i - start);
	return i;
}

/* Pairs for the secrets in scope: placeholder -> value. bits[k] is the
 * secret of pair k. */
static size_t request_pairs(const struct inject_set *set, uint64_t scope, bool body_only,
			    struct inject_pair *pairs, unsigned *bits)
{
	size_t n = 0;

	for (size_t i = 0; set && i < set->n && i < INJECT_MAX; i++) {
		const struct inject_secret *s = &set->s[i];

		if (!(scope & (1ull << i)) || (body_only && !s->body))
			continue;
		pairs[n] = (struct inject_pair){ s->placeholder, s->value, strlen(s->placeholder),
						 s->value_len };
		bits[n++] = (unsigned)i;
	}
	return n;
}

static size_t scrub_pairs(const struct inject_set *set, struct inject_pair *pairs,
			  unsigned *bits)
{
	size_t n = 0;

	for (size_t i = 0; set && i < set->n && i < INJECT_MAX; i++) {
		const struct inject_secret *s = &set->s[i];

		if (!s->value_len)
			continue;
		pairs[n] = (struct inject_pair){ s->value, s->placeholder, s->value_len,
						 strlen(s->placeholder) };
		bits[n++] = (unsigned)i;
	}
	return n;
}

/* Secret bits from pair bits. */
static uint64_t secret_bits(uint64_t pair_hits, const unsigned *bits, size_t n)
{
	uint64_t m = 0;

	for (size_t k = 0; k < n; k++)
		if (pair_hits & (1ull << k))
			m |= 1ull << bits[k];
	return m;
}

/* The value of secret s's header: its format with the value for "%s". */
static void add_formatted(struct buf *b, const struct inject_secret *s)
{
	const char *f = s->format ? s->format : "%s";

	for (; *f; f++) {
		if (f[0] == '%' && f[1] == 's') {
			buf_add(b, s->value, s->value_len);
			f++;
		} else if (f[0] == '%' && f[1] == '%') {
			buf_add(b, "%", 1);
			f++;
		} else {
			buf_add(b, f, 1);
		}
	}
}

/* Is hd the header that a secret in scope sets outright? */
static bool set_outright(const struct inject_set *set, uint64_t scope,
			 const struct http_header *hd)
{
	for (size_t i = 0; set && i < set->n && i < INJECT_MAX; i++)
		if ((scope & (1ull << i)) && set->s[i].header && http_header_is(hd, set->s[i].header))
			return true;
	return false;
}

char *inject_request_headers(const struct inject_set *set, uint64_t scope,
			     const struct http_head *h, size_t *len, uint64_t *used)
{
	struct inject_pair pairs[INJECT_MAX];
	unsigned bits[INJECT_MAX];
	size_t n = request_pairs(set, scope, false, pairs, bits);
	struct buf b = { 0 };
	uint64_t hits = 0;

	*used = 0;
	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *hd = &h->headers[i];

		if (http_header_dropped(h, hd) || http_header_is(hd, "host") ||
		    http_header_is(hd, "expect") || set_outright(set, scope, hd) ||
		    (scope && http_header_is(hd, "accept-encoding")))
			continue;
		buf_add(&b, hd->name, hd->name_len);
		buf_str(&b, ": ");
		replace_into(&b, pairs, n, hd->value, hd->value_len, hd->value_len, &hits);
		buf_str(&b, "\r\n");
	}
	*used = secret_bits(hits, bits, n);
	for (size_t i = 0; set && i < set->n && i < INJECT_MAX; i++) {
		const struct inject_secret *s = &set->s[i];

		if (!(scope & (1ull << i)) || !s->header)
			continue;
		buf_str(&b, s->header);
		buf_str(&b, ": ");
		add_formatted(&b, s);
		buf_str(&b, "\r\n");
		*used |= 1ull << i;
	}
	if (scope)
		buf_str(&b, "Accept-Encoding: identity\r\n");
	return buf_done(&b, len);
}

char *inject_response_headers(const struct inject_set *set, const struct http_head *h,
			      size_t *len)
{
	struct inject_pair pairs[INJECT_MAX];
	unsigned bits[INJECT_MAX];
	size_t n = scrub_pairs(set, pairs, bits);
	struct buf b = { 0 };
	uint64_t hits = 0;

	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *hd = &h->headers[i];

		if (http_header_dropped(h, hd))
			continue;
		buf_add(&b, hd->name, hd->name_len);
		buf_str(&b, ": ");
		replace_into(&b, pairs, n, hd->value, hd->value_len, hd->value_len, &hits);
		buf_str(&b, "\r\n");
	}
	return buf_done(&b, len);
}

char *inject_scrub(const struct inject_set *set, const char *text, size_t len, size_t *out_len)
{
	struct inject_pair pairs[INJECT_MAX];
	unsigned bits[INJECT_MAX];
	size_t n = scrub_pairs(set, pairs, bits);
	struct buf b = { 0 };
	uint64_t hits = 0;

	replace_into(&b, pairs, n, text, len, len, &hits);
	return buf_done(&b, out_len);
}

/* ---- bodies ------------------------------------------------------------------------- */

bool inject_text_body(const struct http_head *h)
{
	static const char *const types[] = {
		"application/json", "application/xml", "application/javascript",
		"application/ecmascript", "application/x-javascript",
		"application/x-www-form-urlencoded", "application/x-ndjson",
	};
	const struct http_header *ct = NULL;
	char t[128];
	size_t n;

	for (size_t i = 0; i < h->n_headers && !ct; i++)
		if (http_header_is(&h->headers[i], "content-type"))
			ct = &h->headers[i];
	if (!ct)
		return true;
	/* The media type, without parameters and spaces, lower case. */
	for (n = 0; n < ct->value_len && n < sizeof t - 1; n++) {
		char c = ct->value[n];

		if (c == ';' || c == ' ' || c == '\t')
			break;
		t[n] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	t[n] = '\0';
	if (n >= 5 && !memcmp(t, "text/", 5))
		return true;
	if (n > 5 && (!strcmp(t + n - 5, "+json") || !strcmp(t + n - 4, "+xml")))
		return true;
	for (size_t i = 0; i < ARRAY_LEN(types); i++)
		if (!strcmp(t, types[i]))
			return true;
	return false;
}

static bool stream_setup(struct inject_stream *st, size_t n)
{
	st->n = n;
	st->longest = 0;
	st->buf = NULL;
	st->len = st->cap = 0;
	st->hits = 0;
	for (size_t k = 0; k < n; k++)
		if (st->pairs[k].from_len > st->longest)
			st->longest = st->pairs[k].from_len;
	return n > 0;
}

bool inject_stream_request(struct inject_stream *st, const struct inject_set *set,
			   uint64_t scope)
{
	return stream_setup(st, request_pairs(set, scope, true, st->pairs, st->secret));
}

bool inject_stream_scrub(struct inject_stream *st, const struct inject_set *set)
{
	return stream_setup(st, scrub_pairs(set, st->pairs, st->secret));
}

uint64_t inject_stream_used(const struct inject_stream *st)
{
	return secret_bits(st->hits, st->secret, st->n);
}

int inject_stream_feed(struct inject_stream *st, const char *p, size_t n, bool end,
		       int (*out)(void *arg, const char *p, size_t n), void *arg)
{
	struct buf b = { 0 }, all = { st->buf, st->len, st->cap };
	size_t decided;
	int rc = 0;

	buf_add(&all, p, n);
	/* A match can start only where all of the longest from still fits;
	 * from there on it is decided at the next feed. */
	if (end || all.len < st->longest)
		decided = end ? all.len : 0;
	else
		decided = all.len - st->longest + 1;
	if (decided) {
		decided = replace_into(&b, st->pairs, st->n, all.s, all.len, decided, &st->hits);
		if (b.len)
			rc = out(arg, b.s, b.len);
		inject_free(b.s, b.cap);
		memmove(all.s, all.s + decided, all.len - decided);
		explicit_bzero(all.s + all.len - decided, decided);
		all.len -= decided;
	}
	st->buf = all.s;
	st->len = all.len;
	st->cap = all.cap;
	return rc;
}

void inject_stream_free(struct inject_stream *st)
{
	inject_free(st->buf, st->cap);
	st->buf = NULL;
	st->len = st->cap = 0;
}
