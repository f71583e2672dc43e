#include "tui/status.h"

#include <stdarg.h>
#include <stdio.h>

#include "backend/util.h"
#include "tui/draw.h"

#define INFO_MS 6000
#define ERROR_MS 20000

static char text[512];
static enum status_level level;
static int64_t expires;

void status_set(enum status_level l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	/* Messages are single lines. */
	for (char *p = text; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	level = l;
	expires = util_now_ms() + (l == STATUS_ERROR ? ERROR_MS : INFO_MS);
}

void status_clear(void)
{
	text[0] = '\0';
	expires = 0;
}

bool status_expire(int64_t now)
{
	if (!text[0] || now < expires)
		return false;
	status_clear();
	return true;
}

int status_timeout(int64_t now)
{
	if (!text[0])
		return -1;
	return expires > now ? (int)(expires - now) : 0;
}

void status_draw(int y, int width, const char *right)
{
	struct style base = theme_style(TH_STATUS);
	struct style st = level == STATUS_ERROR ? theme_style(TH_STATUS_ERROR) : base;
	int rw = right && *right ? draw_width(right) + 2 : 0;
	int x = 0;

	if (rw > width / 2)
		rw = width / 2;
	draw_fill(y, 0, width, base);
	if (text[0]) {
		x = draw_text(y, 1, width - rw - 2, st, level == STATUS_ERROR ? "! " : "",
			      false) + 1;
		draw_text(y, x, width - rw - x - 1, st, text, false);
	}
	if (rw)
		draw_text(y, width - rw + 1, rw - 1, base, right, false);
}
