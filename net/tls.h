/*
 * tls: the egress proxy's TLS interception (OpenSSL 3). Toward the guest
 * the proxy is the server, with a leaf certificate for the host the guest
 * asked for, signed by the install's CA (net/ca.h) that every image
 * trusts; toward upstream it is a client that verifies the server against
 * the system's CAs plus an optional bundle of its own. Both ends speak TLS
 * 1.2 or newer and HTTP/1.1 only (ALPN).
 *
 * A TLS connection is handed over as a plain socket: tls_serve() and
 * tls_connect() do the handshake, then return one end of a socketpair
 * whose other end a thread of their own relays to and from the TLS
 * connection, so that the caller reads and writes HTTP as it does on a
 * plain connection. Closing the returned socket ends the TLS connection.
 */
#ifndef SMOLVM_TLS_H
#define SMOLVM_TLS_H

#include <openssl/x509.h>
#include <stddef.h>

#include "net/match.h"

/* Where the extra upstream CA bundle comes from: this variable names a PEM
 * file, else $SMOLVM_HOME/TLS_UPSTREAM_CA_FILE is used if it exists. */
#define TLS_UPSTREAM_CA_ENV "SMOLVM_UPSTREAM_CA"
#define TLS_UPSTREAM_CA_FILE "upstream-ca.pem"

/* Room for a TLS error message, NUL included. */
#define TLS_ERR_MAX 384

/* The first byte of a TLS handshake record, which no HTTP request starts with. */
#define TLS_HANDSHAKE_RECORD 0x16

struct tls_ctx;

/*
 * The proxy's TLS state, shared by all its connections: the CA (made at
 * first use), a leaf key, the leaf cache, and the trust for upstream
 * servers. NULL with err_set() when the CA or a configured upstream bundle
 * does not load.
 */
struct tls_ctx *tls_ctx_new(void);
void tls_ctx_free(struct tls_ctx *t);

/* The CA's certificate (owned by t). */
X509 *tls_ca_cert(const struct tls_ctx *t);

/*
 * The leaf certificate for host: subjectAltName the name (or the address),
 * signed by the CA, valid for a week. Made once per host and kept (up to a
 * few hundred hosts, the least recently used go first); remade after a
 * day. A new reference: X509_free() it.
 */
X509 *tls_leaf(struct tls_ctx *t, const struct match_host *host);

/*
 * Serve TLS to the guest on fd as host, after the bytes the caller has
 * already read from fd (prefix[0..prefix_len), the start of the
 * ClientHello; may be 0 bytes). A server name (SNI) that the guest sends
 * must be host; none at all is accepted. On success returns the plain
 * socket and owns fd. -2 when the server name is another host, -1 when the
 * handshake fails; then fd is still the caller's and err says why.
 */
int tls_serve(struct tls_ctx *t, int fd, const void *prefix, size_t prefix_len,
	      const struct match_host *host, char err[TLS_ERR_MAX]);

/*
 * TLS to upstream on the connected socket fd for host: SNI when host is a
 * name, the certificate verified and matched against host. On success
 * returns the plain socket and owns fd; -1 with err (the verification
 * error if that was it) and fd still the caller's.
 */
int tls_connect(struct tls_ctx *t, int fd, const struct match_host *host, char err[TLS_ERR_MAX]);

/*
 * Read the server name from the start of a TLS connection, buf[0..len):
 * 1 when the whole ClientHello is there, with sni the name ("" if the
 * guest sent none); 0 when buf holds only its start (read more); -1 with
 * *why when it is not a well-formed ClientHello (a second server name,
 * one that is empty or too long for size, records that are not TLS).
 */
int tls_client_hello(const void *buf, size_t len, char *sni, size_t size, const char **why);

#endif
