/* Unit tests for backend/s3.c's checks (bucket names, endpoint hosts, which
 * hosts a secret may go to) and the share on QEMU's command line. */
#include <stdlib.h>
#include <string.h>

#include "backend/qemu.h"
#include "backend/s3.h"
#include "backend/util.h"
#include "tests/unit/unit.h"

static void bucket_names(void)
{
	EXPECT(s3_bucket_valid("bkt"));
	EXPECT(s3_bucket_valid("my-bucket.example"));
	EXPECT(s3_bucket_valid("a1b"));
	EXPECT(!s3_bucket_valid("ab"));
	EXPECT(!s3_bucket_valid("Bucket"));
	EXPECT(!s3_bucket_valid("under_score"));
	EXPECT(!s3_bucket_valid("-leading"));
	EXPECT(!s3_bucket_valid("trailing."));
	EXPECT(!s3_bucket_valid("with space"));
	EXPECT(!s3_bucket_valid("a,b,ro"));
	EXPECT(!s3_bucket_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

static void url_host(const char *url, const char *want)
{
	char *h = s3_url_host(url);

	if (want)
		EXPECT_STR(h, want);
	else
		EXPECT(h == NULL);
	free(h);
}

static void endpoint_hosts(void)
{
	url_host("http://127.0.0.1:4568", "127.0.0.1");
	url_host("https://S3.Example.COM/", "s3.example.com");
	url_host("https://s3.example.com", "s3.example.com");
	url_host("http://[::1]:9000/x", "::1");
	url_host("ftp://example.com", NULL);
	url_host("example.com", NULL);
	url_host("http://", NULL);
	url_host("http://user@evil.example/", NULL);
	url_host("http://[::1", NULL);
}

static void secret_hosts(void)
{
	char *hosts[] = { "127.0.0.1", "*.example.com" };

	EXPECT(s3_host_allowed("127.0.0.1", hosts, 2));
	EXPECT(s3_host_allowed("s3.example.com", hosts, 2));
	EXPECT(s3_host_allowed("a.b.example.com", hosts, 2));
	EXPECT(!s3_host_allowed("example.com", hosts, 2));
	EXPECT(!s3_host_allowed("badexample.com", hosts, 2));
	EXPECT(!s3_host_allowed("127.0.0.2", hosts, 2));
	EXPECT(!s3_host_allowed("127.0.0.1", hosts, 0));
}

static bool has_arg(char **argv, const char *a)
{
	for (char **p = argv; *p; p++)
		if (!strcmp(*p, a))
			return true;
	return false;
}

static void share_device(void)
{
	struct sandbox sb = { .id = "deadbeef", .accel = "tcg", .mem_mib = 256, .cpus = 1 };
	struct qemu_files f = { .kernel = "/k", .initrd = "/i", .console = "/c",
				.share = "/h,odd/vms/deadbeef/share" };
	char **argv = qemu_argv(&sb, &f, 0);

	EXPECT(has_arg(argv, "local,id=share,path=/h,,odd/vms/deadbeef/share,"
			      "security_model=none,multidevs=remap"));
	EXPECT(has_arg(argv, "virtio-9p-device,fsdev=share,mount_tag=" S3_SHARE_TAG));
	qemu_argv_free(argv);
	f.share = NULL;
	argv = qemu_argv(&sb, &f, 0);
	EXPECT(!has_arg(argv, "-fsdev"));
	qemu_argv_free(argv);
}

int main(void)
{
	RUN(bucket_names);
	RUN(endpoint_hosts);
	RUN(secret_hosts);
	RUN(share_device);
	UNIT_EXIT();
}
