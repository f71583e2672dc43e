/*
 * disk: a sandbox's writable layer, vms/<id>/disk.img.
 *
 * The image's root.img is the read-only lower layer that every sandbox
 * shares; disk.img is a sparse raw ext4 file system of the sandbox's own
 * holding overlayfs' upper directory (DISK_UPPER_DIR: what the sandbox
 * added, changed or deleted) and its work directory. The guest mounts it
 * at /run/smolvm/upper (fs/guest/boot). A copy of this one file is a copy
 * of everything the sandbox changed.
 */
#ifndef SMOLVM_DISK_H
#define SMOLVM_DISK_H

#include <stdint.h>

#include "backend/store.h"

#define DISK_FILE "disk.img"
#define DISK_DEFAULT_SIZE "2G"
#define DISK_MIN_BYTES (64LL << 20)
#define DISK_MAX_BYTES (16LL << 40)

/* Inside disk.img: overlayfs' upper directory, and its work directory. */
#define DISK_UPPER_DIR "/root"
#define DISK_WORK_DIR "/work"
/* Where the running guest has the file system (and the lower layer). */
#define DISK_GUEST_UPPER "/run/smolvm/upper"
#define DISK_GUEST_LOWER "/run/smolvm/lower"

/* QEMU's serials of the two disks, by which the guest tells them apart. */
#define DISK_SERIAL_BASE "smolvm-base"
#define DISK_SERIAL_UPPER "smolvm-upper"

/* vms/<id>/disk.img. Newly allocated. */
char *disk_path(const char *id);

/*
 * Parse a size: a number of bytes with an optional K, M, G or T (powers of
 * 1024, an optional trailing "iB" or "B"), e.g. "2G", "512M". 0 and *bytes
 * set, or -1 with err_set() for anything else or a size outside
 * DISK_MIN_BYTES..DISK_MAX_BYTES.
 */
int disk_parse_size(const char *s, int64_t *bytes);

/*
 * Make the empty writable layer at path: a sparse file of bytes bytes,
 * ext4 with a small journal (mke2fs from e2fsprogs). Only the file
 * system's metadata is written (about 1 MiB for 2 GiB); the rest costs
 * nothing until the sandbox writes it. An existing file is an error.
 */
int disk_make(const char *path, int64_t bytes);

/*
 * Make sb's running guest write everything out and hold its writable layer
 * still (sync, then fsfreeze of DISK_GUEST_UPPER, which also empties the
 * journal), so that disk.img can be read or copied on the host as a
 * consistent file system. The guest thaws it by itself after
 * DISK_FREEZE_MAX_S seconds should disk_thaw never come. Writes in the
 * guest wait meanwhile. 0, or -1 with err_set().
 */
#define DISK_FREEZE_MAX_S 30
int disk_freeze(const struct sandbox *sb);
int disk_thaw(const struct sandbox *sb);

#endif
