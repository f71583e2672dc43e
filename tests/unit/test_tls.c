/*
 * Unit tests for net/ca.c and net/tls.c: the install's CA, leaf minting
 * and its cache, the ClientHello reader, and real handshakes over
 * socketpairs: a client that trusts only the CA against tls_serve(), and
 * tls_connect() against tls_serve() with and without the upstream bundle.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "net/ca.h"
#include "net/tls.h"
#include "tests/unit/unit.h"

static char *home;
static struct tls_ctx *ctx;	/* trusts the CA for upstream too */

static struct match_host host(const char *s)
{
	struct match_host h;
	const char *why;

	if (!match_host_parse(s, strlen(s), &h, &why))
		die("bad test host %s: %s", s, why);
	return h;
}

static char *keys_file(const char *name)
{
	return xasprintf("%s/keys/%s", home, name);
}

static void ca_made_once(void)
{
	struct ca a, b;
	char *key = keys_file(CA_KEY_FILE), *cert = keys_file(CA_CERT_FILE);
	char *fa, *fb, *cur, *pem;
	struct stat st;

	EXPECT(ca_current_fingerprint() == NULL);
	EXPECT_INT(ca_load(&a), 0);
	EXPECT(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
	EXPECT(util_exists(cert));
	EXPECT_INT(X509_check_ca(a.cert), 1);
	EXPECT_INT(ca_load(&b), 0);
	fa = ca_fingerprint(&a);
	fb = ca_fingerprint(&b);
	cur = ca_current_fingerprint();
	EXPECT_STR(fb, fa);
	EXPECT_STR(cur, fa);
	EXPECT_INT(strlen(fa), 7 + 64);
	pem = ca_cert_pem(&a);
	EXPECT(!strncmp(pem, "-----BEGIN CERTIFICATE-----", 27));
	free(pem);
	free(fa);
	free(fb);
	free(cur);
	ca_free(&a);
	ca_free(&b);

	/* A certificate whose key is gone is not silently replaced. */
	char *saved = xasprintf("%s.saved", key);
	EXPECT(rename(key, saved) == 0);
	EXPECT_INT(ca_load(&a), -1);
	EXPECT(strstr(err_msg(), "has no key") != NULL);
	EXPECT(rename(saved, key) == 0);
	free(saved);
	free(key);
	free(cert);
}

/* Does cert chain to the CA, for a TLS server? */
static bool chains_to_ca(X509 *cert)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	bool ok;

	X509_STORE_add_cert(store, tls_ca_cert(ctx));
	X509_STORE_CTX_init(sc, store, cert, NULL);
	X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(sc) == 1;
	X509_STORE_CTX_free(sc);
	X509_STORE_free(store);
	return ok;
}

static void leaf_minting(void)
{
	struct match_host api = host("API.Test."), other = host("other.test"), ip = host("10.1.2.3");
	X509 *a = tls_leaf(ctx, &api), *a2 = tls_leaf(ctx, &api), *o = tls_leaf(ctx, &other);
	X509 *i = tls_leaf(ctx, &ip);

	EXPECT_INT(X509_check_host(a, "api.test", 0, 0, NULL), 1);
	EXPECT_INT(X509_check_host(a, "other.test", 0, 0, NULL), 0);
	EXPECT_INT(X509_check_host(a, "x.api.test", 0, 0, NULL), 0);
	EXPECT(chains_to_ca(a));
	EXPECT(chains_to_ca(i));
	EXPECT_INT(X509_check_ca(a), 0);
	EXPECT(a2 == a);	/* the cache */
	EXPECT(o != a);
	EXPECT_INT(X509_check_host(o, "other.test", 0, 0, NULL), 1);
	EXPECT_INT(X509_check_ip_asc(i, "10.1.2.3", 0), 1);
	EXPECT_INT(X509_check_host(i, "10.1.2.3", 0, 0, NULL), 0);

	/* A name longer than a CN can hold still gets its SAN. */
	char longname[200];
	memset(longname, 'a', sizeof longname);
	longname[60] = longname[121] = longname[182] = '.';
	memcpy(longname + 190, ".test", 6);
	struct match_host l = host(longname);
	X509 *lc = tls_leaf(ctx, &l);
	EXPECT_INT(X509_check_host(lc, longname, 0, 0, NULL), 1);
	EXPECT(chains_to_ca(lc));
	X509_free(lc);

	X509_free(a);
	X509_free(a2);
	X509_free(o);
	X509_free(i);
}

/* ---- the ClientHello ---------------------------------------------------------------- */

/* The first flight of a real OpenSSL client, sni NULL for none. */
static size_t client_hello(const char *sni, unsigned char *out, size_t cap)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	SSL *s = SSL_new(c);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	int n;

	SSL_set_bio(s, rb, wb);
	if (sni)
		SSL_set_tlsext_host_name(s, sni);
	SSL_connect(s);
	n = BIO_read(wb, out, (int)cap);
	SSL_free(s);
	SSL_CTX_free(c);
	return n > 0 ? (size_t)n : 0;
}

static void hello_sni(void)
{
	unsigned char buf[4096], frag[16384];
	size_t n = client_hello("api.test", buf, sizeof buf), fn = 0;
	char sni[256];
	const char *why;

	EXPECT(n > 100);
	EXPECT_INT(tls_client_hello(buf, n, sni, sizeof sni, &why), 1);
	EXPECT_STR(sni, "api.test");
	for (size_t k = 0; k < n; k++)
		if (tls_client_hello(buf, k, sni, sizeof sni, &why) != 0) {
			printf("#   a prefix of %zu bytes is not 'need more'\n", k);
			EXPECT(0);
			break;
		}
	/* The same message in records of 7 bytes each. */
	size_t body = (size_t)buf[3] << 8 | buf[4];
	for (size_t off = 0; off < body; off += 7) {
		size_t k = body - off < 7 ? body - off : 7;

		frag[fn++] = 0x16;
		frag[fn++] = 3;
		frag[fn++] = 1;
		frag[fn++] = 0;
		frag[fn++] = (unsigned char)k;
		memcpy(frag + fn, buf + 5 + off, k);
		fn += k;
	}
	EXPECT_INT(tls_client_hello(frag, fn, sni, sizeof sni, &why), 1);
	EXPECT_STR(sni, "api.test");
	EXPECT_INT(tls_client_hello(frag, fn - 1, sni, sizeof sni, &why), 0);

	n = client_hello(NULL, buf, sizeof buf);
	EXPECT_INT(tls_client_hello(buf, n, sni, sizeof sni, &why), 1);
	EXPECT_STR(sni, "");

	/* Not TLS, or broken. */
	EXPECT_INT(tls_client_hello("GET / HTTP/1.1\r\n", 16, sni, sizeof sni, &why), -1);
	EXPECT_INT(tls_client_hello("G", 1, sni, sizeof sni, &why), -1);
	n = client_hello("api.test", buf, sizeof buf);
	buf[5] = 2;	/* a ServerHello */
	EXPECT_INT(tls_client_hello(buf, n, sni, sizeof sni, &why), -1);
	n = client_hello("api.test", buf, sizeof buf);
	buf[5 + 4 + 2 + 32] = 33;	/* a session id too long */
	EXPECT_INT(tls_client_hello(buf, n, sni, sizeof sni, &why), -1);
	/* A name longer than the caller's room. */
	n = client_hello("api.test", buf, sizeof buf);
	EXPECT_INT(tls_client_hello(buf, n, sni, 8, &why), -1);
}

/* ---- handshakes ----------------------------------------------------------------------- */

struct guest {
	int fd;
	const char *sni;
	bool distrust;		/* trust no CA at all */
	bool ok;
	char got[16];
};

/* A guest that trusts only the CA (or nothing) and checks the name api.test. */
static void *guest_thread(void *arg)
{
	struct guest *g = arg;
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	SSL *s;
	int n;

	if (!g->distrust)
		X509_STORE_add_cert(SSL_CTX_get_cert_store(c), tls_ca_cert(ctx));
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	s = SSL_new(c);
	SSL_set_tlsext_host_name(s, g->sni);
	SSL_set1_host(s, "api.test");
	SSL_set_fd(s, g->fd);
	if (SSL_connect(s) == 1 && SSL_write(s, "ping", 4) == 4) {
		n = SSL_read(s, g->got, sizeof g->got - 1);
		g->got[n > 0 ? n : 0] = '\0';
		g->ok = true;
	}
	SSL_free(s);
	SSL_CTX_free(c);
	close(g->fd);
	ERR_clear_error();
	return NULL;
}

static void serve_to_a_guest(void)
{
	struct match_host api = host("api.test");
	struct guest g = { .sni = "api.test" };
	unsigned char pre[8192];
	size_t len = 0;
	char err[TLS_ERR_MAX], sni[256], buf[16];
	const char *why;
	pthread_t th;
	int sv[2], plain, rc;
	ssize_t n;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	g.fd = sv[1];
	pthread_create(&th, NULL, guest_thread, &g);
	/* Read the ClientHello first, as the proxy does for a redirected connection. */
	while ((rc = tls_client_hello(pre, len, sni, sizeof sni, &why)) == 0 &&
	       (n = read(sv[0], pre + len, sizeof pre - len)) > 0)
		len += (size_t)n;
	EXPECT_INT(rc, 1);
	EXPECT_STR(sni, "api.test");
	plain = tls_serve(ctx, sv[0], pre, len, &api, err);
	EXPECT(plain >= 0);
	if (plain >= 0) {
		n = read(plain, buf, 4);
		EXPECT_INT(n, 4);
		EXPECT(!memcmp(buf, "ping", 4));
		EXPECT_INT(write(plain, "pong", 4), 4);
		close(plain);
	} else {
		printf("#   %s\n", err);
		close(sv[0]);
	}
	pthread_join(th, NULL);
	EXPECT(g.ok);
	EXPECT_STR(g.got, "pong");
}

static void serve_refuses_another_name(void)
{
	struct match_host api = host("api.test");
	struct guest g = { .sni = "other.test" };
	char err[TLS_ERR_MAX];
	pthread_t th;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	g.fd = sv[1];
	pthread_create(&th, NULL, guest_thread, &g);
	EXPECT_INT(tls_serve(ctx, sv[0], NULL, 0, &api, err), -2);
	EXPECT(strstr(err, "other.test") != NULL);
	close(sv[0]);
	pthread_join(th, NULL);
	EXPECT(!g.ok);
}

static void serve_to_a_guest_without_the_ca(void)
{
	struct match_host api = host("api.test");
	struct guest g = { .sni = "api.test", .distrust = true };
	char err[TLS_ERR_MAX];
	pthread_t th;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	g.fd = sv[1];
	pthread_create(&th, NULL, guest_thread, &g);
	EXPECT_INT(tls_serve(ctx, sv[0], NULL, 0, &api, err), -1);
	EXPECT(strstr(err, "does not trust the proxy's CA") != NULL);
	close(sv[0]);
	pthread_join(th, NULL);
	EXPECT(!g.ok);
}

struct upstream {
	struct tls_ctx *t;
	int fd;
	const char *as;
};

/* An upstream server: the proxy's own serving side with a leaf for u->as. */
static void *upstream_thread(void *arg)
{
	struct upstream *u = arg;
	struct match_host h = host(u->as);
	char err[TLS_ERR_MAX], buf[16];
	int plain = tls_serve(u->t, u->fd, NULL, 0, &h, err);

	if (plain < 0) {
		close(u->fd);
		return NULL;
	}
	if (read(plain, buf, 4) == 4)
		(void)!write(plain, buf, 4);
	close(plain);
	return NULL;
}

/* tls_connect() through t to a server for as, naming the host want. */
static int connect_to(struct tls_ctx *t, const char *as, const char *want, char err[TLS_ERR_MAX])
{
	struct upstream u = { .t = ctx, .as = as };
	struct match_host h = host(want);
	pthread_t th;
	int sv[2], plain;
	char buf[8] = "";

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	u.fd = sv[1];
	pthread_create(&th, NULL, upstream_thread, &u);
	plain = tls_connect(t, sv[0], &h, err);
	if (plain >= 0) {
		if (write(plain, "echo", 4) != 4 || read(plain, buf, 4) != 4 || memcmp(buf, "echo", 4))
			snprintf(err, TLS_ERR_MAX, "no echo");
		else
			err[0] = '\0';
		close(plain);
	} else {
		close(sv[0]);
	}
	pthread_join(th, NULL);
	return plain >= 0 && !err[0] ? 0 : -1;
}

static void connect_verifies_upstream(void)
{
	char err[TLS_ERR_MAX];
	struct tls_ctx *plain_trust;

	EXPECT_INT(connect_to(ctx, "up.test", "up.test", err), 0);
	/* The certificate is for up.test, not for this address. */
	EXPECT_INT(connect_to(ctx, "up.test", "127.0.0.1", err), -1);
	EXPECT(strstr(err, "does not verify") != NULL);
	/* Without the bundle the CA is unknown. */
	unsetenv(TLS_UPSTREAM_CA_ENV);
	plain_trust = tls_ctx_new();
	EXPECT(plain_trust != NULL);
	if (plain_trust) {
		EXPECT_INT(connect_to(plain_trust, "up.test", "up.test", err), -1);
		EXPECT(strstr(err, "does not verify") != NULL);
		tls_ctx_free(plain_trust);
	}
	/* A configured bundle that does not load is an error, not ignored. */
	setenv(TLS_UPSTREAM_CA_ENV, "/nonexistent/ca.pem", 1);
	EXPECT(tls_ctx_new() == NULL);
	EXPECT(strstr(err_msg(), "/nonexistent/ca.pem") != NULL);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/smolvm-unit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	char *ca;

	signal(SIGPIPE, SIG_IGN);
	home = mkdtemp(tmpl);
	if (!home)
		die("cannot make a directory %s: %s", tmpl, strerror(errno));
	setenv("SMOLVM_HOME", home, 1);
	unsetenv(TLS_UPSTREAM_CA_ENV);
	paths_reset();

	RUN(ca_made_once);
	ca = keys_file(CA_CERT_FILE);
	setenv(TLS_UPSTREAM_CA_ENV, ca, 1);
	ctx = tls_ctx_new();
	if (!ctx)
		die("tls_ctx_new: %s", err_msg());
	RUN(leaf_minting);
	RUN(hello_sni);
	RUN(serve_to_a_guest);
	RUN(serve_refuses_another_name);
	RUN(serve_to_a_guest_without_the_ca);
	RUN(connect_verifies_upstream);

	tls_ctx_free(ctx);
	util_rm_rf(home);
	paths_reset();
	free(ca);
	free(tmpl);
	UNIT_EXIT();
}
