#include "backend/sandbox.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/paths.h"
#include "backend/qemu.h"
#include "backend/qmp.h"
#include "backend/s3.h"
#include "backend/ssh.h"
#include "backend/util.h"
#include "fs/image.h"
#include "net/netns.h"
#include "net/policy.h"
#include "net/proxy.h"
#include "net/secrets.h"
#include "net/tap.h"

/* Sandbox subnets: /30 blocks of 10.77.0.0/16 (host .1, guest .2 of each). */
#define NET_BASE 0x0a4d0000u
#define NET_BLOCKS (65536 / 4)
#define NET_PREFIX 30

#define STOP_CLEAN_MS 10000
#define STOP_QUIT_MS 3000
#define KILL_WAIT_MS 3000

/* Serialises id, name and address allocation between concurrent smolvm runs. */
static int lock_vms(void)
{
	char *dir = paths_vms_dir();
	char *path = xasprintf("%s/.lock", dir);
	int fd = -1;

	if (util_mkdir_p(dir, 0700) == 0) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			err_set("cannot open %s: %s", path, strerror(errno));
		else if (flock(fd, LOCK_EX) < 0) {
			err_set("cannot lock %s: %s", path, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	free(path);
	free(dir);
	return fd;
}

static void ip_str(uint32_t ip, char out[16])
{
	struct in_addr a = { .s_addr = htonl(ip) };

	inet_ntop(AF_INET, &a, out, 16);
}

/* The lowest /30 block no record uses. */
static int pick_subnet(const struct sandbox *all, size_t n, struct sandbox *sb)
{
	unsigned char *used = xcalloc(NET_BLOCKS, 1);
	int block = -1;

	for (size_t i = 0; i < n; i++) {
		struct in_addr a;
		uint32_t ip;

		if (inet_pton(AF_INET, all[i].host_ip, &a) != 1)
			continue;
		ip = ntohl(a.s_addr);
		if ((ip & 0xffff0000u) == NET_BASE)
			used[(ip & 0xffffu) / 4] = 1;
	}
	for (int b = 0; b < NET_BLOCKS && block < 0; b++)
		if (!used[b])
			block = b;
	free(used);
	if (block < 0) {
		err_set("no free address left in 10.77.0.0/16 (%d sandboxes): remove some "
			"with smolvm rm", NET_BLOCKS);
		return -1;
	}
	ip_str(NET_BASE + (uint32_t)block * 4 + 1, sb->host_ip);
	ip_str(NET_BASE + (uint32_t)block * 4 + 2, sb->guest_ip);
	sb->prefix_len = NET_PREFIX;
	return 0;
}

static int name_taken(const struct sandbox *all, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(all[i].name, name) || !strcmp(all[i].id, name))
			return 1;
	return 0;
}

/* Everything up to and including the "creating" record, under the lock. */
static int allocate(const struct sandbox_opts *o, struct sandbox *sb)
{
	struct sandbox *all = NULL;
	size_t n = 0;
	int lock = lock_vms(), rc = -1;
	char *dir = NULL;

	if (lock < 0)
		return -1;
	if (store_list(&all, &n) < 0)
		goto out;
	if (o->name) {
		if (name_taken(all, n, o->name)) {
			err_set("a sandbox named '%s' already exists (see smolvm ls)", o->name);
			goto out;
		}
		snprintf(sb->name, sizeof sb->name, "%s", o->name);
	} else {
		store_default_name(sb->name, sizeof sb->name);
	}
	if (o->addresses) {
		memcpy(sb->host_ip, o->addresses->host_ip, sizeof sb->host_ip);
		memcpy(sb->guest_ip, o->addresses->guest_ip, sizeof sb->guest_ip);
		sb->prefix_len = o->addresses->prefix_len;
	} else if (pick_subnet(all, n, sb) < 0) {
		goto out;
	}
	/* A fresh directory claims the id; a clash (one in 4 billion) retries. */
	for (;;) {
		store_new_id(sb->id);
		free(dir);
		dir = paths_vm_dir(sb->id);
		if (mkdir(dir, 0700) == 0)
			break;
		if (errno != EEXIST) {
			err_set("cannot create %s: %s", dir, strerror(errno));
			goto out;
		}
	}
	snprintf(sb->netns, sizeof sb->netns, "smolvm-%s", sb->id);
	snprintf(sb->state, sizeof sb->state, "%s", SB_CREATING);
	sb->created = util_wall_s();
	if (store_save(sb) < 0) {
		store_remove(sb->id);
		goto out;
	}
	rc = 0;
out:
	free(dir);
	free(all);
	close(lock);
	return rc;
}

/* The namespace with its tap; made at create, and again at boot if it went
 * away (/run/netns does not survive a host reboot). */
static int ensure_network(const struct sandbox *sb)
{
	if (netns_exists(sb->netns))
		return 0;
	if (netns_create(sb->netns) < 0)
		return -1;
	if (tap_setup(sb->netns, "tap0", sb->host_ip, sb->prefix_len) < 0) {
		netns_remove(sb->netns);
		return -1;
	}
	return 0;
}

/* The sandbox's writable layer, empty: everything it changes goes there. */
static int make_disk(const struct sandbox_opts *o, const struct sandbox *sb)
{
	char *path = disk_path(sb->id);
	int64_t bytes = o->disk_bytes;
	int rc = 0;

	if (!bytes)
		rc = disk_parse_size(DISK_DEFAULT_SIZE, &bytes);
	if (rc == 0)
		rc = disk_make(path, bytes);
	free(path);
	return rc;
}

int sandbox_create(const struct sandbox_opts *o, struct sandbox *sb)
{
	memset(sb, 0, sizeof *sb);
	if (o->name && !store_name_valid(o->name)) {
		err_set("the name '%s' %s", o->name, store_name_problem(o->name));
		return -1;
	}
	if (image_require(o->image) < 0)
		return -1;
	snprintf(sb->image, sizeof sb->image, "%s", o->image);
	sb->mem_mib = o->mem_mib;
	sb->cpus = o->cpus;
	if (allocate(o, sb) < 0)
		return -1;
	if ((o->policy && sandbox_set_policy(sb, o->policy) < 0) || make_disk(o, sb) < 0 ||
	    ensure_network(sb) < 0) {
		store_remove(sb->id);
		return -1;
	}
	return 0;
}

/* How long a guest gets to take its secrets' placeholders. */
#define SECRETS_ENV_MS 10000

int sandbox_guest_secrets(const struct sandbox *sb, struct ssh_conn *c, bool changed)
{
	struct ssh_conn *own = NULL;
	struct secrets s;
	char *cmd;
	int null_fd, rc = 0;

	if (secrets_load(sb->id, &s) < 0)
		return -1;
	if (!s.n && !changed)
		return 0;
	if (!c && !(c = own = ssh_open(sb, 5000))) {
		rc = -1;
		goto out;
	}
	cmd = secrets_guest_cmd(&s);
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	rc = ssh_exec_timeout(c, cmd, -1, null_fd, null_fd, SECRETS_ENV_MS);
	if (null_fd >= 0)
		close(null_fd);
	free(cmd);
	if (rc != 0) {
		if (rc > 0)
			err_set("the guest's SSH server did not restart (status %d)", rc);
		rc = -1;
	}
out:
	if (rc < 0) {
		char *msg = xstrdup(err_msg());

		err_set("cannot give the guest its secrets' placeholders: %s", msg);
		free(msg);
	}
	ssh_close(own);
	secrets_free(&s);
	return rc;
}

/* A sandbox file as it was before a change, to put back when the change fails. */
struct saved_file {
	char *path, *text;	/* text NULL: there was no such file */
	size_t len;
};

static int saved_file_read(struct saved_file *f, const char *id, const char *name)
{
	f->path = paths_vm_file(id, name);
	if (!util_exists(f->path))
		return 0;
	f->text = util_read_file(f->path, &f->len);
	return f->text ? 0 : -1;
}

static int saved_file_put_back(const struct saved_file *f)
{
	if (f->text)
		return util_write_atomic(f->path, f->text, f->len, 0600);
	if (unlink(f->path) < 0 && errno != ENOENT) {
		err_set("cannot remove %s: %s", f->path, strerror(errno));
		return -1;
	}
	return 0;
}

static void saved_file_free(struct saved_file *f)
{
	free(f->path);
	free(f->text);
}

int sandbox_set_policy(const struct sandbox *sb, const struct policy *p)
{
	struct saved_file old_policy = { 0 }, old_secrets = { 0 };
	char *text;
	bool changed = false;
	pid_t pid;
	int rc = -1;

	/* An unknown secret leaves everything as it was; placeholders are made
	 * (and kept) before the policy that names them is in force. */
	if (secrets_check_vault(p) < 0 || saved_file_read(&old_policy, sb->id, "policy.json") < 0 ||
	    saved_file_read(&old_secrets, sb->id, SECRETS_FILE) < 0 ||
	    secrets_attach(sb->id, p, NULL, &changed) < 0)
		goto out;
	text = policy_to_json(p);
	rc = util_write_atomic(old_policy.path, text, strlen(text), 0600);
	free(text);
	if (!rc && changed && !strcmp(sb->state, SB_RUNNING) && store_qemu_alive(sb))
		rc = sandbox_guest_secrets(sb, NULL, true);
	if (rc < 0) {
		/* A failed set changes nothing: the policy in force stays. */
		char *msg = xstrdup(err_msg());
		int a = saved_file_put_back(&old_secrets), b = saved_file_put_back(&old_policy);

		if (a < 0 || b < 0) {
			char *why = xstrdup(err_msg());

			err_set("%s; and the old policy could not be put back: %s", msg, why);
			free(why);
		} else {
			err_set("%s (the policy in force stays)", msg);
		}
		free(msg);
	}
	/* The proxy would see the file at its next request anyway; the signal
	 * makes it read it now (the old one again after a failure), published
	 * ports included. */
	pid = proxy_pid(sb);
	if (pid > 0 && kill(pid, SIGHUP) < 0 && !rc) {
		err_set("the policy is written, but the egress proxy (pid %d) cannot be told: %s",
			(int)pid, strerror(errno));
		rc = -1;
	}
out:
	saved_file_free(&old_policy);
	saved_file_free(&old_secrets);
	return rc;
}

/* Kill QEMU for good and wait (bounded) until it is gone. */
static void kill_qemu(const struct sandbox *sb)
{
	int pidfd;

	if (!store_qemu_alive(sb))
		return;
	pidfd = qemu_pidfd(sb->pid);
	kill(sb->pid, SIGKILL);
	qemu_wait_exit(pidfd, KILL_WAIT_MS);
	if (pidfd >= 0)
		close(pidfd);
}

/* QEMU's runtime files go when it does; a stale socket would mislead ls. */
static void remove_runtime_files(const struct sandbox *sb)
{
	static const char *names[] = { "qmp.sock", "qemu.pid" };

	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		char *p = paths_vm_file(sb->id, names[i]);
		unlink(p);
		free(p);
	}
}

static void mark_stopped(struct sandbox *sb)
{
	proxy_stop(sb);
	/* Buckets are never left mounted on the host once the guest is gone. */
	s3_release(sb->id);
	remove_runtime_files(sb);
	snprintf(sb->state, sizeof sb->state, "%s", SB_STOPPED);
	sb->pid = 0;
	store_save(sb);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

static int boot_qemu(struct sandbox *sb, struct sandbox_booting *b, bool incoming)
{
	char *kernel = image_file(sb->image, "vmlinuz");
	char *initrd = image_file(sb->image, "initrd.img");
	char *console = paths_vm_file(sb->id, "console.log");
	char *qmp = paths_vm_file(sb->id, "qmp.sock");
	char *pidfile = paths_vm_file(sb->id, "qemu.pid");
	char *log = paths_vm_file(sb->id, "qemu.log");
	char *share = s3_share_dir(sb->id);
	char *base = image_file(sb->image, "root.img"), *disk = disk_path(sb->id);
	struct qemu_files f = { kernel, initrd, console, qmp, pidfile, incoming,
				.base = base, .disk = disk, .share = share };
	const char *accel;
	char **argv = NULL;
	int rc = -1;
	pid_t pid;

	/* The egress proxy listens before the guest can send anything. */
	if (image_require(sb->image) < 0 || ensure_network(sb) < 0 || proxy_start(sb) < 0)
		goto out;
	/* A saved state runs only under the accelerator it was saved with. */
	if (!incoming) {
		accel = qemu_accel(kernel, initrd);
		if (!accel)
			goto out;
		snprintf(sb->accel, sizeof sb->accel, "%s", accel);
	}
	if (!util_exists(disk)) {
		err_set("sandbox %s has no writable disk %s: it was made by an older smolvm; "
			"remove it and create it again", sb->name, disk);
		goto out;
	}
	remove_runtime_files(sb);
	/* The folder shared over virtio-9p, S3 mounts go below it; a sandbox
	 * starts without any (a crash may have left some). */
	if (s3_release(sb->id) < 0 || util_mkdir_p(share, 0700) < 0)
		goto out;
	sb->ready_ms = 0;
	argv = qemu_argv(sb, &f, qemu_host_tsc_khz());
	/* The console log keeps earlier boots; this one's output starts here. */
	b->console_from = file_size(console);
	b->log_from = file_size(log);
	pid = qemu_spawn(argv, sb->netns, log, true);
	if (pid < 0)
		goto out;
	b->pidfd = qemu_pidfd(pid);
	sb->pid = pid;
	sb->started = util_wall_s();
	snprintf(sb->state, sizeof sb->state, "%s", SB_CREATING);
	if (store_save(sb) < 0) {
		kill_qemu(sb);
		if (b->pidfd >= 0)
			close(b->pidfd);
		b->pidfd = -1;
		sb->pid = 0;
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		/* Stopping may say something too (no pid file): the reason stays. */
		char *msg = xstrdup(err_msg());

		proxy_stop(sb);
		err_set("%s", msg);
		free(msg);
	}
	qemu_argv_free(argv);
	free(share);
	free(log);
	free(pidfile);
	free(qmp);
	free(console);
	free(initrd);
	free(kernel);
	free(base);
	free(disk);
	return rc;
}

int sandbox_boot(struct sandbox *sb, struct sandbox_booting *b)
{
	return boot_qemu(sb, b, false);
}

int sandbox_boot_incoming(struct sandbox *sb, struct sandbox_booting *b)
{
	return boot_qemu(sb, b, true);
}

static int boot_timeout_ms(const struct sandbox *sb)
{
	const char *env = getenv("SMOLVM_BOOT_TIMEOUT");
	char *end;
	long s;

	if (env && *env) {
		s = strtol(env, &end, 10);
		if (*end == '\0' && s > 0 && s < 24 * 3600)
			return (int)s * 1000;
	}
	return !strcmp(sb->accel, "kvm") ? 30000 : 120000;
}

/* After the ready line dropbear listens; a refused connection can only be a
 * moment's race, so SSH gets this long before the boot counts as failed. */
#define SSH_GRACE_MS 5000

/* QEMU went away during boot: say why when the console makes it plain. */
static void explain_boot_exit(const struct sandbox *sb, const struct sandbox_booting *b)
{
	char *console = sandbox_log_tail(sb, "console.log", b->console_from, 400);

	/* An initramfs that does not fit in RAM runs out of space unpacking. */
	if (strstr(console, "No space left on device"))
		err_set("the guest ran out of memory unpacking its image: %d MiB is too "
			"little for image '%s'; give it more with --mem (256 or more)",
			sb->mem_mib, sb->image);
	else
		err_set("QEMU exited while the guest was booting");
	free(console);
}

int sandbox_wait_ready(struct sandbox *sb, struct sandbox_booting *b, int64_t t0_ms,
		       const volatile sig_atomic_t *cancel)
{
	char *console = paths_vm_file(sb->id, "console.log");
	int timeout = boot_timeout_ms(sb), rc;
	int64_t deadline = util_now_ms() + timeout, ssh_deadline;
	struct ssh_conn *c = NULL;

	rc = qemu_wait_console(console, b->console_from, QEMU_READY_LINE, b->pidfd, timeout,
			       cancel);
	if (rc == 0)
		err_set("the guest did not print %s within %d s (raise SMOLVM_BOOT_TIMEOUT if "
			"the host is busy)", QEMU_READY_LINE, timeout / 1000);
	else if (rc < 0 && !(cancel && *cancel))
		explain_boot_exit(sb, b);
	ssh_deadline = util_now_ms() + SSH_GRACE_MS;
	if (ssh_deadline > deadline)
		ssh_deadline = deadline;
	while (rc == 1) {
		int64_t left = ssh_deadline - util_now_ms();

		c = ssh_open(sb, left > 0 ? (int)left : 1);
		if (c)
			break;
		if (cancel && *cancel) {
			err_set("interrupted");
			rc = -1;
		} else if (qemu_wait_exit(b->pidfd, 20)) {
			explain_boot_exit(sb, b);
			rc = -1;
		} else if (util_now_ms() >= ssh_deadline) {
			err_set("the guest is up but SSH fails: %s", err_msg());
			rc = -1;
		}
	}
	/* Before it counts as running, so that no session starts without them. */
	if (c && sandbox_guest_secrets(sb, c, false) < 0) {
		ssh_close(c);
		c = NULL;
	}
	if (c) {
		ssh_close(c);
		sb->ready_ms = util_now_ms() - t0_ms;
		snprintf(sb->state, sizeof sb->state, "%s", SB_RUNNING);
		rc = store_save(sb) < 0 ? -1 : 0;
	} else {
		rc = -1;
	}
	if (rc < 0) {
		char *msg = xstrdup(err_msg());

		kill_qemu(sb);
		mark_stopped(sb);
		err_set("%s", msg);
		free(msg);
	}
	if (b->pidfd >= 0)
		close(b->pidfd);
	b->pidfd = -1;
	free(console);
	return rc;
}

char *sandbox_log_tail(const struct sandbox *sb, const char *file, off_t from, int lines)
{
	char *path = paths_vm_file(sb->id, file);
	char *text = util_read_file(path, NULL), *start, *out, *o;
	size_t len;
	int seen = 0;

	free(path);
	if (!text)
		return xstrdup("");
	len = strlen(text);
	if ((size_t)from > len)
		from = 0;
	start = text + len;
	/* Walk back over `lines` line ends, not counting a final newline. */
	while (start > text + from) {
		if (start[-1] == '\n' && start != text + len && ++seen >= lines)
			break;
		start--;
	}
	out = o = xmalloc(strlen(start) + 1);
	/* The guest prints escape sequences too; keep it to plain text. */
	for (const char *p = start; *p; p++)
		if (*p == '\n' || *p == '\t' || ((unsigned char)*p >= 0x20 && *p != 0x7f))
			*o++ = *p;
	*o = '\0';
	free(text);
	return out;
}

static int qmp_quit(const struct sandbox *sb)
{
	char *sock = paths_vm_file(sb->id, "qmp.sock");
	struct qmp *q = qmp_connect(sock, 1000);
	int rc = -1;

	if (q) {
		rc = qmp_command(q, "quit", NULL, NULL, 1000);
		qmp_close(q);
	}
	free(sock);
	return rc;
}

/* busybox poweroff -f powers off at once (no init to ask in the guest);
 * detached and slightly delayed, so the SSH command returns first. The
 * freeze empties the writable layer's journal first, so that disk.img is
 * whole as it is on the host (diff and snapshots read it there). */
#define POWEROFF_CMD \
	"(sleep 0.1; sync; fsfreeze --freeze " DISK_GUEST_UPPER "; poweroff -f) " \
	"</dev/null >/dev/null 2>&1 &"

/* Ask the guest to power off; true if it took the command. */
static bool guest_poweroff(const struct sandbox *sb)
{
	struct ssh_conn *c = ssh_open(sb, 3000);
	int null_fd, rc;

	if (!c)
		return false;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	rc = ssh_exec_timeout(c, POWEROFF_CMD, -1, null_fd, null_fd, 3000);
	if (null_fd >= 0)
		close(null_fd);
	ssh_close(c);
	return rc == 0;
}

int sandbox_stop(struct sandbox *sb, bool force)
{
	int pidfd;

	if (!store_qemu_alive(sb)) {
		mark_stopped(sb);
		return 0;
	}
	/* Say so first: watchers (the TUI, ls) must not read the exit as a crash. */
	snprintf(sb->state, sizeof sb->state, "%s", SB_STOPPING);
	if (store_save(sb) < 0)
		return -1;
	pidfd = qemu_pidfd(sb->pid);
	if (!force && guest_poweroff(sb) && qemu_wait_exit(pidfd, STOP_CLEAN_MS))
		goto gone;
	if (qmp_quit(sb) == 0 && qemu_wait_exit(pidfd, STOP_QUIT_MS))
		goto gone;
	kill(sb->pid, SIGKILL);
	if (!qemu_wait_exit(pidfd, KILL_WAIT_MS)) {
		err_set("QEMU (pid %d) does not die even with SIGKILL", (int)sb->pid);
		if (pidfd >= 0)
			close(pidfd);
		return -1;
	}
gone:
	if (pidfd >= 0)
		close(pidfd);
	mark_stopped(sb);
	return 0;
}

int sandbox_rm_broken(const char *id)
{
	struct sandbox sb = { 0 };
	char *pidfile = paths_vm_file(id, "qemu.pid");
	char *text = util_read_file(pidfile, NULL);

	free(pidfile);
	snprintf(sb.id, sizeof sb.id, "%s", id);
	snprintf(sb.name, sizeof sb.name, "%s", id);
	snprintf(sb.netns, sizeof sb.netns, "smolvm-%s", id);
	/* store_qemu_alive checks the pid's command line, so a stale file is harmless. */
	sb.pid = text ? (pid_t)strtol(text, NULL, 10) : 0;
	free(text);
	return sandbox_rm(&sb);
}

int sandbox_rm(struct sandbox *sb)
{
	kill_qemu(sb);
	if (proxy_stop(sb) < 0)
		return -1;
	if (store_qemu_alive(sb)) {
		err_set("QEMU (pid %d) does not die even with SIGKILL", (int)sb->pid);
		return -1;
	}
	if (sb->netns[0] && netns_remove(sb->netns) < 0)
		return -1;
	/* Removing the folder must never reach into a bucket still mounted there. */
	if (s3_release(sb->id) < 0)
		return -1;
	return store_remove(sb->id);
}

int sandbox_qmp_status(const struct sandbox *sb, char *out, size_t len, int timeout_ms)
{
	char *sock = paths_vm_file(sb->id, "qmp.sock");
	struct qmp *q = qmp_connect(sock, timeout_ms);
	cJSON *ret = NULL, *status;
	int rc = -1;

	free(sock);
	if (!q)
		return -1;
	if (qmp_command(q, "query-status", NULL, &ret, timeout_ms) == 0) {
		status = cJSON_GetObjectItemCaseSensitive(ret, "status");
		if (cJSON_IsString(status)) {
			snprintf(out, len, "%s", status->valuestring);
			rc = 0;
		} else {
			err_set("QMP query-status gave no status");
		}
	}
	cJSON_Delete(ret);
	qmp_close(q);
	return rc;
}

int64_t sandbox_uptime_s(const struct sandbox *sb)
{
	if (!store_qemu_alive(sb) || sb->started <= 0)
		return 0;
	return util_wall_s() - sb->started;
}
