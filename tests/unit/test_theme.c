/* Unit tests for tui/theme.c: the theme file parser, its error messages,
 * and the themes shipped in themes/. */
#include <stdlib.h>
#include <string.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "tui/colour.h"
#include "tui/theme.h"
#include "tests/unit/unit.h"

static int parse(const char *text, struct theme *t)
{
	return theme_parse(text, "x.theme", t);
}

static void parses_keys_colours_attrs(void)
{
	struct theme t;

	EXPECT_INT(parse("# a comment\n"
			 "\n"
			 "  list = default default\n"
			 "list_selected = black cyan bold reverse\n"
			 "header=bright-white 236 underline\n"
			 "status_error = #ff8787 235 bold\n", &t), 0);
	EXPECT_INT(t.style[TH_LIST].fg, COLOUR_DEFAULT);
	EXPECT_INT(t.style[TH_LIST_SELECTED].fg, 0);
	EXPECT_INT(t.style[TH_LIST_SELECTED].bg, 6);
	EXPECT_INT(t.style[TH_LIST_SELECTED].attrs, THA_BOLD | THA_REVERSE);
	EXPECT_INT(t.style[TH_HEADER].fg, 15);
	EXPECT_INT(t.style[TH_HEADER].bg, 236);
	EXPECT_INT(t.style[TH_HEADER].attrs, THA_UNDERLINE);
	EXPECT_INT(t.style[TH_STATUS_ERROR].fg, COLOUR_RGB | 0xff8787);
}

static void missing_keys_are_default(void)
{
	struct theme t;

	EXPECT_INT(parse("list = red blue\n", &t), 0);
	EXPECT_INT(t.style[TH_FOOTER].fg, COLOUR_DEFAULT);
	EXPECT_INT(t.style[TH_FOOTER].bg, COLOUR_DEFAULT);
	EXPECT_INT(t.style[TH_FOOTER].attrs, 0);
	EXPECT_INT(parse("", &t), 0);
	/* No newline at the end of the last line. */
	EXPECT_INT(parse("list = red blue", &t), 0);
	EXPECT_INT(t.style[TH_LIST].bg, 4);
}

static void error(const char *text, const char *want)
{
	struct theme t;

	EXPECT_INT(parse(text, &t), -1);
	if (!strstr(err_msg(), want)) {
		printf("#   message \"%s\" lacks \"%s\"\n", err_msg(), want);
		unit_failed_current = 1;
	}
}

static void errors_name_file_and_line(void)
{
	error("list = red blue\n\nbogus = red blue\n", "x.theme:3: unknown key 'bogus'");
	error("list red blue\n", "x.theme:1: expected 'key = fg bg [attributes]'");
	error("list = red\n", "x.theme:1: 'list' needs a foreground and a background");
	error("# c\nlist = purple blue\n", "x.theme:2: 'purple' is not a colour");
	error("list = red 300\n", "x.theme:1: '300' is not a colour");
	error("list = red blue shiny\n", "x.theme:1: 'shiny' is not an attribute");
	error("list = red blue\nlist = red blue\n", "x.theme:2: 'list' is already set on line 1");
	error("list = red blue bold bold bold bold bold bold bold bold bold\n",
	      "x.theme:1: 'list' needs");
}

static void every_key_has_a_name(void)
{
	for (int i = 0; i < TH_COUNT; i++) {
		char line[128];
		struct theme t;

		EXPECT(theme_key(i) && *theme_key(i));
		snprintf(line, sizeof line, "%s = red blue bold\n", theme_key(i));
		EXPECT_INT(parse(line, &t), 0);
		EXPECT_INT(t.style[i].fg, 1);
	}
}

/* The shipped themes load and set every key (a theme that forgets one
 * would leave it in the terminal's colours). */
static void shipped_themes_are_complete(void)
{
	size_t n;
	char **names;

	setenv("SMOLVM_DATADIR", ".", 1);
	paths_reset();
	names = theme_names(&n);
	EXPECT(n >= 2);
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("themes/%s.theme", names[i]);
		char *text = util_read_file(path, NULL);
		struct theme t;

		EXPECT(text != NULL);
		if (theme_load(names[i], &t) < 0) {
			printf("#   %s: %s\n", names[i], err_msg());
			unit_failed_current = 1;
		}
		for (int k = 0; text && k < TH_COUNT; k++) {
			char key[64];

			snprintf(key, sizeof key, "\n%s ", theme_key(k));
			if (!strstr(text, key)) {
				printf("#   %s does not set %s\n", path, theme_key(k));
				unit_failed_current = 1;
			}
		}
		free(text);
		free(path);
	}
	theme_names_free(names, n);
}

static void load_errors(void)
{
	struct theme t;

	setenv("SMOLVM_DATADIR", ".", 1);
	paths_reset();
	EXPECT_INT(theme_load("no-such-theme", &t), -1);
	EXPECT(strstr(err_msg(), "no theme 'no-such-theme'") != NULL);
	EXPECT(strstr(err_msg(), "dark") != NULL);
	EXPECT_INT(theme_load("../etc/passwd", &t), -1);
	EXPECT(strstr(err_msg(), "not a theme name") != NULL);
	EXPECT_INT(theme_load("dark", &t), 0);
	EXPECT_STR(t.name, "dark");
}

int main(void)
{
	RUN(parses_keys_colours_attrs);
	RUN(missing_keys_are_default);
	RUN(errors_name_file_and_line);
	RUN(every_key_has_a_name);
	RUN(shipped_themes_are_complete);
	RUN(load_errors);
	UNIT_EXIT();
}
