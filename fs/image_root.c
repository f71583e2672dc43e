#include "fs/image_root.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"
#include "fs/cpio.h"
#include "fs/image_elf.h"
#include "fs/image_keys.h"

/* ---- programs ----------------------------------------------------------------------- */

/*
 * Copy the shared libraries a dynamic program needs (and the loader) into the
 * tree at the paths the host's loader resolves them to, which the guest's
 * loader also searches.
 */
static int copy_libraries(struct build *b, const char *program)
{
	char *out = NULL;
	int rc = 0;

	if (image_build_run(b, NULL, &out, image_build_host(b, "ldd"), program, NULL) != 0) {
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
		char *dst = image_build_in_root(b, lib);
		struct stat st;
		if (!util_exists(dst)) {
			if (stat(lib, &st) < 0) {
				err_set("cannot read %s, needed by %s: %s", lib, program,
					strerror(errno));
				rc = -1;
			} else {
				rc = image_build_copy_file(lib, dst, st.st_mode & 0777);
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
	char *dst = image_build_in_root(b, guest_path);
	struct image_elf_facts elf;
	int rc = image_elf_inspect(src, &elf);

	if (rc == 0)
		rc = image_build_copy_file(src, dst, 0755);
	if (rc == 0 && elf.dynamic)
		rc = copy_libraries(b, src);
	free(dst);
	return rc;
}

int image_root_install_busybox(struct build *b)
{
	const char *busybox = image_build_host(b, "busybox");
	char *out = NULL;
	int count = 0, rc;

	rc = install_program(b, busybox, "/bin/busybox");
	if (rc == 0)
		rc = image_build_run(b, NULL, &out, busybox, "--list-full", NULL) ? -1 : 0;
	for (char *line = out, *next; rc == 0 && line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!*line || strstr(line, ".."))
			continue;
		char *guest = xasprintf("/%s", line);
		rc = image_build_put_symlink(b, guest, "/bin/busybox");
		free(guest);
		count++;
	}
	free(out);
	if (rc == 0)
		image_build_note("%d applets", count);
	return rc;
}

int image_root_install_programs(struct build *b)
{
	if (install_program(b, image_build_host(b, "dropbear"), "/usr/sbin/dropbear") < 0 ||
	    install_program(b, image_build_host(b, IMAGE_ROOT_SFTP_SERVER),
			    "/usr/lib/sftp-server") < 0 ||
	    install_program(b, image_build_host(b, "curl"), "/usr/bin/curl") < 0)
		return -1;
	char *dst = image_build_in_root(b, IMAGE_ROOT_CA_BUNDLE);
	int rc = image_build_copy_file(image_build_host(b, IMAGE_ROOT_CA_BUNDLE), dst, 0644);
	if (rc == 0)
		rc = image_keys_add_proxy_ca(b, dst);
	free(dst);
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
/* /etc/hosts is made from this at boot, with the sandbox's name (fs/guest/init). */
static const char etc_hosts[] =
	"127.0.0.1\tlocalhost\n"
	"::1\tlocalhost ip6-localhost ip6-loopback\n";
/* busybox init only reaps orphans and carries out poweroff/reboot: /init did the booting. */
static const char etc_inittab[] =
	"::shutdown:/bin/sync\n";

int image_root_install_config(struct build *b)
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
		{ "/etc/smolvm/hosts", 0644, etc_hosts },
		{ "/etc/shells", 0644, "/bin/sh\n/bin/ash\n" },
		{ "/etc/inittab", 0644, etc_inittab },
	};
	static const char *const boot_files[] = { "hostname", "hosts", "resolv.conf" };
	char *init;
	int rc;

	for (size_t i = 0; i < ARRAY_LEN(dirs); i++)
		if (image_build_put_dir(b, dirs[i].path, dirs[i].mode) < 0)
			return -1;
	for (size_t i = 0; i < ARRAY_LEN(files); i++)
		if (image_build_put_text(b, files[i].path, files[i].mode, files[i].text) < 0)
			return -1;
	if (image_build_put_symlink(b, "/var/run", "../run") < 0)
		return -1;
	/* written at every boot: in /run, so they are not changes of the sandbox's own */
	for (size_t i = 0; i < ARRAY_LEN(boot_files); i++) {
		char *target = xasprintf("../run/smolvm/etc/%s", boot_files[i]);
		char *link = xasprintf("/etc/%s", boot_files[i]);
		rc = image_build_put_symlink(b, link, target);
		free(link);
		free(target);
		if (rc < 0)
			return -1;
	}
	init = image_build_in_root(b, "/init");
	rc = image_build_copy_file(b->init_path, init, 0755);
	free(init);
	return rc;
}

/* The busybox applets the initrd's /init calls by name. */
static const char *const initrd_applets[] = {
	"sh", "mount", "umount", "mkdir", "modprobe", "switch_root", "poweroff",
};

int image_root_pack_initrd(struct build *b)
{
	char *path = xasprintf("%s/initrd.img", b->work);
	struct cpio *c = cpio_create(path, b->built);
	int64_t size;
	char sz[32];
	int rc = -1;

	if (!c)
		goto out;
	/* The kernel opens /dev/console for /init before anything mounts devtmpfs. */
	if (cpio_add_tree(c, b->initrd_root) < 0 ||
	    cpio_add_file(c, "init", 0755, b->boot_path) < 0 ||
	    cpio_add_dir(c, "bin", 0755) < 0 ||
	    cpio_add_file(c, "bin/busybox", 0755, image_build_host(b, "busybox")) < 0 ||
	    cpio_add_dir(c, "dev", 0755) < 0 || cpio_add_dir(c, "proc", 0555) < 0 ||
	    cpio_add_dir(c, "sys", 0555) < 0 || cpio_add_dir(c, "run", 0755) < 0 ||
	    cpio_add_chardev(c, "dev/console", 0600, 5, 1) < 0)
		goto fail;
	for (size_t i = 0; i < ARRAY_LEN(initrd_applets); i++) {
		char *name = xasprintf("bin/%s", initrd_applets[i]);
		int r = cpio_add_symlink(c, name, "busybox");
		free(name);
		if (r < 0)
			goto fail;
	}
	if ((size = cpio_finish(c)) < 0)
		goto out;
	image_build_fmt_size(size, sz, sizeof sz);
	image_build_note("initrd.img %s (uncompressed newc)", sz);
	rc = util_rm_rf(b->initrd_root);
	goto out;
fail:
	cpio_abort(c);
out:
	free(path);
	return rc;
}

/* ---- root.img ----------------------------------------------------------------------- */

static int64_t tree_bytes, tree_entries;

static int count_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path, (void)type, (void)ftw;
	tree_bytes += (int64_t)st->st_blocks * 512;
	tree_entries++;
	return 0;
}

/* debugfs commands giving every entry of the tree to root (mke2fs -d copies the builder's ids). */
static FILE *owner_cmds;
static const char *owner_tree;
static int owner_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *guest = path + strlen(owner_tree);

	(void)type, (void)ftw;
	if (st->st_uid == 0 && st->st_gid == 0)
		return 0;
	if (strpbrk(guest, " \t\n\"\\")) {
		err_set("cannot give %s to root in root.img: its name has a space or quote", path);
		return -1;
	}
	fprintf(owner_cmds, "sif \"%s\" uid 0\nsif \"%s\" gid 0\n", *guest ? guest : "/",
		*guest ? guest : "/");
	return 0;
}

static int give_to_root(struct build *b, const char *img)
{
	char *cmds = xasprintf("%s/owners.debugfs", b->work);
	int rc = -1;

	owner_tree = b->root;
	owner_cmds = fopen(cmds, "we");
	if (!owner_cmds) {
		err_set("cannot create %s: %s", cmds, strerror(errno));
		goto out;
	}
	rc = nftw(b->root, owner_entry, 32, FTW_PHYS);
	if (fclose(owner_cmds) != 0 && rc == 0) {
		err_set("cannot write %s", cmds);
		rc = -1;
	}
	if (rc == 0)
		rc = image_build_run(b, NULL, NULL, image_build_host(b, "debugfs"), "-w", "-f",
				     cmds, img, NULL) ? -1 : 0;
out:
	unlink(cmds);
	free(cmds);
	return rc;
}

int image_root_make_disk(struct build *b)
{
	char *img = xasprintf("%s/root.img", b->work);
	char *size = NULL, *inodes = NULL, sz[32];
	int rc = -1;

	tree_bytes = tree_entries = 0;
	if (nftw(b->root, count_entry, 32, FTW_PHYS) < 0) {
		err_set("cannot walk %s: %s", b->root, strerror(errno));
		goto out;
	}
	/* The tree's blocks, a 256-byte inode each, and room for ext4's own metadata. */
	size = xasprintf("%lldk", (long long)((tree_bytes + tree_entries * 256) / 1024 * 11 / 10 +
					      4096));
	inodes = xasprintf("%lld", (long long)tree_entries + 64);
	/* Read-only for every sandbox: no journal, no room for growth, no reserved blocks. */
	const char *argv[] = {
		image_build_host(b, "mke2fs"), "-q", "-F", "-t", "ext4", "-b", "4096",
		"-O", "^has_journal,^resize_inode", "-m", "0", "-N", inodes, "-L", "smolvm-base",
		"-E", "root_owner=0:0", "-d", b->root, img, size, NULL,
	};
	if (image_build_run_argv(b, NULL, NULL, (char *const *)argv) != 0)
		goto out;
	if (getuid() != 0 && give_to_root(b, img) < 0)
		goto out;
	image_build_fmt_size(image_build_file_size(img), sz, sizeof sz);
	image_build_note("root.img %s (ext4, %lld files)", sz, (long long)tree_entries);
	rc = util_rm_rf(b->root);
out:
	free(size);
	free(inodes);
	free(img);
	return rc;
}
