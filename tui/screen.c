#include "tui/screen.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "backend/util.h"
#include "tui/draw.h"
#include "tui/help.h"
#include "tui/status.h"

/* The new-sandbox dialog needs this much. */
#define MIN_LINES 12
#define MIN_COLS 52

static int add_tab(struct app *a, int x, int view, const char *label, bool active)
{
	struct style st = theme_style(active ? TH_TAB_ACTIVE : TH_TAB);
	char text[96];
	int w;

	snprintf(text, sizeof text, " %s ", label);
	w = draw_width(text);
	if (x + w >= COLS - 1 || a->ntabs > MAX_TABS)
		return x;
	draw_text(0, x, w, st, text, false);
	a->tabs[a->ntabs++] = (struct tab_hit){ x, x + w, view };
	return x + w + 1;
}

static void draw_header(struct app *a)
{
	struct style hd = theme_style(TH_HEADER);
	char right[96], label[96];
	int x, running = 0;

	for (size_t i = 0; i < a->nsbs; i++)
		running += !strcmp(a->sbs[i].state, SB_RUNNING);
	draw_fill(0, 0, COLS, hd);
	hd.attr |= A_BOLD;
	x = draw_text(0, 1, 8, hd, "smolvm", false) + 2;
	a->ntabs = 0;
	if (a->net)
		snprintf(label, sizeof label, "network %.40s", a->net->sb.name);
	else if (a->up)
		snprintf(label, sizeof label, "upload %.40s", a->up->sb.name);
	else if (a->files)
		snprintf(label, sizeof label, "files %.40s", a->files->sb.name);
	else if (a->snaps)
		snprintf(label, sizeof label, "snapshots %.40s", a->snaps->sb.name);
	else if (a->vault)
		snprintf(label, sizeof label, "vault");
	x = add_tab(a, x, -1, a->net || a->up || a->files || a->snaps || a->vault ? label :
		    "sandboxes", a->view < 0);
	for (size_t i = 0; i < a->nshells; i++) {
		const struct shell *sh = a->shells[i];

		snprintf(label, sizeof label, "%zu %.20s%s", i + 1, sh->name,
			 sh->state == SHELL_DONE ? " (ended)" : sh->activity ? "*" : "");
		x = add_tab(a, x, (int)i, label, a->view == (int)i);
	}
	if (a->view >= 0 && a->shells[a->view]->tp->title[0])
		snprintf(right, sizeof right, "%.80s ", a->shells[a->view]->tp->title);
	else
		snprintf(right, sizeof right, "%s%zu sandbox%s, %d running ", a->root ? "" :
			 "read-only (not root)  ", a->nsbs, a->nsbs == 1 ? "" : "es", running);
	if (x + draw_width(right) < COLS)
		draw_text(0, COLS - draw_width(right), draw_width(right), theme_style(TH_HEADER),
			  right, false);
}

struct key_hint {
	const char *key, *what;
};

/* Help and quit are what a user needs most: shown however narrow the screen. */
static bool hint_kept(const struct key_hint *h)
{
	return !strcmp(h->key, "?") || !strcmp(h->key, "q");
}

/* Hints come most important first: when they do not all fit, the last ones
 * but help and quit are left out until the rest fit. */
static void draw_footer(const struct key_hint *h, size_t n, const char *lead)
{
	struct style ft = theme_style(TH_FOOTER), key = theme_style(TH_FOOTER_KEY);
	bool shown[32];
	int x = 1, need = -2;

	n = n < ARRAY_LEN(shown) ? n : ARRAY_LEN(shown);
	draw_fill(LINES - 1, 0, COLS, ft);
	if (lead)
		x += draw_text(LINES - 1, x, COLS - x, key, lead, false) + 1;
	for (size_t i = 0; i < n; i++) {
		shown[i] = true;
		need += draw_width(h[i].key) + 1 + draw_width(h[i].what) + 2;
	}
	for (size_t i = n; i-- > 0 && x + need >= COLS;) {
		if (hint_kept(&h[i]))
			continue;
		shown[i] = false;
		need -= draw_width(h[i].key) + 1 + draw_width(h[i].what) + 2;
	}
	for (size_t i = 0; i < n; i++) {
		int w = draw_width(h[i].key) + 1 + draw_width(h[i].what);

		if (!shown[i] || x + w >= COLS)
			continue;
		x += draw_text(LINES - 1, x, w, key, h[i].key, false) + 1;
		x += draw_text(LINES - 1, x, w, ft, h[i].what, false) + 2;
	}
}

static void draw_keys(struct app *a)
{
	static const struct key_hint list[] = {
		{ "Enter", "shell" }, { "s", "new shell" }, { "n", "new" }, { "d", "delete" },
		{ "w", "network" }, { "u", "upload" }, { "Tab", "shells" }, { "f", "files" },
		{ "S", "snapshots" }, { "v", "vault" }, { "t", "theme" }, { "?", "help" },
		{ "q", "quit" },
	};
	static const struct key_hint shell[] = {
		{ "l", "list" }, { "n/p", "next/prev" }, { "1-9", "shell" }, { "c", "new" },
		{ "x", "close" }, { "[", "scroll" }, { "?", "help" },
	};
	static const struct key_hint armed[] = {
		{ "l", "list" }, { "n", "next" }, { "p", "prev" }, { "1-9", "shell" },
		{ "c", "new shell" }, { "w", "network" }, { "x", "close" }, { "[", "scroll" },
		{ "t", "theme" }, { "?", "help" }, { "u", "upload" }, { "f", "files" },
		{ "S", "snapshots" }, { "v", "vault" },
	};
	static const struct key_hint vault[] = {
		{ "n", "add" }, { "d", "delete" }, { "a", "attach/detach" }, { "Up/Down", "move" },
		{ "Esc", "back" }, { "?", "help" },
	};
	static const struct key_hint vault_form[] = {
		{ "Tab", "next field" }, { "Enter", "add" }, { "Esc", "cancel" },
	};
	static const struct key_hint snaps[] = {
		{ "n", "new" }, { "r", "restore" }, { "d", "delete" }, { "c", "clone" },
		{ "Up/Down", "move" }, { "Esc", "back" }, { "?", "help" },
	};
	static const struct key_hint snap_form[] = {
		{ "Tab", "next" }, { "Space", "kind" }, { "Enter", "ok" }, { "Esc", "cancel" },
	};
	static const struct key_hint files[] = {
		{ "r", "read again" }, { "Up/Down", "move" }, { "PgUp/PgDn", "page" },
		{ "Esc", "back" }, { "?", "help" },
	};
	static const struct key_hint dup[] = {
		{ "Enter", "upload" }, { "Tab", "buttons" }, { "Esc", "cancel" },
	};
	static const struct key_hint upane[] = {
		{ "Tab", "complete" }, { "Enter", "upload" }, { "Up/Down", "select" },
		{ "^X", "cancel it" }, { "^L", "clear finished" }, { "Esc", "back" },
	};
	static const struct key_hint dnew[] = {
		{ "Tab", "next field" }, { "Enter", "create" }, { "Esc", "cancel" },
	};
	static const struct key_hint dconf[] = { { "y", "yes" }, { "n", "no" } };
	static const struct key_hint scroll[] = {
		{ "PgUp/PgDn", "page" }, { "Up/Down", "line" }, { "Esc", "back to live" },
	};
	static const struct key_hint help[] = { { "any key", "closes the help" } };
	static const struct key_hint net[] = {
		{ "a", "allow" }, { "n", "add" }, { "e", "edit" }, { "d", "delete" },
		{ "f", "internet" }, { "/", "filter" }, { "Tab", "focus" }, { "Esc", "back" },
	};
	static const struct key_hint net_filter[] = {
		{ "Enter", "keep the filter" }, { "Esc", "clear it" }, { "Up/Down", "move" },
	};
	static const struct key_hint net_form[] = {
		{ "Tab", "next field" }, { "Enter", "save" }, { "Esc", "cancel" },
		{ "Space", "WebSocket on/off" },
	};
	struct shell *sh = app_shell(a);
	char lead[32];

	switch (a->overlay) {
	case OV_HELP: draw_footer(help, ARRAY_LEN(help), NULL); return;
	case OV_NEW: draw_footer(dnew, ARRAY_LEN(dnew), NULL); return;
	case OV_CONFIRM: draw_footer(dconf, ARRAY_LEN(dconf), NULL); return;
	case OV_UPLOAD: draw_footer(dup, ARRAY_LEN(dup), NULL); return;
	case OV_NONE: break;
	}
	if (a->prefix_armed) {
		snprintf(lead, sizeof lead, "%s then:", a->prefix_label);
		draw_footer(armed, ARRAY_LEN(armed), lead);
	} else if (sh && sh->tp->scroll) {
		draw_footer(scroll, ARRAY_LEN(scroll), "scrolled back:");
	} else if (sh) {
		snprintf(lead, sizeof lead, "%s then:", a->prefix_label);
		draw_footer(shell, ARRAY_LEN(shell), lead);
	} else if (a->net) {
		switch (a->net->state) {
		case NETPANE_VIEW: draw_footer(net, ARRAY_LEN(net), NULL); break;
		case NETPANE_FILTER: draw_footer(net_filter, ARRAY_LEN(net_filter), NULL); break;
		case NETPANE_FORM: draw_footer(net_form, ARRAY_LEN(net_form), NULL); break;
		case NETPANE_CONFIRM: draw_footer(dconf, ARRAY_LEN(dconf), NULL); break;
		}
	} else if (a->up) {
		draw_footer(upane, ARRAY_LEN(upane), NULL);
	} else if (a->files) {
		draw_footer(files, ARRAY_LEN(files), NULL);
	} else if (a->snaps) {
		if (a->snaps->state == SNAP_FORM)
			draw_footer(snap_form, ARRAY_LEN(snap_form), NULL);
		else if (a->snaps->state == SNAP_CONFIRM)
			draw_footer(dconf, ARRAY_LEN(dconf), NULL);
		else
			draw_footer(snaps, ARRAY_LEN(snaps), NULL);
	} else if (a->vault) {
		if (a->vault->state == VAULT_FORM)
			draw_footer(vault_form, ARRAY_LEN(vault_form), NULL);
		else if (a->vault->state == VAULT_CONFIRM)
			draw_footer(dconf, ARRAY_LEN(dconf), NULL);
		else
			draw_footer(vault, ARRAY_LEN(vault), NULL);
	} else {
		struct key_hint h[ARRAY_LEN(list)];
		size_t n = 0;

		/* Tab only means something once shells are open. */
		for (size_t i = 0; i < ARRAY_LEN(list); i++)
			if (a->nshells || strcmp(list[i].key, "Tab"))
				h[n++] = list[i];
		draw_footer(h, n, NULL);
	}
}

/* A bar over the pane's bottom row: why the shell is not live. */
static void draw_pane_notice(struct shell *sh)
{
	char text[320], line[400];
	int y = 1 + sh->tp->rows - 1;

	shell_describe(sh, text, sizeof text);
	if (sh->state == SHELL_DONE)
		snprintf(line, sizeof line, " %s. Press any key to close this pane. ", text);
	else
		snprintf(line, sizeof line, " %s ", text);
	draw_text(y, 0, COLS, theme_style(TH_PANE_NOTICE), line, true);
}

static void draw_scroll_mark(struct shell *sh)
{
	char mark[48];
	int w;

	snprintf(mark, sizeof mark, " %d/%zu lines back ", sh->tp->scroll, sh->tp->sb.count);
	w = draw_width(mark);
	draw_text(1, COLS - w, w, theme_style(TH_PANE_NOTICE), mark, false);
}

static void place_cursor(struct app *a)
{
	struct shell *sh = app_shell(a);
	int y, x;

	if (a->overlay == OV_NEW && dialog_new_cursor(&a->dnew, LINES, COLS, &y, &x)) {
		curs_set(1);
		move(y, x);
		return;
	}
	if (a->overlay == OV_UPLOAD && upload_dialog_cursor(a->updlg, LINES, COLS, &y, &x)) {
		curs_set(1);
		move(y, x);
		return;
	}
	if (a->overlay == OV_NONE && !sh && a->up && !a->net && uploadpane_cursor(a->up, &y, &x)) {
		curs_set(1);
		move(y, x);
		return;
	}
	if (a->overlay == OV_NONE && !sh && a->vault &&
	    vaultpane_cursor(a->vault, LINES, COLS, &y, &x)) {
		curs_set(1);
		move(y, x);
		return;
	}
	if (a->overlay == OV_NONE && !sh && a->snaps &&
	    snappane_cursor(a->snaps, LINES, COLS, &y, &x)) {
		curs_set(1);
		move(y, x);
		return;
	}
	if (a->overlay == OV_NONE && !sh && a->net && netpane_cursor(a->net, LINES, COLS, &y, &x)) {
		curs_set(1);
		move(y, x);
		return;
	}
	if (a->overlay == OV_NONE && sh && sh->state == SHELL_LIVE &&
	    termpane_cursor(sh->tp, &y, &x)) {
		curs_set(1);
		move(1 + y, x);
		return;
	}
	curs_set(0);
}

bool screen_too_small(void)
{
	return LINES < MIN_LINES || COLS < MIN_COLS;
}

void screen_draw(struct app *a)
{
	struct shell *sh = app_shell(a);
	bool pane_drawn = false;
	char jobs[384], hint[160], up[96];

	if (a->full) {
		erase();
		a->dirty = true;
	}
	if (screen_too_small()) {
		if (a->dirty) {
			erase();
			mvprintw(0, 0, "Too small: %dx%d.", COLS, LINES);
			mvprintw(1, 0, "smolvm needs %dx%d.", MIN_COLS, MIN_LINES);
			refresh();
		}
		a->dirty = a->full = false;
		return;
	}
	if (sh && a->overlay != OV_HELP) {
		pane_drawn = termpane_draw(sh->tp, stdscr, 1, 0, a->full);
		if (sh->state != SHELL_LIVE && (pane_drawn || a->dirty))
			draw_pane_notice(sh);
		if (sh->tp->scroll && (pane_drawn || a->dirty))
			draw_scroll_mark(sh);
		/* The pane drew over the dialog. */
		if (pane_drawn && a->overlay != OV_NONE)
			a->dirty = true;
	}
	if (sh && sh->tp->bell) {
		sh->tp->bell = false;
		beep();
	}
	if (sh && sh->tp->retitled) {
		sh->tp->retitled = false;
		a->dirty = true;
	}
	if (!a->dirty && !pane_drawn) {
		place_cursor(a);
		refresh();
		return;
	}
	app_build_rows(a);
	draw_header(a);
	if (a->overlay == OV_HELP && a->net && !sh) {
		help_draw_net(1, LINES - 3, COLS, a->prefix_label, a->prefix_name);
	} else if (a->overlay == OV_HELP && a->up && !sh) {
		help_draw_upload(1, LINES - 3, COLS, a->prefix_label, a->prefix_name);
	} else if (a->overlay == OV_HELP && a->files && !sh) {
		help_draw_files(1, LINES - 3, COLS, a->prefix_label, a->prefix_name);
	} else if (a->overlay == OV_HELP && a->snaps && !sh) {
		help_draw_snaps(1, LINES - 3, COLS, a->prefix_label, a->prefix_name);
	} else if (a->overlay == OV_HELP && a->vault && !sh) {
		help_draw_vault(1, LINES - 3, COLS, a->prefix_label, a->prefix_name);
	} else if (a->overlay == OV_HELP) {
		help_draw(1, LINES - 3, COLS, a->prefix_label, a->prefix_name);
	} else if (!sh && a->net) {
		netpane_draw(a->net, 1, LINES - 3, COLS);
	} else if (!sh && a->up) {
		uploadpane_draw(a, 1, LINES - 3, COLS);
	} else if (!sh && a->files) {
		filespane_draw(a->files, 1, LINES - 3, COLS);
	} else if (!sh && a->snaps) {
		snappane_draw(a->snaps, 1, LINES - 3, COLS);
	} else if (!sh && a->vault) {
		vaultpane_draw(a->vault, 1, LINES - 3, COLS);
	} else if (!sh) {
		if (a->root)
			snprintf(hint, sizeof hint, "No sandboxes yet. Press n to create one.");
		else
			snprintf(hint, sizeof hint, "No sandboxes yet (create one with sudo smolvm "
				 "create).");
		list_draw(1, LINES - 3, COLS, a->rows, a->nsbs, a->sel, &a->top, hint);
	}
	app_jobs_summary(a, jobs, sizeof jobs);
	transfers_summary(&a->xfers, up, sizeof up);
	if (*up) {
		size_t o = strlen(jobs);

		snprintf(jobs + o, sizeof jobs - o, "%s%s", o ? "  " : "", up);
	}
	status_draw(LINES - 2, COLS, jobs);
	draw_keys(a);
	if (a->overlay == OV_NEW)
		dialog_new_draw(&a->dnew, LINES, COLS);
	else if (a->overlay == OV_CONFIRM)
		dialog_confirm_draw(&a->dconf, LINES, COLS);
	else if (a->overlay == OV_UPLOAD)
		upload_dialog_draw(a->updlg, LINES, COLS);
	else if (a->overlay == OV_NONE && !sh && a->snaps)
		snappane_draw_dialog(a->snaps, LINES, COLS);
	else if (a->overlay == OV_NONE && !sh && a->vault)
		vaultpane_draw_dialog(a->vault, LINES, COLS);
	else if (a->overlay == OV_NONE && !sh && a->net)
		netpane_draw_dialog(a->net, LINES, COLS);
	place_cursor(a);
	refresh();
	a->dirty = a->full = false;
}
