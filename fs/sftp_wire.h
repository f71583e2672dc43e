/*
 * sftp_wire: SFTP (version 3) file reads and writes sent by hand on the
 * channel of a libssh2 SFTP session, in large requests.
 *
 * libssh2 1.10 splits reads and writes into 30000-byte requests. OpenSSH's
 * server takes 255 KiB per request (it says so in limits@openssh.com), and
 * under emulation every request costs the guest a round of system calls
 * and packets, so big requests are markedly cheaper for it. The channel is
 * shared with libssh2's own SFTP calls: between two calls of this module
 * every reply to it has been read, so the stream is at a packet boundary
 * whenever libssh2 reads it, and our request ids are far from libssh2's.
 * A request is never left half-sent, so a failed or abandoned copy leaves
 * the channel usable.
 */
#ifndef SMOLVM_SFTP_WIRE_H
#define SMOLVM_SFTP_WIRE_H

#include <libssh2.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sftp_wire;
struct sftp_wire_file;

/* wait(arg, timeout_ms) is called when the channel would block: it waits
 * until the session's socket is ready (0), or timeout_ms passed (1; -1:
 * no limit), or returns -1 with err_set() to give up. */
struct sftp_wire *sftp_wire_new(LIBSSH2_CHANNEL *ch, int (*wait)(void *arg, int timeout_ms),
				void *arg);
void sftp_wire_free(struct sftp_wire *w);

/*
 * Every call below returns 0 (or a count), or -1 with err_set(). Then
 * sftp_wire_status() is the SFTP status code the server answered with, or
 * 0 when the channel itself failed (it is then unusable).
 */
unsigned long sftp_wire_status(const struct sftp_wire *w);

/* Ask the server how big a request may be (limits@openssh.com; a server
 * that does not say gets 32768 bytes, which every server must take). */
int sftp_wire_start(struct sftp_wire *w);
/* Bytes per read or write request (after sftp_wire_start). */
size_t sftp_wire_chunk(const struct sftp_wire *w);

/* Rename from to to, replacing a file at to in one step (OpenSSH's
 * posix-rename@openssh.com; a server without it says OP_UNSUPPORTED). */
int sftp_wire_rename(struct sftp_wire *w, const char *from, const char *to);

/* Create a new file (never an existing one) with permissions mode. */
int sftp_wire_create(struct sftp_wire *w, const char *path, uint32_t mode,
		     struct sftp_wire_file **out);
/* Open a file to read; size is how big it is expected to be (reads stop
 * there first, so a small file takes one round trip; it may have grown). */
int sftp_wire_open(struct sftp_wire *w, const char *path, uint64_t size,
		   struct sftp_wire_file **out);

/* Append n bytes (at most a chunk). A few writes stay unanswered, so a
 * refusal may show only at a later call or at close. */
int sftp_wire_write(struct sftp_wire_file *f, const void *buf, size_t n);

/* The next bytes, into buf of n (at least a chunk): their count, 0 at the
 * end. A few reads are kept asked ahead. */
ssize_t sftp_wire_read(struct sftp_wire_file *f, void *buf, size_t n);

/* Permissions and times (SFTP version 3 has whole seconds in 32 bits). */
struct sftp_wire_attrs {
	uint32_t mode;
	uint32_t atime, mtime;
};

/* Give the file a's attributes (a may be NULL), close it and take every
 * answer still due; f is freed, even on failure. */
int sftp_wire_close(struct sftp_wire_file *f, const struct sftp_wire_attrs *a);

/* Forget f without a word to the server: for a file on a channel that failed. */
void sftp_wire_drop(struct sftp_wire_file *f);

/* The text for an SFTP status code ("no such file or directory"). */
const char *sftp_wire_status_text(unsigned long status);

#endif
