// SPDX-License-Identifier: MIT
/*
 * check_memalign.c - run under LD_PRELOAD=libbitslab.so: every aligned entry
 * point of the standard family (posix_memalign, aligned_alloc, memalign)
 * gives a block of its own for size 0 at any alignment, which free, realloc
 * and malloc_usable_size accept, and which never disturbs a neighbour.
 * With valloc and pvalloc: up to a page of alignment and 32 KiB of size,
 * blocks come from the size classes, side by side, not a 64 KiB mapping
 * each (mallinfo2's arena is what bitslab maps).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#include "aligned_matrix.h"
#include "aligned_zero.h"
#include "unit.h"

static void *via_posix_memalign(size_t align, size_t n)
{
	void *p = NULL;

	return posix_memalign(&p, align, n) ? NULL : p;
}

static void *via_aligned_alloc(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}

static void *via_memalign(size_t align, size_t n)
{
	return memalign(align, n);
}

static void *via_valloc(size_t align, size_t n)
{
	return align <= 4096 ? valloc(n) : NULL;
}

static void *via_pvalloc(size_t align, size_t n)
{
	return align <= 4096 ? pvalloc(n) : NULL;
}

static size_t arena(void)
{
	return mallinfo2().arena;
}

static void *via_malloc(size_t n) { return malloc(n); }
static void via_free(void *p) { free(p); }
static void *via_realloc(void *p, size_t n) { return realloc(p, n); }
static size_t via_usable(void *p) { return malloc_usable_size(p); }

#define OPS(entry) { via_malloc, via_free, via_realloc, via_usable, entry }

START_TEST(test_memalign_under_bitslab)
{
	/* These tests mean nothing on another allocator: fail, not skip. */
	ck_assert_msg(dlsym(RTLD_DEFAULT, "bitslab_version") != NULL,
		      "libbitslab.so is not preloaded");
}
END_TEST

START_TEST(test_memalign_issue_program)
{
	void *a = malloc(40000), *b = NULL;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(posix_memalign(&b, 65536, 0), 0);
	ck_assert_ptr_nonnull(b);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_memalign_posix_memalign_zero)
{
	const struct alloc_ops ops = OPS(via_posix_memalign);

	aligned_zero_matrix(&ops);
}
END_TEST

START_TEST(test_memalign_aligned_alloc_zero)
{
	const struct alloc_ops ops = OPS(via_aligned_alloc);

	aligned_zero_matrix(&ops);
}
END_TEST

START_TEST(test_memalign_memalign_zero)
{
	const struct alloc_ops ops = OPS(via_memalign);

	aligned_zero_matrix(&ops);
}
END_TEST

START_TEST(test_memalign_posix_memalign_small_from_classes)
{
	const struct alloc_ops ops = OPS(via_posix_memalign);

	aligned_matrix(&ops, NULL);
}
END_TEST

START_TEST(test_memalign_aligned_alloc_small_from_classes)
{
	const struct alloc_ops ops = OPS(via_aligned_alloc);

	aligned_matrix(&ops, NULL);
}
END_TEST

START_TEST(test_memalign_memalign_small_from_classes)
{
	const struct alloc_ops ops = OPS(via_memalign);

	aligned_matrix(&ops, NULL);
}
END_TEST

START_TEST(test_memalign_valloc_pvalloc_are_pages)
{
	static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 10000,
					32768 };
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], page = AM_ALIGN_UP(n ? n : 1, 4096);
		void *v = valloc(n), *p = pvalloc(n);

		ck_assert_ptr_nonnull(v);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)v % 4096, 0);
		ck_assert_uint_eq((uintptr_t)p % 4096, 0);
		/* valloc(n) is memalign(page, n): n need not be a page. */
		ck_assert_uint_ge(malloc_usable_size(v), n);
		ck_assert_uint_le(malloc_usable_size(v), 2 * page);
		/* pvalloc rounds the size up to a page. */
		ck_assert_uint_ge(malloc_usable_size(p), page);
		ck_assert_uint_le(malloc_usable_size(p), 2 * page);
		memset(p, 0x77, page);
		free(v);
		free(p);
	}
}
END_TEST

START_TEST(test_memalign_pages_do_not_map_a_chunk_each)
{
	const struct alloc_ops pm = OPS(via_posix_memalign);
	const struct alloc_ops va = OPS(via_valloc);
	const struct alloc_ops pv = OPS(via_pvalloc);

	/* 1000 page-aligned pages once mapped 1000 * 64 KiB. */
	aligned_matrix_mapped(&pm, arena, 4096, 4096, 1000);
	aligned_matrix_mapped(&pm, arena, 256, 32, 1000);
	aligned_matrix_mapped(&va, arena, 4096, 100, 1000);
	aligned_matrix_mapped(&pv, arena, 4096, 1, 1000);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("memalign");
	TCase *tc = tcase_create("memalign");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_memalign_under_bitslab);
	tcase_add_test(tc, test_memalign_issue_program);
	tcase_add_test(tc, test_memalign_posix_memalign_zero);
	tcase_add_test(tc, test_memalign_aligned_alloc_zero);
	tcase_add_test(tc, test_memalign_memalign_zero);
	tcase_add_test(tc, test_memalign_posix_memalign_small_from_classes);
	tcase_add_test(tc, test_memalign_aligned_alloc_small_from_classes);
	tcase_add_test(tc, test_memalign_memalign_small_from_classes);
	tcase_add_test(tc, test_memalign_valloc_pvalloc_are_pages);
	tcase_add_test(tc, test_memalign_pages_do_not_map_a_chunk_each);
	suite_add_tcase(s, tc);
	return s;
}
