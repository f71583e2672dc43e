#include "net/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/qemu.h"
#include "backend/util.h"
#include "backend/vault.h"
#include "net/dns.h"
#include "net/forward.h"
#include "net/ingress.h"
#include "net/netns.h"
#include "net/nft.h"
#include "net/policy.h"
#include "net/secrets.h"
#include "net/tls.h"

#define START_MS 5000
#define STOP_MS 2000
#define CONN_MAX 256
#define THREAD_STACK (512 * 1024)
/* How often the proxy checks that its sandbox still exists. */
#define ORPHAN_CHECK_MS 5000
/* The tap's name inside every sandbox's namespace (net/tap.h). */
#define TAP_NAME "tap0"

/* ---- supervision, from the smolvm command ------------------------------------- */

/* Is pid's command line exactly "<exe> __proxy <id>"? */
static bool is_proxy_of(pid_t pid, const char *id)
{
	char buf[512];
	const char *arg1, *arg2;
	ssize_t n = util_read_proc(pid, "cmdline", buf, sizeof buf);

	if (n <= 0)
		return false;
	arg1 = buf + strlen(buf) + 1;
	if (arg1 >= buf + n || strcmp(arg1, "__proxy"))
		return false;
	arg2 = arg1 + strlen(arg1) + 1;
	return arg2 < buf + n && !strcmp(arg2, id);
}

pid_t proxy_pid(const struct sandbox *sb)
{
	char *path = paths_vm_file(sb->id, "proxy.pid");
	char *text = util_read_file(path, NULL);
	long pid = text ? strtol(text, NULL, 10) : 0;

	free(text);
	free(path);
	return pid > 0 && is_proxy_of((pid_t)pid, sb->id) ? (pid_t)pid : 0;
}

int proxy_stop(const struct sandbox *sb)
{
	pid_t pid = proxy_pid(sb);
	char *path;

	if (pid > 0) {
		int pidfd = qemu_pidfd(pid);
		bool gone;

		kill(pid, SIGTERM);
		gone = qemu_wait_exit(pidfd, STOP_MS);
		if (!gone) {
			kill(pid, SIGKILL);
			gone = qemu_wait_exit(pidfd, STOP_MS);
		}
		if (pidfd >= 0)
			close(pidfd);
		if (!gone) {
			err_set("the egress proxy of sandbox %s (pid %d) does not die even with "
				"SIGKILL", sb->name, (int)pid);
			return -1;
		}
	}
	path = paths_vm_file(sb->id, "proxy.pid");
	unlink(path);
	free(path);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The last line the proxy wrote to its log after offset from. */
static char *last_line(const char *path, off_t from)
{
	char *text = util_read_file(path, NULL), *end, *start, *out;

	if (!text || (size_t)from > strlen(text))
		from = 0;
	if (!text)
		return xstrdup("(no message)");
	end = text + strlen(text);
	while (end > text + from && end[-1] == '\n')
		end--;
	*end = '\0';
	start = end;
	while (start > text + from && start[-1] != '\n')
		start--;
	out = xstrdup(*start ? start : "(no message)");
	free(text);
	return out;
}

/*
 * For a sandbox whose policy names secrets in a vault sealed with a
 * passphrase: unlock it here, where there is a terminal, and hand the
 * proxy the key on a pipe (*fd; -1 when the proxy reads the key file
 * itself). 0, or -1 with err_set().
 */
static int vault_handover(const struct sandbox *sb, int *fd)
{
	char *path = paths_vm_file(sb->id, "policy.json"), *vpath;
	struct policy *p = NULL;
	int rc = 0;

	*fd = -1;
	/* A file that does not load would leave the sandbox with no network
	 * and only a line in policy.log to say why: refuse to start instead. */
	if (util_exists(path) && policy_load_file(path, &p) < 0) {
		char *msg = xstrdup(err_msg());

		err_set("%s: the sandbox would have no network; fix the file or replace it with "
			"`smolvm policy set %s FILE`", msg, sb->name);
		free(msg);
		rc = -1;
	} else if (p && p->n_secrets) {
		vpath = vault_path();
		rc = vault_key_handover(vpath, fd);
		if (rc < 0) {
			char *msg = xstrdup(err_msg());

			err_set("the sandbox's secrets need the vault: %s", msg);
			free(msg);
		}
		free(vpath);
	}
	policy_unref(p);
	free(path);
	return rc;
}

int proxy_start(const struct sandbox *sb)
{
	char *log = paths_vm_file(sb->id, "proxy.log");
	char *argv[] = { (char *)util_self_exe(), "__proxy", (char *)sb->id, NULL };
	int64_t deadline;
	int pidfd = -1, keyfd = -1, rc = -1;
	off_t from;
	pid_t pid;

	if (proxy_stop(sb) < 0 || nft_apply(sb->netns, TAP_NAME, PROXY_PORT, DNS_PORT) < 0 ||
	    vault_handover(sb, &keyfd) < 0)
		goto out;
	from = file_size(log);
	/* vault_key_for_proxy() finds the key's pipe by this variable. */
	pid = qemu_spawn_keep(argv, NULL, log, true, keyfd, "SMOLVM_VAULT_KEY_FD");
	if (pid < 0) {
		err_set("cannot start the egress proxy: %s", err_msg());
		goto out;
	}
	pidfd = qemu_pidfd(pid);
	/* It writes its pid file once it listens. */
	deadline = util_now_ms() + START_MS;
	while (proxy_pid(sb) != pid) {
		if (qemu_wait_exit(pidfd, 20)) {
			char *why = last_line(log, from);

			err_set("the egress proxy exited at once: %s", why);
			free(why);
			goto out;
		}
		if (util_now_ms() > deadline) {
			kill(pid, SIGKILL);
			err_set("the egress proxy did not start listening within %d s (see %s)",
				START_MS / 1000, log);
			goto out;
		}
	}
	rc = 0;
out:
	if (keyfd >= 0)
		close(keyfd);
	if (pidfd >= 0)
		close(pidfd);
	free(log);
	return rc;
}

/* ---- the proxy process ----------------------------------------------------------- */

static struct policy_slot slot;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static char *policy_path;
static struct stat policy_st;	/* of the file last read, when policy_seen */
static bool policy_seen;
static bool policy_reread;	/* SIGHUP: read the file even if it looks unchanged */
static atomic_int active;
static struct forward_env env;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s smolvm proxy: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static struct policy *policy_none(void)
{
	static const char text[] = "{\"mode\": \"none\"}";
	struct policy *p;

	if (policy_load(text, sizeof text - 1, &p) < 0)
		die("the built-in policy does not load: %s", err_msg());
	return p;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * The policy in force, re-read first if the file changed: an edit applies
 * to the next request. A file that does not load leaves the policy in
 * force; no file at all is mode none.
 */
static struct policy *policy_current(void)
{
	struct stat st;
	bool exists;

	pthread_mutex_lock(&reload_lock);
	exists = stat(policy_path, &st) == 0;
	if (policy_reread || exists != policy_seen || (exists && !same_file(&st, &policy_st))) {
		struct policy *p = NULL;

		if (!exists)
			p = policy_none();
		else if (policy_load_file(policy_path, &p) < 0)
			say("%s; the policy in force stays", err_msg());
		if (p) {
			say("policy: mode %s, %zu rule%s", policy_mode_str(p->mode), p->n_rules,
			    p->n_rules == 1 ? "" : "s");
			policy_slot_set(&slot, p);
		}
		policy_seen = exists;
		policy_st = st;
		policy_reread = false;
	}
	pthread_mutex_unlock(&reload_lock);
	return policy_slot_get(&slot);
}

/* ---- the sandbox's secrets ---------------------------------------------------------- */

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inject_set *secrets_set;	/* in force; NULL until first built */
static struct policy *secrets_policy;	/* the policy it was built for (a reference) */
static char *secrets_path, *vault_file;
static struct stat secrets_st;
static bool secrets_seen;
static struct vault_slot vault;
static bool vault_ready;

/* The vault, opened at the first policy that names a secret. The key comes
 * without a terminal: handed over by the command that started the proxy,
 * or the key file (backend/vault.h, vault_key_for_proxy). */
static int vault_start(void)
{
	struct vault_key *k;

	if (vault_ready)
		return 0;
	if (vault_key_for_proxy(vault_file, &k) < 0 || vault_slot_init(&vault, vault_file, k) < 0) {
		char *msg = xstrdup(err_msg());

		err_set("the policy names secrets but the vault does not open: %s", msg);
		free(msg);
		return -1;
	}
	vault_ready = true;
	return 0;
}

/* The set for the policy in force, the placeholders in the sandbox's
 * secrets file and the vault as it is now. */
static void secrets_build(struct policy *p)
{
	struct secrets s;
	struct vault *v;
	char *missing;

	if (secrets_load(env.sandbox_id, &s) < 0) {
		say("%s", err_msg());
		s = (struct secrets){ 0 };
	}
	if (p->n_secrets && vault_start() < 0)
		say("%s; the placeholders go out unchanged", err_msg());
	v = vault_ready ? vault_slot_get(&vault) : NULL;
	inject_set_unref(secrets_set);
	secrets_set = secrets_inject_set(p, &s, v, &missing);
	if (missing)
		say("secrets %s: not in the vault or without a placeholder; their placeholders "
		    "go out unchanged", missing);
	else if (p->n_secrets)
		say("secrets: %zu in force", secrets_set->n);
	free(missing);
	vault_unref(v);
	secrets_free(&s);
	policy_unref(secrets_policy);
	secrets_policy = policy_ref(p);
}

/*
 * The secrets in force, rebuilt first when the policy, the secrets file or
 * the vault changed: a rotated value applies to the next request. A new
 * reference.
 */
static struct inject_set *secrets_current(void)
{
	struct policy *p = policy_slot_get(&slot);
	struct inject_set *set;
	struct stat st;
	bool exists, rebuild;

	pthread_mutex_lock(&secrets_lock);
	exists = stat(secrets_path, &st) == 0;
	rebuild = !secrets_set || p != secrets_policy || exists != secrets_seen ||
		  (exists && !same_file(&st, &secrets_st));
	if (vault_ready) {
		int r = vault_slot_refresh(&vault);

		if (r < 0)
			say("%s; the vault read before stays in force", err_msg());
		rebuild |= r == 1;
	}
	if (rebuild) {
		secrets_build(p);
		secrets_seen = exists;
		secrets_st = st;
	}
	set = inject_set_ref(secrets_set);
	pthread_mutex_unlock(&secrets_lock);
	policy_unref(p);
	return set;
}

/* `smolvm vault ls` counts the uses. */
static void secret_used(const char *name)
{
	if (vault_uses_record(vault_file, name) < 0)
		say("%s", err_msg());
}

static void *conn_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct sockaddr_in orig = { 0 };
	socklen_t len = sizeof orig;

	/* Where the guest meant to go, before the namespace's rules redirected it. */
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &len) < 0) {
		len = sizeof orig;
		getsockname(fd, (struct sockaddr *)&orig, &len);
	}
	forward_conn(&env, fd, &orig);
	atomic_fetch_sub(&active, 1);
	return NULL;
}

static void accept_one(int lfd, const pthread_attr_t *attr)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	pthread_t th;
	int rc;

	if (fd < 0)
		return;
	if (atomic_fetch_add(&active, 1) >= CONN_MAX) {
		atomic_fetch_sub(&active, 1);
		close(fd);
		return;
	}
	rc = pthread_create(&th, attr, conn_thread, (void *)(intptr_t)fd);
	if (rc) {
		say("cannot start a thread: %s", strerror(rc));
		atomic_fetch_sub(&active, 1);
		close(fd);
	}
}

static void serve_dns(int ufd)
{
	uint8_t q[1500], a[DNS_MSG_MAX];
	struct sockaddr_storage from;
	socklen_t fl = sizeof from;
	char name[DNS_NAME_MAX + 1];
	int qtype, rcode;
	ssize_t n;
	size_t alen;

	n = recvfrom(ufd, q, sizeof q, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
	if (n <= 0)
		return;
	alen = dns_answer(q, (size_t)n, a, sizeof a, name, &qtype, &rcode);
	if (!alen)
		return;
	/* Logged first: the request that follows the answer comes after it. */
	forward_log_dns(&env, name, qtype, rcode);
	sendto(ufd, a, alen, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
}

/* A socket inside the sandbox's namespace bound to its host address. */
static int bound_socket(const struct sandbox *sb, int type, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, one = 1;

	if (inet_pton(AF_INET, sb->host_ip, &sa.sin_addr) != 1) {
		err_set("the sandbox's host address '%s' is not IPv4", sb->host_ip);
		return -1;
	}
	fd = netns_socket(sb->netns, AF_INET, type);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		err_set("cannot listen on %s:%u in namespace %s: %s", sb->host_ip, port, sb->netns,
			strerror(errno));
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM)
		env.listen = sa;
	return fd;
}

int proxy_main(int argc, char **argv)
{
	struct sandbox sb;
	pthread_attr_t attr;
	sigset_t sigs;
	char *pidfile, *logpath, *text, *record;
	int64_t next_check;
	int lfd, ufd, sfd;

	if (argc != 2) {
		fprintf(stderr, "usage: smolvm __proxy ID (smolvm starts it with a sandbox)\n");
		return 2;
	}
	if (store_load(argv[1], &sb) < 0) {
		say("%s", err_msg());
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		say("signalfd: %s", strerror(errno));
		return 1;
	}

	policy_path = paths_vm_file(sb.id, "policy.json");
	policy_slot_init(&slot, policy_none());
	policy_current();
	logpath = paths_vm_file(sb.id, "policy.log");
	env.sandbox_id = sb.id;
	env.policy_get = policy_current;
	env.log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (env.log_fd < 0) {
		say("cannot open %s: %s", logpath, strerror(errno));
		return 1;
	}
	env.tls = tls_ctx_new();
	if (!env.tls) {
		say("%s", err_msg());
		return 1;
	}
	secrets_path = paths_vm_file(sb.id, SECRETS_FILE);
	vault_file = vault_path();
	env.secrets_get = secrets_current;
	env.secret_used = secret_used;
	/* Secrets that cannot be had fail the start, where it is seen: the
	 * first try, since a key handed over on a pipe can be read once. */
	{
		struct policy *p = policy_slot_get(&slot);
		int rc = p->n_secrets ? vault_start() : 0;

		policy_unref(p);
		if (rc < 0) {
			say("%s", err_msg());
			return 1;
		}
	}
	inject_set_unref(secrets_current());
	lfd = bound_socket(&sb, SOCK_STREAM, PROXY_PORT);
	ufd = lfd < 0 ? -1 : bound_socket(&sb, SOCK_DGRAM, DNS_PORT);
	if (ufd < 0 || ingress_start(&sb, policy_current, say) < 0) {
		say("%s", err_msg());
		return 1;
	}
	pidfile = paths_vm_file(sb.id, "proxy.pid");
	text = xasprintf("%d\n", (int)getpid());
	if (util_write_atomic(pidfile, text, strlen(text), 0600) < 0) {
		say("%s", err_msg());
		return 1;
	}
	free(text);
	say("pid %d for sandbox %s: HTTP on %s:%d, DNS on port %d", (int)getpid(), sb.id,
	    sb.host_ip, PROXY_PORT, DNS_PORT);

	record = paths_vm_file(sb.id, "record.json");
	next_check = util_now_ms() + ORPHAN_CHECK_MS;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = lfd, .events = POLLIN },
			{ .fd = ufd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		int n = poll(p, 3, ORPHAN_CHECK_MS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			say("poll: %s", strerror(errno));
			return 1;
		}
		/* A sandbox removed behind smolvm's back must not leave us running. */
		if (util_now_ms() >= next_check) {
			if (!util_exists(record) || !netns_exists(sb.netns)) {
				say("the sandbox or its namespace is gone");
				break;
			}
			next_check = util_now_ms() + ORPHAN_CHECK_MS;
		}
		if (p[0].revents & POLLIN)
			accept_one(lfd, &attr);
		if (p[1].revents & POLLIN)
			serve_dns(ufd);
		if ((p[2].revents & POLLIN) && read(sfd, &si, sizeof si) == sizeof si) {
			if (si.ssi_signo != SIGHUP)
				break;
			pthread_mutex_lock(&reload_lock);
			policy_reread = true;
			pthread_mutex_unlock(&reload_lock);
			policy_unref(policy_current());
		}
	}
	say("stopping");
	return 0;
}
