/*
 * ca: the install's certificate authority for the egress proxy's TLS
 * interception. Made once, at first use, in $SMOLVM_HOME/keys/ (ca.pem,
 * ca.key readable by the owner only); every image carries its certificate
 * in the guest's CA bundle, and the proxy signs a leaf certificate with it
 * for each host it intercepts (net/tls.h).
 */
#ifndef SMOLVM_CA_H
#define SMOLVM_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_CERT_FILE "ca.pem"
#define CA_KEY_FILE "ca.key"

struct ca {
	X509 *cert;
	EVP_PKEY *key;		/* EC P-256 */
};

/*
 * The CA, made if the keys directory has none (an EC P-256 key and a
 * self-signed certificate valid for 10 years). Processes that start at the
 * same time agree on one: the directory is locked while it is made. 0, or
 * -1 with err_set() (a certificate without its key, files that do not
 * belong together, an unwritable directory).
 */
int ca_load(struct ca *out);
void ca_free(struct ca *ca);

/* The certificate as PEM text, newly allocated. */
char *ca_cert_pem(const struct ca *ca);

/* "sha256:<64 hex digits>" of the certificate, newly allocated. */
char *ca_fingerprint(const struct ca *ca);

/* The fingerprint of the CA in the keys directory, without making one:
 * NULL when there is none (or it does not read). */
char *ca_current_fingerprint(void);

#endif
