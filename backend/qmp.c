#include "backend/qmp.h"

#include <cJSON.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/util.h"

/* QEMU writes each message on one line; query-qmp-schema is the longest (~200 KB). */
#define QMP_MAX_LINE (8u << 20)
/* Events nobody collects are dropped oldest first beyond this many. */
#define QMP_MAX_EVENTS 64

struct qmp {
	int fd;
	struct qmp_parser parser;
	long long next_id;
	struct qmp_msg events[QMP_MAX_EVENTS];
	size_t nevents;
};

static const char *str_item(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int parse_fail(struct qmp_msg *m, const char *why, const char *line, size_t len)
{
	int show = len > 60 ? 60 : (int)len;

	cJSON_Delete(m->root);
	memset(m, 0, sizeof *m);
	err_set("QMP: %s: '%.*s%s'", why, show, line, len > 60 ? "..." : "");
	return -1;
}

int qmp_parse_line(const char *line, size_t len, struct qmp_msg *m)
{
	const char *end = NULL;
	cJSON *v;

	memset(m, 0, sizeof *m);
	m->id = -1;
	m->root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!m->root)
		return parse_fail(m, "not JSON", line, len);
	for (; end && end < line + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\r')
			return parse_fail(m, "trailing bytes after the message", line, len);
	if (!cJSON_IsObject(m->root))
		return parse_fail(m, "not a JSON object", line, len);

	v = cJSON_GetObjectItemCaseSensitive(m->root, "id");
	if (cJSON_IsNumber(v))
		m->id = (long long)v->valuedouble;

	if ((v = cJSON_GetObjectItemCaseSensitive(m->root, "QMP"))) {
		m->kind = QMP_GREETING;
		m->value = v;
	} else if ((v = cJSON_GetObjectItemCaseSensitive(m->root, "return"))) {
		m->kind = QMP_RETURN;
		m->value = v;
	} else if ((v = cJSON_GetObjectItemCaseSensitive(m->root, "error"))) {
		m->kind = QMP_ERROR;
		m->value = v;
		m->error_class = str_item(v, "class");
		m->error_desc = str_item(v, "desc");
		if (!m->error_class)
			m->error_class = "GenericError";
		if (!m->error_desc)
			m->error_desc = "(no description)";
	} else if ((m->event = str_item(m->root, "event"))) {
		m->kind = QMP_EVENT;
		m->value = cJSON_GetObjectItemCaseSensitive(m->root, "data");
	} else {
		return parse_fail(m, "unknown message", line, len);
	}
	return 0;
}

void qmp_msg_free(struct qmp_msg *m)
{
	cJSON_Delete(m->root);
	memset(m, 0, sizeof *m);
}

void qmp_parser_feed(struct qmp_parser *p, const char *data, size_t len)
{
	if (p->len + len + 1 > p->cap) {
		while (p->len + len + 1 > p->cap)
			p->cap = p->cap ? p->cap * 2 : 4096;
		p->buf = xrealloc(p->buf, p->cap);
	}
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

static void parser_consume(struct qmp_parser *p, size_t n)
{
	memmove(p->buf, p->buf + n, p->len - n);
	p->len -= n;
}

int qmp_parser_next(struct qmp_parser *p, struct qmp_msg *m)
{
	for (;;) {
		char *nl = p->len ? memchr(p->buf, '\n', p->len) : NULL;
		size_t linelen;
		int rc;

		if (!nl) {
			/* A runaway line is dropped instead of growing without bound. */
			if (p->len > QMP_MAX_LINE) {
				p->len = 0;
				p->discarding = 1;
				err_set("QMP: a message longer than %u bytes was dropped",
					QMP_MAX_LINE);
				return -1;
			}
			return 0;
		}
		linelen = (size_t)(nl - p->buf);
		if (p->discarding) {
			p->discarding = 0;
			parser_consume(p, linelen + 1);
			continue;
		}
		if (linelen && p->buf[linelen - 1] == '\r')
			linelen--;
		if (linelen == 0) {
			parser_consume(p, (size_t)(nl - p->buf) + 1);
			continue;
		}
		rc = qmp_parse_line(p->buf, linelen, m);
		parser_consume(p, (size_t)(nl - p->buf) + 1);
		return rc < 0 ? -1 : 1;
	}
}

void qmp_parser_free(struct qmp_parser *p)
{
	free(p->buf);
	memset(p, 0, sizeof *p);
}

/* Wait for readable data until deadline (monotonic ms) and feed it. */
static int qmp_fill(struct qmp *q, int64_t deadline)
{
	char buf[8192];
	ssize_t n;

	for (;;) {
		int64_t left = deadline - util_now_ms();
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		int rc;

		if (left <= 0) {
			err_set("QMP: no answer from QEMU in time");
			return -1;
		}
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			err_set("QMP: poll: %s", strerror(errno));
			return -1;
		}
		if (rc == 0)
			continue;
		n = read(q->fd, buf, sizeof buf);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			err_set("QMP: read: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			err_set("QMP: QEMU closed the connection");
			return -1;
		}
		qmp_parser_feed(&q->parser, buf, (size_t)n);
		return 0;
	}
}

/* The next message within the deadline; lines that are not QMP are skipped. */
static int qmp_read_msg(struct qmp *q, struct qmp_msg *m, int64_t deadline)
{
	for (;;) {
		int rc = qmp_parser_next(&q->parser, m);

		if (rc == 1)
			return 0;
		if (rc == 0 && qmp_fill(q, deadline) < 0)
			return -1;
	}
}

static void queue_event(struct qmp *q, struct qmp_msg *m)
{
	if (q->nevents == QMP_MAX_EVENTS) {
		qmp_msg_free(&q->events[0]);
		memmove(q->events, q->events + 1, (QMP_MAX_EVENTS - 1) * sizeof *q->events);
		q->nevents--;
	}
	q->events[q->nevents++] = *m;
	memset(m, 0, sizeof *m);
}

static int send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set("QMP: write: %s", strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The first bytes of a request, carrying fd (SCM_RIGHTS) along. */
static int send_with_fd(int sock, const char *data, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof u.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	memset(u.buf, 0, sizeof u.buf);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		err_set("QMP: sendmsg: %s", strerror(errno));
		return -1;
	}
	return send_all(sock, data + n, len - (size_t)n);
}

/* fd >= 0 goes along with the request (for getfd). */
static int command_until(struct qmp *q, const char *name, cJSON *args, cJSON **ret,
			 int64_t deadline, int fd)
{
	cJSON *req = cJSON_CreateObject();
	long long id = q->next_id++;
	char *text;
	int rc;

	cJSON_AddStringToObject(req, "execute", name);
	if (args)
		cJSON_AddItemToObject(req, "arguments", args);
	cJSON_AddNumberToObject(req, "id", (double)id);
	text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!text)
		die("out of memory");
	rc = fd >= 0 ? send_with_fd(q->fd, text, strlen(text), fd)
		     : send_all(q->fd, text, strlen(text));
	if (rc == 0)
		rc = send_all(q->fd, "\n", 1);
	free(text);
	if (rc < 0)
		return -1;

	for (;;) {
		struct qmp_msg m;

		if (qmp_read_msg(q, &m, deadline) < 0) {
			err_set("%s (waiting for '%s')", err_msg(), name);
			return -1;
		}
		if (m.kind == QMP_EVENT) {
			queue_event(q, &m);
			continue;
		}
		if (m.id != id || m.kind == QMP_GREETING) {
			qmp_msg_free(&m);	/* a stale reply to a command that timed out */
			continue;
		}
		if (m.kind == QMP_ERROR) {
			err_set("QMP '%s' failed: %s: %s", name, m.error_class, m.error_desc);
			qmp_msg_free(&m);
			return -1;
		}
		if (ret)
			*ret = m.value ? cJSON_DetachItemViaPointer(m.root, m.value) : NULL;
		qmp_msg_free(&m);
		return 0;
	}
}

int qmp_command(struct qmp *q, const char *name, cJSON *args, cJSON **ret, int timeout_ms)
{
	if (ret)
		*ret = NULL;
	return command_until(q, name, args, ret, util_now_ms() + timeout_ms, -1);
}

int qmp_getfd(struct qmp *q, const char *fdname, int fd, int timeout_ms)
{
	cJSON *args = cJSON_CreateObject();

	cJSON_AddStringToObject(args, "fdname", fdname);
	return command_until(q, "getfd", args, NULL, util_now_ms() + timeout_ms, fd);
}

static int connect_until(const char *path, int64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		err_set("QMP socket path too long (%zu bytes, at most %zu): %s; use a shorter "
			"SMOLVM_HOME", strlen(path), sizeof sa.sun_path - 1, path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err_set("QMP: socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		return fd;
	if (errno == EINPROGRESS || errno == EAGAIN) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int64_t left = deadline - util_now_ms();
		int soerr = 0;
		socklen_t sl = sizeof soerr;

		if (left > 0 && poll(&pfd, 1, (int)left) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			return fd;
		errno = soerr ? soerr : ETIMEDOUT;
	}
	err_set("cannot connect to QMP socket %s: %s", path, strerror(errno));
	close(fd);
	return -1;
}

struct qmp *qmp_connect(const char *sock_path, int timeout_ms)
{
	int64_t deadline = util_now_ms() + timeout_ms;
	struct qmp *q;
	struct qmp_msg m;
	int fd = connect_until(sock_path, deadline);

	if (fd < 0)
		return NULL;
	q = xcalloc(1, sizeof *q);
	q->fd = fd;
	q->next_id = 1;
	for (;;) {
		if (qmp_read_msg(q, &m, deadline) < 0) {
			err_set("%s (waiting for the greeting on %s)", err_msg(), sock_path);
			goto fail;
		}
		if (m.kind == QMP_GREETING)
			break;
		if (m.kind != QMP_EVENT) {
			err_set("QMP: %s sent a reply before its greeting", sock_path);
			qmp_msg_free(&m);
			goto fail;
		}
		queue_event(q, &m);
	}
	qmp_msg_free(&m);
	if (command_until(q, "qmp_capabilities", NULL, NULL, deadline, -1) < 0)
		goto fail;
	return q;
fail:
	qmp_close(q);
	return NULL;
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	close(q->fd);
	for (size_t i = 0; i < q->nevents; i++)
		qmp_msg_free(&q->events[i]);
	qmp_parser_free(&q->parser);
	free(q);
}

int qmp_event_pop(struct qmp *q, struct qmp_msg *m)
{
	if (!q->nevents)
		return 0;
	*m = q->events[0];
	memmove(q->events, q->events + 1, (q->nevents - 1) * sizeof *q->events);
	q->nevents--;
	return 1;
}
