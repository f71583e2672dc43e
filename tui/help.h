/* help: the screen listing every key. */
#ifndef SMOLVM_HELP_H
#define SMOLVM_HELP_H

/* label is the prefix key as keys show it ("^B"), name spelt out ("Ctrl-b"). */
void help_draw(int y0, int lines, int cols, const char *label, const char *name);
/* The network pane's keys. */
void help_draw_net(int y0, int lines, int cols, const char *label, const char *name);

/* The upload pane's keys, and drag-in. */
void help_draw_upload(int y0, int lines, int cols, const char *label, const char *name);

/* The files pane's keys. */
void help_draw_files(int y0, int lines, int cols, const char *label, const char *name);

/* The snapshot pane's keys. */
void help_draw_snaps(int y0, int lines, int cols, const char *label, const char *name);

/* The vault pane's keys. */
void help_draw_vault(int y0, int lines, int cols, const char *label, const char *name);

#endif
