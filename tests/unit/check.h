/*
 * check: a minimal unit-test harness. CHECK records a failure with its
 * line and goes on; check_summary() prints the closing line
 * "N passed, N failed" and gives the exit status.
 */
#ifndef CANONFS_CHECK_H
#define CANONFS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (cond) {                                                    \
			check_passed++;                                        \
		} else {                                                       \
			check_failed++;                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
		}                                                              \
	} while (0)

#define CHECK_STR(got, want)                                                   \
	do {                                                                   \
		const char *got_ = (got), *want_ = (want);                     \
		if (strcmp(got_, want_) == 0) {                                \
			check_passed++;                                        \
		} else {                                                       \
			check_failed++;                                        \
			fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n",    \
				__FILE__, __LINE__, got_, want_);              \
		}                                                              \
	} while (0)

static inline int check_summary(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
