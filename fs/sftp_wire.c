#include "fs/sftp_wire.h"

#include <libssh2_sftp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"

enum {
	FXP_OPEN = 3,
	FXP_CLOSE = 4,
	FXP_READ = 5,
	FXP_WRITE = 6,
	FXP_FSETSTAT = 10,
	FXP_STATUS = 101,
	FXP_HANDLE = 102,
	FXP_DATA = 103,
	FXP_EXTENDED = 200,
	FXP_EXTENDED_REPLY = 201,
};
#define FXF_READ 0x01
#define FXF_WRITE 0x02
#define FXF_CREAT 0x08
#define FXF_EXCL 0x20
#define ATTR_PERMISSIONS 0x04
#define ATTR_ACMODTIME 0x08

/* libssh2 numbers its requests up from 0; ours start far away. */
#define ID_BASE 0xc0000000u
/* Requests of a file sent and not yet answered, at most. For writes the
 * guest's SSH window (24 KiB for dropbear) is the real limit; this keeps a
 * request queued behind the one being sent, and reads asked ahead. */
#define QUEUE 4
#define HANDLE_MAX 256
/* Answers other than data are small (status, handle, limits). */
#define REPLY_MAX 65536
#define CHUNK_DEFAULT 32768
#define CHUNK_CAP (1024 * 1024)
/* type, id, handle, offset and a length, around the data of a request */
#define IO_HEADER (4 + 1 + 4 + 4 + HANDLE_MAX + 8 + 4)
#define WINDOW_WAIT_MS 50

struct sftp_wire {
	LIBSSH2_CHANNEL *ch;
	int (*wait)(void *arg, int timeout_ms);
	void *arg;
	uint32_t next_id;
	unsigned long status;		/* of the last refusal, 0 if none */
	size_t chunk;			/* bytes per read or write request */
	unsigned char *in;		/* the reply being read */
	size_t in_len, in_cap;
	unsigned char *out;		/* the request being built */
	size_t out_cap;
};

struct sftp_wire_file {
	struct sftp_wire *w;
	unsigned char handle[HANDLE_MAX];
	uint32_t handle_len;
	uint64_t offset;		/* of the next request */
	struct pending {
		uint32_t id;
		uint64_t offset;
		uint32_t len;
	} pend[QUEUE + 2];		/* requests not yet answered, oldest first
					 * (room for closing: attributes, close) */
	int npend;
	bool eof;			/* reading: the end was reached */
	uint64_t size;			/* reading: where the end is expected */
	unsigned long failed;		/* writing: the first refusal */
};

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

struct sftp_wire *sftp_wire_new(LIBSSH2_CHANNEL *ch, int (*wait)(void *arg, int timeout_ms),
				void *arg)
{
	struct sftp_wire *w = xcalloc(1, sizeof *w);

	w->ch = ch;
	w->wait = wait;
	w->arg = arg;
	w->next_id = ID_BASE;
	w->chunk = CHUNK_DEFAULT;
	w->in_cap = 4 + REPLY_MAX;
	w->in = xmalloc(w->in_cap);
	return w;
}

void sftp_wire_free(struct sftp_wire *w)
{
	if (!w)
		return;
	free(w->in);
	free(w->out);
	free(w);
}

size_t sftp_wire_chunk(const struct sftp_wire *w)
{
	return w->chunk;
}

unsigned long sftp_wire_status(const struct sftp_wire *w)
{
	return w->status;
}

const char *sftp_wire_status_text(unsigned long status)
{
	switch (status) {
	case LIBSSH2_FX_EOF: return "end of file";
	case LIBSSH2_FX_NO_SUCH_FILE: return "no such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_OP_UNSUPPORTED: return "not supported by the sandbox's SFTP server";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left";
	case LIBSSH2_FX_QUOTA_EXCEEDED: return "quota exceeded";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "file exists";
	case LIBSSH2_FX_WRITE_PROTECT: return "read-only file system";
	case LIBSSH2_FX_NOT_A_DIRECTORY: return "not a directory";
	case LIBSSH2_FX_DIR_NOT_EMPTY: return "directory not empty";
	case LIBSSH2_FX_INVALID_FILENAME: return "invalid file name";
	case LIBSSH2_FX_LINK_LOOP: return "too many levels of symbolic links";
	/* OpenSSH's server (version 3) says FAILURE for everything else. */
	default: return "failed";
	}
}

/* ---- requests ---------------------------------------------------------- */

/* Start a request of type with room for len more bytes; returns where they go. */
static unsigned char *start(struct sftp_wire *w, int type, size_t len, uint32_t *id)
{
	if (w->out_cap < 9 + len) {
		w->out_cap = 9 + len;
		free(w->out);
		w->out = xmalloc(w->out_cap);
	}
	*id = w->next_id++;
	if (w->next_id < ID_BASE)
		w->next_id = ID_BASE;
	put32(w->out, (uint32_t)(5 + len));
	w->out[4] = (unsigned char)type;
	put32(w->out + 5, *id);
	return w->out + 9;
}

static unsigned char *put_str(unsigned char *p, const void *s, size_t len)
{
	put32(p, (uint32_t)len);
	memcpy(p + 4, s, len);
	return p + 4 + len;
}

/*
 * How much window to wait for before sending. libssh2 sends whatever
 * window has opened, and dropbear opens it a third at a time, so sending
 * at once means many small packets, each costing the guest as much as a
 * big one. Dropbear holds back less than a third, so two thirds always
 * come; other servers get WINDOW_WAIT_MS, then whatever is there.
 */
static size_t window_wanted(struct sftp_wire *w, size_t len, bool *waited)
{
	unsigned long initial = 0, room = libssh2_channel_window_write_ex(w->ch, &initial);
	size_t want = initial / 3 * 2 < len ? initial / 3 * 2 : len;
	char c;

	if (*waited || room >= want)
		return 0;
	/* Let libssh2 take in window adjustments without reading our replies:
	 * it reads the socket first, then finds nothing on stderr. */
	libssh2_channel_read_stderr(w->ch, &c, 1);
	room = libssh2_channel_window_write_ex(w->ch, NULL);
	return room >= want ? 0 : want;
}

/* Send the whole request in w->out: a request is never left half-sent. */
static int send_request(struct sftp_wire *w)
{
	const char *p = (const char *)w->out;
	size_t len = 4 + get32(w->out);
	bool waited = false;

	while (len) {
		ssize_t n;
		int rc;

		if (window_wanted(w, len, &waited)) {
			rc = w->wait(w->arg, WINDOW_WAIT_MS);
			if (rc < 0)
				return -1;
			waited = rc > 0;
			continue;
		}
		n = libssh2_channel_write(w->ch, p, len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (w->wait(w->arg, -1) < 0)
				return -1;
			continue;
		}
		waited = false;
		if (n < 0) {
			err_set("sending to the sandbox's SFTP server failed (libssh2 error %zd)", n);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- replies ----------------------------------------------------------- */

/*
 * Read until one whole reply is in w->in, never past its end (what
 * follows is not ours). 1: there is one; 0: not yet; -1: the channel failed.
 */
static int read_reply(struct sftp_wire *w)
{
	for (;;) {
		size_t need = 4;
		ssize_t n;

		if (w->in_len >= 4) {
			uint32_t len = get32(w->in);

			if (len < 5 || len > w->in_cap - 4) {
				err_set("the sandbox's SFTP server sent a malformed reply");
				return -1;
			}
			need = 4 + len;
			if (w->in_len == need)
				return 1;
		}
		n = libssh2_channel_read(w->ch, (char *)w->in + w->in_len, need - w->in_len);
		if (n == LIBSSH2_ERROR_EAGAIN)
			return 0;
		if (n < 0) {
			err_set("reading from the sandbox's SFTP server failed (libssh2 error %zd)",
				n);
			return -1;
		}
		if (n == 0) {
			if (!libssh2_channel_eof(w->ch))
				return 0;
			err_set("the sandbox's SFTP server went away");
			return -1;
		}
		w->in_len += (size_t)n;
	}
}

static int wait_reply(struct sftp_wire *w)
{
	int rc;

	while ((rc = read_reply(w)) == 0)
		if (w->wait(w->arg, -1) < 0)
			return -1;
	return rc;
}

static int reply_type(const struct sftp_wire *w)
{
	return w->in[4];
}

static uint32_t reply_id(const struct sftp_wire *w)
{
	return get32(w->in + 5);
}

/* The status code of a STATUS reply; a reply too short counts as FAILURE. */
static unsigned long reply_status(const struct sftp_wire *w)
{
	return get32(w->in) >= 9 ? get32(w->in + 9) : LIBSSH2_FX_FAILURE;
}

static int unexpected(struct sftp_wire *w)
{
	err_set("the sandbox's SFTP server sent an unexpected reply (type %d)", reply_type(w));
	w->in_len = 0;
	return -1;
}

/* Wait for the reply to request id; then it is in w->in (call done()). */
static int await(struct sftp_wire *w, uint32_t id)
{
	if (wait_reply(w) < 0)
		return -1;
	if (reply_id(w) != id || get32(w->in) < 5 + 4)
		return unexpected(w);
	return 0;
}

static void done(struct sftp_wire *w)
{
	w->in_len = 0;
}

/* A STATUS answer: 0 for OK, else -1 with the refusal noted. */
static int status_result(struct sftp_wire *w, const char *what)
{
	unsigned long st;

	if (reply_type(w) != FXP_STATUS)
		return unexpected(w);
	st = reply_status(w);
	done(w);
	if (st == LIBSSH2_FX_OK)
		return 0;
	w->status = st;
	err_set("%s: %s", what, sftp_wire_status_text(st));
	return -1;
}

/* ---- the calls --------------------------------------------------------- */

int sftp_wire_start(struct sftp_wire *w)
{
	static const char ext[] = "limits@openssh.com";
	uint64_t max_packet, max_read, max_write, n;
	uint32_t id;

	w->status = 0;
	put_str(start(w, FXP_EXTENDED, 4 + strlen(ext), &id), ext, strlen(ext));
	if (send_request(w) < 0 || await(w, id) < 0)
		return -1;
	if (reply_type(w) != FXP_EXTENDED_REPLY || get32(w->in) < 5 + 32) {
		/* A STATUS: the server has no such extension. */
		done(w);
		return 0;
	}
	max_packet = get64(w->in + 9);
	max_read = get64(w->in + 9 + 8);
	max_write = get64(w->in + 9 + 16);
	done(w);
	n = max_read < max_write ? max_read : max_write;
	if (max_packet > IO_HEADER && max_packet - IO_HEADER < n)
		n = max_packet - IO_HEADER;
	w->chunk = n < CHUNK_DEFAULT ? CHUNK_DEFAULT : n > CHUNK_CAP ? CHUNK_CAP : (size_t)n;
	/* Room for a data answer: type, id, length, data. */
	if (w->in_cap < 4 + 9 + w->chunk) {
		w->in_cap = 4 + 9 + w->chunk;
		free(w->in);
		w->in = xmalloc(w->in_cap);
	}
	return 0;
}

int sftp_wire_rename(struct sftp_wire *w, const char *from, const char *to)
{
	static const char ext[] = "posix-rename@openssh.com";
	size_t flen = strlen(from), tlen = strlen(to);
	unsigned char *p;
	uint32_t id;

	w->status = 0;
	p = start(w, FXP_EXTENDED, 4 + strlen(ext) + 4 + flen + 4 + tlen, &id);
	put_str(put_str(put_str(p, ext, strlen(ext)), from, flen), to, tlen);
	if (send_request(w) < 0 || await(w, id) < 0)
		return -1;
	return status_result(w, "cannot rename");
}

static int open_file(struct sftp_wire *w, const char *path, uint32_t pflags, uint32_t mode,
		     struct sftp_wire_file **out)
{
	size_t plen = strlen(path);
	struct sftp_wire_file *f;
	uint32_t id, hlen;
	unsigned char *p;

	*out = NULL;
	w->status = 0;
	p = put_str(start(w, FXP_OPEN, 4 + plen + 4 + 4 + (mode ? 4 : 0), &id), path, plen);
	put32(p, pflags);
	put32(p + 4, mode ? ATTR_PERMISSIONS : 0);
	if (mode)
		put32(p + 8, mode);
	if (send_request(w) < 0 || await(w, id) < 0)
		return -1;
	if (reply_type(w) != FXP_HANDLE)
		return status_result(w, pflags & FXF_CREAT ? "cannot create the file" :
				     "cannot open the file");
	hlen = get32(w->in) >= 9 ? get32(w->in + 9) : 0;
	if (hlen == 0 || hlen > HANDLE_MAX || hlen > get32(w->in) - 9)
		return unexpected(w);
	f = xcalloc(1, sizeof *f);
	f->w = w;
	f->handle_len = hlen;
	memcpy(f->handle, w->in + 13, hlen);
	done(w);
	*out = f;
	return 0;
}

int sftp_wire_create(struct sftp_wire *w, const char *path, uint32_t mode,
		     struct sftp_wire_file **out)
{
	return open_file(w, path, FXF_WRITE | FXF_CREAT | FXF_EXCL, mode, out);
}

int sftp_wire_open(struct sftp_wire *w, const char *path, uint64_t size,
		   struct sftp_wire_file **out)
{
	int rc = open_file(w, path, FXF_READ, 0, out);

	if (rc == 0)
		(*out)->size = size;
	return rc;
}

/* Send a READ or WRITE of len bytes at f->offset (data: a write's bytes). */
static int send_io(struct sftp_wire_file *f, int type, const void *data, size_t len)
{
	struct sftp_wire *w = f->w;
	unsigned char *p;
	uint32_t id;

	p = start(w, type, 4 + f->handle_len + 8 + 4 + (data ? len : 0), &id);
	p = put_str(p, f->handle, f->handle_len);
	put64(p, f->offset);
	if (data)
		put_str(p + 8, data, len);
	else
		put32(p + 8, (uint32_t)len);
	if (send_request(w) < 0)
		return -1;
	f->pend[f->npend++] = (struct pending){ .id = id, .offset = f->offset,
						.len = (uint32_t)len };
	f->offset += len;
	return 0;
}

/* Which of f's requests the answer in w->in is for, or -1. */
static int answered(const struct sftp_wire_file *f)
{
	uint32_t id = reply_id(f->w);

	for (int i = 0; i < f->npend; i++)
		if (f->pend[i].id == id)
			return i;
	return -1;
}

static void forget(struct sftp_wire_file *f, int i)
{
	memmove(f->pend + i, f->pend + i + 1, (size_t)(f->npend - i - 1) * sizeof *f->pend);
	f->npend--;
}

/* Take the answer in w->in to one of f's requests; a write's refusal is
 * noted, a read's data dropped (drain() wants no more of it). */
static int take(struct sftp_wire_file *f)
{
	struct sftp_wire *w = f->w;
	int i = answered(f);

	if (i < 0 || (reply_type(w) != FXP_STATUS && reply_type(w) != FXP_DATA))
		return unexpected(w);
	if (reply_type(w) == FXP_STATUS && reply_status(w) != LIBSSH2_FX_OK &&
	    reply_status(w) != LIBSSH2_FX_EOF && !f->failed)
		f->failed = reply_status(w);
	done(w);
	forget(f, i);
	return 0;
}

/* Take every answer still due. */
static int drain(struct sftp_wire_file *f)
{
	while (f->npend)
		if (wait_reply(f->w) < 0 || take(f) < 0)
			return -1;
	return 0;
}

static int refused(struct sftp_wire_file *f, const char *what)
{
	f->w->status = f->failed;
	err_set("%s: %s", what, sftp_wire_status_text(f->failed));
	return -1;
}

int sftp_wire_write(struct sftp_wire_file *f, const void *buf, size_t n)
{
	struct sftp_wire *w = f->w;
	int rc;

	w->status = 0;
	while (f->npend == QUEUE)
		if (wait_reply(w) < 0 || take(f) < 0)
			return -1;
	if (f->failed)
		return refused(f, "the write was refused");
	if (send_io(f, FXP_WRITE, buf, n) < 0)
		return -1;
	/* Answers already here are taken now, so a refusal shows early. */
	while ((rc = read_reply(w)) == 1)
		if (take(f) < 0)
			return -1;
	if (rc < 0)
		return -1;
	return f->failed ? refused(f, "the write was refused") : 0;
}

ssize_t sftp_wire_read(struct sftp_wire_file *f, void *buf, size_t n)
{
	struct sftp_wire *w = f->w;
	struct pending head;
	uint32_t len;

	w->status = 0;
	if (f->eof)
		return 0;
	/* Reads stop at the expected end, and one more asks just past it: the
	 * end shows in the same round trip, and nothing more is asked. */
	while (f->npend < QUEUE && f->offset <= f->size) {
		size_t len = w->chunk;

		if (f->offset < f->size && f->size - f->offset < len)
			len = (size_t)(f->size - f->offset);
		if (send_io(f, FXP_READ, NULL, len) < 0)
			return -1;
	}
	if (wait_reply(w) < 0)
		return -1;
	/* OpenSSH's server answers in order; anything else is not followed. */
	if (answered(f) != 0)
		return unexpected(w);
	head = f->pend[0];
	if (reply_type(w) == FXP_STATUS) {
		unsigned long st = reply_status(w);

		done(w);
		forget(f, 0);
		if (st == LIBSSH2_FX_EOF || st == LIBSSH2_FX_OK) {
			f->eof = true;
			return drain(f) < 0 ? -1 : 0;
		}
		f->failed = st;
		if (drain(f) < 0)
			return -1;
		return refused(f, "the read was refused");
	}
	len = get32(w->in) >= 9 ? get32(w->in + 9) : 0;
	if (reply_type(w) != FXP_DATA || len > get32(w->in) - 9 || len > head.len || len > n)
		return unexpected(w);
	memcpy(buf, w->in + 13, len);
	done(w);
	forget(f, 0);
	/* Past the expected end: the file grew, read on to its real end. */
	if (head.offset >= f->size && len)
		f->size = UINT64_MAX;
	if (len < head.len) {
		/* A short answer: the reads asked ahead are for the wrong place. */
		if (drain(f) < 0)
			return -1;
		f->offset = head.offset + len;
		if (len == 0)
			f->eof = true;
	}
	return len;
}

int sftp_wire_close(struct sftp_wire_file *f, const struct sftp_wire_attrs *a)
{
	struct sftp_wire *w = f->w;
	unsigned char *p;
	uint32_t id;
	int rc = -1;

	w->status = 0;
	/* Attributes, then close, sent behind the last writes without
	 * waiting: a small file costs one round trip after its open. */
	if (a) {
		p = start(w, FXP_FSETSTAT, 4 + f->handle_len + 4 + 4 + 8, &id);
		p = put_str(p, f->handle, f->handle_len);
		put32(p, ATTR_PERMISSIONS | ATTR_ACMODTIME);
		put32(p + 4, a->mode);
		put32(p + 8, a->atime);
		put32(p + 12, a->mtime);
		if (send_request(w) < 0)
			goto out;
		f->pend[f->npend++] = (struct pending){ .id = id };
	}
	put_str(start(w, FXP_CLOSE, 4 + f->handle_len, &id), f->handle, f->handle_len);
	if (send_request(w) < 0)
		goto out;
	f->pend[f->npend++] = (struct pending){ .id = id };
	if (drain(f) < 0)
		goto out;
	rc = f->failed ? refused(f, "the file was refused") : 0;
out:
	free(f);
	return rc;
}

void sftp_wire_drop(struct sftp_wire_file *f)
{
	free(f);
}
