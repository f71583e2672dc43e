#include "fs/progress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend/util.h"

#define REDRAW_MS 100
#define RATE_SAMPLE_MS 250
/* Weight of the newest sample in the smoothed rate. */
#define RATE_ALPHA 0.3
#define NAME_MIN 8
#define BAR_MAX 30
/* The room left of the numbers that a bar needs: a quarter of it is at
 * least 10 columns. */
#define BAR_ROOM 40

void progress_rate_init(struct progress_rate *r, int64_t now_ms)
{
	*r = (struct progress_rate){ .t_ms = now_ms };
}

void progress_rate_update(struct progress_rate *r, uint64_t done, int64_t now_ms)
{
	int64_t dt = now_ms - r->t_ms;
	double inst;

	if (dt < RATE_SAMPLE_MS || done < r->bytes)
		return;
	inst = (double)(done - r->bytes) * 1000.0 / (double)dt;
	r->bps = r->bps > 0 ? RATE_ALPHA * inst + (1 - RATE_ALPHA) * r->bps : inst;
	r->t_ms = now_ms;
	r->bytes = done;
}

int64_t progress_eta_s(uint64_t done, uint64_t total, double bps)
{
	if (done >= total)
		return 0;
	if (bps <= 0)
		return -1;
	return (int64_t)((double)(total - done) / bps + 0.999);
}

void progress_fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n / 1024.0;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%u B", (unsigned)n);
		return;
	}
	/* 1023.96 KiB would print as "1024.0 KiB": move up a unit first. */
	while (v >= 1023.95 && u + 1 < ARRAY_LEN(units)) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
}

void progress_fmt_eta(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		snprintf(buf, len, "--:--");
	else if (s >= 3600)
		snprintf(buf, len, "%lld:%02d:%02d", (long long)(s / 3600), (int)(s / 60 % 60),
			 (int)(s % 60));
	else
		snprintf(buf, len, "%d:%02d", (int)(s / 60), (int)(s % 60));
}

/* Decode one UTF-8 character: its length in bytes (0 at the end), and
 * *cp, or -1 for a byte that does not start a valid sequence. */
static size_t utf8_next(const char *s, long *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	long c;

	if (!p[0])
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else {
		*cp = -1;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*cp = -1;
			return 1;
		}
		c = (c << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are not text. */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff)) {
		*cp = -1;
		return 1;
	}
	*cp = c;
	return n;
}

static bool is_control(long c)
{
	return c < 0x20 || (c >= 0x7f && c < 0xa0);
}

/* Columns of one character, as terminals draw it. */
static int char_width(long c)
{
	static const long zero[][2] = {
		{ 0x0300, 0x036f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x200b, 0x200f },
		{ 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
	};
	static const long wide[][2] = {
		{ 0x1100, 0x115f }, { 0x2e80, 0x303e }, { 0x3041, 0x33ff }, { 0x3400, 0x4dbf },
		{ 0x4e00, 0x9fff }, { 0xa000, 0xa4cf }, { 0xac00, 0xd7a3 }, { 0xf900, 0xfaff },
		{ 0xfe30, 0xfe4f }, { 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x1f300, 0x1f64f },
		{ 0x1f900, 0x1f9ff }, { 0x20000, 0x3fffd },
	};

	if (c < 0 || is_control(c))
		return 1;	/* shown as '?' */
	for (size_t i = 0; i < ARRAY_LEN(zero); i++)
		if (c >= zero[i][0] && c <= zero[i][1])
			return 0;
	for (size_t i = 0; i < ARRAY_LEN(wide); i++)
		if (c >= wide[i][0] && c <= wide[i][1])
			return 2;
	return 1;
}

int progress_width(const char *s)
{
	int w = 0;
	size_t n;
	long c;

	while ((n = utf8_next(s, &c))) {
		w += char_width(c);
		s += n;
	}
	return w;
}

/*
 * Append name to out (room for at least 4 * strlen(name) + 4 bytes) taking
 * at most cols columns: control characters and bad bytes become '?', and a
 * name too long loses its beginning to "...". Returns the columns used.
 */
static int put_name(char *out, const char *name, int cols)
{
	int w = progress_width(name), used = 0;
	size_t n;
	long c;

	if (cols <= 0)
		return 0;
	if (w > cols) {
		int skip = w - (cols >= 3 ? cols - 3 : cols);

		/* Drop whole characters from the front until the rest fits. */
		while (skip > 0 && (n = utf8_next(name, &c))) {
			skip -= char_width(c);
			name += n;
		}
		if (cols >= 3) {
			strcat(out, "...");
			used = 3;
		}
		/* A wide character dropped half-way leaves one column spare. */
	}
	out += strlen(out);
	while ((n = utf8_next(name, &c))) {
		int cw = char_width(c);

		if (used + cw > cols)
			break;
		if (c < 0 || is_control(c)) {
			*out++ = '?';
		} else {
			memcpy(out, name, n);
			out += n;
		}
		used += cw;
		name += n;
	}
	*out = '\0';
	return used;
}

char *progress_line(char *buf, size_t len, int cols, const char *name, uint64_t done,
		    uint64_t total, double bps)
{
	char d[32], t[32], r[40], eta[32], full[160], brief[96], pct[8];
	const char *stats;
	char *line;
	int avail = cols - 1, name_col, bar = 0, pad;
	unsigned p = total ? (unsigned)(done >= total ? 100 : done * 100 / total) : 100;

	progress_fmt_bytes(done, d, sizeof d);
	progress_fmt_bytes(total, t, sizeof t);
	if (bps > 0) {
		progress_fmt_bytes((uint64_t)bps, r, sizeof r);
		strcat(r, "/s");
	} else {
		strcpy(r, "--");
	}
	progress_fmt_eta(progress_eta_s(done, total, bps), eta, sizeof eta);
	/* Fixed-width fields keep the line from shifting as the numbers change;
	 * a narrow terminal needs the room more. */
	snprintf(full, sizeof full, "%3u%%  %9s / %9s  %11s  ETA %-7s", p, d, t, r, eta);
	snprintf(brief, sizeof brief, "%3u%%  %s  ETA %s", p, r, eta);
	snprintf(pct, sizeof pct, "%3u%%", p);
	if (avail - (int)strlen(full) - 2 >= NAME_MIN)
		stats = full;
	else if (avail - (int)strlen(brief) - 2 >= NAME_MIN)
		stats = brief;
	else
		stats = pct;
	name_col = avail - (int)strlen(stats) - 2;
	/* A bar only with the sizes, and in at most a quarter of the room. */
	if (stats == full && name_col >= BAR_ROOM) {
		bar = name_col / 4 > BAR_MAX ? BAR_MAX : name_col / 4;
		name_col -= bar + 3;
	}
	line = xmalloc(strlen(name) * 4 + (size_t)(cols > 0 ? cols : 0) + sizeof full + 64);
	line[0] = '\0';
	pad = name_col - put_name(line, name, name_col);
	if (name_col > 0) {
		char *o = line + strlen(line);

		while (pad-- > 0)
			*o++ = ' ';
		if (bar) {
			int fill = total ? (int)((double)bar * (double)(done >= total ? total : done)
						 / (double)total) : bar;

			*o++ = ' ';
			*o++ = '[';
			for (int i = 0; i < bar; i++)
				*o++ = i < fill ? '#' : '.';
			*o++ = ']';
		}
		*o++ = ' ';
		*o++ = ' ';
		*o = '\0';
	}
	if ((int)strlen(stats) <= avail)
		strcat(line, stats);
	snprintf(buf, len, "%s", line);
	free(line);
	return buf;
}

struct progress_bar {
	int fd;
	bool active;
	bool drawn;
	int64_t last_draw;
	struct progress_rate rate;
};

struct progress_bar *progress_bar_new(int fd)
{
	struct progress_bar *b = xcalloc(1, sizeof *b);
	const char *term = getenv("TERM");

	b->fd = fd;
	b->active = isatty(fd) && !(term && !strcmp(term, "dumb"));
	/* Nothing is drawn in the first REDRAW_MS: a quick copy shows no bar. */
	b->last_draw = util_now_ms();
	progress_rate_init(&b->rate, b->last_draw);
	return b;
}

bool progress_bar_active(const struct progress_bar *b)
{
	return b && b->active;
}

static void put(struct progress_bar *b, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(b->fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* The terminal went away: stop drawing, the copy goes on. */
			b->active = false;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

void progress_bar_update(void *arg, const struct progress_info *p)
{
	struct progress_bar *b = arg;
	struct winsize ws = { 0 };
	char line[1024], out[1040];
	int64_t now;
	int cols;

	if (!b->active)
		return;
	now = util_now_ms();
	progress_rate_update(&b->rate, p->done, now);
	if (now - b->last_draw < REDRAW_MS)
		return;
	b->last_draw = now;
	cols = ioctl(b->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
	if (cols > (int)sizeof line / 4)
		cols = (int)sizeof line / 4;
	progress_line(line, sizeof line, cols, p->name ? p->name : "", p->done, p->total,
		      b->rate.bps);
	snprintf(out, sizeof out, "\r%s\033[K", line);
	put(b, out, strlen(out));
	b->drawn = true;
}

void progress_bar_clear(struct progress_bar *b)
{
	if (!b || !b->drawn)
		return;
	b->drawn = false;
	if (b->active)
		put(b, "\r\033[K", 4);
}

void progress_bar_free(struct progress_bar *b)
{
	progress_bar_clear(b);
	free(b);
}
