/* cli: the subcommands. Each takes argv with argv[0] = the command name and
 * returns the process exit status. */
#ifndef SMOLVM_CLI_H
#define SMOLVM_CLI_H

#include <signal.h>
#include <stdbool.h>

/* backend/cli_vm.c: sandbox lifecycle */
int cli_create(int argc, char **argv);
int cli_ls(int argc, char **argv);
int cli_start(int argc, char **argv);
int cli_stop(int argc, char **argv);
int cli_rm(int argc, char **argv);
int cli_logs(int argc, char **argv);

/* backend/cli_ssh.c: commands in a sandbox */
int cli_exec(int argc, char **argv);
int cli_ssh(int argc, char **argv);

/* backend/cli_files.c: copying files in and out of a sandbox */
int cli_upload(int argc, char **argv);
int cli_download(int argc, char **argv);

/* backend/cli_diff.c: what a sandbox changed against its image */
int cli_diff(int argc, char **argv);

/* backend/cli_sync.c: a host folder mirrored into a sandbox */
int cli_sync(int argc, char **argv);

/* backend/cli_s3.c: S3 buckets shared into a sandbox */
int cli_s3(int argc, char **argv);

/* backend/cli_policy.c: network policies and their decision logs */
int cli_policy(int argc, char **argv);

/* backend/cli_vault.c: the API keys sandboxes use without holding them */
int cli_vault(int argc, char **argv);

struct arg_list;
struct policy;

/*
 * The policy `create` starts a sandbox with: the file (NULL: mode none)
 * with the --publish entries added. *out is NULL when there is neither.
 * 0, or -1 with err_set() naming the file's field or the --publish at fault.
 */
int cli_policy_for_create(const char *file, const struct arg_list *publish,
			  struct policy **out);

/* backend/cli_snapshot.c: saved states of a sandbox */
int cli_snapshot(int argc, char **argv);
/* `smolvm create --from ID:SNAP [--name N] [--json]`: a new sandbox from a
 * snapshot; the exit status. */
int cli_snapshot_clone(const char *ref, const char *name, bool json);

/* backend/cli_image.c: guest images */
int cli_image(int argc, char **argv);

/* tui/tui.c: the full-screen workbench */
int tui_main(int argc, char **argv);

/* Print a command's usage text and return 0, for --help. */
int cli_usage(const char *text);

struct arg_spec;
struct args_result;

/* The exit status of a command given wrong arguments. */
#define CLI_EXIT_USAGE 2

/*
 * Parse `smolvm cmd`'s options into res (args_parse). Returns -1 to go on,
 * or the exit status to return at once (res->pos freed): CLI_EXIT_USAGE
 * after printing the error, 0 after printing usage for --help. With npos
 * >= 0 there must be exactly that many positionals, else "what" says what
 * is missing, pointing to the help of cmd's first word.
 */
int cli_parse(const char *cmd, int argc, char **argv, const struct arg_spec *specs, int nspecs,
	      const char *usage, int npos, const char *what, struct args_result *res);

struct cJSON;

/* Print o on one line of stdout and delete it. */
void cli_print_json(struct cJSON *o);

/* cli_parse() for `smolvm group cmd`. */
int cli_parse_sub(const char *group, const char *cmd, int argc, char **argv,
		  const struct arg_spec *specs, int nspecs, const char *usage, int npos,
		  const char *what, struct args_result *res);

struct sandbox;

/* Commands that connect to a guest enter its network namespace: unless we
 * are root, say so for `smolvm cmd` and return -1. */
int cli_need_root(const char *cmd);

/* Resolve an id, id prefix or name into sb and insist that the sandbox is
 * running; otherwise print why not (and how to fix it) and return -1. */
int cli_running_sandbox(const char *key, struct sandbox *sb);

/* The number of the last SIGINT, SIGTERM or SIGHUP since cli_catch_signals(), or 0. */
extern volatile sig_atomic_t cli_interrupted;

/* Catch SIGINT, SIGTERM and SIGHUP into cli_interrupted, so that the command can clean up.
 * With once, the handler resets itself: a second signal ends us at once. */
void cli_catch_signals(bool once);

#endif
