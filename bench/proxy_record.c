/*
 * proxy_record: a sandbox for bench/proxy that never boots: its record in
 * $SMOLVM_HOME, its namespace and its tap, made by the same functions as a
 * real sandbox's, so that `smolvm __proxy ID` serves it as it would a
 * running one and `smolvm rm --force ID` removes it. Prints
 * "ID NETNS HOST_IP". Needs root.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend/store.h"
#include "backend/util.h"
#include "net/netns.h"
#include "net/tap.h"

int main(int argc, char **argv)
{
	struct sandbox sb = { .mem_mib = 256, .cpus = 1, .prefix_len = 30 };

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: proxy_record (with SMOLVM_HOME set)\n");
		return 2;
	}
	store_new_id(sb.id);
	snprintf(sb.name, sizeof sb.name, "bench-proxy-%s", sb.id);
	snprintf(sb.state, sizeof sb.state, "%s", SB_STOPPED);
	snprintf(sb.image, sizeof sb.image, "tiny");
	snprintf(sb.accel, sizeof sb.accel, "tcg");
	snprintf(sb.netns, sizeof sb.netns, "smolvm-%s", sb.id);
	snprintf(sb.host_ip, sizeof sb.host_ip, "10.77.255.1");
	snprintf(sb.guest_ip, sizeof sb.guest_ip, "10.77.255.2");
	sb.created = (int64_t)time(NULL);
	if (store_save(&sb) < 0)
		die("%s", err_msg());
	if (netns_create(sb.netns) < 0 || tap_setup(sb.netns, "tap0", sb.host_ip, sb.prefix_len) < 0) {
		const char *why = err_msg();

		netns_remove(sb.netns);
		store_remove(sb.id);
		die("%s", why);
	}
	printf("%s %s %s\n", sb.id, sb.netns, sb.host_ip);
	return 0;
}
