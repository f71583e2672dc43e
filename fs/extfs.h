/*
 * extfs: reading directories of an ext4 image file on the host, without
 * mounting it (no root, no loop device, nothing the guest could exploit in
 * the host kernel): debugfs from e2fsprogs, opened read-only, many
 * directories per run, addressed by inode number so that no name is ever
 * quoted into a command.
 */
#ifndef SMOLVM_EXTFS_H
#define SMOLVM_EXTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EXTFS_ROOT_INO 2

struct extfs_entry {
	char *name;
	uint32_t ino;
	mode_t mode;		/* type and permission bits */
	uid_t uid;
	gid_t gid;
	uint64_t size;
};

struct extfs_dir {
	struct extfs_entry *e;	/* without "." and "..", sorted by name */
	size_t n;
	bool opaque;		/* has the xattr trusted.overlay.opaque = "y" */
};

/*
 * List the directories with inode numbers inos[0..n) of the ext4 image at
 * path, in one debugfs run; out[i] gets directory inos[i]. 0, or -1 with
 * err_set() (debugfs missing, not an ext4 image, an inode that is no
 * directory). Free each with extfs_dir_free.
 */
int extfs_list(const char *image, const uint32_t *inos, size_t n, struct extfs_dir *out);
void extfs_dir_free(struct extfs_dir *d);

/* The entry called name in d, or NULL. */
const struct extfs_entry *extfs_find(const struct extfs_dir *d, const char *name);

/* Does the image's superblock say its journal has to be replayed first? 1 yes, 0 no, -1 error. */
int extfs_needs_recovery(const char *image);

/* Replay the journal of an image nothing has open (e2fsck -E journal_only). */
int extfs_recover(const char *image);

#endif
