/*
 * vaultpane: the API-key vault, in place of the list. Every secret with
 * its hosts, header, use count and last use (live: the counts the proxies
 * record, read again every second), and whether the sandbox the pane was
 * opened for has it attached; adding one (the value typed masked),
 * deleting one (asked first), and attaching or detaching one to that
 * sandbox, which changes its policy (backend/sandbox.h: the guest gets or
 * loses the placeholder) on a thread of its own. Values are never shown.
 */
#ifndef SMOLVM_VAULTPANE_H
#define SMOLVM_VAULTPANE_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "backend/store.h"
#include "backend/vault.h"
#include "tui/dialog.h"

struct app;
struct vault_attach;

enum vaultpane_state { VAULT_VIEW, VAULT_FORM, VAULT_CONFIRM };
enum { VF_NAME, VF_HOSTS, VF_HEADER, VF_FORMAT, VF_VALUE, VF_N };

struct vaultpane {
	struct sandbox sb;
	struct vault_key *key;		/* NULL until the vault could be opened */
	struct vault *v;
	struct vault_use *uses;
	size_t nuses;
	char **attached;		/* the sandbox's secrets, from its policy */
	size_t nattached;
	char error[400];
	size_t sel, top;
	struct vault_attach *job;	/* an attach or detach under way */

	enum vaultpane_state state;
	struct dialog_field f[VF_N];
	int focus;
	char form_error[200];
	struct dialog_confirm conf;
	char target[VAULT_NAME_MAX + 1];
};

struct vaultpane *vaultpane_open(const struct sandbox *sb);
void vaultpane_free(struct vaultpane *vp);
/* Read the vault, the counts and the sandbox's policy again if they changed;
 * collect a finished attach. sb is the sandbox's record now. */
void vaultpane_refresh(struct vaultpane *vp, const struct sandbox *sb);

bool vaultpane_key(struct app *a, bool is_code, wint_t wc);
void vaultpane_draw(struct vaultpane *vp, int y0, int h, int cols);
void vaultpane_draw_dialog(const struct vaultpane *vp, int lines, int cols);
bool vaultpane_cursor(const struct vaultpane *vp, int lines, int cols, int *y, int *x);

#endif
