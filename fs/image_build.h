/*
 * image_build: what the steps of an image recipe share while an image is
 * built: the build's state, running host programs into the build log, the
 * host tools a recipe lists, and writing files into the guest's tree.
 *
 * An image is built by a kind's recipe: a list of steps run in order over a
 * shared struct build. Steps that every kind needs (the kernel, the keys,
 * /etc, the initrd) are plain functions that recipes list; a new kind adds
 * its own steps and a table entry (fs/image.c).
 */
#ifndef SMOLVM_IMAGE_BUILD_H
#define SMOLVM_IMAGE_BUILD_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A host program or file a recipe needs, and the Debian package that has it. */
struct host_need {
	const char *name;	/* a command looked up in PATH, or an absolute file path */
	const char *package;
	bool copied;		/* it goes into the image: its package version is recorded */
};

struct build;

struct step {
	const char *what;
	int (*run)(struct build *b);
};

struct image_kind {
	const char *name;
	const char *recipe;	/* change it whenever the recipe changes what it makes */
	const struct host_need *needs;
	size_t nneeds;
	const struct step *steps;
	size_t nsteps;
};

struct build {
	const struct image_kind *kind;
	char *dir;		/* images/<kind>: where the finished image goes */
	char *work;		/* images/.<kind>.build-PID: where it is made */
	char *root;		/* work/root: the guest's file tree, made into root.img */
	char *initrd_root;	/* work/initrd: the initrd's tree (modules that mount the root) */
	int log_fd;		/* work/build.log: output of the programs we run */
	char **found;		/* resolved paths of kind->needs */
	char *init_path;	/* the root's /init in the data dir (fs/guest/init) */
	char *boot_path;	/* the initrd's /init (fs/guest/boot) */
	char init_sum[17];	/* of both */
	int64_t built;
	char *kernel_package, *kernel_version, *kernel_release, *kernel_deb;
	const char *kernel_format;	/* "pvh-elf" or "bzImage" */
	char *user_pub;		/* the user key's public line, authorised for root */
	char *host_pub;		/* the guest host key's public line, pinned by the host */
	char *proxy_ca;		/* fingerprint of the egress proxy's CA, trusted by the guest */
	cJSON *modules;		/* names of the modules put in */
};

/* A detail line under the current step on stderr. */
void image_build_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void image_build_fmt_size(int64_t bytes, char *buf, size_t len);	/* "1.5 MiB" */
int64_t image_build_file_size(const char *path);		/* -1 if it is not there */

/*
 * Run argv (argv[0] a full path) in cwd, or here when NULL. Its stderr goes
 * to the build log; its stdout too, unless out is given, which then receives
 * it as a string. Returns the exit status (0 is success, with err_set() for
 * anything else: what ran and the end of its output), or -1 if it did not run.
 */
int image_build_run_argv(struct build *b, const char *cwd, char **out, char *const argv[]);

/* image_build_run_argv with the arguments listed, NULL-terminated. */
int image_build_run(struct build *b, const char *cwd, char **out, const char *prog, ...);

/* The value of the first line that starts with key in text, newly allocated; or NULL. */
char *image_build_line_value(const char *text, const char *key);

/* The step that finds every host tool the recipe lists, naming the packages of missing ones. */
int image_build_check_host(struct build *b);

/* The resolved path of a host tool the recipe listed (a recipe bug if it did not). */
const char *image_build_host(const struct build *b, const char *name);

/* Copy src to dst (replacing dst) with the given mode, making dst's parent directories. */
int image_build_copy_file(const char *src, const char *dst, mode_t mode);

/* The path of an absolute guest path inside the tree being built. Newly allocated. */
char *image_build_in_root(const struct build *b, const char *guest_path);

/* Make a file, directory or symlink at an absolute guest path in the tree, with its parents. */
int image_build_put_text(struct build *b, const char *guest_path, mode_t mode, const char *text);
int image_build_put_dir(struct build *b, const char *guest_path, mode_t mode);
int image_build_put_symlink(struct build *b, const char *guest_path, const char *target);

#endif
