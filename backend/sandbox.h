/* sandbox: the lifecycle of one sandbox: create, boot, wait until ready, stop, remove. */
#ifndef SMOLVM_SANDBOX_H
#define SMOLVM_SANDBOX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/store.h"

struct policy;

/* Below this the tiny image's initramfs does not fit in the guest's RAM. */
#define SANDBOX_MIN_MEM_MIB 192

struct sandbox_opts {
	const char *name;	/* NULL: a friendly default */
	const char *image;	/* image kind */
	int mem_mib;
	int cpus;
	const struct policy *policy;	/* NULL: none (mode none) */
	int64_t disk_bytes;	/* size of the writable layer; 0: DISK_DEFAULT_SIZE */
	/* NULL: a free /30; else the guest and host addresses to reuse (a clone
	 * of a saved running state keeps its addresses, in its own namespace) */
	const struct sandbox *addresses;
};

/*
 * Allocate an id, check the name, pick a free /30 in 10.77.0.0/16, write
 * the record as "creating" (and the policy, if any), make the writable
 * layer vms/<id>/disk.img (see disk.h), then the namespace "smolvm-<id>"
 * and its tap. Needs root. On failure nothing is left behind; -1 with
 * err_set().
 */
int sandbox_create(const struct sandbox_opts *o, struct sandbox *sb);

/*
 * Make p the sandbox's policy: write vms/<id>/policy.json atomically and,
 * if the sandbox's egress proxy runs, have it read the file at once
 * (SIGHUP). 0, or -1 with err_set(); a file that cannot be written leaves
 * the old one as it was.
 */
int sandbox_set_policy(const struct sandbox *sb, const struct policy *p);

/*
 * Give the guest's SSH sessions from now on NAME=placeholder for each of
 * the sandbox's secrets (net/secrets.h), over c (NULL: a connection of its
 * own): at boot, and when a saved state resumes (a clone gets its own
 * placeholders, not those in the memory it resumes). Only when there are
 * any, unless changed: then also when none are left, so that a detached
 * one goes. 0, or -1 with err_set().
 */
struct ssh_conn;
int sandbox_guest_secrets(const struct sandbox *sb, struct ssh_conn *c, bool changed);

/* A boot in progress, from sandbox_boot to sandbox_wait_ready. */
struct sandbox_booting {
	off_t console_from;	/* where this boot's output starts in console.log */
	off_t log_from;		/* and in qemu.log (QEMU's own messages) */
	int pidfd;		/* QEMU's, readable once it exits */
};

/*
 * Start QEMU for sb inside its namespace (the accelerator is chosen here,
 * see qemu_accel). The record is saved as "creating" with QEMU's pid.
 * Returns 0, or -1 with err_set() and no QEMU left running.
 */
int sandbox_boot(struct sandbox *sb, struct sandbox_booting *b);

/*
 * sandbox_boot for a saved state: QEMU starts with the same devices but
 * waits for the state (QMP migrate-incoming, see migrate_load) instead of
 * booting, under sb->accel as the state was saved with.
 */
int sandbox_boot_incoming(struct sandbox *sb, struct sandbox_booting *b);

/*
 * Wait for the guest's ready line on the console, then for an SSH login,
 * at most $SMOLVM_BOOT_TIMEOUT seconds (default 120 under TCG, 30 under
 * KVM), failing at once if QEMU exits or *cancel becomes non-zero (cancel
 * may be NULL). Success: state "running", ready_ms = now - t0_ms. Failure:
 * QEMU is killed and the state is "stopped" (sandbox_log_tail shows
 * why). Either way b is finished with.
 */
int sandbox_wait_ready(struct sandbox *sb, struct sandbox_booting *b, int64_t t0_ms,
		       const volatile sig_atomic_t *cancel);

/* The last `lines` lines of file ("console.log", "qemu.log") in the
 * sandbox's directory from offset from on (a boot's console_from or
 * log_from, or 0), control characters removed. Newly allocated. */
char *sandbox_log_tail(const struct sandbox *sb, const char *file, off_t from, int lines);

/*
 * Shut the guest down: a clean power-off through SSH unless force, up to
 * 10 s for QEMU to exit, then QMP "quit", then SIGKILL. The state becomes
 * "stopped" with pid 0; the namespace and tap stay.
 */
int sandbox_stop(struct sandbox *sb, bool force);

/* Kill QEMU if it runs, remove the namespace (and with it the tap) and the
 * sandbox's directory. */
int sandbox_rm(struct sandbox *sb);

/* The same for a sandbox directory whose record is unreadable: what it ran
 * is found from the pid files, its namespace from the id. */
int sandbox_rm_broken(const char *id);

/* QEMU's own run state ("running", "paused", ...) by QMP query-status, giving
 * up after timeout_ms. 0 and out filled, or -1 with err_set(). */
int sandbox_qmp_status(const struct sandbox *sb, char *out, size_t len, int timeout_ms);

/* Seconds since the last start while running, else 0. */
int64_t sandbox_uptime_s(const struct sandbox *sb);

#endif
