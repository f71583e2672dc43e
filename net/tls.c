#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "net/ca.h"

#define HANDSHAKE_MS 10000
#define IDLE_MS (3600 * 1000)	/* a relayed connection with no traffic either way */
#define RELAY_STACK (256 * 1024)
/* Several TLS records a write: fewer wake-ups of the thread at the other end. */
#define RELAY_BUF (64 * 1024)
#define RECORD_MAX 16384
#define LEAF_CACHE 256
#define LEAF_DAYS 7
#define LEAF_REUSE_S (24 * 3600)
/* The largest ClientHello tls_client_hello() reads; real ones are a few KiB. */
#define HELLO_MAX 16384

static const unsigned char alpn_http11[] = "\x08http/1.1";

struct leaf {
	char key[MATCH_HOST_MAX + 3];	/* the name, or "[address]" */
	X509 *cert;
	int64_t made;			/* wall clock */
	uint64_t used;
};

struct tls_ctx {
	struct ca ca;
	EVP_PKEY *leaf_key;	/* one key for every leaf: only the proxy holds it */
	SSL_CTX *server, *client;
	pthread_mutex_t lock;	/* the cache */
	struct leaf cache[LEAF_CACHE];
	uint64_t tick;
};

/* The first error of this thread's OpenSSL queue, which is then emptied. */
static const char *ssl_reason(const char *none)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : none;
}

static void ssl_err(char err[TLS_ERR_MAX], const char *prefix)
{
	snprintf(err, TLS_ERR_MAX, "%s: %s", prefix, ssl_reason("connection closed"));
}

/* ---- a socket BIO that first returns bytes already read ---------------------------- */

/* The caller may have read the start of the ClientHello to learn the server
 * name before it chose to intercept; OpenSSL must see those bytes first. */
struct sock_bio {
	int fd;
	unsigned char *pre;
	size_t pre_len, pre_off;
	bool eof;
};

static int sock_read(BIO *b, char *out, size_t n, size_t *got)
{
	struct sock_bio *s = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	if (s->pre_off < s->pre_len) {
		size_t k = s->pre_len - s->pre_off < n ? s->pre_len - s->pre_off : n;

		memcpy(out, s->pre + s->pre_off, k);
		s->pre_off += k;
		*got = k;
		return 1;
	}
	while ((r = recv(s->fd, out, n, 0)) < 0 && errno == EINTR)
		;
	if (r > 0) {
		*got = (size_t)r;
		return 1;
	}
	if (r == 0)
		s->eof = true;
	else if (errno == EAGAIN || errno == EWOULDBLOCK)
		BIO_set_retry_read(b);
	return 0;
}

static int sock_write(BIO *b, const char *in, size_t n, size_t *put)
{
	struct sock_bio *s = BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	while ((r = send(s->fd, in, n, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (r >= 0) {
		*put = (size_t)r;
		return 1;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		BIO_set_retry_write(b);
	return 0;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct sock_bio *s = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return (long)(s->pre_len - s->pre_off);
	case BIO_CTRL_EOF:
		return s->eof;
	}
	return 0;
}

static int sock_destroy(BIO *b)
{
	struct sock_bio *s = BIO_get_data(b);

	if (s) {
		free(s->pre);
		free(s);
	}
	BIO_set_data(b, NULL);
	return 1;
}

static BIO_METHOD *sock_method;

static void sock_method_init(void)
{
	sock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "smolvm socket");
	if (!sock_method || !BIO_meth_set_read_ex(sock_method, sock_read) ||
	    !BIO_meth_set_write_ex(sock_method, sock_write) ||
	    !BIO_meth_set_ctrl(sock_method, sock_ctrl) ||
	    !BIO_meth_set_destroy(sock_method, sock_destroy))
		die("cannot set up an OpenSSL BIO method");
}

static BIO *sock_bio_new(int fd, const void *pre, size_t pre_len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sock_bio *s = xcalloc(1, sizeof *s);
	BIO *b;

	pthread_once(&once, sock_method_init);
	b = BIO_new(sock_method);
	if (!b)
		die("out of memory");
	s->fd = fd;
	if (pre_len) {
		s->pre = xmalloc(pre_len);
		memcpy(s->pre, pre, pre_len);
		s->pre_len = pre_len;
	}
	BIO_set_data(b, s);
	BIO_set_init(b, 1);
	return b;
}

/* ---- the context and the leaf certificates ----------------------------------------- */

/* The guest gets HTTP/1.1 or no ALPN at all; the proxy reads nothing else. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof alpn_http11 - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* What a server handshake checks the guest's server name against. */
struct serve_state {
	const struct match_host *host;
	bool mismatch;
	char sni[MATCH_HOST_MAX + 1];	/* the name that did not match, printable */
};

static int servername(SSL *ssl, int *alert, void *arg)
{
	struct serve_state *st = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct match_host h;
	const char *why;

	(void)arg;
	if (!st)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	if (!name)
		return SSL_TLSEXT_ERR_OK;
	if (match_host_parse(name, strlen(name), &h, &why) && match_host_same(&h, st->host))
		return SSL_TLSEXT_ERR_OK;
	st->mismatch = true;
	snprintf(st->sni, sizeof st->sni, "%s", name);
	for (char *c = st->sni; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	*alert = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static const long ssl_options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
				SSL_OP_IGNORE_UNEXPECTED_EOF;

static SSL_CTX *server_ctx(void)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());

	if (!s || !SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION)) {
		SSL_CTX_free(s);
		return NULL;
	}
	/* No resumption: every handshake goes through the server name check. */
	SSL_CTX_set_options(s, ssl_options | SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(s, 0);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(s, 1);
	SSL_CTX_set_tlsext_servername_callback(s, servername);
	SSL_CTX_set_alpn_select_cb(s, alpn_select, NULL);
	return s;
}

/* The CA bundle for upstream besides the system's: NULL if none is configured. */
static char *upstream_ca_path(bool *from_env)
{
	const char *env = getenv(TLS_UPSTREAM_CA_ENV);
	char *p;

	*from_env = env && *env;
	if (*from_env)
		return xstrdup(env);
	p = xasprintf("%s/%s", paths_home(), TLS_UPSTREAM_CA_FILE);
	if (util_exists(p))
		return p;
	free(p);
	return NULL;
}

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	bool from_env;
	char *extra;

	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
	    !SSL_CTX_set_default_verify_paths(c) ||
	    SSL_CTX_set_alpn_protos(c, alpn_http11, sizeof alpn_http11 - 1)) {
		err_set("cannot set up TLS toward upstream servers: %s",
			ssl_reason("unknown OpenSSL error"));
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_options(c, ssl_options);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead(c, 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	extra = upstream_ca_path(&from_env);
	if (extra && !SSL_CTX_load_verify_locations(c, extra, NULL)) {
		err_set("cannot load the upstream CA bundle %s (%s): it must hold PEM "
			"certificates", extra, from_env ? "named by " TLS_UPSTREAM_CA_ENV
							: "in $SMOLVM_HOME");
		ERR_clear_error();
		SSL_CTX_free(c);
		c = NULL;
	}
	free(extra);
	return c;
}

struct tls_ctx *tls_ctx_new(void)
{
	struct tls_ctx *t = xcalloc(1, sizeof *t);

	pthread_mutex_init(&t->lock, NULL);
	if (ca_load(&t->ca) < 0)
		goto fail;
	t->leaf_key = EVP_EC_gen("P-256");
	t->server = server_ctx();
	if (!t->leaf_key || !t->server) {
		err_set("cannot set up TLS toward the guest: %s",
			ssl_reason("unknown OpenSSL error"));
		goto fail;
	}
	t->client = client_ctx();
	if (!t->client)
		goto fail;
	return t;
fail:
	ERR_clear_error();
	tls_ctx_free(t);
	return NULL;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < LEAF_CACHE; i++)
		X509_free(t->cache[i].cert);
	SSL_CTX_free(t->server);
	SSL_CTX_free(t->client);
	EVP_PKEY_free(t->leaf_key);
	ca_free(&t->ca);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

X509 *tls_ca_cert(const struct tls_ctx *t)
{
	return t->ca.cert;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* The host as a subjectAltName value: match_host_parse() let through only
 * letters, digits, '-', '_' and dots, so nothing in it reads as syntax. */
static char *alt_name(const struct match_host *h)
{
	char a[ADDR_STR_MAX];

	if (!h->is_ip)
		return xasprintf("DNS:%s", h->name);
	addr_format(&h->ip, a);
	return xasprintf("IP:%s", a);
}

static X509 *mint(struct tls_ctx *t, const struct match_host *h)
{
	unsigned char serial[16];
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	char *san = alt_name(h);
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	bool ok;

	ok = x && name && RAND_bytes(serial, sizeof serial) == 1;
	if (ok) {
		serial[0] &= 0x7f;
		bn = BN_bin2bn(serial, sizeof serial, NULL);
		ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
		     X509_set_version(x, X509_VERSION_3) &&
		     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		     X509_time_adj_ex(X509_getm_notAfter(x), LEAF_DAYS, 0, NULL) &&
		     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
						(const unsigned char *)"smolvm egress proxy", -1, -1,
						0) &&
		     /* CN holds at most 64 characters; the SAN is what clients check. */
		     (h->is_ip || strlen(h->name) > 64 ||
		      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						 (const unsigned char *)h->name, -1, -1, 0)) &&
		     X509_set_subject_name(x, name) &&
		     X509_set_issuer_name(x, X509_get_subject_name(t->ca.cert)) &&
		     X509_set_pubkey(x, t->leaf_key);
	}
	if (ok) {
		X509V3_set_ctx(&ctx, t->ca.cert, x, NULL, NULL, 0);
		ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") == 0 &&
		     add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") == 0 &&
		     add_ext(x, &ctx, NID_subject_alt_name, san) == 0 &&
		     add_ext(x, &ctx, NID_subject_key_identifier, "hash") == 0 &&
		     add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") == 0 &&
		     X509_sign(x, t->ca.key, EVP_sha256());
	}
	BN_free(bn);
	X509_NAME_free(name);
	free(san);
	if (!ok)
		die("cannot make a leaf certificate: %s", ssl_reason("unknown OpenSSL error"));
	return x;
}

X509 *tls_leaf(struct tls_ctx *t, const struct match_host *host)
{
	char key[sizeof t->cache[0].key];
	int64_t now = util_wall_s();
	struct leaf *slot = NULL;
	X509 *x;

	if (host->is_ip) {
		char a[ADDR_STR_MAX];

		addr_format(&host->ip, a);
		snprintf(key, sizeof key, "[%s]", a);
	} else {
		snprintf(key, sizeof key, "%s", host->name);
	}
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < LEAF_CACHE; i++) {
		struct leaf *l = &t->cache[i];

		if (l->cert && !strcmp(l->key, key)) {
			slot = l;
			break;
		}
		if (!slot || !l->cert || (slot->cert && l->used < slot->used))
			slot = l;	/* the least recently used, or a free one */
	}
	if (!slot->cert || strcmp(slot->key, key) || now - slot->made >= LEAF_REUSE_S) {
		X509_free(slot->cert);
		slot->cert = mint(t, host);
		slot->made = now;
		memcpy(slot->key, key, sizeof key);
	}
	slot->used = ++t->tick;
	x = slot->cert;
	X509_up_ref(x);
	pthread_mutex_unlock(&t->lock);
	return x;
}

/* ---- handshakes and the relay --------------------------------------------------------- */

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* 0, or -1 (*timed_out when the deadline passed). */
static int handshake(SSL *ssl, int fd, bool *timed_out)
{
	int64_t deadline = util_now_ms() + HANDSHAKE_MS;

	*timed_out = false;
	for (;;) {
		int r = SSL_do_handshake(ssl), e;
		struct pollfd p = { .fd = fd };
		int64_t left = deadline - util_now_ms();

		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			p.events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			p.events = POLLOUT;
		else
			return -1;
		if (left <= 0 || (poll(&p, 1, (int)left) == 0)) {
			*timed_out = true;
			return -1;
		}
	}
}

struct relay {
	SSL *ssl;
	int fd;		/* the TLS connection's socket */
	int plain;	/* our end of the socketpair */
};

/*
 * Copy between the TLS connection and the plain socket, both non-blocking,
 * each way through a buffer of its own, so that a side that is not read
 * never stops the other way. Ends when both ways have closed, on an
 * error, when the other end of the plain socket is closed, or after an
 * hour of silence.
 */
/* What an SSL call that returned rc waits for: POLLIN or POLLOUT; 0 when
 * the peer closed TLS cleanly; -1 on an error. */
static int wait_events(SSL *ssl, int rc)
{
	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		return -1;
	}
}

static void relay_run(struct relay *r)
{
	char *rbuf = xmalloc(RELAY_BUF), *wbuf = xmalloc(RELAY_BUF);
	size_t in_len = 0, in_off = 0, out_len = 0, out_off = 0, n;
	bool tls_open = true, plain_open = true, plain_shut = false, tls_shut = false;
	short tls_read_ev = 0, tls_write_ev = 0;

	for (;;) {
		bool progress = false;
		int rc;

		/* TLS to plain */
		if (tls_open && !in_len) {
			rc = SSL_read_ex(r->ssl, rbuf, RELAY_BUF, &n);
			tls_read_ev = 0;
			if (rc) {
				in_len = n;
				in_off = 0;
				progress = true;
				/* Records already read ahead go out in the same write. */
				while (in_len + RECORD_MAX <= RELAY_BUF && SSL_has_pending(r->ssl) &&
				       SSL_read_ex(r->ssl, rbuf + in_len, RELAY_BUF - in_len, &n))
					in_len += n;
			} else {
				int ev = wait_events(r->ssl, rc);

				if (ev < 0)
					goto out;
				if (ev == 0) {
					tls_open = false;
					progress = true;
				}
				tls_read_ev = (short)ev;
			}
		}
		if (in_len) {
			ssize_t w = send(r->plain, rbuf + in_off, in_len - in_off, MSG_NOSIGNAL);

			if (w > 0) {
				in_off += (size_t)w;
				if (in_off == in_len)
					in_len = 0;
				progress = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				goto out;
			}
		}
		if (!tls_open && !in_len && !plain_shut) {
			shutdown(r->plain, SHUT_WR);
			plain_shut = true;
		}
		/* plain to TLS */
		if (plain_open && !out_len) {
			ssize_t g = recv(r->plain, wbuf, RELAY_BUF, 0);

			if (g > 0) {
				out_len = (size_t)g;
				out_off = 0;
				progress = true;
			} else if (g == 0) {
				plain_open = false;
				progress = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				goto out;
			}
		}
		if (out_len) {
			rc = SSL_write_ex(r->ssl, wbuf + out_off, out_len - out_off, &n);
			tls_write_ev = 0;
			if (rc) {
				out_off += n;
				if (out_off == out_len)
					out_len = 0;
				progress = true;
			} else {
				int ev = wait_events(r->ssl, rc);

				if (ev <= 0)	/* a clean close mid-write is an error too */
					goto out;
				tls_write_ev = (short)ev;
			}
		}
		if (!plain_open && !out_len && !tls_shut) {
			SSL_shutdown(r->ssl);	/* close_notify, best effort */
			tls_shut = true;
		}
		if (!tls_open && !plain_open && !in_len && !out_len)
			break;
		if (progress)
			continue;

		struct pollfd p[2] = {
			{ .fd = r->fd, .events = (short)((tls_open && !in_len ? tls_read_ev : 0) |
							 (out_len ? tls_write_ev : 0)) },
			{ .fd = r->plain, .events = (short)((plain_open && !out_len ? POLLIN : 0) |
							    (in_len ? POLLOUT : 0)) },
		};
		rc = poll(p, 2, IDLE_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0 || (p[0].revents & POLLERR))
			break;
		/* Hung up with nothing left to read: the caller closed its end, so
		 * nothing more can be delivered either way. */
		if ((p[1].revents & POLLHUP) && !(p[1].revents & POLLIN))
			break;
	}
out:
	free(rbuf);
	free(wbuf);
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;

	relay_run(r);
	SSL_free(r->ssl);	/* and its BIO */
	close(r->fd);
	close(r->plain);
	free(r);
	ERR_clear_error();
	OPENSSL_thread_stop();
	return NULL;
}

/* Hand a connection whose handshake is done to a relay thread: the plain
 * socket, or -1 with err (ssl is then still the caller's). */
static int relay_start(SSL *ssl, int fd, char err[TLS_ERR_MAX])
{
	struct relay *r;
	pthread_attr_t attr;
	pthread_t th;
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, TLS_ERR_MAX, "socketpair: %s", strerror(errno));
		return -1;
	}
	set_nonblock(sv[1], true);
	r = xmalloc(sizeof *r);
	*r = (struct relay){ .ssl = ssl, .fd = fd, .plain = sv[1] };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, RELAY_STACK);
	rc = pthread_create(&th, &attr, relay_thread, r);
	pthread_attr_destroy(&attr);
	if (rc) {
		snprintf(err, TLS_ERR_MAX, "cannot start a thread: %s", strerror(rc));
		free(r);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	return sv[0];
}

int tls_serve(struct tls_ctx *t, int fd, const void *prefix, size_t prefix_len,
	      const struct match_host *host, char err[TLS_ERR_MAX])
{
	struct serve_state st = { .host = host };
	SSL *ssl = SSL_new(t->server);
	X509 *leaf = tls_leaf(t, host);
	bool timed_out;
	BIO *bio;
	int plain = -1;

	ERR_clear_error();
	if (!ssl || !SSL_use_certificate(ssl, leaf) || !SSL_use_PrivateKey(ssl, t->leaf_key)) {
		ssl_err(err, "cannot set up TLS toward the guest");
		goto out;
	}
	SSL_set_app_data(ssl, &st);
	bio = sock_bio_new(fd, prefix, prefix_len);
	SSL_set_bio(ssl, bio, bio);
	SSL_set_accept_state(ssl);
	set_nonblock(fd, true);
	if (handshake(ssl, fd, &timed_out) < 0) {
		if (st.mismatch) {
			snprintf(err, TLS_ERR_MAX, "the TLS server name (SNI) %s is not the host "
				 "the connection is for", st.sni);
			ERR_clear_error();
			plain = -2;
		} else if (timed_out) {
			snprintf(err, TLS_ERR_MAX, "the guest's TLS handshake timed out");
		} else if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_TLSV1_ALERT_UNKNOWN_CA) {
			snprintf(err, TLS_ERR_MAX, "the guest does not trust the proxy's CA: was its "
				 "image built before the CA was made? (smolvm image build, then a new "
				 "sandbox)");
			ERR_clear_error();
		} else {
			ssl_err(err, "the guest's TLS handshake failed");
		}
		goto out;
	}
	SSL_set_app_data(ssl, NULL);
	plain = relay_start(ssl, fd, err);
	if (plain >= 0)
		ssl = NULL;
out:
	if (plain < 0)
		set_nonblock(fd, false);
	SSL_free(ssl);
	X509_free(leaf);
	return plain;
}

int tls_connect(struct tls_ctx *t, int fd, const struct match_host *host, char err[TLS_ERR_MAX])
{
	SSL *ssl = SSL_new(t->client);
	X509_VERIFY_PARAM *vp = ssl ? SSL_get0_param(ssl) : NULL;
	char a[ADDR_STR_MAX];
	bool timed_out, ok;
	BIO *bio;
	int plain = -1;
	long v;

	ERR_clear_error();
	if (host->is_ip) {
		addr_format(&host->ip, a);
		ok = vp && X509_VERIFY_PARAM_set1_ip_asc(vp, a);
	} else {
		ok = vp && SSL_set_tlsext_host_name(ssl, host->name) &&
		     X509_VERIFY_PARAM_set1_host(vp, host->name, 0);
		if (ok)
			X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	if (!ok) {
		ssl_err(err, "cannot set up TLS toward upstream");
		goto out;
	}
	bio = sock_bio_new(fd, NULL, 0);
	SSL_set_bio(ssl, bio, bio);
	SSL_set_connect_state(ssl);
	set_nonblock(fd, true);
	if (handshake(ssl, fd, &timed_out) < 0) {
		v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			snprintf(err, TLS_ERR_MAX, "the upstream certificate does not verify: %s",
				 X509_verify_cert_error_string(v));
		else if (timed_out)
			snprintf(err, TLS_ERR_MAX, "the TLS handshake with upstream timed out");
		else
			ssl_err(err, "the TLS handshake with upstream failed");
		ERR_clear_error();
		goto out;
	}
	plain = relay_start(ssl, fd, err);
	if (plain >= 0)
		ssl = NULL;
out:
	if (plain < 0)
		set_nonblock(fd, false);
	SSL_free(ssl);
	return plain;
}

/* ---- the ClientHello ------------------------------------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t n;
};

static bool rd_take(struct rd *r, size_t k, struct rd *out)
{
	if (r->n < k)
		return false;
	if (out)
		*out = (struct rd){ r->p, k };
	r->p += k;
	r->n -= k;
	return true;
}

/* A vector with a big-endian length of width bytes in front. */
static bool rd_vec(struct rd *r, size_t width, struct rd *out)
{
	size_t len = 0;

	if (r->n < width)
		return false;
	for (size_t i = 0; i < width; i++)
		len = len << 8 | r->p[i];
	r->p += width;
	r->n -= width;
	return rd_take(r, len, out);
}

static int parse_hello(struct rd body, char *sni, size_t size, const char **why)
{
	struct rd sid, suites, comp, exts, e, list, name;
	bool seen = false;

	*why = "malformed ClientHello";
	if (!rd_take(&body, 2 + 32, NULL) || !rd_vec(&body, 1, &sid) || sid.n > 32 ||
	    !rd_vec(&body, 2, &suites) || suites.n < 2 || suites.n % 2 ||
	    !rd_vec(&body, 1, &comp) || comp.n < 1)
		return -1;
	sni[0] = '\0';
	if (body.n == 0)
		return 1;	/* no extensions at all */
	if (!rd_vec(&body, 2, &exts) || body.n)
		return -1;
	while (exts.n) {
		unsigned type;

		if (exts.n < 2)
			return -1;
		type = (unsigned)exts.p[0] << 8 | exts.p[1];
		rd_take(&exts, 2, NULL);
		if (!rd_vec(&exts, 2, &e))
			return -1;
		if (type != 0)	/* server_name */
			continue;
		/* One list holding one host_name, as OpenSSL insists too. */
		if (seen || !rd_vec(&e, 2, &list) || e.n || list.n < 3 || list.p[0] != 0) {
			*why = "malformed server name in the ClientHello";
			return -1;
		}
		rd_take(&list, 1, NULL);
		if (!rd_vec(&list, 2, &name) || list.n || name.n == 0 || name.n >= size ||
		    memchr(name.p, 0, name.n)) {
			*why = "malformed server name in the ClientHello";
			return -1;
		}
		memcpy(sni, name.p, name.n);
		sni[name.n] = '\0';
		seen = true;
	}
	return 1;
}

int tls_client_hello(const void *buf, size_t len, char *sni, size_t size, const char **why)
{
	const uint8_t *p = buf;
	uint8_t *msg = NULL;
	size_t off = 0, have = 0, need = 0;
	int rc = -1;

	*why = "not a TLS ClientHello";
	/* The handshake message may come in several records: gather it. */
	while (need == 0 || have < need) {
		size_t rlen;

		if (off < len && p[off] != TLS_HANDSHAKE_RECORD)
			goto out;
		if (off + 1 < len && p[off + 1] != 3)
			goto out;
		if (len - off < 5) {
			rc = 0;
			goto out;
		}
		rlen = (size_t)p[off + 3] << 8 | p[off + 4];
		if (rlen == 0 || rlen > 16384)
			goto out;
		if (len - off - 5 < rlen) {
			rc = 0;
			goto out;
		}
		if (!msg)
			msg = xmalloc(HELLO_MAX + 16384);
		memcpy(msg + have, p + off + 5, rlen);
		have += rlen;
		off += 5 + rlen;
		if (need == 0 && have >= 4) {
			if (msg[0] != 1)	/* client_hello */
				goto out;
			need = 4 + ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]);
		}
		if (need > HELLO_MAX || (need == 0 && have >= HELLO_MAX)) {
			*why = "the ClientHello is too large";
			goto out;
		}
	}
	rc = parse_hello((struct rd){ msg + 4, need - 4 }, sni, size, why);
out:
	free(msg);
	return rc;
}
