/* cpio: a writer for "newc" cpio archives, the format the kernel unpacks as an initramfs. */
#ifndef SMOLVM_CPIO_H
#define SMOLVM_CPIO_H

#include <stdint.h>
#include <sys/types.h>

struct cpio;

/*
 * Start an archive at path (created or truncated). Every entry gets uid and
 * gid 0 and the given mtime, and inode numbers count up from 1, so the same
 * input always gives the same bytes. Returns NULL with err_set() on failure.
 */
struct cpio *cpio_create(const char *path, int64_t mtime);

/* Entry names are relative ("bin/sh"); perm is the permission bits only. */
int cpio_add_dir(struct cpio *c, const char *name, mode_t perm);
int cpio_add_symlink(struct cpio *c, const char *name, const char *target);
int cpio_add_chardev(struct cpio *c, const char *name, mode_t perm,
		     unsigned int major, unsigned int minor);
/* A regular file whose contents are read from src on disk. */
int cpio_add_file(struct cpio *c, const char *name, mode_t perm, const char *src);

/*
 * Everything below the directory dir (not dir itself), directories before
 * their contents, siblings in byte order of their names. Regular files,
 * directories and symlinks only; anything else is an error.
 */
int cpio_add_tree(struct cpio *c, const char *dir);

/*
 * Write the trailer and close. Returns the archive's size in bytes, or -1
 * with err_set(). Frees c either way; on failure the file is removed.
 */
int64_t cpio_finish(struct cpio *c);

/* Give up: close, remove the file, free c. */
void cpio_abort(struct cpio *c);

#endif
