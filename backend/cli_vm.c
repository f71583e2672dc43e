/* PLACEHOLDER: being written; replaced before landing. */
#include <stdio.h>
#include "backend/cli.h"
int cli_create(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: not yet\n", argv[0]); return 1; }
int cli_ls(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: not yet\n", argv[0]); return 1; }
int cli_start(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: not yet\n", argv[0]); return 1; }
int cli_stop(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: not yet\n", argv[0]); return 1; }
int cli_rm(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: not yet\n", argv[0]); return 1; }
int cli_logs(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: not yet\n", argv[0]); return 1; }
