// SPDX-License-Identifier: MIT
/*
 * check_chunk.c - white-box tests of a chunk's claiming (core/chunk.c):
 * what a heap can claim from a chunk is exactly what its bitmap says is
 * clear, wherever the clear bits are.  These look at the chunk's own
 * fields (hint, bitmap words) and say so: they test the geometry of today,
 * not the contract of malloc.
 */
#include <stdint.h>

#include "chunk.h"
#include "unit.h"

/* Claim everything @c has; return how many blocks that was. */
static unsigned int claim_all(struct chunk *c)
{
	void **first, **last;
	unsigned int n, total = 0;

	while ((n = chunk_claim(c, 64, &first, &last)) != 0)
		total += n;
	return total;
}

START_TEST(test_chunk_claim_finds_bits_below_its_hint)
{
	struct chunk *c = chunk_create(size_to_class(16), NULL, false);
	void **first, **last, **blk;
	unsigned int words;

	ck_assert_ptr_nonnull(c);
	words = (unsigned int)BITS_TO_LONGS(c->nblocks);
	ck_assert_uint_gt(words, 4);
	ck_assert_uint_eq(claim_all(c), c->nblocks);

	/* The owner releases a block of word 3 (which lowers the hint
	 * there, as release_word() does) and claims it back: the hint now
	 * stands above word 3, with every word from it on full. */
	ck_assert_uint_eq(bitmap_release_mask(c->used, 3, 1UL), 1UL);
	fetch_sub(&c->nused, 1);
	c->hint = 3;
	ck_assert_uint_eq(chunk_claim(c, 1, &first, &last), 1);
	ck_assert_ptr_eq(first, chunk_block(c, 3 * BITS_PER_LONG));
	ck_assert_uint_gt(c->hint, 1);

	/* A release that does not move the hint clears a bit below it: the
	 * next claim must find that block, not call the chunk full. */
	ck_assert_uint_eq(bitmap_release_mask(c->used, 1, 1UL << 5), 1UL << 5);
	fetch_sub(&c->nused, 1);
	blk = chunk_block(c, 1 * BITS_PER_LONG + 5);
	ck_assert_uint_eq(chunk_claim(c, 8, &first, &last), 1);
	ck_assert_ptr_eq(first, blk);
	ck_assert_ptr_eq(last, blk);
	ck_assert_uint_eq(claim_all(c), 0);
}
END_TEST

/* The divisibility test's product gives every block's index exactly, and
 * nothing in the header or the gap before block 0 passes for a block. */
START_TEST(test_chunk_block_start_gives_the_index)
{
	unsigned int cls;

	for (cls = 0; cls < NR_SIZE_CLASSES; cls++) {
		struct chunk *c = chunk_create(cls, NULL, false);
		unsigned long k, idx;

		ck_assert_ptr_nonnull(c);
		for (k = 0; k < c->nblocks; k++) {
			uintptr_t a = (uintptr_t)chunk_block(c, k);

			ck_assert(chunk_block_start_index(c, a, &idx));
			ck_assert_uint_eq(idx, k);
			ck_assert_uint_eq(chunk_block_index(c, a), k);
			ck_assert(!chunk_block_start_index(c, a + 16, &idx) ||
				  c->size == 16);
		}
		ck_assert(!chunk_block_start_index(
			c, (uintptr_t)chunk_block(c, c->nblocks), &idx));
		ck_assert_uint_eq((uintptr_t)chunk_block(c, 0) - (uintptr_t)c,
				  size_classes[cls].first);
		for (k = 0; k < c->first; k += 16)
			ck_assert_msg(!chunk_block_start(c, (uintptr_t)c + k),
				      "class %u: offset %lu of %u passes",
				      cls, k, c->first);
	}
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("chunk");
	TCase *tc = tcase_create("chunk");

	tcase_add_test(tc, test_chunk_claim_finds_bits_below_its_hint);
	tcase_add_test(tc, test_chunk_block_start_gives_the_index);
	suite_add_tcase(s, tc);
	return s;
}
