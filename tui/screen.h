/* screen: draws the workbench once per turn of the loop: tabs, the list or
 * a shell pane, the status line, the key hints and any dialog. */
#ifndef SMOLVM_SCREEN_H
#define SMOLVM_SCREEN_H

#include "tui/app.h"

void screen_draw(struct app *a);

/* Below the minimum size only a notice is drawn, and keys are ignored:
 * nothing may act on a dialog or list the person cannot see. */
bool screen_too_small(void);

#endif
