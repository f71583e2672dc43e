/* netns: named network namespaces (/run/netns/<name>, as iproute2 keeps them). */
#ifndef SMOLVM_NETNS_H
#define SMOLVM_NETNS_H

/* Create /run/netns/<name> holding a fresh namespace. Fails if it exists. */
int netns_create(const char *name);

/* Unmount and remove /run/netns/<name>; a missing one is not an error. */
int netns_remove(const char *name);

/* Does /run/netns/<name> exist? */
int netns_exists(const char *name);

/*
 * Run with the calling thread inside the namespace: netns_enter() saves the
 * current namespace in *saved_fd and switches; netns_leave() switches back
 * and closes it. Only the calling thread moves, so other threads (the TUI's
 * main loop) are unaffected.
 */
int netns_enter(const char *name, int *saved_fd);
int netns_leave(int saved_fd);

/* socket(domain, type | SOCK_CLOEXEC, 0) created inside the namespace. The
 * socket stays in that namespace for its whole life. */
int netns_socket(const char *name, int domain, int type);

/* A TCP connection from inside the namespace to ip:port, waiting at most
 * timeout_ms. Returns a blocking, connected fd or -1 with err_set(). */
int netns_connect_tcp(const char *name, const char *ip, int port, int timeout_ms);

#endif
