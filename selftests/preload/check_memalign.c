// SPDX-License-Identifier: MIT
/*
 * check_memalign.c - run under LD_PRELOAD=libbitslab.so: every aligned entry
 * point of the standard family (posix_memalign, aligned_alloc, memalign)
 * gives a block of its own for size 0 at any alignment, which free, realloc
 * and malloc_usable_size accept, and which never disturbs a neighbour.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

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
	suite_add_tcase(s, tc);
	return s;
}
