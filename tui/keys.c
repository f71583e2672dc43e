#include "tui/keys.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>
#include <term.h>
#include <unistd.h>

#include "backend/util.h"

static const struct {
	const char *name;
	VTermKey key;
} ext_names[] = {
	{ "kUP", VTERM_KEY_UP }, { "kDN", VTERM_KEY_DOWN }, { "kLFT", VTERM_KEY_LEFT },
	{ "kRIT", VTERM_KEY_RIGHT }, { "kHOM", VTERM_KEY_HOME }, { "kEND", VTERM_KEY_END },
	{ "kPRV", VTERM_KEY_PAGEUP }, { "kNXT", VTERM_KEY_PAGEDOWN }, { "kIC", VTERM_KEY_INS },
	{ "kDC", VTERM_KEY_DEL },
};

/* Codes curses assigned to extended key names in this terminal. */
static struct {
	int code;
	VTermKey key;
	VTermModifier mod;
} ext_codes[ARRAY_LEN(ext_names) * 7];
static size_t n_ext_codes;

bool keys_from_name(const char *name, VTermKey *key, VTermModifier *mod)
{
	for (size_t i = 0; i < ARRAY_LEN(ext_names); i++) {
		size_t len = strlen(ext_names[i].name);

		/* xterm's suffix 2-8 is 1 + a bit set (shift 1, alt 2, ctrl 4), the
		 * same bits as VTermModifier. */
		if (!strncmp(name, ext_names[i].name, len) && name[len] >= '2' &&
		    name[len] <= '8' && !name[len + 1]) {
			*key = ext_names[i].key;
			*mod = (VTermModifier)(name[len] - '1');
			return true;
		}
	}
	return false;
}

int keys_paste_begin = -1, keys_paste_end = -1;

/* A key code curses has no string for, above the ones it names. */
static int free_code(int from)
{
	for (int c = from; c < KEY_MAX + 4096; c++) {
		char *bound = keybound(c, 0);

		if (!bound && !has_key(c))
			return c;
		free(bound);
	}
	return -1;
}

static void define_paste_keys(void)
{
	/* The markers may already be known under another code (terminfo's
	 * PS/PE): take them over. */
	define_key("\033[200~", 0);
	define_key("\033[201~", 0);
	keys_paste_begin = free_code(KEY_MAX + 1);
	if (keys_paste_begin > 0)
		define_key("\033[200~", keys_paste_begin);
	keys_paste_end = free_code(keys_paste_begin + 1);
	if (keys_paste_end > 0)
		define_key("\033[201~", keys_paste_end);
}

void keys_bracketed_paste(bool on)
{
	const char *seq = on ? "\033[?2004h" : "\033[?2004l";

	fflush(stdout);
	if (write(STDOUT_FILENO, seq, strlen(seq)) < 0) {
		/* no terminal left to tell */
	}
}

void keys_init(void)
{
	define_paste_keys();
	n_ext_codes = 0;
	for (size_t i = 0; i < ARRAY_LEN(ext_names); i++) {
		for (char d = '2'; d <= '8'; d++) {
			char name[16];
			const char *seq;
			int code;

			snprintf(name, sizeof name, "%s%c", ext_names[i].name, d);
			seq = tigetstr(name);
			if (!seq || seq == (char *)-1 || (code = key_defined(seq)) <= 0)
				continue;
			ext_codes[n_ext_codes].code = code;
			keys_from_name(name, &ext_codes[n_ext_codes].key,
				       &ext_codes[n_ext_codes].mod);
			n_ext_codes++;
		}
	}
}

static struct keys_vt key(VTermKey k, int mod)
{
	return (struct keys_vt){ .kind = KEYS_KEY, .key = k, .mod = (VTermModifier)mod };
}

static struct keys_vt code_key(int code)
{
	static const int fmods[] = { 0, VTERM_MOD_SHIFT, VTERM_MOD_CTRL,
		VTERM_MOD_CTRL | VTERM_MOD_SHIFT, VTERM_MOD_ALT, VTERM_MOD_ALT | VTERM_MOD_SHIFT };

	switch (code) {
	case KEY_UP: return key(VTERM_KEY_UP, 0);
	case KEY_DOWN: return key(VTERM_KEY_DOWN, 0);
	case KEY_LEFT: return key(VTERM_KEY_LEFT, 0);
	case KEY_RIGHT: return key(VTERM_KEY_RIGHT, 0);
	case KEY_HOME: return key(VTERM_KEY_HOME, 0);
	case KEY_END: return key(VTERM_KEY_END, 0);
	case KEY_PPAGE: return key(VTERM_KEY_PAGEUP, 0);
	case KEY_NPAGE: return key(VTERM_KEY_PAGEDOWN, 0);
	case KEY_IC: return key(VTERM_KEY_INS, 0);
	case KEY_DC: return key(VTERM_KEY_DEL, 0);
	case KEY_BACKSPACE: return key(VTERM_KEY_BACKSPACE, 0);
	case KEY_ENTER: return key(VTERM_KEY_ENTER, 0);
	case KEY_BTAB: return key(VTERM_KEY_TAB, VTERM_MOD_SHIFT);
	case KEY_SR: return key(VTERM_KEY_UP, VTERM_MOD_SHIFT);
	case KEY_SF: return key(VTERM_KEY_DOWN, VTERM_MOD_SHIFT);
	case KEY_SLEFT: return key(VTERM_KEY_LEFT, VTERM_MOD_SHIFT);
	case KEY_SRIGHT: return key(VTERM_KEY_RIGHT, VTERM_MOD_SHIFT);
	case KEY_SHOME: return key(VTERM_KEY_HOME, VTERM_MOD_SHIFT);
	case KEY_SEND: return key(VTERM_KEY_END, VTERM_MOD_SHIFT);
	case KEY_SPREVIOUS: return key(VTERM_KEY_PAGEUP, VTERM_MOD_SHIFT);
	case KEY_SNEXT: return key(VTERM_KEY_PAGEDOWN, VTERM_MOD_SHIFT);
	case KEY_SIC: return key(VTERM_KEY_INS, VTERM_MOD_SHIFT);
	case KEY_SDC: return key(VTERM_KEY_DEL, VTERM_MOD_SHIFT);
	}
	/* terminfo numbers F13-F24 as Shift-F1..F12, F25-F36 as Ctrl-, and so on. */
	if (code > KEY_F0 && code <= KEY_F(63)) {
		int n = code - KEY_F0 - 1;
		return key(VTERM_KEY_FUNCTION(n % 12 + 1), fmods[n / 12]);
	}
	for (size_t i = 0; i < n_ext_codes; i++)
		if (ext_codes[i].code == code)
			return key(ext_codes[i].key, ext_codes[i].mod);
	return (struct keys_vt){ .kind = KEYS_NONE };
}

struct keys_vt keys_translate(bool is_code, wint_t wc, bool alt)
{
	struct keys_vt k;
	int mod = alt ? VTERM_MOD_ALT : 0;

	if (is_code) {
		k = code_key((int)wc);
		if (k.kind == KEYS_KEY)
			k.mod |= mod;
		return k;
	}
	switch (wc) {
	case '\r': return key(VTERM_KEY_ENTER, mod);
	case '\t': return key(VTERM_KEY_TAB, mod);
	case 0x1b: return key(VTERM_KEY_ESCAPE, mod);
	case 0x7f: return key(VTERM_KEY_BACKSPACE, mod);
	}
	/* Other control bytes (Ctrl-C is 0x03) go as they are. */
	return (struct keys_vt){ .kind = KEYS_CHAR, .ch = (uint32_t)wc, .mod = (VTermModifier)mod };
}

void keys_send(VTerm *vt, const struct keys_vt *k)
{
	if (k->kind == KEYS_KEY)
		vterm_keyboard_key(vt, k->key, k->mod);
	else if (k->kind == KEYS_CHAR)
		vterm_keyboard_unichar(vt, k->ch, k->mod);
}
