/* cli: what every subcommand shares. */
#include "backend/cli.h"

#include <stdio.h>

int cli_usage(const char *text)
{
	fputs(text, stdout);
	return 0;
}
