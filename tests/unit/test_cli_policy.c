/* Unit tests for the policy `create --policy/--publish` builds (backend/cli_policy.c) and
 * the ingress port check (net/ingress.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/util.h"
#include "net/ingress.h"
#include "net/policy.h"
#include "tests/unit/unit.h"

static char dir[256];

static char *write_policy(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);

	EXPECT_INT(util_write_atomic(path, text, strlen(text), 0600), 0);
	return path;
}

static int build(const char *file, const char **specs, int n, struct policy **out)
{
	struct arg_list l = { specs, n };

	return cli_policy_for_create(file, &l, out);
}

static void neither_means_no_policy(void)
{
	struct policy *p = (struct policy *)&p;

	EXPECT_INT(build(NULL, NULL, 0, &p), 0);
	EXPECT(p == NULL);
}

static void file_alone(void)
{
	char *f = write_policy("a.json", "{\"mode\": \"allowlist\", \"rules\": [{\"id\": \"r\", "
				 "\"scheme\": \"http\", \"host\": \"a.test\"}]}");
	struct policy *p = NULL;

	EXPECT_INT(build(f, NULL, 0, &p), 0);
	EXPECT(p && p->mode == POLICY_ALLOWLIST && p->n_rules == 1 && p->n_ingress == 0);
	policy_unref(p);
	free(f);
}

static void publish_alone_is_mode_none(void)
{
	const char *specs[] = { "8080:80", "[::1]:8443:443" };
	struct policy *p = NULL;

	EXPECT_INT(build(NULL, specs, 2, &p), 0);
	EXPECT(p && p->mode == POLICY_NONE && p->n_rules == 0);
	EXPECT_INT(p ? p->n_ingress : 0, 2);
	if (p && p->n_ingress == 2) {
		EXPECT_INT(p->ingress[0].host.family, AF_INET);
		EXPECT_INT(p->ingress[0].host_port, 8080);
		EXPECT_INT(p->ingress[0].guest_port, 80);
		EXPECT_INT(p->ingress[1].host.family, AF_INET6);
		EXPECT_INT(p->ingress[1].host_port, 8443);
	}
	policy_unref(p);
}

static void publish_adds_to_the_file(void)
{
	char *f = write_policy("b.json", "{\"mode\": \"full_internet\", \"ingress\": [{"
				 "\"host_port\": 9000, \"guest_port\": 90, "
				 "\"comment\": \"web\"}]}");
	const char *specs[] = { "127.0.0.2:9000:91" };
	struct policy *p = NULL;

	EXPECT_INT(build(f, specs, 1, &p), 0);
	EXPECT(p && p->mode == POLICY_FULL_INTERNET);
	EXPECT_INT(p ? p->n_ingress : 0, 2);
	if (p && p->n_ingress == 2) {
		EXPECT_STR(p->ingress[0].comment, "web");
		EXPECT_INT(p->ingress[1].host.b[3], 2);	/* 127.0.0.2: another address */
		EXPECT_INT(p->ingress[1].guest_port, 91);
	}
	policy_unref(p);
	free(f);
}

static void errors_name_what_is_wrong(void)
{
	char *f = write_policy("c.json", "{\"mode\": \"none\", \"ingress\": "
				 "[{\"host_port\": 9000, \"guest_port\": 90}]}");
	char *bad = write_policy("d.json", "{\"mode\": \"nope\"}");
	const char *clash_file[] = { "9000:1" };
	const char *clash_self[] = { "9100:1", "127.0.0.1:9100:2" };
	const char *public[] = { "0.0.0.0:9000:1" };
	struct policy *p = NULL;

	EXPECT_INT(build(bad, NULL, 0, &p), -1);
	EXPECT(strstr(err_msg(), "d.json: mode: \"nope\" is not a mode") != NULL);
	EXPECT_INT(build(f, clash_file, 1, &p), -1);
	EXPECT(strstr(err_msg(), "--publish 9000:1: ") && strstr(err_msg(), "its ingress[0]"));
	EXPECT_INT(build(NULL, clash_self, 2, &p), -1);
	EXPECT(strstr(err_msg(), "--publish 127.0.0.1:9100:2: --publish 9100:1 has that host "
		      "port already") != NULL);
	EXPECT_INT(build(NULL, public, 1, &p), -1);
	EXPECT(strstr(err_msg(), "not a loopback address") != NULL);
	EXPECT(p == NULL);
	free(bad);
	free(f);
}

/* A port something listens on, and the policy that publishes it. */
static int busy_port(struct policy **p, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *text;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	EXPECT(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	*port = ntohs(sa.sin_port);
	text = xasprintf("{\"mode\": \"none\", \"ingress\": [{\"host_port\": %u, \"guest_port\": "
			 "1}]}", *port);
	EXPECT_INT(policy_load(text, strlen(text), p), 0);
	free(text);
	return fd;
}

static void check_finds_ports_in_use(void)
{
	struct policy *busy = NULL, *freed = NULL;
	uint16_t busy_at, freed_at;
	int fd = busy_port(&busy, &busy_at), freed_fd = busy_port(&freed, &freed_at);
	char want[64];

	/* A port is free again once its socket closes. */
	close(freed_fd);
	EXPECT_INT(ingress_check(freed, NULL), 0);
	EXPECT_INT(ingress_check(busy, NULL), -1);
	snprintf(want, sizeof want, "127.0.0.1:%u is in use", busy_at);
	EXPECT(strstr(err_msg(), want) != NULL);
	/* A port the policy in force publishes already is ours: not checked. */
	EXPECT_INT(ingress_check(busy, busy), 0);
	close(fd);
	EXPECT_INT(ingress_check(busy, NULL), 0);
	policy_unref(freed);
	policy_unref(busy);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/test_cli_policy.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp %s", dir);
	RUN(neither_means_no_policy);
	RUN(file_alone);
	RUN(publish_alone_is_mode_none);
	RUN(publish_adds_to_the_file);
	RUN(errors_name_what_is_wrong);
	RUN(check_finds_ports_in_use);
	util_rm_rf(dir);
	UNIT_EXIT();
}
