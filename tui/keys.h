/* keys: turn what curses read from the keyboard into keys for a guest's
 * terminal (libvterm's keyboard functions encode them). */
#ifndef SMOLVM_KEYS_H
#define SMOLVM_KEYS_H

#include <stdbool.h>
#include <stdint.h>
#include <vterm.h>
#include <wchar.h>

enum keys_kind { KEYS_NONE, KEYS_KEY, KEYS_CHAR };

struct keys_vt {
	enum keys_kind kind;
	VTermKey key;		/* KEYS_KEY */
	uint32_t ch;		/* KEYS_CHAR: a Unicode code point or a control byte */
	VTermModifier mod;
};

/*
 * Learn the codes curses gives to modified keys (Ctrl-Left and so on),
 * which it numbers at run time from terminfo's extended names. Call after
 * initscr().
 */
void keys_init(void);

/* The codes keys_init gives the terminal's bracketed-paste markers
 * ESC[200~ and ESC[201~ (codes no key of the terminal uses). */
extern int keys_paste_begin, keys_paste_end;

/* Ask the terminal to mark pastes (on), or to stop (off). */
void keys_bracketed_paste(bool on);

/*
 * Translate one get_wch() result: is_code is true for KEY_CODE_YES. alt is
 * true when an ESC came immediately before (how terminals send Alt).
 */
struct keys_vt keys_translate(bool is_code, wint_t wc, bool alt);

/* xterm's extended key names ("kLFT5" is Ctrl-Left); false if unknown. */
bool keys_from_name(const char *name, VTermKey *key, VTermModifier *mod);

/* Send a translated key to a terminal. */
void keys_send(VTerm *vt, const struct keys_vt *k);

#endif
