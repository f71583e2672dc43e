/* Unit tests for tui/colour.c: palette, fitting colours to 256/16/8-colour
 * screens, theme colour names, libvterm cell colours. */
#include "tui/colour.h"
#include "tests/unit/unit.h"

static void palette_entries(void)
{
	EXPECT_INT(colour_palette_rgb(1), 0xcd0000);
	EXPECT_INT(colour_palette_rgb(16), 0x000000);
	EXPECT_INT(colour_palette_rgb(21), 0x0000ff);
	EXPECT_INT(colour_palette_rgb(196), 0xff0000);
	EXPECT_INT(colour_palette_rgb(231), 0xffffff);
	EXPECT_INT(colour_palette_rgb(232), 0x080808);
	EXPECT_INT(colour_palette_rgb(255), 0xeeeeee);
}

static void rgb_to_256_exact_and_near(void)
{
	/* Every cube and grey entry maps back to itself. */
	for (int i = 16; i < 256; i++)
		EXPECT_INT(colour_rgb_to_256(colour_palette_rgb(i)), i);
	EXPECT_INT(colour_rgb_to_256(0xfe0101), 196);
	EXPECT_INT(colour_rgb_to_256(0x0ac864), 41);		/* 10,200,100 */
	EXPECT_INT(colour_rgb_to_256(0x777777), 243);		/* grey ramp, not the cube */
	EXPECT_INT(colour_rgb_to_256(0x5fafff), 75);
}

static void rgb_to_basic(void)
{
	EXPECT_INT(colour_rgb_to_basic(0xff0000, 16), 9);
	EXPECT_INT(colour_rgb_to_basic(0xc00000, 16), 1);
	EXPECT_INT(colour_rgb_to_basic(0xff0000, 8), 1);
	EXPECT_INT(colour_rgb_to_basic(0x101010, 16), 0);
	EXPECT_INT(colour_rgb_to_basic(0xf0f0f0, 16), 7);	/* nearer e5e5e5 than white */
	EXPECT_INT(colour_rgb_to_basic(0xfafafa, 16), 15);
	EXPECT_INT(colour_rgb_to_basic(0xfafafa, 8), 7);
}

static void fit_to_screens(void)
{
	EXPECT_INT(colour_fit(COLOUR_DEFAULT, 256), -1);
	EXPECT_INT(colour_fit(208, 256), 208);
	EXPECT_INT(colour_fit(208, 16), 3);			/* orange -> yellow */
	EXPECT_INT(colour_fit(9, 16), 9);
	EXPECT_INT(colour_fit(9, 8), 1);			/* bright red -> red */
	EXPECT_INT(colour_fit(8, 8), 0);
	EXPECT_INT(colour_fit(COLOUR_RGB | 0x0ac864, 256), 41);
	EXPECT_INT(colour_fit(COLOUR_RGB | 0x0ac864, 16), 2);
	EXPECT_INT(colour_fit(COLOUR_RGB | 0x20ff20, 16), 10);
	EXPECT_INT(colour_fit(COLOUR_RGB | 0x0ac864, 8), 2);
	EXPECT_INT(colour_fit(3, 2), -1);			/* monochrome */
	/* 88-colour terminals keep low indexes, map the rest to 16. */
	EXPECT_INT(colour_fit(40, 88), 40);
}

static void parse_names(void)
{
	int c = 12345;

	EXPECT_INT(colour_parse("default", &c), 0);
	EXPECT_INT(c, COLOUR_DEFAULT);
	EXPECT_INT(colour_parse("red", &c), 0);
	EXPECT_INT(c, 1);
	EXPECT_INT(colour_parse("Bright-Blue", &c), 0);
	EXPECT_INT(c, 12);
	EXPECT_INT(colour_parse("bright-white", &c), 0);
	EXPECT_INT(c, 15);
	EXPECT_INT(colour_parse("0", &c), 0);
	EXPECT_INT(c, 0);
	EXPECT_INT(colour_parse("255", &c), 0);
	EXPECT_INT(c, 255);
	EXPECT_INT(colour_parse("#5fAFff", &c), 0);
	EXPECT_INT(c, COLOUR_RGB | 0x5fafff);
}

static void parse_rejects(void)
{
	int c = 7;

	EXPECT_INT(colour_parse("purple", &c), -1);
	EXPECT_INT(colour_parse("256", &c), -1);
	EXPECT_INT(colour_parse("-1", &c), -1);
	EXPECT_INT(colour_parse("12a", &c), -1);
	EXPECT_INT(colour_parse("#12345", &c), -1);
	EXPECT_INT(colour_parse("#1234567", &c), -1);
	EXPECT_INT(colour_parse("#gggggg", &c), -1);
	EXPECT_INT(colour_parse("bright-", &c), -1);
	EXPECT_INT(colour_parse("", &c), -1);
	EXPECT_INT(c, 7);
}

static void vterm_cells(void)
{
	VTermColor c;

	vterm_color_indexed(&c, 4);
	EXPECT_INT(colour_from_vterm(&c, 256), 4);
	vterm_color_indexed(&c, 200);
	EXPECT_INT(colour_from_vterm(&c, 256), 200);
	EXPECT_INT(colour_from_vterm(&c, 8), 5);		/* pink -> magenta */
	vterm_color_rgb(&c, 255, 0, 0);
	EXPECT_INT(colour_from_vterm(&c, 256), 196);
	EXPECT_INT(colour_from_vterm(&c, 16), 9);
	c.type |= VTERM_COLOR_DEFAULT_FG;
	EXPECT_INT(colour_from_vterm(&c, 256), -1);
	vterm_color_indexed(&c, 0);
	c.type |= VTERM_COLOR_DEFAULT_BG;
	EXPECT_INT(colour_from_vterm(&c, 256), -1);
}

int main(void)
{
	RUN(palette_entries);
	RUN(rgb_to_256_exact_and_near);
	RUN(rgb_to_basic);
	RUN(fit_to_screens);
	RUN(parse_names);
	RUN(parse_rejects);
	RUN(vterm_cells);
	UNIT_EXIT();
}
