/* Unit tests for tui/dialog.c: editing a field and checking the "new
 * sandbox" form, without a screen. */
#include <curses.h>
#include <locale.h>
#include <string.h>

#include "tui/dialog.h"
#include "tests/unit/unit.h"

static void type(struct dialog_field *f, const wchar_t *s)
{
	for (; *s; s++)
		dialog_field_key(f, false, (wint_t)*s);
}

static void field_editing(void)
{
	struct dialog_new d;
	struct dialog_field *f = &d.f[NEW_NAME];

	dialog_new_init(&d, "", 256, 1);
	type(f, L"abc");
	EXPECT_STR(f->value, "abc");
	dialog_field_key(f, true, KEY_LEFT);
	type(f, L"X");
	EXPECT_STR(f->value, "abXc");
	dialog_field_key(f, true, KEY_HOME);
	dialog_field_key(f, true, KEY_DC);
	EXPECT_STR(f->value, "bXc");
	dialog_field_key(f, true, KEY_END);
	dialog_field_key(f, false, 0x7f);
	EXPECT_STR(f->value, "bX");
	/* Multi-byte characters are inserted and deleted whole. */
	type(f, L"é日");
	EXPECT_STR(f->value, "bXé日");
	dialog_field_key(f, true, KEY_LEFT);
	dialog_field_key(f, true, KEY_BACKSPACE);
	EXPECT_STR(f->value, "bX日");
	EXPECT_INT(f->cursor, 2);
	dialog_field_key(f, false, 0x15);		/* Ctrl-U */
	EXPECT_STR(f->value, "");
	EXPECT_INT(f->len, 0);
	/* Control keys are not text. */
	EXPECT(!dialog_field_key(f, false, 0x02));
	EXPECT_STR(f->value, "");
}

static void digits_only(void)
{
	struct dialog_new d;
	struct dialog_field *f = &d.f[NEW_MEM];

	dialog_new_init(&d, "x", 256, 1);
	EXPECT_STR(f->value, "256");
	type(f, L"a-9");
	EXPECT_STR(f->value, "2569");
}

static void field_is_bounded(void)
{
	struct dialog_new d;
	struct dialog_field *f = &d.f[NEW_NAME];

	dialog_new_init(&d, "", 256, 1);
	for (size_t i = 0; i < sizeof f->value + 8; i++)
		dialog_field_key(f, false, 'a');
	EXPECT_INT(f->len, sizeof f->value - 1);
	EXPECT_INT(strlen(f->value), sizeof f->value - 1);
}

static bool taken(const char *name, void *ctx)
{
	(void)ctx;
	return !strcmp(name, "busy");
}

static void setup(struct dialog_new *d, const char *name, const char *mem, const char *cpus)
{
	dialog_new_init(d, name, 256, 1);
	snprintf(d->f[NEW_MEM].value, sizeof d->f[NEW_MEM].value, "%s", mem);
	snprintf(d->f[NEW_CPUS].value, sizeof d->f[NEW_CPUS].value, "%s", cpus);
	d->mem_min = 64;
	d->mem_max = 4096;
	d->cpus_min = 1;
	d->cpus_max = 4;
	d->taken = taken;
	d->ctx = NULL;
}

static void validation(void)
{
	struct dialog_new d;

	setup(&d, "good-name_1.x", "512", "2");
	EXPECT_INT(dialog_new_validate(&d), -1);
	EXPECT_INT(d.mem, 512);
	EXPECT_INT(d.cpus, 2);
	EXPECT_STR(d.error, "");

	setup(&d, "", "512", "2");
	EXPECT_INT(dialog_new_validate(&d), NEW_NAME);
	EXPECT_STR(d.error, "give the sandbox a name");
	setup(&d, "-x", "512", "2");
	EXPECT_INT(dialog_new_validate(&d), NEW_NAME);
	setup(&d, "a b", "512", "2");
	EXPECT_INT(dialog_new_validate(&d), NEW_NAME);
	setup(&d, "busy", "512", "2");
	EXPECT_INT(dialog_new_validate(&d), NEW_NAME);
	EXPECT(strstr(d.error, "already a sandbox named busy") != NULL);

	setup(&d, "ok", "", "2");
	EXPECT_INT(dialog_new_validate(&d), NEW_MEM);
	setup(&d, "ok", "63", "2");
	EXPECT_INT(dialog_new_validate(&d), NEW_MEM);
	EXPECT(strstr(d.error, "64 to 4096") != NULL);
	setup(&d, "ok", "99999999999999999999", "2");
	EXPECT_INT(dialog_new_validate(&d), NEW_MEM);
	setup(&d, "ok", "4096", "0");
	EXPECT_INT(dialog_new_validate(&d), NEW_CPUS);
	setup(&d, "ok", "4096", "5");
	EXPECT_INT(dialog_new_validate(&d), NEW_CPUS);
}

static void keys_move_and_submit(void)
{
	struct dialog_new d;

	setup(&d, "", "512", "2");
	/* Enter with a bad field keeps the dialog open and focuses the field. */
	d.focus = NEW_CPUS;
	EXPECT_INT(dialog_new_key(&d, false, '\r'), DIALOG_OPEN);
	EXPECT_INT(d.focus, NEW_NAME);
	EXPECT(d.error[0]);
	/* Typing clears the message. */
	dialog_new_key(&d, false, 'n');
	EXPECT_STR(d.error, "");
	EXPECT_INT(dialog_new_key(&d, false, '\t'), DIALOG_OPEN);
	EXPECT_INT(d.focus, NEW_MEM);
	dialog_new_key(&d, true, KEY_BTAB);
	EXPECT_INT(d.focus, NEW_NAME);
	EXPECT_INT(dialog_new_key(&d, false, '\r'), DIALOG_OK);
	EXPECT_STR(d.f[NEW_NAME].value, "n");
	/* Enter on Cancel, and Esc anywhere, cancel. */
	d.focus = NEW_NFIELDS + 1;
	EXPECT_INT(dialog_new_key(&d, false, '\r'), DIALOG_CANCEL);
	d.focus = NEW_MEM;
	EXPECT_INT(dialog_new_key(&d, false, 0x1b), DIALOG_CANCEL);
}

static void confirm_keys(void)
{
	struct dialog_confirm c = { .focus_yes = false };

	EXPECT_INT(dialog_confirm_key(&c, false, 'x'), DIALOG_OPEN);
	EXPECT_INT(dialog_confirm_key(&c, false, '\r'), DIALOG_CANCEL);
	EXPECT_INT(dialog_confirm_key(&c, false, 'y'), DIALOG_OK);
	EXPECT_INT(dialog_confirm_key(&c, false, 'n'), DIALOG_CANCEL);
	EXPECT_INT(dialog_confirm_key(&c, false, 0x1b), DIALOG_CANCEL);
	dialog_confirm_key(&c, true, KEY_LEFT);
	EXPECT(c.focus_yes);
	EXPECT_INT(dialog_confirm_key(&c, false, '\r'), DIALOG_OK);
}

int main(void)
{
	setlocale(LC_CTYPE, "C.UTF-8");
	RUN(field_editing);
	RUN(digits_only);
	RUN(field_is_bounded);
	RUN(validation);
	RUN(keys_move_and_submit);
	RUN(confirm_keys);
	UNIT_EXIT();
}
