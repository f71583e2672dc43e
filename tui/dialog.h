/* dialog: the "new sandbox" form and yes/no confirmations, drawn over the
 * screen and fed keys until they finish. */
#ifndef SMOLVM_DIALOG_H
#define SMOLVM_DIALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

enum dialog_result { DIALOG_OPEN, DIALOG_OK, DIALOG_CANCEL };

struct dialog_field {
	const char *label;
	const char *unit;	/* after the box, e.g. "MiB" */
	char value[256];
	size_t len;		/* bytes in value */
	size_t cursor;		/* byte offset, on a character boundary */
	bool digits;		/* only 0-9 accepted */
	int width;		/* of the edit box, in columns */
};

enum { NEW_NAME, NEW_MEM, NEW_CPUS, NEW_NFIELDS };

struct dialog_new {
	struct dialog_field f[NEW_NFIELDS];
	int focus;		/* a field, or NEW_NFIELDS (Create) or +1 (Cancel) */
	int mem_min, mem_max, cpus_min, cpus_max;
	char error[160];
	/* Is a sandbox with this name there already? */
	bool (*taken)(const char *name, void *ctx);
	void *ctx;
	/* The result once DIALOG_OK */
	int mem, cpus;
};

void dialog_new_init(struct dialog_new *d, const char *name, int mem, int cpus);

/* Check the fields; returns -1 if all are good (and fills mem, cpus), else
 * the index of the first bad field with error set. */
int dialog_new_validate(struct dialog_new *d);

enum dialog_result dialog_new_key(struct dialog_new *d, bool is_code, wint_t wc);
void dialog_new_draw(const struct dialog_new *d, int lines, int cols);
/* Where the text cursor goes (false: hidden). */
bool dialog_new_cursor(const struct dialog_new *d, int lines, int cols, int *y, int *x);

struct dialog_confirm {
	char title[64];
	char text[3][160];	/* up to three lines */
	char yes[24];		/* the confirming button, e.g. "Delete" */
	bool focus_yes;
};

enum dialog_result dialog_confirm_key(struct dialog_confirm *c, bool is_code, wint_t wc);
void dialog_confirm_draw(const struct dialog_confirm *c, int lines, int cols);

/* Edit a field with a key; true if the key was an editing key. Exposed for
 * tests. */
bool dialog_field_key(struct dialog_field *f, bool is_code, wint_t wc);

/* A field at y, x: its label in 8 columns, then its edit box from x + 9,
 * then its unit. The cursor goes to x + 9 + dialog_field_cursor(f). */
void dialog_field_draw(const struct dialog_field *f, int y, int x, bool active);
int dialog_field_cursor(const struct dialog_field *f);

#endif
