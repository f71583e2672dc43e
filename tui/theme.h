/* theme: the workbench's colours, read from themes/NAME.theme at run time. */
#ifndef SMOLVM_THEME_H
#define SMOLVM_THEME_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>

/* What can be styled; the file key is the lower-case name (theme_key). */
enum theme_elem {
	TH_LIST,
	TH_LIST_SELECTED,
	TH_LIST_HEADER,
	TH_HEADER,
	TH_FOOTER,
	TH_FOOTER_KEY,
	TH_STATUS,
	TH_STATUS_ERROR,
	TH_BORDER,
	TH_TAB,
	TH_TAB_ACTIVE,
	TH_STATE_RUNNING,
	TH_STATE_STOPPED,
	TH_STATE_CRASHED,
	TH_STATE_CREATING,
	TH_WARM,
	TH_DIALOG,
	TH_DIALOG_FIELD,
	TH_DIALOG_FIELD_ACTIVE,
	TH_DIALOG_ERROR,
	TH_HELP_KEY,
	TH_PANE_NOTICE,
	TH_LOG_ALLOWED,
	TH_LOG_DENIED,
	TH_LOG_ERROR,
	TH_XFER_RUNNING,
	TH_XFER_DONE,
	TH_XFER_FAILED,
	TH_DIFF_ADDED,
	TH_DIFF_CHANGED,
	TH_DIFF_DELETED,
	TH_COUNT
};

/* Attributes, independent of curses so that parsing needs no terminal. */
enum {
	THA_BOLD = 1 << 0,
	THA_DIM = 1 << 1,
	THA_UNDERLINE = 1 << 2,
	THA_REVERSE = 1 << 3,
	THA_ITALIC = 1 << 4,
	THA_BLINK = 1 << 5,
};

struct theme_style {
	int fg, bg;		/* colour.h encoding */
	unsigned attrs;		/* THA_* */
};

struct theme {
	char name[64];
	struct theme_style style[TH_COUNT];
};

const char *theme_key(enum theme_elem e);

/*
 * Parse theme text; file names the source in messages. Keys that are not
 * given keep "default default". Returns 0, or -1 with err_set() naming
 * file and line.
 */
int theme_parse(const char *text, const char *file, struct theme *t);

/* Read paths_data_dir()/themes/NAME.theme. */
int theme_load(const char *name, struct theme *t);

/* Names of the installed themes, sorted; free with theme_names_free. */
char **theme_names(size_t *n);
void theme_names_free(char **names, size_t n);

/* A style ready for curses: attributes plus an (extended) colour pair. */
struct style {
	attr_t attr;
	int pair;
};

/*
 * Make t the active theme on the screen. Without colour (NO_COLOR, or a
 * terminal without colours) only attributes are used, plus a fallback per
 * element (reverse for the selection, bold for headers) so that nothing
 * becomes invisible.
 */
void theme_apply(const struct theme *t, bool colour);
struct style theme_style(enum theme_elem e);

/* Set w's drawing attributes to a style. */
void theme_use(WINDOW *w, struct style s);

#endif
