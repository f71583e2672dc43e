#include "fs/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "fs/image_build.h"
#include "fs/image_kernel.h"
#include "fs/image_keys.h"
#include "fs/image_root.h"
#include "net/ca.h"

/*
 * The public side of images: the kinds this smolvm builds (each a recipe of
 * steps from image_kernel, image_keys and image_root), finding built images
 * and their manifests, and running a build: the lock, the up-to-date check,
 * the steps in a work directory, and the swap into place.
 */

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

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* ---- kinds -------------------------------------------------------------------------- */

static const struct host_need tiny_needs[] = {
	{ "apt-cache", "apt", false },
	{ "apt-get", "apt", false },
	{ "dpkg-deb", "dpkg", false },
	{ "dpkg-query", "dpkg", false },
	{ "depmod", "kmod", false },
	{ "xz", "xz-utils", false },
	{ "mke2fs", "e2fsprogs", false },
	{ "debugfs", "e2fsprogs", false },
	{ "ldd", "libc-bin", false },
	{ "ssh-keygen", "openssh-client", false },
	{ "dropbearkey", "dropbear-bin", false },
	{ "busybox", "busybox-static", true },
	{ "dropbear", "dropbear-bin", true },
	{ IMAGE_ROOT_SFTP_SERVER, "openssh-sftp-server", true },
	{ "curl", "curl", true },
	{ IMAGE_ROOT_CA_BUNDLE, "ca-certificates", true },
};

static const struct step tiny_steps[] = {
	{ "checking the host's tools", image_build_check_host },
	{ "fetching the kernel package", image_kernel_fetch },
	{ "extracting the kernel and its modules", image_kernel_install },
	{ "installing busybox", image_root_install_busybox },
	{ "copying dropbear, sftp-server, curl and their libraries", image_root_install_programs },
	{ "installing the SSH host key and authorising the user key", image_keys_install },
	{ "writing /etc and /init", image_root_install_config },
	{ "packing the initrd", image_root_pack_initrd },
	{ "making root.img", image_root_make_disk },
};

static const struct image_kind kinds[] = {
	{
		.name = "tiny",
		.recipe = "tiny/2",
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

/* The first three are what a sandbox boots; their sizes are the image's size. */
#define IMAGE_BOOT_FILES 3
static const char *const image_files[] = {
	"vmlinuz", "initrd.img", "root.img", "host_ed25519.pub", "manifest.json",
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
	char *key = image_keys_file(IMAGE_KEYS_USER, "");
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
		for (int i = 0; i < IMAGE_BOOT_FILES; i++) {
			char *p = image_file(e->d_name, image_files[i]);
			int64_t s = image_build_file_size(p);
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
	char *user, *host_key, *ca;
	const char *why = NULL;

	if (!image_exists(k->name) || !(m = read_manifest(k->name)))
		return "no image yet";
	user = image_keys_pub_line(IMAGE_KEYS_USER);
	host_key = image_keys_pub_line(IMAGE_KEYS_HOST);
	ca = ca_current_fingerprint();
	if (strcmp(json_str(m, "recipe"), k->recipe))
		why = "it was built by another recipe version";
	else if (strcmp(json_str(m, "init_fnv1a64"), b->init_sum))
		why = "the guest init changed";
	else if (!user || strcmp(json_str(m, "user_key"), user))
		why = "the SSH user key changed";
	else if (!host_key || strcmp(json_str(m, "host_key"), host_key))
		why = "the guest SSH host key changed";
	else if (!ca || strcmp(json_str(m, "proxy_ca"), ca))
		why = "the egress proxy's CA changed";
	b->built = json_int(m, "built");
	cJSON_Delete(m);
	free(user);
	free(host_key);
	free(ca);
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
	argv[argc++] = image_build_host(b, "dpkg-query");
	argv[argc++] = "-W";
	argv[argc++] = "-f=${Package} ${Version}\\n";
	for (size_t i = 0; i < b->kind->nneeds && argc < (int)ARRAY_LEN(argv) - 1; i++)
		if (b->kind->needs[i].copied)
			argv[argc++] = b->kind->needs[i].package;
	argv[argc] = NULL;
	inputs = cJSON_AddArrayToObject(m, "inputs");
	/* a need not installed as a package is left out */
	image_build_run_argv(b, NULL, &out, (char *const *)argv);
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
	cJSON_AddStringToObject(m, "proxy_ca", b->proxy_ca);
	files = cJSON_AddObjectToObject(m, "sizes");
	for (size_t i = 0; i < IMAGE_BOOT_FILES; i++) {
		char *p = xasprintf("%s/%s", b->work, image_files[i]);
		cJSON_AddNumberToObject(files, image_files[i], (double)image_build_file_size(p));
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
	free(b->initrd_root);
	free(b->init_path);
	free(b->boot_path);
	free(b->kernel_package);
	free(b->kernel_version);
	free(b->kernel_release);
	free(b->kernel_deb);
	free(b->user_pub);
	free(b->host_pub);
	free(b->proxy_ca);
	cJSON_Delete(b->modules);
	if (b->log_fd >= 0)
		close(b->log_fd);
}

int image_build(const char *kind_name, bool force)
{
	const struct image_kind *kind = find_kind(kind_name);
	struct build b = { .kind = kind, .log_fd = -1 };
	const char *data = paths_data_dir(), *why;
	char *images = xasprintf("%s/images", paths_home()), *init = NULL, *boot = NULL, *both;
	char *log = NULL;
	int64_t t0 = util_now_ms();
	mode_t old_umask = umask(022);
	size_t init_len, boot_len;
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
	b.boot_path = xasprintf("%s/fs/guest/boot", data);
	if (!(init = util_read_file(b.init_path, &init_len)) ||
	    !(boot = util_read_file(b.boot_path, &boot_len)))
		goto out;
	both = xmalloc(init_len + boot_len);
	memcpy(both, init, init_len);
	memcpy(both + init_len, boot, boot_len);
	fnv1a64_hex(both, init_len + boot_len, b.init_sum);
	free(both);
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
	b.initrd_root = xasprintf("%s/initrd", b.work);
	b.found = xcalloc(kind->nneeds, sizeof *b.found);
	log = xasprintf("%s/build.log", b.work);
	if (util_mkdir_p(b.root, 0755) < 0 || util_mkdir_p(b.initrd_root, 0755) < 0)
		goto out;
	b.log_fd = open(log, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (b.log_fd < 0) {
		err_set("cannot create %s: %s", log, strerror(errno));
		goto out;
	}
	if (run_steps(&b) < 0 || write_manifest(&b) < 0 || swap_in(&b) < 0)
		goto out;
	rc = 0;
	char sizes[IMAGE_BOOT_FILES][32];
	for (int i = 0; i < IMAGE_BOOT_FILES; i++) {
		char *p = image_file(kind->name, image_files[i]);
		image_build_fmt_size(image_build_file_size(p), sizes[i], sizeof sizes[i]);
		free(p);
	}
	fprintf(stderr, "built image %s in %.1fs: %s (vmlinuz %s, initrd.img %s, root.img %s)\n",
		kind->name, (double)(util_now_ms() - t0) / 1000, b.dir, sizes[0], sizes[1],
		sizes[2]);
out:
	if (rc < 0 && b.work)
		util_rm_rf(b.work);
	if (lock >= 0)
		close(lock);
	umask(old_umask);
	build_free(&b);
	free(images);
	free(init);
	free(boot);
	free(log);
	return rc;
}

