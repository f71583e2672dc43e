/* Unit tests for backend/snapshot.c (names, meta.json, ID:SNAP) and
 * backend/diskcopy.c (sparse copies). */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/diskcopy.h"
#include "backend/qmp.h"
#include "backend/snapshot.h"
#include "backend/util.h"
#include "tests/unit/unit.h"

static char *dir;

static void test_names(void)
{
	EXPECT(snapshot_name_problem("snap-1") == NULL);
	EXPECT(snapshot_name_problem("before_upgrade.2") == NULL);
	EXPECT(snapshot_name_problem("abc123") == NULL);	/* hex is fine: no ids here */
	EXPECT_STR(snapshot_name_problem(""), "is empty");
	EXPECT_STR(snapshot_name_problem(".hidden"), "may not start with '-' or '.'");
	EXPECT_STR(snapshot_name_problem("-x"), "may not start with '-' or '.'");
	EXPECT_STR(snapshot_name_problem("a/b"), "may hold only letters, digits, '.', '_' and '-'");
	EXPECT_STR(snapshot_name_problem("a:b"), "may hold only letters, digits, '.', '_' and '-'");
	EXPECT_STR(snapshot_name_problem("a b"), "may hold only letters, digits, '.', '_' and '-'");
	EXPECT_STR(snapshot_name_problem(
			   "0123456789012345678901234567890123456789012345678901234567890123"),
		   "is longer than 63 characters");
}

static void test_parse_ref(void)
{
	char *sb = NULL, *snap = NULL;

	EXPECT_INT(snapshot_parse_ref("dev:snap-1", &sb, &snap), 0);
	EXPECT_STR(sb, "dev");
	EXPECT_STR(snap, "snap-1");
	free(sb);
	free(snap);
	EXPECT_INT(snapshot_parse_ref("dev", &sb, &snap), -1);
	EXPECT(strstr(err_msg(), "is not ID:SNAPSHOT") != NULL);
	EXPECT_INT(snapshot_parse_ref(":x", &sb, &snap), -1);
	EXPECT_INT(snapshot_parse_ref("x:", &sb, &snap), -1);
}

static void test_meta_round_trip(void)
{
	struct snapshot a = { .name = "m1", .kind = SNAPSHOT_MEMORY, .created = 1796319478,
			      .parent = "7a84915c:snap-1", .has_disk = true, .image = "tiny",
			      .image_built = 1796310000, .accel = "tcg", .mem_mib = 256, .cpus = 2,
			      .host_ip = "10.77.0.1", .guest_ip = "10.77.0.2", .prefix_len = 30,
			      .host_mac = "aa:bb:cc:dd:ee:ff", .memory_bytes = 116457472 };
	struct snapshot b;
	char *text = snapshot_to_json(&a);

	EXPECT_INT(snapshot_from_json(text, &b), 0);
	EXPECT_STR(b.name, a.name);
	EXPECT_STR(b.kind, a.kind);
	EXPECT_INT(b.created, a.created);
	EXPECT_STR(b.parent, a.parent);
	EXPECT(b.has_disk);
	EXPECT_STR(b.image, a.image);
	EXPECT_INT(b.image_built, a.image_built);
	EXPECT_STR(b.accel, a.accel);
	EXPECT_INT(b.mem_mib, 256);
	EXPECT_INT(b.cpus, 2);
	EXPECT_STR(b.host_ip, a.host_ip);
	EXPECT_STR(b.guest_ip, a.guest_ip);
	EXPECT_INT(b.prefix_len, 30);
	EXPECT_STR(b.host_mac, a.host_mac);
	EXPECT_INT(b.memory_bytes, a.memory_bytes);
	free(text);

	EXPECT_INT(snapshot_from_json("[]", &b), -1);
	EXPECT_INT(snapshot_from_json("{\"name\":\"x\"}", &b), -1);
	EXPECT(strstr(err_msg(), "\"kind\"") != NULL);
	snprintf(a.kind, sizeof a.kind, "tape");
	text = snapshot_to_json(&a);
	EXPECT_INT(snapshot_from_json(text, &b), -1);
	EXPECT(strstr(err_msg(), "not disk or memory") != NULL);
	free(text);
}

static void write_at(int fd, off_t off, char c, size_t n)
{
	char *buf = xmalloc(n);

	memset(buf, c, n);
	EXPECT_INT(pwrite(fd, buf, n, off), (long long)n);
	free(buf);
}

static int same_content(const char *a, const char *b)
{
	size_t la, lb;
	char *x = util_read_file(a, &la), *y = util_read_file(b, &lb);
	int same = x && y && la == lb && !memcmp(x, y, la);

	free(x);
	free(y);
	return same;
}

/* 64 MiB with data at three places, a block of zeros written out in the
 * middle, and a hole at the end. */
static void test_sparse_copy(void)
{
	char *src = xasprintf("%s/src.img", dir), *dst = xasprintf("%s/dst.img", dir);
	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct stat st;

	write_at(fd, 0, 'a', 4096);
	write_at(fd, 8 << 20, 0, 4 << 20);		/* zeros, allocated */
	write_at(fd, (16 << 20) + 100, 'b', 10000);	/* unaligned */
	write_at(fd, 40 << 20, 'c', 1 << 20);
	EXPECT_INT(ftruncate(fd, 64 << 20), 0);
	close(fd);

	EXPECT_INT(diskcopy_file(src, dst, "src.img", NULL, NULL), 0);
	EXPECT(same_content(src, dst));
	EXPECT_INT(stat(dst, &st), 0);
	EXPECT_INT(st.st_size, 64 << 20);
	EXPECT_INT(st.st_mode & 0777, 0600);
	/* Only the data, not the zeros or holes (a reflink shares even that). */
	EXPECT(diskcopy_allocated(dst) < (3u << 20));
	EXPECT(diskcopy_allocated(src) > diskcopy_allocated(dst));

	/* An existing target is never overwritten. */
	EXPECT_INT(diskcopy_file(src, dst, "src.img", NULL, NULL), -1);
	EXPECT(strstr(err_msg(), "cannot create") != NULL);
	EXPECT(same_content(src, dst));
	unlink(dst);
	free(dst);
	free(src);
}

static int calls;
static uint64_t last_done, last_total;

static void count_progress(void *arg, const struct progress_info *p)
{
	(void)arg;
	calls++;
	last_done = p->done;
	last_total = p->total;
}

static void test_copy_progress_and_errors(void)
{
	char *src = xasprintf("%s/p.img", dir), *dst = xasprintf("%s/p2.img", dir);
	char *missing = xasprintf("%s/nope.img", dir);
	int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	write_at(fd, 0, 'x', 3 << 20);
	close(fd);
	calls = 0;
	EXPECT_INT(diskcopy_file(src, dst, "p.img", count_progress, NULL), 0);
	EXPECT(calls >= 1);
	EXPECT_INT(last_done, 3 << 20);
	EXPECT_INT(last_total, 3 << 20);

	EXPECT_INT(diskcopy_file(missing, dst, "nope.img", NULL, NULL), -1);
	EXPECT(strstr(err_msg(), "cannot read") != NULL);
	EXPECT_INT(diskcopy_file(dir, missing, "dir", NULL, NULL), -1);
	EXPECT(!util_exists(missing));

	/* A directory's size is its files' */
	EXPECT(diskcopy_allocated(dir) >= diskcopy_allocated(src) + diskcopy_allocated(dst));
	EXPECT_INT(diskcopy_allocated(missing), 0);
	unlink(dst);
	unlink(src);
	free(missing);
	free(dst);
	free(src);
}

/* A QMP server for one client: greeting, capabilities, then a getfd whose
 * fd it reads a marker from. */
struct fake_qmp {
	int listen_fd;
	char marker[32];	/* what the passed fd held */
	char fdname[32];
};

static ssize_t recv_line(int fd, char *buf, size_t len, int *passed)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	size_t got = 0;

	while (got + 1 < len) {
		struct iovec iov = { .iov_base = buf + got, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
				     .msg_controllen = sizeof u.b };
		struct cmsghdr *c;

		if (recvmsg(fd, &mh, 0) != 1)
			return -1;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_type == SCM_RIGHTS && passed)
				memcpy(passed, CMSG_DATA(c), sizeof *passed);
		if (buf[got++] == '\n')
			break;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

static void *fake_qmp_serve(void *arg)
{
	struct fake_qmp *f = arg;
	char line[512];
	int c = accept(f->listen_fd, NULL, NULL), passed = -1;
	const char *hello = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n";
	char *name;

	if (c < 0)
		return NULL;
	if (write(c, hello, strlen(hello)) < 0 || recv_line(c, line, sizeof line, NULL) < 0 ||
	    write(c, "{\"return\": {}, \"id\": 1}\n", 25) < 0 ||
	    recv_line(c, line, sizeof line, &passed) < 0)
		goto out;
	if ((name = strstr(line, "\"fdname\":\"")))
		sscanf(name + 10, "%31[^\"]", f->fdname);
	if (passed >= 0) {
		ssize_t n = pread(passed, f->marker, sizeof f->marker - 1, 0);

		if (n > 0)
			f->marker[n] = '\0';
		close(passed);
	}
	if (write(c, "{\"return\": {}, \"id\": 2}\n", 25) < 0)
		goto out;
	recv_line(c, line, sizeof line, NULL);	/* until the client closes */
out:
	close(c);
	return NULL;
}

static void test_qmp_getfd(void)
{
	char *sock = xasprintf("%s/qmp.sock", dir), *file = xasprintf("%s/state", dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake_qmp f = { 0 };
	pthread_t t;
	struct qmp *q;
	int fd;

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	f.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	EXPECT_INT(bind(f.listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
	EXPECT_INT(listen(f.listen_fd, 1), 0);
	pthread_create(&t, NULL, fake_qmp_serve, &f);
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	EXPECT_INT(write(fd, "the-marker", 10), 10);
	q = qmp_connect(sock, 2000);
	EXPECT(q != NULL);
	if (q)
		EXPECT_INT(qmp_getfd(q, "smolvm-state", fd, 2000), 0);
	qmp_close(q);
	pthread_join(t, NULL);
	EXPECT_STR(f.marker, "the-marker");
	EXPECT_STR(f.fdname, "smolvm-state");
	close(fd);
	close(f.listen_fd);
	unlink(file);
	unlink(sock);
	free(file);
	free(sock);
}

int main(void)
{
	char tmpl[] = "/tmp/smolvm-test-snapshot.XXXXXX";

	dir = mkdtemp(tmpl);
	if (!dir)
		return 1;
	RUN(test_names);
	RUN(test_parse_ref);
	RUN(test_meta_round_trip);
	RUN(test_sparse_copy);
	RUN(test_copy_progress_and_errors);
	RUN(test_qmp_getfd);
	util_rm_rf(dir);
	UNIT_EXIT();
}
