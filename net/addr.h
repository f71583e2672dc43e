/*
 * addr: IP addresses as the egress proxy meets them. Parsing reads every
 * spelling the libc resolver takes as a number, so that a host that is
 * really an address is judged as one; the classifier names the ranges a
 * sandbox may never reach unless a policy rule names the address itself.
 * Everything here is pure and thread-safe except addr_list_local().
 */
#ifndef SMOLVM_ADDR_H
#define SMOLVM_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* An IPv4 or IPv6 address in network byte order; IPv4 uses b[0..3]. */
struct addr_ip {
	sa_family_t family;	/* AF_INET or AF_INET6 */
	bool zone;		/* an IPv6 zone id was given (fe80::1%eth0, scope id != 0) */
	uint8_t b[16];
};

/* Room for addr_format()'s text, NUL included (INET6_ADDRSTRLEN). */
#define ADDR_STR_MAX 46

enum addr_syntax {
	/*
	 * Every form getaddrinfo() and inet_aton() read as an IPv4 number:
	 * 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last
	 * part filling the remaining bytes: 2130706433, 0x7f000001,
	 * 0177.0.0.1, 127.1, 127.0.1, 0x7f.0.0.1. IPv6 as inet_pton() reads
	 * it, with an optional zone id after '%'.
	 */
	ADDR_LOOSE,
	/* IPv4 only as four decimal parts without leading zeros; IPv6 as above. */
	ADDR_STRICT,
};

/* Parse s[0..len) (no brackets) as an address. False if it is not one. */
bool addr_parse(const char *s, size_t len, enum addr_syntax syntax, struct addr_ip *out);

/* The standard text of an address (RFC 5952 for IPv6), without zone id. */
void addr_format(const struct addr_ip *a, char buf[ADDR_STR_MAX]);

/* Same address; an IPv4 address equals its IPv4-mapped IPv6 form
 * (::ffff:a.b.c.d), since a dual-stack socket dials one as the other. */
bool addr_equal(const struct addr_ip *a, const struct addr_ip *b);

/* Convert from and to socket addresses (AF_INET, AF_INET6). */
int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct addr_ip *out);
socklen_t addr_to_sockaddr(const struct addr_ip *a, uint16_t port, struct sockaddr_storage *ss);

/*
 * Why an address is denied. Everything but ADDR_PUBLIC is always denied
 * unless a rule names the address. Addresses that embed an IPv4 address
 * (IPv4-mapped, IPv4-compatible, SIIT, NAT64 64:ff9b::/96, 6to4 2002::/16,
 * ISATAP interface ids) take the class of the embedded address when that
 * is denied.
 */
enum addr_class {
	ADDR_PUBLIC,		/* globally routable */
	ADDR_UNSPECIFIED,	/* 0.0.0.0/8, :: */
	ADDR_LOOPBACK,		/* 127.0.0.0/8, ::1 */
	/* 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10, 64:ff9b:1::/48 */
	ADDR_PRIVATE,
	ADDR_SHARED,		/* 100.64.0.0/10, carrier-grade NAT */
	ADDR_LINK_LOCAL,	/* 169.254.0.0/16, fe80::/10 */
	ADDR_METADATA,		/* cloud instance metadata: 169.254.169.254, fd00:ec2::254, ... */
	ADDR_MULTICAST,		/* 224.0.0.0/4, ff00::/8 */
	ADDR_BROADCAST,		/* 255.255.255.255 */
	/* documentation, benchmarking, future use, tunnels, non-global IPv6 */
	ADDR_RESERVED,
	ADDR_HOST,		/* one of the host's own addresses */
};

/* A list of addresses: the host's own ones for the classifier. */
struct addr_list {
	struct addr_ip *v;
	size_t n;
};

/* Classify a; own (may be NULL) lists the host's own addresses. */
enum addr_class addr_classify(const struct addr_ip *a, const struct addr_list *own);

/* A short static description: "loopback address". */
const char *addr_class_str(enum addr_class c);

/* The addresses of every interface in the calling thread's network
 * namespace (getifaddrs). Free with addr_list_free(). */
int addr_list_local(struct addr_list *out);
void addr_list_free(struct addr_list *l);

#endif
