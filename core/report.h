/* SPDX-License-Identifier: MIT */
/*
 * report.h - heap misuse and fatal errors: one line on stderr, then abort().
 */
#ifndef CORE_REPORT_H
#define CORE_REPORT_H

#include <bitslab/compiler.h>

/* Where a misused pointer points, for @cls of the reports below. */
#define REPORT_FOREIGN		(-1)	/* not allocated by bitslab */
#define REPORT_LARGE		(-2)	/* a large block */
#define REPORT_INSIDE_LARGE	(-3)	/* inside one, not its start */

/**
 * report_misuse() - print "bitslab: <what> of <ptr>" with the size class
 * (or one of the REPORT_* places when @cls is negative) and abort().
 * Async-signal-safe: formats into a stack buffer, one write(2).
 */
__cold __noreturn void report_misuse(const char *what, const void *ptr,
				     int cls);

/**
 * report_misuse_op() - print "bitslab: <op> of <what> of <ptr>" (say,
 * "malloc_usable_size of invalid pointer of 0x..."), naming the call that
 * was made, with the place as for report_misuse(), and abort().
 */
__cold __noreturn void report_misuse_op(const char *op, const char *what,
					const void *ptr, int cls);

/** report_bug() - an allocator invariant failed: say where, abort(). */
__cold __noreturn void report_bug(const char *file, int line,
				  const char *cond);

#define BUG_ON(cond)                                                     \
	do {                                                             \
		if (unlikely(cond))                                      \
			report_bug(__FILE__, __LINE__, #cond);           \
	} while (0)

/* Invariant checks that cost time: only with CONFIG_DEBUG=y. */
#define DEBUG_BUG_ON(cond)                                               \
	do {                                                             \
		if (IS_ENABLED(CONFIG_DEBUG) && unlikely(cond))          \
			report_bug(__FILE__, __LINE__, #cond);           \
	} while (0)

#endif /* CORE_REPORT_H */
