// SPDX-License-Identifier: MIT
/*
 * check_aligned.c - aligned allocation through the prefixed API: a block of
 * any size, zero included, at any alignment, is a block of its own that
 * free, realloc and usable-size accept, and it never disturbs a neighbour.
 * Up to a page of alignment and 32 KiB of size it comes from a size class
 * (white box: the page map says chunk, and bitslab maps chunks, not a
 * 64 KiB mapping per block).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bitslab.h>

#include "aligned_matrix.h"
#include "aligned_zero.h"
#include "chunk.h"
#include "os.h"
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

/* White box: @p is a block of a chunk, not a large mapping. */
static bool in_a_chunk(void *p)
{
	struct chunk *c = chunk_lookup((uintptr_t)p);

	return c && c->magic == CHUNK_MAGIC &&
	       chunk_block_start(c, (uintptr_t)p);
}

START_TEST(test_aligned_small_blocks_come_from_size_classes)
{
	aligned_matrix(&api_ops, in_a_chunk);
}
END_TEST

START_TEST(test_aligned_blocks_of_one_request_are_neighbours)
{
	/* The issue's example: 256 bytes apart, not 64 KiB. */
	char *p = bitslab_aligned_alloc(256, 32);
	char *q = bitslab_aligned_alloc(256, 32);

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq((uintptr_t)p % 256, 0);
	ck_assert_uint_eq((uintptr_t)q % 256, 0);
	ck_assert_uint_eq(q > p ? (size_t)(q - p) : (size_t)(p - q), 256);
	bitslab_free(p);
	bitslab_free(q);
}
END_TEST

START_TEST(test_aligned_pages_do_not_map_a_chunk_each)
{
	/* 1000 page-aligned pages once mapped 1000 * 64 KiB. */
	aligned_matrix_mapped(&api_ops, os_mapped_bytes, 4096, 4096, 1000);
	aligned_matrix_mapped(&api_ops, os_mapped_bytes, 256, 32, 1000);
	aligned_matrix_mapped(&api_ops, os_mapped_bytes, 2048, 3000, 1000);
}
END_TEST

START_TEST(test_aligned_above_a_page_is_large)
{
	/* Beyond what a class gives: still aligned, from large.c. */
	void *p = bitslab_aligned_alloc(8192, 100);
	void *q = bitslab_aligned_alloc(4096, 40000);

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq((uintptr_t)p % 8192, 0);
	ck_assert_uint_eq((uintptr_t)q % 4096, 0);
	ck_assert(!in_a_chunk(p));
	ck_assert(!in_a_chunk(q));
	ck_assert_uint_ge(bitslab_usable_size(q), 40000);
	bitslab_free(p);
	bitslab_free(q);
}
END_TEST

/*
 * A block aligned beyond a page is a large block that may hold only a few
 * bytes; realloc to a size a class serves copies what it holds, and reads
 * nothing past it (it used to copy the new size: a read past the mapping,
 * which the fuzzer found).
 */
START_TEST(test_aligned_large_realloc_to_a_class_keeps_the_bytes)
{
	static const size_t aligns[] = { 8192, 65536, 1UL << 20 };
	static const size_t sizes[] = { 0, 100, 4000 };
	unsigned int i, j, k;

	for (k = 0; k < 4; k++)
		for (i = 0; i < 3; i++)
			for (j = 0; j < 3; j++) {
				size_t n = sizes[j], b;
				unsigned char *p, *q;

				p = bitslab_aligned_alloc(aligns[i], n);
				ck_assert_ptr_nonnull(p);
				memset(p, 0x5a + (int)j, n);
				q = bitslab_realloc(p, SMALL_MAX);
				ck_assert_ptr_nonnull(q);
				for (b = 0; b < n; b++)
					ck_assert_uint_eq(q[b], 0x5a + j);
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
	tcase_add_test(tc, test_aligned_small_blocks_come_from_size_classes);
	tcase_add_test(tc, test_aligned_blocks_of_one_request_are_neighbours);
	tcase_add_test(tc, test_aligned_pages_do_not_map_a_chunk_each);
	tcase_add_test(tc, test_aligned_above_a_page_is_large);
	tcase_add_test(tc, test_aligned_large_realloc_to_a_class_keeps_the_bytes);
	tcase_add_test(tc, test_aligned_bad_alignment_is_einval);
	suite_add_tcase(s, tc);
	return s;
}
