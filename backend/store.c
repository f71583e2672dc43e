#include "backend/store.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/util.h"

cJSON *store_to_json(const struct sandbox *sb)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", sb->id);
	cJSON_AddStringToObject(o, "name", sb->name);
	cJSON_AddStringToObject(o, "state", sb->state);
	cJSON_AddStringToObject(o, "image", sb->image);
	cJSON_AddStringToObject(o, "accel", sb->accel);
	cJSON_AddNumberToObject(o, "mem_mib", sb->mem_mib);
	cJSON_AddNumberToObject(o, "cpus", sb->cpus);
	cJSON_AddNumberToObject(o, "pid", sb->pid);
	cJSON_AddNumberToObject(o, "created", (double)sb->created);
	cJSON_AddNumberToObject(o, "started", (double)sb->started);
	cJSON_AddNumberToObject(o, "ready_ms", (double)sb->ready_ms);
	cJSON_AddStringToObject(o, "netns", sb->netns);
	cJSON_AddStringToObject(o, "host_ip", sb->host_ip);
	cJSON_AddStringToObject(o, "guest_ip", sb->guest_ip);
	cJSON_AddNumberToObject(o, "prefix_len", sb->prefix_len);
	return o;
}

int store_json_str(const cJSON *o, const char *key, char *dst, size_t len, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v) {
		if (!required)
			return 0;
		err_set("record has no \"%s\"", key);
		return -1;
	}
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= len) {
		err_set("record field \"%s\" must be a string shorter than %zu", key, len);
		return -1;
	}
	memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

int store_json_num(const cJSON *o, const char *key, double *dst, bool required)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v) {
		if (!required)
			return 0;
		err_set("record has no \"%s\"", key);
		return -1;
	}
	if (!cJSON_IsNumber(v)) {
		err_set("record field \"%s\" must be a number", key);
		return -1;
	}
	*dst = v->valuedouble;
	return 0;
}

int store_from_json(const char *text, struct sandbox *sb)
{
	cJSON *o = cJSON_Parse(text);
	double mem = 0, cpus = 0, pid = 0, created = 0, started = 0, ready = 0, prefix = 0;
	int rc = -1;

	memset(sb, 0, sizeof *sb);
	if (!o || !cJSON_IsObject(o)) {
		err_set("record is not a JSON object");
		goto out;
	}
	if (store_json_str(o, "id", sb->id, sizeof sb->id, true) ||
	    store_json_str(o, "name", sb->name, sizeof sb->name, true) ||
	    store_json_str(o, "state", sb->state, sizeof sb->state, true) ||
	    store_json_str(o, "image", sb->image, sizeof sb->image, true) ||
	    store_json_str(o, "accel", sb->accel, sizeof sb->accel, false) ||
	    store_json_str(o, "netns", sb->netns, sizeof sb->netns, true) ||
	    store_json_str(o, "host_ip", sb->host_ip, sizeof sb->host_ip, true) ||
	    store_json_str(o, "guest_ip", sb->guest_ip, sizeof sb->guest_ip, true) ||
	    store_json_num(o, "mem_mib", &mem, true) ||
	    store_json_num(o, "cpus", &cpus, true) ||
	    store_json_num(o, "pid", &pid, false) ||
	    store_json_num(o, "created", &created, true) ||
	    store_json_num(o, "started", &started, false) ||
	    store_json_num(o, "ready_ms", &ready, false) ||
	    store_json_num(o, "prefix_len", &prefix, true))
		goto out;
	sb->mem_mib = (int)mem;
	sb->cpus = (int)cpus;
	sb->pid = (pid_t)pid;
	sb->created = (int64_t)created;
	sb->started = (int64_t)started;
	sb->ready_ms = (int64_t)ready;
	sb->prefix_len = (int)prefix;
	if (sb->mem_mib <= 0 || sb->cpus <= 0 || sb->prefix_len <= 0 || sb->prefix_len > 32) {
		err_set("record has an impossible mem_mib, cpus or prefix_len");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

int store_save(const struct sandbox *sb)
{
	char *dir = paths_vm_dir(sb->id);
	char *path = paths_vm_file(sb->id, "record.json");
	cJSON *o = store_to_json(sb);
	char *text = cJSON_Print(o);
	int rc = -1;

	if (!text)
		die("out of memory");
	if (util_mkdir_p(dir, 0700) == 0) {
		size_t len = strlen(text);
		text = xrealloc(text, len + 2);
		text[len] = '\n';
		text[len + 1] = '\0';
		rc = util_write_atomic(path, text, len + 1, 0600);
	}
	free(text);
	cJSON_Delete(o);
	free(path);
	free(dir);
	return rc;
}

int store_load(const char *id, struct sandbox *sb)
{
	char *path = paths_vm_file(id, "record.json");
	char *text = util_read_file(path, NULL);
	int rc = -1;

	if (text) {
		rc = store_from_json(text, sb);
		if (rc < 0)
			err_set("%s: %s", path, err_msg());
	}
	free(text);
	free(path);
	if (rc == 0)
		store_reconcile(sb);
	return rc;
}

bool store_qemu_alive(const struct sandbox *sb)
{
	char buf[4096];
	ssize_t n;

	if (sb->pid <= 0 || (kill(sb->pid, 0) < 0 && errno == ESRCH))
		return false;
	/* The pid may have been reused: QEMU's command line names our id. */
	n = util_read_proc(sb->pid, "cmdline", buf, sizeof buf);
	if (n <= 0)
		return false;	/* a zombie has an empty cmdline */
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return strstr(buf, "qemu") && strstr(buf, sb->id);
}

void store_reconcile(struct sandbox *sb)
{
	bool claims_live = !strcmp(sb->state, SB_RUNNING) || !strcmp(sb->state, SB_CREATING);

	bool stopping = !strcmp(sb->state, SB_STOPPING);

	if ((claims_live || stopping) && !store_qemu_alive(sb)) {
		snprintf(sb->state, sizeof sb->state, "%s", stopping ? SB_STOPPED : SB_CRASHED);
		sb->pid = 0;
	}
}

static int cmp_created(const void *a, const void *b)
{
	const struct sandbox *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

int store_list(struct sandbox **out, size_t *n)
{
	char *dir = paths_vms_dir();
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 8;

	*out = NULL;
	*n = 0;
	if (!d) {
		int saved = errno;
		if (saved != ENOENT)
			err_set("cannot list sandboxes in %s: %s", dir, strerror(saved));
		free(dir);
		return saved == ENOENT ? 0 : -1;
	}
	*out = xcalloc(cap, sizeof **out);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (*n == cap)
			*out = xrealloc(*out, (cap *= 2) * sizeof **out);
		/* A half-written or foreign directory is skipped, not fatal. */
		if (store_load(e->d_name, &(*out)[*n]) == 0)
			(*n)++;
	}
	closedir(d);
	free(dir);
	qsort(*out, *n, sizeof **out, cmp_created);
	return 0;
}

void store_each_broken(void (*fn)(const char *id, const char *why, void *arg), void *arg)
{
	char *dir = paths_vms_dir();
	DIR *d = opendir(dir);
	struct dirent *e;

	free(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct sandbox sb;

		if (e->d_name[0] != '.' && store_load(e->d_name, &sb) < 0)
			fn(e->d_name, err_msg(), arg);
	}
	closedir(d);
}

bool store_id_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 8;
}

int store_resolve(const char *key, struct sandbox *sb)
{
	struct sandbox *all;
	size_t n, hits = 0, found = 0;

	if (!key || !*key) {
		err_set("no sandbox given (pass an id or a name; see smolvm ls)");
		return -1;
	}
	if (store_list(&all, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(all[i].id, key) || !strcmp(all[i].name, key)) {
			*sb = all[i];
			free(all);
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(all[i].id, key, strlen(key))) {
			hits++;
			found = i;
		}
	}
	if (hits == 1) {
		*sb = all[found];
		free(all);
		return 0;
	}
	free(all);
	if (hits > 1)
		err_set("'%s' matches %zu sandbox ids; give more of the id", key, hits);
	else
		err_set("no sandbox with id or name '%s' (see smolvm ls)", key);
	return -1;
}

int store_remove(const char *id)
{
	char *dir = paths_vm_dir(id);
	int rc = util_rm_rf(dir);

	free(dir);
	return rc;
}

void store_new_id(char out[16])
{
	unsigned char b[4];

	if (getrandom(b, sizeof b, 0) != sizeof b)
		die("getrandom failed");
	snprintf(out, 16, "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

void store_default_name(char *out, size_t len)
{
	static const char *adj[] = { "amber", "brisk", "calm", "dusty", "eager", "fuzzy",
		"gentle", "hazy", "icy", "jolly", "keen", "lucky", "mellow", "nimble",
		"quiet", "rapid", "sunny", "tidy", "vivid", "witty" };
	static const char *noun[] = { "otter", "falcon", "badger", "heron", "lynx",
		"marmot", "newt", "osprey", "panda", "quokka", "raven", "stoat", "tapir",
		"urchin", "vole", "walrus", "yak", "zebra", "gecko", "ibis" };
	struct sandbox probe;

	for (int tries = 0; ; tries++) {
		unsigned char r[2];
		if (getrandom(r, sizeof r, 0) != sizeof r)
			die("getrandom failed");
		if (tries < 20)
			snprintf(out, len, "%s-%s", adj[r[0] % ARRAY_LEN(adj)], noun[r[1] % ARRAY_LEN(noun)]);
		else
			snprintf(out, len, "%s-%s-%d", adj[r[0] % ARRAY_LEN(adj)],
				 noun[r[1] % ARRAY_LEN(noun)], tries);
		if (store_resolve(out, &probe) < 0)
			return;
	}
}

const char *store_name_problem(const char *name)
{
	size_t len = strlen(name), hex = 0;

	if (len == 0)
		return "is empty";
	if (len > 63)
		return "is longer than 63 characters";
	if (name[0] == '-' || name[0] == '.')
		return "may not start with '-' or '.'";
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return "may hold only letters, digits, '.', '_' and '-'";
		hex += (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
	}
	/* Ids and their prefixes are lower-case hex: such a name would shadow one. */
	if (hex == len)
		return "is all hex digits, which reads as a sandbox id";
	return NULL;
}

bool store_name_valid(const char *name)
{
	return store_name_problem(name) == NULL;
}
