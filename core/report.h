/* SPDX-License-Identifier: MIT */
/*
 * report.h - heap misuse and fatal errors: one line on stderr, then abort().
 */
#ifndef CORE_REPORT_H
#define CORE_REPORT_H

#include <bitslab/compiler.h>

/**
 * report_misuse() - print "bitslab: <what> of <ptr>" with the size class
 * (or "(not allocated by bitslab)" when @cls is negative) and abort().
 * Async-signal-safe: formats into a stack buffer, one write(2).
 */
__cold __noreturn void report_misuse(const char *what, const void *ptr,
				     int cls);

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
