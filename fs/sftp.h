/* sftp: copy files and folders between the host and a sandbox over SFTP. */
#ifndef SMOLVM_SFTP_H
#define SMOLVM_SFTP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/ssh.h"
#include "fs/progress.h"

/*
 * What both directions promise:
 * - folders are copied recursively; permission bits and modification times
 *   are kept (set-user/group-id bits are dropped when copying to the host);
 *   symbolic links are copied as links; sockets, FIFOs and devices are
 *   skipped and counted;
 * - a file never appears under its real name half-written: it is written
 *   under a hidden temporary name (".NAME.smolvm-XXXXXXXX") in the same
 *   directory and renamed into place when complete, replacing a file of
 *   that name; a new folder is built the same way, under a temporary name,
 *   and renamed when its whole tree is in. A folder that already exists is
 *   merged into. On failure (or cancel) the temporary file or tree is
 *   removed.
 *
 * The calls block until done, driving the connection themselves (it may be
 * a worker thread's; progress is then called on that thread), and stop
 * early once job->cancel becomes non-zero.
 */

struct sftp_job {
	/* in */
	progress_fn progress;		/* may be NULL */
	void *progress_arg;
	const volatile sig_atomic_t *cancel;	/* stop when it becomes non-zero; may be NULL */
	/* out: what was copied */
	uint64_t bytes;
	int files, dirs, links;
	int skipped;			/* special files left out */
};

/* Sources on the host, read and checked before anything is sent. */
struct sftp_tree;

/*
 * Scan local paths (files or folders, each copied under its own name).
 * Fails with err_set() naming the first path that is missing or
 * unreadable, or two sources with the same name; nothing has been sent
 * then. A symbolic link given here is followed; inside folders links are
 * kept as links.
 */
struct sftp_tree *sftp_scan_local(char *const *paths, int n);
uint64_t sftp_tree_bytes(const struct sftp_tree *t);
int sftp_tree_files(const struct sftp_tree *t);
void sftp_tree_free(struct sftp_tree *t);

/* An SFTP session on a connection to sandbox `name` (for messages). The
 * connection is used non-blocking until sftp_close(), which puts it back
 * to blocking. NULL with err_set() on failure. */
struct sftp;
struct sftp *sftp_open(struct ssh_conn *c, const char *name);
void sftp_close(struct sftp *s);

/* The guest user's home directory, where relative paths start. Newly
 * allocated, or NULL with err_set(). */
char *sftp_home(struct sftp *s);

/*
 * Copy the tree into dest_dir in the sandbox, which must be an existing
 * directory (relative paths are from the guest user's home). Fails
 * before sending anything if dest_dir is missing or not a directory, or if
 * a source would replace a directory by a file or a file by a directory.
 * A full file system in the guest is reported as such ("no space left in
 * the sandbox at DIR"). 0, or -1 with err_set().
 */
int sftp_upload(struct sftp *s, const struct sftp_tree *t, const char *dest_dir,
		struct sftp_job *job);

/*
 * Copy remote (a file or folder in the sandbox) to local on the host: into
 * local if that is an existing directory, else to the path local itself
 * (its parent must exist). 0, or -1 with err_set().
 */
int sftp_download(struct sftp *s, const char *remote, const char *local, struct sftp_job *job);

/* The check sftp_download makes of local before connecting to anything:
 * an existing directory, or a path whose parent directory exists. */
int sftp_check_local_dest(const char *local);

/*
 * Single entries in the sandbox, for callers that keep a folder in step
 * one file at a time (sync). Times are whole seconds, as SFTP 3 has them.
 */
struct sftp_attrs {
	uint32_t mode;		/* type (S_IFMT) and permission bits */
	uint64_t size;
	uint64_t mtime;
};

struct sftp_dirent {
	char *name;
	struct sftp_attrs a;	/* not following links */
};

/* What is at path, not following a link: 0 and *a filled, 1 if nothing is
 * there, -1 with err_set(). */
int sftp_lstat(struct sftp *s, const char *path, struct sftp_attrs *a);

/* The entries of folder dir other than "." and "..", sorted by name; free
 * them with sftp_dirents_free(). 0, or -1 with err_set(). */
int sftp_list(struct sftp *s, const char *dir, struct sftp_dirent **out, size_t *n);
void sftp_dirents_free(struct sftp_dirent *e, size_t n);

/* A new folder at path with permissions mode. 0, or -1 with err_set(). */
int sftp_mkdir(struct sftp *s, const char *path, uint32_t mode);

/* Remove what is at path: a file, a link, or a folder with everything in
 * it. 0, or -1 with err_set() when something is left. */
int sftp_remove(struct sftp *s, const char *path);

/*
 * Copy the regular file local (not followed if it is a link: that is an
 * error) to the path remote in the sandbox, whose folder must exist, with
 * the promises above: a temporary name renamed into place, replacing a
 * file there (never a folder), permissions and times kept. 0, or -1 with
 * err_set().
 */
int sftp_put_file(struct sftp *s, const char *local, const char *remote, struct sftp_job *job);

#endif
