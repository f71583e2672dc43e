/* Unit tests for fs/sync.c: inotify events on a real folder become paths to
 * look at, coalesced per path, and the end of the watched folder is seen. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/util.h"
#include "fs/sync.h"
#include "tests/unit/unit.h"

static char dir[64];

static struct sync *watch_tmp(void)
{
	struct sync *y;

	strcpy(dir, "/tmp/smolvm-sync-unit.XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	y = sync_new(&(struct sync_opts){ .host_dir = dir, .guest_dir = "/root/x" });
	if (y && sync_watch(y) < 0) {
		sync_free(y);
		y = NULL;
	}
	return y;
}

static void write_file(const char *name, const char *text, int flags)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | flags, 0644);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		close(fd);
	}
	free(p);
}

static void burst_is_one_path(void)
{
	struct sync *y = watch_tmp();

	EXPECT(y != NULL);
	if (!y)
		return;
	for (int i = 0; i < 100; i++)
		write_file("f", "x\n", O_APPEND);
	EXPECT_INT(sync_read_events(y, 1000), 0);
	EXPECT_INT(sync_pending(y), 1);
	/* Due once quiet for the settle time, not before. */
	EXPECT_INT(sync_next_ms(y, 1000), SYNC_SETTLE_MS);
	EXPECT_INT(sync_next_ms(y, 1000 + SYNC_SETTLE_MS), 0);
	/* Events that keep coming push it back, up to the longest wait. */
	for (int t = 1100; t < 1000 + SYNC_MAX_WAIT_MS + 500; t += 100) {
		write_file("f", "y\n", O_APPEND);
		EXPECT_INT(sync_read_events(y, t), 0);
	}
	EXPECT_INT(sync_pending(y), 1);
	EXPECT_INT(sync_next_ms(y, 1000 + SYNC_MAX_WAIT_MS), 0);
	sync_free(y);
	util_rm_rf(dir);
}

static void open_file_waits_for_close(void)
{
	struct sync *y = watch_tmp();
	char *p;
	int fd;

	EXPECT(y != NULL);
	if (!y)
		return;
	p = xasprintf("%s/open", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	EXPECT(fd >= 0);
	EXPECT_INT(write(fd, "abc", 3), 3);
	EXPECT_INT(sync_read_events(y, 0), 0);
	EXPECT_INT(sync_pending(y), 0);
	EXPECT_INT(sync_next_ms(y, 0), -1);
	close(fd);
	EXPECT_INT(sync_read_events(y, 0), 0);
	EXPECT_INT(sync_pending(y), 1);
	free(p);
	sync_free(y);
	util_rm_rf(dir);
}

static void folders_deletes_and_moves(void)
{
	struct sync *y = watch_tmp();
	char *a, *b;

	EXPECT(y != NULL);
	if (!y)
		return;
	a = xasprintf("%s/d", dir);
	b = xasprintf("%s/e", dir);
	EXPECT_INT(mkdir(a, 0755), 0);
	write_file("gone", "", 0);
	EXPECT_INT(sync_read_events(y, 0), 0);
	/* "d" (made) and "gone" (closed after writing) */
	EXPECT_INT(sync_pending(y), 2);
	free(a);
	a = xasprintf("%s/gone", dir);
	EXPECT_INT(unlink(a), 0);
	EXPECT_INT(sync_read_events(y, 0), 0);
	/* "gone" is waiting already */
	EXPECT_INT(sync_pending(y), 2);
	free(a);
	a = xasprintf("%s/d", dir);
	EXPECT_INT(rename(a, b), 0);
	EXPECT_INT(sync_read_events(y, 0), 0);
	/* "e" joins; "d" is waiting already */
	EXPECT_INT(sync_pending(y), 3);
	free(a);
	free(b);
	sync_free(y);
	util_rm_rf(dir);
}

static void top_folder_gone(void)
{
	struct sync *y = watch_tmp();

	EXPECT(y != NULL);
	if (!y)
		return;
	EXPECT_INT(rmdir(dir), 0);
	EXPECT_INT(sync_read_events(y, 0), -1);
	EXPECT(strstr(err_msg(), "deleted or moved away") != NULL);
	sync_free(y);
}

/* A top given as a symbolic link is watched at its target. */
static void top_through_a_link(void)
{
	char link[80];
	struct sync *y;

	strcpy(dir, "/tmp/smolvm-sync-unit.XXXXXX");
	if (!mkdtemp(dir))
		return;
	snprintf(link, sizeof link, "%s.link", dir);
	EXPECT_INT(symlink(dir, link), 0);
	y = sync_new(&(struct sync_opts){ .host_dir = link, .guest_dir = "/root/x" });
	EXPECT(y != NULL);
	if (y) {
		EXPECT_INT(sync_watch(y), 0);
		write_file("f", "x", 0);
		EXPECT_INT(sync_read_events(y, 0), 0);
		EXPECT_INT(sync_pending(y), 1);
		sync_free(y);
	}
	unlink(link);
	util_rm_rf(dir);
}

static void not_a_folder(void)
{
	EXPECT(sync_new(&(struct sync_opts){ .host_dir = "/etc/hostname", .guest_dir = "/x" })
	       == NULL);
	EXPECT(strstr(err_msg(), "not a folder") != NULL);
	EXPECT(sync_new(&(struct sync_opts){ .host_dir = "/no/such/dir", .guest_dir = "/x" })
	       == NULL);
}

int main(void)
{
	RUN(burst_is_one_path);
	RUN(open_file_waits_for_close);
	RUN(folders_deletes_and_moves);
	RUN(top_folder_gone);
	RUN(top_through_a_link);
	RUN(not_a_folder);
	UNIT_EXIT();
}
