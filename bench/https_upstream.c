/*
 * https_upstream IP:PORT CERT KEY: the HTTPS server bench/proxy measures
 * against, made to cost as little as a server can so that what the bench
 * sees is the client and whatever sits between. A thread per connection,
 * HTTP/1.1 with keep-alive; GET /bytes/N answers N bytes, any other path a
 * 128-byte body. Prints "ready" once it listens; runs until killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/util.h"

#define HEAD_MAX 16384
#define CHUNK (256 * 1024)
#define SMALL_BODY 128

static SSL_CTX *ctx;
static char zeros[CHUNK];

static int write_all(SSL *ssl, const char *p, size_t n)
{
	while (n) {
		size_t put;

		if (!SSL_write_ex(ssl, p, n, &put))
			return -1;
		p += put;
		n -= put;
	}
	return 0;
}

/* Answer one request head, buf[0..len); 1 to keep the connection. */
static int answer(SSL *ssl, const char *buf, size_t len)
{
	char head[160 + SMALL_BODY];
	unsigned long long size = SMALL_BODY;
	bool keep = !memmem(buf, len, "\r\nConnection: close", 19) &&
		    !memmem(buf, len, "\r\nconnection: close", 19);
	int hl;

	if (!strncmp(buf, "GET /bytes/", 11))
		size = strtoull(buf + 11, NULL, 10);
	hl = snprintf(head, 160, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
		      "Content-Length: %llu\r\n%s\r\n", size, keep ? "" : "Connection: close\r\n");
	if (size <= SMALL_BODY) {
		/* Head and body in one record, as a real small answer goes. */
		memset(head + hl, 'x', (size_t)size);
		return write_all(ssl, head, (size_t)hl + (size_t)size) < 0 ? 0 : keep;
	}
	if (write_all(ssl, head, (size_t)hl) < 0)
		return 0;
	while (size) {
		size_t n = size < CHUNK ? (size_t)size : CHUNK;

		if (write_all(ssl, zeros, n) < 0)
			return 0;
		size -= n;
	}
	return keep;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	SSL *ssl = SSL_new(ctx);
	char *buf = xmalloc(HEAD_MAX);
	size_t len = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_accept(ssl) != 1)
		goto out;
	for (;;) {
		char *end = memmem(buf, len, "\r\n\r\n", 4);
		size_t got, used;

		if (end) {
			used = (size_t)(end - buf) + 4;
			if (!answer(ssl, buf, used))
				break;
			memmove(buf, buf + used, len - used);
			len -= used;
			continue;
		}
		if (len == HEAD_MAX || !SSL_read_ex(ssl, buf + len, HEAD_MAX - len, &got))
			break;
		len += got;
	}
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	pthread_attr_t attr;
	char *colon;
	int lfd, one = 1;

	if (argc != 4 || !(colon = strrchr(argv[1], ':'))) {
		fprintf(stderr, "usage: https_upstream IP:PORT CERT KEY\n");
		return 2;
	}
	*colon = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		die("https_upstream: '%s' is not an IPv4 address", argv[1]);
	signal(SIGPIPE, SIG_IGN);
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1)
		die("https_upstream: cannot load %s and %s", argv[2], argv[3]);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 256) < 0)
		die("https_upstream: cannot listen on %s:%s", argv[1], colon + 1);
	printf("ready\n");
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_t th;

		if (fd < 0)
			continue;
		if (pthread_create(&th, &attr, serve, (void *)(intptr_t)fd))
			close(fd);
	}
}
