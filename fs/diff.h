/*
 * diff: what a sandbox added, changed and deleted against its image, read
 * from its writable layer (overlayfs' upper directory on disk.img) and the
 * image's root.img, both on the host (fs/extfs, no mount).
 *
 * In the upper directory a file or directory that the base lacks is added
 * (A); one the base has too is changed (M; a directory only when its mode
 * or owner changed, or it replaced the base's: opaque); a whiteout (a
 * character device 0/0) is a deletion (D) of what the base has there; an
 * opaque directory also deletes every base entry under it that the upper
 * directory lacks. A deleted directory is one D: what was in it goes with it.
 */
#ifndef SMOLVM_DIFF_H
#define SMOLVM_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "backend/store.h"

struct cJSON;

struct diff_change {
	char change;		/* 'A', 'M' or 'D' */
	char *path;		/* absolute in the guest: "/etc/profile" */
	const char *type;	/* "file", "dir", "symlink" or "other" (for D: what was deleted) */
	uint64_t size;		/* bytes of a file or symlink that is there now; else 0 */
};

/*
 * The changes in the ext4 image upper (DISK_UPPER_DIR in it is the upper
 * directory; none yet: no changes) against the ext4 image lower, sorted by
 * path. 0 with *out (free with diff_free) and *n, or -1 with err_set().
 */
int diff_layers(const char *upper, const char *lower, struct diff_change **out, size_t *n);
void diff_free(struct diff_change *c, size_t n);

/*
 * The changes of sandbox sb: diff_layers() on its disk.img against its
 * image's root.img. A running sandbox's layer is frozen in the guest for
 * the moment it is read (over SSH: needs root; blocks for that long); a
 * crashed one's journal is replayed first. 0 or -1 with err_set().
 */
int diff_sandbox(const struct sandbox *sb, struct diff_change **out, size_t *n);

/* [{"change": "A", "path": "/x", "type": "file", "size": 3}, ...] */
struct cJSON *diff_to_json(const struct diff_change *c, size_t n);

#endif
