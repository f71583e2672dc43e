/* smolvm: entry point; dispatches to the TUI or a CLI subcommand. */
#include <stdio.h>
#include <string.h>

#include "backend/cli.h"
#include "backend/util.h"
#include "net/proxy.h"

#ifndef SMOLVM_VERSION
#define SMOLVM_VERSION "dev"
#endif

static const char usage[] =
	"usage: smolvm [COMMAND] [ARGS]\n"
	"\n"
	"With no command, opens the terminal workbench (same as `smolvm tui`).\n"
	"\n"
	"Sandboxes:\n"
	"  create [--name N] [--mem MIB] [--cpus N] [--disk SIZE] [--image KIND]\n"
	"         [--policy FILE] [--publish ...] [--secret NAME] [--json]\n"
	"                                 boot a new sandbox, return when it is ready\n"
	"  ls [--json]                    list sandboxes\n"
	"  exec [--timeout S] ID -- CMD [ARG...]\n"
	"                                 run a command, exit status passed through\n"
	"  ssh ID                         interactive shell in this terminal\n"
	"  stop [--force] ID... | start ID    shut down / boot again\n"
	"  rm [--force] ID...             delete sandboxes and everything they own\n"
	"  logs [-f] ID                   the serial console\n"
	"Network:\n"
	"  create --policy FILE --publish [ADDR:]PORT:GUEST_PORT   start with a policy\n"
	"  policy show ID [--json]        the policy in force\n"
	"  policy set ID FILE             replace it; the running sandbox follows at once\n"
	"  policy log ID [-f] [--denied] [--json]   the egress proxy's decisions\n"
	"  policy check FILE              validate a policy file\n"
	"Secrets:\n"
	"  vault add NAME --hosts H,...   store an API key (value from stdin or the terminal)\n"
	"  vault ls [--json] | rm NAME | rotate NAME | init [--passphrase]\n"
	"Files:\n"
	"  upload FILE... --vm-id ID [--dest DIR]   copy files and folders into a sandbox\n"
	"  download ID:PATH [LOCAL]       copy a file or folder out of a sandbox\n"
	"  sync HOSTDIR ID:GUESTDIR [--delete]   mirror a host folder into a sandbox\n"
	"  s3 mount|umount|ls ID ...      share an S3 bucket into a sandbox\n"
	"  diff ID [--json]               what a sandbox added, changed and deleted\n"
	"Snapshots:\n"
	"  snapshot create ID [--name N] [--memory]   save the disk, or the running state\n"
	"  snapshot ls ID [--json] | restore ID SNAP | rm ID SNAP\n"
	"  create --from ID:SNAP [--name N]   a new sandbox from a snapshot\n"
	"Images:\n"
	"  image build [--kind K] [--force]   build a guest image (default: tiny)\n"
	"  image ls [--json]              list built images\n"
	"Workbench:\n"
	"  tui [--theme NAME] [--prefix KEY]   full-screen workbench\n"
	"\n"
	"ID is a sandbox id, a unique id prefix, or a name.\n"
	"Run `smolvm COMMAND --help` for a command's options; see smolvm(1).\n";

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "tui", tui_main },
	{ "create", cli_create },
	{ "ls", cli_ls },
	{ "exec", cli_exec },
	{ "ssh", cli_ssh },
	{ "start", cli_start },
	{ "stop", cli_stop },
	{ "rm", cli_rm },
	{ "logs", cli_logs },
	{ "upload", cli_upload },
	{ "download", cli_download },
	{ "sync", cli_sync },
	{ "s3", cli_s3 },
	{ "diff", cli_diff },
	{ "image", cli_image },
	{ "snapshot", cli_snapshot },
	{ "policy", cli_policy },
	{ "vault", cli_vault },
	/* Internal: the egress proxy process that `create` and `start` run. */
	{ "__proxy", proxy_main },
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return tui_main(argc, argv);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return cli_usage(usage);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("smolvm %s\n", SMOLVM_VERSION);
		return 0;
	}
	if (argv[1][0] == '-')
		return tui_main(argc, argv);
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "smolvm: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}
