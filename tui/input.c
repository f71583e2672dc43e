#include "tui/input.h"
#include "tui/screen.h"

#include <curses.h>
#include <limits.h>
#include <string.h>
#include <wchar.h>

#include "backend/util.h"
#include "tui/keys.h"
#include "tui/status.h"
#include "tui/upload.h"

#define DOUBLE_CLICK_MS 400

static bool is_enter(bool is_code, wint_t wc)
{
	return (!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER);
}

/* The sandbox of the shown shell, or the selected one in the list; NULL
 * (and a message) if the shell's sandbox was deleted. */
static const struct sandbox *current_sandbox(struct app *a, struct shell *sh)
{
	if (!sh)
		return app_selected(a);
	for (size_t i = 0; i < a->nsbs; i++)
		if (!strcmp(a->sbs[i].id, sh->id))
			return &a->sbs[i];
	status_set(STATUS_ERROR, "%s is gone: it was deleted", sh->name);
	return NULL;
}

/* A key after the prefix. */
static void prefix_command(struct app *a, bool is_code, wint_t wc)
{
	struct shell *sh = app_shell(a);

	a->prefix_armed = false;
	a->dirty = true;
	if (!is_code && (int)wc == a->prefix) {
		if (sh)
			termpane_text(sh->tp, (char[]){ (char)a->prefix, 0 });
		return;
	}
	if (is_code && wc == KEY_PPAGE) {
		wc = '[';
		is_code = false;
	}
	if (is_code) {
		status_set(STATUS_ERROR, "no command on that key after %s; ? lists them",
			   a->prefix_label);
		return;
	}
	switch (wc) {
	case 'l': case 0x1b: case '0':
		app_switch_view(a, -1);
		return;
	case 'n':
		app_cycle_view(a, 1);
		return;
	case 'p':
		app_cycle_view(a, -1);
		return;
	case 'c': {
		const struct sandbox *sb = current_sandbox(a, sh);

		if (sb)
			app_open_shell(a, sb, false);
		return;
	}
	case 'w': {
		const struct sandbox *sb = current_sandbox(a, sh);

		if (sb) {
			app_open_net(a, sb);
			app_switch_view(a, -1);
		}
		return;
	}
	case 'u': case 'f': case 'S': case 'v': {
		const struct sandbox *sb = current_sandbox(a, sh);

		if (sb) {
			if (wc == 'u')
				app_open_upload(a, sb);
			else if (wc == 'f')
				app_open_files(a, sb);
			else if (wc == 'S')
				app_open_snaps(a, sb);
			else
				app_open_vault(a, sb);
			app_switch_view(a, -1);
		}
		return;
	}
	case 'x':
		app_ask_close_shell(a);
		return;
	case '[':
		if (sh)
			termpane_scroll(sh->tp, sh->tp->rows - 1);
		return;
	case 't':
		app_next_theme(a);
		return;
	case '?':
		a->overlay = OV_HELP;
		return;
	case 'q':
		app_ask_quit(a);
		return;
	}
	if (wc >= '1' && wc <= '9') {
		if ((size_t)(wc - '1') < a->nshells)
			app_switch_view(a, (int)(wc - '1'));
		else
			status_set(STATUS_INFO, "there is no shell %d", (int)(wc - '0'));
		return;
	}
	status_set(STATUS_ERROR, "no command on that key after %s; ? lists them", a->prefix_label);
}

static void list_key(struct app *a, bool is_code, wint_t wc)
{
	if (is_enter(is_code, wc)) {
		app_open_shell(a, app_selected(a), true);
		return;
	}
	if (is_code) {
		switch (wc) {
		case KEY_UP: if (a->sel > 0) app_select(a, a->sel - 1); return;
		case KEY_DOWN: app_select(a, a->sel + 1); return;
		case KEY_HOME: app_select(a, 0); return;
		case KEY_END: app_select(a, a->nsbs ? a->nsbs - 1 : 0); return;
		case KEY_PPAGE: app_select(a, a->sel > 10 ? a->sel - 10 : 0); return;
		case KEY_NPAGE: app_select(a, a->sel + 10); return;
		case KEY_DC: app_ask_delete(a); return;
		case KEY_BTAB: app_cycle_view(a, -1); return;
		}
		return;
	}
	switch (wc) {
	case 'k': if (a->sel > 0) app_select(a, a->sel - 1); return;
	case 'j': app_select(a, a->sel + 1); return;
	case 'g': app_select(a, 0); return;
	case 'G': app_select(a, a->nsbs ? a->nsbs - 1 : 0); return;
	case 's': app_open_shell(a, app_selected(a), false); return;
	case 'n': app_start_new(a); return;
	case 'd': app_ask_delete(a); return;
	case 'w': app_open_net(a, app_selected(a)); return;
	case 'u': app_open_upload(a, app_selected(a)); return;
	case 'f': app_open_files(a, app_selected(a)); return;
	case 'S': app_open_snaps(a, app_selected(a)); return;
	case 'v': app_open_vault(a, app_selected(a)); return;
	case 't': app_next_theme(a); return;
	case '?': a->overlay = OV_HELP; a->dirty = true; return;
	case 'q': app_ask_quit(a); return;
	case '\t': app_cycle_view(a, 1); return;
	}
	if (wc >= '1' && wc <= '9' && (size_t)(wc - '1') < a->nshells)
		app_switch_view(a, (int)(wc - '1'));
}

/* Keys while scrolled back; false if the key ends scrolling and goes on
 * to the shell. */
static bool scroll_key(struct shell *sh, bool is_code, wint_t wc)
{
	int page = sh->tp->rows - 1 > 1 ? sh->tp->rows - 1 : 1;

	if (is_code) {
		switch (wc) {
		case KEY_SPREVIOUS: case KEY_PPAGE: termpane_scroll(sh->tp, page); return true;
		case KEY_SNEXT: case KEY_NPAGE: termpane_scroll(sh->tp, -page); return true;
		case KEY_UP: case KEY_SR: termpane_scroll(sh->tp, 1); return true;
		case KEY_DOWN: case KEY_SF: termpane_scroll(sh->tp, -1); return true;
		case KEY_HOME: termpane_scroll(sh->tp, (int)sh->tp->sb.count); return true;
		case KEY_END: termpane_scroll(sh->tp, -sh->tp->scroll); return true;
		}
	} else if (wc == 0x1b || wc == 'q') {
		termpane_scroll(sh->tp, -sh->tp->scroll);
		return true;
	}
	termpane_scroll(sh->tp, -sh->tp->scroll);
	return false;
}

static void shell_key(struct app *a, struct shell *sh, bool is_code, wint_t wc, bool alt)
{
	struct keys_vt k;

	if (sh->state == SHELL_DONE) {
		app_close_shell(a, a->view);
		return;
	}
	if (is_code && (wc == KEY_SPREVIOUS || wc == KEY_SNEXT)) {
		termpane_scroll(sh->tp, (wc == KEY_SPREVIOUS ? 1 : -1) * (sh->tp->rows - 1));
		return;
	}
	if (sh->tp->scroll && scroll_key(sh, is_code, wc))
		return;
	k = keys_translate(is_code, wc, alt);
	/* Typed before the shell is up: kept and sent once it is. */
	termpane_key(sh->tp, &k);
}

static void on_key(struct app *a, bool is_code, wint_t wc, bool alt)
{
	struct shell *sh = app_shell(a);
	enum dialog_result r;

	a->dirty = true;
	if (screen_too_small())
		return;
	/* Alt means something only to a shell; elsewhere it was Esc, then a key. */
	if (alt && (a->overlay != OV_NONE || !sh || a->prefix_armed)) {
		on_key(a, false, 0x1b, false);
		sh = app_shell(a);
		alt = false;
	}
	switch (a->overlay) {
	case OV_HELP:
		a->overlay = OV_NONE;
		a->full = true;
		return;
	case OV_NEW:
		r = dialog_new_key(&a->dnew, is_code, wc);
		if (r != DIALOG_OPEN) {
			a->overlay = OV_NONE;
			a->full = true;
		}
		if (r == DIALOG_OK)
			app_submit_new(a);
		return;
	case OV_CONFIRM:
		r = dialog_confirm_key(&a->dconf, is_code, wc);
		if (r != DIALOG_OPEN) {
			a->overlay = OV_NONE;
			a->full = true;
		}
		if (r == DIALOG_OK)
			app_do_confirmed(a);
		return;
	case OV_UPLOAD:
		upload_dialog_key(a, is_code, wc);
		return;
	case OV_NONE:
		break;
	}
	if (a->prefix_armed) {
		prefix_command(a, is_code, wc);
		return;
	}
	if (!is_code && !alt && (int)wc == a->prefix) {
		a->prefix_armed = true;
		return;
	}
	if (sh)
		shell_key(a, sh, is_code, wc, alt);
	else if (a->net)
		app_net_key(a, is_code, wc);
	else if (a->up)
		app_upload_key(a, is_code, wc);
	else if (a->files)
		app_files_key(a, is_code, wc);
	else if (a->snaps)
		app_snaps_key(a, is_code, wc);
	else if (a->vault)
		app_vault_key(a, is_code, wc);
	else
		list_key(a, is_code, wc);
}

static void on_mouse(struct app *a)
{
	struct shell *sh = app_shell(a);
	MEVENT ev;

	if (getmouse(&ev) != OK)
		return;
	a->dirty = true;
	if (ev.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		int dir = ev.bstate & BUTTON4_PRESSED ? 1 : -1;

		if (a->overlay != OV_NONE)
			return;
		if (sh)
			termpane_scroll(sh->tp, 3 * dir);
		else if (a->net)
			netpane_scroll(a->net, 3 * dir);
		else if (a->files)
			filespane_key(a->files, true, dir > 0 ? KEY_UP : KEY_DOWN);
		else if (a->up || a->snaps || a->vault)
			return;
		else if (dir > 0 && a->sel > 0)
			app_select(a, a->sel - 1);
		else if (dir < 0)
			app_select(a, a->sel + 1);
		return;
	}
	if (!(ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)))
		return;
	if (a->overlay == OV_HELP) {
		a->overlay = OV_NONE;
		a->full = true;
		return;
	}
	if (a->overlay != OV_NONE)
		return;
	if (ev.y == 0) {
		for (int i = 0; i < a->ntabs; i++)
			if (ev.x >= a->tabs[i].x0 && ev.x < a->tabs[i].x1)
				app_switch_view(a, a->tabs[i].view);
		return;
	}
	if (!sh && !a->net && !a->up && !a->files && !a->snaps && !a->vault) {
		int row = list_row_at(ev.y, 1, LINES - 3, a->nsbs, a->top);
		int64_t now = util_now_ms();

		if (row < 0)
			return;
		app_select(a, (size_t)row);
		if (row == a->click_row && now - a->click_ms < DOUBLE_CLICK_MS)
			app_open_shell(a, app_selected(a), true);
		a->click_row = row;
		a->click_ms = now;
	}
}

/* Between the terminal's paste markers everything is text, whatever it
 * would mean as keys. Returns true if the key was taken. */
static bool paste_input(struct app *a, int r, wint_t wc)
{
	char enc[MB_LEN_MAX];
	mbstate_t ps = { 0 };
	size_t n;

	if (r == KEY_CODE_YES && (int)wc == keys_paste_begin) {
		a->pasting = true;
		a->paste.len = 0;
		return true;
	}
	if (!a->pasting)
		return false;
	if (r == KEY_CODE_YES && (int)wc == keys_paste_end) {
		a->pasting = false;
		upload_paste(a, a->paste.data ? a->paste.data : "", a->paste.len);
		buf_free(&a->paste);
		return true;
	}
	/* A key code inside a paste is some escape sequence: not text. */
	if (r != OK)
		return true;
	n = wcrtomb(enc, (wchar_t)wc, &ps);
	if (n != (size_t)-1)
		buf_append(&a->paste, enc, n);
	return true;
}

void input_read_keys(struct app *a)
{
	for (;;) {
		wint_t wc, wc2;
		int r = get_wch(&wc), r2;
		bool alt = false;

		if (r == ERR)
			return;
		if (paste_input(a, r, wc))
			continue;
		/* ESC with another key right behind it is how Alt arrives; but
		 * Esc then the prefix are two keys (Alt-prefix means nothing). */
		if (r == OK && wc == 0x1b && (r2 = get_wch(&wc2)) != ERR) {
			if (r2 == OK && (int)wc2 == a->prefix) {
				on_key(a, false, wc, false);
			} else {
				alt = true;
			}
			r = r2;
			wc = wc2;
		}
		if (r == KEY_CODE_YES && wc == KEY_MOUSE) {
			on_mouse(a);
			continue;
		}
		if (r == KEY_CODE_YES && wc == KEY_RESIZE) {
			app_resize(a);
			continue;
		}
		on_key(a, r == KEY_CODE_YES, wc, alt);
	}
}
