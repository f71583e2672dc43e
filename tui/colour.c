#include "tui/colour.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* xterm's defaults for the 16 basic colours. */
static const uint32_t basic16[16] = {
	0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
	0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff,
};

static const int cube_level[6] = { 0, 95, 135, 175, 215, 255 };

static const char *const names[8] = {
	"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
};

uint32_t colour_palette_rgb(int idx)
{
	if (idx < 0 || idx > 255)
		return 0;
	if (idx < 16)
		return basic16[idx];
	if (idx < 232) {
		int i = idx - 16;
		return (uint32_t)(cube_level[i / 36] << 16 | cube_level[i / 6 % 6] << 8 |
				  cube_level[i % 6]);
	}
	int g = 8 + 10 * (idx - 232);
	return (uint32_t)(g << 16 | g << 8 | g);
}

static int dist2(uint32_t a, uint32_t b)
{
	int dr = (int)(a >> 16 & 0xff) - (int)(b >> 16 & 0xff);
	int dg = (int)(a >> 8 & 0xff) - (int)(b >> 8 & 0xff);
	int db = (int)(a & 0xff) - (int)(b & 0xff);

	return dr * dr + dg * dg + db * db;
}

static int cube_index(int v)
{
	if (v < 48)
		return 0;
	if (v < 115)
		return 1;
	return (v - 35) / 40;
}

int colour_rgb_to_256(uint32_t rgb)
{
	int r = rgb >> 16 & 0xff, g = rgb >> 8 & 0xff, b = rgb & 0xff;
	int cube = 16 + 36 * cube_index(r) + 6 * cube_index(g) + cube_index(b);
	int grey = ((r + g + b) / 3 - 3) / 10;

	if (grey < 0)
		grey = 0;
	if (grey > 23)
		grey = 23;
	grey += 232;
	return dist2(rgb, colour_palette_rgb(grey)) < dist2(rgb, colour_palette_rgb(cube)) ?
	       grey : cube;
}

int colour_rgb_to_basic(uint32_t rgb, int n)
{
	int best = 0;

	for (int i = 1; i < n && i < 16; i++)
		if (dist2(rgb, basic16[i]) < dist2(rgb, basic16[best]))
			best = i;
	return best;
}

int colour_fit(int colour, int ncolours)
{
	uint32_t rgb;

	if (colour == COLOUR_DEFAULT || ncolours < 8)
		return -1;
	if (colour & COLOUR_RGB) {
		rgb = (uint32_t)colour & 0xffffff;
		if (ncolours >= 256)
			return colour_rgb_to_256(rgb);
	} else {
		if (colour < ncolours)
			return colour;
		/* On 8 colours the bright half maps to its dark twin, not to
		 * whichever dark colour is nearest (bright-black would be white). */
		if (colour < 16)
			return colour - 8;
		rgb = colour_palette_rgb(colour);
	}
	return colour_rgb_to_basic(rgb, ncolours >= 16 ? 16 : 8);
}

int colour_from_vterm(const VTermColor *c, int ncolours)
{
	if (VTERM_COLOR_IS_DEFAULT_FG(c) || VTERM_COLOR_IS_DEFAULT_BG(c))
		return -1;
	if (VTERM_COLOR_IS_INDEXED(c))
		return colour_fit(c->indexed.idx, ncolours);
	return colour_fit(COLOUR_RGB | c->rgb.red << 16 | c->rgb.green << 8 | c->rgb.blue,
			  ncolours);
}

int colour_parse(const char *s, int *out)
{
	char *end;
	long v;

	if (!strcasecmp(s, "default")) {
		*out = COLOUR_DEFAULT;
		return 0;
	}
	for (int i = 0; i < 8; i++) {
		if (!strcasecmp(s, names[i])) {
			*out = i;
			return 0;
		}
		if (!strncasecmp(s, "bright-", 7) && !strcasecmp(s + 7, names[i])) {
			*out = i + 8;
			return 0;
		}
	}
	if (s[0] == '#') {
		if (strlen(s) != 7 || strspn(s + 1, "0123456789abcdefABCDEF") != 6)
			return -1;
		*out = COLOUR_RGB | (int)strtol(s + 1, NULL, 16);
		return 0;
	}
	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v > 255)
		return -1;
	*out = (int)v;
	return 0;
}
