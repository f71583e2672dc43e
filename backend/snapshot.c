#include "backend/snapshot.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/diskcopy.h"
#include "backend/migrate.h"
#include "backend/paths.h"
#include "backend/qemu.h"
#include "backend/qmp.h"
#include "backend/sandbox.h"
#include "backend/ssh.h"
#include "backend/util.h"
#include "fs/image.h"
#include "net/netns.h"
#include "net/policy.h"

#define QMP_MS 5000
#define SSH_MS 10000
/* A resumed guest answers SSH at once; this allows for a busy host. */
#define RESUME_SSH_MS 30000
#define LOAD_MS (5 * 60 * 1000)
#define TAP "tap0"

/* --- names, records, paths ------------------------------------------------ */

const char *snapshot_name_problem(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return "is empty";
	if (len > 63)
		return "is longer than 63 characters";
	if (name[0] == '-' || name[0] == '.')
		return "may not start with '-' or '.'";
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return "may hold only letters, digits, '.', '_' and '-'";
	}
	return NULL;
}

int snapshot_parse_ref(const char *ref, char **sandbox, char **snap)
{
	const char *colon = strchr(ref, ':');

	if (!colon || colon == ref || !colon[1]) {
		err_set("'%s' is not ID:SNAPSHOT (a sandbox, a colon, one of its snapshots)", ref);
		return -1;
	}
	*sandbox = xasprintf("%.*s", (int)(colon - ref), ref);
	*snap = xstrdup(colon + 1);
	return 0;
}

char *snapshot_to_json(const struct snapshot *s)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddStringToObject(o, "kind", s->kind);
	cJSON_AddNumberToObject(o, "created", (double)s->created);
	cJSON_AddStringToObject(o, "parent", s->parent);
	cJSON_AddBoolToObject(o, "has_disk", s->has_disk);
	cJSON_AddStringToObject(o, "image", s->image);
	cJSON_AddNumberToObject(o, "image_built", (double)s->image_built);
	cJSON_AddStringToObject(o, "accel", s->accel);
	cJSON_AddNumberToObject(o, "mem_mib", s->mem_mib);
	cJSON_AddNumberToObject(o, "cpus", s->cpus);
	cJSON_AddStringToObject(o, "host_ip", s->host_ip);
	cJSON_AddStringToObject(o, "guest_ip", s->guest_ip);
	cJSON_AddNumberToObject(o, "prefix_len", s->prefix_len);
	cJSON_AddStringToObject(o, "host_mac", s->host_mac);
	cJSON_AddNumberToObject(o, "memory_bytes", (double)s->memory_bytes);
	text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		die("out of memory");
	return text;
}

int snapshot_from_json(const char *text, struct snapshot *s)
{
	cJSON *o = cJSON_Parse(text);
	double created, built, mem, cpus, prefix, membytes;
	int rc = -1;

	memset(s, 0, sizeof *s);
	if (!cJSON_IsObject(o)) {
		err_set("not a JSON object");
		goto out;
	}
	if (store_json_str(o, "name", s->name, sizeof s->name, true) ||
	    store_json_str(o, "kind", s->kind, sizeof s->kind, true) ||
	    store_json_str(o, "parent", s->parent, sizeof s->parent, true) ||
	    store_json_str(o, "image", s->image, sizeof s->image, true) ||
	    store_json_str(o, "accel", s->accel, sizeof s->accel, true) ||
	    store_json_str(o, "host_ip", s->host_ip, sizeof s->host_ip, true) ||
	    store_json_str(o, "guest_ip", s->guest_ip, sizeof s->guest_ip, true) ||
	    store_json_str(o, "host_mac", s->host_mac, sizeof s->host_mac, true) ||
	    store_json_num(o, "created", &created, true) ||
	    store_json_num(o, "image_built", &built, true) ||
	    store_json_num(o, "mem_mib", &mem, true) ||
	    store_json_num(o, "cpus", &cpus, true) ||
	    store_json_num(o, "prefix_len", &prefix, true) ||
	    store_json_num(o, "memory_bytes", &membytes, true))
		goto out;
	if (strcmp(s->kind, SNAPSHOT_DISK) && strcmp(s->kind, SNAPSHOT_MEMORY)) {
		err_set("\"kind\" is '%s', not disk or memory", s->kind);
		goto out;
	}
	s->has_disk = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "has_disk"));
	s->created = (int64_t)created;
	s->image_built = (int64_t)built;
	s->mem_mib = (int)mem;
	s->cpus = (int)cpus;
	s->prefix_len = (int)prefix;
	s->memory_bytes = (uint64_t)membytes;
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

static char *snap_root(const char *id)
{
	return paths_vm_file(id, "snapshots");
}

static char *snap_path(const char *id, const char *dir, const char *file)
{
	char *root = snap_root(id);
	char *p = file ? xasprintf("%s/%s/%s", root, dir, file) : xasprintf("%s/%s", root, dir);

	free(root);
	return p;
}

static bool has_disk(const char *id)
{
	char *p = disk_path(id);
	bool there = util_exists(p);

	free(p);
	return there;
}

/* .head holds what the sandbox's current state came from (see parent). */
static char *read_head(const char *id)
{
	char *p = snap_path(id, ".head", NULL);
	char *text = util_read_file(p, NULL);

	free(p);
	if (!text)
		return xstrdup("");
	text[strcspn(text, "\n")] = '\0';
	return text;
}

static int write_head(const char *id, const char *head)
{
	char *root = snap_root(id);
	char *p = snap_path(id, ".head", NULL);
	char *line = xasprintf("%s\n", head);
	int rc = util_mkdir_p(root, 0700);

	if (rc == 0)
		rc = util_write_atomic(p, line, strlen(line), 0600);
	free(line);
	free(p);
	free(root);
	return rc;
}

/* One snapshot operation per sandbox at a time; the lock goes with the fd. */
static int lock_snapshots(const struct sandbox *sb)
{
	char *root = snap_root(sb->id);
	char *p = snap_path(sb->id, ".lock", NULL);
	int fd = -1;

	if (util_mkdir_p(root, 0700) < 0)
		goto out;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set("cannot open %s: %s", p, strerror(errno));
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err_set("another snapshot operation on sandbox %s is under way; try again when "
			"it is done", sb->name);
		close(fd);
		fd = -1;
	}
out:
	free(p);
	free(root);
	return fd;
}

static int load_meta(const char *id, const char *name, struct snapshot *s)
{
	char *p = snap_path(id, name, "meta.json");
	char *text = util_read_file(p, NULL);
	int rc = -1;

	if (text && (rc = snapshot_from_json(text, s)) < 0)
		err_set("%s: %s", p, err_msg());
	free(text);
	free(p);
	return rc;
}

static int cmp_created(const void *a, const void *b)
{
	const struct snapshot *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->name, y->name);
}

int snapshot_list(const struct sandbox *sb, struct snapshot **out, size_t *n)
{
	char *root = snap_root(sb->id), *head;
	DIR *d = opendir(root);
	struct dirent *e;
	size_t cap = 8;

	*out = NULL;
	*n = 0;
	if (!d) {
		int saved = errno;

		if (saved != ENOENT)
			err_set("cannot list snapshots in %s: %s", root, strerror(saved));
		free(root);
		return saved == ENOENT ? 0 : -1;
	}
	head = read_head(sb->id);
	*out = xcalloc(cap, sizeof **out);
	while ((e = readdir(d))) {
		struct snapshot *s;
		char *dir;

		/* Dot names are work in progress (.new-*, .rollback) or ours (.head). */
		if (e->d_name[0] == '.')
			continue;
		if (*n == cap)
			*out = xrealloc(*out, (cap *= 2) * sizeof **out);
		s = &(*out)[*n];
		if (load_meta(sb->id, e->d_name, s) < 0 || strcmp(s->name, e->d_name))
			continue;
		dir = snap_path(sb->id, e->d_name, NULL);
		s->size = diskcopy_allocated(dir);
		s->current = !strcmp(head, s->name);
		free(dir);
		(*n)++;
	}
	closedir(d);
	free(head);
	free(root);
	qsort(*out, *n, sizeof **out, cmp_created);
	return 0;
}

int snapshot_find(const struct sandbox *sb, const char *name, struct snapshot *out)
{
	const char *why = snapshot_name_problem(name);
	char *dir;

	if (why) {
		err_set("the snapshot name '%s' %s", name, why);
		return -1;
	}
	dir = snap_path(sb->id, name, NULL);
	if (!util_exists(dir)) {
		err_set("sandbox %s has no snapshot '%s' (see smolvm snapshot ls %s)", sb->name,
			name, sb->name);
		free(dir);
		return -1;
	}
	free(dir);
	if (load_meta(sb->id, name, out) < 0)
		return -1;
	out->size = 0;
	return 0;
}

/* snap-N for the first N above every snap-N there is. */
static void default_name(const struct sandbox *sb, char *out, size_t len)
{
	struct snapshot *all;
	size_t n;
	long max = 0;

	if (snapshot_list(sb, &all, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			char *end;
			long k;

			if (strncmp(all[i].name, "snap-", 5))
				continue;
			k = strtol(all[i].name + 5, &end, 10);
			if (*end == '\0' && k > max)
				max = k;
		}
		free(all);
	}
	snprintf(out, len, "snap-%ld", max + 1);
}

static int64_t image_built(const char *kind)
{
	struct image_info *all;
	size_t n;
	int64_t built = 0;

	if (image_list(&all, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].kind, kind))
			built = all[i].built;
	free(all);
	return built;
}

/* --- the tap's MAC address ------------------------------------------------- */

/* The guest caches the host's MAC: a resumed guest needs the tap to keep it,
 * also in a new namespace (a clone, a host restart). */
static int tap_mac(const char *netns, char out[18], const char *set)
{
	struct ifreq ifr = { 0 };
	int fd = netns_socket(netns, AF_INET, SOCK_DGRAM), rc = -1;
	unsigned char *b = (unsigned char *)ifr.ifr_hwaddr.sa_data;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", TAP);
	if (set) {
		unsigned v[6];

		if (sscanf(set, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
			err_set("'%s' is not a MAC address", set);
			goto out;
		}
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		for (int i = 0; i < 6; i++)
			b[i] = (unsigned char)v[i];
		if (ioctl(fd, SIOCSIFHWADDR, &ifr) < 0) {
			err_set("cannot set the MAC address of %s in %s: %s", TAP, netns,
				strerror(errno));
			goto out;
		}
	} else {
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
			err_set("cannot read the MAC address of %s in %s: %s", TAP, netns,
				strerror(errno));
			goto out;
		}
		snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
			 b[5]);
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* --- talking to the guest and to QEMU --------------------------------------- */

static int guest_exec(struct ssh_conn *c, const char *cmd, int timeout_ms)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC), rc;

	rc = ssh_exec_timeout(c, cmd, -1, null_fd, null_fd, timeout_ms);
	if (null_fd >= 0)
		close(null_fd);
	if (rc > 0)
		err_set("'%s' in the guest exited with status %d", cmd, rc);
	return rc == 0 ? 0 : -1;
}

/* A paused or restored guest's clock is behind by the time it did not run;
 * a wrong clock breaks TLS (certificates "not yet valid") and make. To the
 * nearest second: date takes whole ones. */
static void guest_set_clock(struct ssh_conn *c)
{
	struct timespec now;
	char *cmd;

	clock_gettime(CLOCK_REALTIME, &now);
	cmd = xasprintf("date -s @%lld >/dev/null",
			(long long)now.tv_sec + (now.tv_nsec >= 500000000L));

	guest_exec(c, cmd, SSH_MS);
	free(cmd);
}

static struct qmp *qmp_open(const struct sandbox *sb)
{
	char *sock = paths_vm_file(sb->id, "qmp.sock");
	struct qmp *q = qmp_connect(sock, QMP_MS);

	free(sock);
	return q;
}

/* A QEMU that was just started opens its socket soon; give up if it exits. */
static struct qmp *qmp_open_new(const struct sandbox *sb, int pidfd)
{
	int64_t deadline = util_now_ms() + QMP_MS;

	for (;;) {
		struct qmp *q = qmp_open(sb);

		if (q)
			return q;
		if (qemu_wait_exit(pidfd, 10)) {
			err_set("QEMU exited before it answered on QMP");
			return NULL;
		}
		if (util_now_ms() >= deadline)
			return NULL;
	}
}

static int qmp_run_state(struct qmp *q, char *out, size_t len)
{
	cJSON *ret = NULL, *st;
	int rc = -1;

	if (qmp_command(q, "query-status", NULL, &ret, QMP_MS) < 0)
		return -1;
	st = cJSON_GetObjectItemCaseSensitive(ret, "status");
	if (cJSON_IsString(st)) {
		snprintf(out, len, "%s", st->valuestring);
		rc = 0;
	} else {
		err_set("QMP query-status gave no status");
	}
	cJSON_Delete(ret);
	return rc;
}

/* --- taking snapshots --------------------------------------------------------- */

static void fill_meta(const struct sandbox *sb, struct snapshot *s, const char *name,
		      const char *kind)
{
	char *head = read_head(sb->id);

	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->kind, sizeof s->kind, "%s", kind);
	snprintf(s->parent, sizeof s->parent, "%s", head);
	snprintf(s->image, sizeof s->image, "%s", sb->image);
	snprintf(s->accel, sizeof s->accel, "%s", sb->accel);
	snprintf(s->host_ip, sizeof s->host_ip, "%s", sb->host_ip);
	snprintf(s->guest_ip, sizeof s->guest_ip, "%s", sb->guest_ip);
	s->prefix_len = sb->prefix_len;
	s->mem_mib = sb->mem_mib;
	s->cpus = sb->cpus;
	s->created = util_wall_s();
	s->image_built = image_built(sb->image);
	free(head);
}

/*
 * Into dir: memory.bin (memory) and disk.img of the running guest, paused
 * for it and resumed after (unless it was paused before). For a disk
 * snapshot the guest first writes out its files and freezes its writable
 * layer (the copy is then a clean file system); a memory snapshot is
 * consistent as it is, and a frozen layer would be saved frozen.
 */
static int save_running(struct sandbox *sb, const char *dir, struct snapshot *s, bool memory,
			progress_fn fn, void *arg)
{
	char *mem = xasprintf("%s/memory.bin", dir), *disk = xasprintf("%s/disk.img", dir);
	char *src = disk_path(sb->id), state[32];
	struct ssh_conn *c;
	struct qmp *q;
	bool resume;
	int rc = -1;
	struct stat st;

	if (!memory && disk_freeze(sb) < 0)
		goto free;
	if (!(q = qmp_open(sb)))
		goto thaw;
	if (qmp_run_state(q, state, sizeof state) < 0)
		goto close;
	resume = !strcmp(state, "running");
	/* stop flushes QEMU's own caches to the disk file. */
	if (resume && qmp_command(q, "stop", NULL, NULL, QMP_MS) < 0)
		goto close;
	if (memory && tap_mac(sb->netns, s->host_mac, NULL) < 0)
		goto cont;
	if (memory && migrate_save(q, mem, fn, arg) < 0)
		goto cont;
	if (s->has_disk && diskcopy_file(src, disk, "disk.img", fn, arg) < 0)
		goto cont;
	if (memory && stat(mem, &st) == 0)
		s->memory_bytes = (uint64_t)st.st_size;
	rc = 0;
cont:
	if (resume && qmp_command(q, "cont", NULL, NULL, QMP_MS) < 0 && rc == 0) {
		err_set("the snapshot is taken but the guest does not run again: %s", err_msg());
		rc = -1;
	}
close:
	qmp_close(q);
	if (rc == 0 && resume && (c = ssh_open(sb, SSH_MS))) {
		guest_set_clock(c);
		ssh_close(c);
	}
thaw:
	if (!memory) {
		char *msg = xstrdup(err_msg());

		if (disk_thaw(sb) < 0 && rc == 0) {
			err_set("the snapshot is taken but the guest's disk stays frozen (it thaws "
				"by itself within %d s): %s", DISK_FREEZE_MAX_S, err_msg());
			rc = -1;
		} else if (rc < 0) {
			err_set("%s", msg);
		}
		free(msg);
	}
free:
	free(src);
	free(disk);
	free(mem);
	return rc;
}

int snapshot_create(struct sandbox *sb, const char *name, bool memory, progress_fn fn,
		    void *arg, struct snapshot *out)
{
	bool running = store_qemu_alive(sb);
	char buf[64], *tmp = NULL, *dir = NULL, *meta = NULL, *text = NULL, *p;
	const char *why;
	int lock = -1, rc = -1;

	if (!strcmp(sb->state, SB_CREATING) || !strcmp(sb->state, SB_STOPPING)) {
		err_set("sandbox %s is %s; wait for it", sb->name,
			!strcmp(sb->state, SB_CREATING) ? "starting" : "stopping");
		return -1;
	}
	if (memory && !running) {
		err_set("a memory snapshot needs a running sandbox, and %s is %s (start it with "
			"smolvm start %s; without --memory the disk is saved)", sb->name, sb->state,
			sb->name);
		return -1;
	}
	if (!memory && !has_disk(sb->id)) {
		err_set("sandbox %s has no writable disk to snapshot (it was made by an older "
			"smolvm that kept its files in RAM); --memory saves its full running state",
			sb->name);
		return -1;
	}
	if (name && (why = snapshot_name_problem(name))) {
		err_set("the snapshot name '%s' %s", name, why);
		return -1;
	}
	if ((lock = lock_snapshots(sb)) < 0)
		return -1;
	if (!name) {
		default_name(sb, buf, sizeof buf);
		name = buf;
	}
	dir = snap_path(sb->id, name, NULL);
	if (util_exists(dir)) {
		err_set("sandbox %s already has a snapshot named '%s' (see smolvm snapshot ls %s; "
			"remove it with smolvm snapshot rm %s %s)", sb->name, name, sb->name,
			sb->name, name);
		goto out;
	}
	/* Made under a dot name and renamed when complete: a snapshot is
	 * either all there or not at all, even if we are killed halfway. */
	p = xasprintf(".new-%s", name);
	tmp = snap_path(sb->id, p, NULL);
	free(p);
	util_rm_rf(tmp);
	if (util_mkdir_p(tmp, 0700) < 0)
		goto out;
	fill_meta(sb, out, name, memory ? SNAPSHOT_MEMORY : SNAPSHOT_DISK);
	out->has_disk = has_disk(sb->id);
	if (running) {
		if (save_running(sb, tmp, out, memory, fn, arg) < 0)
			goto out;
	} else {
		char *src = disk_path(sb->id), *dst = xasprintf("%s/disk.img", tmp);

		rc = diskcopy_file(src, dst, "disk.img", fn, arg);
		free(dst);
		free(src);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	meta = xasprintf("%s/meta.json", tmp);
	text = snapshot_to_json(out);
	if (util_write_atomic(meta, text, strlen(text), 0600) < 0)
		goto out;
	if (rename(tmp, dir) < 0) {
		err_set("cannot rename %s to %s: %s", tmp, dir, strerror(errno));
		goto out;
	}
	if (write_head(sb->id, name) < 0)
		goto out;
	out->size = diskcopy_allocated(dir);
	out->current = true;
	rc = 0;
out:
	if (rc < 0 && tmp)
		util_rm_rf(tmp);
	free(text);
	free(meta);
	free(tmp);
	free(dir);
	close(lock);
	return rc;
}

int snapshot_rm(const struct sandbox *sb, const char *name)
{
	struct snapshot s;
	char *dir, *head;
	int lock, rc;

	if (snapshot_find(sb, name, &s) < 0)
		return -1;
	if ((lock = lock_snapshots(sb)) < 0)
		return -1;
	dir = snap_path(sb->id, name, NULL);
	rc = util_rm_rf(dir);
	/* Its children keep naming it as their parent: the tree shows a gap. */
	head = read_head(sb->id);
	if (rc == 0 && !strcmp(head, name))
		rc = write_head(sb->id, "");
	free(head);
	free(dir);
	close(lock);
	return rc;
}

/* --- resuming a saved state ---------------------------------------------------- */

/* Can the state in s run as sandbox sb (its devices, memory and image)? */
static int check_resumable(const struct sandbox *sb, const struct snapshot *s)
{
	char *mem = snap_path(sb->id, s->name, "memory.bin");
	struct stat st;
	int rc = -1;

	if (image_require(s->image) < 0)
		goto out;
	if (strcmp(sb->image, s->image) || sb->mem_mib != s->mem_mib || sb->cpus != s->cpus) {
		err_set("snapshot '%s' ran image %s with %d MiB and %d CPUs, sandbox %s has %s "
			"with %d MiB and %d CPUs: a saved running state resumes only on the same",
			s->name, s->image, s->mem_mib, s->cpus, sb->name, sb->image, sb->mem_mib,
			sb->cpus);
		goto out;
	}
	if (image_built(s->image) != s->image_built) {
		err_set("image '%s' was rebuilt after snapshot '%s' was taken: its saved running "
			"state needs the image it ran (a disk snapshot boots any image)", s->image,
			s->name);
		goto out;
	}
	if (stat(mem, &st) < 0 || (uint64_t)st.st_size != s->memory_bytes) {
		err_set("the saved memory of snapshot '%s' (%s) is %s: the snapshot is damaged",
			s->name, mem, errno == ENOENT ? "missing" : "not the size it was saved with");
		goto out;
	}
	rc = 0;
out:
	free(mem);
	return rc;
}

/* A QEMU that exited during a load said why in qemu.log: that replaces the
 * QMP error (a closed connection). */
static void add_qemu_reason(const struct sandbox *sb, const struct sandbox_booting *b)
{
	char *tail = sandbox_log_tail(sb, "qemu.log", b->log_from, 3), *out, *o;
	const char *prefix = "qemu-system-x86_64: ";

	if (!*tail || !qemu_wait_exit(b->pidfd, 500)) {
		free(tail);
		return;
	}
	out = o = xmalloc(strlen(tail) * 2 + 1);
	*o = '\0';
	for (char *line = strtok(tail, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, prefix, strlen(prefix)))
			line += strlen(prefix);
		o += sprintf(o, "%s%s", o == out ? "" : "; ", line);
	}
	err_set("QEMU refused the saved state: %s", out);
	free(out);
	free(tail);
}

/* The resumed guest's SSH server, or NULL with err_set(). */
static struct ssh_conn *wait_ssh(const struct sandbox *sb, int pidfd)
{
	int64_t deadline = util_now_ms() + RESUME_SSH_MS;

	for (;;) {
		struct ssh_conn *c = ssh_open(sb, 2000);

		if (c)
			return c;
		if (qemu_wait_exit(pidfd, 20)) {
			err_set("QEMU exited after resuming the guest");
			return NULL;
		}
		if (util_now_ms() >= deadline) {
			err_set("the resumed guest does not answer SSH: %s", err_msg());
			return NULL;
		}
	}
}

/*
 * Start sb's QEMU on the state in mem (saved under accel, with the tap's
 * MAC mac), its disk already in place, and wait until the guest answers
 * SSH. Success: running. Failure: QEMU gone, sb stopped.
 */
static int resume(struct sandbox *sb, const char *mem, const char *accel, const char *mac)
{
	struct sandbox_booting b = { .pidfd = -1 };
	int64_t t0 = util_now_ms();
	struct ssh_conn *c;
	struct qmp *q = NULL;
	int rc = -1;

	snprintf(sb->accel, sizeof sb->accel, "%s", accel);
	if (sandbox_boot_incoming(sb, &b) < 0)
		return -1;
	if (!(q = qmp_open_new(sb, b.pidfd)) || migrate_load(q, mem, LOAD_MS) < 0) {
		add_qemu_reason(sb, &b);
		goto out;
	}
	if ((*mac && tap_mac(sb->netns, NULL, mac) < 0) ||
	    qmp_command(q, "cont", NULL, NULL, QMP_MS) < 0)
		goto out;
	qmp_close(q);
	q = NULL;
	if (!(c = wait_ssh(sb, b.pidfd)))
		goto out;
	guest_set_clock(c);
	/* The guest resumes with the environment of the state it saved; a
	 * clone has placeholders of its own (and a restore may have others). */
	if (sandbox_guest_secrets(sb, c, true) < 0) {
		ssh_close(c);
		goto out;
	}
	ssh_close(c);
	sb->ready_ms = util_now_ms() - t0;
	snprintf(sb->state, sizeof sb->state, "%s", SB_RUNNING);
	rc = store_save(sb);
out:
	qmp_close(q);
	if (b.pidfd >= 0)
		close(b.pidfd);
	if (rc < 0) {
		char *msg = xstrdup(err_msg());

		sandbox_stop(sb, true);
		err_set("%s", msg);
		free(msg);
	}
	return rc;
}

/* A fresh boot, for disk snapshots. */
static int boot(struct sandbox *sb)
{
	struct sandbox_booting b = { .pidfd = -1 };

	if (sandbox_boot(sb, &b) < 0)
		return -1;
	return sandbox_wait_ready(sb, &b, util_now_ms(), NULL);
}

/* --- restoring -------------------------------------------------------------- */

/* disk.img.new -> disk.img, the old one kept as disk.img.old until the new
 * state runs; swap_back undoes it. */
static int swap_disk(const char *id, bool back)
{
	char *cur = disk_path(id);
	char *incoming = xasprintf("%s.new", cur), *old = xasprintf("%s.old", cur);
	int rc = 0;

	if (!back) {
		if (util_exists(cur) && rename(cur, old) < 0)
			rc = -1;
		else if (rename(incoming, cur) < 0) {
			rc = -1;
			rename(old, cur);
		}
	} else if (util_exists(old) && rename(old, cur) < 0) {
		rc = -1;
	}
	if (rc < 0)
		err_set("cannot put %s in place: %s", cur, strerror(errno));
	free(old);
	free(incoming);
	free(cur);
	return rc;
}

/* What a restore left: the new disk unused, or the old one kept. */
static void clean_disks(const char *id)
{
	char *cur = disk_path(id);
	char *incoming = xasprintf("%s.new", cur), *old = xasprintf("%s.old", cur);

	/* A restore killed between its two renames left only the old disk. */
	if (!util_exists(cur) && util_exists(old))
		rename(old, cur);
	unlink(incoming);
	unlink(old);
	free(old);
	free(incoming);
	free(cur);
}

static int restore_disk(struct sandbox *sb, bool running)
{
	char *msg;

	if (running && sandbox_stop(sb, false) < 0)
		return -1;
	if (swap_disk(sb->id, false) < 0)
		goto fail;
	if (!running || boot(sb) == 0)
		return 0;
	msg = xstrdup(err_msg());
	swap_disk(sb->id, true);
	if (boot(sb) == 0)
		err_set("the restored disk does not boot (%s); the sandbox runs its old disk again",
			msg);
	else
		err_set("the restored disk does not boot (%s), and the old one no longer does "
			"either: %s", msg, err_msg());
	free(msg);
	return -1;
fail:
	msg = xstrdup(err_msg());
	if (running && boot(sb) < 0)
		err_set("%s; booting the old disk again failed too: %s", msg, err_msg());
	else
		err_set("%s", msg);
	free(msg);
	return -1;
}

static int restore_memory(struct sandbox *sb, const struct snapshot *s, bool running)
{
	char *mem = snap_path(sb->id, s->name, "memory.bin");
	char *back = snap_path(sb->id, ".rollback", NULL);
	char *back_mem = xasprintf("%s/memory.bin", back), *msg;
	char accel[sizeof sb->accel], mac[18] = "";
	struct qmp *q;
	int rc = -1;

	util_rm_rf(back);
	/* The running state is saved first: on failure, that is what resumes. */
	if (running) {
		bool paused = false;

		if (util_mkdir_p(back, 0700) < 0 || tap_mac(sb->netns, mac, NULL) < 0 ||
		    !(q = qmp_open(sb)))
			goto out;
		if (qmp_command(q, "stop", NULL, NULL, QMP_MS) == 0) {
			paused = true;
			if (migrate_save(q, back_mem, NULL, NULL) == 0) {
				qmp_close(q);
				goto saved;
			}
		}
		msg = xstrdup(err_msg());
		if (paused)
			qmp_command(q, "cont", NULL, NULL, QMP_MS);
		qmp_close(q);
		err_set("cannot save the running state before the restore, so nothing was "
			"changed: %s", msg);
		free(msg);
		goto out;
saved:
		memcpy(accel, sb->accel, sizeof accel);
		if (sandbox_stop(sb, true) < 0)
			goto out;
	}
	if (s->has_disk && swap_disk(sb->id, false) < 0)
		goto rollback;
	if (resume(sb, mem, s->accel, s->host_mac) == 0) {
		rc = 0;
		goto out;
	}
rollback:
	msg = xstrdup(err_msg());
	if (s->has_disk)
		swap_disk(sb->id, true);
	if (!running)
		err_set("restoring snapshot '%s' failed: %s; sandbox %s is stopped with its "
			"disk as it was", s->name, msg, sb->name);
	else if (resume(sb, back_mem, accel, mac) == 0)
		err_set("restoring snapshot '%s' failed: %s; sandbox %s runs on as it was",
			s->name, msg, sb->name);
	else
		err_set("restoring snapshot '%s' failed: %s; resuming the state from before "
			"failed too (%s): sandbox %s is stopped, its disk as it was", s->name, msg,
			err_msg(), sb->name);
	free(msg);
out:
	util_rm_rf(back);
	free(back_mem);
	free(back);
	free(mem);
	return rc;
}

int snapshot_restore(struct sandbox *sb, const char *name, progress_fn fn, void *arg)
{
	bool running = store_qemu_alive(sb);
	struct snapshot s;
	char *src = NULL, *dst = NULL;
	int lock, rc = -1;

	if (snapshot_find(sb, name, &s) < 0)
		return -1;
	if (!strcmp(sb->state, SB_CREATING) || !strcmp(sb->state, SB_STOPPING)) {
		err_set("sandbox %s is %s; wait for it", sb->name,
			!strcmp(sb->state, SB_CREATING) ? "starting" : "stopping");
		return -1;
	}
	if (!strcmp(s.kind, SNAPSHOT_MEMORY) && check_resumable(sb, &s) < 0)
		return -1;
	if ((lock = lock_snapshots(sb)) < 0)
		return -1;
	clean_disks(sb->id);
	/* The copy is made beside the disk before anything stops: a full host
	 * disk fails here, with the sandbox untouched. */
	if (s.has_disk) {
		char *cur = disk_path(sb->id);

		src = snap_path(sb->id, name, "disk.img");
		dst = xasprintf("%s.new", cur);
		free(cur);
		if (diskcopy_file(src, dst, "disk.img", fn, arg) < 0)
			goto out;
	}
	if (!strcmp(s.kind, SNAPSHOT_MEMORY))
		rc = restore_memory(sb, &s, running);
	else
		rc = restore_disk(sb, running);
	if (rc == 0)
		rc = write_head(sb->id, name);
out:
	clean_disks(sb->id);
	free(dst);
	free(src);
	close(lock);
	return rc;
}

/* --- clones --------------------------------------------------------------------- */

/* The original's policy without its published ports, or NULL for none. */
static int clone_policy(const struct sandbox *src, struct policy **out)
{
	char *path = paths_vm_file(src->id, "policy.json");
	int rc = 0;

	*out = NULL;
	if (util_exists(path)) {
		rc = policy_load_file(path, out);
		for (size_t i = 0; rc == 0 && i < (*out)->n_ingress; i++) {
			free((*out)->ingress[i].comment);
			(*out)->ingress[i].comment = NULL;
		}
		if (rc == 0)
			(*out)->n_ingress = 0;
	}
	free(path);
	return rc;
}

int snapshot_clone(const char *ref, const char *name, progress_fn fn, void *arg,
		   struct sandbox *out)
{
	struct sandbox src;
	struct snapshot s;
	struct policy *policy = NULL;
	struct sandbox_opts o;
	char *src_key = NULL, *snap = NULL, *mem = NULL, *disk = NULL, *head = NULL;
	bool memory;
	int rc = -1;

	if (snapshot_parse_ref(ref, &src_key, &snap) < 0)
		return -1;
	if (store_resolve(src_key, &src) < 0 || snapshot_find(&src, snap, &s) < 0)
		goto out;
	memory = !strcmp(s.kind, SNAPSHOT_MEMORY);
	if (memory && check_resumable(&src, &s) < 0)
		goto out;
	if (clone_policy(&src, &policy) < 0)
		goto out;
	o = (struct sandbox_opts){ .name = name, .image = s.image, .mem_mib = s.mem_mib,
				   .cpus = s.cpus, .policy = policy,
				   .addresses = memory ? &src : NULL };
	if (sandbox_create(&o, out) < 0)
		goto out;
	/* The clone's disk replaces any fresh one that create made. */
	if (s.has_disk) {
		char *dst = disk_path(out->id);

		disk = snap_path(src.id, snap, "disk.img");
		unlink(dst);
		rc = diskcopy_file(disk, dst, "disk.img", fn, arg);
		free(dst);
		if (rc < 0)
			goto fail;
	}
	mem = snap_path(src.id, snap, "memory.bin");
	rc = memory ? resume(out, mem, s.accel, s.host_mac) : boot(out);
	if (rc < 0)
		goto fail;
	head = xasprintf("%s:%s", src.id, snap);
	rc = write_head(out->id, head);
	goto out;
fail:
	{
		char *msg = xstrdup(err_msg());

		if (sandbox_rm(out) < 0)
			err_set("%s; removing the half-made clone %s failed too: %s", msg, out->id,
				err_msg());
		else
			err_set("%s", msg);
		free(msg);
		rc = -1;
	}
out:
	policy_unref(policy);
	free(head);
	free(disk);
	free(mem);
	free(snap);
	free(src_key);
	return rc;
}
