/*
 * image_keys: the per-install keys an image is built with, kept in
 * $SMOLVM_HOME/keys/ and made at the first build: the user key authorised
 * for root in the guest, the guest's host key, which the host pins, and the
 * egress proxy's CA (net/ca.h), which the guest trusts.
 */
#ifndef SMOLVM_IMAGE_KEYS_H
#define SMOLVM_IMAGE_KEYS_H

#include "fs/image_build.h"

/* Names in the keys directory, each with a .pub next to it. */
#define IMAGE_KEYS_USER "id_ed25519"		/* OpenSSH format, made by ssh-keygen */
#define IMAGE_KEYS_HOST "guest_host_ed25519"	/* dropbear format, made by dropbearkey */

/* $SMOLVM_HOME/keys/<name><suffix>, newly allocated. */
char *image_keys_file(const char *name, const char *suffix);

/* The public line of a key pair in the keys directory, or NULL if either half is missing. */
char *image_keys_pub_line(const char *name);

/*
 * Step: make the keys if they are missing, put the host key in the tree and
 * its public line in the work directory's host_ed25519.pub, and authorise
 * the user key for root. Sets b->user_pub and b->host_pub.
 */
int image_keys_install(struct build *b);

/*
 * Append the egress proxy's CA certificate (made if missing) to the CA
 * bundle at bundle, a path in the tree, so that the guest's TLS clients
 * accept the certificates the proxy presents. Sets b->proxy_ca.
 */
int image_keys_add_proxy_ca(struct build *b, const char *bundle);

#endif
