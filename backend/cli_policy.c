/* cli_policy: `smolvm policy show|set|log|check`, a sandbox's network policy and its
 * decision log; and the policy `create --policy/--publish` starts a sandbox with. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/args.h"
#include "backend/cli.h"
#include "backend/paths.h"
#include "backend/sandbox.h"
#include "backend/store.h"
#include "backend/util.h"
#include "net/ingress.h"
#include "net/policy.h"

#define EXIT_USAGE 2
/* show: a value goes on one line when it fits in this many columns. */
#define SHOW_WIDTH 80
/* log -f: how often the log is checked for new lines. */
#define FOLLOW_MS 100

static const char usage[] =
	"usage: smolvm policy show ID [--json]\n"
	"       smolvm policy set ID FILE\n"
	"       smolvm policy log ID [-f] [--json] [--denied]\n"
	"       smolvm policy check FILE\n"
	"\n"
	"A sandbox's network policy (see smolvm-policy(5)) and the decisions made under it.\n"
	"\n"
	"  show    print the policy in force, every default written out (mode none when the\n"
	"          sandbox has none); --json prints it on one line\n"
	"  set     replace the policy with FILE (- reads stdin). A running sandbox follows it\n"
	"          from its next request on, published ports included; a file that does not\n"
	"          load, or that publishes a host port in use, changes nothing\n"
	"  log     the egress proxy's decisions: TIME DECISION METHOD URL RULE/REASON STATUS\n"
	"          BYTES (sent/received) MS; and each DNS question its resolver answered\n"
	"          (DECISION dns, the type as METHOD, the name as URL, the answer as REASON)\n"
	"            -f, --follow  keep printing new decisions until Ctrl-C or the sandbox is\n"
	"                          removed\n"
	"            --json        print the log's own lines, one JSON object each\n"
	"            --denied      only the requests that were denied\n"
	"  check   load FILE (- reads stdin) as a policy and say whether it is valid\n";

/* Parse options and expect npos positionals; -1 to go on, else the exit status. */
static int parse(const char *cmd, int argc, char **argv, const struct arg_spec *specs,
		 int nspecs, int npos, const char *what, struct args_result *res)
{
	return cli_parse_sub("policy", cmd, argc, argv, specs, nspecs, usage, npos, what, res);
}

static int resolve(const char *cmd, const char *key, struct sandbox *sb)
{
	if (store_resolve(key, sb) == 0)
		return 0;
	fprintf(stderr, "smolvm policy %s: %s\n", cmd, err_msg());
	return -1;
}

/* ---- reading policies ------------------------------------------------------------- */

/* A policy from a file, or from stdin for "-"; errors name where it came from. */
static int load_from(const char *path, struct policy **out)
{
	bool in = !strcmp(path, "-");
	int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 65536;
	char *text;
	ssize_t n;
	int rc;

	if (fd < 0) {
		err_set("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	text = xmalloc(cap);
	/* One byte past the limit is enough for the loader to refuse it. */
	while (len <= POLICY_TEXT_MAX) {
		if (len == cap)
			text = xrealloc(text, cap *= 2);
		n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0) {
		err_set("cannot read %s: %s", in ? "stdin" : path, strerror(errno));
		rc = -1;
	} else {
		rc = policy_load(text, len, out);
		if (rc < 0) {
			char *msg = xstrdup(err_msg());

			err_set("%s: %s", in ? "stdin" : path, msg);
			free(msg);
		}
	}
	if (!in)
		close(fd);
	free(text);
	return rc;
}

/* The sandbox's policy file, or mode none when it has none. */
static int sandbox_policy(const struct sandbox *sb, struct policy **out)
{
	char *path = paths_vm_file(sb->id, "policy.json");
	int rc = 0;

	if (!util_exists(path))
		*out = policy_default();
	else if ((rc = policy_load_file(path, out)) < 0)
		err_set("%s (the egress proxy keeps enforcing the last policy that loaded; replace "
			"the file with `smolvm policy set`)", err_msg());
	free(path);
	return rc;
}

static bool same_host_port(const struct policy_ingress *a, const struct policy_ingress *b)
{
	return a->host_port == b->host_port && addr_equal(&a->host, &b->host);
}

/* Is added[i] a host address and port that file (p) or an earlier --publish has? */
static int publish_clash(const char *file, const struct policy *p,
			 const struct arg_list *publish, const struct policy_ingress *added, int i)
{
	const char *spec = publish->v[i];

	for (size_t k = 0; k < p->n_ingress; k++) {
		if (same_host_port(&p->ingress[k], &added[i])) {
			err_set("--publish %s: %s publishes that host port already (its "
				"ingress[%zu])", spec, file, k);
			return -1;
		}
	}
	for (int k = 0; k < i; k++) {
		if (same_host_port(&added[k], &added[i])) {
			err_set("--publish %s: --publish %s has that host port already", spec,
				publish->v[k]);
			return -1;
		}
	}
	return 0;
}

int cli_policy_for_create(const char *file, const struct arg_list *publish,
			  struct policy **out)
{
	struct policy *p, *merged;
	struct policy_ingress *added;
	cJSON *j, *list;
	char *text;
	int rc = -1;

	*out = NULL;
	if (!file && !publish->n)
		return 0;
	if (!file)
		p = policy_default();
	else if (load_from(file, &p) < 0)
		return -1;
	if (!publish->n) {
		*out = p;
		return 0;
	}
	j = policy_to_cjson(p);
	list = cJSON_GetObjectItemCaseSensitive(j, "ingress");
	added = xcalloc((size_t)publish->n, sizeof *added);
	for (int i = 0; i < publish->n; i++) {
		if (policy_parse_publish(publish->v[i], &added[i]) < 0 ||
		    publish_clash(file, p, publish, added, i) < 0)
			goto out;
		cJSON_AddItemToArray(list, policy_ingress_to_cjson(&added[i]));
	}
	/* Through the loader again, so that the result is checked like any policy. */
	text = cJSON_PrintUnformatted(j);
	if (!text)
		die("out of memory");
	rc = policy_load(text, strlen(text), &merged);
	cJSON_free(text);
	if (rc == 0)
		*out = merged;
out:
	free(added);
	cJSON_Delete(j);
	policy_unref(p);
	return rc;
}

/* ---- show ------------------------------------------------------------------------- */

static void put_inline(FILE *f, const cJSON *v);

static void put_scalar(FILE *f, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (!s)
		die("out of memory");
	fputs(s, f);
	cJSON_free(s);
}

static void put_key(FILE *f, const char *key)
{
	cJSON *k = cJSON_CreateString(key);

	put_scalar(f, k);
	cJSON_Delete(k);
	fputs(": ", f);
}

static void put_inline(FILE *f, const cJSON *v)
{
	bool obj = cJSON_IsObject(v);

	if (!obj && !cJSON_IsArray(v)) {
		put_scalar(f, v);
		return;
	}
	fputc(obj ? '{' : '[', f);
	for (const cJSON *c = v->child; c; c = c->next) {
		if (obj)
			put_key(f, c->string);
		put_inline(f, c);
		if (c->next)
			fputs(", ", f);
	}
	fputc(obj ? '}' : ']', f);
}

static size_t inline_len(const cJSON *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		die("out of memory");
	put_inline(f, v);
	fclose(f);
	free(buf);
	return len;
}

/*
 * JSON as smolvm-policy(5) writes it: two-space indents, and a value on one
 * line when it fits from column col. The top level is always spread out.
 */
static void put_pretty(FILE *f, const cJSON *v, int indent, int col)
{
	bool obj = cJSON_IsObject(v);

	if ((!obj && !cJSON_IsArray(v)) || !v->child ||
	    (indent > 0 && col + inline_len(v) + 1 <= SHOW_WIDTH)) {
		put_inline(f, v);
		return;
	}
	fputs(obj ? "{\n" : "[\n", f);
	for (const cJSON *c = v->child; c; c = c->next) {
		int at = indent + 2;

		fprintf(f, "%*s", at, "");
		if (obj) {
			put_key(f, c->string);
			at += (int)strlen(c->string) + 4;	/* "key": */
		}
		put_pretty(f, c, indent + 2, at);
		fputs(c->next ? ",\n" : "\n", f);
	}
	fprintf(f, "%*s%c", indent, "", obj ? '}' : ']');
}

static int policy_show(int argc, char **argv)
{
	bool json = false;
	struct arg_spec specs[] = { { "--json", 0, ARG_FLAG, &json, 0, 0 } };
	struct args_result res;
	struct sandbox sb;
	struct policy *p;
	cJSON *j;
	int rc;

	if ((rc = parse(argv[0], argc, argv, specs, ARRAY_LEN(specs), 1, "needs a sandbox id",
			&res)) >= 0)
		return rc;
	rc = resolve(argv[0], res.pos[0], &sb);
	free(res.pos);
	if (rc < 0)
		return 1;
	if (sandbox_policy(&sb, &p) < 0) {
		fprintf(stderr, "smolvm policy show: %s\n", err_msg());
		return 1;
	}
	j = policy_to_cjson(p);
	if (json)
		put_inline(stdout, j);
	else
		put_pretty(stdout, j, 0, 0);
	putchar('\n');
	cJSON_Delete(j);
	policy_unref(p);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- set, check --------------------------------------------------------------------- */

static int policy_set(int argc, char **argv)
{
	struct args_result res;
	struct policy *p, *held = NULL;
	struct sandbox sb;
	const char *file;
	int rc;

	if ((rc = parse(argv[0], argc, argv, NULL, 0, 2, "needs a sandbox id and a file (- for "
			"stdin)", &res)) >= 0)
		return rc;
	file = res.pos[1];
	rc = resolve(argv[0], res.pos[0], &sb);
	if (rc == 0 && (rc = load_from(file, &p)) < 0)
		fprintf(stderr, "smolvm policy set: %s\n", err_msg());
	free(res.pos);
	if (rc < 0)
		return 1;
	/* The ports the policy in force publishes are the proxy's own already. */
	if (sandbox_policy(&sb, &held) < 0)
		held = NULL;
	rc = ingress_check(p, held);
	if (rc < 0)
		fprintf(stderr, "smolvm policy set: %s (the policy was not changed)\n", err_msg());
	else if ((rc = sandbox_set_policy(&sb, p)) < 0)
		fprintf(stderr, "smolvm policy set: %s\n", err_msg());
	policy_unref(held);
	policy_unref(p);
	return rc < 0 ? 1 : 0;
}

static int policy_check(int argc, char **argv)
{
	struct args_result res;
	struct policy *p;
	int rc;

	if ((rc = parse(argv[0], argc, argv, NULL, 0, 1, "takes one file (- for stdin)",
			&res)) >= 0)
		return rc;
	rc = load_from(res.pos[0], &p);
	if (rc < 0) {
		fprintf(stderr, "smolvm policy check: %s\n", err_msg());
	} else {
		printf("%s: valid: mode %s, %zu rule%s, %zu published port%s\n", res.pos[0],
		       policy_mode_str(p->mode), p->n_rules, p->n_rules == 1 ? "" : "s",
		       p->n_ingress, p->n_ingress == 1 ? "" : "s");
		policy_unref(p);
	}
	free(res.pos);
	return rc < 0 ? 1 : 0;
}

/* ---- log ---------------------------------------------------------------------------- */

struct log_view {
	bool json, denied;
	bool cut;		/* fit the table to the terminal */
	int url_w, why_w;
};

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A cell of width w: printable ASCII only; cut with "..." when the view cuts. */
static void put_cell(const struct log_view *lv, const char *s, int w)
{
	size_t n = strlen(s);
	bool cut = lv->cut && n > (size_t)w;

	if (cut)
		n = (size_t)(w > 3 ? w - 3 : 0);
	for (size_t i = 0; i < n; i++)
		putchar((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?');
	if (cut)
		fputs("...", stdout);
	else
		for (size_t i = n; i < (size_t)w; i++)
			putchar(' ');
	fputs("  ", stdout);
}

/* "2025-03-01T12:00:05.123Z" as local "03-01 12:00:05". */
static void local_time(const char *iso, char out[32])
{
	struct tm tm = { 0 };
	time_t t;

	if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
		snprintf(out, 32, "%.14s", iso);
		return;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(out, 32, "%m-%d %H:%M:%S", &tm);
}

static void human_bytes(double b, char *out, size_t len)
{
	static const char units[] = "kMGT";
	int u = -1;

	if (b < 10000) {
		snprintf(out, len, "%.0f", b);
		return;
	}
	while (b >= 1000 && u < 3) {
		b /= 1024;
		u++;
	}
	snprintf(out, len, b < 10 ? "%.1f%c" : "%.0f%c", b, units[u]);
}

static void log_header(const struct log_view *lv)
{
	if (lv->json)
		return;
	printf("%-14s  %-8s  %-7s  ", "TIME", "DECISION", "METHOD");
	put_cell(lv, "URL", lv->url_w);
	put_cell(lv, "RULE/REASON", lv->why_w);
	printf("%6s  %11s  %6s\n", "STATUS", "BYTES", "MS");
}

/* The RULE/REASON cell: the rule, why it failed when it did (an upstream
 * error under an allowing rule), and the secrets that went in. */
static char *rule_and_reason(const cJSON *j)
{
	const char *rule = str_of(j, "rule"), *reason = str_of(j, "reason");
	const cJSON *secrets = cJSON_GetObjectItemCaseSensitive(j, "secrets"), *s;
	const char *sep = " +secrets ";
	char *out;

	if (*rule && !strcmp(str_of(j, "decision"), "allow"))
		reason = "";	/* "allowed by rule" says nothing the rule's id does not */
	out = xasprintf("%s%s%s", rule, *rule && *reason ? ": " : "", reason);

	cJSON_ArrayForEach(s, secrets) {
		char *next;

		if (!cJSON_IsString(s))
			continue;
		next = xasprintf("%s%s%s", out, sep, s->valuestring);
		free(out);
		out = next;
		sep = ",";
	}
	return out;
}

static void log_row(const struct log_view *lv, const cJSON *j)
{
	const char *scheme = str_of(j, "scheme"), *host = str_of(j, "host");
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
	int port = (int)num_of(j, "port"), status = (int)num_of(j, "status");
	char when[32], up[16], down[16], bytes[40], st[16];
	char *url, *why = rule_and_reason(j);

	local_time(str_of(j, "time"), when);
	if (!*host)
		url = xstrdup("-");
	else if (!cJSON_IsString(path))
		url = xasprintf("%s:%d", host, port);	/* a tunnel: no path to show */
	else if (port == (strcmp(scheme, "https") ? 80 : 443))
		url = xasprintf("%s://%s%s", scheme, host, path->valuestring);
	else
		url = xasprintf("%s://%s:%d%s", scheme, host, port, path->valuestring);
	human_bytes(num_of(j, "bytes_up"), up, sizeof up);
	human_bytes(num_of(j, "bytes_down"), down, sizeof down);
	snprintf(bytes, sizeof bytes, "%s/%s", up, down);
	snprintf(st, sizeof st, status ? "%d" : "-", status);
	put_cell(lv, when, 14);
	put_cell(lv, str_of(j, "decision"), 8);
	put_cell(lv, *str_of(j, "method") ? str_of(j, "method") : "-", 7);
	put_cell(lv, url, lv->url_w);
	put_cell(lv, *why ? why : "-", lv->why_w);
	printf("%6s  %11s  %6.0f\n", st, bytes, num_of(j, "duration_ms"));
	free(why);
	free(url);
}

/* A DNS question the sandbox's resolver answered, in the same columns. */
static void log_dns_row(const struct log_view *lv, const cJSON *j)
{
	const char *answer = str_of(j, "answer"), *rcode = str_of(j, "rcode");
	char when[32], *what;

	local_time(str_of(j, "time"), when);
	if (*answer)
		what = xasprintf("answered %s", answer);
	else if (!strcmp(rcode, "NOERROR"))
		what = xstrdup("no record of this type");
	else
		what = xstrdup(rcode);
	put_cell(lv, when, 14);
	put_cell(lv, "dns", 8);
	put_cell(lv, str_of(j, "type"), 7);
	put_cell(lv, *str_of(j, "name") ? str_of(j, "name") : "-", lv->url_w);
	put_cell(lv, what, lv->why_w);
	printf("%6s  %11s  %6s\n", "-", "-", "-");
	free(what);
}

static void log_line(const struct log_view *lv, const char *line, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(line, len);

	/* Lines that are not the proxy's JSON are not decisions: skip them. */
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return;
	}
	if (!lv->denied || !strcmp(str_of(j, "decision"), "deny")) {
		if (lv->json)
			printf("%.*s\n", (int)len, line);
		else if (!strcmp(str_of(j, "kind"), "dns"))
			log_dns_row(lv, j);
		else
			log_row(lv, j);
	}
	cJSON_Delete(j);
}

/* Print the whole lines of buf[0..*len) and keep the unfinished one. */
static void log_lines(const struct log_view *lv, char *buf, size_t *len)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] == '\n') {
			log_line(lv, buf + start, i - start);
			start = i + 1;
		}
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
}

static void log_widths(struct log_view *lv)
{
	struct winsize ws;
	/* TIME DECISION METHOD STATUS BYTES MS and the gaps between all eight columns. */
	int fixed = 14 + 8 + 7 + 6 + 11 + 6 + 7 * 2, room;

	lv->url_w = 40;
	lv->why_w = 36;
	lv->cut = isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
		  ws.ws_col > 0;
	if (!lv->cut)
		return;
	room = ws.ws_col - 1 - fixed;
	if (room < 40)
		room = 40;
	lv->url_w = room * 11 / 20;
	lv->why_w = room - lv->url_w;
}

static int policy_log(int argc, char **argv)
{
	bool follow = false;
	struct log_view lv = { 0 };
	struct arg_spec specs[] = {
		{ "--follow", 'f', ARG_FLAG, &follow, 0, 0 },
		{ "--json", 0, ARG_FLAG, &lv.json, 0, 0 },
		{ "--denied", 0, ARG_FLAG, &lv.denied, 0, 0 },
	};
	size_t len = 0, cap = 65536;
	struct args_result res;
	struct sandbox sb;
	char *path, *record, *buf;
	off_t at = 0;
	int rc, fd = -1;

	if ((rc = parse(argv[0], argc, argv, specs, ARRAY_LEN(specs), 1, "needs a sandbox id",
			&res)) >= 0)
		return rc;
	rc = resolve(argv[0], res.pos[0], &sb);
	free(res.pos);
	if (rc < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	log_widths(&lv);
	log_header(&lv);
	path = paths_vm_file(sb.id, "policy.log");
	record = paths_vm_file(sb.id, "record.json");
	buf = xmalloc(cap);
	for (;;) {
		struct stat st;
		ssize_t n;

		if (fd < 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno != ENOENT) {
			fprintf(stderr, "smolvm policy log: cannot open %s: %s\n", path,
				strerror(errno));
			rc = 1;
			break;
		}
		/* A log that shrank was started again: read it from the top. */
		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size < at) {
			lseek(fd, 0, SEEK_SET);
			at = 0;
			len = 0;
		}
		while (fd >= 0 && (n = read(fd, buf + len, cap - len)) > 0) {
			at += n;
			len += (size_t)n;
			log_lines(&lv, buf, &len);
			if (len == cap)
				buf = xrealloc(buf, cap *= 2);
		}
		if (fflush(stdout) != 0 || ferror(stdout)) {
			rc = 1;		/* stdout closed (| head): stop quietly */
			break;
		}
		if (!follow || !util_exists(record))
			break;
		poll(NULL, 0, FOLLOW_MS);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	free(record);
	free(path);
	return rc;
}

int cli_policy(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} subs[] = {
		{ "show", policy_show },
		{ "set", policy_set },
		{ "log", policy_log },
		{ "check", policy_check },
	};

	if (argc < 2) {
		fprintf(stderr, "smolvm policy: needs a subcommand: show, set, log or check (see "
			"smolvm policy --help)\n");
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return cli_usage(usage);
	for (size_t i = 0; i < ARRAY_LEN(subs); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "smolvm policy: unknown subcommand '%s' (see smolvm policy --help)\n",
		argv[1]);
	return EXIT_USAGE;
}
