/* nft: the packet rules inside a sandbox's network namespace (libnftables). */
#ifndef SMOLVM_NFT_H
#define SMOLVM_NFT_H

/*
 * The ruleset text for a namespace whose guest is behind ifname: every TCP
 * connection the guest opens, to any address and port, is redirected to
 * proxy_port on the host end of the tap; its UDP to port 53 goes to
 * dns_port there; everything else the guest sends (other UDP, ICMP, IPv6,
 * other protocols, anything to the host end that is not redirected) is
 * dropped, and nothing is forwarded. Traffic the host side starts (SSH to
 * the guest) and its replies are not touched. Newly allocated.
 */
char *nft_ruleset(const char *ifname, int proxy_port, int dns_port);

/* Replace the namespace's smolvm table with nft_ruleset() in one
 * transaction. Needs root. 0, or -1 with err_set(). */
int nft_apply(const char *netns, const char *ifname, int proxy_port, int dns_port);

#endif
