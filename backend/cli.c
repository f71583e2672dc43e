/* cli: what every subcommand shares. */
#include "backend/cli.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/store.h"
#include "backend/util.h"

volatile sig_atomic_t cli_interrupted;

static void on_signal(int sig)
{
	cli_interrupted = sig;
}

void cli_catch_signals(bool once)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = once ? SA_RESETHAND : 0 };
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

int cli_usage(const char *text)
{
	fputs(text, stdout);
	return 0;
}

void cli_print_json(cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);

	if (!text)
		die("out of memory");
	printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

int cli_parse(const char *cmd, int argc, char **argv, const struct arg_spec *specs, int nspecs,
	      const char *usage, int npos, const char *what, struct args_result *res)
{
	if (args_parse(cmd, argc, argv, specs, nspecs, res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return CLI_EXIT_USAGE;
	}
	if (res->help) {
		free(res->pos);
		return cli_usage(usage);
	}
	if (npos >= 0 && res->npos != npos) {
		/* "policy set" -> see smolvm policy --help */
		int group = (int)strcspn(cmd, " ");

		free(res->pos);
		fprintf(stderr, "smolvm %s: %s (see smolvm %.*s --help)\n", cmd, what, group, cmd);
		return CLI_EXIT_USAGE;
	}
	return -1;
}

int cli_parse_sub(const char *group, const char *cmd, int argc, char **argv,
		  const struct arg_spec *specs, int nspecs, const char *usage, int npos,
		  const char *what, struct args_result *res)
{
	char name[32];

	snprintf(name, sizeof name, "%s %s", group, cmd);
	return cli_parse(name, argc, argv, specs, nspecs, usage, npos, what, res);
}

int cli_need_root(const char *cmd)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr, "smolvm %s needs root: it connects from inside the sandbox's network "
		"namespace; run it with sudo\n", cmd);
	return -1;
}

int cli_running_sandbox(const char *key, struct sandbox *sb)
{
	if (store_resolve(key, sb) < 0) {
		fprintf(stderr, "smolvm: %s\n", err_msg());
		return -1;
	}
	if (!strcmp(sb->state, SB_RUNNING))
		return 0;
	if (!strcmp(sb->state, SB_STOPPED))
		fprintf(stderr, "smolvm: sandbox %s is stopped; run `smolvm start %s`\n",
			sb->name, sb->name);
	else if (!strcmp(sb->state, SB_CRASHED))
		fprintf(stderr, "smolvm: sandbox %s has crashed (its QEMU is gone); see "
			"`smolvm logs %s`, then `smolvm start %s` to boot it again or "
			"`smolvm rm %s`\n", sb->name, sb->name, sb->name, sb->name);
	else if (!strcmp(sb->state, SB_CREATING))
		fprintf(stderr, "smolvm: sandbox %s is still starting; try again in a moment\n",
			sb->name);
	else
		fprintf(stderr, "smolvm: sandbox %s is %s, not running\n", sb->name, sb->state);
	return -1;
}
