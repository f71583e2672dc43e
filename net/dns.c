#include "net/dns.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "net/match.h"

#define HDR_LEN 12
#define TYPE_A 1
#define CLASS_IN 1
#define ANSWER_TTL 5

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * The question's name at q[HDR_LEN..] as dotted text. Returns the offset
 * just past the name, or 0 if it is malformed (a compression pointer, a
 * label running past the end, longer than 255 bytes). *valid is false for
 * a name that cannot be spelt as text (a '.' or a byte outside printable
 * ASCII inside a label).
 */
static size_t read_name(const uint8_t *q, size_t qlen, char name[DNS_NAME_MAX + 1], bool *valid)
{
	size_t pos = HDR_LEN, out = 0;

	*valid = true;
	name[0] = '\0';
	for (;;) {
		uint8_t n;

		if (pos >= qlen)
			return 0;
		n = q[pos++];
		if (n == 0)
			break;
		if (n > 63 || pos + n > qlen || out + n + 1 > DNS_NAME_MAX)
			return 0;
		if (out)
			name[out++] = '.';
		for (uint8_t i = 0; i < n; i++) {
			uint8_t c = q[pos + i];

			if (c <= 0x20 || c >= 0x7f || c == '.') {
				*valid = false;
				c = '?';
			}
			name[out++] = (char)c;
		}
		name[out] = '\0';
		pos += n;
	}
	return pos;
}

/* Only the header (no sections) with rcode: for queries we cannot read. */
static size_t bare(const uint8_t *q, uint8_t *out, int rcode, int *rc_out)
{
	memset(out, 0, HDR_LEN);
	memcpy(out, q, 2);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79));	/* QR, opcode and RD kept */
	out[3] = (uint8_t)(0x80 | rcode);		/* RA */
	*rc_out = rcode;
	return HDR_LEN;
}

size_t dns_answer(const uint8_t *q, size_t qlen, uint8_t *out, size_t out_size,
		  char name[DNS_NAME_MAX + 1], int *qtype, int *rcode)
{
	struct match_host host;
	const char *why;
	size_t end, len;
	bool valid;
	int rc;

	name[0] = '\0';
	*qtype = 0;
	if (qlen < HDR_LEN || out_size < DNS_MSG_MAX || (q[2] & 0x80))
		return 0;
	if ((q[2] >> 3 & 0x0f) != 0)
		return bare(q, out, DNS_NOTIMP, rcode);
	if (get16(q + 4) != 1 || get16(q + 6) != 0 || get16(q + 8) != 0)
		return bare(q, out, DNS_FORMERR, rcode);
	end = read_name(q, qlen, name, &valid);
	if (!end || end + 4 > qlen || end + 4 + 16 > DNS_MSG_MAX)
		return bare(q, out, DNS_FORMERR, rcode);
	*qtype = get16(q + end);
	if (get16(q + end + 2) != CLASS_IN)
		rc = DNS_REFUSED;
	else if (!valid || !name[0] || !match_host_parse(name, strlen(name), &host, &why) ||
		 host.is_ip)
		rc = DNS_NXDOMAIN;
	else
		rc = DNS_NOERROR;

	/* Header, the question as asked, and for A one answer pointing back at it. */
	len = end + 4;
	memcpy(out, q, len);
	out[2] = (uint8_t)(0x84 | (q[2] & 0x01));	/* QR, AA, RD kept */
	out[3] = (uint8_t)(0x80 | rc);			/* RA */
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	if (dns_answer_addr(*qtype, rc)) {
		struct in_addr a;

		inet_pton(AF_INET, dns_answer_addr(*qtype, rc), &a);
		put16(out + len, 0xc000 | HDR_LEN);
		put16(out + len + 2, TYPE_A);
		put16(out + len + 4, CLASS_IN);
		put16(out + len + 6, 0);
		put16(out + len + 8, ANSWER_TTL);
		put16(out + len + 10, 4);
		memcpy(out + len + 12, &a, 4);
		len += 16;
		put16(out + 6, 1);
	}
	*rcode = rc;
	return len;
}

const char *dns_type_name(int qtype, char out[DNS_TYPE_NAME_MAX])
{
	static const struct {
		int type;
		const char *name;
	} names[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" },
		{ 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 64, "SVCB" },
		{ 65, "HTTPS" }, { 255, "ANY" },
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].type == qtype)
			return names[i].name;
	snprintf(out, DNS_TYPE_NAME_MAX, "TYPE%d", qtype & 0xffff);
	return out;
}

const char *dns_rcode_name(int rcode, char out[DNS_TYPE_NAME_MAX])
{
	switch (rcode) {
	case DNS_NOERROR: return "NOERROR";
	case DNS_FORMERR: return "FORMERR";
	case DNS_NXDOMAIN: return "NXDOMAIN";
	case DNS_NOTIMP: return "NOTIMP";
	case DNS_REFUSED: return "REFUSED";
	}
	snprintf(out, DNS_TYPE_NAME_MAX, "RCODE%d", rcode & 0xf);
	return out;
}

const char *dns_answer_addr(int qtype, int rcode)
{
	return qtype == TYPE_A && rcode == DNS_NOERROR ? DNS_SYNTHETIC_ADDR : NULL;
}
