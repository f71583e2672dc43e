#include "tui/list.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend/util.h"
#include "tui/draw.h"
#include "tui/theme.h"

#define DETAILS_H 5

struct column {
	const char *title;
	int width;
};

enum { C_NAME, C_ID, C_STATE, C_UPTIME, C_MEM, C_CPUS, C_ADDR, C_N };

const char *list_mark(const char *which)
{
	if (!strcmp(which, "ready"))
		return draw_glyph("●", "*");
	if (!strcmp(which, "connecting"))
		return draw_glyph("○", "o");
	return "!";
}

static const char *warm_mark(enum warm_state w)
{
	switch (w) {
	case WARM_READY: return list_mark("ready");
	case WARM_OPENING: return list_mark("connecting");
	case WARM_FAILED: return list_mark("failed");
	default: return " ";
	}
}

static enum theme_elem state_elem(const struct list_row *r)
{
	const char *s = r->sb->state;

	if (r->busy[0] || !strcmp(s, SB_CREATING))
		return TH_STATE_CREATING;
	if (!strcmp(s, SB_RUNNING))
		return TH_STATE_RUNNING;
	if (!strcmp(s, SB_CRASHED))
		return TH_STATE_CRASHED;
	return TH_STATE_STOPPED;
}

/* Column widths for this screen: the name takes what is left; narrow
 * screens lose the address, then the vCPUs, memory and uptime. */
static void layout(int cols, struct column *c)
{
	static const struct column base[C_N] = {
		{ "NAME", 0 }, { "ID", 10 }, { "STATE", 13 }, { "UPTIME", 8 }, { "MEMORY", 10 },
		{ "vCPUs", 6 }, { "ADDRESS", 15 },
	};
	static const int drop[] = { C_ADDR, C_CPUS, C_MEM, C_UPTIME };
	int fixed = 3;

	memcpy(c, base, sizeof base);
	for (int i = 1; i < C_N; i++)
		fixed += c[i].width;
	for (size_t i = 0; i < ARRAY_LEN(drop) && cols - fixed < 12; i++) {
		fixed -= c[drop[i]].width;
		c[drop[i]].width = 0;
	}
	c[C_NAME].width = cols - fixed > 12 ? cols - fixed : 12;
	if (c[C_NAME].width > 32)
		c[C_NAME].width = 32;
}

static void cells(const struct list_row *r, char out[C_N][72])
{
	const struct sandbox *sb = r->sb;
	bool running = !strcmp(sb->state, SB_RUNNING);

	snprintf(out[C_NAME], 72, "%s", sb->name);
	snprintf(out[C_ID], 72, "%s", sb->id);
	snprintf(out[C_STATE], 72, "%s", r->busy[0] ? r->busy : sb->state);
	if (running && sb->started)
		util_fmt_duration(util_wall_s() - sb->started, out[C_UPTIME], 72);
	else
		snprintf(out[C_UPTIME], 72, "-");
	snprintf(out[C_MEM], 72, "%d MiB", sb->mem_mib);
	snprintf(out[C_CPUS], 72, "%d", sb->cpus);
	snprintf(out[C_ADDR], 72, "%s", sb->guest_ip[0] ? sb->guest_ip : "-");
}

static void draw_row(int y, int cols, const struct column *c, const struct list_row *r,
		     bool selected)
{
	struct style base = theme_style(selected ? TH_LIST_SELECTED : TH_LIST);
	char text[C_N][72];
	int x = 3;

	cells(r, text);
	draw_fill(y, 0, cols, base);
	draw_text(y, 1, 1, selected ? base : theme_style(TH_WARM), warm_mark(r->warm), false);
	for (int i = 0; i < C_N; i++) {
		struct style st = base;

		if (!c[i].width)
			continue;
		if (i == C_STATE && !selected)
			st = theme_style(state_elem(r));
		draw_text(y, x, c[i].width - 1, st, text[i], false);
		x += c[i].width;
	}
}

static void draw_header(int y, int cols, const struct column *c)
{
	struct style st = theme_style(TH_LIST_HEADER);
	int x = 3;

	draw_fill(y, 0, cols, st);
	for (int i = 0; i < C_N; i++) {
		if (!c[i].width)
			continue;
		draw_text(y, x, c[i].width - 1, st, c[i].title, false);
		x += c[i].width;
	}
}

static void draw_details(int y, int cols, const struct list_row *r)
{
	struct style base = theme_style(TH_LIST), key = theme_style(TH_LIST_HEADER);
	const struct sandbox *sb = r->sb;
	char line[256], when[32];
	time_t created = (time_t)sb->created;
	struct tm tm;

	for (int i = 0; i < DETAILS_H; i++)
		draw_fill(y + i, 0, cols, base);
	for (int x = 1; x < cols - 1; x++)
		draw_text(y, x, 1, theme_style(TH_BORDER), draw_glyph("─", "-"), false);
	localtime_r(&created, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
	draw_text(y + 1, 1, 9, key, "image", true);
	if (sb->ready_ms)
		snprintf(line, sizeof line, "%s (%s), created %s, ready %.1f s after boot",
			 sb->image, sb->accel[0] ? sb->accel : "?", when, sb->ready_ms / 1000.0);
	else
		snprintf(line, sizeof line, "%s (%s), created %s", sb->image,
			 sb->accel[0] ? sb->accel : "?", when);
	draw_text(y + 1, 11, cols - 12, base, line, false);
	draw_text(y + 2, 1, 9, key, "network", true);
	snprintf(line, sizeof line, "namespace %s, host %s, guest %s/%d", sb->netns, sb->host_ip,
		 sb->guest_ip, sb->prefix_len);
	draw_text(y + 2, 11, cols - 12, base, line, false);
	draw_text(y + 3, 1, 9, key, "ssh", true);
	switch (r->warm) {
	case WARM_READY:
		snprintf(line, sizeof line, "session ready, %d shell%s open", r->shells,
			 r->shells == 1 ? "" : "s");
		break;
	case WARM_OPENING:
		snprintf(line, sizeof line, "connecting...");
		break;
	case WARM_FAILED:
		snprintf(line, sizeof line, "not connected: %s", r->warm_error);
		break;
	default:
		snprintf(line, sizeof line, "%s", strcmp(sb->state, SB_RUNNING) ?
			 "no session (the sandbox is not running)" : "no session");
	}
	draw_text(y + 3, 11, cols - 12, r->warm == WARM_FAILED ? theme_style(TH_STATUS_ERROR) :
		  base, line, false);
}

void list_draw(int y0, int h, int cols, const struct list_row *rows, size_t n, size_t sel,
	       size_t *top, const char *empty_hint)
{
	struct column c[C_N];
	struct style base = theme_style(TH_LIST);
	int body, y;

	layout(cols, c);
	draw_header(y0, cols, c);
	body = h - 1;
	/* Details of the selection at the bottom if the rows still fit. */
	if (n && body - DETAILS_H >= (int)n + 1)
		body -= DETAILS_H;
	if (sel < *top)
		*top = sel;
	if (body > 0 && sel >= *top + (size_t)body)
		*top = sel - (size_t)body + 1;
	for (y = 0; y < body; y++) {
		size_t i = *top + (size_t)y;

		if (i < n)
			draw_row(y0 + 1 + y, cols, c, &rows[i], i == sel);
		else
			draw_fill(y0 + 1 + y, 0, cols, base);
	}
	if (!n && empty_hint) {
		int w = draw_width(empty_hint);

		draw_text(y0 + 1 + body / 3, w < cols ? (cols - w) / 2 : 0, cols, base, empty_hint,
			  false);
	}
	if (n && body < h - 1)
		draw_details(y0 + 1 + body, cols, &rows[sel]);
}

int list_row_at(int y, int y0, int h, size_t n, size_t top)
{
	int i = y - y0 - 1;

	if (i < 0 || i >= h - 1 || top + (size_t)i >= n)
		return -1;
	return (int)(top + (size_t)i);
}
