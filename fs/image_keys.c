#include "fs/image_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"
#include "net/ca.h"

#define HOST_KEY_PATH "/etc/dropbear/dropbear_ed25519_host_key"

/* The first line of a file, without its newline. */
static char *read_line(const char *path)
{
	char *text = util_read_file(path, NULL);

	if (text)
		text[strcspn(text, "\r\n")] = '\0';
	return text;
}

char *image_keys_file(const char *name, const char *suffix)
{
	char *dir = paths_keys_dir();
	char *p = xasprintf("%s/%s%s", dir, name, suffix);

	free(dir);
	return p;
}

char *image_keys_pub_line(const char *name)
{
	char *priv = image_keys_file(name, ""), *pub = image_keys_file(name, ".pub");
	char *line = util_exists(priv) ? read_line(pub) : NULL;

	free(priv);
	free(pub);
	return line;
}

/* Private keys are for the owner alone, whatever the umask made them. */
static int make_private(const char *path)
{
	if (chmod(path, 0600) == 0)
		return 0;
	err_set("cannot chmod %s: %s", path, strerror(errno));
	return -1;
}

static int make_keys_dir(void)
{
	char *dir = paths_keys_dir();
	int rc = util_mkdir_p(dir, 0700);

	free(dir);
	return rc;
}

/*
 * The per-install user key: made once, reused by every image, so sandboxes
 * from an older image still accept it.
 */
static int ensure_user_key(struct build *b)
{
	const char *keygen = image_build_host(b, "ssh-keygen");
	char *priv = image_keys_file(IMAGE_KEYS_USER, "");
	char *pub = image_keys_file(IMAGE_KEYS_USER, ".pub");
	char *out = NULL;
	int rc = -1;

	if (make_keys_dir() < 0)
		goto out;
	if (!util_exists(priv)) {
		if (image_build_run(b, NULL, NULL, keygen, "-q", "-t", "ed25519", "-N", "",
				    "-C", "smolvm", "-f", priv, NULL) != 0)
			goto out;
		image_build_note("made the SSH user key %s", priv);
	} else if (!util_exists(pub)) {
		if (image_build_run(b, NULL, &out, keygen, "-y", "-f", priv, NULL) != 0 ||
		    util_write_atomic(pub, out, strlen(out), 0644) < 0)
			goto out;
	}
	if (make_private(priv) < 0 || !(b->user_pub = read_line(pub)))
		goto out;
	rc = 0;
out:
	free(out);
	free(priv);
	free(pub);
	return rc;
}

/*
 * The per-install guest host key: made once and copied into every image, so
 * a rebuild keeps the key that running sandboxes hold in RAM and that
 * host_ed25519.pub pins. It is made under a private name and linked into
 * place, so a killed build never leaves half a key and two builds at once
 * agree on one.
 */
static int ensure_host_key(struct build *b, const char *priv)
{
	const char *dropbearkey = image_build_host(b, "dropbearkey");
	char *pub = image_keys_file(IMAGE_KEYS_HOST, ".pub");
	char *tmp = xasprintf("%s.%d", priv, (int)getpid());
	char *out = NULL, *old = NULL, *line = NULL, *v;
	int rc = -1;

	if (make_keys_dir() < 0)
		goto out;
	if (!util_exists(priv)) {
		unlink(tmp);
		if (image_build_run(b, NULL, NULL, dropbearkey, "-t", "ed25519", "-f", tmp, NULL) != 0)
			goto out;
		if (link(tmp, priv) < 0 && errno != EEXIST) {
			err_set("cannot put the guest host key at %s: %s", priv, strerror(errno));
			goto out;
		}
		image_build_note("made the guest SSH host key %s", priv);
	}
	if (make_private(priv) < 0 ||
	    image_build_run(b, NULL, &out, dropbearkey, "-y", "-f", priv, NULL) != 0)
		goto out;
	/* "ssh-ed25519 AAAA... comment": keep type and key, drop the build host's name */
	if (!(v = image_build_line_value(out, "ssh-ed25519 "))) {
		err_set("dropbearkey -y printed no ssh-ed25519 key for %s", priv);
		goto out;
	}
	v[strcspn(v, " ")] = '\0';
	b->host_pub = xasprintf("ssh-ed25519 %s", v);
	free(v);
	old = read_line(pub);
	line = xasprintf("%s\n", b->host_pub);
	rc = old && !strcmp(old, b->host_pub) ? 0 :
		util_write_atomic(pub, line, strlen(line), 0644);
out:
	unlink(tmp);
	free(pub);
	free(tmp);
	free(out);
	free(old);
	free(line);
	return rc;
}

int image_keys_install(struct build *b)
{
	char *priv = image_keys_file(IMAGE_KEYS_HOST, "");
	char *key = image_build_in_root(b, HOST_KEY_PATH);
	char *line = NULL, *pub_path = xasprintf("%s/host_ed25519.pub", b->work);
	char *auth = NULL;
	int rc = -1;

	if (ensure_host_key(b, priv) < 0 || image_build_copy_file(priv, key, 0600) < 0)
		goto out;
	line = xasprintf("%s\n", b->host_pub);
	if (util_write_atomic(pub_path, line, strlen(line), 0644) < 0 || ensure_user_key(b) < 0)
		goto out;
	auth = xasprintf("%s\n", b->user_pub);
	if (image_build_put_dir(b, "/root", 0700) < 0 ||
	    image_build_put_dir(b, "/root/.ssh", 0700) < 0 ||
	    image_build_put_text(b, "/root/.ssh/authorized_keys", 0600, auth) < 0)
		goto out;
	rc = 0;
out:
	free(priv);
	free(key);
	free(line);
	free(pub_path);
	free(auth);
	return rc;
}

int image_keys_add_proxy_ca(struct build *b, const char *bundle)
{
	char *had = ca_current_fingerprint(), *pem = NULL, *text = NULL;
	struct ca ca;
	int fd = -1, rc = -1;

	if (ca_load(&ca) < 0)
		goto out;
	if (!had) {
		char *path = image_keys_file(CA_CERT_FILE, "");

		image_build_note("made the egress proxy's CA %s", path);
		free(path);
	}
	pem = ca_cert_pem(&ca);
	b->proxy_ca = ca_fingerprint(&ca);
	ca_free(&ca);
	text = xasprintf("\n# smolvm egress proxy CA (TLS interception), %s\n%s", b->proxy_ca, pem);
	fd = open(bundle, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		err_set("cannot add the egress proxy's CA to %s: %s", bundle, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0 && close(fd) < 0 && rc == 0) {
		err_set("cannot add the egress proxy's CA to %s: %s", bundle, strerror(errno));
		rc = -1;
	}
	free(had);
	free(pem);
	free(text);
	return rc;
}
