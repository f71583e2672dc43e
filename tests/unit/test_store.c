/* Unit tests for backend/store.c: records, the on-disk store, lookup, reconcile. */
#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/paths.h"
#include "backend/store.h"
#include "backend/util.h"
#include "tests/unit/unit.h"

static char *home;

static void make_sb(struct sandbox *sb, const char *id, const char *name, int64_t created)
{
	memset(sb, 0, sizeof *sb);
	snprintf(sb->id, sizeof sb->id, "%s", id);
	snprintf(sb->name, sizeof sb->name, "%s", name);
	snprintf(sb->state, sizeof sb->state, "%s", SB_STOPPED);
	snprintf(sb->image, sizeof sb->image, "tiny");
	snprintf(sb->accel, sizeof sb->accel, "tcg");
	sb->mem_mib = 256;
	sb->cpus = 1;
	sb->created = created;
	snprintf(sb->netns, sizeof sb->netns, "smolvm-%s", id);
	snprintf(sb->host_ip, sizeof sb->host_ip, "10.77.0.1");
	snprintf(sb->guest_ip, sizeof sb->guest_ip, "10.77.0.2");
	sb->prefix_len = 30;
}

static void expect_same(const struct sandbox *a, const struct sandbox *b)
{
	EXPECT_STR(a->id, b->id);
	EXPECT_STR(a->name, b->name);
	EXPECT_STR(a->state, b->state);
	EXPECT_STR(a->image, b->image);
	EXPECT_STR(a->accel, b->accel);
	EXPECT_INT(a->mem_mib, b->mem_mib);
	EXPECT_INT(a->cpus, b->cpus);
	EXPECT_INT(a->pid, b->pid);
	EXPECT_INT(a->created, b->created);
	EXPECT_INT(a->started, b->started);
	EXPECT_INT(a->ready_ms, b->ready_ms);
	EXPECT_STR(a->netns, b->netns);
	EXPECT_STR(a->host_ip, b->host_ip);
	EXPECT_STR(a->guest_ip, b->guest_ip);
	EXPECT_INT(a->prefix_len, b->prefix_len);
}

static char *to_text(const struct sandbox *sb)
{
	cJSON *o = store_to_json(sb);
	char *text = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return text;
}

/* The JSON of a valid record with one field replaced (or removed when
 * value is NULL); value is raw JSON. */
static char *record_with(const char *key, const char *value)
{
	struct sandbox sb;
	cJSON *o;
	char *text;

	make_sb(&sb, "0badc0de", "edit", 1000);
	o = store_to_json(&sb);
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	if (value)
		cJSON_AddItemToObject(o, key, cJSON_Parse(value));
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static int parse_with(const char *key, const char *value)
{
	char *text = record_with(key, value);
	struct sandbox sb;
	int rc = store_from_json(text, &sb);

	free(text);
	return rc;
}

static void json_round_trip(void)
{
	struct sandbox a, b;
	char *text;

	make_sb(&a, "1234abcd", "round-trip", 1700000000);
	snprintf(a.state, sizeof a.state, "%s", SB_RUNNING);
	a.pid = 4242;
	a.mem_mib = 1024;
	a.cpus = 2;
	a.started = 1700000100;
	a.ready_ms = 6789;
	snprintf(a.guest_ip, sizeof a.guest_ip, "10.77.255.254");
	text = to_text(&a);
	EXPECT_INT(store_from_json(text, &b), 0);
	expect_same(&a, &b);
	free(text);
}

static void optional_fields_may_be_missing(void)
{
	static const char *optional[] = { "accel", "pid", "started", "ready_ms" };

	for (size_t i = 0; i < ARRAY_LEN(optional); i++) {
		char *text = record_with(optional[i], NULL);
		struct sandbox sb;

		EXPECT_INT(store_from_json(text, &sb), 0);
		EXPECT_STR(sb.name, "edit");
		free(text);
	}
}

static void missing_required_fields_rejected(void)
{
	static const char *required[] = { "id", "name", "state", "image", "netns", "host_ip",
		"guest_ip", "mem_mib", "cpus", "created", "prefix_len" };

	for (size_t i = 0; i < ARRAY_LEN(required); i++) {
		char want[64];

		snprintf(want, sizeof want, "record has no \"%s\"", required[i]);
		EXPECT_INT(parse_with(required[i], NULL), -1);
		EXPECT_STR(err_msg(), want);
	}
}

static void ill_typed_fields_rejected(void)
{
	EXPECT_INT(parse_with("mem_mib", "\"256\""), -1);
	EXPECT_STR(err_msg(), "record field \"mem_mib\" must be a number");
	EXPECT_INT(parse_with("pid", "null"), -1);
	EXPECT_STR(err_msg(), "record field \"pid\" must be a number");
	EXPECT_INT(parse_with("name", "42"), -1);
	EXPECT(strstr(err_msg(), "\"name\" must be a string") != NULL);
	EXPECT_INT(parse_with("state", "[\"running\"]"), -1);
	EXPECT(strstr(err_msg(), "\"state\" must be a string") != NULL);
	/* Strings that do not fit the record are refused, not cut. */
	EXPECT_INT(parse_with("id", "\"0123456789abcdef\""), -1);
	EXPECT(strstr(err_msg(), "\"id\" must be a string shorter than 16") != NULL);
}

static void impossible_values_rejected(void)
{
	EXPECT_INT(parse_with("mem_mib", "0"), -1);
	EXPECT(strstr(err_msg(), "impossible") != NULL);
	EXPECT_INT(parse_with("cpus", "-1"), -1);
	EXPECT_INT(parse_with("prefix_len", "33"), -1);
	EXPECT_INT(parse_with("prefix_len", "32"), 0);
}

static void not_an_object_rejected(void)
{
	struct sandbox sb;

	EXPECT_INT(store_from_json("", &sb), -1);
	EXPECT_STR(err_msg(), "record is not a JSON object");
	EXPECT_INT(store_from_json("{\"id\": \"x\"", &sb), -1);
	EXPECT_INT(store_from_json("[1, 2]", &sb), -1);
	EXPECT_STR(err_msg(), "record is not a JSON object");
}

static void save_is_atomic_and_private(void)
{
	struct sandbox a, b;
	struct stat st;
	char *path, *dir, *tmp, *text;

	make_sb(&a, "5a5a5a5a", "saved", 2000);
	EXPECT_INT(store_save(&a), 0);
	path = xasprintf("%s/vms/5a5a5a5a/record.json", home);
	dir = xasprintf("%s/vms/5a5a5a5a", home);
	tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	EXPECT_INT(stat(path, &st), 0);
	EXPECT_INT(st.st_mode & 0777, 0600);
	EXPECT_INT(stat(dir, &st), 0);
	EXPECT_INT(st.st_mode & 0777, 0700);
	EXPECT(!util_exists(tmp));
	text = util_read_file(path, NULL);
	EXPECT(text && text[0] == '{' && text[strlen(text) - 1] == '\n');
	free(text);

	EXPECT_INT(store_load("5a5a5a5a", &b), 0);
	expect_same(&a, &b);

	/* Saving again replaces the record. */
	a.mem_mib = 512;
	EXPECT_INT(store_save(&a), 0);
	EXPECT_INT(store_load("5a5a5a5a", &b), 0);
	EXPECT_INT(b.mem_mib, 512);

	EXPECT_INT(store_remove("5a5a5a5a"), 0);
	EXPECT(!util_exists(dir));
	EXPECT_INT(store_load("5a5a5a5a", &b), -1);
	free(tmp);
	free(dir);
	free(path);
}

static void load_reports_path_of_bad_record(void)
{
	char *dir = xasprintf("%s/vms/deadfa11", home);
	char *path = xasprintf("%s/record.json", dir);
	struct sandbox sb;

	EXPECT_INT(util_mkdir_p(dir, 0700), 0);
	EXPECT_INT(util_write_atomic(path, "{\"id\": 1}", 9, 0600), 0);
	EXPECT_INT(store_load("deadfa11", &sb), -1);
	EXPECT(strstr(err_msg(), path) != NULL);
	EXPECT(strstr(err_msg(), "\"id\"") != NULL);
	EXPECT_INT(store_remove("deadfa11"), 0);
	free(path);
	free(dir);
}

static void list_sorted_and_skips_broken(void)
{
	struct sandbox a, b, c, *all;
	char *junk = xasprintf("%s/vms/junk", home);
	size_t n;

	make_sb(&a, "00000003", "third", 300);
	make_sb(&b, "00000001", "first", 100);
	make_sb(&c, "00000002", "second", 200);
	EXPECT_INT(store_save(&a), 0);
	EXPECT_INT(store_save(&b), 0);
	EXPECT_INT(store_save(&c), 0);
	EXPECT_INT(util_mkdir_p(junk, 0700), 0);	/* no record.json in it */

	EXPECT_INT(store_list(&all, &n), 0);
	EXPECT_INT(n, 3);
	if (n == 3) {
		EXPECT_STR(all[0].name, "first");
		EXPECT_STR(all[1].name, "second");
		EXPECT_STR(all[2].name, "third");
	}
	free(all);
	store_remove("00000001");
	store_remove("00000002");
	store_remove("00000003");
	util_rm_rf(junk);
	free(junk);
}

static void list_without_vms_dir_is_empty(void)
{
	char *vms = xasprintf("%s/vms", home);
	struct sandbox *all;
	size_t n = 99;

	util_rm_rf(vms);
	EXPECT_INT(store_list(&all, &n), 0);
	EXPECT_INT(n, 0);
	free(all);
	free(vms);
}

static void list_unreadable_vms_dir_fails(void)
{
	char *vms = xasprintf("%s/vms", home);
	struct sandbox *all;
	size_t n;

	util_rm_rf(vms);
	EXPECT_INT(util_write_atomic(vms, "", 0, 0600), 0);	/* a file, not a directory */
	EXPECT_INT(store_list(&all, &n), -1);
	EXPECT(strstr(err_msg(), "cannot list sandboxes in") != NULL);
	EXPECT(strstr(err_msg(), vms) != NULL);
	EXPECT_INT(n, 0);
	util_rm_rf(vms);
	free(vms);
}

static void resolve(void)
{
	struct sandbox a, b, c, got;

	make_sb(&a, "a1b2c3d4", "alpha", 1);
	make_sb(&b, "a1b2ffff", "beta", 2);
	make_sb(&c, "99990000", "a1b2", 3);	/* a name that is also an id prefix */
	EXPECT_INT(store_save(&a), 0);
	EXPECT_INT(store_save(&b), 0);
	EXPECT_INT(store_save(&c), 0);

	EXPECT_INT(store_resolve("a1b2c3d4", &got), 0);
	EXPECT_STR(got.name, "alpha");
	EXPECT_INT(store_resolve("beta", &got), 0);
	EXPECT_STR(got.id, "a1b2ffff");
	EXPECT_INT(store_resolve("a1b2c", &got), 0);
	EXPECT_STR(got.name, "alpha");
	EXPECT_INT(store_resolve("9", &got), 0);
	EXPECT_STR(got.id, "99990000");
	/* An exact name wins over an ambiguous id prefix. */
	EXPECT_INT(store_resolve("a1b2", &got), 0);
	EXPECT_STR(got.id, "99990000");

	EXPECT_INT(store_resolve("a1b", &got), -1);
	EXPECT_STR(err_msg(), "'a1b' matches 2 sandbox ids; give more of the id");
	EXPECT_INT(store_resolve("nosuch", &got), -1);
	EXPECT(strstr(err_msg(), "no sandbox with id or name 'nosuch'") != NULL);
	EXPECT_INT(store_resolve("", &got), -1);
	EXPECT(strstr(err_msg(), "no sandbox given") != NULL);
	EXPECT_INT(store_resolve(NULL, &got), -1);

	store_remove("a1b2c3d4");
	store_remove("a1b2ffff");
	store_remove("99990000");
}

/* A child that is gone: its pid was reaped, so nothing answers to it. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void reconcile_dead_pid_reads_crashed(void)
{
	struct sandbox a, got;

	make_sb(&a, "dead0001", "ghost", 10);
	snprintf(a.state, sizeof a.state, "%s", SB_RUNNING);
	a.pid = dead_pid();
	EXPECT_INT(store_save(&a), 0);
	EXPECT_INT(store_load("dead0001", &got), 0);
	EXPECT_STR(got.state, SB_CRASHED);
	EXPECT_INT(store_resolve("ghost", &got), 0);
	EXPECT_STR(got.state, SB_CRASHED);

	/* "creating" with no pid yet and the process gone is crashed too. */
	snprintf(a.state, sizeof a.state, "%s", SB_CREATING);
	a.pid = 0;
	EXPECT_INT(store_save(&a), 0);
	EXPECT_INT(store_load("dead0001", &got), 0);
	EXPECT_STR(got.state, SB_CRASHED);

	/* A stop in progress whose QEMU is gone finished: stopped, not crashed. */
	snprintf(a.state, sizeof a.state, "%s", SB_STOPPING);
	a.pid = dead_pid();
	EXPECT_INT(store_save(&a), 0);
	EXPECT_INT(store_load("dead0001", &got), 0);
	EXPECT_STR(got.state, SB_STOPPED);
	EXPECT_INT(got.pid, 0);

	/* A stopped record is left alone. */
	snprintf(a.state, sizeof a.state, "%s", SB_STOPPED);
	EXPECT_INT(store_save(&a), 0);
	EXPECT_INT(store_load("dead0001", &got), 0);
	EXPECT_STR(got.state, SB_STOPPED);
	store_remove("dead0001");
}

static void reconcile_checks_pid_reuse(void)
{
	struct sandbox a;
	pid_t child;

	make_sb(&a, "c0ffee00", "live", 10);
	snprintf(a.state, sizeof a.state, "%s", SB_RUNNING);

	/* Our own pid is alive but is not this sandbox's QEMU. */
	a.pid = getpid();
	EXPECT(!store_qemu_alive(&a));
	store_reconcile(&a);
	EXPECT_STR(a.state, SB_CRASHED);

	/* A live process whose command line names qemu and the id counts. */
	child = fork();
	if (child == 0) {
		execl("/bin/sh", "sh", "-c", "sleep 30; : qemu-system-x86_64 c0ffee00", (char *)NULL);
		_exit(127);
	}
	snprintf(a.state, sizeof a.state, "%s", SB_RUNNING);
	a.pid = child;
	/* Wait for the exec to replace the forked copy's command line. */
	for (int i = 0; i < 200 && !store_qemu_alive(&a); i++)
		usleep(10000);
	EXPECT(store_qemu_alive(&a));
	store_reconcile(&a);
	EXPECT_STR(a.state, SB_RUNNING);

	snprintf(a.id, sizeof a.id, "c0ffee01");
	EXPECT(!store_qemu_alive(&a));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	snprintf(a.id, sizeof a.id, "c0ffee00");
	EXPECT(!store_qemu_alive(&a));
}

static void new_ids_and_names(void)
{
	char id[16], other[16], name[64];
	struct sandbox got;

	store_new_id(id);
	store_new_id(other);
	EXPECT_INT(strlen(id), 8);
	EXPECT_INT(strspn(id, "0123456789abcdef"), 8);
	EXPECT(strcmp(id, other) != 0);

	store_default_name(name, sizeof name);
	EXPECT(store_name_valid(name));
	EXPECT(strchr(name, '-') != NULL);
	EXPECT_INT(store_resolve(name, &got), -1);
}

static void name_validation(void)
{
	char long_name[80];

	EXPECT(store_name_valid("demo"));
	EXPECT(store_name_valid("a.b_c-D9"));
	EXPECT(!store_name_valid(""));
	EXPECT(!store_name_valid("-x"));
	EXPECT(!store_name_valid(".hidden"));
	EXPECT(!store_name_valid("has space"));
	EXPECT(!store_name_valid("a/b"));
	EXPECT(!store_name_valid("naïve"));
	memset(long_name, 'x', 63);
	long_name[63] = '\0';
	EXPECT(store_name_valid(long_name));
	long_name[63] = 'x';
	long_name[64] = '\0';
	EXPECT(!store_name_valid(long_name));

	/* A name that reads as an id (or a prefix of one) would shadow it. */
	EXPECT(!store_name_valid("ad"));
	EXPECT(!store_name_valid("42ff36e5"));
	EXPECT_STR(store_name_problem("42ff"), "is all hex digits, which reads as a sandbox id");
	EXPECT(store_name_valid("Ad"));
	EXPECT(store_name_valid("cafe-1"));
	EXPECT(store_name_problem("demo") == NULL);
	EXPECT_STR(store_name_problem(""), "is empty");
	EXPECT_STR(store_name_problem("a b"), "may hold only letters, digits, '.', '_' and '-'");
}

int main(void)
{
	/* Under $TMPDIR, so that tests/run removes it even if a check crashes. */
	const char *tmp = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/smolvm-unit.XXXXXX", tmp && *tmp ? tmp : "/tmp");

	umask(022);
	home = mkdtemp(tmpl);
	if (!home)
		die("cannot make a directory %s: %s", tmpl, strerror(errno));
	setenv("SMOLVM_HOME", home, 1);
	paths_reset();
	if (strcmp(paths_home(), home))
		die("paths_home() ignores SMOLVM_HOME");

	RUN(json_round_trip);
	RUN(optional_fields_may_be_missing);
	RUN(missing_required_fields_rejected);
	RUN(ill_typed_fields_rejected);
	RUN(impossible_values_rejected);
	RUN(not_an_object_rejected);
	RUN(save_is_atomic_and_private);
	RUN(load_reports_path_of_bad_record);
	RUN(list_sorted_and_skips_broken);
	RUN(list_without_vms_dir_is_empty);
	RUN(list_unreadable_vms_dir_fails);
	RUN(resolve);
	RUN(reconcile_dead_pid_reads_crashed);
	RUN(reconcile_checks_pid_reuse);
	RUN(new_ids_and_names);
	RUN(name_validation);

	util_rm_rf(home);
	paths_reset();
	free(tmpl);
	UNIT_EXIT();
}
