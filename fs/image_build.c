#include "fs/image_build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/util.h"

void image_build_note(const char *fmt, ...)
{
	va_list ap;

	fputs("      ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void image_build_fmt_size(int64_t bytes, char *buf, size_t len)
{
	if (bytes >= 1024 * 1024)
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1024 * 1024));
	else
		snprintf(buf, len, "%.1f KiB", (double)bytes / 1024);
}

int64_t image_build_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* ---- the guest's tree ---------------------------------------------------------------- */

char *image_build_in_root(const struct build *b, const char *guest_path)
{
	return xasprintf("%s%s", b->root, guest_path);
}

static char *parent_dir(const char *path)
{
	char *d = xstrdup(path);
	char *slash = strrchr(d, '/');

	if (slash && slash != d)
		*slash = '\0';
	return d;
}

static int mkdir_parent(const char *path)
{
	char *d = parent_dir(path);
	int rc = util_mkdir_p(d, 0755);

	free(d);
	return rc;
}

int image_build_copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	if (mkdir_parent(dst) < 0)
		return -1;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		err_set("cannot read %s: %s", src, strerror(errno));
		return -1;
	}
	unlink(dst);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0) {
		err_set("cannot create %s: %s", dst, strerror(errno));
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(out, buf, (size_t)n) != n) {
			err_set("cannot copy %s to %s: %s", src, dst, strerror(errno));
			close(in);
			close(out);
			return -1;
		}
	}
	close(in);
	if (fchmod(out, mode) < 0 || close(out) < 0) {
		err_set("cannot write %s: %s", dst, strerror(errno));
		return -1;
	}
	return 0;
}

int image_build_put_text(struct build *b, const char *guest_path, mode_t mode, const char *text)
{
	char *p = image_build_in_root(b, guest_path);
	int rc = mkdir_parent(p);

	if (rc == 0)
		rc = util_write_atomic(p, text, strlen(text), mode);
	if (rc == 0 && chmod(p, mode) < 0) {
		err_set("cannot chmod %s: %s", p, strerror(errno));
		rc = -1;
	}
	free(p);
	return rc;
}

int image_build_put_dir(struct build *b, const char *guest_path, mode_t mode)
{
	char *p = image_build_in_root(b, guest_path);
	int rc = util_mkdir_p(p, 0755);

	if (rc == 0 && chmod(p, mode) < 0) {
		err_set("cannot chmod %s: %s", p, strerror(errno));
		rc = -1;
	}
	free(p);
	return rc;
}

int image_build_put_symlink(struct build *b, const char *guest_path, const char *target)
{
	char *p = image_build_in_root(b, guest_path);
	int rc = mkdir_parent(p);

	if (rc == 0 && symlink(target, p) < 0 && errno != EEXIST) {
		err_set("cannot create symlink %s: %s", p, strerror(errno));
		rc = -1;
	}
	free(p);
	return rc;
}

/* ---- running host programs --------------------------------------------------------- */

/* The last few lines the programs wrote to the log since offset, for error messages. */
static char *log_tail(struct build *b, off_t from)
{
	off_t end = lseek(b->log_fd, 0, SEEK_END);
	size_t want = end - from > 600 ? 600 : (size_t)(end - from);
	char *buf = xcalloc(1, want + 1);
	ssize_t n = pread(b->log_fd, buf, want, end - (off_t)want);
	char *p;

	buf[n > 0 ? n : 0] = '\0';
	while ((p = strchr(buf, '\n')) && p[1] == '\0')
		*p = '\0';
	for (p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

int image_build_run_argv(struct build *b, const char *cwd, char **out, char *const argv[])
{
	off_t log_start;
	int pipefd[2] = { -1, -1 };
	size_t len = 0, cap = 4096;
	char *buf = NULL;
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	pid_t pid;
	int status;

	dprintf(b->log_fd, "+");
	for (int i = 0; argv[i]; i++)
		dprintf(b->log_fd, " %s", argv[i]);
	dprintf(b->log_fd, "\n");
	log_start = lseek(b->log_fd, 0, SEEK_END);
	if (out && pipe2(pipefd, O_CLOEXEC) < 0) {
		err_set("cannot make a pipe to run %s: %s", name, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		err_set("cannot fork to run %s: %s", name, strerror(errno));
		if (out) {
			close(pipefd[0]);
			close(pipefd[1]);
		}
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, 0);
		dup2(out ? pipefd[1] : b->log_fd, 1);
		dup2(b->log_fd, 2);
		if (cwd && chdir(cwd) < 0) {
			dprintf(2, "cannot enter %s: %s\n", cwd, strerror(errno));
			_exit(126);
		}
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (out) {
		close(pipefd[1]);
		buf = xmalloc(cap);
		for (;;) {
			ssize_t n;
			if (len + 1 >= cap)
				buf = xrealloc(buf, cap *= 2);
			n = read(pipefd[0], buf + len, cap - len - 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		buf[len] = '\0';
		close(pipefd[0]);
		*out = buf;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			err_set("cannot wait for %s: %s", name, strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char *tail = log_tail(b, log_start);
	if (WIFEXITED(status))
		err_set("%s failed (exit status %d)%s%s", name, WEXITSTATUS(status),
			*tail ? ": " : "", tail);
	else
		err_set("%s was killed by signal %d", name, WTERMSIG(status));
	free(tail);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define RUN_MAX_ARGS 16

int image_build_run(struct build *b, const char *cwd, char **out, const char *prog, ...)
{
	const char *argv[RUN_MAX_ARGS + 1];
	va_list ap;
	int n = 0;

	argv[n++] = prog;
	va_start(ap, prog);
	while ((argv[n] = va_arg(ap, const char *)))
		if (++n == RUN_MAX_ARGS)
			die("too many arguments running %s", prog);
	va_end(ap);
	return image_build_run_argv(b, cwd, out, (char *const *)argv);
}

char *image_build_line_value(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!strncmp(p, key, klen)) {
			p += klen;
			while (*p == ' ')
				p++;
			size_t n = strcspn(p, "\n");
			while (n && (p[n - 1] == ' ' || p[n - 1] == '\r'))
				n--;
			char *v = xmalloc(n + 1);
			memcpy(v, p, n);
			v[n] = '\0';
			return v;
		}
	}
	return NULL;
}

/* ---- host tools --------------------------------------------------------------------- */

/* Look a command up in PATH, then in the sbin directories a user's PATH may lack. */
static char *find_command(const char *name)
{
	const char *env = getenv("PATH");
	char *dirs = xasprintf("%s:/usr/sbin:/sbin", env && *env ? env : "/usr/bin:/bin");
	char *save = NULL, *found = NULL;

	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", *d ? d : ".", name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && util_is_exec(p))
			found = p;
		else
			free(p);
	}
	free(dirs);
	return found;
}

/* Is word one of the space-separated words of list? */
static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
	return false;
}

int image_build_check_host(struct build *b)
{
	const struct image_kind *k = b->kind;
	char *missing = xstrdup(""), *packages = xstrdup("");
	int rc = 0;

	for (size_t i = 0; i < k->nneeds; i++) {
		const struct host_need *n = &k->needs[i];
		char *tmp;

		if (n->name[0] == '/')
			b->found[i] = util_exists(n->name) ? xstrdup(n->name) : NULL;
		else
			b->found[i] = find_command(n->name);
		if (b->found[i])
			continue;
		tmp = xasprintf("%s%s%s (from %s)", missing, *missing ? ", " : "", n->name,
				n->package);
		free(missing);
		missing = tmp;
		if (!has_word(packages, n->package)) {
			tmp = xasprintf("%s %s", packages, n->package);
			free(packages);
			packages = tmp;
		}
	}
	if (*missing) {
		err_set("cannot build image %s: missing %s; install with `apt-get install%s`",
			k->name, missing, packages);
		rc = -1;
	}
	free(missing);
	free(packages);
	return rc;
}

const char *image_build_host(const struct build *b, const char *name)
{
	for (size_t i = 0; i < b->kind->nneeds; i++)
		if (!strcmp(b->kind->needs[i].name, name) && b->found[i])
			return b->found[i];
	die("image recipe %s uses %s without listing it", b->kind->name, name);
}
