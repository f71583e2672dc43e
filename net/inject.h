/*
 * inject: API keys put into a sandbox's requests by the egress proxy, so
 * that the guest only ever holds a placeholder. Each secret attached to a
 * sandbox has a random placeholder of its own; on a request to one of the
 * secret's hosts (over intercepted TLS, or plain HTTP when the secret
 * allows it) the proxy replaces the placeholder by the value in the
 * request's headers (and body, when the secret opts in), or sets the
 * secret's header outright. The values are scrubbed back to placeholders
 * in every response's headers and text bodies. Works on values that are
 * already decrypted (backend/vault.h holds them); nothing here keeps a
 * copy beyond the buffers it returns, which the caller wipes.
 */
#ifndef SMOLVM_INJECT_H
#define SMOLVM_INJECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http.h"
#include "net/match.h"

/* "smolvm-ph-" and 32 hex digits (128 random bits). One length for all,
 * so that no placeholder is a prefix of another. */
#define INJECT_PH_PREFIX "smolvm-ph-"
#define INJECT_PH_HEX 32
#define INJECT_PH_LEN (sizeof INJECT_PH_PREFIX - 1 + INJECT_PH_HEX)

/* Secrets one sandbox can have (a bit each in a uint64_t). */
#define INJECT_MAX 64

/* A request body that a secret is put into is read whole up to this size,
 * to send it with its new Content-Length; a longer one goes on chunked. */
#define INJECT_BODY_MAX (1u << 20)

/* A new placeholder from the kernel's random source. */
void inject_placeholder_new(char out[INJECT_PH_LEN + 1]);

/* Is s exactly the shape of a placeholder? */
bool inject_placeholder_valid(const char *s);

/* One secret attached to the sandbox, as the proxy uses it. */
struct inject_secret {
	const char *name;
	const char *placeholder;	/* INJECT_PH_LEN characters */
	const char *value;		/* value_len bytes, decrypted */
	size_t value_len;
	/* "api.example.com", "*.example.com" (strict subdomains) or an address
	 * in standard form, as policy rules write hosts. */
	char *const *hosts;
	size_t n_hosts;
	const char *header;	/* set outright on requests in scope; NULL: none */
	const char *format;	/* its value: one "%s" for the secret, "%%" a '%' */
	bool body;		/* also replace the placeholder in request bodies */
	bool plain_http;	/* also on plain HTTP requests */
};

/* The secrets of a sandbox: immutable once built, reference counted so that
 * a request keeps the set it started with while a reload swaps in another.
 * release(owner) runs when the last reference goes (it frees s and what
 * the values live in). */
struct inject_set {
	atomic_int refs;
	struct inject_secret *s;
	size_t n;
	void (*release)(void *owner);
	void *owner;
};

struct inject_set *inject_set_ref(struct inject_set *set);
void inject_set_unref(struct inject_set *set);

/* Does a request to host (tls: inside intercepted TLS) get secret s? */
bool inject_in_scope(const struct inject_secret *s, const struct match_host *host, bool tls);

/* The secrets of set in scope for the request, a bit each (set may be NULL). */
uint64_t inject_scope(const struct inject_set *set, const struct match_host *host, bool tls);

/*
 * The headers of request h that travel upstream, as "Name: value\r\n"
 * lines (*len bytes, NUL-terminated): hop-by-hop headers, those Connection
 * names, Host and Expect dropped (the proxy writes its own); for each
 * secret in scope its placeholder replaced by its value wherever it is in
 * a header's value, and its header (if any) written with the value in its
 * format, in place of whatever the guest sent under that name. With any
 * secret in scope Accept-Encoding becomes identity, so that a response
 * echoing the value can be scrubbed. *used gets a bit per secret put in.
 * Wipe the result with inject_free() (it may hold values).
 */
char *inject_request_headers(const struct inject_set *set, uint64_t scope,
			     const struct http_head *h, size_t *len, uint64_t *used);

/* The headers of response h that travel to the guest, hop-by-hop ones
 * dropped, every secret's value in them replaced by its placeholder.
 * Free with inject_free(). */
char *inject_response_headers(const struct inject_set *set, const struct http_head *h,
			      size_t *len);

/* text replaced the same way as a response header value (a status line's
 * reason); newly allocated, free with inject_free(). */
char *inject_scrub(const struct inject_set *set, const char *text, size_t len, size_t *out_len);

/* Wipe p's len bytes and free it; NULL is ignored. */
void inject_free(char *p, size_t len);

/* Is a response body of this head text that a value could be echoed in:
 * text/ *, JSON, XML, JavaScript, form data, or no Content-Type at all? */
bool inject_text_body(const struct http_head *h);

/*
 * Replacement in a body that streams: any of the pairs' from strings is
 * replaced by its to string, the longest at the leftmost place first, also
 * when it arrives split across feeds (up to the longest from minus one
 * byte is held back until the next feed or the end).
 */
struct inject_pair {
	const char *from, *to;
	size_t from_len, to_len;
};

struct inject_stream {
	struct inject_pair pairs[INJECT_MAX];
	unsigned secret[INJECT_MAX];	/* the index in the set of each pair's secret */
	size_t n;
	size_t longest;
	char *buf;		/* the held-back bytes, then the next feed */
	size_t len, cap;
	uint64_t hits;		/* a bit per pair that was replaced */
};

/* Placeholder -> value for the secrets in scope that opt into bodies; false
 * (and nothing to free) when there is none. */
bool inject_stream_request(struct inject_stream *st, const struct inject_set *set,
			   uint64_t scope);

/* Value -> placeholder for every secret of set; false when there is none. */
bool inject_stream_scrub(struct inject_stream *st, const struct inject_set *set);

/*
 * Feed p[0..n) (end: nothing follows; hold nothing back): the replaced
 * bytes go to out(arg, bytes, len), which returns 0 or -1 to stop. 0, or
 * -1 when out did.
 */
int inject_stream_feed(struct inject_stream *st, const char *p, size_t n, bool end,
		       int (*out)(void *arg, const char *p, size_t n), void *arg);

/* The secrets (a bit each, by index in the set) whose pairs were replaced. */
uint64_t inject_stream_used(const struct inject_stream *st);

/* Wipe and free what the stream holds. */
void inject_stream_free(struct inject_stream *st);

#endif
