/* store: one JSON record per sandbox under $SMOLVM_HOME/vms/<id>/record.json. */
#ifndef SMOLVM_STORE_H
#define SMOLVM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cJSON;

/* Lifecycle states as stored. "crashed" is also derived on load: a record
 * that says creating/running whose QEMU is gone reads back as crashed. A
 * record that says stopping whose QEMU is gone reads back as stopped: the
 * stop meant it, even if the stopping process died before saying so. */
#define SB_CREATING "creating"
#define SB_RUNNING  "running"
#define SB_STOPPING "stopping"
#define SB_STOPPED  "stopped"
#define SB_CRASHED  "crashed"

struct sandbox {
	char id[16];		/* 8 hex digits */
	char name[64];
	char state[16];
	char image[32];		/* image kind, e.g. "tiny" */
	char accel[8];		/* "kvm" or "tcg", as used by the last start */
	int mem_mib;
	int cpus;
	pid_t pid;		/* QEMU's pid while running, else 0 */
	int64_t created;	/* wall-clock seconds */
	int64_t started;	/* wall-clock seconds of the last start, 0 if never */
	int64_t ready_ms;	/* start-to-SSH-ready of the last start, 0 if unknown */
	char netns[32];		/* network namespace name */
	char host_ip[16];	/* host end of the tap, inside the namespace */
	char guest_ip[16];
	int prefix_len;		/* of the tap's subnet */
};

/* Serialise and parse (used by the store and by `ls --json`). */
struct cJSON *store_to_json(const struct sandbox *sb);
int store_from_json(const char *text, struct sandbox *sb);

/* A record's field key into dst (a string shorter than len) or *dst (a number); a field that
 * is not there is an error only when required. */
int store_json_str(const struct cJSON *o, const char *key, char *dst, size_t len, bool required);
int store_json_num(const struct cJSON *o, const char *key, double *dst, bool required);

int store_save(const struct sandbox *sb);
int store_load(const char *id, struct sandbox *sb);

/* All sandboxes, oldest first, states reconciled with reality. */
int store_list(struct sandbox **out, size_t *n);

/* Find by exact id, id prefix (unique), or exact name. */
int store_resolve(const char *id_or_name, struct sandbox *sb);

/* Call fn for each sandbox directory whose record cannot be read (why says
 * what is wrong with it); store_list leaves those out. */
void store_each_broken(void (*fn)(const char *id, const char *why, void *arg), void *arg);

/* Is s shaped like an id (8 lower-case hex digits)? */
bool store_id_valid(const char *s);

/* Delete the sandbox's record directory and everything in it. */
int store_remove(const char *id);

/* Is this sandbox's QEMU process alive (checked against pid reuse)? */
bool store_qemu_alive(const struct sandbox *sb);

/* If the record claims a live QEMU that is gone, mark it crashed (or
 * stopped, when it was being stopped). */
void store_reconcile(struct sandbox *sb);

/* A fresh random id, and a friendly default name not yet taken. */
void store_new_id(char out[16]);
void store_default_name(char *out, size_t len);

/* Valid names: 1-63 of [A-Za-z0-9._-], not starting with '-' or '.', and not
 * all lower-case hex digits (that would read as an id or an id prefix).
 * store_name_problem() says what is wrong ("is empty"), or NULL. */
const char *store_name_problem(const char *name);
bool store_name_valid(const char *name);

#endif
