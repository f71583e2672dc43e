#include "net/http.h"

#include <string.h>
#include <strings.h>

#include "backend/util.h"

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* A byte allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool eq_ci(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && !strncasecmp(s, lit, len);
}

bool http_header_is(const struct http_header *hd, const char *name)
{
	return eq_ci(hd->name, hd->name_len, name);
}

/*
 * The line starting at pos: *end is where it stops (before CRLF), *next
 * where the following one starts. 1 for a line, 0 if buf ends first, -1
 * for a line ending in a bare LF or holding a bare CR.
 */
static int next_line(const char *buf, size_t len, size_t pos, size_t *end, size_t *next,
		     const char **why)
{
	for (size_t i = pos; i < len; i++) {
		if (buf[i] == '\n') {
			*why = "line ends in a bare LF (CRLF needed)";
			return -1;
		}
		if (buf[i] != '\r')
			continue;
		if (i + 1 == len)
			return 0;
		if (buf[i + 1] != '\n') {
			*why = "bare CR in a line";
			return -1;
		}
		*end = i;
		*next = i + 2;
		return 1;
	}
	return 0;
}

static int parse_version(const char *s, size_t len, int *minor, const char **why)
{
	if (len == 8 && !memcmp(s, "HTTP/1.", 7) && (s[7] == '0' || s[7] == '1')) {
		*minor = s[7] - '0';
		return 0;
	}
	*why = "not HTTP/1.0 or HTTP/1.1";
	return -1;
}

static int parse_request_line(const char *s, size_t len, struct http_head *h, const char **why)
{
	size_t i = 0, t;

	while (i < len && is_tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i == len || s[i] != ' ') {
		*why = "malformed request line (method)";
		return -1;
	}
	h->method = s;
	h->method_len = i;
	t = ++i;
	while (i < len && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
		i++;
	if (i == t || i == len || s[i] != ' ') {
		*why = "malformed request line (target)";
		return -1;
	}
	h->target = s + t;
	h->target_len = i - t;
	i++;
	return parse_version(s + i, len - i, &h->minor, why);
}

static int parse_status_line(const char *s, size_t len, struct http_head *h, const char **why)
{
	if (len < 12 || s[8] != ' ' || parse_version(s, 8, &h->minor, why) < 0) {
		*why = "malformed status line";
		return -1;
	}
	for (int i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9') {
			*why = "malformed status code";
			return -1;
		}
	h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (h->status < 100) {
		*why = "status code below 100";
		return -1;
	}
	h->reason = s + len;
	h->reason_len = 0;
	if (len > 12) {
		if (s[12] != ' ') {
			*why = "malformed status line";
			return -1;
		}
		for (size_t i = 13; i < len; i++)
			if (!is_value_char((unsigned char)s[i])) {
				*why = "control character in the reason phrase";
				return -1;
			}
		h->reason = s + 13;
		h->reason_len = len - 13;
	}
	return 0;
}

static int parse_header_line(const char *s, size_t len, struct http_header *hd, const char **why)
{
	size_t i = 0, v, e;

	if (s[0] == ' ' || s[0] == '\t') {
		*why = "obsolete line folding in a header";
		return -1;
	}
	while (i < len && is_tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i == len || s[i] != ':') {
		*why = i < len && (s[i] == ' ' || s[i] == '\t') ? "space before a header's colon"
								 : "malformed header name";
		return -1;
	}
	hd->name = s;
	hd->name_len = i;
	for (v = i + 1; v < len && (s[v] == ' ' || s[v] == '\t'); v++)
		;
	for (e = v; e < len; e++)
		if (!is_value_char((unsigned char)s[e])) {
			*why = "control character in a header value";
			return -1;
		}
	while (e > v && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	hd->value = s + v;
	hd->value_len = e - v;
	return 0;
}

/* Call fn for each element of a comma-separated list; stops at a non-zero return. */
static int each_element(const struct http_header *hd,
			int (*fn)(const char *s, size_t len, void *arg), void *arg)
{
	const char *s = hd->value, *end = s + hd->value_len;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *e = comma ? comma : end;
		const char *a = s;
		int rc;

		while (a < e && (*a == ' ' || *a == '\t'))
			a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > a && (rc = fn(a, (size_t)(e - a), arg)) != 0)
			return rc;
		s = comma ? comma + 1 : end;
	}
	return 0;
}

struct conn_flags {
	bool close, upgrade, bad;
};

static int connection_token(const char *s, size_t len, void *arg)
{
	struct conn_flags *f = arg;

	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i])) {
			f->bad = true;
			return 1;
		}
	if (eq_ci(s, len, "close"))
		f->close = true;
	else if (eq_ci(s, len, "upgrade"))
		f->upgrade = true;
	return 0;
}

static int parse_length(const struct http_header *hd, uint64_t *out, const char **why)
{
	uint64_t n = 0;

	if (hd->value_len == 0 || hd->value_len > 18) {
		*why = "malformed Content-Length";
		return -1;
	}
	for (size_t i = 0; i < hd->value_len; i++) {
		if (hd->value[i] < '0' || hd->value[i] > '9') {
			*why = "malformed Content-Length";
			return -1;
		}
		n = n * 10 + (uint64_t)(hd->value[i] - '0');
	}
	*out = n;
	return 0;
}

/* What the headers say about framing and the connection, common to both kinds. */
static int check_headers(struct http_head *h, bool request, const char **why)
{
	const struct http_header *cl = NULL, *te = NULL, *upgrade = NULL;
	struct conn_flags f = { 0 };

	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *hd = &h->headers[i];

		if (http_header_is(hd, "content-length")) {
			if (cl) {
				*why = "more than one Content-Length";
				return -1;
			}
			cl = hd;
		} else if (http_header_is(hd, "transfer-encoding")) {
			if (te) {
				*why = "more than one Transfer-Encoding";
				return -1;
			}
			te = hd;
		} else if (http_header_is(hd, "host") && request) {
			if (h->host) {
				*why = "more than one Host";
				return -1;
			}
			h->host = hd;
		} else if (http_header_is(hd, "connection")) {
			each_element(hd, connection_token, &f);
			if (f.bad) {
				*why = "malformed Connection header";
				return -1;
			}
		} else if (http_header_is(hd, "upgrade")) {
			if (upgrade) {
				*why = "more than one Upgrade";
				return -1;
			}
			upgrade = hd;
		} else if (http_header_is(hd, "expect") && request) {
			if (!eq_ci(hd->value, hd->value_len, "100-continue") || h->expect_continue) {
				*why = "unsupported Expect";
				return -1;
			}
			h->expect_continue = true;
		}
	}
	if (cl && te) {
		*why = "both Content-Length and Transfer-Encoding";
		return -1;
	}
	if (te && (!eq_ci(te->value, te->value_len, "chunked") || h->minor == 0)) {
		*why = "Transfer-Encoding other than chunked (or in HTTP/1.0)";
		return -1;
	}
	h->framing = HTTP_BODY_NONE;
	if (te) {
		h->framing = HTTP_BODY_CHUNKED;
	} else if (cl) {
		if (parse_length(cl, &h->length, why) < 0)
			return -1;
		h->framing = HTTP_BODY_LENGTH;
	}
	h->keep_alive = h->minor == 1 && !f.close;
	h->websocket = h->minor == 1 && f.upgrade && upgrade &&
		       eq_ci(upgrade->value, upgrade->value_len, "websocket");
	return 0;
}

/* The head's lines: the first is given to first_line, the rest are headers. */
static int parse_head(const char *buf, size_t len, struct http_head *h, bool request,
		      const char **why)
{
	size_t pos = 0, end, next;
	int rc;

	memset(h, 0, sizeof *h);
	rc = next_line(buf, len, pos, &end, &next, why);
	if (rc == 1) {
		if (end == 0) {
			*why = "empty line before the start line";
			return -1;
		}
		if ((request ? parse_request_line : parse_status_line)(buf, end, h, why) < 0)
			return -1;
		pos = next;
		while ((rc = next_line(buf, len, pos, &end, &next, why)) == 1) {
			if (end == pos) {
				pos = next;
				break;
			}
			if (h->n_headers == HTTP_HEADERS_MAX) {
				*why = "too many headers";
				return -1;
			}
			if (parse_header_line(buf + pos, end - pos, &h->headers[h->n_headers++],
					      why) < 0)
				return -1;
			pos = next;
		}
	}
	if (rc < 0)
		return -1;
	if (rc == 0) {
		if (len >= HTTP_HEAD_MAX) {
			*why = "head longer than 64 KiB";
			return -1;
		}
		return 0;
	}
	if (pos > HTTP_HEAD_MAX) {
		*why = "head longer than 64 KiB";
		return -1;
	}
	if (check_headers(h, request, why) < 0)
		return -1;
	return (int)pos;
}

int http_parse_request(const char *buf, size_t len, struct http_head *h, const char **why)
{
	int n = parse_head(buf, len, h, true, why);

	if (n <= 0)
		return n;
	if (h->minor == 1 && !h->host) {
		*why = "HTTP/1.1 request without Host";
		return -1;
	}
	return n;
}

int http_parse_response(const char *buf, size_t len, const char *method, struct http_head *h,
			const char **why)
{
	int n = parse_head(buf, len, h, false, why);

	if (n <= 0)
		return n;
	if (!strcmp(method, "HEAD") || h->status < 200 || h->status == 204 || h->status == 304 ||
	    (!strcmp(method, "CONNECT") && h->status < 300))
		h->framing = HTTP_BODY_NONE;
	else if (h->framing == HTTP_BODY_NONE)
		h->framing = HTTP_BODY_CLOSE;
	return n;
}

struct named {
	const struct http_header *hd;
	bool found;
};

static int names_header(const char *s, size_t len, void *arg)
{
	struct named *n = arg;

	if (eq_ci(s, len, "close") || eq_ci(s, len, "keep-alive") || eq_ci(s, len, "upgrade"))
		return 0;
	if (len == n->hd->name_len && !strncasecmp(s, n->hd->name, len)) {
		n->found = true;
		return 1;
	}
	return 0;
}

bool http_header_dropped(const struct http_head *h, const struct http_header *hd)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
		"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
		"content-length",
	};
	struct named n = { hd, false };

	for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
		if (http_header_is(hd, hop[i]))
			return true;
	for (size_t i = 0; i < h->n_headers && !n.found; i++)
		if (http_header_is(&h->headers[i], "connection"))
			each_element(&h->headers[i], names_header, &n);
	return n.found;
}

enum {
	CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF,
	CH_TRAILER_START, CH_TRAILER, CH_TRAILER_LF, CH_END_LF, CH_DONE,
};

int http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len,
			size_t *used, const char **why)
{
	size_t i = 0, out = 0;
	int rc = 0;

	*why = NULL;
	while (i < len && rc == 0) {
		unsigned char ch = (unsigned char)buf[i];
		int d;

		switch (c->state) {
		case CH_SIZE:
			if ((d = util_hex_value((char)ch)) >= 0) {
				if (++c->digits > 16 || (c->left >> 59)) {
					*why = "chunk size too large";
					return -1;
				}
				c->left = c->left * 16 + (uint64_t)d;
			} else if (c->digits && ch == ';') {
				c->state = CH_EXT;
			} else if (c->digits && ch == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				*why = "malformed chunk size";
				return -1;
			}
			i++;
			break;
		case CH_EXT:
			if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (!is_value_char(ch) || ++c->trailers > HTTP_TRAILERS_MAX) {
				*why = "malformed chunk extension";
				return -1;
			}
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n') {
				*why = "chunk size line does not end in CRLF";
				return -1;
			}
			c->state = c->left ? CH_DATA : CH_TRAILER_START;
			c->trailers = 0;
			i++;
			break;
		case CH_DATA: {
			size_t n = len - i;

			if ((uint64_t)n > c->left)
				n = (size_t)c->left;
			memmove(buf + out, buf + i, n);
			out += n;
			i += n;
			c->left -= n;
			if (!c->left)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
		case CH_DATA_LF:
			if (ch != (c->state == CH_DATA_CR ? '\r' : '\n')) {
				*why = "chunk data does not end in CRLF where its size says";
				return -1;
			}
			c->state = c->state == CH_DATA_CR ? CH_DATA_LF : CH_SIZE;
			c->digits = 0;
			i++;
			break;
		case CH_TRAILER_START:
			if (ch == '\r') {
				c->state = CH_END_LF;
			} else if (ch == ' ' || ch == '\t' || ch == '\n' || !is_value_char(ch)) {
				*why = "malformed trailer";
				return -1;
			} else {
				c->state = CH_TRAILER;
				c->trailers++;
			}
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\r') {
				c->state = CH_TRAILER_LF;
			} else if (!is_value_char(ch) || ++c->trailers > HTTP_TRAILERS_MAX) {
				*why = "malformed or oversized trailer";
				return -1;
			}
			i++;
			break;
		case CH_TRAILER_LF:
		case CH_END_LF:
			if (ch != '\n') {
				*why = "trailer line does not end in CRLF";
				return -1;
			}
			if (c->state == CH_END_LF) {
				c->state = CH_DONE;
				rc = 1;
			} else {
				c->state = CH_TRAILER_START;
			}
			i++;
			break;
		case CH_DONE:
			rc = 1;
			break;
		}
	}
	if (c->state == CH_DONE)
		rc = 1;
	*out_len = out;
	*used = i;
	return rc;
}
