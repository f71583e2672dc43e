/* Unit tests for net/addr.c: every spelling of an address, and the always-denied classes. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"
#include "tests/unit/unit.h"

static struct addr_ip ip(const char *s)
{
	struct addr_ip a = { 0 };

	if (!addr_parse(s, strlen(s), ADDR_LOOSE, &a))
		printf("#   \"%s\" did not parse\n", s);
	return a;
}

static const char *fmt(const struct addr_ip *a)
{
	static char buf[ADDR_STR_MAX];

	addr_format(a, buf);
	return buf;
}

/* What glibc's getaddrinfo() makes of s as a numeric host, the behaviour
 * addr_parse(ADDR_LOOSE) must have: it is the resolver the proxy sits on. */
static bool libc_parse(const char *s, struct addr_ip *out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_flags = AI_NUMERICHOST }, *res;

	if (getaddrinfo(s, NULL, &hints, &res))
		return false;
	addr_from_sockaddr(res->ai_addr, res->ai_addrlen, out);
	freeaddrinfo(res);
	return true;
}

static void expect_like_libc(const char *s)
{
	struct addr_ip mine = { 0 }, libc = { 0 };
	bool m = addr_parse(s, strlen(s), ADDR_LOOSE, &mine), l = libc_parse(s, &libc);

	if (m != l || (m && (mine.family != libc.family || memcmp(mine.b, libc.b, 16)))) {
		printf("#   \"%s\": addr_parse %s, getaddrinfo %s\n", s, m ? fmt(&mine) : "refuses",
		       l ? fmt(&libc) : "refuses");
		unit_failed_current = 1;
	}
}

/* Every spelling of 127.0.0.1 the resolver takes is read as 127.0.0.1. */
static void loopback_spellings(void)
{
	static const char *const spellings[] = {
		"127.0.0.1", "2130706433", "0x7f000001", "0X7F000001", "0x7F000001",
		"017700000001", "0177.0.0.1", "0177.0000.0000.0001", "127.1", "127.0.1",
		"0x7f.1", "0x7f.0.0.1", "0x7f.0x0.0x0.0x1", "0x00000000007f.1", "127.00000001",
		"0x7f.0.1", "127.0x1", "127.0.0x1", "0177.1", "0177.0x0.1",
	};
	struct addr_ip lo = ip("127.0.0.1");

	for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
		struct addr_ip a = ip(spellings[i]);

		EXPECT_INT(a.family, AF_INET);
		if (!addr_equal(&a, &lo))
			printf("#   %s read as %s\n", spellings[i], fmt(&a));
		EXPECT(addr_equal(&a, &lo));
		EXPECT_INT(addr_classify(&a, NULL), ADDR_LOOPBACK);
		expect_like_libc(spellings[i]);
	}
}

static void ipv4_forms_agree_with_libc(void)
{
	static const char *const cases[] = {
		"0", "1", "4294967295", "4294967296", "0xffffffff", "0x100000000",
		"1.16777215", "1.16777216", "1.2.65535", "1.2.65536", "1.2.3.255", "1.2.3.256",
		"256.1", "255.255.255.255", "0.0.0.0", "00", "08", "0x", "0x.1", "0xg", "1a",
		"1.2.3.4.", "1.2.3.4.5", "1..2", ".1", "1.", "-1", "+1", " 1", "1 ", "1\t",
		"127.0.0.1 x", "0x0x1", "00x1", "0x1.0x2.0x3.0x4", "01.02.03.04", "09.1",
		"0000000000000000000000000000000000001", "99999999999999999999999", "",
		"169.254.43518", "0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "2852039166",
		"0xa9fea9fe", "18446744073709551616", "18446744073709551617",
		"0x10000000000000001", "1.18446744073709551617", "0x7f.0x10000000000000001",
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_like_libc(cases[i]);
}

static void ipv6_forms_agree_with_libc(void)
{
	static const char *const cases[] = {
		"::", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::FFFF:7F00:0001",
		"::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::127.0.0.1", "2002:7f00:1::",
		"fd00:ec2::254", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"1::8", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4", "0:0:0:0:0:ffff:127.0.0.1",
		"1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", ":::", "1:::2",
		"1::2::3", "12345::", "::ffff:127.0.0.01", "::ffff:1.2.3", "::ffff:1.2.3.4.5",
		"::ffff:256.1.1.1", ":1::", "1:", "::g", "[::1]", "::1.2.3.4:1",
		"1:2:3:4:5:6:7:1.2.3.4",
		"00000::", "0000::", "::0x1", "::ffff:0x7f.1", "::ffff:127.1",
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		expect_like_libc(cases[i]);
}

static void random_part(char *s, size_t *o)
{
	static const char *const prefixes[] = { "", "", "0", "0x", "0X", "00" };
	static const char digits[] = "0123456789abcdefABCDEF";
	int n = rand() % 12;

	for (const char *p = prefixes[rand() % 6]; *p; p++)
		s[(*o)++] = *p;
	for (int i = 0; i < n; i++)
		s[(*o)++] = digits[rand() % (rand() % 2 ? 8 : rand() % 2 ? 10 : 22)];
}

/* Random near-addresses (dotted parts in every base, IPv6 groups with "::"
 * and dotted tails, stray characters), each against getaddrinfo. */
static void random_forms_agree_with_libc(void)
{
	static const char stray[] = "0123456789abcdefxX.:";
	char s[128];

	srand(20250101);
	for (int n = 0; n < 300000 && !unit_failed_current; n++) {
		size_t o = 0;
		int kind = rand() % 3, parts = 1 + rand() % (kind == 1 ? 9 : 5);

		for (int i = 0; i < parts; i++) {
			if (i)
				s[o++] = kind == 1 ? ':' : '.';
			if (kind == 1 && rand() % 6 == 0)
				s[o++] = ':';
			if (kind == 1 && i == parts - 1 && rand() % 3 == 0) {
				o += (size_t)sprintf(s + o, "%d.%d.%d.%d", rand() % 300,
						     rand() % 256, rand() % 256, rand() % 256);
			} else if (kind == 2) {
				for (int k = rand() % 5; k >= 0; k--)
					s[o++] = stray[rand() % (sizeof stray - 1)];
			} else if (kind == 1) {
				for (int k = rand() % 6; k > 0; k--)
					s[o++] = "0123456789abcdefABCDEF"[rand() % 22];
			} else {
				random_part(s, &o);
			}
		}
		s[o] = '\0';
		expect_like_libc(s);
	}
}

static void strict_syntax(void)
{
	struct addr_ip a;

	EXPECT(addr_parse("127.0.0.1", 9, ADDR_STRICT, &a));
	EXPECT(addr_parse("0.0.0.0", 7, ADDR_STRICT, &a));
	EXPECT(!addr_parse("127.1", 5, ADDR_STRICT, &a));
	EXPECT(!addr_parse("2130706433", 10, ADDR_STRICT, &a));
	EXPECT(!addr_parse("0x7f.0.0.1", 10, ADDR_STRICT, &a));
	EXPECT(!addr_parse("0177.0.0.1", 10, ADDR_STRICT, &a));
	EXPECT(!addr_parse("127.0.0.01", 10, ADDR_STRICT, &a));
	EXPECT(!addr_parse("256.0.0.1", 9, ADDR_STRICT, &a));
	EXPECT(addr_parse("::ffff:127.0.0.1", 16, ADDR_STRICT, &a));
	EXPECT_INT(a.family, AF_INET6);
}

/* A length, not the NUL, ends the input: "127.0.0.1x" cut at 9 is 127.0.0.1. */
static void length_bounds_input(void)
{
	struct addr_ip a;

	EXPECT(addr_parse("127.0.0.1x", 9, ADDR_LOOSE, &a));
	EXPECT_STR(fmt(&a), "127.0.0.1");
	EXPECT(!addr_parse("127.0.0.1x", 10, ADDR_LOOSE, &a));
	EXPECT(!addr_parse("", 0, ADDR_LOOSE, &a));
}

static void zone_ids(void)
{
	struct addr_ip a;

	EXPECT(addr_parse("fe80::1%eth0", 12, ADDR_LOOSE, &a));
	EXPECT(a.zone);
	EXPECT_STR(fmt(&a), "fe80::1");
	EXPECT(addr_parse("fe80::1%25eth0", 14, ADDR_LOOSE, &a));
	EXPECT(a.zone);
	EXPECT(addr_parse("::1%1", 5, ADDR_LOOSE, &a));
	EXPECT(a.zone);
	EXPECT(!addr_parse("fe80::1%", 8, ADDR_LOOSE, &a));
	EXPECT(!addr_parse("127.0.0.1%eth0", 14, ADDR_LOOSE, &a));
	EXPECT(!addr_parse("fe80::1%et h0", 13, ADDR_LOOSE, &a));
	EXPECT(addr_parse("fe80::1", 7, ADDR_LOOSE, &a));
	EXPECT(!a.zone);
}

struct want {
	const char *addr;
	enum addr_class cls;
};

static void expect_classes(const struct want *w, size_t n, const struct addr_list *own)
{
	for (size_t i = 0; i < n; i++) {
		struct addr_ip a = ip(w[i].addr);
		enum addr_class c = addr_classify(&a, own);

		if (c != w[i].cls) {
			printf("#   %s is \"%s\", want \"%s\"\n", w[i].addr, addr_class_str(c),
			       addr_class_str(w[i].cls));
			unit_failed_current = 1;
		}
	}
}

static void ipv4_classes(void)
{
	static const struct want w[] = {
		{ "127.0.0.1", ADDR_LOOPBACK }, { "127.255.255.254", ADDR_LOOPBACK },
		{ "127.1", ADDR_LOOPBACK }, { "0.0.0.0", ADDR_UNSPECIFIED },
		{ "0", ADDR_UNSPECIFIED }, { "0.1.2.3", ADDR_UNSPECIFIED },
		{ "10.0.0.1", ADDR_PRIVATE }, { "10.255.255.255", ADDR_PRIVATE },
		{ "012.1", ADDR_PRIVATE }, { "167772161", ADDR_PRIVATE },
		{ "172.16.0.1", ADDR_PRIVATE }, { "172.31.255.255", ADDR_PRIVATE },
		{ "172.15.255.255", ADDR_PUBLIC }, { "172.32.0.1", ADDR_PUBLIC },
		{ "192.168.0.1", ADDR_PRIVATE }, { "192.168.255.255", ADDR_PRIVATE },
		{ "0xc0a80001", ADDR_PRIVATE }, { "192.169.0.1", ADDR_PUBLIC },
		{ "100.64.0.1", ADDR_SHARED }, { "100.127.255.255", ADDR_SHARED },
		{ "100.63.255.255", ADDR_PUBLIC }, { "100.128.0.0", ADDR_PUBLIC },
		{ "169.254.169.254", ADDR_METADATA }, { "2852039166", ADDR_METADATA },
		{ "0xa9fea9fe", ADDR_METADATA }, { "0251.0376.0251.0376", ADDR_METADATA },
		{ "169.254.43518", ADDR_METADATA }, { "0xa9.0xfe.0xa9.0xfe", ADDR_METADATA },
		{ "169.254.170.2", ADDR_METADATA }, { "100.100.100.200", ADDR_METADATA },
		{ "192.0.0.192", ADDR_METADATA }, { "169.254.0.1", ADDR_LINK_LOCAL },
		{ "169.254.255.255", ADDR_LINK_LOCAL }, { "169.254.169.253", ADDR_LINK_LOCAL },
		{ "169.254.169.255", ADDR_LINK_LOCAL }, { "224.0.0.1", ADDR_MULTICAST },
		{ "239.255.255.250", ADDR_MULTICAST }, { "255.255.255.255", ADDR_BROADCAST },
		{ "4294967295", ADDR_BROADCAST }, { "240.0.0.1", ADDR_RESERVED },
		{ "255.255.255.254", ADDR_RESERVED }, { "192.0.0.8", ADDR_RESERVED },
		{ "192.0.2.1", ADDR_RESERVED }, { "192.88.99.1", ADDR_RESERVED },
		{ "198.18.0.1", ADDR_RESERVED }, { "198.19.255.255", ADDR_RESERVED },
		{ "198.20.0.0", ADDR_PUBLIC }, { "198.51.100.7", ADDR_RESERVED },
		{ "203.0.113.9", ADDR_RESERVED }, { "8.8.8.8", ADDR_PUBLIC },
		{ "1.1.1.1", ADDR_PUBLIC }, { "93.184.216.34", ADDR_PUBLIC },
		{ "126.255.255.255", ADDR_PUBLIC }, { "128.0.0.0", ADDR_PUBLIC },
		{ "223.255.255.255", ADDR_PUBLIC }, { "11.0.0.0", ADDR_PUBLIC },
		{ "9.255.255.255", ADDR_PUBLIC }, { "1.0.0.0", ADDR_PUBLIC },
	};

	expect_classes(w, sizeof w / sizeof w[0], NULL);
}

/* IPv6 forms that reach (or embed) a denied IPv4 address take its class. */
static void ipv6_classes(void)
{
	static const struct want w[] = {
		{ "::", ADDR_UNSPECIFIED }, { "::1", ADDR_LOOPBACK },
		{ "0:0:0:0:0:0:0:1", ADDR_LOOPBACK }, { "::2", ADDR_UNSPECIFIED },
		{ "::ffff:127.0.0.1", ADDR_LOOPBACK }, { "::ffff:7f00:1", ADDR_LOOPBACK },
		{ "::ffff:7f01:203", ADDR_LOOPBACK }, { "::ffff:0.0.0.0", ADDR_UNSPECIFIED },
		{ "::ffff:169.254.169.254", ADDR_METADATA }, { "::ffff:a9fe:a9fe", ADDR_METADATA },
		{ "::ffff:10.1.2.3", ADDR_PRIVATE }, { "::ffff:192.168.1.1", ADDR_PRIVATE },
		{ "::ffff:8.8.8.8", ADDR_PUBLIC }, { "::127.0.0.1", ADDR_LOOPBACK },
		{ "::7f00:1", ADDR_LOOPBACK }, { "::a9fe:a9fe", ADDR_METADATA },
		{ "::8.8.8.8", ADDR_RESERVED }, { "::ffff:0:127.0.0.1", ADDR_LOOPBACK },
		{ "::ffff:0:8.8.8.8", ADDR_RESERVED }, { "64:ff9b::7f00:1", ADDR_LOOPBACK },
		{ "64:ff9b::127.0.0.1", ADDR_LOOPBACK }, { "64:ff9b::a9fe:a9fe", ADDR_METADATA },
		{ "64:ff9b::10.0.0.1", ADDR_PRIVATE }, { "64:ff9b::808:808", ADDR_PUBLIC },
		{ "64:ff9b:1::7f00:1", ADDR_PRIVATE }, { "64:ff9b:1::808:808", ADDR_PRIVATE },
		{ "2002:7f00:1::", ADDR_LOOPBACK }, { "2002:7f00:1::1", ADDR_LOOPBACK },
		{ "2002:7f00:0001:ffff::1", ADDR_LOOPBACK }, { "2002:a9fe:a9fe::1", ADDR_METADATA },
		{ "2002:c0a8:101::1", ADDR_PRIVATE }, { "2002:0a00:1::", ADDR_PRIVATE },
		{ "2002::1", ADDR_UNSPECIFIED }, { "2002:808:808::1", ADDR_PUBLIC },
		{ "2001::1", ADDR_RESERVED },
		{ "2001:0:4136:e378:8000:63bf:3fff:fdd2", ADDR_RESERVED },
		{ "2001:db8::1", ADDR_RESERVED }, { "2001:1ff::1", ADDR_RESERVED },
		{ "2001:200::1", ADDR_PUBLIC }, { "3fff::1", ADDR_RESERVED },
		{ "3fff:fff::1", ADDR_RESERVED }, { "3fff:1000::1", ADDR_PUBLIC },
		{ "100::1", ADDR_RESERVED }, { "fd00:ec2::254", ADDR_METADATA },
		{ "fd20:ce::254", ADDR_METADATA }, { "fd00:ec2::253", ADDR_PRIVATE },
		{ "fc00::1", ADDR_PRIVATE }, { "fdff:ffff::1", ADDR_PRIVATE },
		{ "fe80::1", ADDR_LINK_LOCAL }, { "febf::1", ADDR_LINK_LOCAL },
		{ "fec0::1", ADDR_PRIVATE }, { "ff02::1", ADDR_MULTICAST },
		{ "ff0e::1", ADDR_MULTICAST }, { "4000::1", ADDR_RESERVED },
		{ "5f00::1", ADDR_RESERVED }, { "1::1", ADDR_RESERVED },
		{ "e000::1", ADDR_RESERVED }, { "2606:4700:4700::1111", ADDR_PUBLIC },
		{ "2001:4860:4860::8888", ADDR_PUBLIC }, { "2a00:1450:4001::1", ADDR_PUBLIC },
		{ "2a00::5efe:7f00:1", ADDR_LOOPBACK },
		{ "2a00::200:5efe:a9fe:a9fe", ADDR_METADATA },
		{ "2a00::5efe:808:808", ADDR_PUBLIC }, { "2a00::1:5efe:7f00:1", ADDR_PUBLIC },
		{ "fe80::5efe:7f00:1", ADDR_LINK_LOCAL },
	};

	expect_classes(w, sizeof w / sizeof w[0], NULL);
}

/* The host's own addresses, in every form that dials them. */
static void own_addresses(void)
{
	struct addr_ip v[] = { ip("93.184.216.34"), ip("2606:2800:220:1::1") };
	struct addr_list own = { v, 2 };
	static const struct want w[] = {
		{ "93.184.216.34", ADDR_HOST }, { "1572395042", ADDR_HOST },
		{ "::ffff:93.184.216.34", ADDR_HOST }, { "2002:5db8:d822::1", ADDR_HOST },
		{ "64:ff9b::5db8:d822", ADDR_HOST }, { "::93.184.216.34", ADDR_HOST },
		{ "2606:2800:220:1::1", ADDR_HOST }, { "2606:2800:220:1::2", ADDR_PUBLIC },
		{ "93.184.216.35", ADDR_PUBLIC }, { "127.0.0.1", ADDR_LOOPBACK },
	};

	expect_classes(w, sizeof w / sizeof w[0], &own);
}

static void every_denied_class_has_a_description(void)
{
	for (int c = ADDR_PUBLIC; c <= ADDR_HOST; c++)
		EXPECT(strcmp(addr_class_str(c), "unknown address class"));
	EXPECT_STR(addr_class_str(ADDR_LOOPBACK), "loopback address");
}

static void equality(void)
{
	struct addr_ip v4 = ip("127.0.0.1"), mapped = ip("::ffff:127.0.0.1");
	struct addr_ip compat = ip("::127.0.0.1"), nat64 = ip("64:ff9b::7f00:1");
	struct addr_ip a = ip("2001:db8::1"), b = ip("2001:DB8:0::1"), c = ip("2001:db8::2");

	EXPECT(addr_equal(&v4, &mapped));
	EXPECT(addr_equal(&mapped, &v4));
	EXPECT(!addr_equal(&v4, &compat));
	EXPECT(!addr_equal(&v4, &nat64));
	EXPECT(addr_equal(&a, &b));
	EXPECT(!addr_equal(&a, &c));
	EXPECT(!addr_equal(&v4, &a));
}

static void format_is_standard(void)
{
	struct addr_ip a = ip("0x7f.1"), b = ip("2001:DB8:0:0:0:0:0:1"), c = ip("::ffff:7f00:1");

	EXPECT_STR(fmt(&a), "127.0.0.1");
	EXPECT_STR(fmt(&b), "2001:db8::1");
	EXPECT_STR(fmt(&c), "::ffff:127.0.0.1");
}

static void sockaddr_round_trip(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_scope_id = 2 };
	struct addr_ip a = ip("169.254.169.254"), b;
	socklen_t len = addr_to_sockaddr(&a, 80, &ss);

	EXPECT_INT(len, sizeof(struct sockaddr_in));
	EXPECT_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 80);
	EXPECT_INT(addr_from_sockaddr((struct sockaddr *)&ss, len, &b), 0);
	EXPECT(addr_equal(&a, &b));
	EXPECT_INT(addr_classify(&b, NULL), ADDR_METADATA);

	a = ip("fd00:ec2::254");
	len = addr_to_sockaddr(&a, 443, &ss);
	EXPECT_INT(len, sizeof(struct sockaddr_in6));
	EXPECT_INT(addr_from_sockaddr((struct sockaddr *)&ss, len, &b), 0);
	EXPECT(addr_equal(&a, &b));
	EXPECT(!b.zone);

	inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr);
	EXPECT_INT(addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &b), 0);
	EXPECT(b.zone);
	EXPECT_INT(addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6 - 1, &b), -1);
	ss.ss_family = AF_UNIX;
	EXPECT_INT(addr_from_sockaddr((struct sockaddr *)&ss, sizeof ss, &b), -1);
}

/* Whatever interfaces this namespace has, each address is classed as denied. */
static void local_addresses_are_denied(void)
{
	struct addr_list own;

	EXPECT_INT(addr_list_local(&own), 0);
	for (size_t i = 0; i < own.n; i++)
		EXPECT(addr_classify(&own.v[i], &own) != ADDR_PUBLIC);
	addr_list_free(&own);
	EXPECT(own.v == NULL && own.n == 0);
}

int main(void)
{
	RUN(loopback_spellings);
	RUN(ipv4_forms_agree_with_libc);
	RUN(ipv6_forms_agree_with_libc);
	RUN(random_forms_agree_with_libc);
	RUN(strict_syntax);
	RUN(length_bounds_input);
	RUN(zone_ids);
	RUN(ipv4_classes);
	RUN(ipv6_classes);
	RUN(own_addresses);
	RUN(every_denied_class_has_a_description);
	RUN(equality);
	RUN(format_is_standard);
	RUN(sockaddr_round_trip);
	RUN(local_addresses_are_denied);
	UNIT_EXIT();
}
