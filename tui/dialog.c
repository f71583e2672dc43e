#include "tui/dialog.h"

#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/store.h"
#include "tui/draw.h"
#include "tui/theme.h"

#define NEW_W 52
#define NEW_H 12

static void field_set(struct dialog_field *f, const char *label, const char *unit,
		      const char *value, bool digits, int width)
{
	f->label = label;
	f->unit = unit;
	snprintf(f->value, sizeof f->value, "%s", value);
	f->len = f->cursor = strlen(f->value);
	f->digits = digits;
	f->width = width;
}

void dialog_new_init(struct dialog_new *d, const char *name, int mem, int cpus)
{
	char m[16], c[16];

	snprintf(m, sizeof m, "%d", mem);
	snprintf(c, sizeof c, "%d", cpus);
	field_set(&d->f[NEW_NAME], "Name", "", name, false, 30);
	field_set(&d->f[NEW_MEM], "Memory", "MiB", m, true, 8);
	field_set(&d->f[NEW_CPUS], "vCPUs", "", c, true, 4);
	d->focus = NEW_NAME;
	d->error[0] = '\0';
}

/* Byte offset of the character before/after off in a UTF-8 string. */
static size_t prev_char(const char *s, size_t off)
{
	while (off > 0 && ((unsigned char)s[--off] & 0xc0) == 0x80)
		;
	return off;
}

static size_t next_char(const char *s, size_t len, size_t off)
{
	while (off < len && ((unsigned char)s[++off] & 0xc0) == 0x80)
		;
	return off;
}

bool dialog_field_key(struct dialog_field *f, bool is_code, wint_t wc)
{
	char enc[8];
	int n;

	if (is_code) {
		switch (wc) {
		case KEY_LEFT: f->cursor = prev_char(f->value, f->cursor); return true;
		case KEY_RIGHT: f->cursor = next_char(f->value, f->len, f->cursor); return true;
		case KEY_HOME: f->cursor = 0; return true;
		case KEY_END: f->cursor = f->len; return true;
		case KEY_BACKSPACE: goto backspace;
		case KEY_DC:
			if (f->cursor < f->len) {
				size_t nx = next_char(f->value, f->len, f->cursor);
				memmove(f->value + f->cursor, f->value + nx, f->len - nx + 1);
				f->len -= nx - f->cursor;
			}
			return true;
		}
		return false;
	}
	switch (wc) {
	case 0x7f: case 0x08:
	backspace:
		if (f->cursor > 0) {
			size_t pv = prev_char(f->value, f->cursor);
			memmove(f->value + pv, f->value + f->cursor, f->len - f->cursor + 1);
			f->len -= f->cursor - pv;
			f->cursor = pv;
		}
		return true;
	case 0x01: f->cursor = 0; return true;		/* Ctrl-A */
	case 0x05: f->cursor = f->len; return true;	/* Ctrl-E */
	case 0x15: f->len = f->cursor = 0; f->value[0] = '\0'; return true;	/* Ctrl-U */
	}
	if (wc < 0x20 || (f->digits && (wc < '0' || wc > '9')))
		return false;
	n = wctomb(enc, (wchar_t)wc);
	if (n <= 0 || f->len + (size_t)n >= sizeof f->value)
		return true;
	memmove(f->value + f->cursor + n, f->value + f->cursor, f->len - f->cursor + 1);
	memcpy(f->value + f->cursor, enc, (size_t)n);
	f->len += (size_t)n;
	f->cursor += (size_t)n;
	return true;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

int dialog_new_validate(struct dialog_new *d)
{
	const char *name = d->f[NEW_NAME].value;

	if (!store_name_valid(name)) {
		if (*name)
			snprintf(d->error, sizeof d->error, "the name %s", store_name_problem(name));
		else
			snprintf(d->error, sizeof d->error, "give the sandbox a name");
		return NEW_NAME;
	}
	if (d->taken && d->taken(name, d->ctx)) {
		snprintf(d->error, sizeof d->error, "there is already a sandbox named %.63s", name);
		return NEW_NAME;
	}
	if (parse_int(d->f[NEW_MEM].value, d->mem_min, d->mem_max, &d->mem) < 0) {
		snprintf(d->error, sizeof d->error, "memory is a number of MiB from %d to %d",
			 d->mem_min, d->mem_max);
		return NEW_MEM;
	}
	if (parse_int(d->f[NEW_CPUS].value, d->cpus_min, d->cpus_max, &d->cpus) < 0) {
		snprintf(d->error, sizeof d->error, "vCPUs is a number from %d to %d",
			 d->cpus_min, d->cpus_max);
		return NEW_CPUS;
	}
	d->error[0] = '\0';
	return -1;
}

static enum dialog_result submit(struct dialog_new *d)
{
	int bad = dialog_new_validate(d);

	if (bad < 0)
		return DIALOG_OK;
	d->focus = bad;
	return DIALOG_OPEN;
}

enum dialog_result dialog_new_key(struct dialog_new *d, bool is_code, wint_t wc)
{
	int n = NEW_NFIELDS + 2;

	if (!is_code && wc == 0x1b)
		return DIALOG_CANCEL;
	if ((!is_code && wc == '\t') || (is_code && wc == KEY_DOWN)) {
		d->focus = (d->focus + 1) % n;
		return DIALOG_OPEN;
	}
	if (is_code && (wc == KEY_BTAB || wc == KEY_UP)) {
		d->focus = (d->focus + n - 1) % n;
		return DIALOG_OPEN;
	}
	if ((!is_code && (wc == '\r' || wc == '\n')) || (is_code && wc == KEY_ENTER))
		return d->focus == NEW_NFIELDS + 1 ? DIALOG_CANCEL : submit(d);
	if (d->focus >= NEW_NFIELDS) {
		if (is_code && (wc == KEY_LEFT || wc == KEY_RIGHT))
			d->focus = d->focus == NEW_NFIELDS ? NEW_NFIELDS + 1 : NEW_NFIELDS;
		return DIALOG_OPEN;
	}
	if (dialog_field_key(&d->f[d->focus], is_code, wc))
		d->error[0] = '\0';
	return DIALOG_OPEN;
}

static void new_origin(int lines, int cols, int *y, int *x)
{
	*y = (lines - NEW_H) / 2;
	*x = (cols - NEW_W) / 2;
	if (*y < 0)
		*y = 0;
	if (*x < 0)
		*x = 0;
}

/* Columns before the cursor, keeping it inside the box: fields are short,
 * so the box shows the end of a value longer than itself. */
static int field_scroll(const struct dialog_field *f, int *cursor_col)
{
	char head[sizeof f->value];
	int col, skip = 0;

	memcpy(head, f->value, f->cursor);
	head[f->cursor] = '\0';
	col = draw_width(head);
	if (col >= f->width)
		skip = col - f->width + 1;
	*cursor_col = col - skip;
	return skip;
}

int dialog_field_cursor(const struct dialog_field *f)
{
	int col;

	field_scroll(f, &col);
	return col;
}

void dialog_field_draw(const struct dialog_field *f, int y, int x, bool active)
{
	struct style st = theme_style(active ? TH_DIALOG_FIELD_ACTIVE : TH_DIALOG_FIELD);
	struct style base = theme_style(TH_DIALOG);
	const char *s = f->value;
	int cur, skip = field_scroll(f, &cur);

	draw_text(y, x, 8, base, f->label, true);
	/* Skip whole characters that scrolled out on the left. */
	while (skip > 0 && *s) {
		char one[8];
		size_t n = next_char(s, strlen(s), 0);

		snprintf(one, sizeof one, "%.*s", (int)n, s);
		skip -= draw_width(one);
		s += n;
	}
	draw_text(y, x + 9, f->width, st, s, true);
	if (f->unit[0])
		draw_text(y, x + 10 + f->width, 6, base, f->unit, false);
}

static void draw_button(int y, int x, const char *label, bool active)
{
	struct style st = theme_style(active ? TH_DIALOG_FIELD_ACTIVE : TH_DIALOG);
	char b[32];

	snprintf(b, sizeof b, "[ %s ]", label);
	draw_text(y, x, (int)strlen(b), st, b, false);
}

void dialog_new_draw(const struct dialog_new *d, int lines, int cols)
{
	struct style base = theme_style(TH_DIALOG);
	char hint[64];
	int y, x;

	new_origin(lines, cols, &y, &x);
	draw_box(y, x, NEW_H, NEW_W, theme_style(TH_BORDER), base, "New sandbox");
	for (int i = 0; i < NEW_NFIELDS; i++)
		dialog_field_draw(&d->f[i], y + 2 + i * 2, x + 3, d->focus == i);
	/* The allowed ranges, in one column right of the number fields. */
	snprintf(hint, sizeof hint, "(%d-%d)", d->mem_min, d->mem_max);
	draw_text(y + 4, x + 28, 16, base, hint, false);
	snprintf(hint, sizeof hint, "(%d-%d)", d->cpus_min, d->cpus_max);
	draw_text(y + 6, x + 28, 16, base, hint, false);
	if (d->error[0])
		draw_text(y + 8, x + 3, NEW_W - 6, theme_style(TH_DIALOG_ERROR), d->error, true);
	else
		draw_text(y + 8, x + 3, NEW_W - 6, base,
			  "Tab: next field   Enter: create   Esc: cancel", true);
	draw_button(y + 10, x + NEW_W - 25, "Create", d->focus == NEW_NFIELDS);
	draw_button(y + 10, x + NEW_W - 13, "Cancel", d->focus == NEW_NFIELDS + 1);
}

bool dialog_new_cursor(const struct dialog_new *d, int lines, int cols, int *cy, int *cx)
{
	int y, x;

	if (d->focus >= NEW_NFIELDS)
		return false;
	new_origin(lines, cols, &y, &x);
	*cy = y + 2 + d->focus * 2;
	*cx = x + 3 + 9 + dialog_field_cursor(&d->f[d->focus]);
	return true;
}

enum dialog_result dialog_confirm_key(struct dialog_confirm *c, bool is_code, wint_t wc)
{
	if (is_code) {
		if (wc == KEY_LEFT || wc == KEY_RIGHT || wc == KEY_BTAB)
			c->focus_yes = !c->focus_yes;
		else if (wc == KEY_ENTER)
			return c->focus_yes ? DIALOG_OK : DIALOG_CANCEL;
		return DIALOG_OPEN;
	}
	switch (wc) {
	case 'y': case 'Y':
		return DIALOG_OK;
	case 'n': case 'N': case 'q': case 0x1b:
		return DIALOG_CANCEL;
	case '\t':
		c->focus_yes = !c->focus_yes;
		return DIALOG_OPEN;
	case '\r': case '\n':
		return c->focus_yes ? DIALOG_OK : DIALOG_CANCEL;
	}
	return DIALOG_OPEN;
}

void dialog_confirm_draw(const struct dialog_confirm *c, int lines, int cols)
{
	struct style base = theme_style(TH_DIALOG);
	int w = 60, nlines = 0, h, y, x;
	char yes[40];

	for (int i = 0; i < 3; i++)
		if (c->text[i][0])
			nlines = i + 1;
	h = nlines + 5;
	if (w > cols)
		w = cols;
	y = (lines - h) / 2;
	x = (cols - w) / 2;
	draw_box(y, x, h, w, theme_style(TH_BORDER), base, c->title);
	for (int i = 0; i < nlines; i++)
		draw_text(y + 2 + i, x + 3, w - 6, base, c->text[i], true);
	snprintf(yes, sizeof yes, "y: %s", c->yes);
	/* "[ n: Cancel ]" is 13 columns; the other button ends 2 before it. */
	draw_button(y + h - 2, x + w - 16, "n: Cancel", !c->focus_yes);
	draw_button(y + h - 2, x + w - 18 - ((int)strlen(yes) + 4), yes, c->focus_yes);
}
