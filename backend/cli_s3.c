/* cli_s3: `smolvm s3 mount|umount|ls`, S3 buckets shared into a sandbox. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/s3.h"
#include "backend/store.h"
#include "backend/util.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

static const char s3_usage[] =
	"usage: smolvm s3 mount ID BUCKET GUESTDIR [--endpoint URL] [--secret NAME] [--rw]\n"
	"       smolvm s3 umount ID GUESTDIR\n"
	"       smolvm s3 ls ID [--json]\n"
	"\n"
	"Share an S3 bucket into a running sandbox at the folder GUESTDIR. The host\n"
	"mounts the bucket with s3fs and the guest sees it through the sandbox's\n"
	"virtio-9p share; the credentials stay on the host.\n"
	"\n"
	"  mount     --endpoint URL   the S3 service (default " S3_DEFAULT_ENDPOINT "),\n"
	"                             path-style requests (URL/BUCKET/KEY)\n"
	"            --secret NAME    the vault entry holding ACCESS_KEY:SECRET_KEY; its\n"
	"                             hosts must include the endpoint's host (add it with\n"
	"                             `smolvm vault add NAME --hosts HOST`). Without it the\n"
	"                             bucket is read anonymously (a public bucket).\n"
	"            --rw             writable; without it s3fs mounts the bucket read-only\n"
	"                             on the host, so nothing in the guest can write to it\n"
	"  umount    unmount it in the guest and on the host\n"
	"  ls        the sandbox's mounts: folder, bucket, endpoint, ro/rw, secret\n"
	"\n"
	"GUESTDIR is an absolute path (letters, digits, . _ + @ - /), made if missing.\n"
	"The credentials reach s3fs in a 0600 file on the host that is removed as soon\n"
	"as the bucket is mounted; the guest never sees them. Mounts last until `s3\n"
	"umount`, `smolvm stop` or `smolvm rm`: a sandbox always starts without any.\n"
	"Needs root.\n";

static int usage_error(const char *msg)
{
	fprintf(stderr, "smolvm s3: %s (see smolvm s3 --help)\n", msg);
	return EXIT_USAGE;
}

static int s3_cmd_mount(int argc, char **argv)
{
	const char *endpoint = S3_DEFAULT_ENDPOINT, *secret = NULL;
	bool rw = false;
	const struct arg_spec specs[] = {
		{ "--endpoint", 0, ARG_STR, &endpoint, 0, 0 },
		{ "--secret", 0, ARG_STR, &secret, 0, 0 },
		{ "--rw", 0, ARG_FLAG, &rw, 0, 0 },
	};
	struct args_result res;
	struct sandbox sb;
	struct s3_mount m = { 0 };
	int rc = EXIT_FAILED;

	if (args_parse("s3 mount", argc, argv, specs, ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(s3_usage);
	}
	if (res.npos != 3) {
		free(res.pos);
		return usage_error("give the sandbox, the bucket and the guest folder");
	}
	if (cli_need_root("s3 mount") == 0 && cli_running_sandbox(res.pos[0], &sb) == 0) {
		m.bucket = res.pos[1];
		m.guest_dir = res.pos[2];
		m.endpoint = (char *)endpoint;
		m.secret = (char *)secret;
		m.rw = rw;
		if (s3_mount(&sb, &m) < 0)
			fprintf(stderr, "smolvm s3 mount: %s\n", err_msg());
		else
			rc = 0;
		free(m.sub);
	}
	free(res.pos);
	return rc;
}

static int s3_cmd_umount(int argc, char **argv)
{
	struct args_result res;
	struct sandbox sb;
	int rc = EXIT_FAILED;

	if (args_parse("s3 umount", argc, argv, NULL, 0, &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(s3_usage);
	}
	if (res.npos != 2) {
		free(res.pos);
		return usage_error("give the sandbox and the guest folder");
	}
	if (cli_need_root("s3 umount") < 0) {
		free(res.pos);
		return EXIT_FAILED;
	}
	if (store_resolve(res.pos[0], &sb) < 0)
		fprintf(stderr, "smolvm: %s\n", err_msg());
	else if (s3_umount(&sb, res.pos[1]) < 0)
		fprintf(stderr, "smolvm s3 umount: %s\n", err_msg());
	else
		rc = 0;
	free(res.pos);
	return rc;
}

static int s3_cmd_ls(int argc, char **argv)
{
	bool json = false;
	const struct arg_spec specs[] = { { "--json", 0, ARG_FLAG, &json, 0, 0 } };
	struct args_result res;
	struct sandbox sb;
	struct s3_mount *m;
	size_t n;

	if (args_parse("s3 ls", argc, argv, specs, ARRAY_LEN(specs), &res) < 0) {
		fprintf(stderr, "%s\n", err_msg());
		return EXIT_USAGE;
	}
	if (res.help) {
		free(res.pos);
		return cli_usage(s3_usage);
	}
	if (res.npos != 1) {
		free(res.pos);
		return usage_error("give the sandbox");
	}
	if (store_resolve(res.pos[0], &sb) < 0 || s3_list(sb.id, &m, &n) < 0) {
		fprintf(stderr, "smolvm: %s\n", err_msg());
		free(res.pos);
		return EXIT_FAILED;
	}
	free(res.pos);
	if (json) {
		cJSON *a = cJSON_CreateArray();
		char *text;

		for (size_t i = 0; i < n; i++) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "guest_dir", m[i].guest_dir);
			cJSON_AddStringToObject(o, "bucket", m[i].bucket);
			cJSON_AddStringToObject(o, "endpoint", m[i].endpoint);
			cJSON_AddBoolToObject(o, "rw", m[i].rw);
			if (m[i].secret)
				cJSON_AddStringToObject(o, "secret", m[i].secret);
			else
				cJSON_AddNullToObject(o, "secret");
			cJSON_AddNumberToObject(o, "created", (double)m[i].created);
			cJSON_AddItemToArray(a, o);
		}
		text = cJSON_Print(a);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(a);
	} else if (n) {
		printf("%-24s %-20s %-4s %-16s %s\n", "FOLDER", "BUCKET", "MODE", "SECRET",
		       "ENDPOINT");
		for (size_t i = 0; i < n; i++)
			printf("%-24s %-20s %-4s %-16s %s\n", m[i].guest_dir, m[i].bucket,
			       m[i].rw ? "rw" : "ro", m[i].secret ? m[i].secret : "-",
			       m[i].endpoint);
	} else {
		fprintf(stderr, "no buckets mounted in sandbox %s\n", sb.name);
	}
	s3_mounts_free(m, n);
	return 0;
}

int cli_s3(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
		{ "mount", s3_cmd_mount }, { "umount", s3_cmd_umount }, { "ls", s3_cmd_ls },
	};

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return argc < 2 ? (fputs(s3_usage, stderr), EXIT_USAGE) : cli_usage(s3_usage);
	for (size_t i = 0; i < ARRAY_LEN(subs); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "smolvm s3: no command %s (mount, umount or ls)\n", argv[1]);
	return EXIT_USAGE;
}
