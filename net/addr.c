#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"

static int digit_value(char c, int base)
{
	int v = util_hex_value(c);

	return v < base ? v : -1;
}

/*
 * IPv4 the way glibc's inet_aton (and so getaddrinfo) reads it: each part
 * starts with a digit and is read as strtoul(base 0) would; the parts
 * before the last are bytes, the last fills what is left. Strict is
 * inet_pton: four decimal bytes, no leading zeros.
 */
static bool parse_v4(const char *s, size_t len, bool strict, uint8_t out[4])
{
	static const uint64_t last_max[4] = { 0xffffffff, 0xffffff, 0xffff, 0xff };
	uint64_t parts[4];
	size_t i = 0;
	int n = 0;

	for (;;) {
		uint64_t v = 0;
		int base = 10;
		size_t start;

		if (n == 4 || i >= len || s[i] < '0' || s[i] > '9')
			return false;
		if (s[i] == '0' && i + 1 < len && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
			base = 16;
			i += 2;
		} else if (s[i] == '0') {
			base = 8;
		}
		start = i;
		for (; i < len && digit_value(s[i], base) >= 0; i++) {
			v = v * base + digit_value(s[i], base);
			if (v > 0xffffffff)
				v = 0x100000000;	/* too big, and stays so */
		}
		if (i == start)
			return false;
		if (strict && (base == 16 || (base == 8 && i - start > 1) || v > 0xff))
			return false;
		parts[n++] = v;
		if (i == len)
			break;
		if (s[i] != '.')
			return false;
		i++;
	}
	if (strict && n != 4)
		return false;
	for (int k = 0; k < n - 1; k++)
		if (parts[k] > 0xff)
			return false;
	if (parts[n - 1] > last_max[n - 1])
		return false;
	for (int k = 0; k < n - 1; k++)
		out[k] = (uint8_t)parts[k];
	for (int k = 3; k >= n - 1; k--) {
		out[k] = (uint8_t)(parts[n - 1] & 0xff);
		parts[n - 1] >>= 8;
	}
	return true;
}

/* IPv6 as inet_pton reads it: 1-4 hex digits per group, one "::" at most,
 * an optional dotted IPv4 tail in strict form. */
static bool parse_v6(const char *s, size_t len, uint8_t out[16])
{
	uint16_t g[8];
	int n = 0, gap = -1;
	size_t i = 0;

	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
	} else if (len == 0 || s[0] == ':') {
		return false;
	}
	while (i < len) {
		size_t start = i;
		unsigned v = 0;

		while (i < len && i - start < 5 && digit_value(s[i], 16) >= 0)
			v = v * 16 + (unsigned)digit_value(s[i++], 16);
		if (i < len && s[i] == '.') {
			uint8_t v4[4];

			if (n > 6 || !parse_v4(s + start, len - start, true, v4))
				return false;
			g[n++] = (uint16_t)(v4[0] << 8 | v4[1]);
			g[n++] = (uint16_t)(v4[2] << 8 | v4[3]);
			break;
		}
		if (i == start || i - start > 4 || n == 8)
			return false;
		g[n++] = (uint16_t)v;
		if (i == len)
			break;
		if (s[i++] != ':' || i == len)
			return false;
		if (s[i] == ':') {
			if (gap >= 0)
				return false;
			gap = n;
			i++;
		}
	}
	if (gap >= 0 ? n == 8 : n != 8)
		return false;
	memset(out, 0, 16);
	for (int k = 0; k < n; k++) {
		int pos = gap >= 0 && k >= gap ? k + 8 - n : k;

		out[2 * pos] = (uint8_t)(g[k] >> 8);
		out[2 * pos + 1] = (uint8_t)g[k];
	}
	return true;
}

static bool zone_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '~' || c == '-';
}

bool addr_parse(const char *s, size_t len, enum addr_syntax syntax, struct addr_ip *out)
{
	const char *pct = memchr(s, '%', len);
	size_t alen = pct ? (size_t)(pct - s) : len;
	struct addr_ip a = { 0 };

	if (pct) {
		if (pct + 1 == s + len)
			return false;
		for (const char *z = pct + 1; z < s + len; z++)
			if (!zone_char(*z))
				return false;
	}
	if (!pct && parse_v4(s, len, syntax == ADDR_STRICT, a.b)) {
		a.family = AF_INET;
	} else if (parse_v6(s, alen, a.b)) {
		a.family = AF_INET6;
		a.zone = pct != NULL;
	} else {
		return false;
	}
	*out = a;
	return true;
}

void addr_format(const struct addr_ip *a, char buf[ADDR_STR_MAX])
{
	if (!inet_ntop(a->family, a->b, buf, ADDR_STR_MAX))
		snprintf(buf, ADDR_STR_MAX, "?");
}

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* The IPv4 address a is or is mapped from, or NULL. */
static const uint8_t *as_v4(const struct addr_ip *a)
{
	if (a->family == AF_INET)
		return a->b;
	if (!memcmp(a->b, v4_mapped_prefix, 12))
		return a->b + 12;
	return NULL;
}

bool addr_equal(const struct addr_ip *a, const struct addr_ip *b)
{
	const uint8_t *a4 = as_v4(a), *b4 = as_v4(b);

	if (a4 || b4)
		return a4 && b4 && !memcmp(a4, b4, 4);
	return a->family == AF_INET6 && b->family == AF_INET6 && !memcmp(a->b, b->b, 16);
}

int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, struct addr_ip *out)
{
	memset(out, 0, sizeof *out);
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		out->family = AF_INET;
		memcpy(out->b, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		out->family = AF_INET6;
		out->zone = in6->sin6_scope_id != 0;
		memcpy(out->b, &in6->sin6_addr, 16);
		return 0;
	}
	err_set("socket address of family %d (length %u) is neither IPv4 nor IPv6",
		sa->sa_family, (unsigned)len);
	return -1;
}

socklen_t addr_to_sockaddr(const struct addr_ip *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, a->b, 4);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	memcpy(&in6->sin6_addr, a->b, 16);
	return sizeof *in6;
}

static bool is_own(const struct addr_ip *a, const struct addr_list *own)
{
	for (size_t i = 0; own && i < own->n; i++)
		if (addr_equal(a, &own->v[i]))
			return true;
	return false;
}

struct v4_range {
	uint32_t net;
	int bits;
	enum addr_class cls;
};

/* First match wins, so single addresses come before the ranges holding them. */
static const struct v4_range v4_ranges[] = {
	{ 0xa9fea9fe, 32, ADDR_METADATA },	/* 169.254.169.254: AWS, GCP, Azure, OpenStack... */
	{ 0xa9feaa02, 32, ADDR_METADATA },	/* 169.254.170.2: AWS ECS task metadata */
	{ 0x646464c8, 32, ADDR_METADATA },	/* 100.100.100.200: Alibaba Cloud */
	{ 0xc00000c0, 32, ADDR_METADATA },	/* 192.0.0.192: Oracle Cloud (legacy) */
	{ 0x00000000, 8, ADDR_UNSPECIFIED },	/* "this network"; 0.0.0.0 dials the host */
	{ 0x0a000000, 8, ADDR_PRIVATE },
	{ 0x64400000, 10, ADDR_SHARED },
	{ 0x7f000000, 8, ADDR_LOOPBACK },
	{ 0xa9fe0000, 16, ADDR_LINK_LOCAL },
	{ 0xac100000, 12, ADDR_PRIVATE },
	{ 0xc0000000, 24, ADDR_RESERVED },	/* IETF protocol assignments */
	{ 0xc0000200, 24, ADDR_RESERVED },	/* TEST-NET-1 */
	{ 0xc0586300, 24, ADDR_RESERVED },	/* 6to4 relay anycast (deprecated) */
	{ 0xc0a80000, 16, ADDR_PRIVATE },
	{ 0xc6120000, 15, ADDR_RESERVED },	/* benchmarking */
	{ 0xc6336400, 24, ADDR_RESERVED },	/* TEST-NET-2 */
	{ 0xcb007100, 24, ADDR_RESERVED },	/* TEST-NET-3 */
	{ 0xe0000000, 4, ADDR_MULTICAST },
	{ 0xffffffff, 32, ADDR_BROADCAST },
	{ 0xf0000000, 4, ADDR_RESERVED },	/* future use */
};

static enum addr_class classify_v4(const uint8_t b[4], const struct addr_list *own)
{
	uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	struct addr_ip a = { .family = AF_INET };

	for (size_t i = 0; i < ARRAY_LEN(v4_ranges); i++) {
		uint32_t mask = 0xffffffffu << (32 - v4_ranges[i].bits);

		if ((v & mask) == v4_ranges[i].net)
			return v4_ranges[i].cls;
	}
	memcpy(a.b, b, 4);
	return is_own(&a, own) ? ADDR_HOST : ADDR_PUBLIC;
}

/* The class of an embedded IPv4 address if that is denied, else fallback. */
static enum addr_class embedded_or(const uint8_t b[4], const struct addr_list *own,
				   enum addr_class fallback)
{
	enum addr_class c = classify_v4(b, own);

	return c != ADDR_PUBLIC ? c : fallback;
}

static enum addr_class classify_v6(const struct addr_ip *a, const struct addr_list *own)
{
	const uint8_t *b = a->b;
	uint16_t w[8];
	bool low96_zero_but_last;
	enum addr_class c;

	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);
	low96_zero_but_last = !w[2] && !w[3] && !w[4] && !w[5] && !w[6];

	if (!w[0] && !w[1] && low96_zero_but_last && w[7] <= 1)
		return w[7] ? ADDR_LOOPBACK : ADDR_UNSPECIFIED;
	if (!w[0] && !w[1] && !w[2] && !w[3] && !w[4] && w[5] == 0xffff)
		return classify_v4(b + 12, own);		/* IPv4-mapped: that address */
	if (!w[0] && !w[1] && !w[2] && !w[3] && w[4] == 0xffff && !w[5])
		return embedded_or(b + 12, own, ADDR_RESERVED);	/* SIIT IPv4-translated */
	if (!w[0] && !w[1] && !w[2] && !w[3] && !w[4] && !w[5])
		return embedded_or(b + 12, own, ADDR_RESERVED);	/* IPv4-compatible (deprecated) */
	if (w[0] == 0x64 && w[1] == 0xff9b && !w[2] && !w[3] && !w[4] && !w[5])
		return classify_v4(b + 12, own);		/* NAT64 well-known prefix */
	if (w[0] == 0x64 && w[1] == 0xff9b && w[2] == 1)
		return ADDR_PRIVATE;				/* local-use NAT64 */
	if (w[0] == 0x100 && !w[1] && !w[2] && !w[3])
		return ADDR_RESERVED;				/* discard-only */
	if (w[0] == 0x2001 && (w[1] < 0x200 || w[1] == 0xdb8))
		return ADDR_RESERVED;	/* IETF assignments (Teredo among them), documentation */
	if (w[0] == 0x2002) {
		c = classify_v4(b + 2, own);			/* 6to4 */
		if (c != ADDR_PUBLIC)
			return c;
	}
	if (w[0] == 0x3fff && w[1] < 0x1000)
		return ADDR_RESERVED;				/* documentation */
	if ((w[0] == 0xfd00 && w[1] == 0xec2 && low96_zero_but_last && w[7] == 0x254) ||
	    (w[0] == 0xfd20 && w[1] == 0xce && low96_zero_but_last && w[7] == 0x254))
		return ADDR_METADATA;				/* AWS, GCP over IPv6 */
	if ((w[0] & 0xfe00) == 0xfc00 || (w[0] & 0xffc0) == 0xfec0)
		return ADDR_PRIVATE;				/* unique local, site-local */
	if ((w[0] & 0xffc0) == 0xfe80)
		return ADDR_LINK_LOCAL;
	if ((w[0] & 0xff00) == 0xff00)
		return ADDR_MULTICAST;
	if ((w[0] & 0xe000) != 0x2000)
		return ADDR_RESERVED;				/* outside global unicast */
	if ((w[4] & 0xfdff) == 0 && w[5] == 0x5efe) {
		c = classify_v4(b + 12, own);			/* ISATAP interface id */
		if (c != ADDR_PUBLIC)
			return c;
	}
	return is_own(a, own) ? ADDR_HOST : ADDR_PUBLIC;
}

enum addr_class addr_classify(const struct addr_ip *a, const struct addr_list *own)
{
	if (a->family == AF_INET)
		return classify_v4(a->b, own);
	return classify_v6(a, own);
}

const char *addr_class_str(enum addr_class c)
{
	switch (c) {
	case ADDR_PUBLIC:
		return "public address";
	case ADDR_UNSPECIFIED:
		return "unspecified address";
	case ADDR_LOOPBACK:
		return "loopback address";
	case ADDR_PRIVATE:
		return "private address";
	case ADDR_SHARED:
		return "shared address (carrier-grade NAT)";
	case ADDR_LINK_LOCAL:
		return "link-local address";
	case ADDR_METADATA:
		return "cloud metadata address";
	case ADDR_MULTICAST:
		return "multicast address";
	case ADDR_BROADCAST:
		return "broadcast address";
	case ADDR_RESERVED:
		return "reserved address";
	case ADDR_HOST:
		return "address of this host";
	}
	return "unknown address class";
}

int addr_list_local(struct addr_list *out)
{
	struct ifaddrs *ifs, *i;
	size_t cap = 0;

	out->v = NULL;
	out->n = 0;
	if (getifaddrs(&ifs) < 0) {
		err_set("cannot list the host's addresses (getifaddrs): %s", strerror(errno));
		return -1;
	}
	for (i = ifs; i; i = i->ifa_next) {
		struct addr_ip a;
		socklen_t len;

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			len = sizeof(struct sockaddr_in);
		else if (i->ifa_addr->sa_family == AF_INET6)
			len = sizeof(struct sockaddr_in6);
		else
			continue;
		addr_from_sockaddr(i->ifa_addr, len, &a);
		if (out->n == cap) {
			cap = cap ? cap * 2 : 8;
			out->v = xrealloc(out->v, cap * sizeof *out->v);
		}
		out->v[out->n++] = a;
	}
	freeifaddrs(ifs);
	return 0;
}

void addr_list_free(struct addr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
