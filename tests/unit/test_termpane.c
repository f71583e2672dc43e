/* Unit tests for the terminal side of a shell pane: tui/termpane.c on real
 * libvterm, tui/scrollback.c and tui/keys.c (what a key sends the guest). */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "tui/keys.h"
#include "tui/scrollback.h"
#include "tui/termpane.h"
#include "tests/unit/unit.h"

static void feed(struct termpane *p, const char *s)
{
	termpane_feed(p, s, strlen(s));
}

static void row_is(struct termpane *p, int row, const char *want)
{
	char buf[256];

	termpane_row_text(p, row, buf, sizeof buf);
	EXPECT_STR(buf, want);
}

static VTermScreenCell cell(struct termpane *p, int row, int col)
{
	VTermScreenCell c;
	VTermPos pos = { row, col };

	vterm_screen_get_cell(p->vs, pos, &c);
	return c;
}

static void text_cursor_and_damage(void)
{
	struct termpane *p = termpane_new(5, 20);
	int r, c;

	/* Drawn by nobody yet: clear the initial damage. */
	p->dirty_lo = p->dirty_hi = 0;
	feed(p, "hello\r\nworld");
	row_is(p, 0, "hello");
	row_is(p, 1, "world");
	EXPECT(termpane_cursor(p, &r, &c));
	EXPECT_INT(r, 1);
	EXPECT_INT(c, 5);
	EXPECT_INT(p->dirty_lo, 0);
	EXPECT_INT(p->dirty_hi, 2);
	feed(p, "\033[4;3Hx\033[?25l");
	EXPECT(!termpane_cursor(p, &r, &c));
	EXPECT_INT(r, 3);
	EXPECT_INT(c, 3);
	row_is(p, 3, "  x");
	termpane_free(p);
}

static void attributes_and_colours(void)
{
	struct termpane *p = termpane_new(3, 30);
	VTermScreenCell c;

	feed(p, "\033[1;4;7;31mA\033[0;38;5;208mB\033[38;2;1;2;3;44mC\033[0mD");
	c = cell(p, 0, 0);
	EXPECT(c.attrs.bold && c.attrs.underline && c.attrs.reverse);
	EXPECT(VTERM_COLOR_IS_INDEXED(&c.fg) && c.fg.indexed.idx == 1);
	c = cell(p, 0, 1);
	EXPECT(!c.attrs.bold);
	EXPECT(VTERM_COLOR_IS_INDEXED(&c.fg) && c.fg.indexed.idx == 208);
	c = cell(p, 0, 2);
	EXPECT(VTERM_COLOR_IS_RGB(&c.fg) && c.fg.rgb.red == 1 && c.fg.rgb.blue == 3);
	EXPECT(VTERM_COLOR_IS_INDEXED(&c.bg) && c.bg.indexed.idx == 4);
	c = cell(p, 0, 3);
	EXPECT(VTERM_COLOR_IS_DEFAULT_FG(&c.fg) && VTERM_COLOR_IS_DEFAULT_BG(&c.bg));
	termpane_free(p);
}

static void utf8_and_wide(void)
{
	struct termpane *p = termpane_new(3, 20);
	VTermScreenCell c;

	feed(p, "a\xc3\xa9\xe6\x97\xa5z");	/* a é 日 z */
	c = cell(p, 0, 1);
	EXPECT_INT(c.chars[0], 0xe9);
	c = cell(p, 0, 2);
	EXPECT_INT(c.chars[0], 0x65e5);
	EXPECT_INT(c.width, 2);
	c = cell(p, 0, 4);
	EXPECT_INT(c.chars[0], 'z');
	row_is(p, 0, "a\xc3\xa9\xe6\x97\xa5z");
	termpane_free(p);
}

static void scrollback_keeps_lines(void)
{
	struct termpane *p = termpane_new(3, 10);
	char line[16];

	for (int i = 1; i <= 10; i++) {
		snprintf(line, sizeof line, "%s%d", i > 1 ? "\r\n" : "", i);
		feed(p, line);
	}
	/* 10 lines on 3 rows: 1-7 scrolled off, newest first. */
	EXPECT_INT(p->sb.count, 7);
	EXPECT_INT(scrollback_get(&p->sb, 0)->cells[0].chars[0], '7');
	EXPECT_INT(scrollback_get(&p->sb, 6)->cells[0].chars[0], '1');
	EXPECT(scrollback_get(&p->sb, 7) == NULL);
	/* Trailing blanks are not kept. */
	EXPECT_INT(scrollback_get(&p->sb, 0)->cols, 1);
	termpane_scroll(p, 2);
	EXPECT_INT(p->scroll, 2);
	/* Output while scrolled back keeps the view on the same lines. */
	feed(p, "\r\n11");
	EXPECT_INT(p->scroll, 3);
	termpane_scroll(p, 100);
	EXPECT_INT(p->scroll, 8);
	termpane_scroll(p, -100);
	EXPECT_INT(p->scroll, 0);
	termpane_free(p);
}

static void ring_drops_oldest(void)
{
	struct scrollback sb;
	VTermScreenCell cells[4], back[4];

	memset(cells, 0, sizeof cells);
	for (int i = 0; i < 4; i++) {
		cells[i].width = 1;
		cells[i].fg.type = VTERM_COLOR_DEFAULT_FG;
		cells[i].bg.type = VTERM_COLOR_DEFAULT_BG;
	}
	scrollback_init(&sb, 3);
	for (int i = 0; i < 5; i++) {
		cells[0].chars[0] = (uint32_t)('a' + i);
		scrollback_push(&sb, 4, cells);
	}
	EXPECT_INT(sb.count, 3);
	EXPECT_INT(scrollback_get(&sb, 0)->cols, 1);
	EXPECT_INT(scrollback_get(&sb, 0)->cells[0].chars[0], 'e');
	EXPECT_INT(scrollback_get(&sb, 2)->cells[0].chars[0], 'c');
	EXPECT_INT(scrollback_pop(&sb, 4, back), 1);
	EXPECT_INT(back[0].chars[0], 'e');
	EXPECT_INT(back[3].chars[0], 0);	/* a dropped blank comes back blank */
	EXPECT_INT(back[3].width, 1);
	EXPECT_INT(sb.count, 2);
	EXPECT_INT(scrollback_pop(&sb, 4, back), 1);
	EXPECT_INT(scrollback_pop(&sb, 4, back), 1);
	EXPECT_INT(back[0].chars[0], 'c');
	EXPECT_INT(scrollback_pop(&sb, 4, back), 0);
	scrollback_free(&sb);
}

static void resize_pushes_and_pops(void)
{
	struct termpane *p = termpane_new(4, 10);

	feed(p, "1\r\n2\r\n3\r\n4");
	termpane_resize(p, 2, 10);
	EXPECT_INT(p->rows, 2);
	row_is(p, 0, "3");
	row_is(p, 1, "4");
	EXPECT_INT(p->sb.count, 2);
	termpane_resize(p, 4, 10);
	/* Growing takes lines back from the scrollback. */
	row_is(p, 0, "1");
	row_is(p, 3, "4");
	EXPECT_INT(p->sb.count, 0);
	termpane_free(p);
}

/* What the guest receives for a key. */
static void sends(bool is_code, wint_t wc, bool alt, const char *want)
{
	struct termpane *p = termpane_new(5, 20);
	struct keys_vt k = keys_translate(is_code, wc, alt);
	char got[64];

	termpane_key(p, &k);
	snprintf(got, sizeof got, "%.*s", (int)p->out.len, p->out.data ? p->out.data : "");
	EXPECT_STR(got, want);
	termpane_free(p);
}

static void keys_reach_the_guest(void)
{
	sends(false, 'a', false, "a");
	sends(false, 0xe9, false, "\xc3\xa9");
	sends(false, 0x03, false, "\x03");		/* Ctrl-C as read in raw mode */
	sends(false, '\r', false, "\r");
	sends(false, '\t', false, "\t");
	sends(false, 0x7f, false, "\x7f");
	sends(false, 0x1b, false, "\033");
	sends(false, 'x', true, "\033x");			/* Alt-x */
	sends(true, KEY_UP, false, "\033[A");
	sends(true, KEY_LEFT, true, "\033[1;3D");
	sends(true, KEY_HOME, false, "\033[H");
	sends(true, KEY_DC, false, "\033[3~");
	sends(true, KEY_NPAGE, false, "\033[6~");
	sends(true, KEY_F(1), false, "\033OP");
	sends(true, KEY_F(5), false, "\033[15~");
	sends(true, KEY_F(14), false, "\033[1;2Q");		/* Shift-F2 */
	sends(true, KEY_BTAB, false, "\033[Z");
	sends(true, KEY_BACKSPACE, false, "\x7f");
}

static void extended_key_names(void)
{
	VTermKey k;
	VTermModifier m;

	EXPECT(keys_from_name("kLFT5", &k, &m));
	EXPECT_INT(k, VTERM_KEY_LEFT);
	EXPECT_INT(m, VTERM_MOD_CTRL);
	EXPECT(keys_from_name("kDC3", &k, &m));
	EXPECT_INT(k, VTERM_KEY_DEL);
	EXPECT_INT(m, VTERM_MOD_ALT);
	EXPECT(keys_from_name("kUP8", &k, &m));
	EXPECT_INT(m, VTERM_MOD_CTRL | VTERM_MOD_ALT | VTERM_MOD_SHIFT);
	EXPECT(!keys_from_name("kLFT", &k, &m));
	EXPECT(!keys_from_name("kLFT9", &k, &m));
	EXPECT(!keys_from_name("kLFT55", &k, &m));
	EXPECT(!keys_from_name("kfoo5", &k, &m));
}

static void terminal_replies_go_out(void)
{
	struct termpane *p = termpane_new(5, 20);

	/* A program asking for the cursor position gets an answer. */
	feed(p, "ab\033[6n");
	EXPECT_INT(p->out.len, 6);
	EXPECT(p->out.data && !memcmp(p->out.data, "\033[1;3R", 6));
	termpane_free(p);
}

int main(void)
{
	RUN(text_cursor_and_damage);
	RUN(attributes_and_colours);
	RUN(utf8_and_wide);
	RUN(scrollback_keeps_lines);
	RUN(ring_drops_oldest);
	RUN(resize_pushes_and_pops);
	RUN(keys_reach_the_guest);
	RUN(extended_key_names);
	RUN(terminal_replies_go_out);
	UNIT_EXIT();
}
