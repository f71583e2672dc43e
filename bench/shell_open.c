/*
 * shell_open ID [N]: the cost of a command on an SSH session that is already
 * open. Opens one session to sandbox ID, then N times: a new channel, exec
 * `true`, its exit status, channel closed. Prints "session_ms X" once and
 * "exec_ms X" per run, for bench/boot.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "backend/ssh.h"
#include "backend/store.h"
#include "backend/util.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct sandbox sb;
	struct ssh_conn *c;
	int n = argc > 2 ? atoi(argv[2]) : 10;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	double t0;

	if (argc < 2 || argc > 3 || n < 1 || null < 0) {
		fprintf(stderr, "usage: shell_open ID [N]\n");
		return 2;
	}
	if (store_resolve(argv[1], &sb) < 0)
		die("%s", err_msg());
	t0 = now_ms();
	c = ssh_open(&sb, 30000);
	if (!c)
		die("%s", err_msg());
	printf("session_ms %.2f\n", now_ms() - t0);
	for (int i = 0; i < n; i++) {
		int rc;

		t0 = now_ms();
		rc = ssh_exec(c, "true", -1, null, null);
		if (rc != 0)
			die("exec true on %s returned %d: %s", sb.id, rc,
			    rc < 0 ? err_msg() : "expected 0");
		printf("exec_ms %.2f\n", now_ms() - t0);
	}
	ssh_close(c);
	close(null);
	return 0;
}
