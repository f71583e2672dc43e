#include "fs/diff.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/disk.h"
#include "backend/util.h"
#include "fs/extfs.h"
#include "fs/image.h"

/* A directory of the upper layer still to be read, with its base counterpart. */
struct job {
	char *path;		/* "" for the root */
	uint32_t up;		/* inode in the upper image */
	uint32_t low;		/* inode of the base's directory there, 0 if it has none */
	bool hidden;		/* an opaque directory above: the base's entries here are gone */
	bool meta;		/* mode or owner differ from the base's directory */
};

struct jobs {
	struct job *j;
	size_t n, cap;
};

struct changes {
	struct diff_change *c;
	size_t n, cap;
};

static void push_job(struct jobs *js, struct job j)
{
	if (js->n == js->cap)
		js->j = xrealloc(js->j, (js->cap = js->cap ? js->cap * 2 : 16) * sizeof *js->j);
	js->j[js->n++] = j;
}

static const char *type_of(mode_t mode)
{
	return S_ISDIR(mode) ? "dir" : S_ISREG(mode) ? "file" : S_ISLNK(mode) ? "symlink" : "other";
}

static void add(struct changes *cs, char change, const char *path, const struct extfs_entry *e)
{
	if (cs->n == cs->cap)
		cs->c = xrealloc(cs->c, (cs->cap = cs->cap ? cs->cap * 2 : 32) * sizeof *cs->c);
	cs->c[cs->n++] = (struct diff_change){
		.change = change, .path = xstrdup(path), .type = type_of(e->mode),
		.size = change != 'D' && !S_ISDIR(e->mode) ? e->size : 0,
	};
}

/* overlayfs marks a deletion with a character device 0/0 (made with no permission bits). */
static bool whiteout(const struct extfs_entry *e)
{
	return S_ISCHR(e->mode) && (e->mode & 07777) == 0;
}

/* One upper directory (u) against the base's (l, NULL if none): its changes, and the
 * directories below to read next. */
static void compare(const struct job *j, const struct extfs_dir *u, const struct extfs_dir *l,
		    struct changes *cs, struct jobs *next)
{
	bool hidden = j->hidden || u->opaque;

	for (size_t i = 0; i < u->n; i++) {
		const struct extfs_entry *e = &u->e[i];
		const struct extfs_entry *b = l ? extfs_find(l, e->name) : NULL;
		char *path = xasprintf("%s/%s", j->path, e->name);

		if (whiteout(e)) {
			if (b)
				add(cs, 'D', path, b);
			free(path);
			continue;
		}
		if (!b || !S_ISDIR(e->mode) || !S_ISDIR(b->mode))
			add(cs, b ? 'M' : 'A', path, e);
		if (S_ISDIR(e->mode)) {
			bool merged = b && S_ISDIR(b->mode);
			push_job(next, (struct job){
				.path = path, .up = e->ino, .low = merged ? b->ino : 0,
				.hidden = merged && hidden,
				.meta = merged && (e->mode != b->mode || e->uid != b->uid ||
						   e->gid != b->gid),
			});
		} else {
			free(path);
		}
	}
	if (!hidden || !l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (extfs_find(u, l->e[i].name))
			continue;
		char *path = xasprintf("%s/%s", j->path, l->e[i].name);
		add(cs, 'D', path, &l->e[i]);
		free(path);
	}
}

/* Read one level of directories (two debugfs runs) and compare them. */
static int walk_level(const char *upper, const char *lower, struct jobs *level,
		      struct changes *cs, struct jobs *next)
{
	uint32_t *up = xcalloc(level->n, sizeof *up), *low = xcalloc(level->n, sizeof *low);
	struct extfs_dir *ud = xcalloc(level->n, sizeof *ud), *ld = xcalloc(level->n, sizeof *ld);
	size_t nlow = 0;
	int rc = -1;

	for (size_t i = 0; i < level->n; i++) {
		up[i] = level->j[i].up;
		if (level->j[i].low)
			low[nlow++] = level->j[i].low;
	}
	if (extfs_list(upper, up, level->n, ud) < 0)
		goto out;
	if (extfs_list(lower, low, nlow, ld) < 0) {
		for (size_t i = 0; i < level->n; i++)
			extfs_dir_free(&ud[i]);
		goto out;
	}
	for (size_t i = 0, k = 0; i < level->n; i++) {
		const struct job *j = &level->j[i];
		const struct extfs_dir *l = j->low ? &ld[k++] : NULL;

		/* a directory of the base, replaced (opaque) or with new mode or owner */
		if (j->path[0] && l && (j->meta || (ud[i].opaque && !j->hidden))) {
			struct extfs_entry self = { .mode = S_IFDIR };
			add(cs, 'M', j->path, &self);
		}
		compare(j, &ud[i], l, cs, next);
		extfs_dir_free(&ud[i]);
	}
	for (size_t k = 0; k < nlow; k++)
		extfs_dir_free(&ld[k]);
	rc = 0;
out:
	free(up);
	free(low);
	free(ud);
	free(ld);
	return rc;
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct diff_change *)a)->path, ((const struct diff_change *)b)->path);
}

static void free_jobs(struct jobs *js)
{
	for (size_t i = 0; i < js->n; i++)
		free(js->j[i].path);
	free(js->j);
	memset(js, 0, sizeof *js);
}

int diff_layers(const char *upper, const char *lower, struct diff_change **out, size_t *n)
{
	uint32_t root = EXTFS_ROOT_INO;
	struct extfs_dir top;
	const struct extfs_entry *dir;
	struct jobs level = { 0 }, next = { 0 };
	struct changes cs = { 0 };
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (extfs_list(upper, &root, 1, &top) < 0)
		return -1;
	/* DISK_UPPER_DIR is one name below the root; a disk never booted has none yet */
	dir = extfs_find(&top, DISK_UPPER_DIR + 1);
	if (dir && S_ISDIR(dir->mode))
		push_job(&level, (struct job){ .path = xstrdup(""), .up = dir->ino,
					       .low = EXTFS_ROOT_INO });
	extfs_dir_free(&top);
	while (level.n && rc == 0) {
		rc = walk_level(upper, lower, &level, &cs, &next);
		free_jobs(&level);
		level = next;
		memset(&next, 0, sizeof next);
	}
	free_jobs(&level);
	if (rc < 0) {
		diff_free(cs.c, cs.n);
		return -1;
	}
	if (cs.n)
		qsort(cs.c, cs.n, sizeof *cs.c, cmp_change);
	*out = cs.c;
	*n = cs.n;
	return 0;
}

void diff_free(struct diff_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].path);
	free(c);
}

cJSON *diff_to_json(const struct diff_change *c, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		char change[2] = { c[i].change, '\0' };

		cJSON_AddStringToObject(o, "change", change);
		cJSON_AddStringToObject(o, "path", c[i].path);
		cJSON_AddStringToObject(o, "type", c[i].type);
		cJSON_AddNumberToObject(o, "size", (double)c[i].size);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

int diff_sandbox(const struct sandbox *sb, struct diff_change **c, size_t *n)
{
	char *disk = disk_path(sb->id), *base = image_file(sb->image, "root.img");
	bool running = store_qemu_alive(sb);
	int rc = -1;

	if (!util_exists(disk)) {
		err_set("sandbox %s has no writable disk (%s): it was made by an older smolvm",
			sb->name, disk);
		goto out;
	}
	if (!util_exists(base)) {
		err_set("the image '%s' of sandbox %s has no root.img: run `smolvm image build`",
			sb->image, sb->name);
		goto out;
	}
	if (running && strcmp(sb->state, SB_RUNNING)) {
		err_set("sandbox %s is %s; try again once it runs or has stopped", sb->name,
			sb->state);
		goto out;
	}
	if (running) {
		if (disk_freeze(sb) < 0)
			goto out;
		rc = diff_layers(disk, base, c, n);
		if (disk_thaw(sb) < 0 && rc == 0) {
			diff_free(*c, *n);
			rc = -1;
		}
		goto out;
	}
	/* Killed without a clean power-off: what the journal holds is part of the state. */
	int dirty = extfs_needs_recovery(disk);
	if (dirty < 0 || (dirty && extfs_recover(disk) < 0))
		goto out;
	rc = diff_layers(disk, base, c, n);
out:
	free(disk);
	free(base);
	return rc;
}
