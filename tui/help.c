#include "tui/help.h"

#include <stdio.h>
#include <string.h>

#include "backend/util.h"
#include "tui/draw.h"
#include "tui/list.h"
#include "tui/theme.h"

#define KEY_W 14

struct help_line {
	const char *key;	/* NULL: a section title in desc */
	const char *desc;
};

/* "P" in a key stands for the prefix key; "@" names a list mark. */
static const struct help_line lines_left[] = {
	{ NULL, "Sandbox list" },
	{ "Up Down j k", "move (or click a row)" },
	{ "Home End", "first / last" },
	{ "Enter", "shell (its open one)" },
	{ "s", "another shell" },
	{ "n", "new sandbox" },
	{ "d", "delete (asks first)" },
	{ "w", "network: rules, requests" },
	{ "u  f", "upload / what it changed" },
	{ "S  v", "snapshots / the vault" },
	{ "Tab 1-9", "next / numbered shell" },
	{ "t", "next colour theme" },
	{ "?", "this help" },
	{ "q", "quit" },
	{ NULL, "" },
	{ NULL, "Marks in the list" },
	{ "@ready", "SSH ready: fast shell" },
	{ "@connecting", "connecting to SSH" },
	{ "@failed", "SSH failed (retrying)" },
};

static const struct help_line lines_right[] = {
	{ NULL, "In a shell, after the prefix P" },
	{ "P l  P Esc", "back to the list" },
	{ "P n  P p", "next / previous shell" },
	{ "P 1-9  P 0", "shell N / the list" },
	{ "P c", "another shell here" },
	{ "P w", "its network pane" },
	{ "P u  P f", "upload / files pane" },
	{ "P S  P v", "snapshots / the vault" },
	{ "P x", "close this shell" },
	{ "P [  P PgUp", "scroll back" },
	{ "P t  P ?", "theme / this help" },
	{ "P P", "send P itself" },
	{ NULL, "" },
	{ NULL, "Scrolling back" },
	{ "S-PgUp S-PgDn", "page (or the wheel)" },
	{ "Up Down", "a line" },
	{ "Esc  q", "back to live" },
	{ "other keys", "live again, and typed" },
};

static const struct help_line net_left[] = {
	{ NULL, "Network pane" },
	{ "Tab", "rules / request log" },
	{ "Up Down j k", "move (focused list)" },
	{ "PgUp PgDn", "a page of the log" },
	{ "Home End", "oldest / newest" },
	{ "a", "allow a denied request" },
	{ "n  +", "add a rule" },
	{ "e  Enter", "edit the rule" },
	{ "d  Delete", "delete the rule (asks)" },
	{ "f", "full internet (asks)" },
	{ "m", "mode none / allowlist" },
	{ "/", "filter the log" },
	{ "Esc", "clear the filter; back" },
	{ "q  w", "back to the list" },
};

static const struct help_line net_right[] = {
	{ NULL, "Allow this (a, or Enter in the log)" },
	{ "scheme host", "the request's own" },
	{ "port method", "the request's own" },
	{ "paths", "its path, and below it" },
	{ "a CONNECT", "GET HEAD, each judged" },
	{ "Enter", "accept, or edit first" },
	{ "mode none", "becomes allowlist" },
	{ NULL, "" },
	{ NULL, "The request log" },
	{ "allow", "allowed (its rule)" },
	{ "DENY", "refused, and why" },
	{ "error", "upstream failed" },
	{ "/ text", "in host, path, reason," },
	{ "", "method or rule" },
};

static const struct help_line upload_left[] = {
	{ NULL, "Upload pane" },
	{ "text", "a path on the host" },
	{ "Tab", "complete it" },
	{ "Enter", "choose where it goes" },
	{ "Up Down", "select a transfer" },
	{ "Ctrl-X", "cancel the selected one" },
	{ "Ctrl-L", "forget finished ones" },
	{ "Esc", "back to the list" },
	{ "?", "this help (prompt empty)" },
	{ NULL, "" },
	{ NULL, "Destination dialog" },
	{ "Enter", "upload" },
	{ "Tab", "field / buttons" },
	{ "Esc", "cancel" },
};

static const struct help_line upload_right[] = {
	{ NULL, "Drag-in" },
	{ "drop files", "on a shell: upload them" },
	{ "", "into its current folder" },
	{ "on the list", "into the selected sandbox" },
	{ "quoted paths", "'a b' \\ escapes, file://" },
	{ "other pastes", "typed into the shell" },
	{ "Paste as text", "type the paths instead" },
	{ NULL, "" },
	{ NULL, "Progress" },
	{ "status line", "the running file, N/M" },
	{ "this pane", "every file: done or why not" },
};

static const struct help_line files_left[] = {
	{ NULL, "Files pane" },
	{ "r", "read the changes again" },
	{ "Up Down j k", "move" },
	{ "PgUp PgDn", "a page" },
	{ "Home End", "first / last" },
	{ "Esc  q  f", "back to the list" },
};

static const struct help_line files_right[] = {
	{ NULL, "Against the sandbox's image" },
	{ "A", "added" },
	{ "M", "changed" },
	{ "D", "deleted (a folder: one line)" },
	{ "running", "held still while read" },
	{ "", "(smolvm diff, the same)" },
};

static const struct help_line snaps_left[] = {
	{ NULL, "Snapshot pane" },
	{ "n", "take one: disk or memory" },
	{ "r  Enter", "restore it (asks)" },
	{ "d  Delete", "delete it (asks)" },
	{ "c", "clone: a new sandbox" },
	{ "Up Down j k", "move" },
	{ "Esc  q  S", "back to the list" },
};

static const struct help_line snaps_right[] = {
	{ NULL, "The tree" },
	{ "*", "the state descends from it" },
	{ "under one", "taken after restoring it" },
	{ "disk", "the writable layer" },
	{ "memory", "the running state too" },
	{ "FROM", "its parent (ID:SNAP: clone)" },
};

static const struct help_line vault_left[] = {
	{ NULL, "Vault pane" },
	{ "n", "add a secret" },
	{ "d  Delete", "delete it (asks)" },
	{ "a", "attach / detach it" },
	{ "", "to the pane's sandbox" },
	{ "Up Down j k", "move" },
	{ "Esc  q  v", "back to the list" },
};

static const struct help_line vault_right[] = {
	{ NULL, "A secret" },
	{ "value", "typed masked, never shown" },
	{ "hosts", "where it is injected" },
	{ "header", "set outright (optional)" },
	{ "USES", "live, from the proxies" },
	{ "attached", "the guest has a placeholder" },
};

/* Copy s, spelling out the prefix key where a word is just "P". */
static void expand(char *out, size_t len, const char *s, const char *prefix)
{
	size_t o = 0;

	for (const char *p = s; *p && o + strlen(prefix) + 1 < len; p++) {
		if (*p == 'P' && (p == s || p[-1] == ' ') && (!p[1] || p[1] == ' '))
			o += (size_t)snprintf(out + o, len - o, "%s", prefix);
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

static void draw_column(int y, int x, int w, int maxy, const struct help_line *l, size_t n,
			const char *label, const char *name)
{
	struct style base = theme_style(TH_LIST), key = theme_style(TH_HELP_KEY);
	struct style head = theme_style(TH_LIST_HEADER);

	for (size_t i = 0; i < n && y + (int)i < maxy; i++) {
		char k[64], d[64];
		int row = y + (int)i;

		if (!l[i].key) {
			expand(k, sizeof k, l[i].desc, name);
			draw_text(row, x, w, head, k, false);
			continue;
		}
		if (l[i].key[0] == '@')
			snprintf(k, sizeof k, "%s", list_mark(l[i].key + 1));
		else
			expand(k, sizeof k, l[i].key, label);
		draw_text(row, x, KEY_W, key, k, true);
		expand(d, sizeof d, l[i].desc, label);
		draw_text(row, x + KEY_W + 1, w - KEY_W - 1, base, d, false);
	}
}

static void draw_page(int y0, int lines, int cols, const struct help_line *left, size_t nl,
		      const struct help_line *right, size_t nr, const char *label, const char *name)
{
	struct style base = theme_style(TH_LIST);
	int half = cols / 2;
	char foot[96];

	for (int y = y0; y < y0 + lines; y++)
		draw_fill(y, 0, cols, base);
	if (cols >= 80) {
		draw_column(y0 + 1, 2, half - 3, y0 + lines - 1, left, nl, label, name);
		draw_column(y0 + 1, half + 1, cols - half - 2, y0 + lines - 1, right, nr, label,
			    name);
	} else {
		/* Narrow: one column, the right one after the left one. */
		draw_column(y0 + 1, 1, cols - 2, y0 + lines - 1, left, nl, label, name);
		draw_column(y0 + 1 + (int)nl, 1, cols - 2, y0 + lines - 1, right, nr, label, name);
	}
	snprintf(foot, sizeof foot, "%s is %s. Any key closes this help.", label, name);
	draw_text(y0 + lines - 1, 2, cols - 3, theme_style(TH_LIST_HEADER), foot, false);
}

void help_draw(int y0, int lines, int cols, const char *label, const char *name)
{
	draw_page(y0, lines, cols, lines_left, ARRAY_LEN(lines_left), lines_right,
		  ARRAY_LEN(lines_right), label, name);
}

void help_draw_net(int y0, int lines, int cols, const char *label, const char *name)
{
	draw_page(y0, lines, cols, net_left, ARRAY_LEN(net_left), net_right,
		  ARRAY_LEN(net_right), label, name);
}

void help_draw_upload(int y0, int lines, int cols, const char *label, const char *name)
{
	draw_page(y0, lines, cols, upload_left, ARRAY_LEN(upload_left), upload_right,
		  ARRAY_LEN(upload_right), label, name);
}

void help_draw_files(int y0, int lines, int cols, const char *label, const char *name)
{
	draw_page(y0, lines, cols, files_left, ARRAY_LEN(files_left), files_right,
		  ARRAY_LEN(files_right), label, name);
}

void help_draw_snaps(int y0, int lines, int cols, const char *label, const char *name)
{
	draw_page(y0, lines, cols, snaps_left, ARRAY_LEN(snaps_left), snaps_right,
		  ARRAY_LEN(snaps_right), label, name);
}

void help_draw_vault(int y0, int lines, int cols, const char *label, const char *name)
{
	draw_page(y0, lines, cols, vault_left, ARRAY_LEN(vault_left), vault_right,
		  ARRAY_LEN(vault_right), label, name);
}
