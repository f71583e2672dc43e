#include "backend/qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/disk.h"
#include "backend/paths.h"
#include "backend/s3.h"
#include "backend/util.h"
#include "net/netns.h"

#define QEMU_BIN "qemu-system-x86_64"
/* A working KVM gets a tiny guest to its ready line well within this. */
#define KVM_PROBE_MS 3000

struct argv_buf {
	char **v;
	size_t n, cap;
};

static void add(struct argv_buf *a, char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void add2(struct argv_buf *a, const char *opt, char *val)
{
	add(a, xstrdup(opt));
	add(a, val);
}

/* QEMU option values are comma-separated: a literal comma is written twice. */
static char *opt_escape(const char *s)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		n += *p == ',' ? 2 : 1;
	out = o = xmalloc(n + 1);
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

void qemu_mac(const char *id, char out[18])
{
	char b[4][3] = { "00", "00", "00", "00" };

	for (size_t i = 0; i < 8 && id[i]; i++)
		b[i / 2][i % 2] = id[i];
	snprintf(out, 18, "52:54:%s:%s:%s:%s", b[0], b[1], b[2], b[3]);
}

char *qemu_cmdline(const struct sandbox *sb, long tsc_khz)
{
	char *s = xstrdup("console=ttyS0 quiet panic=-1"), *t;

	if (!strcmp(sb->accel, "tcg") && tsc_khz > 0) {
		t = xasprintf("%s tsc_early_khz=%ld", s, tsc_khz);
		free(s);
		s = t;
	}
	if (sb->guest_ip[0]) {
		t = xasprintf("%s smolvm.ip=%s/%d smolvm.gw=%s", s, sb->guest_ip, sb->prefix_len,
			      sb->host_ip);
		free(s);
		s = t;
	}
	if (sb->name[0]) {
		t = xasprintf("%s smolvm.name=%s", s, sb->name);
		free(s);
		s = t;
	}
	return s;
}

char **qemu_argv(const struct sandbox *sb, const struct qemu_files *f, long tsc_khz)
{
	struct argv_buf a = { 0 };
	char mac[18], *esc;

	add(&a, xstrdup(QEMU_BIN));
	add2(&a, "-name", xasprintf("smolvm-%s", sb->id));
	add2(&a, "-M", xstrdup("microvm"));
	add2(&a, "-accel", xstrdup(sb->accel));
	add2(&a, "-cpu", xstrdup("max"));
	add2(&a, "-m", xasprintf("%d", sb->mem_mib));
	add2(&a, "-smp", xasprintf("%d", sb->cpus));
	add(&a, xstrdup("-nodefaults"));
	add(&a, xstrdup("-no-user-config"));
	add2(&a, "-display", xstrdup("none"));
	add(&a, xstrdup("-no-reboot"));
	add2(&a, "-kernel", xstrdup(f->kernel));
	add2(&a, "-initrd", xstrdup(f->initrd));
	add2(&a, "-append", qemu_cmdline(sb, tsc_khz));

	/* Shared by every sandbox: QEMU must never write it. */
	if (f->base) {
		esc = opt_escape(f->base);
		add2(&a, "-drive", xasprintf("if=none,id=base,file=%s,format=raw,readonly=on", esc));
		free(esc);
		add2(&a, "-device", xstrdup("virtio-blk-device,drive=base,serial=" DISK_SERIAL_BASE));
	}
	/* discard=unmap: what the guest deletes is given back to the host (disk.img stays
	 * sparse). */
	if (f->disk) {
		esc = opt_escape(f->disk);
		add2(&a, "-drive", xasprintf("if=none,id=upper,file=%s,format=raw,discard=unmap",
					     esc));
		free(esc);
		add2(&a, "-device", xstrdup("virtio-blk-device,drive=upper,serial="
					    DISK_SERIAL_UPPER));
	}

	/* append=on: the log keeps earlier boots, a restart does not wipe it. */
	esc = opt_escape(f->console);
	add2(&a, "-chardev", xasprintf("file,id=con,path=%s,append=on", esc));
	free(esc);
	add2(&a, "-serial", xstrdup("chardev:con"));

	if (sb->netns[0]) {
		qemu_mac(sb->id, mac);
		add2(&a, "-netdev", xstrdup("tap,id=n0,ifname=tap0,script=no,downscript=no"));
		add2(&a, "-device", xasprintf("virtio-net-device,netdev=n0,mac=%s", mac));
	}
	/* S3 mounts reach the guest through this (backend/s3.c); microvm cannot add
	 * a device later. multidevs=remap: the FUSE mounts below it are other file
	 * systems, whose inode numbers could clash with the share's own. */
	if (f->share) {
		esc = opt_escape(f->share);
		add2(&a, "-fsdev", xasprintf("local,id=share,path=%s,security_model=none,"
					     "multidevs=remap", esc));
		free(esc);
		add2(&a, "-device", xstrdup("virtio-9p-device,fsdev=share,mount_tag="
					    S3_SHARE_TAG));
	}
	if (f->qmp) {
		esc = opt_escape(f->qmp);
		add2(&a, "-qmp", xasprintf("unix:%s,server=on,wait=off", esc));
		free(esc);
	}
	if (f->pidfile)
		add2(&a, "-pidfile", xstrdup(f->pidfile));
	if (f->incoming)
		add2(&a, "-incoming", xstrdup("defer"));
	return a.v;
}

void qemu_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

static char *find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	if (strchr(prog, '/'))
		return util_is_exec(prog) ? xstrdup(prog) : NULL;
	copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *cand = xasprintf("%s/%s", *dir ? dir : ".", prog);
		if (util_is_exec(cand))
			found = cand;
		else
			free(cand);
	}
	free(copy);
	return found;
}

/* In the grandchild, between fork and exec: only async-signal-safe calls. */
static void exec_child(const char *exe, char *const argv[], int null_fd, int log_fd,
		       int report_fd, int keep_fd, const char *fd_env)
{
	char num[16];
	sigset_t all;
	int e;

	/* Out of the way of the numbers about to be given out. */
	if (keep_fd >= 0 && (keep_fd = fcntl(keep_fd, F_DUPFD, 10)) < 0)
		goto fail;
	if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		goto fail;
	/* The report pipe goes to fd 3 (close-on-exec); everything above is closed. */
	if (report_fd != 3 && dup2(report_fd, 3) < 0)
		goto fail;
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		goto fail;
	if (keep_fd >= 0) {
		snprintf(num, sizeof num, "%d", QEMU_KEEP_FD);
		if (dup2(keep_fd, QEMU_KEEP_FD) < 0 || setenv(fd_env, num, 1) < 0)
			goto fail;
	}
	syscall(SYS_close_range, keep_fd >= 0 ? QEMU_KEEP_FD + 1U : 4U, ~0U, 0U);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	execv(exe, argv);
fail:
	e = errno;
	if (write(3, &e, sizeof e) < 0)
		_exit(126);
	_exit(127);
}

pid_t qemu_spawn(char *const argv[], const char *netns, const char *log_path, bool detach)
{
	return qemu_spawn_keep(argv, netns, log_path, detach, -1, NULL);
}

pid_t qemu_spawn_keep(char *const argv[], const char *netns, const char *log_path, bool detach,
		      int keep_fd, const char *fd_env)
{
	char *exe = find_in_path(argv[0]);
	int null_fd = -1, log_fd = -1, pfd[2] = { -1, -1 }, saved_ns = -1, status, e = 0;
	pid_t mid, qemu = -1, parent = getpid();
	ssize_t n;

	if (!exe) {
		err_set("%s not found in PATH: install QEMU (Debian: apt-get install "
			"qemu-system-x86)", argv[0]);
		return -1;
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null_fd < 0 || log_fd < 0) {
		err_set("cannot open %s: %s", null_fd < 0 ? "/dev/null" : log_path,
			strerror(errno));
		goto out;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		err_set("pipe: %s", strerror(errno));
		goto out;
	}
	/* fork() copies only this thread, with this thread's namespace. */
	if (netns && netns_enter(netns, &saved_ns) < 0)
		goto out;
	mid = fork();
	if (mid == 0 && !detach) {
		/* Dies with us: a probe must not outlive an interrupted smolvm. */
		pid_t self = getpid();

		close(pfd[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		if (write(pfd[1], &self, sizeof self) < 0)
			_exit(1);
		exec_child(exe, argv, null_fd, log_fd, pfd[1], keep_fd, fd_env);
	}
	if (mid == 0) {
		pid_t g;

		close(pfd[0]);
		setsid();
		g = fork();
		if (g == 0)
			exec_child(exe, argv, null_fd, log_fd, pfd[1], keep_fd, fd_env);
		if (g < 0) {
			e = errno;
			g = -1;
		}
		if (write(pfd[1], &g, sizeof g) < 0 || (g < 0 && write(pfd[1], &e, sizeof e) < 0))
			_exit(1);
		_exit(0);
	}
	e = errno;
	if (saved_ns >= 0 && netns_leave(saved_ns) < 0)
		die("%s", err_msg());	/* never carry on inside a sandbox's namespace */
	if (mid < 0) {
		err_set("fork: %s", strerror(e));
		goto out;
	}
	close(pfd[1]);
	pfd[1] = -1;
	/* The middle process exits at once, leaving QEMU to init. */
	while (detach && waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	n = read(pfd[0], &qemu, sizeof qemu);
	if (n != sizeof qemu || qemu <= 0) {
		if (n != sizeof qemu || read(pfd[0], &e, sizeof e) != sizeof e)
			e = EIO;
		err_set("cannot start %s: fork: %s", exe, strerror(e));
		qemu = -1;
	} else if (read(pfd[0], &e, sizeof e) == sizeof e) {
		/* An errno instead of EOF (the pipe closes on exec): execv failed. */
		err_set("cannot run %s: %s", exe, strerror(e));
		qemu = -1;
	}
	if (qemu < 0 && !detach)
		waitpid(mid, &status, 0);
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (null_fd >= 0)
		close(null_fd);
	if (log_fd >= 0)
		close(log_fd);
	free(exe);
	return qemu;
}

int qemu_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int qemu_wait_exit(int pidfd, int timeout_ms)
{
	int64_t deadline = util_now_ms() + timeout_ms;

	if (pidfd < 0)
		return 1;
	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		int64_t left = deadline - util_now_ms();
		int rc = poll(&p, 1, left > 0 ? (int)left : 0);

		if (rc > 0)
			return 1;
		if (rc == 0 || errno != EINTR)
			return 0;
	}
}

long qemu_host_tsc_khz(void)
{
	char *s = util_read_file("/sys/devices/system/cpu/cpu0/tsc_freq_khz", NULL);
	long khz = 0;

	if (s) {
		khz = strtol(s, NULL, 10);
		free(s);
		if (khz > 0)
			return khz;
	}
	s = util_read_file("/proc/cpuinfo", NULL);
	for (char *line = s; line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		double mhz;

		/* A space in the format also matches the tabs of "cpu MHz\t\t: 2599.998". */
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1) {
			khz = (long)(mhz * 1000.0);
			break;
		}
	}
	free(s);
	return khz;
}

int qemu_wait_console(const char *path, off_t from, const char *text, int pidfd, int timeout_ms,
		      const volatile sig_atomic_t *cancel)
{
	int64_t deadline = util_now_ms() + timeout_ms;
	size_t tlen = strlen(text), keep = 0;
	char buf[8192];
	int fd = -1, rc = 0, exited = 0;

	for (;;) {
		ssize_t n = 0;

		if (fd < 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && lseek(fd, from, SEEK_SET) < 0) {
				err_set("cannot seek in %s: %s", path, strerror(errno));
				rc = -1;
				break;
			}
		}
		/* keep: the last tlen-1 bytes, in case the text straddles two reads. */
		while (fd >= 0 && (n = read(fd, buf + keep, sizeof buf - keep)) > 0) {
			size_t have = keep + (size_t)n;

			if (memmem(buf, have, text, tlen)) {
				rc = 1;
				goto out;
			}
			keep = have < tlen - 1 ? have : tlen - 1;
			memmove(buf, buf + have - keep, keep);
		}
		if (exited) {
			err_set("QEMU exited");
			rc = -1;
			break;
		}
		if (cancel && *cancel) {
			err_set("interrupted");
			rc = -1;
			break;
		}
		if (util_now_ms() >= deadline)
			break;
		/* Readable pidfd: QEMU is gone; read what it wrote last, then fail. */
		exited = qemu_wait_exit(pidfd, 10);
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Boot the image under KVM with no devices but the console and the base disk
 * (the guest's changes then stay in RAM): does it get to the ready line? On
 * some hosts /dev/kvm opens but guests hang. */
static bool kvm_boots(const char *kernel, const char *initrd)
{
	char *dir = paths_cache_dir();
	char *console = xasprintf("%s/kvm-probe.%d.console", dir, (int)getpid());
	char *log = xasprintf("%s/kvm-probe.%d.log", dir, (int)getpid());
	struct sandbox sb = { .id = "kvmprobe", .accel = "kvm", .mem_mib = 256, .cpus = 1 };
	/* root.img sits next to the kernel in the image's directory */
	const char *slash = strrchr(kernel, '/');
	char *base = slash ? xasprintf("%.*s/root.img", (int)(slash - kernel), kernel)
			   : xstrdup("root.img");
	struct qemu_files f = { .kernel = kernel, .initrd = initrd, .console = console,
				.base = base };
	char **argv = qemu_argv(&sb, &f, 0);
	bool ok = false;
	pid_t pid;

	unlink(console);
	if (util_mkdir_p(dir, 0700) == 0 && (pid = qemu_spawn(argv, NULL, log, false)) > 0) {
		int pidfd = qemu_pidfd(pid);

		ok = qemu_wait_console(console, 0, QEMU_READY_LINE, pidfd, KVM_PROBE_MS, NULL) == 1;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (pidfd >= 0)
			close(pidfd);
	}
	unlink(console);
	unlink(log);
	qemu_argv_free(argv);
	free(log);
	free(console);
	free(base);
	free(dir);
	return ok;
}

const char *qemu_accel(const char *kernel, const char *initrd)
{
	static const char *known;
	const char *env = getenv("SMOLVM_ACCEL");
	char *dir, *cache, *boot, *old, *line;
	int fd;

	if (env && *env) {
		if (!strcmp(env, "kvm") || !strcmp(env, "tcg"))
			return !strcmp(env, "kvm") ? "kvm" : "tcg";
		err_set("SMOLVM_ACCEL must be 'kvm' or 'tcg', not '%s'", env);
		return NULL;
	}
	if (known)
		return known;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return known = "tcg";
	close(fd);

	dir = paths_cache_dir();
	cache = xasprintf("%s/accel", dir);
	boot = util_read_file("/proc/sys/kernel/random/boot_id", NULL);
	if (boot)
		boot[strcspn(boot, "\n")] = '\0';
	old = util_read_file(cache, NULL);
	/* The cache holds "<boot id> <accel>": valid until the host reboots. */
	if (boot && old && !strncmp(old, boot, strlen(boot)) && old[strlen(boot)] == ' ') {
		const char *a = old + strlen(boot) + 1;
		if (!strncmp(a, "kvm", 3) || !strncmp(a, "tcg", 3))
			known = !strncmp(a, "kvm", 3) ? "kvm" : "tcg";
	}
	if (!known) {
		known = kvm_boots(kernel, initrd) ? "kvm" : "tcg";
		if (boot) {
			line = xasprintf("%s %s\n", boot, known);
			if (util_mkdir_p(dir, 0700) == 0)
				util_write_atomic(cache, line, strlen(line), 0600);
			free(line);
		}
	}
	free(old);
	free(boot);
	free(cache);
	free(dir);
	return known;
}
