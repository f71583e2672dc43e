/* cli_image: `smolvm image build|ls`. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/paths.h"
#include "backend/util.h"
#include "fs/image.h"

static const char usage[] =
	"usage: smolvm image build [--kind KIND] [--force]\n"
	"       smolvm image ls [--json]\n"
	"\n"
	"build   make the guest image (kernel, initrd, SSH host key) under\n"
	"        $SMOLVM_HOME/images/KIND/; a no-op when it is up to date.\n"
	"        --kind KIND   the image kind (default: " IMAGE_DEFAULT_KIND ")\n"
	"        --force       rebuild even if up to date, with the newest kernel\n"
	"                      package; the install's guest host key is kept, so\n"
	"                      running sandboxes stay reachable\n"
	"ls      list built images; --json for a JSON array\n";

/* Parse the options of `image SUB`, which takes no arguments. Returns -1 to
 * go on, else the exit status to return (help shown, or a usage error). */
static int parse_options(const char *sub, int argc, char **argv, const struct arg_spec *specs,
			 int nspecs)
{
	char *cmd = xasprintf("image %s", sub);
	struct args_result res;
	int rc = cli_parse(cmd, argc, argv, specs, nspecs, usage, 0, "unexpected argument", &res);

	if (rc < 0)
		free(res.pos);
	free(cmd);
	return rc;
}

static int image_build_cmd(int argc, char **argv)
{
	const char *kind = IMAGE_DEFAULT_KIND;
	bool force = false;
	const struct arg_spec specs[] = {
		{ "--kind", 'k', ARG_STR, &kind, 0, 0 },
		{ "--force", 'f', ARG_FLAG, &force, 0, 0 },
	};
	int rc;

	if ((rc = parse_options("build", argc, argv, specs, ARRAY_LEN(specs))) >= 0)
		return rc;
	if (image_build(kind, force) < 0) {
		fprintf(stderr, "smolvm: %s\n", err_msg());
		return 1;
	}
	return 0;
}

static void print_json(const struct image_info *imgs, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	char *text;

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		char *dir = paths_image_dir(imgs[i].kind);
		cJSON_AddStringToObject(o, "kind", imgs[i].kind);
		cJSON_AddNumberToObject(o, "built", (double)imgs[i].built);
		cJSON_AddStringToObject(o, "kernel", imgs[i].kernel);
		cJSON_AddStringToObject(o, "kernel_package", imgs[i].kernel_package);
		cJSON_AddNumberToObject(o, "size", (double)imgs[i].size);
		cJSON_AddStringToObject(o, "path", dir);
		cJSON_AddItemToArray(arr, o);
		free(dir);
	}
	text = cJSON_Print(arr);
	puts(text);
	free(text);
	cJSON_Delete(arr);
}

static void print_table(const struct image_info *imgs, size_t n)
{
	if (!n) {
		printf("no images built; run `smolvm image build`\n");
		return;
	}
	printf("%-8s  %-16s  %-18s  %s\n", "KIND", "BUILT", "KERNEL", "SIZE");
	for (size_t i = 0; i < n; i++) {
		time_t t = (time_t)imgs[i].built;
		struct tm tm;
		char when[32];

		localtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		printf("%-8s  %-16s  %-18s  %.1f MiB\n", imgs[i].kind, when, imgs[i].kernel,
		       (double)imgs[i].size / (1024 * 1024));
	}
}

static int image_ls_cmd(int argc, char **argv)
{
	bool json = false;
	const struct arg_spec specs[] = {
		{ "--json", 0, ARG_FLAG, &json, 0, 0 },
	};
	struct image_info *imgs;
	size_t n;
	int rc;

	if ((rc = parse_options("ls", argc, argv, specs, ARRAY_LEN(specs))) >= 0)
		return rc;
	if (image_list(&imgs, &n) < 0) {
		fprintf(stderr, "smolvm: %s\n", err_msg());
		return 1;
	}
	if (json)
		print_json(imgs, n);
	else
		print_table(imgs, n);
	free(imgs);
	return 0;
}

int cli_image(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return argc < 2 ? (fputs(usage, stderr), 2) : cli_usage(usage);
	if (!strcmp(argv[1], "build"))
		return image_build_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ls"))
		return image_ls_cmd(argc - 1, argv + 1);
	fprintf(stderr, "smolvm image: unknown subcommand '%s'\n\n%s", argv[1], usage);
	return 2;
}
