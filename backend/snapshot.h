/*
 * snapshot: saved states of a sandbox, each in vms/<id>/snapshots/<name>/
 * (meta.json, disk.img, memory.bin), so they outlive stop/start and a host
 * restart and go with the sandbox on rm.
 *
 * A disk snapshot is a copy of the sandbox's writable disk (vms/<id>/disk.img),
 * taken while the guest is paused after a sync. A memory snapshot is the full
 * running state (QMP migration to memory.bin) plus the disk copied at the same
 * paused moment, so the two agree. Neither holds a vault secret: the guest
 * only ever sees placeholders, the proxy on the host swaps in the values.
 */
#ifndef SMOLVM_SNAPSHOT_H
#define SMOLVM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/store.h"
#include "fs/progress.h"

#define SNAPSHOT_DISK "disk"
#define SNAPSHOT_MEMORY "memory"

struct snapshot {
	char name[64];
	char kind[8];		/* SNAPSHOT_DISK or SNAPSHOT_MEMORY */
	int64_t created;	/* wall-clock seconds */
	/* What the sandbox's state came from when this was taken: the snapshot
	 * it last took or restored ("NAME"), the one it was cloned from
	 * ("ID:NAME"), or "" for none. The edges of the snapshot tree. */
	char parent[96];
	uint64_t size;		/* bytes it takes on the host's disk (filled by list) */
	bool current;		/* the sandbox's state descends from it (filled by list) */
	bool has_disk;		/* disk.img is part of it */
	/* A saved running state resumes only on the same machine. */
	char image[32];
	int64_t image_built;	/* the image's build time, from its manifest */
	char accel[8];
	int mem_mib, cpus;
	char host_ip[16], guest_ip[16];
	int prefix_len;
	char host_mac[18];	/* the tap's, which the guest has cached ("" if unknown) */
	uint64_t memory_bytes;	/* size of memory.bin */
};

/* Valid names: 1-63 of [A-Za-z0-9._-], not starting with '-' or '.'. What is
 * wrong with name ("is empty"), or NULL. */
const char *snapshot_name_problem(const char *name);

/* meta.json: serialise and parse. */
char *snapshot_to_json(const struct snapshot *s);
int snapshot_from_json(const char *text, struct snapshot *s);

/* "ID:SNAP" split at its colon into the two parts (newly allocated), or -1
 * with err_set(). */
int snapshot_parse_ref(const char *ref, char **sandbox, char **snap);

/* The sandbox's snapshots, oldest first. *out must be freed. */
int snapshot_list(const struct sandbox *sb, struct snapshot **out, size_t *n);

/* One by name, or -1 with err_set() ("no snapshot ..."). */
int snapshot_find(const struct sandbox *sb, const char *name, struct snapshot *out);

/*
 * Take a snapshot named name (NULL: snap-N, the next free N). Without
 * memory, of the disk: works running (the guest syncs, then is paused for
 * the copy) or stopped. With memory, of the running state. The sandbox
 * keeps running. fn (may be NULL) hears of the copy's progress. Needs root
 * when running. 0 and *out filled, or -1 with err_set() and nothing left.
 */
int snapshot_create(struct sandbox *sb, const char *name, bool memory, progress_fn fn,
		    void *arg, struct snapshot *out);

/*
 * Go back to a snapshot. Disk: the sandbox is stopped if it runs, its disk
 * replaced, and booted again if it ran. Memory: it resumes where the
 * snapshot was taken, processes and all, running. A restore that fails
 * leaves the sandbox as it was: the old disk stays until the new state runs,
 * and a running sandbox's state is saved first and resumed on failure.
 */
int snapshot_restore(struct sandbox *sb, const char *name, progress_fn fn, void *arg);

/* Delete a snapshot. */
int snapshot_rm(const struct sandbox *sb, const char *name);

/*
 * A new sandbox (named name, NULL for a default) from the snapshot "ID:SNAP":
 * a disk snapshot's copy booted afresh with new addresses, or a memory
 * snapshot's state resumed in the new sandbox's own namespace, with the same
 * guest and host addresses as the original (the guest keeps them, and its
 * host name). The network policy is the original's without published ports
 * (they would clash). 0 and *out filled (running), or -1 with nothing left.
 */
int snapshot_clone(const char *ref, const char *name, progress_fn fn, void *arg,
		   struct sandbox *out);

#endif
