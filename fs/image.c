#include "fs/image.h"

#include <cJSON.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "fs/cpio.h"

/*
 * An image is built by a kind's recipe: a list of steps run in order over a
 * shared struct build. Steps that every kind needs (the kernel, the keys,
 * /etc, the initrd) are plain functions that recipes list; a new kind adds
 * its own steps and a table entry.
 */

#define KERNEL_META_PACKAGE "linux-image-amd64"
#define KERNEL_ARCH "amd64"
#define HOST_KEY_PATH "/etc/dropbear/dropbear_ed25519_host_key"
#define SFTP_SERVER_SRC "/usr/lib/openssh/sftp-server"
#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* from Xen's public/elfnote.h: the 32-bit entry point a PVH boot jumps to */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

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
	char *root;		/* work/root: the guest's file tree */
	int log_fd;		/* work/build.log: output of the programs we run */
	char **found;		/* resolved paths of kind->needs */
	char *init_path;	/* the guest init in the data dir */
	char init_sum[17];
	int64_t built;
	char *kernel_package, *kernel_version, *kernel_release, *kernel_deb;
	const char *kernel_format;	/* "pvh-elf" or "bzImage" */
	char *user_pub;		/* the user key's public line, authorised for root */
	char *host_pub;		/* the guest host key's public line, pinned by the host */
	cJSON *modules;		/* names of the modules put in */
};

/* ---- small helpers ------------------------------------------------------------------ */

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	va_list ap;

	fputs("      ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Change detection for the guest init (not a security check). */
static void fnv1a64_hex(const char *data, size_t len, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)data[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void fmt_size(int64_t bytes, char *buf, size_t len)
{
	if (bytes >= 1024 * 1024)
		snprintf(buf, len, "%.1f MiB", (double)bytes / (1024 * 1024));
	else
		snprintf(buf, len, "%.1f KiB", (double)bytes / 1024);
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static int64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The path of an absolute guest path inside the tree being built. */
static char *in_root(const struct build *b, const char *guest_path)
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

/* Copy src to dst (replacing dst) with the given mode, making dst's parent directories. */
static int copy_file(const char *src, const char *dst, mode_t mode)
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

/* Write text to an absolute guest path in the tree. */
static int put_text(struct build *b, const char *guest_path, mode_t mode, const char *text)
{
	char *p = in_root(b, guest_path);
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

static int put_dir(struct build *b, const char *guest_path, mode_t mode)
{
	char *p = in_root(b, guest_path);
	int rc = util_mkdir_p(p, 0755);

	if (rc == 0 && chmod(p, mode) < 0) {
		err_set("cannot chmod %s: %s", p, strerror(errno));
		rc = -1;
	}
	free(p);
	return rc;
}

static int put_symlink(struct build *b, const char *guest_path, const char *target)
{
	char *p = in_root(b, guest_path);
	int rc = mkdir_parent(p);

	if (rc == 0 && symlink(target, p) < 0 && errno != EEXIST) {
		err_set("cannot create symlink %s: %s", p, strerror(errno));
		rc = -1;
	}
	free(p);
	return rc;
}

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

/*
 * Run argv (argv[0] a full path) in cwd, or here when NULL. Its stderr goes
 * to the build log; its stdout too, unless out is given, which then receives
 * it as a string. Returns the exit status (0 is success, with err_set() for
 * anything else: what ran and the end of its output), or -1 if it did not run.
 */
static int run_argv(struct build *b, const char *cwd, char **out, char *const argv[])
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

/* run_argv with the arguments listed, NULL-terminated. */
static int run(struct build *b, const char *cwd, char **out, const char *prog, ...)
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
	return run_argv(b, cwd, out, (char *const *)argv);
}

/* The value of the first line that starts with key in text, newly allocated. */
static char *line_value(const char *text, const char *key)
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

/* ---- host programs ------------------------------------------------------------------ */

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

static int check_host(struct build *b)
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

/* The resolved path of a need the recipe listed. */
static const char *host(const struct build *b, const char *name)
{
	for (size_t i = 0; i < b->kind->nneeds; i++)
		if (!strcmp(b->kind->needs[i].name, name) && b->found[i])
			return b->found[i];
	die("image recipe %s uses %s without listing it", b->kind->name, name);
}

/* What the builder needs to know about an ELF file. */
struct elf_facts {
	bool dynamic;	/* names an interpreter: needs shared libraries */
	bool pvh;	/* has the Xen PVH entry note: QEMU can boot it as a kernel */
};

/* Walk the notes of one PT_NOTE segment, looking for Xen's PVH entry point. */
static bool notes_have_pvh(int fd, const Elf64_Phdr *ph)
{
	size_t len = ph->p_filesz > 65536 ? 65536 : (size_t)ph->p_filesz;
	char *buf = xmalloc(len);
	bool found = false;

	if (pread(fd, buf, len, (off_t)ph->p_offset) == (ssize_t)len) {
		for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= len; ) {
			Elf64_Nhdr nh;
			memcpy(&nh, buf + at, sizeof nh);
			const char *name = buf + at + sizeof nh;
			size_t next = at + sizeof nh + ((nh.n_namesz + 3) & ~3u) +
				      ((nh.n_descsz + 3) & ~3u);
			if (next > len)
				break;
			if (nh.n_namesz == 4 && !memcmp(name, "Xen", 4) &&
			    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY)
				found = true;
			at = next;
		}
	}
	free(buf);
	return found;
}

static int elf_inspect(const char *path, struct elf_facts *facts)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf64_Ehdr eh;
	int rc = -1;

	memset(facts, 0, sizeof *facts);
	if (fd < 0) {
		err_set("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64) {
		err_set("%s is not a 64-bit ELF file", path);
		goto out;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		off_t at = (off_t)eh.e_phoff + (off_t)i * eh.e_phentsize;
		if (pread(fd, &ph, sizeof ph, at) != sizeof ph) {
			err_set("%s: truncated ELF program headers", path);
			goto out;
		}
		if (ph.p_type == PT_INTERP)
			facts->dynamic = true;
		if (ph.p_type == PT_NOTE && notes_have_pvh(fd, &ph))
			facts->pvh = true;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/*
 * Copy the shared libraries a dynamic program needs (and the loader) into the
 * tree at the paths the host's loader resolves them to, which the guest's
 * loader also searches.
 */
static int copy_libraries(struct build *b, const char *program)
{
	char *out = NULL;
	int rc = 0;

	if (run(b, NULL, &out, host(b, "ldd"), program, NULL) != 0) {
		free(out);
		return -1;
	}
	for (char *line = out, *next; line && *line && rc == 0; line = next) {
		char *arrow, *lib, *end;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		arrow = strstr(line, "=> ");
		lib = arrow ? arrow + 3 : line;
		if (!strncmp(lib, "not found", 9)) {
			err_set("%s needs %.*s, which is not installed on this machine", program,
				(int)strcspn(line, " "), line);
			rc = -1;
			break;
		}
		if (lib[0] != '/')
			continue;	/* the vDSO: provided by the kernel */
		end = strstr(lib, " (");
		if (end)
			*end = '\0';
		char *dst = in_root(b, lib);
		struct stat st;
		if (!util_exists(dst)) {
			if (stat(lib, &st) < 0) {
				err_set("cannot read %s, needed by %s: %s", lib, program,
					strerror(errno));
				rc = -1;
			} else {
				rc = copy_file(lib, dst, st.st_mode & 0777);
			}
		}
		free(dst);
	}
	free(out);
	return rc;
}

/* Put a host program at guest_path, with its libraries. */
static int install_program(struct build *b, const char *src, const char *guest_path)
{
	char *dst = in_root(b, guest_path);
	struct elf_facts elf;
	int rc = elf_inspect(src, &elf);

	if (rc == 0)
		rc = copy_file(src, dst, 0755);
	if (rc == 0 && elf.dynamic)
		rc = copy_libraries(b, src);
	free(dst);
	return rc;
}

/* ---- the kernel --------------------------------------------------------------------- */

/*
 * Kernel modules the guest loads at boot: one group per line of
 * /etc/smolvm/modules, loaded in this order by the init. modprobe pulls in
 * dependencies from modules.dep, and the builder copies them too.
 */
static const char *const module_groups[] = {
	/* the network first: SSH needs it, so dropbear starts right after */
	"virtio_mmio virtio_net",
	/* disks, shared folders, overlays, vsock */
	"virtio_blk ext4 9pnet_virtio 9p overlay vmw_vsock_virtio_transport",
};

/* Resolve the meta package to the real kernel package, and fetch it into the cache. */
static int fetch_kernel(struct build *b)
{
	char *out = NULL, *dep, *cache = paths_cache_dir(), *version_file, *partial = NULL;
	int rc = -1;

	if (run(b, NULL, &out, host(b, "apt-cache"), "depends", KERNEL_META_PACKAGE, NULL) != 0) {
		err_set("cannot find %s in apt's package lists (%s): run `apt-get update`",
			KERNEL_META_PACKAGE, err_msg());
		goto out;
	}
	dep = line_value(out, "Depends: linux-image-");
	free(out);
	out = NULL;
	if (!dep) {
		err_set("apt-cache depends %s names no linux-image-* package", KERNEL_META_PACKAGE);
		goto out;
	}
	b->kernel_package = xasprintf("linux-image-%s", dep);
	free(dep);
	if (run(b, NULL, &out, host(b, "apt-cache"), "show", "--no-all-versions",
		b->kernel_package, NULL) != 0 ||
	    !(b->kernel_version = line_value(out, "Version:"))) {
		err_set("cannot find the version of %s in apt's package lists: run `apt-get update`",
			b->kernel_package);
		goto out;
	}
	/* apt names files with the epoch's ':' written as %3a */
	version_file = xstrdup(b->kernel_version);
	for (char *c = strchr(version_file, ':'); c; c = strchr(version_file, ':')) {
		char *tmp = xasprintf("%.*s%%3a%s", (int)(c - version_file), version_file, c + 1);
		free(version_file);
		version_file = tmp;
	}
	b->kernel_deb = xasprintf("%s/%s_%s_%s.deb", cache, b->kernel_package, version_file,
				  KERNEL_ARCH);
	free(version_file);
	if (util_exists(b->kernel_deb)) {
		note("%s %s (cached)", b->kernel_package, b->kernel_version);
		rc = 0;
		goto out;
	}
	/* Download into a private directory, so an interrupted download never sits in the cache. */
	partial = xasprintf("%s/partial.%d", cache, (int)getpid());
	if (util_rm_rf(partial) < 0 || util_mkdir_p(partial, 0755) < 0)
		goto out;
	char *spec = xasprintf("%s=%s", b->kernel_package, b->kernel_version);
	rc = run(b, partial, NULL, host(b, "apt-get"), "download", spec, NULL);
	free(spec);
	if (rc != 0) {
		err_set("cannot download %s %s (%s); check the network and apt's sources",
			b->kernel_package, b->kernel_version, err_msg());
		rc = -1;
		goto out;
	}
	DIR *d = opendir(partial);
	struct dirent *e;
	char *got = NULL;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, ".deb") && !got)
			got = xasprintf("%s/%s", partial, e->d_name);
	if (d)
		closedir(d);
	if (!got || rename(got, b->kernel_deb) < 0) {
		err_set("apt-get download left no %s package in %s", b->kernel_package, partial);
		rc = -1;
	} else {
		char size[32];
		fmt_size(file_size(b->kernel_deb), size, sizeof size);
		note("%s %s (downloaded, %s)", b->kernel_package, b->kernel_version, size);
	}
	free(got);
out:
	if (partial)
		util_rm_rf(partial);
	free(partial);
	free(out);
	free(cache);
	return rc;
}

/* The only directory in dir, e.g. the release in lib/modules/. */
static char *only_subdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *name = NULL;
	int count = 0;

	if (!d) {
		err_set("cannot open %s: %s", dir, strerror(errno));
		return NULL;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		count++;
		free(name);
		name = xstrdup(e->d_name);
	}
	closedir(d);
	if (count != 1) {
		err_set("expected one kernel release in %s, found %d", dir, count);
		free(name);
		return NULL;
	}
	return name;
}

/* A module's name as modprobe knows it: file name without .ko, '-' read as '_'. */
static void module_name(const char *path, char *out, size_t len)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strcspn(base, ".");

	snprintf(out, len, "%.*s", (int)n, base);
	for (char *c = out; *c; c++)
		if (*c == '-')
			*c = '_';
}

/* The modules.dep line of a module: "kernel/.../name.ko: dep.ko ...", or NULL. */
static char *dep_line(const char *deps, const char *name)
{
	for (const char *line = deps; *line; ) {
		size_t len = strcspn(line, "\n");
		size_t colon = strcspn(line, ":");
		char have[64];
		if (colon < len) {
			char *path = xasprintf("%.*s", (int)colon, line);
			module_name(path, have, sizeof have);
			free(path);
			if (!strcmp(have, name))
				return xasprintf("%.*s", (int)len, line);
		}
		line += len;
		if (*line)
			line++;
	}
	return NULL;
}

static bool json_has_string(cJSON *arr, const char *s)
{
	cJSON *it;

	cJSON_ArrayForEach(it, arr)
		if (!strcmp(it->valuestring, s))
			return true;
	return false;
}

/* Copy one module file (a path from modules.dep) unless it is there already. */
static int copy_module(struct build *b, const char *from_mods, const char *to_mods,
		       const char *path)
{
	char name[64];
	char *src, *dst;
	int rc;

	module_name(path, name, sizeof name);
	if (json_has_string(b->modules, name))
		return 0;
	cJSON_AddItemToArray(b->modules, cJSON_CreateString(name));
	src = xasprintf("%s/%s", from_mods, path);
	dst = xasprintf("%s/%s", to_mods, path);
	rc = copy_file(src, dst, 0644);
	free(src);
	free(dst);
	return rc;
}

/* Copy the modules a group needs (each one and everything modules.dep says it depends on). */
static int copy_module_group(struct build *b, const char *deps, const char *from_mods,
			     const char *to_mods, const char *group)
{
	char *names = xstrdup(group), *save = NULL;
	int rc = 0;

	for (char *n = strtok_r(names, " ", &save); n && rc == 0; n = strtok_r(NULL, " ", &save)) {
		char *line = dep_line(deps, n), *lsave = NULL;
		if (!line) {
			err_set("kernel package %s has no module %s", b->kernel_package, n);
			rc = -1;
			break;
		}
		/* "path: dep dep": the deps are listed last-loaded first; walk them
		 * backwards so the recorded list reads in load order */
		char *colon = strchr(line, ':'), *words[64];
		int nwords = 0;
		*colon = '\0';
		words[nwords++] = line;
		for (char *d = strtok_r(colon + 1, " ", &lsave); d && rc == 0;
		     d = strtok_r(NULL, " ", &lsave)) {
			if (nwords == (int)ARRAY_LEN(words)) {
				err_set("module %s has too many dependencies", n);
				rc = -1;
			} else {
				words[nwords++] = d;
			}
		}
		while (nwords > 0 && rc == 0)
			rc = copy_module(b, from_mods, to_mods, words[--nwords]);
		free(line);
	}
	free(names);
	return rc;
}

/*
 * Under TCG the kernel's own decompressor takes seconds (Debian's kernels
 * are xz-compressed), so the image holds the decompressed kernel when it is
 * an ELF with a PVH entry point, which QEMU boots directly. Anything else is
 * installed as the bzImage it is.
 */
static int install_vmlinuz(struct build *b, const char *bzimage)
{
	char *dst = xasprintf("%s/vmlinuz", b->work);
	char *xz = xasprintf("%s/vmlinux.xz", b->work), *elf = xasprintf("%s/vmlinux", b->work);
	const char *why = NULL;
	struct elf_facts facts;
	size_t len, start = 0;
	uint32_t off = 0, plen = 0;
	uint16_t proto = 0;
	char *img = util_read_file(bzimage, &len);
	int rc = -1;

	if (!img)
		goto out;
	/* x86 boot protocol: the payload sits after the setup sectors (0x1f1),
	 * at payload_offset (0x248), payload_length (0x24c) bytes long */
	if (len > 0x250 && !memcmp(img + 0x202, "HdrS", 4)) {
		memcpy(&proto, img + 0x206, 2);
		memcpy(&off, img + 0x248, 4);
		memcpy(&plen, img + 0x24c, 4);
		start = ((size_t)(img[0x1f1] ? (unsigned char)img[0x1f1] : 4) + 1) * 512 + off;
	}
	if (proto < 0x208 || start + plen > len || plen < 6)
		why = "not a bzImage with a payload";
	else if (memcmp(img + start, "\xfd" "7zXZ", 6))
		why = "its payload is not xz-compressed";
	if (!why) {
		if (util_write_atomic(xz, img + start, plen, 0644) < 0 ||
		    run(b, NULL, NULL, host(b, "xz"), "-d", "--single-stream", xz, NULL) != 0 ||
		    elf_inspect(elf, &facts) < 0)
			goto out;
		if (!facts.pvh)
			why = "the decompressed kernel has no PVH entry point";
	}
	if (why) {
		note("kernel: %s; the guest decompresses it at every boot", why);
		b->kernel_format = "bzImage";
		rc = copy_file(bzimage, dst, 0644);
	} else {
		b->kernel_format = "pvh-elf";
		rc = rename(elf, dst);
		if (rc < 0)
			err_set("cannot rename %s: %s", elf, strerror(errno));
	}
out:
	unlink(xz);
	unlink(elf);
	free(img);
	free(dst);
	free(xz);
	free(elf);
	return rc;
}

static int install_kernel(struct build *b)
{
	char *pkg = xasprintf("%s/kernel", b->work);
	char *mods_dir = xasprintf("%s/lib/modules", pkg);
	char *from = NULL, *to = NULL, *src = NULL, *dst = NULL, *deps = NULL, *text = NULL;
	int rc = -1;

	if (run(b, NULL, NULL, host(b, "dpkg-deb"), "-x", b->kernel_deb, pkg, NULL) != 0) {
		err_set("cannot unpack %s (%s); delete it to download it again", b->kernel_deb,
			err_msg());
		goto out;
	}
	if (!(b->kernel_release = only_subdir(mods_dir)))
		goto out;
	src = xasprintf("%s/boot/vmlinuz-%s", pkg, b->kernel_release);
	if (install_vmlinuz(b, src) < 0)
		goto out;
	/* The package ships no modules.dep (its postinst makes one), so make it here. */
	if (run(b, NULL, NULL, host(b, "depmod"), "-b", pkg, b->kernel_release, NULL) != 0)
		goto out;
	from = xasprintf("%s/%s", mods_dir, b->kernel_release);
	to = xasprintf("%s/lib/modules/%s", b->root, b->kernel_release);
	free(src);
	src = xasprintf("%s/modules.dep", from);
	if (!(deps = util_read_file(src, NULL)))
		goto out;
	b->modules = cJSON_CreateArray();
	for (size_t i = 0; i < ARRAY_LEN(module_groups); i++)
		if (copy_module_group(b, deps, from, to, module_groups[i]) < 0)
			goto out;
	/* depmod reads these to tell built-in modules from missing ones */
	static const char *const extra[] = {
		"modules.order", "modules.builtin", "modules.builtin.modinfo",
	};
	for (size_t i = 0; i < ARRAY_LEN(extra); i++) {
		free(src);
		free(dst);
		src = xasprintf("%s/%s", from, extra[i]);
		dst = xasprintf("%s/%s", to, extra[i]);
		if (util_exists(src) && copy_file(src, dst, 0644) < 0)
			goto out;
	}
	if (run(b, NULL, NULL, host(b, "depmod"), "-b", b->root, b->kernel_release, NULL) != 0)
		goto out;
	text = xstrdup("");
	for (size_t i = 0; i < ARRAY_LEN(module_groups); i++) {
		char *tmp = xasprintf("%s%s\n", text, module_groups[i]);
		free(text);
		text = tmp;
	}
	if (put_text(b, "/etc/smolvm/modules", 0644, text) < 0)
		goto out;
	note("kernel %s (%s), %d modules", b->kernel_release, b->kernel_format,
	     cJSON_GetArraySize(b->modules));
	rc = 0;
out:
	/* the unpacked package is 400 MB; drop it as soon as possible */
	util_rm_rf(pkg);
	free(pkg);
	free(mods_dir);
	free(from);
	free(to);
	free(src);
	free(dst);
	free(deps);
	free(text);
	return rc;
}

/* ---- programs ----------------------------------------------------------------------- */

static int install_busybox(struct build *b)
{
	char *out = NULL;
	int count = 0, rc;

	rc = install_program(b, host(b, "busybox"), "/bin/busybox");
	if (rc == 0)
		rc = run(b, NULL, &out, host(b, "busybox"), "--list-full", NULL) ? -1 : 0;
	for (char *line = out, *next; rc == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line || strstr(line, ".."))
			continue;
		char *guest = xasprintf("/%s", line);
		rc = put_symlink(b, guest, "/bin/busybox");
		free(guest);
		count++;
	}
	free(out);
	if (rc == 0)
		note("%d applets", count);
	return rc;
}

static int install_tiny_programs(struct build *b)
{
	if (install_program(b, host(b, "dropbear"), "/usr/sbin/dropbear") < 0 ||
	    install_program(b, host(b, SFTP_SERVER_SRC), "/usr/lib/sftp-server") < 0 ||
	    install_program(b, host(b, "curl"), "/usr/bin/curl") < 0)
		return -1;
	char *dst = in_root(b, CA_BUNDLE);
	int rc = copy_file(host(b, CA_BUNDLE), dst, 0644);
	free(dst);
	return rc;
}

/* ---- keys --------------------------------------------------------------------------- */

/* Both are per install, in $SMOLVM_HOME/keys/, each with a .pub next to it. */
#define USER_KEY "id_ed25519"		/* OpenSSH format, made by ssh-keygen */
#define HOST_KEY "guest_host_ed25519"	/* dropbear format, made by dropbearkey */

/* The first line of a file, without its newline. */
static char *read_line(const char *path)
{
	char *text = util_read_file(path, NULL);

	if (text)
		text[strcspn(text, "\r\n")] = '\0';
	return text;
}

/* A file in the keys directory, newly allocated. */
static char *key_file(const char *name, const char *suffix)
{
	char *dir = paths_keys_dir();
	char *p = xasprintf("%s/%s%s", dir, name, suffix);

	free(dir);
	return p;
}

/* The public line of a key pair in the keys directory, or NULL if either half is missing. */
static char *key_pub_line(const char *name)
{
	char *priv = key_file(name, ""), *pub = key_file(name, ".pub");
	char *line = util_exists(priv) ? read_line(pub) : NULL;

	free(priv);
	free(pub);
	return line;
}

static int make_keys_dir(void)
{
	char *dir = paths_keys_dir();
	int rc = util_mkdir_p(dir, 0700);

	free(dir);
	return rc;
}

/*
 * The per-install user key: made once, reused by every image, so sandboxes
 * from an older image still accept it.
 */
static int ensure_user_key(struct build *b)
{
	char *priv = key_file(USER_KEY, ""), *pub = key_file(USER_KEY, ".pub");
	char *out = NULL;
	int rc = -1;

	if (make_keys_dir() < 0)
		goto out;
	if (!util_exists(priv)) {
		if (run(b, NULL, NULL, host(b, "ssh-keygen"), "-q", "-t", "ed25519", "-N", "",
			"-C", "smolvm", "-f", priv, NULL) != 0)
			goto out;
		note("made the SSH user key %s", priv);
	} else if (!util_exists(pub)) {
		if (run(b, NULL, &out, host(b, "ssh-keygen"), "-y", "-f", priv, NULL) != 0 ||
		    util_write_atomic(pub, out, strlen(out), 0644) < 0)
			goto out;
	}
	if (chmod(priv, 0600) < 0) {
		err_set("cannot chmod %s: %s", priv, strerror(errno));
		goto out;
	}
	if (!(b->user_pub = read_line(pub)))
		goto out;
	rc = 0;
out:
	free(out);
	free(priv);
	free(pub);
	return rc;
}

/*
 * The per-install guest host key: made once and copied into every image, so
 * a rebuild keeps the key that running sandboxes hold in RAM and that
 * host_ed25519.pub pins. It is made under a private name and linked into
 * place, so a killed build never leaves half a key and two builds at once
 * agree on one.
 */
static int ensure_host_key(struct build *b, const char *priv)
{
	char *pub = key_file(HOST_KEY, ".pub");
	char *tmp = xasprintf("%s.%d", priv, (int)getpid());
	char *out = NULL, *old = NULL, *line = NULL, *v;
	int rc = -1;

	if (make_keys_dir() < 0)
		goto out;
	if (!util_exists(priv)) {
		unlink(tmp);
		if (run(b, NULL, NULL, host(b, "dropbearkey"), "-t", "ed25519", "-f", tmp,
			NULL) != 0)
			goto out;
		if (chmod(tmp, 0600) < 0 || (link(tmp, priv) < 0 && errno != EEXIST)) {
			err_set("cannot put the guest host key at %s: %s", priv, strerror(errno));
			goto out;
		}
		note("made the guest SSH host key %s", priv);
	}
	if (chmod(priv, 0600) < 0) {
		err_set("cannot chmod %s: %s", priv, strerror(errno));
		goto out;
	}
	if (run(b, NULL, &out, host(b, "dropbearkey"), "-y", "-f", priv, NULL) != 0)
		goto out;
	/* "ssh-ed25519 AAAA... comment": keep type and key, drop the build host's name */
	if (!(v = line_value(out, "ssh-ed25519 "))) {
		err_set("dropbearkey -y printed no ssh-ed25519 key for %s", priv);
		goto out;
	}
	v[strcspn(v, " ")] = '\0';
	b->host_pub = xasprintf("ssh-ed25519 %s", v);
	free(v);
	old = read_line(pub);
	line = xasprintf("%s\n", b->host_pub);
	rc = old && !strcmp(old, b->host_pub) ? 0 :
		util_write_atomic(pub, line, strlen(line), 0644);
out:
	unlink(tmp);
	free(pub);
	free(tmp);
	free(out);
	free(old);
	free(line);
	return rc;
}

static int install_keys(struct build *b)
{
	char *priv = key_file(HOST_KEY, ""), *key = in_root(b, HOST_KEY_PATH);
	char *line = NULL, *pub_path = xasprintf("%s/host_ed25519.pub", b->work);
	char *auth = NULL;
	int rc = -1;

	if (ensure_host_key(b, priv) < 0 || copy_file(priv, key, 0600) < 0)
		goto out;
	line = xasprintf("%s\n", b->host_pub);
	if (util_write_atomic(pub_path, line, strlen(line), 0644) < 0 || ensure_user_key(b) < 0)
		goto out;
	auth = xasprintf("%s\n", b->user_pub);
	if (put_dir(b, "/root", 0700) < 0 || put_dir(b, "/root/.ssh", 0700) < 0 ||
	    put_text(b, "/root/.ssh/authorized_keys", 0600, auth) < 0)
		goto out;
	rc = 0;
out:
	free(priv);
	free(key);
	free(line);
	free(pub_path);
	free(auth);
	return rc;
}

/* ---- /etc, /init and the initrd ----------------------------------------------------- */

static const char etc_passwd[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
static const char etc_shadow[] =
	"root:*:19000:0:99999:7:::\n"
	"nobody:*:19000:0:99999:7:::\n";
static const char etc_group[] =
	"root:x:0:\n"
	"tty:x:5:\n"
	"nogroup:x:65534:\n";
static const char etc_profile[] =
	"export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	"export HOME=/root\n"
	"export LANG=C.UTF-8\n"
	"PS1='\\u@\\h:\\w\\$ '\n";
static const char etc_hosts[] =
	"127.0.0.1\tlocalhost\n"
	"::1\tlocalhost ip6-localhost ip6-loopback\n";
/* busybox init only reaps orphans and carries out poweroff/reboot: /init did the booting. */
static const char etc_inittab[] =
	"::shutdown:/bin/sync\n";

static int install_config(struct build *b)
{
	static const struct { const char *path; mode_t mode; } dirs[] = {
		{ "/dev", 0755 }, { "/proc", 0555 }, { "/sys", 0555 }, { "/run", 0755 },
		{ "/tmp", 01777 }, { "/var/tmp", 01777 }, { "/var/log", 0755 }, { "/mnt", 0755 },
		{ "/home", 0755 }, { "/root", 0700 },
	};
	static const struct { const char *path; mode_t mode; const char *text; } files[] = {
		{ "/etc/passwd", 0644, etc_passwd },
		{ "/etc/shadow", 0600, etc_shadow },
		{ "/etc/group", 0644, etc_group },
		{ "/etc/profile", 0644, etc_profile },
		{ "/etc/hosts", 0644, etc_hosts },
		{ "/etc/shells", 0644, "/bin/sh\n/bin/ash\n" },
		{ "/etc/inittab", 0644, etc_inittab },
	};
	char *init;
	int rc;

	for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
		if (put_dir(b, dirs[i].path, dirs[i].mode) < 0)
			return -1;
	for (size_t i = 0; i < ARRAY_LEN(files); i++)
		if (put_text(b, files[i].path, files[i].mode, files[i].text) < 0)
			return -1;
	if (put_symlink(b, "/var/run", "../run") < 0)
		return -1;
	init = in_root(b, "/init");
	rc = copy_file(b->init_path, init, 0755);
	free(init);
	return rc;
}

static int pack_initrd(struct build *b)
{
	char *path = xasprintf("%s/initrd.img", b->work);
	struct cpio *c = cpio_create(path, b->built);
	int64_t size;
	char sz[32];
	int rc = -1;

	if (!c)
		goto out;
	/* The kernel opens /dev/console for /init before anything mounts devtmpfs. */
	if (cpio_add_tree(c, b->root) < 0 || cpio_add_chardev(c, "dev/console", 0600, 5, 1) < 0) {
		cpio_abort(c);
		goto out;
	}
	if ((size = cpio_finish(c)) < 0)
		goto out;
	fmt_size(size, sz, sizeof sz);
	note("initrd.img %s (uncompressed newc)", sz);
	rc = util_rm_rf(b->root);
out:
	free(path);
	return rc;
}

/* ---- kinds -------------------------------------------------------------------------- */

static const struct host_need tiny_needs[] = {
	{ "apt-cache", "apt", false },
	{ "apt-get", "apt", false },
	{ "dpkg-deb", "dpkg", false },
	{ "dpkg-query", "dpkg", false },
	{ "depmod", "kmod", false },
	{ "xz", "xz-utils", false },
	{ "ldd", "libc-bin", false },
	{ "ssh-keygen", "openssh-client", false },
	{ "dropbearkey", "dropbear-bin", false },
	{ "busybox", "busybox-static", true },
	{ "dropbear", "dropbear-bin", true },
	{ SFTP_SERVER_SRC, "openssh-sftp-server", true },
	{ "curl", "curl", true },
	{ CA_BUNDLE, "ca-certificates", true },
};

static const struct step tiny_steps[] = {
	{ "checking the host's tools", check_host },
	{ "fetching the kernel package", fetch_kernel },
	{ "extracting the kernel and its modules", install_kernel },
	{ "installing busybox", install_busybox },
	{ "copying dropbear, sftp-server, curl and their libraries", install_tiny_programs },
	{ "installing the SSH host key and authorising the user key", install_keys },
	{ "writing /etc and /init", install_config },
	{ "packing the initrd", pack_initrd },
};

static const struct image_kind kinds[] = {
	{
		.name = "tiny",
		.recipe = "tiny/1",
		.needs = tiny_needs, .nneeds = ARRAY_LEN(tiny_needs),
		.steps = tiny_steps, .nsteps = ARRAY_LEN(tiny_steps),
	},
};

static const struct image_kind *find_kind(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

bool image_kind_known(const char *kind)
{
	return find_kind(kind) != NULL;
}

/* ---- finding images ----------------------------------------------------------------- */

static const char *const image_files[] = {
	"vmlinuz", "initrd.img", "host_ed25519.pub", "manifest.json",
};

char *image_file(const char *kind, const char *name)
{
	return xasprintf("%s/images/%s/%s", paths_home(), kind, name);
}

bool image_exists(const char *kind)
{
	for (size_t i = 0; i < ARRAY_LEN(image_files); i++) {
		char *p = image_file(kind, image_files[i]);
		bool ok = util_exists(p);
		free(p);
		if (!ok)
			return false;
	}
	return true;
}

int image_require(const char *kind)
{
	char *key = key_file(USER_KEY, "");
	int rc = -1;

	if (!image_kind_known(kind))
		err_set("unknown image kind '%s' (this smolvm builds: tiny)", kind);
	else if (!image_exists(kind))
		err_set("no image '%s' yet: run `smolvm image build%s%s` first", kind,
			strcmp(kind, IMAGE_DEFAULT_KIND) ? " --kind " : "",
			strcmp(kind, IMAGE_DEFAULT_KIND) ? kind : "");
	else if (!util_exists(key))
		err_set("the SSH user key %s is missing: run `smolvm image build` to make a new "
			"one", key);
	else
		rc = 0;
	free(key);
	return rc;
}

static cJSON *read_manifest(const char *kind)
{
	char *path = image_file(kind, "manifest.json");
	char *text = util_read_file(path, NULL);
	cJSON *m = text ? cJSON_Parse(text) : NULL;

	if (text && !m)
		err_set("%s is not valid JSON", path);
	free(text);
	free(path);
	return m;
}

static const char *json_str(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static int64_t json_int(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

int image_list(struct image_info **out, size_t *n)
{
	char *dir = xasprintf("%s/images", paths_home());
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!d) {
		free(dir);
		if (errno == ENOENT)
			return 0;
		err_set("cannot open %s/images: %s", paths_home(), strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		cJSON *m, *k;
		struct image_info *info;

		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof info->kind ||
		    !image_exists(e->d_name) || !(m = read_manifest(e->d_name)))
			continue;
		if (*n == cap)
			*out = xrealloc(*out, (cap = cap ? cap * 2 : 4) * sizeof **out);
		info = &(*out)[(*n)++];
		memset(info, 0, sizeof *info);
		memcpy(info->kind, e->d_name, strlen(e->d_name) + 1);
		info->built = json_int(m, "built");
		k = cJSON_GetObjectItemCaseSensitive(m, "kernel");
		snprintf(info->kernel, sizeof info->kernel, "%s", json_str(k, "release"));
		snprintf(info->kernel_package, sizeof info->kernel_package, "%s %s",
			 json_str(k, "package"), json_str(k, "version"));
		for (int i = 0; i < 2; i++) {
			char *p = image_file(e->d_name, image_files[i]);
			int64_t s = file_size(p);
			info->size += s > 0 ? s : 0;
			free(p);
		}
		cJSON_Delete(m);
	}
	closedir(d);
	free(dir);
	for (size_t i = 1; i < *n; i++)	/* a handful of kinds: insertion sort */
		for (size_t j = i; j > 0 && strcmp((*out)[j - 1].kind, (*out)[j].kind) > 0; j--) {
			struct image_info t = (*out)[j];
			(*out)[j] = (*out)[j - 1];
			(*out)[j - 1] = t;
		}
	return 0;
}

/* ---- building ----------------------------------------------------------------------- */

/* NULL if the built image is current, else why it needs building. */
static const char *why_build(struct build *b)
{
	const struct image_kind *k = b->kind;
	cJSON *m;
	char *user, *host_key;
	const char *why = NULL;

	if (!image_exists(k->name) || !(m = read_manifest(k->name)))
		return "no image yet";
	user = key_pub_line(USER_KEY);
	host_key = key_pub_line(HOST_KEY);
	if (strcmp(json_str(m, "recipe"), k->recipe))
		why = "it was built by another recipe version";
	else if (strcmp(json_str(m, "init_fnv1a64"), b->init_sum))
		why = "the guest init changed";
	else if (!user || strcmp(json_str(m, "user_key"), user))
		why = "the SSH user key changed";
	else if (!host_key || strcmp(json_str(m, "host_key"), host_key))
		why = "the guest SSH host key changed";
	b->built = json_int(m, "built");
	cJSON_Delete(m);
	free(user);
	free(host_key);
	return why;
}

static int write_manifest(struct build *b)
{
	cJSON *m = cJSON_CreateObject(), *k, *inputs, *files;
	char *out = NULL, *path, *text;
	const char *argv[32];
	int argc = 0, rc;

	cJSON_AddStringToObject(m, "kind", b->kind->name);
	cJSON_AddStringToObject(m, "recipe", b->kind->recipe);
	cJSON_AddNumberToObject(m, "built", (double)b->built);
	k = cJSON_AddObjectToObject(m, "kernel");
	cJSON_AddStringToObject(k, "package", b->kernel_package);
	cJSON_AddStringToObject(k, "version", b->kernel_version);
	cJSON_AddStringToObject(k, "release", b->kernel_release);
	cJSON_AddStringToObject(k, "format", b->kernel_format);
	cJSON_AddItemToObject(m, "modules", b->modules);
	b->modules = NULL;

	/* the host packages whose files went in, with their versions */
	argv[argc++] = host(b, "dpkg-query");
	argv[argc++] = "-W";
	argv[argc++] = "-f=${Package} ${Version}\\n";
	for (size_t i = 0; i < b->kind->nneeds && argc < (int)ARRAY_LEN(argv) - 1; i++)
		if (b->kind->needs[i].copied)
			argv[argc++] = b->kind->needs[i].package;
	argv[argc] = NULL;
	inputs = cJSON_AddArrayToObject(m, "inputs");
	run_argv(b, NULL, &out, (char *const *)argv);	/* not installed as a package: left out */
	for (char *line = out, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *sp = strchr(line, ' ');
		if (!sp || !sp[1])
			continue;
		*sp = '\0';
		cJSON *in = cJSON_CreateObject();
		cJSON_AddStringToObject(in, "package", line);
		cJSON_AddStringToObject(in, "version", sp + 1);
		cJSON_AddItemToArray(inputs, in);
	}
	free(out);
	cJSON_AddStringToObject(m, "init_fnv1a64", b->init_sum);
	cJSON_AddStringToObject(m, "user_key", b->user_pub);
	cJSON_AddStringToObject(m, "host_key", b->host_pub);
	files = cJSON_AddObjectToObject(m, "sizes");
	for (size_t i = 0; i < 2; i++) {
		char *p = xasprintf("%s/%s", b->work, image_files[i]);
		cJSON_AddNumberToObject(files, image_files[i], (double)file_size(p));
		free(p);
	}
	text = cJSON_Print(m);
	path = xasprintf("%s/manifest.json", b->work);
	rc = util_write_atomic(path, text, strlen(text), 0644);
	free(path);
	free(text);
	cJSON_Delete(m);
	return rc;
}

/* Put the finished work directory in place of the image, in one step. */
static int swap_in(struct build *b)
{
	if (!util_exists(b->dir)) {
		if (rename(b->work, b->dir) == 0)
			return 0;
	} else if (renameat2(AT_FDCWD, b->work, AT_FDCWD, b->dir, RENAME_EXCHANGE) == 0) {
		return util_rm_rf(b->work);	/* now the old image */
	}
	err_set("cannot move the new image from %s to %s: %s", b->work, b->dir, strerror(errno));
	return -1;
}

/* Remove work directories left by builds that crashed (we hold the lock). */
static void remove_stale(const char *images, const char *kind)
{
	char *prefix = xasprintf(".%s.build-", kind);
	DIR *d = opendir(images);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		char *p = xasprintf("%s/%s", images, e->d_name);
		util_rm_rf(p);
		free(p);
	}
	if (d)
		closedir(d);
	free(prefix);
}

static int lock_images(const char *images, const char *kind)
{
	char *path = xasprintf("%s/.%s.lock", images, kind);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		err_set("cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "waiting for another build of image %s to finish\n", kind);
		if (flock(fd, LOCK_EX) < 0) {
			err_set("cannot lock %s: %s", path, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	free(path);
	return fd;
}

static int run_steps(struct build *b)
{
	for (size_t i = 0; i < b->kind->nsteps; i++) {
		fprintf(stderr, "[%zu/%zu] %s\n", i + 1, b->kind->nsteps, b->kind->steps[i].what);
		if (b->kind->steps[i].run(b) < 0)
			return -1;
	}
	return 0;
}

static void build_free(struct build *b)
{
	for (size_t i = 0; b->found && i < b->kind->nneeds; i++)
		free(b->found[i]);
	free(b->found);
	free(b->dir);
	free(b->work);
	free(b->root);
	free(b->init_path);
	free(b->kernel_package);
	free(b->kernel_version);
	free(b->kernel_release);
	free(b->kernel_deb);
	free(b->user_pub);
	free(b->host_pub);
	cJSON_Delete(b->modules);
	if (b->log_fd >= 0)
		close(b->log_fd);
}

int image_build(const char *kind_name, bool force)
{
	const struct image_kind *kind = find_kind(kind_name);
	struct build b = { .kind = kind, .log_fd = -1 };
	const char *data = paths_data_dir(), *why;
	char *images = xasprintf("%s/images", paths_home()), *init = NULL, *log = NULL;
	int64_t t0 = util_now_ms();
	mode_t old_umask = umask(022);
	size_t init_len;
	int lock = -1, rc = -1;
	char when[32];

	if (!kind) {
		err_set("unknown image kind '%s' (this smolvm builds: tiny)", kind_name);
		goto out;
	}
	b.dir = paths_image_dir(kind->name);
	if (!data)
		goto out;
	b.init_path = xasprintf("%s/fs/guest/init", data);
	if (!(init = util_read_file(b.init_path, &init_len)))
		goto out;
	fnv1a64_hex(init, init_len, b.init_sum);
	if (util_mkdir_p(images, 0755) < 0 || (lock = lock_images(images, kind->name)) < 0)
		goto out;
	why = why_build(&b);
	if (!why && !force) {
		fmt_time(b.built, when, sizeof when);
		fprintf(stderr, "image %s is up to date (built %s); use --force to rebuild\n",
			kind->name, when);
		rc = 0;
		goto out;
	}
	fprintf(stderr, "building image %s (%s)\n", kind->name, why ? why : "--force");
	remove_stale(images, kind->name);
	b.built = util_wall_s();
	b.work = xasprintf("%s/.%s.build-%d", images, kind->name, (int)getpid());
	b.root = xasprintf("%s/root", b.work);
	b.found = xcalloc(kind->nneeds, sizeof *b.found);
	log = xasprintf("%s/build.log", b.work);
	if (util_mkdir_p(b.root, 0755) < 0)
		goto out;
	b.log_fd = open(log, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (b.log_fd < 0) {
		err_set("cannot create %s: %s", log, strerror(errno));
		goto out;
	}
	if (run_steps(&b) < 0 || write_manifest(&b) < 0 || swap_in(&b) < 0)
		goto out;
	rc = 0;
	char k[32], i[32];
	char *kp = image_file(kind->name, "vmlinuz"), *ip = image_file(kind->name, "initrd.img");
	fmt_size(file_size(kp), k, sizeof k);
	fmt_size(file_size(ip), i, sizeof i);
	fprintf(stderr, "built image %s in %.1fs: %s (vmlinuz %s, initrd.img %s)\n", kind->name,
		(double)(util_now_ms() - t0) / 1000, b.dir, k, i);
	free(kp);
	free(ip);
out:
	if (rc < 0 && b.work)
		util_rm_rf(b.work);
	if (lock >= 0)
		close(lock);
	umask(old_umask);
	build_free(&b);
	free(images);
	free(init);
	free(log);
	return rc;
}
