/* SPDX-License-Identifier: MIT */
/*
 * unit.h - shared by the Check suites in selftests/unit/.  Each
 * check_<unit>.c defines check_suite(); main.c runs it.
 */
#ifndef SELFTESTS_UNIT_H
#define SELFTESTS_UNIT_H

#include <check.h>
#include <pthread.h>
#include <stdint.h>

/* A C++ suite (selftests/preload/check_cxx.cc) shares main.c. */
#ifdef __cplusplus
extern "C" {
#endif

Suite *check_suite(void);

/*
 * Sanitizer builds run much slower: long loops divide their iteration
 * counts by SLOW_SCALE there.  SANITIZER_MALLOC marks builds whose runtime
 * replaces the process's malloc with its own; those runtimes cannot start
 * threads in a child forked from a threaded process (ThreadSanitizer says
 * so and dies; AddressSanitizer's allocator lock may be held across the
 * fork and hangs the child).
 */
#if defined(__SANITIZE_THREAD__)
#define SANITIZER_MALLOC 1
#define SLOW_SCALE 4
#elif defined(__SANITIZE_ADDRESS__)
#define SANITIZER_MALLOC 1
#define SLOW_SCALE 2
#else
#define SANITIZER_MALLOC 0
#define SLOW_SCALE 1
#endif

/*
 * ThreadSanitizer and AddressSanitizer keep shadow memory for every byte
 * the program touches, resident in the same process: resident-size checks
 * cannot tell bitslab's pages from the shadow's there and are left out.
 */
#define SANITIZER_SHADOW SANITIZER_MALLOC

/* 1 unless built with CONFIG_MISUSE_CHECKS=n, which leaves out the misuse
 * checks of small blocks (see tcase_add_checked_test(), misuse.h). */
#ifdef CONFIG_MISUSE_CHECKS
#define MISUSE_CHECKS 1
#else
#define MISUSE_CHECKS 0
#endif

/* Start @n threads running @fn(@args + i * @argsize) and join them all. */
void run_threads(unsigned int n, void *(*fn)(void *), void *args,
		 size_t argsize);

/* A barrier so that threads start their racing part together. */
void start_line_init(unsigned int n);
void start_line_wait(void);

/*
 * The kernel's view of this process's memory, from /proc/self/statm: bytes
 * mapped (VmSize) and resident (VmRSS).  Memory tests compare it with
 * bitslab's own counters, so that a counter that forgets or invents memory
 * cannot vouch for itself.  KERNEL_MEM_MARGIN is how far the two may
 * disagree: what the test process maps besides bitslab (Check's messages,
 * stdio, liburcu's registry) stays well below it.
 */
struct kernel_mem {
	size_t mapped;
	size_t rss;
};

#define KERNEL_MEM_MARGIN (256 * 1024UL)

void kernel_mem_read(struct kernel_mem *m);

#ifdef __cplusplus
}
#endif

/* Seeded xorshift PRNG, so a failing run can be repeated. */
static inline uint64_t prng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif
