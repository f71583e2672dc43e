/* input: keys and mouse events, read from curses and turned into actions
 * or bytes for the shown shell. */
#ifndef SMOLVM_INPUT_H
#define SMOLVM_INPUT_H

#include "tui/app.h"

/* Read and handle everything the keyboard has sent (stdin is readable). */
void input_read_keys(struct app *a);

#endif
