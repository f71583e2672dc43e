#include "tui/filespane.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/util.h"
#include "fs/progress.h"
#include "tui/draw.h"
#include "tui/theme.h"

/* One read, shared by the pane and its thread: whoever is last frees it
 * (the pane may close before the read ends). */
struct diff_read {
	pthread_mutex_t lock;
	int refs;
	struct sandbox sb;
	int pipe[2];
	int rc;
	struct diff_change *c;
	size_t n;
	char error[400];
	int64_t took_ms;
};

static void read_put(struct diff_read *r)
{
	int left;

	pthread_mutex_lock(&r->lock);
	left = --r->refs;
	pthread_mutex_unlock(&r->lock);
	if (left)
		return;
	diff_free(r->c, r->n);
	close(r->pipe[0]);
	close(r->pipe[1]);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void *read_main(void *arg)
{
	struct diff_read *r = arg;
	int64_t t0 = util_now_ms();

	r->rc = diff_sandbox(&r->sb, &r->c, &r->n);
	if (r->rc < 0)
		snprintf(r->error, sizeof r->error, "%s", err_msg());
	r->took_ms = util_now_ms() - t0;
	if (write(r->pipe[1], "x", 1) < 0) {
		/* the pane reads it from rc all the same */
	}
	read_put(r);
	return NULL;
}

static void start_read(struct filespane *fp)
{
	struct diff_read *r = xcalloc(1, sizeof *r);
	pthread_attr_t attr;
	pthread_t t;

	r->sb = fp->sb;
	r->refs = 2;
	pthread_mutex_init(&r->lock, NULL);
	if (pipe2(r->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(fp->error, sizeof fp->error, "cannot create a pipe: %s", strerror(errno));
		fp->have = true;
		pthread_mutex_destroy(&r->lock);
		free(r);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, read_main, r)) {
		snprintf(fp->error, sizeof fp->error, "cannot start a thread to read the changes");
		fp->have = true;
		r->refs = 1;
		read_put(r);
	} else {
		fp->reading = r;
	}
	pthread_attr_destroy(&attr);
}

struct filespane *filespane_open(const struct sandbox *sb)
{
	struct filespane *fp = xcalloc(1, sizeof *fp);

	fp->sb = *sb;
	start_read(fp);
	return fp;
}

void filespane_free(struct filespane *fp)
{
	if (!fp)
		return;
	if (fp->reading)
		read_put(fp->reading);
	diff_free(fp->c, fp->n);
	free(fp);
}

void filespane_refresh(struct filespane *fp)
{
	if (!fp->reading)
		start_read(fp);
}

int filespane_fd(const struct filespane *fp)
{
	return fp->reading ? fp->reading->pipe[0] : -1;
}

bool filespane_collect(struct filespane *fp)
{
	struct diff_read *r = fp->reading;
	char b;

	if (!r || read(r->pipe[0], &b, 1) != 1)
		return false;
	/* The thread wrote its byte after its last word on the result. */
	if (r->rc == 0) {
		diff_free(fp->c, fp->n);
		fp->c = r->c;
		fp->n = r->n;
		r->c = NULL;
		r->n = 0;
		fp->error[0] = '\0';
		if (fp->sel >= fp->n)
			fp->sel = fp->n ? fp->n - 1 : 0;
	} else {
		snprintf(fp->error, sizeof fp->error, "%s", r->error);
	}
	fp->have = true;
	fp->took_ms = r->took_ms;
	fp->read_at_ms = util_now_ms();
	fp->reading = NULL;
	read_put(r);
	return true;
}

static void move_sel(struct filespane *fp, long delta)
{
	long s = (long)fp->sel + delta;

	if (s >= (long)fp->n)
		s = (long)fp->n - 1;
	if (s < 0)
		s = 0;
	fp->sel = (size_t)s;
}

enum filespane_result filespane_key(struct filespane *fp, bool is_code, wint_t wc)
{
	long page = fp->rows > 1 ? fp->rows - 1 : 1;

	if (is_code) {
		switch (wc) {
		case KEY_UP: move_sel(fp, -1); break;
		case KEY_DOWN: move_sel(fp, 1); break;
		case KEY_PPAGE: move_sel(fp, -page); break;
		case KEY_NPAGE: move_sel(fp, page); break;
		case KEY_HOME: fp->sel = 0; break;
		case KEY_END: move_sel(fp, (long)fp->n); break;
		}
		return FILESPANE_HANDLED;
	}
	switch (wc) {
	case 'k': move_sel(fp, -1); break;
	case 'j': move_sel(fp, 1); break;
	case 'r': filespane_refresh(fp); break;
	case '?': return FILESPANE_HELP;
	case 'q': case 'f': case 0x1b: return FILESPANE_CLOSE;
	}
	return FILESPANE_HANDLED;
}

static struct style change_style(char c)
{
	return theme_style(c == 'A' ? TH_DIFF_ADDED : c == 'D' ? TH_DIFF_DELETED : TH_DIFF_CHANGED);
}

static void draw_title(struct filespane *fp, int y, int cols)
{
	int added = 0, changed = 0, deleted = 0;
	char t[300], when[32];

	for (size_t i = 0; i < fp->n; i++) {
		added += fp->c[i].change == 'A';
		changed += fp->c[i].change == 'M';
		deleted += fp->c[i].change == 'D';
	}
	if (!fp->have)
		snprintf(t, sizeof t, "Files of %s (%s): reading what it changed...", fp->sb.name,
			 fp->sb.id);
	else
		snprintf(t, sizeof t, "Files of %s (%s): %zu change%s against its image: "
			 "%d added, %d changed, %d deleted%s", fp->sb.name, fp->sb.id, fp->n,
			 fp->n == 1 ? "" : "s", added, changed, deleted,
			 fp->reading ? "  (reading again...)" : "");
	draw_text(y, 1, cols - 2, theme_style(TH_LIST_HEADER), t, false);
	if (fp->have && !fp->reading) {
		util_fmt_duration((util_now_ms() - fp->read_at_ms) / 1000, when, sizeof when);
		snprintf(t, sizeof t, "read %s ago in %.1f s; r reads again", when,
			 (double)fp->took_ms / 1000.0);
		draw_text(y + 1, 1, cols - 2, theme_style(TH_LIST), t, false);
	}
}

void filespane_draw(struct filespane *fp, int y0, int h, int cols)
{
	struct style base = theme_style(TH_LIST);
	int y = y0 + 3;

	for (int r = y0; r < y0 + h; r++)
		draw_fill(r, 0, cols, base);
	draw_title(fp, y0, cols);
	if (fp->error[0]) {
		draw_wrap(y0 + 2, 1, cols - 2, 3, theme_style(TH_STATUS_ERROR), fp->error);
		y = y0 + 5;
	} else if (fp->have && !fp->n) {
		draw_text(y0 + 3, 2, cols - 3, base, "Nothing changed: the sandbox's files are its "
			  "image's.", false);
		return;
	}
	fp->rows = y0 + h - y;
	if (fp->rows < 1 || !fp->n)
		return;
	if (fp->sel < fp->top)
		fp->top = fp->sel;
	if (fp->sel >= fp->top + (size_t)fp->rows)
		fp->top = fp->sel - (size_t)fp->rows + 1;
	for (size_t i = fp->top; i < fp->n && (int)(i - fp->top) < fp->rows; i++) {
		const struct diff_change *c = &fp->c[i];
		bool sel = i == fp->sel;
		struct style row = theme_style(sel ? TH_LIST_SELECTED : TH_LIST);
		struct style st = sel ? row : change_style(c->change);
		char kind[2] = { c->change, 0 }, size[32] = "";
		int ry = y + (int)(i - fp->top);

		draw_fill(ry, 0, cols, row);
		draw_text(ry, 2, 1, st, kind, false);
		draw_text(ry, 4, 7, row, c->type, true);
		if (c->change != 'D' && strcmp(c->type, "dir"))
			progress_fmt_bytes(c->size, size, sizeof size);
		draw_text(ry, 12, 10, row, size, true);
		draw_text(ry, 23, cols - 24, st, c->path, false);
	}
}
