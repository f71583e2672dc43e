#include "tui/theme.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "tui/colour.h"

static const struct {
	const char *key;
	unsigned mono;		/* added when there is no colour */
} elems[TH_COUNT] = {
	[TH_LIST] = { "list", 0 },
	[TH_LIST_SELECTED] = { "list_selected", THA_REVERSE },
	[TH_LIST_HEADER] = { "list_header", THA_BOLD | THA_UNDERLINE },
	[TH_HEADER] = { "header", THA_BOLD },
	[TH_FOOTER] = { "footer", 0 },
	[TH_FOOTER_KEY] = { "footer_key", THA_BOLD },
	[TH_STATUS] = { "status", 0 },
	[TH_STATUS_ERROR] = { "status_error", THA_BOLD },
	[TH_BORDER] = { "border", 0 },
	[TH_TAB] = { "tab", 0 },
	[TH_TAB_ACTIVE] = { "tab_active", THA_REVERSE | THA_BOLD },
	[TH_STATE_RUNNING] = { "state_running", THA_BOLD },
	[TH_STATE_STOPPED] = { "state_stopped", THA_DIM },
	[TH_STATE_CRASHED] = { "state_crashed", THA_BOLD | THA_UNDERLINE },
	[TH_STATE_CREATING] = { "state_creating", 0 },
	[TH_WARM] = { "warm", THA_BOLD },
	[TH_DIALOG] = { "dialog", 0 },
	[TH_DIALOG_FIELD] = { "dialog_field", THA_UNDERLINE },
	[TH_DIALOG_FIELD_ACTIVE] = { "dialog_field_active", THA_REVERSE },
	[TH_DIALOG_ERROR] = { "dialog_error", THA_BOLD },
	[TH_HELP_KEY] = { "help_key", THA_BOLD },
	[TH_PANE_NOTICE] = { "pane_notice", THA_REVERSE },
	[TH_LOG_ALLOWED] = { "log_allowed", 0 },
	[TH_LOG_DENIED] = { "log_denied", THA_BOLD },
	[TH_LOG_ERROR] = { "log_error", THA_UNDERLINE },
	[TH_XFER_RUNNING] = { "xfer_running", THA_BOLD },
	[TH_XFER_DONE] = { "xfer_done", 0 },
	[TH_XFER_FAILED] = { "xfer_failed", THA_BOLD | THA_UNDERLINE },
	[TH_DIFF_ADDED] = { "diff_added", THA_BOLD },
	[TH_DIFF_CHANGED] = { "diff_changed", 0 },
	[TH_DIFF_DELETED] = { "diff_deleted", THA_DIM },
};

static const struct {
	const char *name;
	unsigned bit;
} attr_names[] = {
	{ "bold", THA_BOLD }, { "dim", THA_DIM }, { "underline", THA_UNDERLINE },
	{ "reverse", THA_REVERSE }, { "italic", THA_ITALIC }, { "blink", THA_BLINK },
};

/* The applied theme: attributes, and colours fitted to the screen. */
static struct {
	attr_t attr;
	int fg, bg;
} active[TH_COUNT];
static bool active_colour;

const char *theme_key(enum theme_elem e)
{
	return elems[e].key;
}

static int find_key(const char *key)
{
	for (int i = 0; i < TH_COUNT; i++)
		if (!strcmp(elems[i].key, key))
			return i;
	return -1;
}

/* Split s in place into at most max whitespace-separated words. */
static int split_words(char *s, char **words, int max)
{
	int n = 0;

	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return n;
		if (n == max)
			return max + 1;
		words[n++] = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

static int parse_line(char *line, const char *file, int lineno, struct theme *t,
		      int *seen_on)
{
	char *eq = strchr(line, '='), *key = line, *words[10], *end;
	int n, idx;
	struct theme_style st = { COLOUR_DEFAULT, COLOUR_DEFAULT, 0 };

	if (!eq) {
		err_set("%s:%d: expected 'key = fg bg [attributes]'", file, lineno);
		return -1;
	}
	*eq = '\0';
	while (isspace((unsigned char)*key))
		key++;
	end = key + strlen(key);
	while (end > key && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if ((idx = find_key(key)) < 0) {
		err_set("%s:%d: unknown key '%s' (known keys are listed at the top of "
			"themes/dark.theme)", file, lineno, key);
		return -1;
	}
	if (seen_on[idx]) {
		err_set("%s:%d: '%s' is already set on line %d", file, lineno, key, seen_on[idx]);
		return -1;
	}
	n = split_words(eq + 1, words, (int)ARRAY_LEN(words) - 1);
	if (n < 2 || n >= (int)ARRAY_LEN(words)) {
		err_set("%s:%d: '%s' needs a foreground and a background colour, then "
			"optional attributes", file, lineno, key);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		if (colour_parse(words[i], i ? &st.bg : &st.fg) < 0) {
			err_set("%s:%d: '%s' is not a colour (use default, a name such as red "
				"or bright-blue, a number 0-255, or #rrggbb)",
				file, lineno, words[i]);
			return -1;
		}
	}
	for (int i = 2; i < n; i++) {
		size_t a;

		for (a = 0; a < ARRAY_LEN(attr_names); a++)
			if (!strcmp(words[i], attr_names[a].name))
				break;
		if (a == ARRAY_LEN(attr_names)) {
			err_set("%s:%d: '%s' is not an attribute (use bold, dim, underline, "
				"reverse, italic or blink)", file, lineno, words[i]);
			return -1;
		}
		st.attrs |= attr_names[a].bit;
	}
	t->style[idx] = st;
	seen_on[idx] = lineno;
	return 0;
}

int theme_parse(const char *text, const char *file, struct theme *t)
{
	char *copy = xstrdup(text), *line = copy, *next;
	int seen_on[TH_COUNT] = { 0 }, lineno = 0, rc = 0;

	for (int i = 0; i < TH_COUNT; i++)
		t->style[i] = (struct theme_style){ COLOUR_DEFAULT, COLOUR_DEFAULT, 0 };
	for (; line && rc == 0; line = next) {
		char *p = line;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		/* '#' starts a comment only at the start of a line: #rrggbb is a colour. */
		if (*p && *p != '#')
			rc = parse_line(p, file, lineno, t, seen_on);
	}
	free(copy);
	return rc;
}

static bool name_ok(const char *name)
{
	return *name && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "0123456789_-") == strlen(name);
}

int theme_load(const char *name, struct theme *t)
{
	const char *data = paths_data_dir();
	char *path, *text;
	int rc;

	if (!data)
		return -1;
	if (!name_ok(name)) {
		err_set("'%s' is not a theme name (themes are named like dark or light)", name);
		return -1;
	}
	path = xasprintf("%s/themes/%s.theme", data, name);
	text = util_read_file(path, NULL);
	if (!text) {
		size_t n;
		char **names = theme_names(&n);
		char list[256] = "";

		for (size_t i = 0; i < n; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
				 i ? ", " : "", names[i]);
		theme_names_free(names, n);
		err_set("no theme '%s' (%s not readable); installed themes: %s", name, path,
			*list ? list : "none");
		free(path);
		return -1;
	}
	rc = theme_parse(text, path, t);
	if (rc == 0)
		snprintf(t->name, sizeof t->name, "%s", name);
	free(text);
	free(path);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **theme_names(size_t *n)
{
	const char *data = paths_data_dir();
	char *dir, **out = NULL;
	size_t cap = 0;
	struct dirent *e;
	DIR *d;

	*n = 0;
	if (!data)
		return NULL;
	dir = xasprintf("%s/themes", data);
	d = opendir(dir);
	free(dir);
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= 6 || strcmp(e->d_name + len - 6, ".theme"))
			continue;
		if (*n == cap)
			out = xrealloc(out, (cap = cap ? cap * 2 : 8) * sizeof *out);
		out[(*n)++] = xasprintf("%.*s", (int)(len - 6), e->d_name);
	}
	closedir(d);
	if (*n)
		qsort(out, *n, sizeof *out, cmp_str);
	return out;
}

void theme_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static attr_t curses_attrs(unsigned a)
{
	attr_t r = A_NORMAL;

	if (a & THA_BOLD)
		r |= A_BOLD;
	if (a & THA_DIM)
		r |= A_DIM;
	if (a & THA_UNDERLINE)
		r |= A_UNDERLINE;
	if (a & THA_REVERSE)
		r |= A_REVERSE;
	if (a & THA_ITALIC)
		r |= A_ITALIC;
	if (a & THA_BLINK)
		r |= A_BLINK;
	return r;
}

void theme_apply(const struct theme *t, bool colour)
{
	active_colour = colour;
	for (int i = 0; i < TH_COUNT; i++) {
		const struct theme_style *st = &t->style[i];

		active[i].fg = colour_fit(st->fg, COLORS);
		active[i].bg = colour_fit(st->bg, COLORS);
		active[i].attr = curses_attrs(st->attrs | (colour ? 0 : elems[i].mono));
	}
}

struct style theme_style(enum theme_elem e)
{
	struct style s = { active[e].attr, 0 };

	/* Asked for each time: with few colour pairs, shell panes' colours may
	 * have taken this one's place since (alloc_pair reuses the oldest). */
	if (active_colour && (s.pair = alloc_pair(active[e].fg, active[e].bg)) < 0)
		s.pair = 0;
	return s;
}

void theme_use(WINDOW *w, struct style s)
{
	wattr_set(w, s.attr, (short)s.pair, &s.pair);
}
