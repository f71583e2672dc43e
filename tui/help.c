#include "tui/help.h"

#include <stdio.h>
#include <string.h>

#include "backend/util.h"
#include "tui/draw.h"
#include "tui/list.h"
#include "tui/theme.h"

struct help_line {
	const char *key;	/* NULL: a section title in desc */
	const char *desc;
};

/* "P" in a key stands for the prefix key. */
static const struct help_line lines_left[] = {
	{ NULL, "Sandbox list" },
	{ "Up/Down j/k", "move the selection (or click a row)" },
	{ "Home/End", "first / last sandbox" },
	{ "Enter", "shell in the sandbox (its open one, if any)" },
	{ "s", "another shell in the sandbox" },
	{ "n", "new sandbox" },
	{ "d", "delete the sandbox (asks first)" },
	{ "Tab / 1-9", "go to the next / a numbered shell" },
	{ "t", "next colour theme" },
	{ "?", "this help" },
	{ "q", "quit (open shells are closed)" },
	{ NULL, "" },
	{ NULL, "Marks in the list" },
	{ "@ready", "SSH session ready: a shell opens at once" },
	{ "@connecting", "connecting to the sandbox's SSH" },
	{ "@failed", "connecting failed (retried; see details)" },
};

static const struct help_line lines_right[] = {
	{ NULL, "In a shell, after the prefix P" },
	{ "P l or P Esc", "back to the list; the shell stays" },
	{ "P n / P p", "next / previous shell" },
	{ "P 1-9, P 0", "shell number N, the list" },
	{ "P c", "another shell in this sandbox" },
	{ "P x", "close this shell" },
	{ "P [ or P PgUp", "scroll back" },
	{ "P t / P ?", "next theme / this help" },
	{ "P P", "send the prefix key itself" },
	{ NULL, "" },
	{ NULL, "Scrolling back" },
	{ "Shift-PgUp/PgDn", "page up / down, also the wheel" },
	{ "Up/Down", "a line (while scrolled back)" },
	{ "Esc or q", "back to the live screen" },
	{ "other keys", "back to live, and typed" },
};

static void draw_column(int y, int x, int w, int maxy, const struct help_line *l, size_t n,
			const char *prefix)
{
	struct style base = theme_style(TH_LIST), key = theme_style(TH_HELP_KEY);
	struct style head = theme_style(TH_LIST_HEADER);

	for (size_t i = 0; i < n && y + (int)i < maxy; i++) {
		char k[64];
		size_t o = 0;

		if (!l[i].key) {
			draw_text(y + (int)i, x, w, head, l[i].desc, false);
			continue;
		}
		if (l[i].key[0] == '@') {
			draw_text(y + (int)i, x, 17, key, list_mark(l[i].key + 1), true);
			draw_text(y + (int)i, x + 18, w - 18, base, l[i].desc, false);
			continue;
		}
		/* Spell out the prefix key where the table says P. */
		for (const char *p = l[i].key; *p && o < sizeof k - 16; p++) {
			bool alone = *p == 'P' && (p == l[i].key || p[-1] == ' ') &&
				     (!p[1] || p[1] == ' ');
			if (alone)
				o += (size_t)snprintf(k + o, sizeof k - o, "%s", prefix);
			else
				k[o++] = *p;
		}
		k[o] = '\0';
		draw_text(y + (int)i, x, 17, key, k, true);
		draw_text(y + (int)i, x + 18, w - 18, base, l[i].desc, false);
	}
}

void help_draw(int y0, int lines, int cols, const char *prefix)
{
	struct style base = theme_style(TH_LIST);
	int half = cols / 2;
	char foot[96];

	for (int y = y0; y < y0 + lines; y++)
		draw_fill(y, 0, cols, base);
	if (cols >= 80) {
		draw_column(y0 + 1, 1, half - 2, y0 + lines, lines_left, ARRAY_LEN(lines_left),
			    prefix);
		draw_column(y0 + 1, half + 1, cols - half - 2, y0 + lines, lines_right,
			    ARRAY_LEN(lines_right), prefix);
	} else {
		/* Narrow: one column, the shell keys after the list keys. */
		int n = (int)ARRAY_LEN(lines_left);
		draw_column(y0 + 1, 1, cols - 2, y0 + lines, lines_left, ARRAY_LEN(lines_left),
			    prefix);
		draw_column(y0 + 1 + n, 1, cols - 2, y0 + lines, lines_right,
			    ARRAY_LEN(lines_right), prefix);
	}
	snprintf(foot, sizeof foot, "Any key closes this help.");
	draw_text(y0 + lines - 1, 1, cols - 2, theme_style(TH_LIST_HEADER), foot, false);
}
