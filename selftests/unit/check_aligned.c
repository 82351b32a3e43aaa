// SPDX-License-Identifier: MIT
/*
 * check_aligned.c - aligned allocation through the prefixed API: a block of
 * any size, zero included, at any alignment, is a block of its own that
 * free, realloc and usable-size accept, and it never disturbs a neighbour.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bitslab.h>

#include "aligned_zero.h"
#include "unit.h"

static const struct alloc_ops api_ops = {
	.alloc = bitslab_malloc,
	.free = bitslab_free,
	.realloc = bitslab_realloc,
	.usable = bitslab_usable_size,
	.aligned = bitslab_aligned_alloc,
};

START_TEST(test_aligned_issue_program)
{
	/* The reported program, through the prefixed API. */
	void *a = bitslab_malloc(40000), *b;

	ck_assert_ptr_nonnull(a);
	b = bitslab_aligned_alloc(65536, 0);
	ck_assert_ptr_nonnull(b);
	bitslab_free(a);
	bitslab_free(b);
}
END_TEST

START_TEST(test_aligned_zero_size_big_alignments)
{
	aligned_zero_matrix(&api_ops);
}
END_TEST

START_TEST(test_aligned_zero_size_every_alignment)
{
	size_t align;

	/* Small alignments take the size classes or a large block. */
	for (align = 1; align <= 2 * 1024 * 1024; align *= 2) {
		void *p = bitslab_aligned_alloc(align, 0);
		void *q = bitslab_aligned_alloc(align, 0);

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_nonnull(q);
		ck_assert_ptr_ne(p, q);
		ck_assert_uint_eq((uintptr_t)p % align, 0);
		ck_assert_uint_eq((uintptr_t)q % align, 0);
		(void)bitslab_usable_size(p);
		bitslab_free(p);
		bitslab_free(q);
	}
}
END_TEST

START_TEST(test_aligned_bad_alignment_is_einval)
{
	errno = 0;
	ck_assert_ptr_null(bitslab_aligned_alloc(3 * 1024, 0));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("aligned");
	TCase *tc = tcase_create("aligned");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_aligned_issue_program);
	tcase_add_test(tc, test_aligned_zero_size_big_alignments);
	tcase_add_test(tc, test_aligned_zero_size_every_alignment);
	tcase_add_test(tc, test_aligned_bad_alignment_is_einval);
	suite_add_tcase(s, tc);
	return s;
}
