/* SPDX-License-Identifier: MIT */
/*
 * aligned_matrix.h - small aligned blocks come from the size classes, shared
 * by the prefixed-API suite (check_aligned.c) and the LD_PRELOAD suite
 * (check_memalign.c), each with its own entry points (struct alloc_ops of
 * aligned_zero.h).
 *
 * Every power-of-two alignment up to a page, with any size up to 32 KiB,
 * is served by a size class: the block is aligned, holds the size, wastes
 * at most half of itself, and blocks of one request sit side by side (a
 * class's stride apart), not 64 KiB apart in mappings of their own.
 */
#ifndef SELFTESTS_ALIGNED_MATRIX_H
#define SELFTESTS_ALIGNED_MATRIX_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aligned_zero.h"
#include "unit.h"

#define AM_ALIGN_MAX	4096		/* a page */
#define AM_SIZE_MAX	32768		/* the largest size class */
#define AM_RUN		16		/* blocks per request */
#define AM_ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

/* The sizes tried at @align, into @sizes (room for 16); returns how many. */
static inline unsigned int aligned_matrix_sizes(size_t align, size_t *sizes)
{
	static const size_t fixed[] = { 100, 1000, 3000, 4096, 5000, 10000,
					20000, 32000, AM_SIZE_MAX };
	unsigned int n = 0, i;

	sizes[n++] = 0;
	sizes[n++] = 1;
	sizes[n++] = align - 1;
	sizes[n++] = align;
	sizes[n++] = align + 1;
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		sizes[n++] = fixed[i];
	return n;
}

static int am_cmp(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * AM_RUN blocks of @size at @align: each aligned, holding @size bytes (which
 * it keeps: filled and checked), at most twice the size rounded up to the
 * alignment, and accepted by @is_small if given (a white-box look at the
 * block: in a chunk, not a large mapping).  The closest two are exactly one
 * usable size apart: neighbours in one chunk.
 */
static inline void aligned_matrix_one(const struct alloc_ops *ops,
				      size_t align, size_t size,
				      bool (*is_small)(void *p))
{
	uintptr_t a[AM_RUN];
	size_t usable = 0, bound, gap = SIZE_MAX;
	unsigned int i;

	bound = AM_ALIGN_UP(size, align);
	if (bound < align)
		bound = align;		/* size 0 */
	bound = 2 * (bound < 16 ? 16 : bound);
	for (i = 0; i < AM_RUN; i++) {
		unsigned char *p = ops->aligned(align, size);
		size_t u;

		ck_assert_msg(p != NULL, "align %zu size %zu: NULL", align,
			      size);
		ck_assert_msg((uintptr_t)p % align == 0,
			      "align %zu size %zu: %p", align, size, (void *)p);
		u = ops->usable(p);
		ck_assert_msg(u >= size && u <= bound,
			      "align %zu size %zu: usable %zu", align, size, u);
		ck_assert_msg(!usable || u == usable,
			      "align %zu size %zu: usable %zu then %zu", align,
			      size, usable, u);
		usable = u;
		if (is_small)
			ck_assert_msg(is_small(p),
				      "align %zu size %zu: %p is a large block",
				      align, size, (void *)p);
		memset(p, (int)(i + 1), size);
		a[i] = (uintptr_t)p;
	}
	qsort(a, AM_RUN, sizeof(a[0]), am_cmp);
	for (i = 0; i < AM_RUN; i++) {
		const unsigned char *p = (const unsigned char *)a[i];
		size_t k;

		if (i && a[i] - a[i - 1] < gap)
			gap = a[i] - a[i - 1];
		for (k = 0; k < size; k++)
			if (p[k] != p[0]) {
				ck_abort_msg("align %zu size %zu: %p changed "
					     "at %zu", align, size,
					     (const void *)p, k);
				break;
			}
	}
	ck_assert_msg(gap == usable,
		      "align %zu size %zu: closest blocks %zu apart, usable %zu",
		      align, size, gap, usable);
	for (i = 0; i < AM_RUN; i++)
		ops->free((void *)a[i]);
}

/* Every alignment from 8 to a page, with aligned_matrix_sizes()'s sizes. */
static inline void aligned_matrix(const struct alloc_ops *ops,
				  bool (*is_small)(void *p))
{
	size_t align, sizes[16];
	unsigned int n, i;

	for (align = 8; align <= AM_ALIGN_MAX; align *= 2) {
		n = aligned_matrix_sizes(align, sizes);
		for (i = 0; i < n; i++)
			aligned_matrix_one(ops, align, sizes[i], is_small);
	}
}

/*
 * @n blocks of @size at @align map about @n blocks' worth of chunks, not a
 * mapping each: @mapped() (bitslab's count, or mallinfo2's arena) grows by
 * at most twice the blocks' bytes plus 2 MiB.
 */
static inline void aligned_matrix_mapped(const struct alloc_ops *ops,
					 size_t (*mapped)(void), size_t align,
					 size_t size, unsigned int n)
{
	void **p = ops->alloc(n * sizeof(void *));
	size_t before, after, limit = 2 * (size_t)n * AM_ALIGN_UP(size, align) +
				      2 * 1024 * 1024;
	unsigned int i;

	ck_assert_ptr_nonnull(p);
	before = mapped();
	for (i = 0; i < n; i++) {
		p[i] = ops->aligned(align, size);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_uint_eq((uintptr_t)p[i] % align, 0);
	}
	after = mapped();
	ck_assert_msg(after - before <= limit,
		      "%u blocks of %zu at %zu mapped %zu KiB (at most %zu)",
		      n, size, align, (after - before) / 1024, limit / 1024);
	for (i = 0; i < n; i++)
		ops->free(p[i]);
	ops->free(p);
}

#endif /* SELFTESTS_ALIGNED_MATRIX_H */
