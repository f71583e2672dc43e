#include "tui/scrollback.h"

#include <stdlib.h>
#include <string.h>

#include "backend/util.h"

void scrollback_init(struct scrollback *sb, size_t cap)
{
	sb->lines = xcalloc(cap, sizeof *sb->lines);
	sb->cap = cap;
	sb->head = 0;
	sb->count = 0;
}

void scrollback_free(struct scrollback *sb)
{
	for (size_t i = 0; i < sb->cap; i++)
		free(sb->lines[i]);
	free(sb->lines);
	sb->lines = NULL;
	sb->cap = sb->count = sb->head = 0;
}

static int is_blank(const VTermScreenCell *c)
{
	return (c->chars[0] == 0 || c->chars[0] == ' ') && !c->attrs.reverse &&
	       VTERM_COLOR_IS_DEFAULT_BG(&c->bg);
}

void scrollback_push(struct scrollback *sb, int cols, const VTermScreenCell *cells)
{
	struct scrollback_line *l;
	int keep = cols;

	while (keep > 0 && is_blank(&cells[keep - 1]))
		keep--;
	l = xmalloc(sizeof *l + (size_t)keep * sizeof l->cells[0]);
	l->cols = keep;
	if (keep < cols) {
		l->blank = cells[keep];
	} else {
		memset(&l->blank, 0, sizeof l->blank);
		l->blank.width = 1;
		l->blank.fg.type = VTERM_COLOR_DEFAULT_FG;
		l->blank.bg.type = VTERM_COLOR_DEFAULT_BG;
	}
	l->blank.chars[0] = 0;
	l->blank.width = 1;
	memcpy(l->cells, cells, (size_t)keep * sizeof l->cells[0]);
	free(sb->lines[sb->head]);
	sb->lines[sb->head] = l;
	sb->head = (sb->head + 1) % sb->cap;
	if (sb->count < sb->cap)
		sb->count++;
}

int scrollback_pop(struct scrollback *sb, int cols, VTermScreenCell *cells)
{
	struct scrollback_line *l;

	if (!sb->count)
		return 0;
	sb->head = (sb->head + sb->cap - 1) % sb->cap;
	l = sb->lines[sb->head];
	sb->lines[sb->head] = NULL;
	sb->count--;
	for (int c = 0; c < cols; c++)
		cells[c] = *scrollback_cell(l, c);
	free(l);
	return 1;
}

const struct scrollback_line *scrollback_get(const struct scrollback *sb, size_t i)
{
	if (i >= sb->count)
		return NULL;
	return sb->lines[(sb->head + sb->cap - 1 - i) % sb->cap];
}

const VTermScreenCell *scrollback_cell(const struct scrollback_line *l, int col)
{
	return col < l->cols ? &l->cells[col] : &l->blank;
}
