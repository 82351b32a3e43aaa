// SPDX-License-Identifier: MIT
/*
 * check_bitmap.c - single-word bit helpers and the atomic multi-word bitmap
 * (include/bitslab/bitops.h, atomics/bitmap.c): claims hand out each bit to
 * exactly one caller, releases report bits that were already clear, and the
 * unusable tail of a bitmap is never handed out.
 */
#include <string.h>

#include <bitslab/bitops.h>

#include "unit.h"

START_TEST(test_bitops_single_word_helpers)
{
	ck_assert_uint_eq(__ffs(1), 0);
	ck_assert_uint_eq(__ffs(0x80), 7);
	ck_assert_uint_eq(__ffs(1UL << 63), 63);
	ck_assert_uint_eq(ffz(0), 0);
	ck_assert_uint_eq(ffz(0x7f), 7);
	ck_assert_uint_eq(ffz(~(1UL << 63)), 63);
	ck_assert_uint_eq(fls_long(0), 0);
	ck_assert_uint_eq(fls_long(1), 1);
	ck_assert_uint_eq(fls_long(0x90), 8);
	ck_assert_uint_eq(ilog2(4096), 12);
	ck_assert_uint_eq(ilog2(4097), 12);
	ck_assert_uint_eq(hweight_long(0), 0);
	ck_assert_uint_eq(hweight_long(~0UL), 64);
	ck_assert_uint_eq(hweight_long(0xf0f0), 8);
	ck_assert(is_power_of_2(1) && is_power_of_2(1UL << 40));
	ck_assert(!is_power_of_2(0) && !is_power_of_2(48));
}
END_TEST

START_TEST(test_bitmap_init_marks_tail_taken)
{
	_Atomic unsigned long map[4];
	long i;

	bitmap_init(map, 100, 256);
	/* 156 bits beyond the usable 100 start set. */
	ck_assert_uint_eq(bitmap_weight(map, 256), 156);
	ck_assert_uint_eq(bitmap_weight(map, 100), 0);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(bitmap_claim_first_zero(map, 256), i);
	ck_assert_int_eq(bitmap_claim_first_zero(map, 256), -1);
}
END_TEST

START_TEST(test_bitmap_claim_lowest_first_and_reuse)
{
	_Atomic unsigned long map[2];
	long i;

	bitmap_init(map, 128, 128);
	for (i = 0; i < 128; i++)
		ck_assert_int_eq(bitmap_claim_first_zero(map, 128), i);
	ck_assert_int_eq(bitmap_claim_first_zero(map, 128), -1);
	ck_assert(test_and_clear_bit_release(37, map));
	ck_assert(test_and_clear_bit_release(100, map));
	ck_assert_int_eq(bitmap_claim_first_zero(map, 128), 37);
	ck_assert_int_eq(bitmap_claim_first_zero(map, 128), 100);
	ck_assert_int_eq(bitmap_claim_first_zero(map, 128), -1);
}
END_TEST

START_TEST(test_bitmap_second_release_is_reported)
{
	_Atomic unsigned long map[1];

	bitmap_init(map, 64, 64);
	ck_assert(!test_and_set_bit_acquire(5, map));
	ck_assert(test_and_set_bit_acquire(5, map));	/* already taken */
	ck_assert(test_bit(5, map));
	ck_assert(test_and_clear_bit_release(5, map));
	ck_assert(!test_and_clear_bit_release(5, map)); /* double release */
	ck_assert(!test_bit(5, map));
}
END_TEST

START_TEST(test_bitmap_claim_mask_returns_only_new_bits)
{
	_Atomic unsigned long map[2];

	bitmap_init(map, 128, 128);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, 0x0f), 0x0f);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, 0xff), 0xf0);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, 0xff), 0);
	ck_assert_uint_eq(bitmap_weight(map, 128), 8);
	ck_assert_uint_eq(READ_ONCE(map[0]), 0);
}
END_TEST

START_TEST(test_bitmap_release_mask_reports_already_clear)
{
	_Atomic unsigned long map[1];

	bitmap_init(map, 64, 64);
	bitmap_claim_mask(map, 0, 0x3c);
	/* 0x03 were never taken: only 0x0c come back as "were set". */
	ck_assert_uint_eq(bitmap_release_mask(map, 0, 0x0f), 0x0c);
	ck_assert_uint_eq(bitmap_release_mask(map, 0, 0x30), 0x30);
	ck_assert_uint_eq(bitmap_weight(map, 64), 0);
}
END_TEST

START_TEST(test_bitmap_find_next_zero_edges)
{
	_Atomic unsigned long map[3];

	bitmap_init(map, 150, 192);
	ck_assert_uint_eq(bitmap_find_next_zero(map, 150, 0), 0);
	ck_assert_uint_eq(bitmap_find_next_zero(map, 150, 149), 149);
	ck_assert_uint_eq(bitmap_find_next_zero(map, 150, 150), 150);
	bitmap_claim_mask(map, 0, ~0UL);
	bitmap_claim_mask(map, 1, ~0UL >> 1);
	ck_assert_uint_eq(bitmap_find_next_zero(map, 150, 3), 127);
	bitmap_claim_mask(map, 1, 1UL << 63);
	ck_assert_uint_eq(bitmap_find_next_zero(map, 150, 0), 128);
	bitmap_claim_mask(map, 2, BITMAP_LAST_WORD_MASK(150));
	/* Full: the set tail beyond 150 must not be reported as a zero. */
	ck_assert_uint_eq(bitmap_find_next_zero(map, 150, 0), 150);
}
END_TEST

START_TEST(test_bitmap_weight_matches_naive_count)
{
	_Atomic unsigned long map[8];
	uint64_t seed = 42;
	unsigned long expect = 0, i, n = 500;

	bitmap_init(map, n, 512);
	for (i = 0; i < n; i++) {
		if (prng_next(&seed) & 1) {
			test_and_set_bit_acquire(i, map);
			expect++;
		}
	}
	ck_assert_uint_eq(bitmap_weight(map, n), expect);
	ck_assert_uint_eq(bitmap_weight(map, 512), expect + 12);
}
END_TEST

/* Threads claim until the bitmap is full: distinct bits, all of them. */
#define CLAIMERS 4
#define CLAIM_BITS 4000

static _Atomic unsigned long claim_map[BITS_TO_LONGS(CLAIM_BITS)];
static _Atomic int claimed_by[CLAIM_BITS];

struct claimer {
	int id;
	long got;
};

static void *claim_until_full(void *arg)
{
	struct claimer *c = arg;
	long bit;

	start_line_wait();
	while ((bit = bitmap_claim_first_zero(claim_map, CLAIM_BITS)) >= 0) {
		int none = 0;

		/* A second owner of the same bit would find the slot taken. */
		if (atomic_compare_exchange_strong(&claimed_by[bit], &none,
						   c->id + 1))
			c->got++;
	}
	return NULL;
}

START_TEST(test_bitmap_concurrent_claims_are_distinct_and_complete)
{
	struct claimer c[CLAIMERS];
	long total = 0, i;

	bitmap_init(claim_map, CLAIM_BITS, CLAIM_BITS);
	memset(claimed_by, 0, sizeof(claimed_by));
	for (i = 0; i < CLAIMERS; i++)
		c[i] = (struct claimer){ .id = (int)i };
	start_line_init(CLAIMERS);
	run_threads(CLAIMERS, claim_until_full, c, sizeof(c[0]));
	for (i = 0; i < CLAIMERS; i++)
		total += c[i].got;
	ck_assert_int_eq(total, CLAIM_BITS);
	for (i = 0; i < CLAIM_BITS; i++)
		ck_assert_int_ne(READ_ONCE(claimed_by[i]), 0);
	ck_assert_uint_eq(bitmap_weight(claim_map, CLAIM_BITS), CLAIM_BITS);
}
END_TEST

/*
 * Claim, hold, release, repeated by several threads over a small bitmap so
 * that every bit is fought over: nobody may ever hold a bit another thread
 * holds, and every release must find its bit set.
 */
#define CHURN_BITS 96
#define CHURN_ROUNDS 100000

static _Atomic unsigned long churn_map[BITS_TO_LONGS(CHURN_BITS)];
static _Atomic int holder[CHURN_BITS];

struct churner {
	int id;
	long overlaps, bad_releases;
};

static void *claim_hold_release(void *arg)
{
	struct churner *c = arg;
	long r, bit;

	start_line_wait();
	for (r = 0; r < CHURN_ROUNDS; r++) {
		bit = bitmap_claim_first_zero(churn_map, CHURN_BITS);
		if (bit < 0)
			continue;
		if (xchg(&holder[bit], c->id + 1) != 0)
			c->overlaps++;
		if (xchg(&holder[bit], 0) != c->id + 1)
			c->overlaps++;
		if (!test_and_clear_bit_release((unsigned long)bit, churn_map))
			c->bad_releases++;
	}
	return NULL;
}

START_TEST(test_bitmap_concurrent_claim_release_never_shares_a_bit)
{
	struct churner c[CLAIMERS];
	int i;

	bitmap_init(churn_map, CHURN_BITS, CHURN_BITS);
	memset(holder, 0, sizeof(holder));
	for (i = 0; i < CLAIMERS; i++)
		c[i] = (struct churner){ .id = i };
	start_line_init(CLAIMERS);
	run_threads(CLAIMERS, claim_hold_release, c, sizeof(c[0]));
	for (i = 0; i < CLAIMERS; i++) {
		ck_assert_int_eq(c[i].overlaps, 0);
		ck_assert_int_eq(c[i].bad_releases, 0);
	}
	ck_assert_uint_eq(bitmap_weight(churn_map, CHURN_BITS), 0);
}
END_TEST

/* Whole-word claims racing single-bit claims still split the bits exactly. */
#define WORDS 64

static _Atomic unsigned long mixed_map[WORDS];
static _Atomic long mixed_total;

static void *word_claimer(void *arg)
{
	unsigned long w;
	long got = 0;

	start_line_wait();
	for (w = 0; w < WORDS; w++)
		got += hweight_long(bitmap_claim_mask(mixed_map, w, ~0UL));
	fetch_add(&mixed_total, got);
	return NULL;
}

static void *bit_claimer(void *arg)
{
	long got = 0;

	start_line_wait();
	while (bitmap_claim_first_zero(mixed_map, WORDS * BITS_PER_LONG) >= 0)
		got++;
	fetch_add(&mixed_total, got);
	return NULL;
}

static void *mixed_claimer(void *arg)
{
	return (*(int *)arg & 1) ? word_claimer(arg) : bit_claimer(arg);
}

START_TEST(test_bitmap_word_and_bit_claims_split_exactly)
{
	int ids[CLAIMERS] = { 0, 1, 2, 3 };

	bitmap_init(mixed_map, WORDS * BITS_PER_LONG, WORDS * BITS_PER_LONG);
	WRITE_ONCE(mixed_total, 0);
	start_line_init(CLAIMERS);
	run_threads(CLAIMERS, mixed_claimer, ids, sizeof(ids[0]));
	ck_assert_int_eq(READ_ONCE(mixed_total), WORDS * BITS_PER_LONG);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("bitmap");
	TCase *tc = tcase_create("single-thread");
	TCase *mt = tcase_create("concurrent");

	tcase_add_test(tc, test_bitops_single_word_helpers);
	tcase_add_test(tc, test_bitmap_init_marks_tail_taken);
	tcase_add_test(tc, test_bitmap_claim_lowest_first_and_reuse);
	tcase_add_test(tc, test_bitmap_second_release_is_reported);
	tcase_add_test(tc, test_bitmap_claim_mask_returns_only_new_bits);
	tcase_add_test(tc, test_bitmap_release_mask_reports_already_clear);
	tcase_add_test(tc, test_bitmap_find_next_zero_edges);
	tcase_add_test(tc, test_bitmap_weight_matches_naive_count);
	suite_add_tcase(s, tc);

	tcase_set_timeout(mt, 120);
	tcase_add_test(mt, test_bitmap_concurrent_claims_are_distinct_and_complete);
	tcase_add_test(mt, test_bitmap_concurrent_claim_release_never_shares_a_bit);
	tcase_add_test(mt, test_bitmap_word_and_bit_claims_split_exactly);
	suite_add_tcase(s, mt);
	return s;
}
