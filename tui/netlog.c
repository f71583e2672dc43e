#include "tui/netlog.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/util.h"

#define READ_CHUNK (64 * 1024)
/* At most this much per poll, so that a huge burst cannot stall a frame. */
#define READ_MAX (1024 * 1024)

void netlog_init(struct netlog *l, const char *path, size_t cap)
{
	memset(l, 0, sizeof *l);
	l->path = xstrdup(path);
	l->fd = -1;
	l->cap = cap ? cap : 1;
	l->ring = xcalloc(l->cap, sizeof *l->ring);
	l->part = xmalloc(NETLOG_LINE_MAX);
}

void netlog_entry_clear(struct netlog_entry *e)
{
	free(e->host);
	free(e->path);
	free(e->rule);
	free(e->reason);
	memset(e, 0, sizeof *e);
}

void netlog_free(struct netlog *l)
{
	for (size_t i = 0; i < l->count; i++)
		netlog_entry_clear(&l->ring[(l->head + i) % l->cap]);
	free(l->ring);
	free(l->part);
	free(l->path);
	if (l->fd >= 0)
		close(l->fd);
	memset(l, 0, sizeof *l);
	l->fd = -1;
}

const struct netlog_entry *netlog_at(const struct netlog *l, size_t i)
{
	return i < l->count ? &l->ring[(l->head + i) % l->cap] : NULL;
}

/* A copy that is safe to draw: control bytes become '?'. */
static char *clean_dup(const char *s)
{
	char *out = xstrdup(s);

	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return out;
}

static const char *get_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy_field(char *dst, size_t size, const char *s)
{
	char *c = clean_dup(s ? s : "");

	snprintf(dst, size, "%s", c);
	free(c);
}

/* "2025-06-01T12:34:56.789Z" (UTC) as the local "12:34:56" or so. */
static void local_time(const char *iso, char out[16])
{
	struct tm tm = { 0 };
	const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	time_t t;

	out[0] = '\0';
	if (!end)
		return;
	t = timegm(&tm);
	if (localtime_r(&t, &tm))
		strftime(out, 16, "%H:%M:%S", &tm);
}

static int parse_dns(const cJSON *o, struct netlog_entry *e)
{
	const char *name = get_str(o, "name"), *type = get_str(o, "type");
	const char *answer = get_str(o, "answer"), *rcode = get_str(o, "rcode");
	char *what;

	if (!name || !type || !rcode)
		return -1;
	e->dns = true;
	e->decision = NETLOG_ALLOW;
	copy_field(e->method, sizeof e->method, type);
	copy_field(e->scheme, sizeof e->scheme, "dns");
	e->host = clean_dup(name);
	if (answer)
		what = xasprintf("answered %s", answer);
	else
		what = xstrdup(strcmp(rcode, "NOERROR") ? rcode : "no record of this type");
	e->reason = clean_dup(what);
	free(what);
	local_time(get_str(o, "time"), e->time);
	return 0;
}

int netlog_parse(const char *line, size_t len, struct netlog_entry *e)
{
	cJSON *o = cJSON_ParseWithLength(line, len);
	const cJSON *port, *status, *path, *rule;
	const char *decision, *host, *method, *s;
	int rc = -1;

	memset(e, 0, sizeof *e);
	if (!cJSON_IsObject(o))
		goto out;
	s = get_str(o, "kind");
	if (s && !strcmp(s, "dns")) {
		rc = parse_dns(o, e);
		goto out;
	}
	decision = get_str(o, "decision");
	host = get_str(o, "host");
	method = get_str(o, "method");
	if (!decision || !host || !method)
		goto out;
	if (!strcmp(decision, "allow"))
		e->decision = NETLOG_ALLOW;
	else if (!strcmp(decision, "deny"))
		e->decision = NETLOG_DENY;
	else if (!strcmp(decision, "error"))
		e->decision = NETLOG_ERROR;
	else
		goto out;
	port = cJSON_GetObjectItemCaseSensitive(o, "port");
	status = cJSON_GetObjectItemCaseSensitive(o, "status");
	path = cJSON_GetObjectItemCaseSensitive(o, "path");
	rule = cJSON_GetObjectItemCaseSensitive(o, "rule");
	if ((port && (!cJSON_IsNumber(port) || port->valuedouble < 0 ||
		      port->valuedouble > 65535)) ||
	    (path && !cJSON_IsString(path) && !cJSON_IsNull(path)) ||
	    (rule && !cJSON_IsString(rule) && !cJSON_IsNull(rule)))
		goto out;
	s = get_str(o, "kind");
	e->tunnel = s && (!strcmp(s, "connect") || !strcmp(s, "tls"));
	copy_field(e->method, sizeof e->method, method);
	s = get_str(o, "scheme");
	copy_field(e->scheme, sizeof e->scheme, s ? s : e->tunnel ? "https" : "http");
	e->host = clean_dup(host);
	e->port = port ? (uint16_t)port->valuedouble : 0;
	e->path = cJSON_IsString(path) ? clean_dup(path->valuestring) : NULL;
	e->rule = cJSON_IsString(rule) ? clean_dup(rule->valuestring) : NULL;
	s = get_str(o, "reason");
	e->reason = clean_dup(s ? s : "");
	e->status = cJSON_IsNumber(status) ? status->valueint : 0;
	local_time(get_str(o, "time"), e->time);
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

static bool add_line(struct netlog *l, const char *line, size_t len)
{
	struct netlog_entry e, *slot;

	if (len == 0)
		return false;
	if (netlog_parse(line, len, &e) < 0) {
		l->garbage++;
		return false;
	}
	e.seq = ++l->seq;
	if (l->count == l->cap) {
		slot = &l->ring[l->head];
		netlog_entry_clear(slot);
		l->head = (l->head + 1) % l->cap;
	} else {
		slot = &l->ring[(l->head + l->count++) % l->cap];
	}
	*slot = e;
	return true;
}

bool netlog_feed(struct netlog *l, const char *data, size_t len)
{
	bool added = false;

	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (l->skipping) {
			if (!nl)
				return added;
			l->skipping = false;
		} else if (!nl) {
			/* Wait for the rest of the line. */
			if (l->part_len + n > NETLOG_LINE_MAX) {
				l->garbage++;
				l->part_len = 0;
				l->skipping = true;
			} else {
				memcpy(l->part + l->part_len, data, n);
				l->part_len += n;
			}
			return added;
		} else if (l->part_len) {
			if (l->part_len + n > NETLOG_LINE_MAX) {
				l->garbage++;
			} else {
				memcpy(l->part + l->part_len, data, n);
				added |= add_line(l, l->part, l->part_len + n);
			}
			l->part_len = 0;
		} else {
			added |= add_line(l, data, n);
		}
		data += n + 1;
		len -= n + 1;
	}
	return added;
}

static bool set_error(struct netlog *l, const char *msg)
{
	if (!strcmp(l->error, msg))
		return false;
	snprintf(l->error, sizeof l->error, "%s", msg);
	return true;
}

/* Open the file; the first time, start near its end so that a long log
 * costs no more than its tail. */
static bool open_log(struct netlog *l, bool *changed)
{
	struct stat st;
	char msg[sizeof l->error];
	l->fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (l->fd < 0 || fstat(l->fd, &st) < 0) {
		if (errno == ENOENT) {
			*changed |= set_error(l, "");
		} else {
			snprintf(msg, sizeof msg, "cannot read %s: %s", l->path, strerror(errno));
			*changed |= set_error(l, msg);
		}
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
		return false;
	}
	*changed |= set_error(l, "");
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->off = 0;
	l->part_len = 0;
	l->skipping = false;
	if (!l->opened && st.st_size > NETLOG_TAIL_BYTES) {
		l->off = st.st_size - NETLOG_TAIL_BYTES;
		l->skipping = true;
	}
	l->opened = true;
	return true;
}

bool netlog_poll(struct netlog *l)
{
	bool changed = false;
	struct stat st;
	char *buf;
	size_t total = 0;

	if (stat(l->path, &st) < 0) {
		/* Gone (or not there yet): an empty log, not an error. */
		if (l->fd >= 0) {
			close(l->fd);
			l->fd = -1;
		}
		if (errno != ENOENT) {
			char msg[sizeof l->error];

			snprintf(msg, sizeof msg, "cannot read %s: %s", l->path, strerror(errno));
			return set_error(l, msg);
		}
		return set_error(l, "");
	}
	if (l->fd >= 0 && (st.st_dev != l->dev || st.st_ino != l->ino)) {
		/* Replaced: the new file is read from its start. */
		close(l->fd);
		l->fd = -1;
	}
	if (l->fd < 0 && !open_log(l, &changed))
		return changed;
	if (fstat(l->fd, &st) == 0 && st.st_size < l->off) {
		/* Truncated: start again at its new start. */
		l->off = 0;
		l->part_len = 0;
		l->skipping = false;
	}
	buf = xmalloc(READ_CHUNK);
	while (total < READ_MAX) {
		ssize_t n = pread(l->fd, buf, READ_CHUNK, l->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		l->off += n;
		total += (size_t)n;
		changed |= netlog_feed(l, buf, (size_t)n);
	}
	free(buf);
	return changed;
}

bool netlog_match(const struct netlog_entry *e, const char *filter)
{
	const char *fields[] = { e->host, e->path, e->reason, e->method, e->rule };

	if (!filter || !*filter)
		return true;
	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		if (fields[i] && strcasestr(fields[i], filter))
			return true;
	return false;
}
