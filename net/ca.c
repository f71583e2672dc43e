#include "net/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"

#define CA_DAYS (10 * 365)

static char *ca_path(const char *name)
{
	char *dir = paths_keys_dir();
	char *p = xasprintf("%s/%s", dir, name);

	free(dir);
	return p;
}

/* The first OpenSSL error of this thread as text, for messages. */
static const char *ssl_error(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown OpenSSL error";
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A self-signed CA certificate for key; its name carries a random tag so
 * that the CAs of two installs are told apart in a certificate viewer. */
static X509 *make_cert(EVP_PKEY *key)
{
	unsigned char serial[16], tag[4];
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *bn = NULL;
	X509V3_CTX ctx;
	char cn[64];
	int ok;

	if (!x || !name || RAND_bytes(serial, sizeof serial) != 1 ||
	    RAND_bytes(tag, sizeof tag) != 1)
		goto fail;
	serial[0] &= 0x7f;	/* positive */
	snprintf(cn, sizeof cn, "smolvm egress proxy CA %02x%02x%02x%02x", tag[0], tag[1], tag[2],
		 tag[3]);
	bn = BN_bin2bn(serial, sizeof serial, NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
	     X509_set_version(x, X509_VERSION_3) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     X509_time_adj_ex(X509_getm_notAfter(x), CA_DAYS, 0, NULL) &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"smolvm",
					-1, -1, 0) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					-1, 0) &&
	     X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
	     X509_set_pubkey(x, key);
	BN_free(bn);
	X509_NAME_free(name);
	name = NULL;
	if (!ok)
		goto fail;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
	    !X509_sign(x, key, EVP_sha256()))
		goto fail;
	return x;
fail:
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

/* PEM text of a key (PKCS#8, unencrypted: the file's mode protects it) or certificate. */
static char *to_pem(EVP_PKEY *key, X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (!b)
		die("out of memory");
	if (key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
		: PEM_write_bio_X509(b, cert)) {
		n = BIO_get_mem_data(b, &data);
		out = xmalloc((size_t)n + 1);
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

static int make(const char *cert_path, const char *key_path, struct ca *out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = key ? make_cert(key) : NULL;
	char *kp = cert ? to_pem(key, NULL) : NULL, *cp = kp ? to_pem(NULL, cert) : NULL;

	if (!cp) {
		err_set("cannot make the egress proxy's CA: %s", ssl_error());
		goto fail;
	}
	/* The key first: a certificate on disk always has its key. */
	if (util_write_atomic(key_path, kp, strlen(kp), 0600) < 0 ||
	    util_write_atomic(cert_path, cp, strlen(cp), 0644) < 0)
		goto fail;
	free(kp);
	free(cp);
	out->key = key;
	out->cert = cert;
	return 0;
fail:
	free(kp);
	free(cp);
	X509_free(cert);
	EVP_PKEY_free(key);
	return -1;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "re");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return x;
}

static int read_both(const char *cert_path, const char *key_path, struct ca *out)
{
	FILE *f = fopen(key_path, "re");

	out->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	out->cert = read_cert(cert_path);
	if (!out->key || !out->cert) {
		err_set("cannot read the egress proxy's CA from %s and %s: %s", cert_path,
			key_path, ssl_error());
		goto fail;
	}
	if (!X509_check_private_key(out->cert, out->key)) {
		ERR_clear_error();
		err_set("%s and %s do not belong together: remove both to make a new CA, then "
			"rebuild the image (smolvm image build)", cert_path, key_path);
		goto fail;
	}
	return 0;
fail:
	ca_free(out);
	return -1;
}

int ca_load(struct ca *out)
{
	char *dir = paths_keys_dir();
	char *cert_path = ca_path(CA_CERT_FILE), *key_path = ca_path(CA_KEY_FILE);
	int dfd = -1, rc = -1;

	out->cert = NULL;
	out->key = NULL;
	if (util_mkdir_p(dir, 0700) < 0)
		goto out;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		err_set("cannot lock %s: %s", dir, strerror(errno));
		goto out;
	}
	if (util_exists(cert_path) && !util_exists(key_path))
		err_set("the egress proxy's CA %s has no key %s: remove it to make a new CA, then "
			"rebuild the image (smolvm image build)", cert_path, key_path);
	else if (util_exists(cert_path))
		rc = read_both(cert_path, key_path, out);
	else	/* a key without a certificate was never trusted by anything: replace it */
		rc = make(cert_path, key_path, out);
out:
	if (dfd >= 0)
		close(dfd);	/* and unlock */
	free(dir);
	free(cert_path);
	free(key_path);
	return rc;
}

void ca_free(struct ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	ca->cert = NULL;
	ca->key = NULL;
}

char *ca_cert_pem(const struct ca *ca)
{
	char *pem = to_pem(NULL, ca->cert);

	if (!pem)
		die("cannot write a certificate as PEM: %s", ssl_error());
	return pem;
}

static char *fingerprint(const X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *out, *p;

	if (!X509_digest(x, EVP_sha256(), md, &n))
		die("cannot hash a certificate: %s", ssl_error());
	out = p = xmalloc(7 + 2 * n + 1);
	p += sprintf(p, "sha256:");
	for (unsigned int i = 0; i < n; i++)
		p += sprintf(p, "%02x", md[i]);
	return out;
}

char *ca_fingerprint(const struct ca *ca)
{
	return fingerprint(ca->cert);
}

char *ca_current_fingerprint(void)
{
	char *path = ca_path(CA_CERT_FILE);
	X509 *x = read_cert(path);
	char *fp = x ? fingerprint(x) : NULL;

	ERR_clear_error();
	X509_free(x);
	free(path);
	return fp;
}
