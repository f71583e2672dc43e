/* Unit tests for fs/progress.c: sizes, times, rates, widths and the bar line. */
#include <stdlib.h>
#include <string.h>

#include "fs/progress.h"
#include "tests/unit/unit.h"

static void bytes(uint64_t n, const char *want)
{
	char buf[32];

	progress_fmt_bytes(n, buf, sizeof buf);
	EXPECT_STR(buf, want);
}

static void fmt_bytes_units(void)
{
	bytes(0, "0 B");
	bytes(1023, "1023 B");
	bytes(1024, "1.0 KiB");
	bytes(1536, "1.5 KiB");
	bytes(100 * 1000 * 1000, "95.4 MiB");
	bytes(5ULL << 30, "5.0 GiB");
	bytes(3ULL << 40, "3.0 TiB");
	bytes(5000ULL << 40, "5000.0 TiB");
}

/* Just under a unit must not print as "1024.0" of the smaller one. */
static void fmt_bytes_rolls_over(void)
{
	bytes((1 << 20) - 1, "1.0 MiB");
	bytes((1 << 20) - 60, "1023.9 KiB");
	bytes((1ULL << 30) - 1, "1.0 GiB");
}

static void eta(int64_t s, const char *want)
{
	char buf[32];

	progress_fmt_eta(s, buf, sizeof buf);
	EXPECT_STR(buf, want);
}

static void fmt_eta_forms(void)
{
	eta(-1, "--:--");
	eta(0, "0:00");
	eta(7, "0:07");
	eta(754, "12:34");
	eta(3600, "1:00:00");
	eta(3723, "1:02:03");
	eta(100 * 3600, "100:00:00");
}

static void eta_from_rate(void)
{
	EXPECT_INT(progress_eta_s(100, 100, 0), 0);
	EXPECT_INT(progress_eta_s(200, 100, 0), 0);
	EXPECT_INT(progress_eta_s(0, 100, 0), -1);
	EXPECT_INT(progress_eta_s(100, 1100, 100), 10);
	/* A part of a second left counts as a second. */
	EXPECT_INT(progress_eta_s(100, 1101, 100), 11);
}

static void rate_samples_and_smooths(void)
{
	struct progress_rate r;

	progress_rate_init(&r, 1000);
	EXPECT(r.bps == 0);
	/* Too soon for a sample. */
	progress_rate_update(&r, 50000, 1100);
	EXPECT(r.bps == 0);
	progress_rate_update(&r, 250000, 1250);
	EXPECT(r.bps > 999999 && r.bps < 1000001);
	/* A stall pulls the rate down, but not to zero at once. */
	progress_rate_update(&r, 250000, 1500);
	EXPECT(r.bps > 699999 && r.bps < 700001);
	/* Fewer bytes than before (a new count) are ignored. */
	progress_rate_update(&r, 10, 2000);
	EXPECT(r.bps > 699999 && r.bps < 700001);
}

static void widths(void)
{
	EXPECT_INT(progress_width(""), 0);
	EXPECT_INT(progress_width("abc"), 3);
	EXPECT_INT(progress_width("h\xc3\xa9llo"), 5);		/* é */
	EXPECT_INT(progress_width("\xe6\x97\xa5\xe6\x9c\xac"), 4);	/* 日本 */
	EXPECT_INT(progress_width("e\xcc\x81"), 1);		/* e + combining acute */
	EXPECT_INT(progress_width("\xf0\x9f\x98\x80"), 2);	/* an emoji */
	EXPECT_INT(progress_width("a\xff" "b"), 3);		/* a bad byte */
	EXPECT_INT(progress_width("a\nb"), 3);
	EXPECT_INT(progress_width("\xe6\x97"), 2);		/* cut short */
}

static int bytes_below_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* Never wider than cols - 1, whatever the width and the name. */
static void line_fits_every_width(void)
{
	static const char *const names[] = {
		"", "a.txt", "dir/sub/\xe6\x97\xa5\xe6\x9c\xac-file.bin",
		"a very long file name that goes on and on and on and on and on and on.tar.gz",
		"new\nline", "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5",
	};
	char buf[1024];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		for (int cols = 1; cols <= 200; cols++) {
			progress_line(buf, sizeof buf, cols, names[i], 45 << 20, 100 << 20,
				      12.5 * 1024 * 1024);
			if (progress_width(buf) > cols - 1 || bytes_below_space(buf)) {
				printf("#   cols %d, name %zu: \"%s\" (%d columns)\n", cols, i, buf,
				       progress_width(buf));
				EXPECT(0);
				return;
			}
		}
	}
}

static void line_shows_everything_when_wide(void)
{
	char buf[1024];

	progress_line(buf, sizeof buf, 120, "big.bin", 45 << 20, 100 << 20, 12.5 * 1024 * 1024);
	EXPECT(strstr(buf, "big.bin") == buf);
	EXPECT(strstr(buf, " 45%") != NULL);
	EXPECT(strstr(buf, "45.0 MiB / 100.0 MiB") != NULL);
	EXPECT(strstr(buf, "12.5 MiB/s") != NULL);
	EXPECT(strstr(buf, "ETA 0:05") != NULL);
	EXPECT(strchr(buf, '[') != NULL && strchr(buf, '#') != NULL);
}

/* The bar and numbers stay in place as the numbers change. */
static void line_layout_is_stable(void)
{
	char a[1024], b[1024];

	progress_line(a, sizeof a, 100, "f", 1, 100 << 20, 0);
	progress_line(b, sizeof b, 100, "f", 99 << 20, 100 << 20, 123.4 * 1024 * 1024);
	EXPECT_INT(strlen(a), strlen(b));
	EXPECT_INT(strchr(a, '[') - a, strchr(b, '[') - b);
	EXPECT(strstr(a, "ETA --:--") != NULL);
	EXPECT(strstr(a, "  --  ") != NULL);
}

static void line_bar_fills(void)
{
	char buf[1024], *open, *close;

	progress_line(buf, sizeof buf, 100, "f", 100, 100, 1);
	open = strchr(buf, '[');
	close = strchr(buf, ']');
	EXPECT(open && close && close > open + 1);
	if (open && close)
		for (char *p = open + 1; p < close; p++)
			EXPECT(*p == '#');
	EXPECT(strstr(buf, "100%") != NULL);
	/* Nothing to copy is done at once. */
	progress_line(buf, sizeof buf, 100, "empty", 0, 0, 0);
	EXPECT(strstr(buf, "100%") != NULL);
	/* More than the total (a growing file) stays at 100%. */
	progress_line(buf, sizeof buf, 100, "f", 300, 100, 1);
	EXPECT(strstr(buf, "100%") != NULL);
}

static void line_shortens_long_names_from_the_left(void)
{
	char buf[1024];

	progress_line(buf, sizeof buf, 60, "some/deep/folder/structure/with/a-file-at-the-end.txt",
		      1, 2, 0);
	EXPECT(strncmp(buf, "...", 3) == 0);
	EXPECT(strstr(buf, "a-file-at-the-end.txt") != NULL);
	/* A wide character is never cut in half: 14 columns for the name. */
	progress_line(buf, sizeof buf, 21, "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
		      "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5",
		      1, 2, 0);
	EXPECT(strncmp(buf, "...\xe6\x97\xa5", 6) == 0);
	EXPECT_INT(progress_width(buf), 20);
}

static void line_hides_control_characters(void)
{
	char buf[1024];

	progress_line(buf, sizeof buf, 100, "two\nlines\x1b[2J", 1, 2, 0);
	EXPECT(strstr(buf, "two?lines?[2J") == buf);
}

static void line_narrow_drops_parts(void)
{
	char buf[1024];

	/* No room for the sizes: name, percentage, rate, ETA. */
	progress_line(buf, sizeof buf, 40, "file.txt", 1, 2, 0);
	EXPECT(strstr(buf, "file.txt") == buf);
	EXPECT(strstr(buf, " 50%") != NULL);
	EXPECT(strstr(buf, "MiB /") == NULL && strchr(buf, '[') == NULL);
	/* Very narrow: the percentage at most. */
	progress_line(buf, sizeof buf, 6, "file.txt", 1, 2, 0);
	EXPECT_STR(buf, " 50%");
	progress_line(buf, sizeof buf, 3, "file.txt", 1, 2, 0);
	EXPECT_STR(buf, "");
}

int main(void)
{
	RUN(fmt_bytes_units);
	RUN(fmt_bytes_rolls_over);
	RUN(fmt_eta_forms);
	RUN(eta_from_rate);
	RUN(rate_samples_and_smooths);
	RUN(widths);
	RUN(line_fits_every_width);
	RUN(line_shows_everything_when_wide);
	RUN(line_layout_is_stable);
	RUN(line_bar_fills);
	RUN(line_shortens_long_names_from_the_left);
	RUN(line_hides_control_characters);
	RUN(line_narrow_drops_parts);
	UNIT_EXIT();
}
