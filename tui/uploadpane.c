#include "tui/uploadpane.h"

#include <curses.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/util.h"
#include "fs/progress.h"
#include "tui/app.h"
#include "tui/draw.h"
#include "tui/status.h"
#include "tui/theme.h"
#include "tui/transfer.h"
#include "tui/upload.h"

struct uploadpane *uploadpane_open(const struct sandbox *sb)
{
	struct uploadpane *up = xcalloc(1, sizeof *up);

	up->sb = *sb;
	up->path.label = "File";
	up->path.unit = "";
	up->path.width = 40;
	return up;
}

void uploadpane_free(struct uploadpane *up)
{
	free(up);
}

/* path with a leading ~ or ~/ made the home folder; newly allocated. */
static char *expand_home(const char *path)
{
	const char *home = getenv("HOME");

	if (path[0] == '~' && (!path[1] || path[1] == '/') && home && *home)
		return xasprintf("%s%s", home, path + 1);
	return xstrdup(path);
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

size_t uploadpane_complete(const char *path, char *out, size_t len, struct paste_paths *m)
{
	const char *slash = strrchr(path, '/'), *prefix = slash ? slash + 1 : path;
	size_t keep = slash ? (size_t)(slash - path + 1) : 0, plen = strlen(prefix), common = 0;
	char *typed_dir = xasprintf("%.*s", (int)keep, path), *dir = expand_home(typed_dir);
	struct dirent *e;
	DIR *d;

	*m = (struct paste_paths){ 0 };
	snprintf(out, len, "%s", path);
	d = opendir(*dir ? dir : ".");
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* Hidden names only when asked for with a leading dot. */
		if ((e->d_name[0] == '.' && prefix[0] != '.') || strncmp(e->d_name, prefix, plen))
			continue;
		m->v = xrealloc(m->v, (m->n + 1) * sizeof *m->v);
		m->v[m->n++] = xstrdup(e->d_name);
	}
	if (d)
		closedir(d);
	if (m->n)
		qsort(m->v, m->n, sizeof *m->v, name_cmp);
	if (m->n == 1) {
		char *full = xasprintf("%s%s", *dir ? dir : "", m->v[0]);
		struct stat st;
		bool is_dir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);

		snprintf(out, len, "%s%s%s", typed_dir, m->v[0], is_dir ? "/" : "");
		free(full);
	} else if (m->n > 1) {
		/* What every match shares beyond what was typed. */
		common = strlen(m->v[0]);
		for (size_t i = 1; i < m->n; i++) {
			size_t k = 0;

			while (k < common && m->v[i][k] == m->v[0][k])
				k++;
			common = k;
		}
		snprintf(out, len, "%s%.*s", typed_dir, (int)common, m->v[0]);
	}
	free(typed_dir);
	free(dir);
	return m->n;
}

static void complete(struct uploadpane *up)
{
	struct paste_paths m;
	char out[sizeof up->path.value];
	size_t n = uploadpane_complete(up->path.value, out, sizeof out, &m), o;

	snprintf(up->path.value, sizeof up->path.value, "%s", out);
	up->path.len = up->path.cursor = strlen(up->path.value);
	if (!n) {
		snprintf(up->note, sizeof up->note, "nothing here starts like that");
	} else if (n == 1) {
		up->note[0] = '\0';
	} else {
		o = (size_t)snprintf(up->note, sizeof up->note, "%zu match:", n);
		for (size_t i = 0; i < m.n && o < sizeof up->note; i++)
			o += (size_t)snprintf(up->note + o, sizeof up->note - o, " %s", m.v[i]);
	}
	paste_paths_free(&m);
}

/* Enter: the prompt's file or folder, to the destination dialog. */
static void choose(struct app *a, struct uploadpane *up)
{
	struct paste_paths p = { 0 };
	char *path, *abs;
	struct stat st;

	if (!up->path.len) {
		snprintf(up->note, sizeof up->note, "type the path of a file or folder on the host "
			 "(Tab completes)");
		return;
	}
	path = expand_home(up->path.value);
	if (stat(path, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		snprintf(up->note, sizeof up->note, "%s: no such file or folder on the host",
			 up->path.value);
		free(path);
		return;
	}
	abs = realpath(path, NULL);
	free(path);
	if (!abs) {
		snprintf(up->note, sizeof up->note, "cannot resolve %s", up->path.value);
		return;
	}
	p.v = xmalloc(sizeof *p.v);
	p.v[0] = abs;
	p.n = 1;
	up->note[0] = '\0';
	upload_offer(a, &up->sb, NULL, &p, NULL, 0);
	if (a->updlg) {
		up->path.len = up->path.cursor = 0;
		up->path.value[0] = '\0';
	}
}

/* The index of the selected transfer (lock held); n when there is none. */
static size_t selected(struct transfers *q, const struct uploadpane *up)
{
	for (size_t i = 0; i < q->n; i++)
		if (q->v[i]->id == up->sel_id)
			return i;
	return q->n ? q->n - 1 : 0;
}

static void move_sel(struct app *a, struct uploadpane *up, int delta)
{
	struct transfers *q = &a->xfers;
	size_t i;

	transfers_lock(q);
	if (q->n) {
		i = selected(q, up);
		if (delta < 0 && i > 0)
			i--;
		else if (delta > 0 && i + 1 < q->n)
			i++;
		up->sel_id = q->v[i]->id;
	}
	transfers_unlock(q);
}

static unsigned selected_id(struct app *a, struct uploadpane *up)
{
	unsigned id = 0;

	transfers_lock(&a->xfers);
	if (a->xfers.n)
		id = a->xfers.v[selected(&a->xfers, up)]->id;
	transfers_unlock(&a->xfers);
	return id;
}

bool uploadpane_key(struct app *a, bool is_code, wint_t wc)
{
	struct uploadpane *up = a->up;
	unsigned id;

	if (!is_code && wc == 0x1b)
		return false;
	/* With nothing typed yet, ? is help rather than a character. */
	if (!is_code && wc == '?' && !up->path.len) {
		a->overlay = OV_HELP;
		return true;
	}
	if (!is_code && wc == '\t') {
		complete(up);
		return true;
	}
	if ((!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER)) {
		choose(a, up);
		return true;
	}
	if (is_code && (wc == KEY_UP || wc == KEY_DOWN)) {
		move_sel(a, up, wc == KEY_UP ? -1 : 1);
		return true;
	}
	if (!is_code && wc == 0x18) {		/* Ctrl-X */
		if ((id = selected_id(a, up))) {
			transfers_cancel(&a->xfers, id);
			status_set(STATUS_INFO, "cancelling the selected upload");
		}
		return true;
	}
	if (!is_code && wc == 0x0c) {		/* Ctrl-L */
		transfers_clear(&a->xfers);
		up->sel_id = 0;
		return true;
	}
	if (dialog_field_key(&up->path, is_code, wc))
		up->note[0] = '\0';
	return true;
}

void uploadpane_paste(struct app *a, const char *text, size_t len)
{
	struct uploadpane *up = a->up;
	struct paste_paths p;

	if (paste_files(text, len, &p)) {
		upload_offer(a, &up->sb, NULL, &p, NULL, 0);
		return;
	}
	/* Other text goes into the prompt, as one line. */
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)text[i] < 0x20)
			continue;
		if (up->path.len + 1 >= sizeof up->path.value)
			break;
		memmove(up->path.value + up->path.cursor + 1, up->path.value + up->path.cursor,
			up->path.len - up->path.cursor + 1);
		up->path.value[up->path.cursor++] = text[i];
		up->path.len++;
	}
}

static const char *state_word(const struct transfer *t)
{
	switch (t->state) {
	case XFER_QUEUED: return "queued";
	case XFER_RUNNING: return "running";
	case XFER_DONE: return "done";
	case XFER_FAILED: return "FAILED";
	case XFER_CANCELLED: return "cancelled";
	}
	return "";
}

static struct style state_style(const struct transfer *t)
{
	switch (t->state) {
	case XFER_DONE: return theme_style(TH_XFER_DONE);
	case XFER_FAILED: return theme_style(TH_XFER_FAILED);
	case XFER_RUNNING: return theme_style(TH_XFER_RUNNING);
	default: return theme_style(TH_LIST);
	}
}

/* One transfer's row: state, sandbox:folder, then its bar or its outcome. */
static void draw_row(const struct transfer *t, int y, int cols, bool sel)
{
	struct style base = theme_style(sel ? TH_LIST_SELECTED : TH_LIST);
	struct style st = sel ? base : state_style(t);
	char where[160], line[512], size[32];
	int x = 1, w;

	draw_fill(y, 0, cols, base);
	x += draw_text(y, x, 10, st, state_word(t), true) + 1;
	snprintf(where, sizeof where, "%s:%s", t->sb_name, t->dest);
	w = cols / 4 > 12 ? cols / 4 : 12;
	x += draw_text(y, x, w, base, where, true) + 1;
	if (t->state == XFER_RUNNING || t->state == XFER_QUEUED) {
		int64_t ms = util_now_ms() - t->started_ms;
		double bps = t->state == XFER_RUNNING && ms > 500 ? t->done * 1000.0 / (double)ms :
			     0;

		progress_line(line, sizeof line, cols - x, t->name, t->done, t->total, bps);
		draw_text(y, x, cols - x - 1, base, line, false);
		return;
	}
	if (t->state == XFER_FAILED) {
		snprintf(line, sizeof line, "%s: %s", t->name, t->error);
		draw_text(y, x, cols - x - 1, st, line, false);
		return;
	}
	progress_fmt_bytes(t->total, size, sizeof size);
	snprintf(line, sizeof line, "%s  %s, %d file%s in %.1f s", t->name, size, t->files_total,
		 t->files_total == 1 ? "" : "s", (double)(t->ended_ms - t->started_ms) / 1000.0);
	draw_text(y, x, cols - x - 1, base, t->state == XFER_DONE ? line : t->name, false);
}

void uploadpane_draw(struct app *a, int y0, int h, int cols)
{
	struct uploadpane *up = a->up;
	struct transfers *q = &a->xfers;
	struct style base = theme_style(TH_LIST), head = theme_style(TH_LIST_HEADER);
	char title[160];
	int rows, y;
	size_t sel;

	for (y = y0; y < y0 + h; y++)
		draw_fill(y, 0, cols, base);
	snprintf(title, sizeof title, "Upload to %s (%s)", up->sb.name, up->sb.id);
	draw_text(y0, 1, cols - 2, head, title, false);
	up->prompt_y = y0 + 2;
	up->prompt_x = 2;
	dialog_field_draw(&up->path, up->prompt_y, up->prompt_x, true);
	draw_text(y0 + 3, 2, cols - 3, base, up->note[0] ? up->note :
		  "Tab completes; Enter chooses where it goes in the sandbox", false);
	transfers_lock(q);
	draw_text(y0 + 5, 1, cols - 2, head, q->n ? "Transfers (newest last)" :
		  "Transfers: none yet. Drop files on a shell, or type a path above.", false);
	rows = h - 6;
	sel = selected(q, up);
	if (rows > 0 && q->n) {
		if (sel < up->top)
			up->top = sel;
		if (sel >= up->top + (size_t)rows)
			up->top = sel - (size_t)rows + 1;
		if (up->top >= q->n)
			up->top = 0;
		for (size_t i = up->top; i < q->n && (int)(i - up->top) < rows; i++)
			draw_row(q->v[i], y0 + 6 + (int)(i - up->top), cols, i == sel);
	}
	transfers_unlock(q);
}

bool uploadpane_cursor(const struct uploadpane *up, int *y, int *x)
{
	*y = up->prompt_y;
	*x = up->prompt_x + 9 + dialog_field_cursor(&up->path);
	return true;
}
