/* PLACEHOLDER: being written; replaced before landing. */
#include <stdio.h>
#include "backend/cli.h"
int cli_image(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: not yet\n", argv[0]); return 1; }
