#include "net/nft.h"

#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/util.h"
#include "net/netns.h"

/*
 * The first two lines make the table exist so that the delete cannot fail,
 * and the whole text is one transaction: the namespace never has a moment
 * with half a ruleset or none. Redirected connections carry conntrack's
 * dnat status, which is how input tells them from a guest packet aimed at
 * the host end directly. IPv6 is never redirected, so it is dropped whole.
 */
char *nft_ruleset(const char *ifname, int proxy_port, int dns_port)
{
	return xasprintf(
		"table inet smolvm\n"
		"delete table inet smolvm\n"
		"table inet smolvm {\n"
		"\tchain prerouting {\n"
		"\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
		"\t\tiifname \"%s\" meta nfproto ipv4 meta l4proto tcp redirect to :%d\n"
		"\t\tiifname \"%s\" meta nfproto ipv4 udp dport 53 redirect to :%d\n"
		"\t}\n"
		"\tchain input {\n"
		"\t\ttype filter hook input priority filter; policy accept;\n"
		"\t\tiifname != \"%s\" accept\n"
		"\t\tct state established,related accept\n"
		"\t\tmeta nfproto ipv4 tcp dport %d accept\n"
		"\t\tmeta nfproto ipv4 udp dport %d accept\n"
		"\t\tcounter drop\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy drop;\n"
		"\t\tcounter drop\n"
		"\t}\n"
		"}\n",
		ifname, proxy_port, ifname, dns_port, ifname, proxy_port, dns_port);
}

struct apply_job {
	const char *netns;
	const char *text;
	char err[1024];
};

/* In a thread of its own: the netlink socket libnftables opens belongs to the
 * namespace the thread is in, and no other thread ever enters it. */
static void *apply_thread(void *arg)
{
	struct apply_job *job = arg;
	struct nft_ctx *ctx;
	int saved;

	if (netns_enter(job->netns, &saved) < 0) {
		snprintf(job->err, sizeof job->err, "%s", err_msg());
		return NULL;
	}
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(job->err, sizeof job->err, "cannot start libnftables");
	} else {
		nft_ctx_buffer_output(ctx);
		nft_ctx_buffer_error(ctx);
		if (nft_run_cmd_from_buffer(ctx, job->text) != 0) {
			const char *e = nft_ctx_get_error_buffer(ctx);

			snprintf(job->err, sizeof job->err, "%s", e && *e ? e : "failed");
			job->err[strcspn(job->err, "\n")] = '\0';
			if (!job->err[0])
				snprintf(job->err, sizeof job->err, "failed");
		}
		nft_ctx_free(ctx);
	}
	if (netns_leave(saved) < 0)
		die("%s", err_msg());
	return NULL;
}

static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

int nft_apply(const char *netns, const char *ifname, int proxy_port, int dns_port)
{
	struct apply_job job = { .netns = netns };
	pthread_t th;
	char *text;
	int rc;

	if (!ifname_ok(ifname)) {
		err_set("invalid interface name '%s'", ifname);
		return -1;
	}
	text = nft_ruleset(ifname, proxy_port, dns_port);
	job.text = text;
	rc = pthread_create(&th, NULL, apply_thread, &job);
	if (rc)
		snprintf(job.err, sizeof job.err, "cannot start a thread: %s", strerror(rc));
	else
		pthread_join(th, NULL);
	free(text);
	if (job.err[0]) {
		err_set("cannot install the packet rules in network namespace %s: %s (is nftables "
			"support in the kernel? it needs nf_tables, nat and conntrack)", netns,
			job.err);
		return -1;
	}
	return 0;
}
