/* diskcopy: copying disk images without filling in their holes. */
#ifndef SMOLVM_DISKCOPY_H
#define SMOLVM_DISKCOPY_H

#include <stdint.h>

#include "fs/progress.h"

/*
 * Copy the file src to dst, which must not exist yet (mode 0600). A reflink
 * (FICLONE) when the file system offers one, so the copy costs nothing until
 * either side is written; else only the data is copied: holes stay holes and
 * blocks of zeros become holes (like cp --sparse=always). The copy is
 * fsync'ed. fn (may be NULL) hears of the progress, with name as the file's
 * name. 0, or -1 with err_set() and dst removed.
 */
int diskcopy_file(const char *src, const char *dst, const char *name, progress_fn fn, void *arg);

/* Bytes the file or the files in the directory (not below) take on disk,
 * holes left out; 0 for a missing path. */
uint64_t diskcopy_allocated(const char *path);

#endif
