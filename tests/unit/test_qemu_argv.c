/* QEMU's command line and the guest kernel's, built from a record. */
#include <stdlib.h>

#include "backend/qemu.h"
#include "backend/util.h"
#include "unit.h"

static struct sandbox make_sb(const char *accel)
{
	struct sandbox sb = {
		.id = "deadbeef", .name = "quiet-otter", .state = "creating", .image = "tiny",
		.mem_mib = 512, .cpus = 2, .netns = "smolvm-deadbeef",
		.host_ip = "10.77.0.5", .guest_ip = "10.77.0.6", .prefix_len = 30,
	};
	snprintf(sb.accel, sizeof sb.accel, "%s", accel);
	return sb;
}

static const struct qemu_files files = {
	.kernel = "/h/images/tiny/vmlinuz",
	.initrd = "/h/images/tiny/initrd.img",
	.console = "/h,odd/vms/deadbeef/console.log",
	.qmp = "/h,odd/vms/deadbeef/qmp.sock",
	.pidfile = "/h/vms/deadbeef/qemu.pid",
};

/* The value after option opt, or NULL; fails the test if opt appears twice. */
static const char *opt(char **argv, const char *o)
{
	const char *found = NULL;
	int count = 0;

	for (char **p = argv; *p; p++)
		if (!strcmp(*p, o) && p[1]) {
			found = p[1];
			count++;
		}
	EXPECT(count <= 1);
	return found;
}

static int has(char **argv, const char *word)
{
	for (char **p = argv; *p; p++)
		if (!strcmp(*p, word))
			return 1;
	return 0;
}

static void test_tcg_argv(void)
{
	struct sandbox sb = make_sb("tcg");
	char **argv = qemu_argv(&sb, &files, 2599998);

	EXPECT_STR(argv[0], "qemu-system-x86_64");
	EXPECT_STR(opt(argv, "-name"), "smolvm-deadbeef");
	EXPECT_STR(opt(argv, "-M"), "microvm");
	EXPECT_STR(opt(argv, "-accel"), "tcg");
	EXPECT_STR(opt(argv, "-cpu"), "max");
	EXPECT_STR(opt(argv, "-m"), "512");
	EXPECT_STR(opt(argv, "-smp"), "2");
	EXPECT(has(argv, "-nodefaults") && has(argv, "-no-user-config") && has(argv, "-no-reboot"));
	EXPECT_STR(opt(argv, "-display"), "none");
	EXPECT_STR(opt(argv, "-kernel"), "/h/images/tiny/vmlinuz");
	EXPECT_STR(opt(argv, "-initrd"), "/h/images/tiny/initrd.img");
	EXPECT_STR(opt(argv, "-append"),
		   "console=ttyS0 quiet panic=-1 tsc_early_khz=2599998 smolvm.ip=10.77.0.6/30 "
		   "smolvm.gw=10.77.0.5 smolvm.name=quiet-otter");
	/* Commas in paths are doubled inside option values. */
	EXPECT_STR(opt(argv, "-chardev"),
		   "file,id=con,path=/h,,odd/vms/deadbeef/console.log,append=on");
	EXPECT_STR(opt(argv, "-serial"), "chardev:con");
	EXPECT_STR(opt(argv, "-netdev"), "tap,id=n0,ifname=tap0,script=no,downscript=no");
	EXPECT_STR(opt(argv, "-device"), "virtio-net-device,netdev=n0,mac=52:54:de:ad:be:ef");
	EXPECT_STR(opt(argv, "-qmp"), "unix:/h,,odd/vms/deadbeef/qmp.sock,server=on,wait=off");
	EXPECT_STR(opt(argv, "-pidfile"), "/h/vms/deadbeef/qemu.pid");
	qemu_argv_free(argv);
}

static void test_kvm_no_tsc(void)
{
	struct sandbox sb = make_sb("kvm");
	char **argv = qemu_argv(&sb, &files, 2599998);

	EXPECT_STR(opt(argv, "-accel"), "kvm");
	EXPECT(strstr(opt(argv, "-append"), "tsc_early_khz") == NULL);
	qemu_argv_free(argv);

	/* Under TCG with an unknown TSC rate the argument is left out, not 0. */
	sb = make_sb("tcg");
	argv = qemu_argv(&sb, &files, 0);
	EXPECT(strstr(opt(argv, "-append"), "tsc_early_khz") == NULL);
	qemu_argv_free(argv);
}

/* No namespace: no tap; no socket or pidfile asked for: none given. */
static void test_minimal(void)
{
	struct sandbox sb = { .id = "kvmprobe", .accel = "kvm", .mem_mib = 256, .cpus = 1 };
	struct qemu_files f = { .kernel = "k", .initrd = "i", .console = "c" };
	char **argv = qemu_argv(&sb, &f, 1000);

	EXPECT(opt(argv, "-netdev") == NULL && opt(argv, "-device") == NULL);
	EXPECT(opt(argv, "-qmp") == NULL && opt(argv, "-pidfile") == NULL);
	EXPECT_STR(opt(argv, "-append"), "console=ttyS0 quiet panic=-1");
	EXPECT_STR(opt(argv, "-name"), "smolvm-kvmprobe");
	qemu_argv_free(argv);
}

/* The n-th (from 0) value of an option that may repeat, or NULL. */
static const char *nth(char **argv, const char *o, int n)
{
	for (char **p = argv; *p; p++)
		if (!strcmp(*p, o) && p[1] && n-- == 0)
			return p[1];
	return NULL;
}

/* The shared base is read-only; the guest tells the disks apart by serial. */
static void test_disks(void)
{
	struct sandbox sb = make_sb("tcg");
	struct qemu_files f = files;
	char **argv;

	f.base = "/h/images/tiny/root.img";
	f.disk = "/h,odd/vms/deadbeef/disk.img";
	argv = qemu_argv(&sb, &f, 0);
	EXPECT_STR(nth(argv, "-drive", 0),
		   "if=none,id=base,file=/h/images/tiny/root.img,format=raw,readonly=on");
	EXPECT_STR(nth(argv, "-device", 0), "virtio-blk-device,drive=base,serial=smolvm-base");
	EXPECT_STR(nth(argv, "-drive", 1),
		   "if=none,id=upper,file=/h,,odd/vms/deadbeef/disk.img,format=raw,discard=unmap");
	EXPECT_STR(nth(argv, "-device", 1), "virtio-blk-device,drive=upper,serial=smolvm-upper");
	EXPECT(nth(argv, "-drive", 2) == NULL);
	qemu_argv_free(argv);

	/* Without a writable layer: only the base. */
	f.disk = NULL;
	argv = qemu_argv(&sb, &f, 0);
	EXPECT(nth(argv, "-drive", 0) && nth(argv, "-drive", 1) == NULL);
	EXPECT(strstr(nth(argv, "-drive", 0), "readonly=on") != NULL);
	qemu_argv_free(argv);
}

static void test_mac(void)
{
	char mac[18];

	qemu_mac("0000beef", mac);
	EXPECT_STR(mac, "52:54:00:00:be:ef");
	qemu_mac("a1b2c3d4", mac);
	EXPECT_STR(mac, "52:54:a1:b2:c3:d4");
}

static void test_tsc_khz(void)
{
	long khz = qemu_host_tsc_khz();

	/* Every x86 host this runs on reports some clock between 100 MHz and 10 GHz. */
	EXPECT(khz > 100000 && khz < 10000000);
}

int main(void)
{
	RUN(test_tcg_argv);
	RUN(test_kvm_no_tsc);
	RUN(test_minimal);
	RUN(test_disks);
	RUN(test_mac);
	RUN(test_tsc_khz);
	UNIT_EXIT();
}
