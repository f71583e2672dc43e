/*
 * http: strict HTTP/1.1 message heads and chunked bodies, as the egress
 * proxy reads them from the guest and from upstream servers. Anything two
 * parsers could read two ways is refused, never repaired: bare LF, bare
 * CR, obs-fold, control characters in a header, Content-Length together
 * with Transfer-Encoding, a repeated Content-Length, a second Host. The
 * proxy re-serialises what it parsed, so refused input never travels on.
 * Pure functions over caller buffers; nothing allocates.
 */
#ifndef SMOLVM_HTTP_H
#define SMOLVM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A head (request or status line plus headers) is at most this long. */
#define HTTP_HEAD_MAX (64 * 1024)
#define HTTP_HEADERS_MAX 128
/* Trailers after a chunked body are read and dropped, up to this much. */
#define HTTP_TRAILERS_MAX 8192

/* Points into the parsed buffer, which must outlive the head. */
struct http_header {
	const char *name;
	size_t name_len;
	const char *value;	/* without surrounding spaces */
	size_t value_len;
};

/* How the body after a head is delimited. */
enum http_framing {
	HTTP_BODY_NONE,
	HTTP_BODY_LENGTH,	/* Content-Length bytes */
	HTTP_BODY_CHUNKED,
	HTTP_BODY_CLOSE,	/* until the connection closes (responses only) */
};

struct http_head {
	/* Request line (requests only) */
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	/* Status line (responses only) */
	int status;
	const char *reason;
	size_t reason_len;

	int minor;		/* HTTP/1.<minor>: 0 or 1 */
	struct http_header headers[HTTP_HEADERS_MAX];
	size_t n_headers;
	const struct http_header *host;	/* requests: the Host header, NULL if none */
	enum http_framing framing;
	uint64_t length;	/* with HTTP_BODY_LENGTH */
	bool keep_alive;	/* HTTP/1.1 and no "Connection: close" */
	bool expect_continue;	/* requests: "Expect: 100-continue" */
	bool websocket;		/* "Upgrade: websocket" with "Connection: upgrade" */
};

/*
 * Parse a request head from buf[0..len). Returns the head's length (the
 * body, or the next request, starts there), 0 if buf holds only the start
 * of a valid head (read more; at HTTP_HEAD_MAX bytes it is refused), or -1
 * with *why for a head to answer with 400 and a close.
 */
int http_parse_request(const char *buf, size_t len, struct http_head *h, const char **why);

/* The same for a response to a request with method (framing depends on
 * it: HEAD and CONNECT). 1xx, 204 and 304 responses have no body. */
int http_parse_response(const char *buf, size_t len, const char *method, struct http_head *h,
			const char **why);

/* Case-insensitive comparison of a header's name. */
bool http_header_is(const struct http_header *hd, const char *name);

/*
 * Does the proxy drop this header when it re-serialises h? Hop-by-hop
 * headers (Connection, Keep-Alive, Proxy-*, TE, Trailer, Upgrade and every
 * header Connection names) and the framing headers (Content-Length,
 * Transfer-Encoding), which the proxy writes itself.
 */
bool http_header_dropped(const struct http_head *h, const struct http_header *hd);

/* A chunked body being decoded; zero it before the first call. */
struct http_chunked {
	int state;
	uint64_t left;		/* data bytes left in the current chunk */
	unsigned digits;	/* hex digits read of the current size */
	size_t trailers;	/* trailer bytes read */
};

/*
 * Decode buf[0..len) in place: the body's data is moved to the front of
 * buf, *out_len bytes of it; *used input bytes were consumed. Returns 1
 * when the body has ended (the last chunk and the trailers are read;
 * bytes after *used belong to the next message), 0 when it needs more
 * input, -1 with *why if the body is malformed. Chunk extensions and
 * trailers are dropped.
 */
int http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len,
			size_t *used, const char **why);

#endif
