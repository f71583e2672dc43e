/* unit.h: a tiny test harness. Each test binary prints one "ok - NAME" or
 * "not ok - NAME: why" line per test; tests/run counts them. */
#ifndef SMOLVM_UNIT_H
#define SMOLVM_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failed_current;
static int unit_total_failed;

#define EXPECT(cond) do { \
	if (!(cond)) { \
		printf("#   %s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
		unit_failed_current = 1; \
	} \
} while (0)

#define EXPECT_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (!g_ || strcmp(g_, w_)) { \
		printf("#   %s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
		       g_ ? g_ : "(null)", w_); \
		unit_failed_current = 1; \
	} \
} while (0)

#define EXPECT_INT(got, want) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (g_ != w_) { \
		printf("#   %s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_); \
		unit_failed_current = 1; \
	} \
} while (0)

#define RUN(fn) do { \
	unit_failed_current = 0; \
	fn(); \
	printf("%s - %s\n", unit_failed_current ? "not ok" : "ok", #fn); \
	unit_total_failed += unit_failed_current; \
	fflush(stdout); \
} while (0)

#define UNIT_EXIT() return unit_total_failed ? 1 : 0

#endif
