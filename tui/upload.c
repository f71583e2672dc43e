#include "tui/upload.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"
#include "tui/app.h"
#include "tui/draw.h"
#include "tui/status.h"
#include "tui/theme.h"

#define DLG_W 64
#define DLG_H 11

static const char *const buttons[] = { "Upload", "Paste as text", "Cancel" };

static const struct sandbox *find_sandbox(struct app *a, const char *id)
{
	for (size_t i = 0; i < a->nsbs; i++)
		if (!strcmp(a->sbs[i].id, id))
			return &a->sbs[i];
	return NULL;
}

void upload_dialog_free(struct upload_dialog *d)
{
	if (!d)
		return;
	paste_paths_free(&d->paths);
	free(d->text);
	free(d);
}

static void set_dest(struct upload_dialog *d, const char *dir)
{
	snprintf(d->dest.value, sizeof d->dest.value, "%s", dir);
	d->dest.len = d->dest.cursor = strlen(d->dest.value);
}

void upload_offer(struct app *a, const struct sandbox *sb, struct shell *sh,
		  struct paste_paths *paths, const char *text, size_t len)
{
	struct upload_dialog *d;

	if (strcmp(sb->state, SB_RUNNING)) {
		status_set(STATUS_ERROR, "cannot upload to %s: it is %s", sb->name, sb->state);
		paste_paths_free(paths);
		return;
	}
	if (!a->root) {
		status_set(STATUS_ERROR, "uploading needs root: it goes through the sandbox's "
			   "network namespace; run smolvm with sudo");
		paste_paths_free(paths);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->sb = *sb;
	d->paths = *paths;
	*paths = (struct paste_paths){ 0 };
	d->sh = sh;
	if (text) {
		d->text = xmalloc(len + 1);
		memcpy(d->text, text, len);
		d->text[len] = '\0';
		d->text_len = len;
	}
	d->dest.label = "To";
	d->dest.unit = "";
	d->dest.width = DLG_W - 16;
	set_dest(d, sh && sh->tp->cwd[0] ? sh->tp->cwd : UPLOAD_HOME);
	if (sh)
		d->cwd_seq = sh->tp->cwd_seq;
	upload_dialog_free(a->updlg);
	a->updlg = d;
	a->overlay = OV_UPLOAD;
	a->dirty = true;
	/* Connect now, while the destination is chosen; and ask where the
	 * shell is, the answer coming in on its own terminal. */
	transfers_prepare(&a->xfers, sb, sh != NULL);
}

void upload_paste(struct app *a, const char *text, size_t len)
{
	struct shell *sh = app_shell(a);
	struct paste_paths paths;
	bool is_files = paste_files(text, len, &paths);

	a->dirty = true;
	if (a->overlay != OV_NONE || a->prefix_armed) {
		if (is_files)
			paste_paths_free(&paths);
		status_set(STATUS_INFO, "paste ignored: finish what is open first");
		return;
	}
	if (sh) {
		const struct sandbox *sb = find_sandbox(a, sh->id);

		if (is_files && sb && sh->state == SHELL_LIVE) {
			upload_offer(a, sb, sh, &paths, text, len);
			return;
		}
		if (is_files)
			paste_paths_free(&paths);
		termpane_scroll(sh->tp, -sh->tp->scroll);
		termpane_paste(sh->tp, text, len);
		return;
	}
	if (a->up) {
		uploadpane_paste(a, text, len);
		if (is_files)
			paste_paths_free(&paths);
		return;
	}
	if (is_files && !a->net && !a->files && !a->snaps && !a->vault && app_selected(a)) {
		upload_offer(a, app_selected(a), NULL, &paths, NULL, 0);
		return;
	}
	if (is_files)
		paste_paths_free(&paths);
	status_set(STATUS_INFO, "a paste of files uploads them: drop them on a shell or on the "
		   "list");
}

static void close_dialog(struct app *a)
{
	upload_dialog_free(a->updlg);
	a->updlg = NULL;
	a->overlay = OV_NONE;
	a->full = true;
}

static void submit(struct app *a)
{
	struct upload_dialog *d = a->updlg;
	const struct sandbox *sb = find_sandbox(a, d->sb.id);

	if (!d->dest.len) {
		snprintf(d->error, sizeof d->error, "say which folder in %s", d->sb.name);
		d->focus = UPLOAD_DEST;
		return;
	}
	if (!sb) {
		status_set(STATUS_ERROR, "%s is gone: nothing uploaded", d->sb.name);
		close_dialog(a);
		return;
	}
	transfers_batch(&a->xfers);
	for (size_t i = 0; i < d->paths.n; i++)
		transfers_add(&a->xfers, sb, d->paths.v[i], d->dest.value);
	status_set(STATUS_INFO, "uploading %zu item%s to %s:%s...", d->paths.n,
		   d->paths.n == 1 ? "" : "s", sb->name, d->dest.value);
	close_dialog(a);
}

static void activate(struct app *a)
{
	struct upload_dialog *d = a->updlg;

	switch (d->focus) {
	case UPLOAD_DEST:
	case UPLOAD_OK:
		submit(a);
		return;
	case UPLOAD_TYPE:
		if (d->sh && d->text && d->sh->state == SHELL_LIVE)
			termpane_paste(d->sh->tp, d->text, d->text_len);
		close_dialog(a);
		return;
	default:
		close_dialog(a);
	}
}

/* "Paste as text" is there only for a paste on a shell. */
static int step_focus(const struct upload_dialog *d, int f, int dir)
{
	do
		f = (f + dir + UPLOAD_NFOCUS) % UPLOAD_NFOCUS;
	while (f == UPLOAD_TYPE && !d->text);
	return f;
}

void upload_dialog_key(struct app *a, bool is_code, wint_t wc)
{
	struct upload_dialog *d = a->updlg;

	a->dirty = true;
	if (!is_code && wc == 0x1b) {
		close_dialog(a);
		return;
	}
	if ((!is_code && wc == '\t') || (is_code && wc == KEY_DOWN)) {
		d->focus = step_focus(d, d->focus, 1);
		return;
	}
	if (is_code && (wc == KEY_BTAB || wc == KEY_UP)) {
		d->focus = step_focus(d, d->focus, -1);
		return;
	}
	if ((!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER)) {
		activate(a);
		return;
	}
	if (d->focus != UPLOAD_DEST) {
		/* Left and Right move between the buttons only. */
		if (is_code && (wc == KEY_LEFT || wc == KEY_RIGHT)) {
			int f = step_focus(d, d->focus, wc == KEY_LEFT ? -1 : 1);

			if (f != UPLOAD_DEST)
				d->focus = f;
		}
		return;
	}
	if (dialog_field_key(&d->dest, is_code, wc)) {
		d->edited = true;
		d->error[0] = '\0';
	}
}

static void origin(int lines, int cols, int *y, int *x, int *w)
{
	*w = cols - 2 < DLG_W ? cols - 2 : DLG_W;
	*y = (lines - DLG_H) / 2;
	*x = (cols - *w) / 2;
	if (*y < 0)
		*y = 0;
}

void upload_dialog_draw(const struct upload_dialog *d, int lines, int cols)
{
	struct style base = theme_style(TH_DIALOG);
	char title[96], what[256], from[128];
	size_t o = 0;
	int y, x, w, bx;

	origin(lines, cols, &y, &x, &w);
	snprintf(title, sizeof title, "Upload to %.40s", d->sb.name);
	draw_box(y, x, DLG_H, w, theme_style(TH_BORDER), base, title);
	o = (size_t)snprintf(what, sizeof what, "%zu item%s:", d->paths.n,
			     d->paths.n == 1 ? "" : "s");
	for (size_t i = 0; i < d->paths.n && o < sizeof what; i++) {
		const char *slash = strrchr(d->paths.v[i], '/');
		const char *name = slash && slash[1] ? slash + 1 : d->paths.v[i];

		o += (size_t)snprintf(what + o, sizeof what - o, "%s %s", i ? "," : "", name);
	}
	draw_text(y + 2, x + 3, w - 6, base, what, true);
	dialog_field_draw(&d->dest, y + 4, x + 3, d->focus == UPLOAD_DEST);
	if (d->error[0])
		draw_text(y + 6, x + 3, w - 6, theme_style(TH_DIALOG_ERROR), d->error, true);
	else {
		if (d->sh && d->sh->tp->cwd[0] && !strcmp(d->dest.value, d->sh->tp->cwd))
			snprintf(from, sizeof from, "the shell's current folder");
		else if (!strcmp(d->dest.value, UPLOAD_HOME))
			snprintf(from, sizeof from, "the home folder%s",
				 d->sh && !d->sh->tp->cwd[0] ? " (asking the shell where it is)" :
				 "");
		else
			snprintf(from, sizeof from, "a folder in %s (relative: from /root)",
				 d->sb.name);
		draw_text(y + 6, x + 12, w - 15, base, from, true);
	}
	draw_text(y + 7, x + 3, w - 6, base, "Enter: upload   Tab: buttons   Esc: cancel", true);
	bx = x + 3;
	for (int i = 0; i < 3; i++) {
		struct style st = theme_style(d->focus == UPLOAD_OK + i ? TH_DIALOG_FIELD_ACTIVE :
					      TH_DIALOG);
		char b[32];

		if (UPLOAD_OK + i == UPLOAD_TYPE && !d->text)
			continue;
		snprintf(b, sizeof b, "[ %s ]", buttons[i]);
		bx += draw_text(y + DLG_H - 2, bx, (int)strlen(b), st, b, false) + 2;
	}
}

bool upload_dialog_cursor(const struct upload_dialog *d, int lines, int cols, int *cy, int *cx)
{
	int y, x, w;

	if (d->focus != UPLOAD_DEST)
		return false;
	origin(lines, cols, &y, &x, &w);
	*cy = y + 4;
	*cx = x + 3 + 9 + dialog_field_cursor(&d->dest);
	return true;
}

void upload_tick(struct app *a)
{
	struct upload_dialog *d = a->updlg;
	char msg[600];
	bool failed;

	if (d && d->sh && d->sh->tp->cwd_seq != d->cwd_seq) {
		d->cwd_seq = d->sh->tp->cwd_seq;
		if (!d->edited && d->sh->tp->cwd[0]) {
			set_dest(d, d->sh->tp->cwd);
			a->dirty = true;
		}
	}
	while (transfers_outcome(&a->xfers, msg, sizeof msg, &failed)) {
		status_set(failed ? STATUS_ERROR : STATUS_INFO, "%s", msg);
		a->dirty = true;
	}
}
