/*
 * s3: S3 buckets mounted on the host with s3fs and shared into a sandbox.
 *
 * Every sandbox boots with one virtio-9p share (tag S3_SHARE_TAG) of its
 * folder vms/<id>/share. A mount runs s3fs on the host at a subfolder of
 * it, vms/<id>/share/s3-N, then, over SSH, mounts the share in the guest
 * (once, at S3_GUEST_SHARE; the 9p modules are loaded then, not at boot)
 * and bind-mounts the subfolder onto the guest folder. The credentials
 * come from the vault and reach s3fs in a 0600 file on the host that is
 * removed as soon as s3fs has read it; the guest never sees them. Read-only
 * unless rw, enforced by s3fs itself (-o ro), so the guest cannot remount
 * around it. Mounts last until `s3 umount`, stop or rm: they never outlive
 * the sandbox's run.
 */
#ifndef SMOLVM_S3_H
#define SMOLVM_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/store.h"

#define S3_SHARE_TAG "smolvm"
#define S3_GUEST_SHARE "/run/smolvm-share"
#define S3_DEFAULT_ENDPOINT "https://s3.amazonaws.com"

struct s3_mount {
	char *bucket;
	char *guest_dir;	/* absolute, in the guest */
	char *endpoint;		/* http:// or https:// URL */
	char *secret;		/* vault entry name, NULL: a public bucket */
	bool rw;
	char *sub;		/* "s3-N", its folder in the share */
	pid_t pid;		/* s3fs */
	int64_t created;	/* wall-clock seconds */
};

/* The sandbox's shared folder, vms/<id>/share (newly allocated). */
char *s3_share_dir(const char *id);

/*
 * Mount bucket at m->guest_dir in the running sandbox sb (m->sub, pid and
 * created are filled here). The vault entry m->secret holds
 * "ACCESS_KEY:SECRET_KEY" and must list the endpoint's host among its
 * hosts. On failure nothing is left mounted; -1 with err_set().
 */
int s3_mount(const struct sandbox *sb, struct s3_mount *m);

/* Undo the mount at guest_dir: in the guest (when it runs), then s3fs on
 * the host. 0, or -1 with err_set(). */
int s3_umount(const struct sandbox *sb, const char *guest_dir);

/* The sandbox's mounts, as recorded. 0, or -1 with err_set(). */
int s3_list(const char *id, struct s3_mount **out, size_t *n);
void s3_mounts_free(struct s3_mount *m, size_t n);

/*
 * The host side of every mount of the sandbox id, for stop and rm: s3fs
 * is unmounted (detached at once if busy) and ended, the record cleared.
 * Anything mounted under the share is unmounted, recorded or not, so that
 * removing the sandbox's folder can never reach into a bucket. 0, or -1
 * with err_set() when something stays mounted.
 */
int s3_release(const char *id);

/* Is name a bucket name S3 takes (3-63 of [a-z0-9.-], starting and ending
 * with a letter or digit)? */
bool s3_bucket_valid(const char *name);

/* Does host match one of the vault entry's hosts (exact, or "*.SUFFIX"
 * for a strict subdomain)? */
bool s3_host_allowed(const char *host, char *const *hosts, size_t n);

/* The host of an http:// or https:// URL, lower case (newly allocated), or
 * NULL with err_set(). */
char *s3_url_host(const char *url);

#endif
