#include "tui/draw.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "backend/util.h"

bool draw_unicode;

const char *draw_glyph(const char *unicode, const char *ascii)
{
	return draw_unicode ? unicode : ascii;
}

/* Decode one character; bad bytes become '?', one byte each. */
static size_t next_char(const char *s, wchar_t *wc, mbstate_t *st)
{
	size_t n = mbrtowc(wc, s, strlen(s), st);

	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		memset(st, 0, sizeof *st);
		*wc = L'?';
		return 1;
	}
	return n;
}

static int char_width(wchar_t wc)
{
	int w = wcwidth(wc);
	return w < 0 ? 1 : w;
}

int draw_width(const char *s)
{
	mbstate_t st = { 0 };
	int w = 0;
	wchar_t wc;

	while (*s) {
		s += next_char(s, &wc, &st);
		w += char_width(wc);
	}
	return w;
}

static void put_wc(int y, int x, wchar_t wc, struct style st)
{
	wchar_t s[2] = { wc, 0 };
	cchar_t cc;
	int pair = st.pair;

	if (wcwidth(wc) < 0)
		s[0] = L'?';
	setcchar(&cc, s, st.attr, 0, &pair);
	mvadd_wch(y, x, &cc);
}

int draw_text(int y, int x, int width, struct style st, const char *s, bool pad)
{
	mbstate_t mb = { 0 };
	bool cut = draw_width(s) > width;
	const char *ell = draw_glyph("…", "~");
	int col = 0, room = cut ? width - 1 : width;
	wchar_t wc;

	if (width <= 0)
		return 0;
	while (*s) {
		const char *next = s + next_char(s, &wc, &mb);
		int w = char_width(wc);

		if (col + w > room)
			break;
		put_wc(y, x + col, wc, st);
		col += w;
		s = next;
	}
	if (cut) {
		mbstate_t m2 = { 0 };
		next_char(ell, &wc, &m2);
		put_wc(y, x + col, wc, st);
		col++;
	}
	if (pad) {
		draw_fill(y, x + col, width - col, st);
		col = width;
	}
	return col;
}

/* Bytes of s that fill at most width columns, ending at a space if one
 * does (*skip: the space). */
static size_t wrap_point(const char *s, int width, size_t *skip)
{
	mbstate_t mb = { 0 };
	size_t at = 0, space = 0;
	int col = 0;
	wchar_t wc;

	*skip = 0;
	while (s[at]) {
		size_t n = next_char(s + at, &wc, &mb);

		if (col + char_width(wc) > width)
			break;
		if (wc == L' ')
			space = at;
		col += char_width(wc);
		at += n;
	}
	if (s[at] == ' ') {
		*skip = 1;
		return at;
	}
	if (!s[at] || !space)
		return at;
	*skip = 1;
	return space;
}

int draw_wrap(int y, int x, int width, int rows, struct style st, const char *s)
{
	int used = 0;

	if (width <= 0)
		return 0;
	while (*s && used < rows) {
		size_t skip, n;
		char *line;

		if (used == rows - 1 || draw_width(s) <= width) {
			draw_text(y + used++, x, width, st, s, true);
			break;
		}
		n = wrap_point(s, width, &skip);
		line = xasprintf("%.*s", (int)n, s);
		draw_text(y + used++, x, width, st, line, true);
		free(line);
		s += n + skip;
	}
	return used;
}

void draw_fill(int y, int x, int width, struct style st)
{
	for (int i = 0; i < width; i++)
		put_wc(y, x + i, L' ', st);
}

static void box_char(cchar_t *cc, const wchar_t *unicode, const wchar_t *ascii,
		     struct style st)
{
	int pair = st.pair;

	setcchar(cc, draw_unicode ? unicode : ascii, st.attr, 0, &pair);
}

void draw_box(int y, int x, int h, int w, struct style border, struct style inside,
	      const char *title)
{
	cchar_t v, hz, tl, tr, bl, br;

	for (int r = 1; r < h - 1; r++)
		draw_fill(y + r, x + 1, w - 2, inside);
	box_char(&v, L"│", L"|", border);
	box_char(&hz, L"─", L"-", border);
	box_char(&tl, L"┌", L"+", border);
	box_char(&tr, L"┐", L"+", border);
	box_char(&bl, L"└", L"+", border);
	box_char(&br, L"┘", L"+", border);
	mvadd_wch(y, x, &tl);
	mvadd_wch(y, x + w - 1, &tr);
	mvadd_wch(y + h - 1, x, &bl);
	mvadd_wch(y + h - 1, x + w - 1, &br);
	for (int i = 1; i < w - 1; i++) {
		mvadd_wch(y, x + i, &hz);
		mvadd_wch(y + h - 1, x + i, &hz);
	}
	for (int r = 1; r < h - 1; r++) {
		mvadd_wch(y + r, x, &v);
		mvadd_wch(y + r, x + w - 1, &v);
	}
	if (title && *title) {
		struct style t = border;
		int tw;

		t.attr |= A_BOLD;
		draw_text(y, x + 2, 1, border, " ", false);
		tw = draw_text(y, x + 3, w - 6, t, title, false);
		draw_text(y, x + 3 + tw, 1, border, " ", false);
	}
}
