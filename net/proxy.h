/*
 * proxy: the sandbox's egress proxy process and its supervision. One
 * process per running sandbox (`smolvm __proxy ID`), started with the
 * sandbox and outliving the command that started it, like QEMU. It holds
 * sockets inside the sandbox's namespace (TCP on PROXY_PORT and the DNS
 * resolver of net/dns.h, both on the host end of the tap) and makes its
 * upstream connections from the host's namespace. The policy it enforces
 * is vms/<id>/policy.json (mode none when there is none), re-read when
 * the file changes; decisions go to vms/<id>/policy.log, one JSON object
 * a line, and the process's own messages to vms/<id>/proxy.log.
 */
#ifndef SMOLVM_PROXY_H
#define SMOLVM_PROXY_H

#include <stdbool.h>
#include <sys/types.h>

#include "backend/store.h"

/* The proxy's port on the host end of the tap; also what the guest can
 * name as its HTTP_PROXY / HTTPS_PROXY (http://<host ip>:3128). */
#define PROXY_PORT 3128

/*
 * Install the namespace's packet rules (net/nft.h), then start the
 * sandbox's proxy and wait until it listens. A proxy already running for
 * sb is stopped first. Needs root. 0, or -1 with err_set() and nothing
 * left running.
 */
int proxy_start(const struct sandbox *sb);

/* Stop the sandbox's proxy if one runs. 0, or -1 with err_set() if it
 * does not die. */
int proxy_stop(const struct sandbox *sb);

/* The pid of the sandbox's running proxy, or 0 (checked against pid reuse). */
pid_t proxy_pid(const struct sandbox *sb);

/* `smolvm __proxy ID`: the proxy process itself; argv[0] is "__proxy". */
int proxy_main(int argc, char **argv);

#endif
