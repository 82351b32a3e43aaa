/* SPDX-License-Identifier: MIT */
/*
 * aligned_zero.h - the scenario of a zero-byte block at a big alignment,
 * shared by the prefixed-API suite (check_aligned.c) and the LD_PRELOAD
 * suite (check_memalign.c), each of which passes its own entry points.
 *
 * A block of size 0 aligned at 64 KiB or more once came out one past the
 * end of its own mapping: its page-map mark then landed on whatever region
 * the kernel had mapped just above (a neighbour's large block or chunk),
 * and the next free of that neighbour was reported as misuse.  mmap places
 * new mappings below older ones, so allocating the neighbour first and the
 * aligned block next puts the two side by side.
 */
#ifndef SELFTESTS_ALIGNED_ZERO_H
#define SELFTESTS_ALIGNED_ZERO_H

#include <stdint.h>
#include <string.h>

#include "unit.h"

struct alloc_ops {
	void *(*alloc)(size_t n);
	void (*free)(void *p);
	void *(*realloc)(void *p, size_t n);
	size_t (*usable)(void *p);
	/* One aligned entry point: a block of @n bytes at @align, or NULL. */
	void *(*aligned)(size_t align, size_t n);
};

/*
 * A neighbour of @nsize bytes, then a zero-byte block at @align: the block
 * is aligned, distinct from the neighbour, accepted by usable-size, realloc
 * and free, and the neighbour keeps its bytes and frees cleanly afterwards
 * (the bug aborted in that free).
 */
static inline void aligned_zero_next_to(const struct alloc_ops *ops,
					size_t align, size_t nsize)
{
	unsigned char *a = ops->alloc(nsize), *b, *c;
	size_t ua;

	ck_assert_ptr_nonnull(a);
	ua = ops->usable(a);
	ck_assert_uint_ge(ua, nsize);
	memset(a, 0x5a, nsize);
	b = ops->aligned(align, 0);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq((uintptr_t)b % align, 0);
	/* Distinct from the neighbour: not inside it. */
	ck_assert(b + 1 <= a || b >= a + ua);
	(void)ops->usable(b);
	c = ops->aligned(align, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_ne(b, c);
	ck_assert_uint_eq((uintptr_t)c % align, 0);
	/* Realloc of a zero-byte block: a block of the new size. */
	b = ops->realloc(b, 100);
	ck_assert_ptr_nonnull(b);
	memset(b, 0x33, 100);
	ck_assert_uint_ge(ops->usable(b), 100);
	ops->free(a);
	ops->free(c);
	ops->free(b);
}

/* Every alignment from 64 KiB to 1 MiB, with a chunk and a large block as
 * the neighbour, several times each (placement is the kernel's). */
static inline void aligned_zero_matrix(const struct alloc_ops *ops)
{
	static const size_t neighbour[] = { 16, 40000, 200000 };
	size_t align;
	unsigned int i, round;

	for (align = 64 * 1024; align <= 1024 * 1024; align *= 2)
		for (i = 0; i < sizeof(neighbour) / sizeof(neighbour[0]); i++)
			for (round = 0; round < 4; round++)
				aligned_zero_next_to(ops, align, neighbour[i]);
}

#endif /* SELFTESTS_ALIGNED_ZERO_H */
