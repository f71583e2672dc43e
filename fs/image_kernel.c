#include "fs/image_kernel.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "fs/image_elf.h"

#define KERNEL_META_PACKAGE "linux-image-amd64"
#define KERNEL_ARCH "amd64"

/*
 * Kernel modules the guest loads at boot: one group per line of
 * /etc/smolvm/modules, loaded in this order by the init. modprobe pulls in
 * dependencies from modules.dep, and the builder copies them too.
 */
static const char *const module_groups[] = {
	/* the network first: SSH needs it, so dropbear starts right after */
	"virtio_mmio virtio_net",
	/* vsock (the disks and overlayfs are loaded by the initrd) */
	"virtio_blk ext4 overlay vmw_vsock_virtio_transport",
	/* Not loaded at boot (the init reads the first two lines): the 9p share,
	 * loaded by the first `smolvm s3 mount` (backend/s3.c). */
	"9pnet_virtio 9p",
};

/* What the initrd loads to mount the root: the disks, ext4 (with the crc32c that its
 * checksums need, which modules.dep does not list) and overlayfs. It gets only these. */
static const char initrd_modules[] = "virtio_mmio virtio_blk crc32c_generic ext4 overlay";

/* Resolve the meta package to the real kernel package, and fetch it into the cache. */
int image_kernel_fetch(struct build *b)
{
	const char *apt_cache = image_build_host(b, "apt-cache");
	char *out = NULL, *dep, *cache = paths_cache_dir(), *version_file, *partial = NULL;
	int rc = -1;

	if (image_build_run(b, NULL, &out, apt_cache, "depends", KERNEL_META_PACKAGE, NULL) != 0) {
		err_set("cannot find %s in apt's package lists (%s): run `apt-get update`",
			KERNEL_META_PACKAGE, err_msg());
		goto out;
	}
	dep = image_build_line_value(out, "Depends: linux-image-");
	free(out);
	out = NULL;
	if (!dep) {
		err_set("apt-cache depends %s names no linux-image-* package", KERNEL_META_PACKAGE);
		goto out;
	}
	b->kernel_package = xasprintf("linux-image-%s", dep);
	free(dep);
	if (image_build_run(b, NULL, &out, apt_cache, "show", "--no-all-versions",
			    b->kernel_package, NULL) != 0 ||
	    !(b->kernel_version = image_build_line_value(out, "Version:"))) {
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
		image_build_note("%s %s (cached)", b->kernel_package, b->kernel_version);
		rc = 0;
		goto out;
	}
	/* Download into a private directory, so an interrupted download never sits in the cache. */
	partial = xasprintf("%s/partial.%d", cache, (int)getpid());
	if (util_rm_rf(partial) < 0 || util_mkdir_p(partial, 0755) < 0)
		goto out;
	char *spec = xasprintf("%s=%s", b->kernel_package, b->kernel_version);
	rc = image_build_run(b, partial, NULL, image_build_host(b, "apt-get"), "download", spec,
			     NULL);
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
		image_build_fmt_size(image_build_file_size(b->kernel_deb), size, sizeof size);
		image_build_note("%s %s (downloaded, %s)", b->kernel_package, b->kernel_version,
				 size);
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

/* Copy one module file (a path from modules.dep) unless copied already (its name in copied). */
static int copy_module(cJSON *copied, const char *from_mods, const char *to_mods,
		       const char *path)
{
	char name[64];
	char *src, *dst;
	int rc;

	module_name(path, name, sizeof name);
	if (json_has_string(copied, name))
		return 0;
	cJSON_AddItemToArray(copied, cJSON_CreateString(name));
	src = xasprintf("%s/%s", from_mods, path);
	dst = xasprintf("%s/%s", to_mods, path);
	rc = image_build_copy_file(src, dst, 0644);
	free(src);
	free(dst);
	return rc;
}

/* Copy the modules a group needs (each one and everything modules.dep says it depends on). */
static int copy_module_group(struct build *b, cJSON *copied, const char *deps,
			     const char *from_mods, const char *to_mods, const char *group)
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
			rc = copy_module(copied, from_mods, to_mods, words[--nwords]);
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
	struct image_elf_facts facts;
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
		    image_build_run(b, NULL, NULL, image_build_host(b, "xz"), "-d",
				    "--single-stream", xz, NULL) != 0 ||
		    image_elf_inspect(elf, &facts) < 0)
			goto out;
		if (!facts.pvh)
			why = "the decompressed kernel has no PVH entry point";
	}
	if (why) {
		image_build_note("kernel: %s; the guest decompresses it at every boot", why);
		b->kernel_format = "bzImage";
		rc = image_build_copy_file(bzimage, dst, 0644);
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

/*
 * Put the modules of groups (one line each of tree/etc/smolvm/modules, in load
 * order) with their dependencies into tree/lib/modules/<release>, and make
 * its modules.dep. copied collects the names of the modules put in.
 */
static int install_modules(struct build *b, const char *deps, const char *from,
			   const char *tree, const char *const *groups, size_t ngroups,
			   cJSON *copied)
{
	/* depmod reads these to tell built-in modules from missing ones */
	static const char *const extra[] = {
		"modules.order", "modules.builtin", "modules.builtin.modinfo",
	};
	char *to = xasprintf("%s/lib/modules/%s", tree, b->kernel_release);
	char *list = xasprintf("%s/etc/smolvm/modules", tree);
	char *text = xstrdup(""), *etc = xasprintf("%s/etc/smolvm", tree);
	int rc = 0;

	for (size_t i = 0; i < ngroups && rc == 0; i++) {
		char *tmp = xasprintf("%s%s\n", text, groups[i]);
		free(text);
		text = tmp;
		rc = copy_module_group(b, copied, deps, from, to, groups[i]);
	}
	for (size_t i = 0; i < ARRAY_LEN(extra) && rc == 0; i++) {
		char *src = xasprintf("%s/%s", from, extra[i]);
		char *dst = xasprintf("%s/%s", to, extra[i]);
		if (util_exists(src))
			rc = image_build_copy_file(src, dst, 0644);
		free(src);
		free(dst);
	}
	if (rc == 0)
		rc = image_build_run(b, NULL, NULL, image_build_host(b, "depmod"), "-b", tree,
				     b->kernel_release, NULL) ? -1 : 0;
	if (rc == 0)
		rc = util_mkdir_p(etc, 0755);
	if (rc == 0)
		rc = util_write_atomic(list, text, strlen(text), 0644);
	free(etc);
	free(text);
	free(list);
	free(to);
	return rc;
}

int image_kernel_install(struct build *b)
{
	static const char *const initrd_groups[] = { initrd_modules };
	char *pkg = xasprintf("%s/kernel", b->work);
	char *mods_dir = xasprintf("%s/lib/modules", pkg);
	char *from = NULL, *src = NULL, *deps = NULL;
	cJSON *initrd_copied = cJSON_CreateArray();
	int rc = -1;

	if (image_build_run(b, NULL, NULL, image_build_host(b, "dpkg-deb"), "-x", b->kernel_deb,
			    pkg, NULL) != 0) {
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
	if (image_build_run(b, NULL, NULL, image_build_host(b, "depmod"), "-b", pkg,
			    b->kernel_release, NULL) != 0)
		goto out;
	from = xasprintf("%s/%s", mods_dir, b->kernel_release);
	free(src);
	src = xasprintf("%s/modules.dep", from);
	if (!(deps = util_read_file(src, NULL)))
		goto out;
	b->modules = cJSON_CreateArray();
	if (install_modules(b, deps, from, b->root, module_groups, ARRAY_LEN(module_groups),
			    b->modules) < 0 ||
	    install_modules(b, deps, from, b->initrd_root, initrd_groups,
			    ARRAY_LEN(initrd_groups), initrd_copied) < 0)
		goto out;
	image_build_note("kernel %s (%s), %d modules, %d of them in the initrd",
			 b->kernel_release, b->kernel_format, cJSON_GetArraySize(b->modules),
			 cJSON_GetArraySize(initrd_copied));
	rc = 0;
out:
	/* the unpacked package is 400 MB; drop it as soon as possible */
	util_rm_rf(pkg);
	cJSON_Delete(initrd_copied);
	free(pkg);
	free(mods_dir);
	free(from);
	free(src);
	free(deps);
	return rc;
}
