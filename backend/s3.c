#include "backend/s3.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/qemu.h"
#include "backend/ssh.h"
#include "backend/util.h"
#include "backend/vault.h"

#define S3FS_BIN "s3fs"
/* s3fs checks the bucket before it serves anything; a dead endpoint is
 * given up on well within this. */
#define MOUNT_WAIT_MS 30000
#define GUEST_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 10000
/* s3fs leaves once unmounted; this long is waited for it before SIGKILL. */
#define EXIT_WAIT_MS 5000
#define LOCK_WAIT_MS 10000
#define MAX_MOUNTS 64

char *s3_share_dir(const char *id)
{
	return paths_vm_file(id, "share");
}

/* ---- checks ------------------------------------------------------------- */

bool s3_bucket_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 3 || n > 63 || !isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) &&
		    name[i] != '.' && name[i] != '-')
			return false;
	return true;
}

char *s3_url_host(const char *url)
{
	const char *p, *end;
	char *host;

	if (!strncmp(url, "https://", 8))
		p = url + 8;
	else if (!strncmp(url, "http://", 7))
		p = url + 7;
	else {
		err_set("endpoint %s is not an http:// or https:// URL", url);
		return NULL;
	}
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end) {
			err_set("endpoint %s has an unclosed [address]", url);
			return NULL;
		}
		p++;
	} else {
		end = p + strcspn(p, ":/?#");
	}
	if (end == p || memchr(p, '@', (size_t)(end - p))) {
		err_set("endpoint %s names no host (or has user information in it)", url);
		return NULL;
	}
	host = xasprintf("%.*s", (int)(end - p), p);
	for (char *c = host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return host;
}

bool s3_host_allowed(const char *host, char *const *hosts, size_t n)
{
	size_t hl = strlen(host);

	for (size_t i = 0; i < n; i++) {
		const char *h = hosts[i];

		if (!strncmp(h, "*.", 2)) {
			size_t sl = strlen(h + 1);	/* ".suffix" */

			if (hl > sl && !strcmp(host + hl - sl, h + 1))
				return true;
		} else if (!strcmp(h, host)) {
			return true;
		}
	}
	return false;
}

/* A guest folder for a mount: absolute, not "/", no "." or ".." parts,
 * and only of the characters [A-Za-z0-9._+@/-]. */
static int check_guest_dir(const char *dir)
{
	const char *p = dir;

	if (*dir != '/' || !dir[1] || strlen(dir) > 1024) {
		err_set("the guest folder must be an absolute path below / (not %s)", dir);
		return -1;
	}
	if (dir[strspn(dir, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			"._+@/-")]) {
		err_set("the guest folder %s may have only letters, digits and . _ + @ - / in it",
			dir);
		return -1;
	}
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			err_set("the guest folder %s has a . or .. in it; give it plainly", dir);
			return -1;
		}
		p += n;
	}
	return 0;
}

/* ---- the record: vms/<id>/s3.json, under vms/<id>/s3.lock --------------- */

static int lock_record(const char *id)
{
	char *path = paths_vm_file(id, "s3.lock");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	int64_t until = util_now_ms() + LOCK_WAIT_MS;

	if (fd < 0) {
		err_set("cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (util_now_ms() > until) {
			err_set("another s3 mount or umount of this sandbox is under way; try again");
			close(fd);
			return -1;
		}
		usleep(50 * 1000);
	}
	return fd;
}

static void unlock_record(int fd)
{
	if (fd >= 0)
		close(fd);
}

static char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

void s3_mounts_free(struct s3_mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].bucket);
		free(m[i].guest_dir);
		free(m[i].endpoint);
		free(m[i].secret);
		free(m[i].sub);
	}
	free(m);
}

int s3_list(const char *id, struct s3_mount **out, size_t *n)
{
	char *path = paths_vm_file(id, "s3.json"), *text;
	cJSON *root, *it;

	*out = NULL;
	*n = 0;
	text = util_read_file(path, NULL);
	if (!text) {
		int e = errno;

		free(path);
		if (e == ENOENT)
			return 0;
		err_set("cannot read the s3 mounts of sandbox %s: %s", id, strerror(e));
		return -1;
	}
	root = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsArray(root)) {
		err_set("%s is not a list of mounts; remove it after unmounting by hand", path);
		cJSON_Delete(root);
		free(path);
		return -1;
	}
	free(path);
	*out = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof **out);
	cJSON_ArrayForEach(it, root) {
		struct s3_mount *m = &(*out)[*n];
		const cJSON *rw = cJSON_GetObjectItemCaseSensitive(it, "rw");
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(it, "pid");
		const cJSON *created = cJSON_GetObjectItemCaseSensitive(it, "created");

		m->bucket = jstr(it, "bucket");
		m->guest_dir = jstr(it, "guest_dir");
		m->endpoint = jstr(it, "endpoint");
		m->secret = jstr(it, "secret");
		m->sub = jstr(it, "sub");
		m->rw = cJSON_IsTrue(rw);
		m->pid = cJSON_IsNumber(pid) ? (pid_t)pid->valuedouble : 0;
		m->created = cJSON_IsNumber(created) ? (int64_t)created->valuedouble : 0;
		(*n)++;
		if (!m->bucket || !m->guest_dir || !m->endpoint || !m->sub) {
			err_set("a mount of sandbox %s is recorded without its bucket, folders or "
				"endpoint", id);
			cJSON_Delete(root);
			s3_mounts_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
	}
	cJSON_Delete(root);
	return 0;
}

static int save_list(const char *id, const struct s3_mount *m, size_t n)
{
	char *path = paths_vm_file(id, "s3.json"), *text;
	cJSON *root = cJSON_CreateArray();
	int rc;

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "bucket", m[i].bucket);
		cJSON_AddStringToObject(o, "guest_dir", m[i].guest_dir);
		cJSON_AddStringToObject(o, "endpoint", m[i].endpoint);
		if (m[i].secret)
			cJSON_AddStringToObject(o, "secret", m[i].secret);
		cJSON_AddBoolToObject(o, "rw", m[i].rw);
		cJSON_AddStringToObject(o, "sub", m[i].sub);
		cJSON_AddNumberToObject(o, "pid", m[i].pid);
		cJSON_AddNumberToObject(o, "created", (double)m[i].created);
		cJSON_AddItemToArray(root, o);
	}
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (n)
		rc = util_write_atomic(path, text, strlen(text), 0600);
	else
		rc = unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	if (rc < 0 && n == 0)
		err_set("cannot remove %s: %s", path, strerror(errno));
	free(text);
	free(path);
	return rc;
}

/* ---- host mounts ---------------------------------------------------------- */

/* Undo the octal escapes of /proc/self/mountinfo (a space is \040). */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Mount points at or below dir, deepest last (newly allocated; *n of them). */
static char **mounts_under(const char *dir, size_t *n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	size_t dl = strlen(dir), cap = 0;
	char **out = NULL, *line = NULL;
	size_t len = 0;

	*n = 0;
	if (!f)
		return NULL;
	while (getline(&line, &len, f) > 0) {
		char mp[4096];

		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		unescape(mp);
		if (strncmp(mp, dir, dl) || (mp[dl] != '\0' && mp[dl] != '/'))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			out = xrealloc(out, cap * sizeof *out);
		}
		out[(*n)++] = xstrdup(mp);
	}
	free(line);
	fclose(f);
	return out;
}

static bool is_mounted(const char *path)
{
	size_t n;
	char **m = mounts_under(path, &n);
	bool yes = false;

	for (size_t i = 0; i < n; i++) {
		yes = yes || !strcmp(m[i], path);
		free(m[i]);
	}
	free(m);
	return yes;
}

/* Unmount path: at once if it is not busy, else detached (it goes as soon
 * as nothing uses it, and is out of the tree now). */
static int host_unmount(const char *path)
{
	if (umount2(path, UMOUNT_NOFOLLOW) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOENT)
		return 0;	/* not mounted (any more) */
	if (errno == EBUSY && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return 0;
	err_set("cannot unmount %s on the host: %s", path, strerror(errno));
	return -1;
}

/* Is pid a live s3fs (not a reused pid, nor a zombie nobody reaped yet)? */
static bool s3fs_alive(pid_t pid)
{
	char buf[256], *close_paren;

	if (pid <= 0 || util_read_proc(pid, "stat", buf, sizeof buf) <= 0)
		return false;
	/* "PID (COMM) STATE ..." */
	close_paren = strrchr(buf, ')');
	return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' &&
	       strstr(buf, "(" S3FS_BIN ")") != NULL;
}

static void s3fs_end(pid_t pid)
{
	int64_t until = util_now_ms() + EXIT_WAIT_MS;

	while (s3fs_alive(pid) && util_now_ms() < until)
		usleep(20 * 1000);
	if (s3fs_alive(pid)) {
		kill(pid, SIGTERM);
		usleep(200 * 1000);
	}
	if (s3fs_alive(pid))
		kill(pid, SIGKILL);
}

/* The most telling line s3fs logged (a critical one, else the last error). */
static char *s3fs_why(const char *log)
{
	char *text = util_read_file(log, NULL), *best = NULL, *save = NULL;

	if (!text)
		return xstrdup("s3fs said nothing");
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *crt = strstr(l, "[CRT]"), *e = strstr(l, "[ERR]");

		if (strstr(l, "Exiting FUSE event loop") || strstr(l, "change debug level"))
			continue;
		if (crt || (e && (!best || !strstr(best, "[CRT]")))) {
			free(best);
			best = xstrdup(l);
		} else if (!best && *l && !strstr(l, "[INF]") && !strstr(l, "[WAN]")) {
			best = xstrdup(l);
		}
	}
	free(text);
	if (!best)
		return xstrdup("s3fs gave up without saying why");
	/* drop the time stamp, the level and the source location */
	{
		char *p = strstr(best, "): ");
		char *why = xstrdup(p ? p + 3 : best);

		free(best);
		return why;
	}
}

/* Wait until s3fs serves the bucket at mp (1), or has given up (0, *why set). */
static int s3fs_wait(pid_t pid, const char *mp, const char *log)
{
	int64_t until = util_now_ms() + MOUNT_WAIT_MS;

	while (util_now_ms() < until) {
		if (!s3fs_alive(pid)) {
			char *why = s3fs_why(log);

			err_set("%s", why);
			free(why);
			return 0;
		}
		if (is_mounted(mp)) {
			/* s3fs checks the bucket as it starts serving; a listing
			 * that works is a mount that works. */
			DIR *d = opendir(mp);

			if (d) {
				errno = 0;
				while (readdir(d))
					;
				closedir(d);
				if (s3fs_alive(pid))
					return 1;
			}
		}
		usleep(50 * 1000);
	}
	err_set("s3fs did not finish mounting within %d s", MOUNT_WAIT_MS / 1000);
	return 0;
}

/* The secret's "ACCESS_KEY:SECRET_KEY" into a new 0600 file at path. */
static int write_passwd(const char *path, const char *name, const char *host)
{
	struct vault_key *k = NULL;
	struct vault *v = NULL;
	const struct vault_entry *e;
	char *vpath = vault_path();
	int fd, rc = -1;

	if (vault_key_get(vpath, VAULT_KEY_PROMPT, &k) < 0 || vault_open(vpath, k, &v) < 0)
		goto out;
	e = vault_find(v, name);
	if (!e) {
		err_set("no secret %s in the vault: add it with `smolvm vault add %s --hosts %s` "
			"and the value ACCESS_KEY:SECRET_KEY", name, name, host);
		goto out;
	}
	if (!memchr(e->value, ':', e->value_len) || e->value[0] == ':' ||
	    e->value[e->value_len - 1] == ':') {
		err_set("secret %s is not of the form ACCESS_KEY:SECRET_KEY", name);
		goto out;
	}
	if (!s3_host_allowed(host, e->hosts, e->n_hosts)) {
		err_set("secret %s may not be sent to %s (not among its hosts); add the host "
			"with `smolvm vault add %s --hosts ...`", name, host, name);
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set("cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, e->value, e->value_len) != (ssize_t)e->value_len || write(fd, "\n", 1) != 1) {
		err_set("cannot write %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	close(fd);
	rc = 0;
out:
	vault_unref(v);
	vault_key_free(k);
	free(vpath);
	return rc;
}

/* ---- the guest side -------------------------------------------------------- */

static int guest_run(const struct sandbox *sb, const char *script, const char *what)
{
	struct ssh_conn *c = ssh_open(sb, CONNECT_TIMEOUT_MS);
	char *err_path = paths_vm_file(sb->id, "s3.guest.err");
	int fd, rc;

	if (!c) {
		free(err_path);
		return -1;
	}
	fd = open(err_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set("cannot create %s: %s", err_path, strerror(errno));
		ssh_close(c);
		free(err_path);
		return -1;
	}
	/* Both streams into one file: what the guest says is the message. */
	rc = ssh_exec_timeout(c, script, -1, fd, fd, GUEST_TIMEOUT_MS);
	ssh_close(c);
	if (rc > 0) {
		char *text = util_read_file(err_path, NULL);
		size_t n = text ? strlen(text) : 0;

		while (n && text[n - 1] == '\n')
			text[--n] = '\0';
		err_set("cannot %s in sandbox %s: %s", what, sb->name,
			n ? text : "the command failed");
		free(text);
		rc = -1;
	} else if (rc < 0) {
		rc = -1;
	}
	close(fd);
	unlink(err_path);
	free(err_path);
	return rc;
}

/* Guest folders are plain paths (checked), so they need no quoting here. */
static int guest_mount(const struct sandbox *sb, const struct s3_mount *m)
{
	char *script;
	int rc;

	/* The 9p drivers are loaded here, at the first mount, not at boot. The
	 * read-only bind is a courtesy: s3fs refuses writes on the host anyway. */
	script = xasprintf(
		"set -e; "
		"if ! grep -q '^" S3_SHARE_TAG " " S3_GUEST_SHARE " 9p ' /proc/mounts; then "
		"modprobe -a 9pnet_virtio 9p 2>/dev/null || true; mkdir -p " S3_GUEST_SHARE "; "
		"mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 " S3_SHARE_TAG " "
		S3_GUEST_SHARE "; fi; "
		"mkdir -p '%s'; mount --bind '" S3_GUEST_SHARE "/%s' '%s'%s%s%s",
		m->guest_dir, m->sub, m->guest_dir, m->rw ? "" : "; mount -o remount,bind,ro '",
		m->rw ? "" : m->guest_dir, m->rw ? "" : "'");
	rc = guest_run(sb, script, "mount the bucket");
	free(script);
	return rc;
}

/* last: no other mount is left, so the share goes too (a guest with a 9p
 * share mounted cannot be saved in a memory snapshot). */
static int guest_unmount(const struct sandbox *sb, const char *guest_dir, bool last)
{
	char *script = xasprintf("! cut -d' ' -f2 /proc/mounts | grep -qxF '%s' || umount '%s'%s",
				 guest_dir, guest_dir, last ? "; ! cut -d' ' -f2 /proc/mounts | "
				 "grep -qxF " S3_GUEST_SHARE " || umount " S3_GUEST_SHARE : "");
	int rc = guest_run(sb, script, "unmount the bucket");

	free(script);
	return rc;
}

/* ---- mount, umount, release -------------------------------------------------- */

static char *sub_path(const char *id, const char *sub)
{
	char *share = s3_share_dir(id), *p = xasprintf("%s/%s", share, sub);

	free(share);
	return p;
}

/* Unmount and end one mount's s3fs on the host, and remove its folder. */
static int host_release(const char *id, const struct s3_mount *m)
{
	char *mp = sub_path(id, m->sub);
	int rc = host_unmount(mp);

	if (rc == 0) {
		s3fs_end(m->pid);
		rmdir(mp);
	}
	free(mp);
	return rc;
}

/* The first "s3-N" not in use. */
static char *free_sub(const struct s3_mount *m, size_t n)
{
	for (int k = 1;; k++) {
		char *s = xasprintf("s3-%d", k);
		bool used = false;

		for (size_t i = 0; i < n && !used; i++)
			used = !strcmp(m[i].sub, s);
		if (!used)
			return s;
		free(s);
	}
}

static char **s3fs_argv(const struct s3_mount *m, const char *mp, const char *passwd)
{
	char **v = xcalloc(32, sizeof *v);
	int n = 0;

	v[n++] = xstrdup(S3FS_BIN);
	v[n++] = xstrdup(m->bucket);
	v[n++] = xstrdup(mp);
	/* -f: in the foreground, so the pid we started is the one serving. */
	v[n++] = xstrdup("-f");
	v[n++] = xstrdup("-o");
	v[n++] = xasprintf("url=%s", m->endpoint);
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("use_path_request_style");
	v[n++] = xstrdup("-o");
	v[n++] = passwd ? xasprintf("passwd_file=%s", passwd) : xstrdup("public_bucket=1");
	if (!m->rw) {
		v[n++] = xstrdup("-o");
		v[n++] = xstrdup("ro");
	}
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("retries=2");
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("connect_timeout=10");
	v[n++] = xstrdup("-o");
	v[n++] = xstrdup("dbglevel=err");
	return v;
}

static void argv_free(char **v)
{
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int s3_mount(const struct sandbox *sb, struct s3_mount *m)
{
	struct s3_mount *all = NULL;
	size_t n = 0;
	char *host = NULL, *share = NULL, *mp = NULL, *passwd = NULL, *log = NULL, **argv = NULL;
	int lock, rc = -1;
	pid_t pid;

	if (!s3_bucket_valid(m->bucket)) {
		err_set("%s is not a bucket name (3-63 of a-z, 0-9, '.' and '-')", m->bucket);
		return -1;
	}
	if (check_guest_dir(m->guest_dir) < 0)
		return -1;
	host = s3_url_host(m->endpoint);
	if (!host)
		return -1;
	lock = lock_record(sb->id);
	if (lock < 0)
		goto out;
	if (s3_list(sb->id, &all, &n) < 0)
		goto out;
	if (n >= MAX_MOUNTS) {
		err_set("sandbox %s has %d buckets mounted already", sb->name, MAX_MOUNTS);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(all[i].guest_dir, m->guest_dir)) {
			err_set("%s in sandbox %s has bucket %s mounted already", m->guest_dir,
				sb->name, all[i].bucket);
			goto out;
		}
	}
	m->sub = free_sub(all, n);
	share = s3_share_dir(sb->id);
	mp = sub_path(sb->id, m->sub);
	if (util_mkdir_p(share, 0700) < 0 || (mkdir(mp, 0700) < 0 && errno != EEXIST)) {
		err_set("cannot make %s: %s", mp, strerror(errno));
		goto out;
	}
	if (m->secret) {
		/* Next to the share, never in it: the guest may have it mounted. */
		char *name = xasprintf("%s.passwd", m->sub);

		passwd = paths_vm_file(sb->id, name);
		free(name);
		unlink(passwd);
		if (write_passwd(passwd, m->secret, host) < 0) {
			free(passwd);
			passwd = NULL;
			goto fail_dir;
		}
	}
	log = paths_vm_file(sb->id, "s3fs.log");
	unlink(log);
	argv = s3fs_argv(m, mp, passwd);
	pid = qemu_spawn(argv, NULL, log, true);
	if (pid < 0)
		goto fail_dir;
	rc = s3fs_wait(pid, mp, log) ? 0 : -1;
	/* s3fs read the file at its start: the credentials are gone from disk now. */
	if (passwd)
		unlink(passwd);
	if (rc < 0) {
		char *why = xstrdup(err_msg());

		err_set("s3fs cannot mount bucket %s from %s: %s", m->bucket, m->endpoint, why);
		free(why);
		why = xstrdup(err_msg());
		host_unmount(mp);
		s3fs_end(pid);
		err_set("%s", why);
		free(why);
		goto fail_dir;
	}
	m->pid = pid;
	m->created = util_wall_s();
	if (guest_mount(sb, m) < 0) {
		char *why = xstrdup(err_msg());

		host_release(sb->id, m);
		err_set("%s", why);
		free(why);
		rc = -1;
		goto out;
	}
	all = xrealloc(all, (n + 1) * sizeof *all);
	all[n] = (struct s3_mount){ xstrdup(m->bucket), xstrdup(m->guest_dir),
				    xstrdup(m->endpoint), m->secret ? xstrdup(m->secret) : NULL,
				    m->rw, xstrdup(m->sub), m->pid, m->created };
	n++;
	rc = save_list(sb->id, all, n);
	goto out;
fail_dir:
	rc = -1;
	rmdir(mp);
out:
	if (argv)
		argv_free(argv);
	unlock_record(lock);
	s3_mounts_free(all, n);
	free(log);
	free(passwd);
	free(mp);
	free(share);
	free(host);
	return rc;
}

int s3_umount(const struct sandbox *sb, const char *guest_dir)
{
	struct s3_mount *all = NULL;
	size_t n = 0, i;
	int lock = lock_record(sb->id), rc = -1;

	if (lock < 0)
		return -1;
	if (s3_list(sb->id, &all, &n) < 0)
		goto out;
	for (i = 0; i < n && strcmp(all[i].guest_dir, guest_dir); i++)
		;
	if (i == n) {
		err_set("no bucket is mounted at %s in sandbox %s (see smolvm s3 ls %s)", guest_dir,
			sb->name, sb->name);
		goto out;
	}
	if (!strcmp(sb->state, SB_RUNNING) && guest_unmount(sb, guest_dir, n == 1) < 0)
		goto out;
	if (host_release(sb->id, &all[i]) < 0)
		goto out;
	free(all[i].bucket);
	free(all[i].guest_dir);
	free(all[i].endpoint);
	free(all[i].secret);
	free(all[i].sub);
	all[i] = all[--n];
	rc = save_list(sb->id, all, n);
out:
	s3_mounts_free(all, n);
	unlock_record(lock);
	return rc;
}

int s3_release(const char *id)
{
	struct s3_mount *all = NULL;
	size_t n = 0, nm;
	char *share = s3_share_dir(id), **mps;
	int rc = 0;

	/* An unreadable record still leaves the mounts to find below. */
	if (s3_list(id, &all, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		if (host_release(id, &all[i]) < 0)
			rc = -1;
	/* Whatever else is mounted there, deepest first. */
	mps = mounts_under(share, &nm);
	for (size_t i = nm; i-- > 0;) {
		if (host_unmount(mps[i]) < 0)
			rc = -1;
		free(mps[i]);
	}
	free(mps);
	if (rc == 0 && save_list(id, NULL, 0) < 0)
		rc = -1;
	s3_mounts_free(all, n);
	free(share);
	return rc;
}
