/* qemu: QEMU's command line, starting it inside a namespace, and the accelerator. */
#ifndef SMOLVM_QEMU_H
#define SMOLVM_QEMU_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "backend/store.h"

/* The line the guest prints on its console once its SSH server listens. */
#define QEMU_READY_LINE "SMOLVM_READY"

/* What a QEMU command line is built from, besides the sandbox record. */
struct qemu_files {
	const char *kernel;	/* the image's vmlinuz */
	const char *initrd;	/* the image's initrd.img */
	const char *console;	/* serial console log (appended to) */
	const char *qmp;	/* QMP unix socket */
	const char *pidfile;
	bool incoming;		/* start paused, waiting for a saved state (-incoming defer) */
	const char *base;	/* the image's root.img, opened read-only (NULL: none) */
	const char *disk;	/* the sandbox's writable layer, disk.img (NULL: none) */
	const char *share;	/* a host folder shared over virtio-9p (NULL: none) */
};

/*
 * The argv (NULL-terminated, free with qemu_argv_free) to boot sb: microvm,
 * sb->accel, sb->mem_mib and sb->cpus, one virtio-net on the tap "tap0"
 * with a MAC derived from the id, the base and writable disks as
 * virtio-blk devices told apart by their serials (DISK_SERIAL_*), and the
 * kernel command line of qemu_cmdline(). Pure: reads nothing but its
 * arguments.
 */
char **qemu_argv(const struct sandbox *sb, const struct qemu_files *f, long tsc_khz);
void qemu_argv_free(char **argv);

/* The guest kernel command line (tsc_early_khz only under TCG, and only when
 * tsc_khz > 0; the network arguments only when sb has addresses). */
char *qemu_cmdline(const struct sandbox *sb, long tsc_khz);

/* The guest's MAC address, fixed by the sandbox id: "52:54:" + the id's 4 bytes. */
void qemu_mac(const char *id, char out[18]);

/*
 * Start argv with stdin /dev/null, stdout and stderr appended to log_path,
 * none of our other fds, default signal handling, inside network namespace
 * netns (NULL: ours). detach: in a session of its own and not our child, so
 * it outlives us and leaves no zombie. Otherwise our child (reap it with
 * waitpid), killed if we die. Returns its pid, or -1 with err_set().
 */
pid_t qemu_spawn(char *const argv[], const char *netns, const char *log_path, bool detach);

/* qemu_spawn() that also leaves keep_fd open in the child, as QEMU_KEEP_FD,
 * with the environment variable fd_env set to that number: how a proxy
 * inherits the pipe that holds the vault's key. */
#define QEMU_KEEP_FD 4
pid_t qemu_spawn_keep(char *const argv[], const char *netns, const char *log_path, bool detach,
		      int keep_fd, const char *fd_env);

/* A pollable fd that becomes readable when process pid exits (pidfd), or -1
 * if it is already gone. */
int qemu_pidfd(pid_t pid);

/* Wait up to timeout_ms for the process behind pidfd to exit: 1 exited, 0 not. */
int qemu_wait_exit(int pidfd, int timeout_ms);

/* Wait until text appears in the file at path beyond offset from: 1 when it
 * does, 0 after timeout_ms, -1 with err_set() as soon as the process behind
 * pidfd exits without having written it or *cancel (may be NULL) becomes
 * non-zero. The file may not exist yet. Checks every 10 ms. */
int qemu_wait_console(const char *path, off_t from, const char *text, int pidfd, int timeout_ms,
		      const volatile sig_atomic_t *cancel);

/* The host TSC frequency in kHz (sysfs, else /proc/cpuinfo), or 0 if unknown. */
long qemu_host_tsc_khz(void);

/*
 * "kvm" or "tcg". $SMOLVM_ACCEL overrides. Otherwise KVM is used only if a
 * short test boot of the kernel, initrd and base disk (the image's root.img,
 * next to the kernel) under KVM reaches the guest's ready line; the answer
 * is cached per host boot in $SMOLVM_HOME/cache.
 */
const char *qemu_accel(const char *kernel, const char *initrd);

#endif
