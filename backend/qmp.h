/* qmp: a QEMU Machine Protocol client over a unix socket. */
#ifndef SMOLVM_QMP_H
#define SMOLVM_QMP_H

#include <stddef.h>

struct cJSON;

enum qmp_kind {
	QMP_GREETING,	/* {"QMP": {...}}, sent once on connect */
	QMP_RETURN,	/* {"return": ..., "id": N} */
	QMP_ERROR,	/* {"error": {"class": ..., "desc": ...}, "id": N} */
	QMP_EVENT,	/* {"event": NAME, "data": ..., "timestamp": ...} */
};

/* One message from QEMU. The pointers point into root, which the message owns. */
struct qmp_msg {
	enum qmp_kind kind;
	long long id;			/* a reply's numeric id, else -1 */
	const char *event;		/* QMP_EVENT: the event's name */
	const char *error_class;	/* QMP_ERROR */
	const char *error_desc;		/* QMP_ERROR */
	struct cJSON *value;		/* return value, event data or the greeting's body; may be NULL */
	struct cJSON *root;
};

/* Parse one line (without its line ending). Returns 0, or -1 with err_set()
 * if it is not a QMP message; *m is then zeroed. */
int qmp_parse_line(const char *line, size_t len, struct qmp_msg *m);
void qmp_msg_free(struct qmp_msg *m);

/* Splits a byte stream into messages: feed what was read, then take messages
 * until it returns 0. */
struct qmp_parser {
	char *buf;
	size_t len, cap;
	int discarding;		/* inside an over-long line that is being skipped */
};

void qmp_parser_feed(struct qmp_parser *p, const char *data, size_t len);
/* 1: *m holds the next message; 0: no complete line yet; -1: a line that
 * was not a QMP message was dropped (err_set), call again for the next. */
int qmp_parser_next(struct qmp_parser *p, struct qmp_msg *m);
void qmp_parser_free(struct qmp_parser *p);

struct qmp;

/* Connect, read the greeting and leave negotiation mode (qmp_capabilities),
 * all within timeout_ms. NULL with err_set() on failure. */
struct qmp *qmp_connect(const char *sock_path, int timeout_ms);
void qmp_close(struct qmp *q);

/*
 * Run a command and wait at most timeout_ms for the reply with its id.
 * args (may be NULL) is consumed. On success *ret (if not NULL) gets the
 * reply's return value, detached (free with cJSON_Delete). Events that
 * arrive meanwhile are queued for qmp_event_pop. An error reply returns -1
 * with its class and description in err_msg().
 */
int qmp_command(struct qmp *q, const char *name, struct cJSON *args, struct cJSON **ret,
		int timeout_ms);

/* Hand QEMU a copy of fd under fdname (QMP "getfd", the fd passed along
 * with the request), for commands that take "fd:FDNAME". 0, or -1 with
 * err_set(). */
int qmp_getfd(struct qmp *q, const char *fdname, int fd, int timeout_ms);

/* The oldest queued event: 1 and *m filled (free with qmp_msg_free), 0 if none. */
int qmp_event_pop(struct qmp *q, struct qmp_msg *m);

#endif
