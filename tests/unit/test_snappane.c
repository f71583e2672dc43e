/* Unit tests for tui/snappane.c: the snapshot tree's order and depths. */
#include <stdio.h>
#include <string.h>

#include "tui/snappane.h"
#include "tests/unit/unit.h"

static void snap(struct snapshot *s, const char *name, const char *parent)
{
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->parent, sizeof s->parent, "%s", parent);
}

static void tree(void)
{
	struct snapshot v[6];
	size_t order[6];
	int depth[6];

	/* Oldest first, as snapshot_list gives them: a restore of a took b2
	 * beside b, and c came from a clone's origin. */
	snap(&v[0], "a", "");
	snap(&v[1], "b", "a");
	snap(&v[2], "c", "1234abcd:x");
	snap(&v[3], "b2", "a");
	snap(&v[4], "d", "b");
	snap(&v[5], "e", "c");
	snappane_tree(v, 6, order, depth);
	/* a, b, d under b, b2; then the second root c and e under it. */
	EXPECT_INT(order[0], 0);
	EXPECT_INT(depth[0], 0);
	EXPECT_INT(order[1], 1);
	EXPECT_INT(depth[1], 1);
	EXPECT_INT(order[2], 4);
	EXPECT_INT(depth[2], 2);
	EXPECT_INT(order[3], 3);
	EXPECT_INT(depth[3], 1);
	EXPECT_INT(order[4], 2);
	EXPECT_INT(depth[4], 0);
	EXPECT_INT(order[5], 5);
	EXPECT_INT(depth[5], 1);
}

static void cycle(void)
{
	struct snapshot v[2];
	size_t order[2] = { 9, 9 };
	int depth[2];

	/* Parents that point at each other (a damaged meta.json) still list both. */
	snap(&v[0], "x", "y");
	snap(&v[1], "y", "x");
	snappane_tree(v, 2, order, depth);
	EXPECT((order[0] == 0 && order[1] == 1) || (order[0] == 1 && order[1] == 0));
	snappane_tree(v, 0, order, depth);
}

int main(void)
{
	RUN(tree);
	RUN(cycle);
	UNIT_EXIT();
}
