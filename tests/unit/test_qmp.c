/* QMP: the line parser, the stream splitter, and the client against a scripted peer. */
#include <cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/qmp.h"
#include "backend/util.h"
#include "unit.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
	"\"package\": \"Debian 1:7.2+dfsg-7\"}, \"capabilities\": [\"oob\"]}}"

static int parse(const char *line, struct qmp_msg *m)
{
	return qmp_parse_line(line, strlen(line), m);
}

static void test_greeting(void)
{
	struct qmp_msg m;
	cJSON *caps;

	EXPECT_INT(parse(GREETING, &m), 0);
	EXPECT_INT(m.kind, QMP_GREETING);
	EXPECT_INT(m.id, -1);
	caps = cJSON_GetObjectItem(m.value, "capabilities");
	EXPECT(cJSON_IsArray(caps) && cJSON_GetArraySize(caps) == 1);
	qmp_msg_free(&m);
}

static void test_return_with_id(void)
{
	struct qmp_msg m;

	EXPECT_INT(parse("{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": 7}",
			 &m), 0);
	EXPECT_INT(m.kind, QMP_RETURN);
	EXPECT_INT(m.id, 7);
	EXPECT_STR(cJSON_GetObjectItem(m.value, "status")->valuestring, "paused");
	qmp_msg_free(&m);

	/* An empty return without an id (qmp_capabilities sent without one). */
	EXPECT_INT(parse("{\"return\": {}}", &m), 0);
	EXPECT_INT(m.kind, QMP_RETURN);
	EXPECT_INT(m.id, -1);
	EXPECT(cJSON_IsObject(m.value));
	qmp_msg_free(&m);
}

static void test_error_reply(void)
{
	struct qmp_msg m;

	EXPECT_INT(parse("{\"id\": 3, \"error\": {\"class\": \"CommandNotFound\", "
			 "\"desc\": \"The command fnord has not been found\"}}", &m), 0);
	EXPECT_INT(m.kind, QMP_ERROR);
	EXPECT_INT(m.id, 3);
	EXPECT_STR(m.error_class, "CommandNotFound");
	EXPECT_STR(m.error_desc, "The command fnord has not been found");
	qmp_msg_free(&m);

	/* A malformed error still reads as an error, with stand-in texts. */
	EXPECT_INT(parse("{\"id\": 4, \"error\": 17}", &m), 0);
	EXPECT_INT(m.kind, QMP_ERROR);
	EXPECT_STR(m.error_class, "GenericError");
	qmp_msg_free(&m);
}

static void test_event(void)
{
	struct qmp_msg m;

	EXPECT_INT(parse("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 5}, "
			 "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, "
			 "\"reason\": \"guest-shutdown\"}}\r", &m), 0);
	EXPECT_INT(m.kind, QMP_EVENT);
	EXPECT_STR(m.event, "SHUTDOWN");
	EXPECT_STR(cJSON_GetObjectItem(m.value, "reason")->valuestring, "guest-shutdown");
	qmp_msg_free(&m);

	EXPECT_INT(parse("{\"event\": \"RESUME\", \"timestamp\": {}}", &m), 0);
	EXPECT_INT(m.kind, QMP_EVENT);
	EXPECT(m.value == NULL);
	qmp_msg_free(&m);
}

static void test_garbage(void)
{
	static const char *bad[] = {
		"", "hello", "{\"return\": {}", "[1, 2]", "42", "{\"foo\": 1}",
		"{\"event\": 5}", "{\"return\": {}} trailing", "\xff\xfe{}",
	};
	struct qmp_msg m;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		EXPECT_INT(parse(bad[i], &m), -1);
		EXPECT(m.root == NULL);
	}
	EXPECT(strstr(err_msg(), "QMP") != NULL);
}

/* Bytes arrive in arbitrary pieces; messages come out whole and in order. */
static void test_partial_lines(void)
{
	const char *stream = GREETING "\r\n"
		"{\"event\": \"STOP\", \"timestamp\": {}}\r\n"
		"\r\n"
		"{\"return\": {}, \"id\": 1}\r\n"
		"{\"return\": {\"status\": \"running\"}, \"id\": 2}\n";
	static const int kinds[] = { QMP_GREETING, QMP_EVENT, QMP_RETURN, QMP_RETURN };
	size_t len = strlen(stream);

	/* Every split point of the stream into two pieces, and byte by byte. */
	for (size_t cut = 0; cut <= len + 1; cut++) {
		struct qmp_parser p = { 0 };
		struct qmp_msg m;
		int got = 0, rc;

		if (cut <= len) {
			qmp_parser_feed(&p, stream, cut);
			while ((rc = qmp_parser_next(&p, &m)) == 1) {
				EXPECT(got < 4 && (int)m.kind == kinds[got]);
				got++;
				qmp_msg_free(&m);
			}
			EXPECT_INT(rc, 0);
			qmp_parser_feed(&p, stream + cut, len - cut);
		} else {
			for (size_t i = 0; i < len; i++) {
				qmp_parser_feed(&p, stream + i, 1);
				while (qmp_parser_next(&p, &m) == 1) {
					EXPECT(got < 4 && (int)m.kind == kinds[got]);
					got++;
					qmp_msg_free(&m);
				}
			}
		}
		while ((rc = qmp_parser_next(&p, &m)) == 1) {
			EXPECT(got < 4 && (int)m.kind == kinds[got]);
			if (got == 3)
				EXPECT_INT(m.id, 2);
			got++;
			qmp_msg_free(&m);
		}
		EXPECT_INT(rc, 0);
		EXPECT_INT(got, 4);
		qmp_parser_free(&p);
	}
}

/* A garbage line is reported once and skipped; the stream goes on. */
static void test_garbage_in_stream(void)
{
	struct qmp_parser p = { 0 };
	struct qmp_msg m;
	const char *s = "not json at all\r\n{\"return\": 5, \"id\": 9}\r\n{\"retu";

	qmp_parser_feed(&p, s, strlen(s));
	EXPECT_INT(qmp_parser_next(&p, &m), -1);
	EXPECT_INT(qmp_parser_next(&p, &m), 1);
	EXPECT_INT(m.kind, QMP_RETURN);
	EXPECT_INT(m.id, 9);
	EXPECT(cJSON_IsNumber(m.value) && m.value->valueint == 5);
	qmp_msg_free(&m);
	EXPECT_INT(qmp_parser_next(&p, &m), 0);
	qmp_parser_free(&p);
}

/* A line without an end that grows past the limit is dropped up to its newline. */
static void test_overlong_line(void)
{
	struct qmp_parser p = { 0 };
	struct qmp_msg m;
	size_t chunk = 1 << 20;
	char *junk = xmalloc(chunk);
	int rc = 0;

	memset(junk, 'x', chunk);
	for (int i = 0; i < 9 && rc == 0; i++) {
		qmp_parser_feed(&p, junk, chunk);
		rc = qmp_parser_next(&p, &m);
	}
	EXPECT_INT(rc, -1);
	qmp_parser_feed(&p, junk, 100);
	EXPECT_INT(qmp_parser_next(&p, &m), 0);
	qmp_parser_feed(&p, "xx\n{\"return\": {}, \"id\": 1}\n", 27);
	EXPECT_INT(qmp_parser_next(&p, &m), 1);
	EXPECT_INT(m.id, 1);
	qmp_msg_free(&m);
	qmp_parser_free(&p);
	free(junk);
}

/* --- the client, against a peer that plays QEMU from a script ------------ */

static void peer_send(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		_exit(3);
}

/* Read one request line, return its "execute" and "id". */
static int peer_read(int fd, char *cmd, size_t cmdlen, int *id)
{
	char line[4096];
	size_t n = 0;
	cJSON *o, *v;

	while (n < sizeof line - 1 && read(fd, line + n, 1) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	o = cJSON_Parse(line);
	if (!o)
		return -1;
	v = cJSON_GetObjectItem(o, "execute");
	snprintf(cmd, cmdlen, "%s", cJSON_IsString(v) ? v->valuestring : "?");
	v = cJSON_GetObjectItem(o, "id");
	*id = cJSON_IsNumber(v) ? v->valueint : -1;
	cJSON_Delete(o);
	return 0;
}

static void peer(int lfd)
{
	int fd = accept(lfd, NULL, NULL), id;
	char cmd[64], buf[512];

	if (fd < 0)
		_exit(2);
	/* An event before the greeting is legal too. */
	peer_send(fd, "{\"event\": \"EARLY\", \"timestamp\": {}}\r\n" GREETING "\r\n");
	if (peer_read(fd, cmd, sizeof cmd, &id) || strcmp(cmd, "qmp_capabilities"))
		_exit(4);
	snprintf(buf, sizeof buf, "{\"return\": {}, \"id\": %d}\r\n", id);
	peer_send(fd, buf);

	/* query-status: a stale reply, two events, then the answer in two pieces. */
	if (peer_read(fd, cmd, sizeof cmd, &id) || strcmp(cmd, "query-status"))
		_exit(5);
	snprintf(buf, sizeof buf, "{\"return\": {\"status\": \"wrong\"}, \"id\": %d}\r\n"
		 "{\"event\": \"STOP\", \"timestamp\": {}}\r\n"
		 "garbage\r\n"
		 "{\"event\": \"RESUME\", \"timestamp\": {}}\r\n"
		 "{\"return\": {\"status\": \"pau", id + 100);
	peer_send(fd, buf);
	usleep(20000);
	snprintf(buf, sizeof buf, "sed\"}, \"id\": %d}\r\n", id);
	peer_send(fd, buf);

	if (peer_read(fd, cmd, sizeof cmd, &id) || strcmp(cmd, "fnord"))
		_exit(6);
	snprintf(buf, sizeof buf, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
		 "\"The command fnord has not been found\"}, \"id\": %d}\r\n", id);
	peer_send(fd, buf);

	/* The last command gets no answer at all. */
	if (peer_read(fd, cmd, sizeof cmd, &id) || strcmp(cmd, "silence"))
		_exit(7);
	while (read(fd, buf, sizeof buf) > 0)
		;
	_exit(0);
}

static void test_client(void)
{
	char dir[] = "/tmp/qmp-unit.XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q;
	struct qmp_msg m;
	cJSON *ret = NULL;
	int lfd, status = -1;
	int64_t t0;
	pid_t pid;

	EXPECT(mkdtemp(dir) != NULL);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/qmp.sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	EXPECT(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 1) == 0);
	pid = fork();
	if (pid == 0)
		peer(lfd);
	close(lfd);

	q = qmp_connect(sa.sun_path, 2000);
	EXPECT(q != NULL);
	if (!q) {
		printf("#   %s\n", err_msg());
		goto out;
	}
	EXPECT_INT(qmp_command(q, "query-status", NULL, &ret, 2000), 0);
	EXPECT(ret && cJSON_IsString(cJSON_GetObjectItem(ret, "status")));
	if (ret)
		EXPECT_STR(cJSON_GetObjectItem(ret, "status")->valuestring, "paused");
	cJSON_Delete(ret);

	/* Events from before the greeting and from between replies, in order. */
	EXPECT_INT(qmp_event_pop(q, &m), 1);
	EXPECT_STR(m.event, "EARLY");
	qmp_msg_free(&m);
	EXPECT_INT(qmp_event_pop(q, &m), 1);
	EXPECT_STR(m.event, "STOP");
	qmp_msg_free(&m);
	EXPECT_INT(qmp_event_pop(q, &m), 1);
	EXPECT_STR(m.event, "RESUME");
	qmp_msg_free(&m);
	EXPECT_INT(qmp_event_pop(q, &m), 0);

	EXPECT_INT(qmp_command(q, "fnord", cJSON_CreateObject(), &ret, 2000), -1);
	EXPECT(ret == NULL);
	EXPECT(strstr(err_msg(), "CommandNotFound") && strstr(err_msg(), "fnord"));

	t0 = util_now_ms();
	EXPECT_INT(qmp_command(q, "silence", NULL, NULL, 200), -1);
	EXPECT(util_now_ms() - t0 >= 190 && util_now_ms() - t0 < 1000);
	EXPECT(strstr(err_msg(), "in time") != NULL);
	qmp_close(q);
out:
	waitpid(pid, &status, 0);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(sa.sun_path);
	rmdir(dir);
}

static void test_connect_missing(void)
{
	EXPECT(qmp_connect("/nonexistent/qmp.sock", 200) == NULL);
	EXPECT(strstr(err_msg(), "/nonexistent/qmp.sock") != NULL);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_greeting);
	RUN(test_return_with_id);
	RUN(test_error_reply);
	RUN(test_event);
	RUN(test_garbage);
	RUN(test_partial_lines);
	RUN(test_garbage_in_stream);
	RUN(test_overlong_line);
	RUN(test_client);
	RUN(test_connect_missing);
	UNIT_EXIT();
}
