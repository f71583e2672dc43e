/* Unit tests for net/dns.c: what the sandbox's resolver answers. */
#include <string.h>

#include "net/dns.h"
#include "tests/unit/unit.h"

static uint8_t query[DNS_MSG_MAX], answer[DNS_MSG_MAX];
static size_t qlen;
static char name[DNS_NAME_MAX + 1];
static int qtype, rcode;

/* A query for text (dotted, labels written as given) of type t. */
static void make_query(const char *text, int t)
{
	size_t pos = 12;

	memset(query, 0, sizeof query);
	query[0] = 0xab;
	query[1] = 0xcd;
	query[2] = 0x01;	/* RD */
	query[5] = 1;		/* QDCOUNT */
	while (*text) {
		const char *dot = strchr(text, '.');
		size_t n = dot ? (size_t)(dot - text) : strlen(text);

		query[pos++] = (uint8_t)n;
		memcpy(query + pos, text, n);
		pos += n;
		text += n + (dot ? 1 : 0);
	}
	query[pos++] = 0;
	query[pos++] = (uint8_t)(t >> 8);
	query[pos++] = (uint8_t)t;
	query[pos++] = 0;
	query[pos++] = 1;	/* IN */
	qlen = pos;
}

static size_t ask(void)
{
	return dns_answer(query, qlen, answer, sizeof answer, name, &qtype, &rcode);
}

static void test_a_query(void)
{
	size_t n;

	make_query("api.test", 1);
	n = ask();
	EXPECT_INT(n, qlen + 16);
	EXPECT_STR(name, "api.test");
	EXPECT_INT(qtype, 1);
	EXPECT_INT(rcode, DNS_NOERROR);
	EXPECT(answer[0] == 0xab && answer[1] == 0xcd);
	EXPECT_INT(answer[2], 0x85);	/* QR AA RD */
	EXPECT_INT(answer[3], 0x80);	/* RA, NOERROR */
	EXPECT_INT(answer[7], 1);	/* ANCOUNT */
	EXPECT(!memcmp(answer + 12, query + 12, qlen - 12));
	EXPECT(answer[qlen] == 0xc0 && answer[qlen + 1] == 12);
	EXPECT(n == qlen + 16 && !memcmp(answer + n - 4, "\xc6\x12\x00\x01", 4));
}

static void test_other_types(void)
{
	make_query("api.test", 28);	/* AAAA */
	EXPECT_INT(ask(), qlen);
	EXPECT_INT(rcode, DNS_NOERROR);
	EXPECT_INT(answer[7], 0);
	make_query("api.test", 16);	/* TXT */
	EXPECT_INT(ask(), qlen);
	EXPECT_INT(answer[7], 0);
}

static void test_refused_and_nxdomain(void)
{
	/* Addresses and names a resolver could read as addresses get nothing. */
	make_query("127.0.0.1", 1);
	ask();
	EXPECT_INT(rcode, DNS_NXDOMAIN);
	make_query("1.2.3.4.5", 1);
	ask();
	EXPECT_INT(rcode, DNS_NXDOMAIN);
	make_query("a b.test", 1);
	ask();
	EXPECT_INT(rcode, DNS_NXDOMAIN);
	make_query("", 1);
	ask();
	EXPECT_INT(rcode, DNS_NXDOMAIN);

	/* A label holding a dot must not read as two labels. */
	make_query("x", 1);
	query[12] = 8;
	memcpy(query + 13, "evil.com\0\0\1\0\1", 13);
	qlen = 13 + 13;
	ask();
	EXPECT_INT(rcode, DNS_NXDOMAIN);
}

static void test_malformed(void)
{
	make_query("api.test", 1);
	query[2] |= 0x80;	/* a response */
	EXPECT_INT(ask(), 0);
	EXPECT_INT(dns_answer(query, 11, answer, sizeof answer, name, &qtype,
			      &rcode), 0);

	make_query("api.test", 1);
	query[5] = 2;		/* two questions */
	EXPECT_INT(ask(), 12);
	EXPECT_INT(rcode, DNS_FORMERR);

	make_query("api.test", 1);
	query[2] = 0x10;	/* opcode 2 */
	EXPECT_INT(ask(), 12);
	EXPECT_INT(rcode, DNS_NOTIMP);

	make_query("api.test", 1);
	query[12] = 0xc0;	/* compression pointer in the question */
	EXPECT_INT(ask(), 12);
	EXPECT_INT(rcode, DNS_FORMERR);

	make_query("api.test", 1);
	qlen -= 3;		/* truncated type and class */
	EXPECT_INT(ask(), 12);
	EXPECT_INT(rcode, DNS_FORMERR);

	make_query("api.test", 1);
	query[12] = 60;		/* label past the end */
	EXPECT_INT(ask(), 12);
	EXPECT_INT(rcode, DNS_FORMERR);

	make_query("api.test", 1);
	query[qlen - 1] = 3;	/* class CH */
	ask();
	EXPECT_INT(rcode, DNS_REFUSED);
}

/* What the decision log says of a question and its answer. */
static void test_log_names(void)
{
	char buf[DNS_TYPE_NAME_MAX];

	EXPECT_STR(dns_type_name(1, buf), "A");
	EXPECT_STR(dns_type_name(28, buf), "AAAA");
	EXPECT_STR(dns_type_name(65, buf), "HTTPS");
	EXPECT_STR(dns_type_name(99, buf), "TYPE99");
	EXPECT_STR(dns_type_name(65535, buf), "TYPE65535");
	EXPECT_STR(dns_rcode_name(DNS_NXDOMAIN, buf), "NXDOMAIN");
	EXPECT_STR(dns_rcode_name(9, buf), "RCODE9");
	EXPECT_STR(dns_answer_addr(1, DNS_NOERROR), DNS_SYNTHETIC_ADDR);
	EXPECT(!dns_answer_addr(28, DNS_NOERROR));
	EXPECT(!dns_answer_addr(1, DNS_NXDOMAIN));
	/* The address logged is the one the answer holds. */
	make_query("api.test", 1);
	EXPECT(ask() == qlen + 16 && !memcmp(answer + qlen + 12, "\xc6\x12\x00\x01", 4));
	EXPECT_STR(dns_answer_addr(qtype, rcode), "198.18.0.1");
}

int main(void)
{
	RUN(test_a_query);
	RUN(test_other_types);
	RUN(test_refused_and_nxdomain);
	RUN(test_malformed);
	RUN(test_log_names);
	UNIT_EXIT();
}
