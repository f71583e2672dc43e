#include "net/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backend/util.h"
#include "net/netns.h"

static int tap_create(const char *ifname)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		err_set("cannot open /dev/net/tun: %s (is the tun module loaded?)", strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	/* Persistent: the device stays when we close it, for QEMU to attach. */
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0) {
		err_set("cannot create tap device %s: %s", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int link_up(struct nl_sock *sk, const char *ifname, int *ifindex)
{
	struct rtnl_link *link = NULL, *change;
	int err = rtnl_link_get_kernel(sk, 0, ifname, &link);

	if (err < 0) {
		err_set("cannot find interface %s: %s", ifname, nl_geterror(err));
		return -1;
	}
	if (ifindex)
		*ifindex = rtnl_link_get_ifindex(link);
	change = rtnl_link_alloc();
	if (!change)
		die("out of memory");
	rtnl_link_set_flags(change, IFF_UP);
	err = rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
	if (err < 0) {
		err_set("cannot bring up %s: %s", ifname, nl_geterror(err));
		return -1;
	}
	return 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, const char *ifname, const char *ip,
		    int prefix_len)
{
	struct in_addr in;
	struct rtnl_addr *addr;
	struct nl_addr *local;
	int err;

	if (inet_pton(AF_INET, ip, &in) != 1) {
		err_set("not an IPv4 address: '%s'", ip);
		return -1;
	}
	addr = rtnl_addr_alloc();
	local = nl_addr_build(AF_INET, &in, sizeof in);
	if (!addr || !local)
		die("out of memory");
	nl_addr_set_prefixlen(local, prefix_len);
	rtnl_addr_set_ifindex(addr, ifindex);
	err = rtnl_addr_set_local(addr, local);
	if (err == 0)
		err = rtnl_addr_add(sk, addr, 0);
	nl_addr_put(local);
	rtnl_addr_put(addr);
	if (err < 0) {
		err_set("cannot add address %s/%d to %s: %s", ip, prefix_len, ifname,
			nl_geterror(err));
		return -1;
	}
	return 0;
}

/* Runs inside the namespace; the netlink socket belongs to the namespace it
 * was opened in. */
static int setup_inside(const char *ifname, const char *ip, int prefix_len)
{
	struct nl_sock *sk;
	int err, ifindex = 0, rc = -1;

	if (tap_create(ifname) < 0)
		return -1;
	sk = nl_socket_alloc();
	if (!sk)
		die("out of memory");
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		err_set("cannot open a netlink socket: %s", nl_geterror(err));
		goto out;
	}
	if (link_up(sk, "lo", NULL) == 0 && link_up(sk, ifname, &ifindex) == 0 &&
	    addr_add(sk, ifindex, ifname, ip, prefix_len) == 0)
		rc = 0;
out:
	nl_socket_free(sk);
	return rc;
}

int tap_setup(const char *netns, const char *ifname, const char *addr, int prefix_len)
{
	int saved, rc;

	if (netns_enter(netns, &saved) < 0)
		return -1;
	rc = setup_inside(ifname, addr, prefix_len);
	if (netns_leave(saved) < 0)
		die("%s", err_msg());	/* never carry on inside a sandbox's namespace */
	if (rc < 0)
		err_set("netns %s: %s", netns, err_msg());
	return rc;
}
