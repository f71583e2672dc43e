/*
 * netlog: a sandbox's decision log (vms/<id>/policy.log, one JSON object a
 * line, appended by its egress proxy) read incrementally into a ring of
 * the most recent entries. Reading never waits: the file is a regular
 * file, read from where the last read stopped, a bounded amount at a time.
 */
#ifndef SMOLVM_NETLOG_H
#define SMOLVM_NETLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum netlog_decision { NETLOG_ALLOW, NETLOG_DENY, NETLOG_ERROR };

struct netlog_entry {
	uint64_t seq;		/* 1 for the first entry read, then one more each */
	char time[16];		/* local "HH:MM:SS", or "" if the line had none */
	enum netlog_decision decision;
	/* Judged as a connection, before any request in it: a CONNECT, or TLS
	 * by its server name (kind "tls"). No path; the method may be "". */
	bool tunnel;
	char method[16];
	char scheme[8];		/* "http" or "https" */
	char *host;		/* as the guest sent it; "" if the request had none */
	uint16_t port;
	char *path;		/* without the query; NULL for a CONNECT */
	char *rule;		/* the rule that allowed it, or NULL */
	char *reason;		/* why it was denied or failed; "" if none */
	int status;		/* the HTTP status the guest got */
	/* A DNS question the sandbox's resolver answered (kind "dns"): method
	 * is its type, host the name, reason what was answered; decision is
	 * allow and there is no port, path or status. */
	bool dns;
};

/* Entries kept, and how much of a long file the first read takes. */
#define NETLOG_RING 2000
#define NETLOG_TAIL_BYTES (512 * 1024)
/* Lines longer than this are not the proxy's and are skipped. */
#define NETLOG_LINE_MAX (64 * 1024)

struct netlog {
	char *path;
	int fd;			/* -1 while the file is not open */
	bool opened;		/* once opened, a file that replaces it is read whole */
	dev_t dev;
	ino_t ino;
	off_t off;		/* bytes of the file consumed */
	char *part;		/* the start of a line not complete yet */
	size_t part_len;
	bool skipping;		/* dropping bytes up to the next newline */
	struct netlog_entry *ring;
	size_t cap, head, count;	/* entries ring[(head + i) % cap], oldest first */
	uint64_t seq;		/* of the newest entry */
	size_t garbage;		/* lines skipped because they were not entries */
	char error[200];	/* why the file cannot be read; "" if it can or is missing */
};

/* Tail path (it need not exist yet), keeping the newest cap entries. */
void netlog_init(struct netlog *l, const char *path, size_t cap);
void netlog_free(struct netlog *l);

/*
 * Read what was appended since the last call (or, the first time, the end
 * of the file). A file replaced or truncated is read again from its start;
 * a missing one is an empty log. True if entries were added or error
 * changed.
 */
bool netlog_poll(struct netlog *l);

/* Take bytes of the log as they were read: complete lines become entries,
 * the rest waits for the next call. Lines that are not entries are counted
 * in garbage and dropped. True if entries were added. */
bool netlog_feed(struct netlog *l, const char *data, size_t len);

/* Parse one line (without its newline). 0 and *e filled (free with
 * netlog_entry_clear), or -1 if the line is not a decision. */
int netlog_parse(const char *line, size_t len, struct netlog_entry *e);
void netlog_entry_clear(struct netlog_entry *e);

/* Entry i, 0 being the oldest kept; NULL past the end. */
const struct netlog_entry *netlog_at(const struct netlog *l, size_t i);

/* Does the entry contain filter (case-insensitive) in its host, path,
 * reason, method or rule? An empty filter matches everything. */
bool netlog_match(const struct netlog_entry *e, const char *filter);

#endif
