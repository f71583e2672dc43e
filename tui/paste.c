#include "tui/paste.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"

struct word {
	char *s;
	size_t len, cap;
};

static void word_add(struct word *w, char c)
{
	if (w->len + 2 > w->cap) {
		w->cap = w->cap ? 2 * w->cap : 64;
		w->s = xrealloc(w->s, w->cap);
	}
	w->s[w->len++] = c;
	w->s[w->len] = '\0';
}

static void paths_add(struct paste_paths *p, char *s)
{
	p->v = xrealloc(p->v, (p->n + 1) * sizeof *p->v);
	p->v[p->n++] = s;
}

void paste_paths_free(struct paste_paths *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* Is host (len bytes) this machine: empty, "localhost" or its name? */
static bool local_host(const char *host, size_t len)
{
	char name[256];

	if (!len || (len == 9 && !strncasecmp(host, "localhost", 9)))
		return true;
	if (gethostname(name, sizeof name) < 0)
		return false;
	name[sizeof name - 1] = '\0';
	return strlen(name) == len && !strncasecmp(host, name, len);
}

char *paste_percent_decode(const char *s, size_t len)
{
	struct word w = { .s = xmalloc(len + 2), .cap = len + 2 };

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < len ? util_hex_value(s[i + 1]) : -1,
			    lo = hi >= 0 ? util_hex_value(s[i + 2]) : -1;

			if (lo < 0 || (hi == 0 && lo == 0)) {
				free(w.s);
				return NULL;
			}
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (!c) {
			free(w.s);
			return NULL;
		}
		word_add(&w, c);
	}
	w.s[w.len] = '\0';
	return w.s;
}

char *paste_uri_path(const char *uri, size_t len)
{
	const char *p, *end = uri + len, *q;

	if (len < 6 || strncasecmp(uri, "file:", 5))
		return NULL;
	p = uri + 5;
	if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
		const char *host = p + 2, *slash = memchr(host, '/', (size_t)(end - host));

		if (!slash || !local_host(host, (size_t)(slash - host)))
			return NULL;
		p = slash;
	}
	if (p >= end || *p != '/')
		return NULL;
	/* A query or a fragment is not part of the path. */
	for (q = p; q < end && *q != '?' && *q != '#'; q++)
		;
	return paste_percent_decode(p, (size_t)(q - p));
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The word is complete: a file: URI becomes its path. */
static int word_end(struct word *w, struct paste_paths *out)
{
	char *s = w->s;

	if (w->len >= 5 && !strncasecmp(s, "file:", 5)) {
		s = paste_uri_path(w->s, w->len);
		free(w->s);
		if (!s) {
			*w = (struct word){ 0 };
			return -1;
		}
	}
	paths_add(out, s ? s : xstrdup(""));
	*w = (struct word){ 0 };
	return 0;
}

int paste_split(const char *text, size_t len, struct paste_paths *out)
{
	struct word w = { 0 };
	bool in_word = false;
	char quote = 0;

	*out = (struct paste_paths){ 0 };
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!c)
			goto fail;
		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else
				word_add(&w, c);
			continue;
		}
		if (quote == '"') {
			if (c == '"') {
				quote = 0;
			} else if (c == '\\' && i + 1 < len && strchr("\"\\$`\n", text[i + 1]) &&
				   text[i + 1]) {
				if (text[++i] != '\n')
					word_add(&w, text[i]);
			} else {
				word_add(&w, c);
			}
			continue;
		}
		if (blank(c)) {
			if (in_word && word_end(&w, out) < 0)
				goto fail;
			in_word = false;
			continue;
		}
		if (c == '\\') {
			if (i + 1 >= len)
				goto fail;
			if (text[++i] == '\n')
				continue;	/* a line continued */
			if (!text[i])
				goto fail;
			word_add(&w, text[i]);
		} else if (c == '\'' || c == '"') {
			quote = c;
		} else {
			word_add(&w, c);
		}
		in_word = true;
	}
	if (quote)
		goto fail;
	if (in_word && word_end(&w, out) < 0)
		goto fail;
	return 0;
fail:
	free(w.s);
	paste_paths_free(out);
	return -1;
}

bool paste_files(const char *text, size_t len, struct paste_paths *out)
{
	struct stat st;

	if (paste_split(text, len, out) < 0)
		return false;
	if (!out->n)
		return false;
	for (size_t i = 0; i < out->n; i++) {
		if (out->v[i][0] != '/' || stat(out->v[i], &st) < 0 ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
			paste_paths_free(out);
			return false;
		}
	}
	return true;
}
