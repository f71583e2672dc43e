#include "tui/termpane.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "backend/util.h"
#include "tui/colour.h"
#include "tui/paste.h"

static bool use_colour = true;

static void dirty(struct termpane *p, int lo, int hi)
{
	if (lo < 0)
		lo = 0;
	if (hi > p->rows)
		hi = p->rows;
	if (lo >= hi)
		return;
	if (p->dirty_lo >= p->dirty_hi) {
		p->dirty_lo = lo;
		p->dirty_hi = hi;
		return;
	}
	if (lo < p->dirty_lo)
		p->dirty_lo = lo;
	if (hi > p->dirty_hi)
		p->dirty_hi = hi;
}

static int cb_damage(VTermRect rect, void *user)
{
	struct termpane *p = user;

	/* While scrolled back every row shows different lines than vterm's. */
	if (p->scroll)
		dirty(p, 0, p->rows);
	else
		dirty(p, rect.start_row, rect.end_row);
	return 1;
}

static int cb_movecursor(VTermPos pos, VTermPos oldpos, int visible, void *user)
{
	struct termpane *p = user;

	(void)oldpos;
	p->cursor = pos;
	p->cursor_visible = visible;
	return 1;
}

static int cb_settermprop(VTermProp prop, VTermValue *val, void *user)
{
	struct termpane *p = user;

	switch (prop) {
	case VTERM_PROP_CURSORVISIBLE:
		p->cursor_visible = val->boolean;
		return 1;
	case VTERM_PROP_TITLE:
		snprintf(p->title, sizeof p->title, "%s", val->string ? val->string : "");
		p->retitled = true;
		return 1;
	default:
		return 0;
	}
}

static int cb_bell(void *user)
{
	((struct termpane *)user)->bell = true;
	return 1;
}

static int cb_sb_pushline(int cols, const VTermScreenCell *cells, void *user)
{
	struct termpane *p = user;

	scrollback_push(&p->sb, cols, cells);
	/* Keep a scrolled-back view on the same lines while output goes on. */
	if (p->scroll && p->scroll < (int)p->sb.count)
		p->scroll++;
	return 1;
}

static int cb_sb_popline(int cols, VTermScreenCell *cells, void *user)
{
	struct termpane *p = user;
	int got = scrollback_pop(&p->sb, cols, cells);

	if (p->scroll > (int)p->sb.count)
		p->scroll = (int)p->sb.count;
	return got;
}

static const VTermScreenCallbacks callbacks = {
	.damage = cb_damage,
	.movecursor = cb_movecursor,
	.settermprop = cb_settermprop,
	.bell = cb_bell,
	.sb_pushline = cb_sb_pushline,
	.sb_popline = cb_sb_popline,
};

/* OSC 7 "file://HOST/PATH": where the guest's shell is. The host is the
 * guest's own name, whatever it is. */
static int cb_osc(const char *cmd, size_t len, void *user)
{
	struct termpane *p = user;
	const char *path, *end = cmd + len;
	char *dec;

	if (len < 9 || strncmp(cmd, "7;file://", 9))
		return 0;
	path = memchr(cmd + 9, '/', len - 9);
	if (!path)
		return 1;
	dec = paste_percent_decode(path, (size_t)(end - path));
	if (dec && strlen(dec) < sizeof p->cwd) {
		snprintf(p->cwd, sizeof p->cwd, "%s", dec);
		p->cwd_seq++;
	}
	free(dec);
	return 1;
}

static const VTermParserCallbacks fallbacks = {
	.osc = cb_osc,
};

static void cb_output(const char *s, size_t len, void *user)
{
	buf_append(&((struct termpane *)user)->out, s, len);
}

struct termpane *termpane_new(int rows, int cols)
{
	struct termpane *p = xcalloc(1, sizeof *p);

	p->rows = rows;
	p->cols = cols;
	p->vt = vterm_new(rows, cols);
	if (!p->vt)
		die("out of memory (terminal of %dx%d)", cols, rows);
	vterm_set_utf8(p->vt, 1);
	vterm_output_set_callback(p->vt, cb_output, p);
	p->vs = vterm_obtain_screen(p->vt);
	vterm_screen_set_callbacks(p->vs, &callbacks, p);
	vterm_screen_set_unrecognised_fallbacks(p->vs, &fallbacks, p);
	vterm_screen_set_damage_merge(p->vs, VTERM_DAMAGE_SCROLL);
	vterm_screen_enable_altscreen(p->vs, 1);
	vterm_screen_reset(p->vs, 1);
	scrollback_init(&p->sb, TERMPANE_SCROLLBACK);
	p->cursor_visible = true;
	dirty(p, 0, rows);
	return p;
}

void termpane_free(struct termpane *p)
{
	if (!p)
		return;
	vterm_free(p->vt);
	scrollback_free(&p->sb);
	buf_free(&p->out);
	free(p);
}

void termpane_feed(struct termpane *p, const char *data, size_t len)
{
	vterm_input_write(p->vt, data, len);
	vterm_screen_flush_damage(p->vs);
}

void termpane_key(struct termpane *p, const struct keys_vt *k)
{
	keys_send(p->vt, k);
}

void termpane_text(struct termpane *p, const char *s)
{
	buf_append(&p->out, s, strlen(s));
}

void termpane_paste(struct termpane *p, const char *s, size_t len)
{
	vterm_keyboard_start_paste(p->vt);
	buf_append(&p->out, s, len);
	vterm_keyboard_end_paste(p->vt);
}

void termpane_resize(struct termpane *p, int rows, int cols)
{
	if (rows < 1)
		rows = 1;
	if (cols < 1)
		cols = 1;
	if (rows == p->rows && cols == p->cols)
		return;
	p->rows = rows;
	p->cols = cols;
	vterm_set_size(p->vt, rows, cols);
	vterm_screen_flush_damage(p->vs);
	termpane_touch(p);
}

void termpane_scroll(struct termpane *p, int delta)
{
	int s = p->scroll + delta;

	if (s < 0)
		s = 0;
	if (s > (int)p->sb.count)
		s = (int)p->sb.count;
	if (s != p->scroll) {
		p->scroll = s;
		termpane_touch(p);
	}
}

void termpane_touch(struct termpane *p)
{
	dirty(p, 0, p->rows);
}

void termpane_set_colour(bool on)
{
	use_colour = on;
}

static attr_t cell_attrs(const VTermScreenCell *c)
{
	attr_t a = A_NORMAL;

	if (c->attrs.bold)
		a |= A_BOLD;
	if (c->attrs.underline)
		a |= A_UNDERLINE;
	if (c->attrs.italic)
		a |= A_ITALIC;
	if (c->attrs.blink)
		a |= A_BLINK;
	if (c->attrs.reverse)
		a |= A_REVERSE;
	return a;
}

static int cell_pair(const VTermScreenCell *c)
{
	static int last_fg = -2, last_bg = -2, last_pair;
	int fg, bg;

	if (!use_colour)
		return 0;
	fg = colour_from_vterm(&c->fg, COLORS);
	bg = colour_from_vterm(&c->bg, COLORS);
	if (fg == -1 && bg == -1)
		return 0;
	if (fg != last_fg || bg != last_bg) {
		last_pair = alloc_pair(fg, bg);
		if (last_pair < 0)
			last_pair = 0;
		last_fg = fg;
		last_bg = bg;
	}
	return last_pair;
}

static void draw_cell(WINDOW *w, int y, int x, const VTermScreenCell *c)
{
	wchar_t wch[VTERM_MAX_CHARS_PER_CELL + 1];
	int n = 0, pair = cell_pair(c);
	cchar_t cc;

	for (; n < VTERM_MAX_CHARS_PER_CELL && c->chars[n]; n++)
		wch[n] = (wchar_t)c->chars[n];
	/* A character curses cannot show would shift the rest of the row. */
	if (!n || wcwidth(wch[0]) < 0) {
		wch[0] = n ? L'?' : L' ';
		n = 1;
	}
	wch[n] = L'\0';
	setcchar(&cc, wch, cell_attrs(c), 0, &pair);
	mvwadd_wch(w, y, x, &cc);
}

static void draw_row(struct termpane *p, WINDOW *w, int y, int x0, int row)
{
	const struct scrollback_line *sl = NULL;
	VTermScreenCell cell;
	int src = row;

	if (row < p->scroll)
		sl = scrollback_get(&p->sb, (size_t)(p->scroll - 1 - row));
	else
		src = row - p->scroll;
	for (int col = 0; col < p->cols; col++) {
		if (sl) {
			cell = *scrollback_cell(sl, col);
		} else {
			VTermPos pos = { src, col };
			vterm_screen_get_cell(p->vs, pos, &cell);
		}
		/* The right half of a wide character. */
		if (cell.chars[0] == (uint32_t)-1)
			continue;
		if (cell.width == 2 && col == p->cols - 1) {
			cell.chars[0] = ' ';
			cell.chars[1] = 0;
		}
		draw_cell(w, y, x0 + col, &cell);
	}
}

bool termpane_draw(struct termpane *p, WINDOW *w, int y0, int x0, bool full)
{
	int lo = full ? 0 : p->dirty_lo, hi = full ? p->rows : p->dirty_hi;

	for (int r = lo; r < hi; r++)
		draw_row(p, w, y0 + r, x0, r);
	p->dirty_lo = p->dirty_hi = 0;
	return lo < hi;
}

bool termpane_cursor(const struct termpane *p, int *row, int *col)
{
	*row = p->cursor.row;
	*col = p->cursor.col;
	return p->cursor_visible && !p->scroll;
}

void termpane_row_text(const struct termpane *p, int row, char *buf, size_t len)
{
	VTermRect r = { .start_row = row, .end_row = row + 1, .start_col = 0, .end_col = p->cols };
	size_t n;

	if (!len)
		return;
	n = vterm_screen_get_text(p->vs, buf, len - 1, r);
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}
