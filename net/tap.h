/* tap: the sandbox's tap device and addresses, inside its network namespace. */
#ifndef SMOLVM_TAP_H
#define SMOLVM_TAP_H

/*
 * Inside namespace netns: bring up lo, create the persistent tap ifname
 * (QEMU attaches to it later), give it addr/prefix_len and bring it up.
 * The tap lives as long as the namespace. Returns 0 or -1 with err_set().
 */
int tap_setup(const char *netns, const char *ifname, const char *addr, int prefix_len);

#endif
