#include "tui/job.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/util.h"

static struct job *spawn(enum job_kind kind, char *const argv[])
{
	const char *exe = util_self_exe();
	int out[2], err[2];
	struct job *j;

	if (pipe2(out, O_CLOEXEC) < 0)
		return NULL;
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		return NULL;
	}
	j = xcalloc(1, sizeof *j);
	j->kind = kind;
	j->started_ms = util_now_ms();
	j->pid = fork();
	if (j->pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		/* Not tied to the terminal: the job outlives a quit and its
		 * final report to a closed pipe must not kill it. */
		setsid();
		signal(SIGPIPE, SIG_IGN);
		dup2(devnull, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(exe, argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	if (j->pid < 0) {
		close(out[0]);
		close(err[0]);
		free(j);
		return NULL;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	fcntl(err[0], F_SETFL, O_NONBLOCK);
	j->out_fd = out[0];
	j->err_fd = err[0];
	return j;
}

struct job *job_create(const char *name, int mem_mib, int cpus)
{
	char mem[16], ncpu[16];
	char *argv[] = { "smolvm", "create", "--name", (char *)name, "--mem", mem,
			 "--cpus", ncpu, "--json", NULL };
	struct job *j;

	snprintf(mem, sizeof mem, "%d", mem_mib);
	snprintf(ncpu, sizeof ncpu, "%d", cpus);
	j = spawn(JOB_CREATE, argv);
	if (j)
		snprintf(j->name, sizeof j->name, "%s", name);
	else
		err_set("cannot start `smolvm create`: %s", strerror(errno));
	return j;
}

struct job *job_remove(const char *id, const char *name)
{
	char *argv[] = { "smolvm", "rm", "--force", (char *)id, NULL };
	struct job *j = spawn(JOB_REMOVE, argv);

	if (j) {
		snprintf(j->id, sizeof j->id, "%s", id);
		snprintf(j->name, sizeof j->name, "%s", name);
	} else {
		err_set("cannot start `smolvm rm`: %s", strerror(errno));
	}
	return j;
}

struct job *job_clone(const char *ref, const char *name)
{
	char *argv[] = { "smolvm", "create", "--from", (char *)ref, "--name", (char *)name,
			 "--json", NULL };
	struct job *j = spawn(JOB_CREATE, argv);

	if (j)
		snprintf(j->name, sizeof j->name, "%s", name);
	else
		err_set("cannot start `smolvm create --from`: %s", strerror(errno));
	return j;
}

struct job *job_snapshot(char *const args[], const char *id, const char *name, const char *what)
{
	char *argv[16] = { "smolvm", "snapshot" };
	size_t n = 2;
	struct job *j;

	for (size_t i = 0; args[i] && n + 1 < sizeof argv / sizeof *argv; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	j = spawn(JOB_SNAPSHOT, argv);
	if (!j) {
		err_set("cannot start `smolvm snapshot`: %s", strerror(errno));
		return NULL;
	}
	snprintf(j->id, sizeof j->id, "%s", id);
	snprintf(j->name, sizeof j->name, "%s", name);
	snprintf(j->what, sizeof j->what, "%s", what);
	return j;
}

static void drain(int *fd, struct buf *b)
{
	char tmp[4096];
	ssize_t n;

	if (*fd < 0)
		return;
	while ((n = read(*fd, tmp, sizeof tmp)) > 0)
		buf_append(b, tmp, (size_t)n);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

void job_read(struct job *j)
{
	drain(&j->out_fd, &j->out);
	drain(&j->err_fd, &j->err);
}

static void parse_id(struct job *j)
{
	char *text;
	cJSON *o, *id;

	if (j->kind != JOB_CREATE || !j->out.len)
		return;
	text = xasprintf("%.*s", (int)j->out.len, j->out.data);
	o = cJSON_Parse(text);
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	if (cJSON_IsString(id))
		snprintf(j->id, sizeof j->id, "%s", id->valuestring);
	cJSON_Delete(o);
	free(text);
}

bool job_reap(struct job *j)
{
	int st;

	if (j->done)
		return true;
	if (waitpid(j->pid, &st, WNOHANG) != j->pid)
		return false;
	j->done = true;
	j->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	job_read(j);
	/* A process the child started (QEMU) may hold the pipes open: the
	 * child's exit is the end, whatever is still connected to them. */
	if (j->out_fd >= 0)
		close(j->out_fd);
	if (j->err_fd >= 0)
		close(j->err_fd);
	j->out_fd = j->err_fd = -1;
	parse_id(j);
	return true;
}

void job_error(const struct job *j, char *buf, size_t len)
{
	/* "create failed: why": the caller says what failed already. */
	const char *verb = j->kind == JOB_CREATE ? "create failed: " : "rm failed: ";
	const char *s = j->err.data, *end = s + j->err.len, *line, *e;
	size_t vlen = strlen(verb);

	buf[0] = '\0';
	if (!j->err.len)
		return;
	while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
		end--;
	for (line = end; line > s && line[-1] != '\n'; line--)
		;
	if (end - line > 8 && !strncmp(line, "smolvm: ", 8))
		line += 8;
	if ((size_t)(end - line) > vlen && !strncmp(line, verb, vlen))
		line += vlen;
	/* "smolvm snapshot restore: why" */
	if (j->kind == JOB_SNAPSHOT && end - line > 16 && !strncmp(line, "smolvm snapshot ", 16)) {
		const char *colon = memmem(line, (size_t)(end - line), ": ", 2);

		if (colon)
			line = colon + 2;
	}
	for (e = line; e < end && *e != '\r'; e++)
		;
	snprintf(buf, len, "%.*s", (int)(e - line), line);
}

void job_free(struct job *j)
{
	if (!j)
		return;
	if (j->out_fd >= 0)
		close(j->out_fd);
	if (j->err_fd >= 0)
		close(j->err_fd);
	buf_free(&j->out);
	buf_free(&j->err);
	free(j);
}
