/*
 * boot_floor: the least a boot can cost with smolvm's QEMU command line.
 * Boots the image's kernel with INITRD (the image's initrd with an /init that
 * only prints MARKER and powers off) using the same argv builder as a
 * sandbox, minus the network and QMP, and prints "floor_ms X": QEMU start to
 * MARKER on the serial console.
 *
 *   boot_floor --initrd FILE --marker TEXT [--image KIND] [--accel kvm|tcg]
 *              [--mem MIB] [--cpus N] [--timeout S]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/paths.h"
#include "backend/qemu.h"
#include "backend/store.h"
#include "backend/util.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *initrd = NULL, *marker = NULL, *image = "tiny", *accel = "tcg";
	int mem = 256, cpus = 1, timeout_s = 120, pidfd, rc;
	const struct arg_spec specs[] = {
		{ "--initrd", 0, ARG_STR, &initrd, 0, 0 },
		{ "--marker", 0, ARG_STR, &marker, 0, 0 },
		{ "--image", 0, ARG_STR, &image, 0, 0 },
		{ "--accel", 0, ARG_STR, &accel, 0, 0 },
		{ "--mem", 0, ARG_INT, &mem, 64, 65536 },
		{ "--cpus", 0, ARG_INT, &cpus, 1, 64 },
		{ "--timeout", 0, ARG_INT, &timeout_s, 1, 3600 },
	};
	struct args_result res;
	struct sandbox sb = { 0 };
	struct qemu_files f = { 0 };
	char *dir, *kdir, *console, *log, **qargv;
	char tmpl[] = "/tmp/smolvm-floor.XXXXXX";
	double t0, t1;
	pid_t pid;

	if (args_parse("boot_floor", argc, argv, specs, (int)ARRAY_LEN(specs), &res) < 0)
		die("%s", err_msg());
	if (res.help || res.npos || !initrd || !marker) {
		fprintf(stderr, "usage: boot_floor --initrd FILE --marker TEXT [--image KIND] "
			"[--accel kvm|tcg] [--mem MIB] [--cpus N] [--timeout S]\n");
		return 2;
	}
	free(res.pos);

	/* A record with no network: qemu_argv then adds no tap and
	 * qemu_cmdline no addresses; everything else is as for a sandbox. */
	snprintf(sb.id, sizeof sb.id, "f1002000");
	snprintf(sb.name, sizeof sb.name, "floor");
	snprintf(sb.accel, sizeof sb.accel, "%s", accel);
	sb.mem_mib = mem;
	sb.cpus = cpus;

	dir = mkdtemp(tmpl);
	if (!dir)
		die("cannot make a temporary directory in /tmp");
	console = xasprintf("%s/console.log", dir);
	log = xasprintf("%s/qemu.log", dir);
	kdir = paths_image_dir(image);
	f.kernel = xasprintf("%s/vmlinuz", kdir);
	free(kdir);
	f.initrd = initrd;
	f.console = console;
	qargv = qemu_argv(&sb, &f, qemu_host_tsc_khz());

	t0 = now_ms();
	pid = qemu_spawn(qargv, NULL, log, false);
	if (pid < 0)
		die("%s", err_msg());
	pidfd = qemu_pidfd(pid);
	rc = qemu_wait_console(console, 0, marker, pidfd, timeout_s * 1000, NULL);
	t1 = now_ms();
	if (rc == 1)
		printf("floor_ms %.1f\n", t1 - t0);
	else
		fprintf(stderr, "boot_floor: no '%s' on the console within %d s%s%s (see %s)\n",
			marker, timeout_s, rc < 0 ? ": " : "", rc < 0 ? err_msg() : "", log);

	/* The floor init powers off; a guest that does not is killed. */
	if (pidfd >= 0 && qemu_wait_exit(pidfd, 10000) != 1)
		kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (rc == 1)
		util_rm_rf(dir);
	qemu_argv_free(qargv);
	free((char *)f.kernel);
	free(log);
	free(console);
	return rc == 1 ? 0 : 1;
}
