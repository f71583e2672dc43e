/* util: allocation that never fails, error messages, small file helpers. */
#ifndef SMOLVM_UTIL_H
#define SMOLVM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure is fatal: these never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "smolvm: msg" to stderr and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * The last error of the calling thread. Functions that fail return -1 (or
 * NULL) after err_set() with a message that says what failed, where, and
 * what to do about it; callers print err_msg().
 */
void err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_msg(void);

/* Milliseconds on the monotonic clock, and wall-clock seconds. */
int64_t util_now_ms(void);
int64_t util_wall_s(void);

/* mkdir -p with the given mode for the directories it creates. */
int util_mkdir_p(const char *path, mode_t mode);

/* Write a whole file atomically: temporary file, fsync, rename, fsync dir. */
int util_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Read a whole file into a NUL-terminated buffer; *len gets its size. */
char *util_read_file(const char *path, size_t *len);

/* Remove a file tree (like rm -rf); missing paths are not an error. */
int util_rm_rf(const char *path);

/* Path of the running executable (from /proc/self/exe). */
const char *util_self_exe(void);

/* Run argv, wait for it; returns its exit status, or -1 if it could not run
 * or was killed. stdout/stderr go to log_fd when >= 0, else are inherited. */
int util_run(char *const argv[], int log_fd);

/* util_run() keeping what argv wrote: its stdout in *out and its stderr in
 * *err (newly allocated, NUL-terminated, set whenever the status is >= 0;
 * either may be NULL to drop it). execvp: argv[0] is looked up in PATH. */
int util_run_capture(char *const argv[], char **out, char **err);

/* True if a file exists and is executable by us / exists at all. */
bool util_is_exec(const char *path);
bool util_exists(const char *path);

/* The value of the hex digit c (either case), or -1. */
int util_hex_value(char c);

/* Read up to len - 1 bytes of /proc/<pid>/<file> into buf, NUL-terminated; the number of bytes
 * read, or <= 0 if there was nothing to read (no such process, or a zombie's empty cmdline). */
ssize_t util_read_proc(pid_t pid, const char *file, char *buf, size_t len);

/* Format a duration in seconds as "5s", "3m", "2h10m", "4d". */
void util_fmt_duration(int64_t secs, char *buf, size_t len);

#endif
