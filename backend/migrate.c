#include "backend/migrate.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/qmp.h"
#include "backend/util.h"

#define QMP_MS 5000
#define POLL_MS 20
/* A paused guest goes out in one pass; this is for a stuck writer only. */
#define SAVE_TIMEOUT_MS (10 * 60 * 1000)
/* QEMU's default migration speed limit (32 MiB/s) is meant for live
 * migration over a network; a file takes what the disk can write. */
#define UNLIMITED_BPS 1e12

/* QEMU reads and writes our own open file, passed to it over QMP: nothing in
 * between that could be cut short, and we fsync what it wrote. */
#define FDNAME "smolvm-state"

/* Run a migration command (migrate, migrate-incoming) on the file fd. */
static int command_on_file(struct qmp *q, const char *cmd, int fd)
{
	cJSON *args = cJSON_CreateObject();

	cJSON_AddStringToObject(args, "uri", "fd:" FDNAME);
	if (qmp_getfd(q, FDNAME, fd, QMP_MS) < 0) {
		cJSON_Delete(args);
		return -1;
	}
	return qmp_command(q, cmd, args, NULL, QMP_MS);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static double num_item(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Poll query-migrate until the migration ends: 1 completed, -1 failed (err_set). */
static int wait_migration(struct qmp *q, const char *what, int timeout_ms, progress_fn fn,
			  void *arg)
{
	int64_t deadline = util_now_ms() + timeout_ms;

	for (;;) {
		cJSON *ret = NULL, *st, *ram;
		const char *status;

		if (qmp_command(q, "query-migrate", NULL, &ret, QMP_MS) < 0)
			return -1;
		st = cJSON_GetObjectItemCaseSensitive(ret, "status");
		status = cJSON_IsString(st) ? st->valuestring : "none";
		ram = cJSON_GetObjectItemCaseSensitive(ret, "ram");
		if (fn && ram) {
			struct progress_info p = { .name = what, .files_total = 1 };

			p.total = (uint64_t)num_item(ram, "total");
			p.done = p.total - (uint64_t)num_item(ram, "remaining");
			fn(arg, &p);
		}
		if (!strcmp(status, "completed")) {
			cJSON_Delete(ret);
			return 1;
		}
		if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
			cJSON *desc = cJSON_GetObjectItemCaseSensitive(ret, "error-desc");

			err_set("%s failed: %s", what,
				cJSON_IsString(desc) ? desc->valuestring : status);
			cJSON_Delete(ret);
			return -1;
		}
		cJSON_Delete(ret);
		if (util_now_ms() >= deadline) {
			err_set("%s did not finish within %d s", what, timeout_ms / 1000);
			return -1;
		}
		sleep_ms(POLL_MS);
	}
}

int migrate_save(struct qmp *q, const char *path, progress_fn fn, void *arg)
{
	cJSON *params = cJSON_CreateObject();
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc = -1;

	if (fd < 0) {
		err_set("cannot create %s: %s", path, strerror(errno));
		cJSON_Delete(params);
		return -1;
	}
	cJSON_AddNumberToObject(params, "max-bandwidth", UNLIMITED_BPS);
	if (qmp_command(q, "migrate-set-parameters", params, NULL, QMP_MS) < 0 ||
	    command_on_file(q, "migrate", fd) < 0)
		goto out;
	if (wait_migration(q, "saving the guest's memory", SAVE_TIMEOUT_MS, fn, arg) < 0) {
		qmp_command(q, "migrate_cancel", NULL, NULL, QMP_MS);
		goto out;
	}
	if (fsync(fd) < 0) {
		err_set("saving the guest's memory to %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	if (rc < 0)
		unlink(path);
	return rc;
}

int migrate_load(struct qmp *q, const char *path, int timeout_ms)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		err_set("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	rc = command_on_file(q, "migrate-incoming", fd);
	close(fd);
	if (rc < 0)
		return -1;
	return wait_migration(q, "loading the saved memory", timeout_ms, NULL, NULL) < 0 ? -1 : 0;
}
