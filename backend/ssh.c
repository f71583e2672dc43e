#include "backend/ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "net/netns.h"

#define SSH_USER "root"
#define IO_BUF 32768

struct ssh_conn {
	LIBSSH2_SESSION *s;
	int fd;
	bool blocking;
	bool shell_busy;		/* shell_req in progress (ssh_open_shell_nb) */
	struct ssh_chan_req shell_req;
	char term[64];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void lib_init(void)
{
	init_rc = libssh2_init(0);
}

const char *ssh_last_error(struct ssh_conn *c)
{
	char *msg = NULL;

	libssh2_session_last_error(c->s, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown libssh2 error";
}

LIBSSH2_SESSION *ssh_session(struct ssh_conn *c)
{
	return c->s;
}

int ssh_fd(struct ssh_conn *c)
{
	return c->fd;
}

void ssh_set_blocking(struct ssh_conn *c, bool blocking)
{
	c->blocking = blocking;
	libssh2_session_set_blocking(c->s, blocking);
}

short ssh_poll_events(struct ssh_conn *c)
{
	short ev = POLLIN;

	if (libssh2_session_block_directions(c->s) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		ev |= POLLOUT;
	return ev;
}

/* Wait until the socket is ready for what libssh2 last blocked on.
 * deadline 0: no limit. Returns -1 (no err_set) when the deadline passed. */
static int wait_io(struct ssh_conn *c, int64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = ssh_poll_events(c) };

	for (;;) {
		int timeout = -1;

		if (deadline) {
			int64_t left = deadline - util_now_ms();
			if (left <= 0)
				return -1;
			timeout = (int)left;
		}
		if (poll(&p, 1, timeout) >= 0 || errno != EINTR)
			return 0;
	}
}

/* ---- opening a session ------------------------------------------------ */

static int b64_value(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode standard base64 (with optional '=' padding) of len chars. */
static unsigned char *b64_decode(const char *in, size_t len, size_t *out_len)
{
	unsigned char *out = xmalloc(len / 4 * 3 + 3);
	unsigned int acc = 0;
	size_t n = 0, bits = 0, i;

	for (i = 0; i < len && in[i] != '='; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*out_len = n;
	return out;
}

/* The key blob of an OpenSSH public key line "TYPE BASE64 [comment]". */
static unsigned char *load_pinned_key(const char *path, size_t *len)
{
	char *text = util_read_file(path, NULL);
	char *p, *b64;
	unsigned char *blob;

	if (!text)
		return NULL;
	p = text + strspn(text, " \t\r\n");
	p += strcspn(p, " \t\r\n");
	b64 = p + strspn(p, " \t");
	blob = b64_decode(b64, strcspn(b64, " \t\r\n"), len);
	if (!blob || *len == 0) {
		free(blob);
		err_set("pinned host key %s is not an OpenSSH public key line "
			"(rebuild the image: smolvm image build --force)", path);
		blob = NULL;
	}
	free(text);
	return blob;
}

static int check_host_key(struct ssh_conn *c, const struct sandbox *sb)
{
	char *dir = paths_image_dir(sb->image);
	char *path = xasprintf("%s/host_ed25519.pub", dir);
	const char *got;
	unsigned char *want;
	size_t got_len, want_len;
	int type, rc = -1;

	free(dir);
	want = load_pinned_key(path, &want_len);
	if (!want) {
		err_set("cannot check the host key of sandbox %s: %s", sb->name, err_msg());
		goto out;
	}
	got = libssh2_session_hostkey(c->s, &got_len, &type);
	if (!got) {
		err_set("sandbox %s sent no host key", sb->name);
		goto out;
	}
	if (got_len != want_len || memcmp(got, want, want_len)) {
		err_set("the host key of sandbox %s does not match the key pinned for image %s "
			"(%s): possible man-in-the-middle, or the image was rebuilt after the "
			"sandbox was made (then recreate the sandbox); refusing to connect",
			sb->name, sb->image, path);
		goto out;
	}
	rc = 0;
out:
	free(want);
	free(path);
	return rc;
}

static int authenticate(struct ssh_conn *c, const struct sandbox *sb, int64_t deadline)
{
	char *dir = paths_keys_dir();
	char *priv = xasprintf("%s/id_ed25519", dir);
	char *pub = xasprintf("%s/id_ed25519.pub", dir);
	int rc;

	free(dir);
	if (!util_exists(priv) || !util_exists(pub)) {
		err_set("the SSH user key %s (and .pub) is missing; build an image first "
			"(smolvm image build)", priv);
		rc = -1;
		goto out;
	}
	while ((rc = libssh2_userauth_publickey_fromfile_ex(c->s, SSH_USER, strlen(SSH_USER),
							    pub, priv, NULL))
	       == LIBSSH2_ERROR_EAGAIN) {
		if (wait_io(c, deadline) < 0) {
			err_set("sandbox %s: authentication timed out", sb->name);
			rc = -1;
			goto out;
		}
	}
	if (rc)
		err_set("sandbox %s refused the key %s for %s: %s (the key must be the one "
			"authorised in image %s)", sb->name, priv, SSH_USER, ssh_last_error(c),
			sb->image);
out:
	free(priv);
	free(pub);
	return rc ? -1 : 0;
}

struct ssh_conn *ssh_open(const struct sandbox *sb, int timeout_ms)
{
	int64_t deadline = util_now_ms() + timeout_ms;
	struct ssh_conn *c;
	int one = 1, rc;

	pthread_once(&init_once, lib_init);
	if (init_rc) {
		err_set("libssh2_init failed (%d)", init_rc);
		return NULL;
	}
	c = xcalloc(1, sizeof *c);
	c->fd = netns_connect_tcp(sb->netns, sb->guest_ip, 22, timeout_ms);
	if (c->fd < 0) {
		err_set("cannot reach SSH in sandbox %s: %s", sb->name, err_msg());
		free(c);
		return NULL;
	}
	/* With stdin/stdout/stderr closed the socket could be fd 0-2, where
	 * command output would be written into the SSH stream. */
	if (c->fd <= STDERR_FILENO) {
		int fd = fcntl(c->fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		close(c->fd);
		if (fd < 0) {
			err_set("cannot move a socket above fd 2: %s", strerror(errno));
			free(c);
			return NULL;
		}
		c->fd = fd;
	}
	/* Keystrokes are small writes; don't let Nagle hold them back. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->s = libssh2_session_init();
	if (!c->s)
		die("libssh2_session_init failed (out of memory)");
	/* The pinned key is ed25519; dropbear may offer others (ECDSA) first. */
	if (libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY, "ssh-ed25519")) {
		err_set("libssh2 cannot use ssh-ed25519 host keys: %s", ssh_last_error(c));
		goto fail;
	}
	/* The whole open runs non-blocking so that timeout_ms bounds it. */
	libssh2_session_set_blocking(c->s, 0);
	while ((rc = libssh2_session_handshake(c->s, c->fd)) == LIBSSH2_ERROR_EAGAIN) {
		if (wait_io(c, deadline) < 0) {
			err_set("sandbox %s: SSH handshake timed out after %d ms", sb->name,
				timeout_ms);
			goto fail;
		}
	}
	if (rc) {
		err_set("SSH handshake with sandbox %s failed: %s", sb->name, ssh_last_error(c));
		goto fail;
	}
	if (check_host_key(c, sb) < 0 || authenticate(c, sb, deadline) < 0)
		goto fail;
	libssh2_keepalive_config(c->s, 1, SSH_KEEPALIVE_S);
	ssh_set_blocking(c, true);
	return c;
fail:
	ssh_close(c);
	return NULL;
}

void ssh_close(struct ssh_conn *c)
{
	if (!c)
		return;
	if (c->s) {
		/* Best effort: a dead peer must not make close hang. */
		libssh2_session_set_blocking(c->s, 0);
		libssh2_session_disconnect(c->s, "bye");
		libssh2_session_free(c->s);
	}
	close(c->fd);
	free(c);
}

int ssh_keepalive(struct ssh_conn *c, int *next_s)
{
	int next = SSH_KEEPALIVE_S;

	if (libssh2_keepalive_send(c->s, &next)) {
		err_set("SSH connection lost: %s", ssh_last_error(c));
		return -1;
	}
	if (next_s)
		*next_s = next;
	return 0;
}

/* ---- channels --------------------------------------------------------- */

enum { STEP_OPEN, STEP_PTY, STEP_START, STEP_DONE };

static int chan_fail(struct ssh_conn *c, struct ssh_chan_req *r, const char *what)
{
	err_set("cannot %s on the SSH connection: %s", what, ssh_last_error(c));
	if (r->ch) {
		/* The channel is unusable; free it without waiting for the peer. */
		int blocking = libssh2_session_get_blocking(c->s);
		libssh2_session_set_blocking(c->s, 0);
		libssh2_channel_free(r->ch);
		libssh2_session_set_blocking(c->s, blocking);
		r->ch = NULL;
	}
	r->step = STEP_DONE;
	return -1;
}

int ssh_chan_step(struct ssh_conn *c, struct ssh_chan_req *r)
{
	int rc;

	switch (r->step) {
	case STEP_OPEN:
		r->ch = libssh2_channel_open_session(c->s);
		if (!r->ch) {
			if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_EAGAIN)
				return 0;
			return chan_fail(c, r, "open a channel");
		}
		r->step = r->term ? STEP_PTY : STEP_START;
		return ssh_chan_step(c, r);
	case STEP_PTY:
		rc = libssh2_channel_request_pty_ex(r->ch, r->term, strlen(r->term), NULL, 0,
						    r->cols, r->rows, 0, 0);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return 0;
		if (rc)
			return chan_fail(c, r, "get a pty");
		r->step = STEP_START;
		return ssh_chan_step(c, r);
	case STEP_START:
		if (r->cmd)
			rc = libssh2_channel_exec(r->ch, r->cmd);
		else
			rc = libssh2_channel_shell(r->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return 0;
		if (rc)
			return chan_fail(c, r, r->cmd ? "run a command" : "start a shell");
		r->step = STEP_DONE;
		return 1;
	default:
		err_set("ssh_chan_step called on a finished request");
		return -1;
	}
}

LIBSSH2_CHANNEL *ssh_open_shell_nb(struct ssh_conn *c, int cols, int rows, int *eagain)
{
	int rc;

	if (!c->shell_busy) {
		const char *term = getenv("TERM");

		snprintf(c->term, sizeof c->term, "%s", term && *term ? term : "xterm-256color");
		c->shell_req = (struct ssh_chan_req){ .term = c->term, .cols = cols, .rows = rows };
		c->shell_busy = true;
	}
	rc = ssh_chan_step(c, &c->shell_req);
	*eagain = rc == 0;
	if (rc == 0)
		return NULL;
	c->shell_busy = false;
	return rc > 0 ? c->shell_req.ch : NULL;
}

bool ssh_chan_pending(LIBSSH2_CHANNEL *ch)
{
	return libssh2_poll_channel_read(ch, 1) > 0;
}

static int signal_number(const char *name)
{
	for (int i = 1; i < NSIG; i++) {
		const char *abbrev = sigabbrev_np(i);
		if (abbrev && !strcmp(abbrev, name))
			return i;
	}
	return -1;
}

int ssh_chan_exit_status(struct ssh_conn *c, LIBSSH2_CHANNEL *ch)
{
	char *sig = NULL;
	size_t len = 0;
	int status;

	if (libssh2_channel_get_exit_signal(ch, &sig, &len, NULL, NULL, NULL, NULL) == 0 && sig) {
		int n = signal_number(sig);
		libssh2_free(c->s, sig);
		return n > 0 ? 128 + n : 255;
	}
	status = libssh2_channel_get_exit_status(ch);
	return status & 0xff;
}

/* ---- moving bytes: local fds <-> one channel ------------------------- */

struct pump {
	struct ssh_conn *c;
	LIBSSH2_CHANNEL *ch;
	int in_fd, out_fd, err_fd;
	int winch_fd;			/* readable on SIGWINCH, or -1 */
	int tty_fd;			/* the terminal to read the size of, or -1 */
	int stop_fd;			/* readable when the user interrupts, or -1 */
	int stops;			/* interrupts so far */
	const char *pid_file;		/* in the guest: the command's process group */
	int64_t deadline;		/* 0: none */
	char in[IO_BUF];
	size_t in_len, in_off;		/* bytes read from in_fd not yet taken by the channel */
	bool in_eof;			/* in_fd is done; EOF still to be sent unless eof_sent */
	bool eof_sent;
	bool resize;			/* a window size change still to be sent */
	bool remote_eof;
};

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read both streams until libssh2 has nothing more for this channel. */
static int pump_read(struct pump *p)
{
	char buf[IO_BUF];

	for (;;) {
		bool idle = true;

		for (int stream = 0; stream <= SSH_EXTENDED_DATA_STDERR; stream++) {
			ssize_t n = libssh2_channel_read_ex(p->ch, stream, buf, sizeof buf);
			int fd = stream ? p->err_fd : p->out_fd;

			if (n > 0) {
				idle = false;
				if (write_all(fd, buf, (size_t)n) < 0) {
					err_set("cannot write the command's %s: %s",
						stream ? "stderr" : "stdout", strerror(errno));
					return -1;
				}
			} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
				err_set("reading from the SSH channel failed: %s",
					ssh_last_error(p->c));
				return -1;
			}
		}
		if (idle && !ssh_chan_pending(p->ch))
			return 0;
	}
}

/* Hand buffered input to the channel, then EOF once in_fd ended. */
static int pump_write(struct pump *p)
{
	while (p->in_off < p->in_len) {
		ssize_t n = libssh2_channel_write(p->ch, p->in + p->in_off, p->in_len - p->in_off);
		if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
			return 0;	/* same bytes again next round */
		if (n < 0) {
			err_set("writing to the SSH channel failed: %s", ssh_last_error(p->c));
			return -1;
		}
		p->in_off += (size_t)n;
	}
	p->in_off = p->in_len = 0;
	if (p->in_eof && !p->eof_sent) {
		int rc = libssh2_channel_send_eof(p->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return 0;
		if (rc) {
			err_set("sending EOF on the SSH channel failed: %s", ssh_last_error(p->c));
			return -1;
		}
		p->eof_sent = true;
	}
	return 0;
}

static void pump_resize(struct pump *p)
{
	struct winsize ws;

	/* A failed or refused resize is not worth ending the session for;
	 * only EAGAIN is retried (with the same size, as libssh2 requires). */
	if (ioctl(p->tty_fd, TIOCGWINSZ, &ws) < 0 ||
	    libssh2_channel_request_pty_size_ex(p->ch, ws.ws_col, ws.ws_row, 0, 0)
	    != LIBSSH2_ERROR_EAGAIN)
		p->resize = false;
}

static int pump_read_input(struct pump *p)
{
	ssize_t n = read(p->in_fd, p->in, sizeof p->in);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n < 0) {
		err_set("cannot read stdin: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		p->in_eof = true;
	p->in_len = (size_t)n;
	p->in_off = 0;
	return 0;
}

/* Read fd empty; returns the number of bytes it held. */
static int drain(int fd)
{
	char buf[64];
	ssize_t n;
	int total = 0;

	while ((n = read(fd, buf, sizeof buf)) > 0)
		total += (int)n;
	return total;
}

static int run_channel(struct ssh_conn *c, struct ssh_chan_req *r, struct pump *p);

/*
 * Signal the command's process group in the guest (its id is in
 * p->pid_file, see with_stop_wrapper) from a second channel on the same
 * session: SIGINT, or SIGKILL when kill is set. The first channel then
 * ends with the command's own status.
 */
static void signal_remote(struct pump *p, bool kill)
{
	char *cmd;
	struct ssh_chan_req r = { 0 };
	struct pump *k;
	int null_fd;

	if (!p->pid_file || (null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		return;
	if (kill)	/* the wrapper dies too and cannot remove its file */
		cmd = xasprintf("read -r pg <%s && kill -KILL -$pg; rm -f %s", p->pid_file,
				p->pid_file);
	else		/* the wrapper may not have written its pid yet: give it a second */
		cmd = xasprintf("for i in 1 2 3 4 5 6 7 8 9 10; do [ -s %s ] && break; "
				"sleep 0.1; done; read -r pg <%s && kill -INT -$pg",
				p->pid_file, p->pid_file);
	r.cmd = cmd;
	k = xcalloc(1, sizeof *k);
	*k = (struct pump){ .in_fd = -1, .out_fd = null_fd, .err_fd = null_fd, .winch_fd = -1,
			    .tty_fd = -1, .stop_fd = -1, .deadline = util_now_ms() + 3000 };
	run_channel(p->c, &r, k);
	libssh2_session_set_blocking(p->c->s, 0);	/* run_channel restored the caller's mode */
	close(null_fd);
	free(cmd);
	free(k);
}

/* The user interrupted: SIGINT the first time, SIGKILL from the second
 * (two interrupts at once, a quick double Ctrl-C, mean kill too). */
static void pump_stop(struct pump *p)
{
	p->stops += drain(p->stop_fd);
	signal_remote(p, p->stops > 1);
}

/*
 * Run until the remote end closes the channel: not just EOF, since a
 * command may close its output and go on reading stdin; exit-status comes
 * before close. Returns 0, -1 on error, SSH_TIMED_OUT.
 */
static int pump_run(struct pump *p)
{
	if (p->in_fd < 0)
		p->in_eof = true;
	for (;;) {
		struct pollfd fds[4];
		int nfds = 0, in_i = -1, winch_i = -1, stop_i = -1, timeout = -1, next_ka;

		if (pump_read(p) < 0 || pump_write(p) < 0)
			return -1;
		if (p->resize)
			pump_resize(p);
		if (!p->remote_eof && libssh2_channel_eof(p->ch))
			p->remote_eof = true;
		if (p->remote_eof) {
			int rc = libssh2_channel_wait_closed(p->ch);
			if (rc == 0)
				return 0;
			if (rc != LIBSSH2_ERROR_EAGAIN) {
				err_set("SSH channel broke: %s", ssh_last_error(p->c));
				return -1;
			}
		}
		if (ssh_keepalive(p->c, &next_ka) < 0)
			return -1;
		timeout = next_ka * 1000;
		if (p->deadline) {
			int64_t left = p->deadline - util_now_ms();
			if (left <= 0) {
				/* The guest's timeout(1) kills only its child; this
				 * gets a whole pipeline, when the command is wrapped. */
				signal_remote(p, true);
				err_set("timed out");
				return SSH_TIMED_OUT;
			}
			if (left < timeout)
				timeout = (int)left;
		}
		fds[nfds++] = (struct pollfd){ .fd = p->c->fd, .events = ssh_poll_events(p->c) };
		if (!p->in_eof && p->in_len == 0) {
			in_i = nfds;
			fds[nfds++] = (struct pollfd){ .fd = p->in_fd, .events = POLLIN };
		}
		if (p->winch_fd >= 0) {
			winch_i = nfds;
			fds[nfds++] = (struct pollfd){ .fd = p->winch_fd, .events = POLLIN };
		}
		if (p->stop_fd >= 0) {
			stop_i = nfds;
			fds[nfds++] = (struct pollfd){ .fd = p->stop_fd, .events = POLLIN };
		}
		if (poll(fds, (nfds_t)nfds, timeout) < 0) {
			if (errno == EINTR)
				continue;
			err_set("poll failed: %s", strerror(errno));
			return -1;
		}
		if (in_i >= 0 && fds[in_i].revents && pump_read_input(p) < 0)
			return -1;
		if (winch_i >= 0 && fds[winch_i].revents) {
			drain(p->winch_fd);
			p->resize = true;
		}
		if (stop_i >= 0 && fds[stop_i].revents)
			pump_stop(p);
	}
}

/* Close and free the channel, returning its exit status. */
static int chan_finish(struct ssh_conn *c, LIBSSH2_CHANNEL *ch, int64_t deadline)
{
	int status;

	while (libssh2_channel_close(ch) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, deadline) < 0)
			break;
	status = ssh_chan_exit_status(c, ch);
	while (libssh2_channel_free(ch) == LIBSSH2_ERROR_EAGAIN)
		if (wait_io(c, deadline) < 0)
			break;
	return status;
}

/* Open a channel for r with the session non-blocking, waiting as needed. */
static int chan_open_wait(struct ssh_conn *c, struct ssh_chan_req *r, int64_t deadline)
{
	int rc;

	while ((rc = ssh_chan_step(c, r)) == 0) {
		if (wait_io(c, deadline) < 0) {
			err_set("timed out opening an SSH channel");
			return SSH_TIMED_OUT;
		}
	}
	return rc > 0 ? 0 : -1;
}

static int run_channel(struct ssh_conn *c, struct ssh_chan_req *r, struct pump *p)
{
	bool blocking = c->blocking;
	int rc;

	libssh2_session_set_blocking(c->s, 0);
	rc = chan_open_wait(c, r, p->deadline);
	if (rc == SSH_TIMED_OUT && r->ch) {
		libssh2_channel_free(r->ch);
	} else if (rc == 0) {
		p->c = c;
		p->ch = r->ch;
		rc = pump_run(p);
		if (rc == 0) {
			rc = chan_finish(c, r->ch, 0);
		} else {
			/* Timed out or broken: don't wait long for the peer. */
			chan_finish(c, r->ch, util_now_ms() + 200);
		}
	}
	libssh2_session_set_blocking(c->s, blocking);
	return rc;
}

/*
 * Closing the channel does not stop a command in the guest (dropbear lets it
 * run, and libssh2 1.10 cannot send signals), so the guest's timeout(1)
 * kills it too, at the same moment as our own deadline.
 */
static char *with_guest_timeout(const char *cmd, int timeout_ms)
{
	char *sh_argv[] = { (char *)cmd };
	char *q = ssh_quote_argv(1, sh_argv);
	char *out = xasprintf("if command -v timeout >/dev/null 2>&1; then "
			      "exec timeout -s KILL %d sh -c %s; else exec sh -c %s; fi",
			      (timeout_ms + 999) / 1000, q, q);

	free(q);
	return out;
}

/*
 * For an interruptible command: run it in a process group of its own whose
 * id the wrapper writes to pid_file, so that pump_stop can signal all of it
 * (a pipeline, a shell and its children). The wrapper traps INT and TERM
 * only to outlive the command and remove the file; the command itself gets
 * the default dispositions back.
 */
static char *with_stop_wrapper(const char *cmd, const char *pid_file)
{
	char *sh_argv[] = { (char *)cmd };
	char *q = ssh_quote_argv(1, sh_argv);
	char *out = xasprintf("exec setsid sh -c 'echo $$ >%s; trap : INT TERM; sh -c \"$1\"; "
			      "s=$?; rm -f %s; exit $s' smolvm-exec %s",
			      pid_file, pid_file, q);

	free(q);
	return out;
}

static char *new_pid_file(void)
{
	unsigned char rnd[8];
	char hex[17];

	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd)
		return NULL;
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return xasprintf("/run/smolvm-exec.%s", hex);
}

int ssh_exec_stoppable(struct ssh_conn *c, const char *cmd, int in_fd, int out_fd, int err_fd,
		       int timeout_ms, int stop_fd)
{
	char *timed = timeout_ms > 0 ? with_guest_timeout(cmd, timeout_ms) : NULL;
	char *pid_file = stop_fd >= 0 ? new_pid_file() : NULL;
	char *wrapped = pid_file ? with_stop_wrapper(timed ? timed : cmd, pid_file) : NULL;
	struct ssh_chan_req r = { .cmd = wrapped ? wrapped : timed ? timed : cmd };
	struct pump *p = xcalloc(1, sizeof *p);
	int rc;

	*p = (struct pump){ .in_fd = in_fd, .out_fd = out_fd, .err_fd = err_fd,
			    .winch_fd = -1, .tty_fd = -1, .stop_fd = stop_fd, .pid_file = pid_file,
			    .deadline = timeout_ms > 0 ? util_now_ms() + timeout_ms : 0 };
	rc = run_channel(c, &r, p);
	free(p);
	free(wrapped);
	free(pid_file);
	free(timed);
	return rc;
}

int ssh_exec_timeout(struct ssh_conn *c, const char *cmd, int in_fd, int out_fd, int err_fd,
		     int timeout_ms)
{
	return ssh_exec_stoppable(c, cmd, in_fd, out_fd, err_fd, timeout_ms, -1);
}

int ssh_exec(struct ssh_conn *c, const char *cmd, int in_fd, int out_fd, int err_fd)
{
	return ssh_exec_timeout(c, cmd, in_fd, out_fd, err_fd, 0);
}

char *ssh_quote_argv(int argc, char **argv)
{
	size_t len = 1;
	char *out, *o;

	for (int i = 0; i < argc; i++) {
		len += 3;		/* quotes and the separator */
		for (const char *s = argv[i]; *s; s++)
			len += *s == '\'' ? 4 : 1;
	}
	o = out = xmalloc(len);
	for (int i = 0; i < argc; i++) {
		if (i)
			*o++ = ' ';
		*o++ = '\'';
		for (const char *s = argv[i]; *s; s++) {
			if (*s == '\'') {
				/* close the quote, an escaped quote, reopen */
				memcpy(o, "'\\''", 4);
				o += 4;
			} else {
				*o++ = *s;
			}
		}
		*o++ = '\'';
	}
	*o = '\0';
	return out;
}

/* ---- the interactive terminal ----------------------------------------- */

static struct termios tty_saved;
static volatile sig_atomic_t tty_raw;
static int winch_pipe[2] = { -1, -1 };

static void tty_restore(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
		tty_raw = 0;
	}
}

static void on_fatal_signal(int sig)
{
	tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_winch(int sig)
{
	int e = errno;

	(void)sig;
	if (write(winch_pipe[1], "w", 1) < 0) {
		/* pipe full: a resize is already pending */
	}
	errno = e;
}

static const int fatal_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE };
static struct sigaction fatal_saved[ARRAY_LEN(fatal_signals)];

static int tty_enter_raw(void)
{
	static bool atexit_done;
	struct termios raw;
	struct sigaction sa = { .sa_handler = on_fatal_signal };

	if (tcgetattr(STDIN_FILENO, &tty_saved) < 0) {
		err_set("cannot read the terminal settings: %s", strerror(errno));
		return -1;
	}
	if (!atexit_done) {
		atexit(tty_restore);
		atexit_done = true;
	}
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_LEN(fatal_signals); i++)
		sigaction(fatal_signals[i], &sa, &fatal_saved[i]);
	raw = tty_saved;
	cfmakeraw(&raw);
	tty_raw = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0) {
		tty_raw = 0;
		err_set("cannot put the terminal in raw mode: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void tty_leave_raw(void)
{
	tty_restore();
	for (size_t i = 0; i < ARRAY_LEN(fatal_signals); i++)
		sigaction(fatal_signals[i], &fatal_saved[i], NULL);
}

static int winch_setup(void)
{
	struct sigaction sa = { .sa_handler = on_winch, .sa_flags = SA_RESTART };

	if (winch_pipe[0] < 0 && pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		err_set("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, NULL);
	return 0;
}

int ssh_interactive(struct ssh_conn *c)
{
	struct ssh_chan_req r = { 0 };
	struct pump *p;
	struct winsize ws = { .ws_col = 80, .ws_row = 24 };
	bool tty = isatty(STDIN_FILENO);
	const char *term = getenv("TERM");
	int rc;

	p = xcalloc(1, sizeof *p);
	*p = (struct pump){ .in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO,
			    .err_fd = STDERR_FILENO, .winch_fd = -1, .tty_fd = -1,
			    .stop_fd = -1 };
	if (tty) {
		ioctl(STDIN_FILENO, TIOCGWINSZ, &ws);
		r.term = term && *term ? term : "xterm-256color";
		r.cols = ws.ws_col ? ws.ws_col : 80;
		r.rows = ws.ws_row ? ws.ws_row : 24;
		if (winch_setup() < 0) {
			free(p);
			return -1;
		}
		p->winch_fd = winch_pipe[0];
		p->tty_fd = STDIN_FILENO;
		if (tty_enter_raw() < 0) {
			signal(SIGWINCH, SIG_DFL);
			free(p);
			return -1;
		}
	}
	rc = run_channel(c, &r, p);
	if (tty) {
		tty_leave_raw();
		signal(SIGWINCH, SIG_DFL);
	}
	free(p);
	return rc;
}
