/*
 * dns: the sandbox's resolver. The guest's DNS queries never leave the
 * host: every name that could be a host gets one synthetic address, the
 * same for all, and the guest's connection to it lands at the egress
 * proxy (all its TCP does), which judges the request by its Host header
 * or CONNECT target and looks the name up itself. So a name tells the
 * guest nothing, and DNS is no way out; in mode none nothing resolves at
 * all, so that tools fail at once.
 */
#ifndef SMOLVM_DNS_H
#define SMOLVM_DNS_H

#include <stddef.h>
#include <stdint.h>

/* The port the resolver listens on, on the host end of the tap. */
#define DNS_PORT 53
/* The answer to every A query: in 198.18.0.0/15 (benchmarking), so never a
 * real destination, and refused by the proxy as a Host. */
#define DNS_SYNTHETIC_ADDR "198.18.0.1"
/* Largest query read and answer written (plain DNS over UDP). */
#define DNS_MSG_MAX 512
#define DNS_NAME_MAX 255

/* DNS response codes. */
enum dns_rcode {
	DNS_NOERROR = 0,
	DNS_FORMERR = 1,
	DNS_NXDOMAIN = 3,
	DNS_NOTIMP = 4,
	DNS_REFUSED = 5,
};

/*
 * Answer the query q[0..qlen) into out (out_size >= DNS_MSG_MAX). A queries
 * for a valid host name get DNS_SYNTHETIC_ADDR, other types of record for
 * one an empty answer; names that are not host names (or are addresses)
 * NXDOMAIN. The answer is the same under every policy, even mode none: it
 * reveals nothing, and the request that follows reaches the proxy, which
 * judges and logs it (so a blocked request shows up in the log, not as a
 * failed lookup). Returns the answer's length, or 0 to drop the packet
 * (a response, or too short to answer). name gets the queried name as
 * text ("" if none was read), *qtype its type and *rcode the answer's code.
 */
size_t dns_answer(const uint8_t *q, size_t qlen, uint8_t *out, size_t out_size,
		  char name[DNS_NAME_MAX + 1], int *qtype, int *rcode);

/*
 * For the decision log, where each question answered is a line (kind
 * "dns"): the name of a question's type ("A", "AAAA", or "TYPE65" for the
 * ones without a name here) written into out, the name of a response code
 * ("NOERROR", "NXDOMAIN", or "RCODE9"), and the address an answer of this
 * type and code holds (NULL: no record).
 */
#define DNS_TYPE_NAME_MAX 12
const char *dns_type_name(int qtype, char out[DNS_TYPE_NAME_MAX]);
const char *dns_rcode_name(int rcode, char out[DNS_TYPE_NAME_MAX]);
const char *dns_answer_addr(int qtype, int rcode);

#endif
