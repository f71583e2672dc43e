#include "backend/disk.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/ssh.h"
#include "backend/util.h"

/* Big enough for bursts of metadata, small enough that a busy sandbox's
 * journal adds little to disk.img's allocation (it is written round and round). */
#define DISK_JOURNAL_MIB "8"
#define GUEST_TIMEOUT_MS 10000

char *disk_path(const char *id)
{
	return paths_vm_file(id, DISK_FILE);
}

int disk_parse_size(const char *s, int64_t *bytes)
{
	static const char units[] = "KMGT";
	char *end;
	unsigned long long n;
	int shift = 0;

	errno = 0;
	n = isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
	if (!isdigit((unsigned char)*s) || errno)
		goto bad;
	if (*end) {
		const char *u = strchr(units, toupper((unsigned char)*end));
		if (!u)
			goto bad;
		shift = 10 * (int)(u - units + 1);
		end++;
		if (strcasecmp(end, "") && strcasecmp(end, "B") && strcasecmp(end, "iB"))
			goto bad;
	}
	if (n > (unsigned long long)DISK_MAX_BYTES >> shift ||
	    (int64_t)(n << shift) < DISK_MIN_BYTES) {
		err_set("disk size %s is out of range: give 64M to 16T", s);
		return -1;
	}
	*bytes = (int64_t)(n << shift);
	return 0;
bad:
	err_set("disk size '%s' is not a size: give a number with K, M, G or T (e.g. 2G)", s);
	return -1;
}

int disk_make(const char *path, int64_t bytes)
{
	char size[32], *err = NULL;
	int fd, rc;

	/* Made here, empty, so that mke2fs finds a file it may discard: it then
	 * knows the unwritten blocks read as zeros and writes no inode tables. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, bytes) < 0) {
		err_set("cannot size %s to %lld bytes: %s", path, (long long)bytes, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	snprintf(size, sizeof size, "%lldk", (long long)(bytes / 1024));
	char *argv[] = {
		"mke2fs", "-q", "-F", "-t", "ext4", "-m", "0", "-L", DISK_SERIAL_UPPER,
		"-J", "size=" DISK_JOURNAL_MIB, "-E", "lazy_journal_init=1,root_owner=0:0",
		(char *)path, size, NULL,
	};
	rc = util_run_capture(argv, NULL, &err);
	if (rc != 0) {
		if (rc == 127)
			err_set("cannot make the sandbox's disk: mke2fs is missing (Debian: "
				"apt-get install e2fsprogs)");
		else if (rc > 0)
			err_set("mke2fs failed making %s (exit status %d): %.300s", path, rc,
				err ? err : "");
		unlink(path);
		rc = -1;
	}
	free(err);
	return rc;
}

/* Run a short command in the guest, its output thrown away. */
static int guest_run(const struct sandbox *sb, const char *cmd, const char *what)
{
	struct ssh_conn *c = ssh_open(sb, GUEST_TIMEOUT_MS);
	int null_fd, rc;

	if (!c) {
		err_set("cannot %s of %s: %s", what, sb->name, err_msg());
		return -1;
	}
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	rc = ssh_exec_timeout(c, cmd, -1, null_fd, null_fd, GUEST_TIMEOUT_MS);
	if (null_fd >= 0)
		close(null_fd);
	ssh_close(c);
	if (rc > 0)
		err_set("cannot %s of %s: the guest's command failed (exit status %d)", what,
			sb->name, rc);
	else if (rc < 0)
		err_set("cannot %s of %s: %s", what, sb->name, err_msg());
	return rc == 0 ? 0 : -1;
}

#define THAW_PID "/run/smolvm/thaw.pid"

int disk_freeze(const struct sandbox *sb)
{
	/* The timer thaws the layer should the host never come back to do it. */
	char *cmd = xasprintf(
		"sync || exit 1; "
		"(sleep %d; fsfreeze --unfreeze " DISK_GUEST_UPPER ") </dev/null >/dev/null 2>&1 & "
		"echo $! >" THAW_PID "; "
		"fsfreeze --freeze " DISK_GUEST_UPPER " || { kill $!; exit 1; }",
		DISK_FREEZE_MAX_S);
	int rc = guest_run(sb, cmd, "freeze the writable layer");

	free(cmd);
	return rc;
}

int disk_thaw(const struct sandbox *sb)
{
	return guest_run(sb,
			 "kill $(cat " THAW_PID ") 2>/dev/null; rm -f " THAW_PID "; "
			 "fsfreeze --unfreeze " DISK_GUEST_UPPER,
			 "thaw the writable layer");
}
