/* help: the screen listing every key. */
#ifndef SMOLVM_HELP_H
#define SMOLVM_HELP_H

/* prefix names the prefix key ("Ctrl-b"). */
void help_draw(int y0, int lines, int cols, const char *prefix);

#endif
