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
	ck_assert_uint_eq(ilog2(1), 0);
	ck_assert_uint_eq(ilog2(4096), 12);
	ck_assert_uint_eq(ilog2(4097), 12);
	ck_assert_uint_eq(ilog2(~0UL), 63);
	ck_assert_uint_eq(hweight_long(0), 0);
	ck_assert_uint_eq(hweight_long(~0UL), 64);
	ck_assert_uint_eq(hweight_long(0xf0f0), 8);
}
END_TEST

START_TEST(test_bitmap_init_marks_tail_taken)
{
	_Atomic unsigned long map[4];

	bitmap_init(map, 100, 256);
	/* 156 bits beyond the usable 100 start set: no claim returns them. */
	ck_assert_uint_eq(bitmap_claim_mask(map, 0, ~0UL), ~0UL);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, ~0UL),
			  BITMAP_LAST_WORD_MASK(100));
	ck_assert_uint_eq(bitmap_claim_mask(map, 2, ~0UL), 0);
	ck_assert_uint_eq(bitmap_claim_mask(map, 3, ~0UL), 0);
}
END_TEST

START_TEST(test_bitmap_released_bits_are_claimed_again)
{
	_Atomic unsigned long map[2];

	bitmap_init(map, 128, 128);
	bitmap_claim_mask(map, 0, ~0UL);
	bitmap_claim_mask(map, 1, ~0UL);
	ck_assert_uint_eq(bitmap_release_mask(map, 0, 1UL << 37), 1UL << 37);
	ck_assert_uint_eq(bitmap_release_mask(map, 1, 1UL << 36), 1UL << 36);
	/* Only the released bits come back, and only once. */
	ck_assert_uint_eq(bitmap_claim_mask(map, 0, ~0UL), 1UL << 37);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, ~0UL), 1UL << 36);
	ck_assert_uint_eq(bitmap_claim_mask(map, 0, ~0UL), 0);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, ~0UL), 0);
}
END_TEST

START_TEST(test_bitmap_claim_mask_returns_only_new_bits)
{
	_Atomic unsigned long map[2];

	bitmap_init(map, 128, 128);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, 0x0f), 0x0f);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, 0xff), 0xf0);
	ck_assert_uint_eq(bitmap_claim_mask(map, 1, 0xff), 0);
	ck_assert_uint_eq(READ_ONCE(map[1]), 0xff);
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
	/* A second release of the same bits (a double free) is reported. */
	ck_assert_uint_eq(bitmap_release_mask(map, 0, 0x30), 0);
	ck_assert_uint_eq(READ_ONCE(map[0]), 0);
}
END_TEST

/*
 * Threads claim random subsets of each word's clear bits until the bitmap
 * is full: every bit goes to exactly one thread, none of the tail.
 */
#define CLAIMERS 4
#define CLAIM_BITS 4000

static _Atomic unsigned long claim_map[BITS_TO_LONGS(CLAIM_BITS)];
static _Atomic int claimed_by[CLAIM_BITS];

struct claimer {
	int id;
	long got, tail;
	uint64_t seed;
};

static void *claim_until_full(void *arg)
{
	struct claimer *c = arg;
	unsigned long w;

	start_line_wait();
	for (w = 0; w < BITS_TO_LONGS(CLAIM_BITS); w++) {
		unsigned long clear;

		while ((clear = ~READ_ONCE(claim_map[w])) != 0) {
			unsigned long mask = clear & prng_next(&c->seed);
			unsigned long mine;

			mine = bitmap_claim_mask(claim_map, w,
						 mask ? mask : clear);
			while (mine) {
				unsigned long bit = w * BITS_PER_LONG +
						    __ffs(mine);
				int none = 0;

				mine &= mine - 1;
				if (bit >= CLAIM_BITS) {
					c->tail++;
					continue;
				}
				/* A second owner would find the slot taken. */
				if (atomic_compare_exchange_strong(
					    &claimed_by[bit], &none, c->id + 1))
					c->got++;
			}
		}
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
		c[i] = (struct claimer){
			.id = (int)i,
			.seed = 0x9e3779b97f4a7c15ULL + (uint64_t)i,
		};
	start_line_init(CLAIMERS);
	run_threads(CLAIMERS, claim_until_full, c, sizeof(c[0]));
	for (i = 0; i < CLAIMERS; i++) {
		ck_assert_int_eq(c[i].tail, 0);
		total += c[i].got;
	}
	ck_assert_int_eq(total, CLAIM_BITS);
	for (i = 0; i < CLAIM_BITS; i++)
		ck_assert_int_ne(READ_ONCE(claimed_by[i]), 0);
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
	uint64_t seed;
};

static void *claim_hold_release(void *arg)
{
	struct churner *c = arg;
	long r;

	start_line_wait();
	for (r = 0; r < CHURN_ROUNDS; r++) {
		unsigned long bit = prng_next(&c->seed) % CHURN_BITS;
		unsigned long w = BIT_WORD(bit), mask = BIT_MASK(bit);

		if (!bitmap_claim_mask(churn_map, w, mask))
			continue;
		if (xchg(&holder[bit], c->id + 1) != 0)
			c->overlaps++;
		if (xchg(&holder[bit], 0) != c->id + 1)
			c->overlaps++;
		if (bitmap_release_mask(churn_map, w, mask) != mask)
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
		c[i] = (struct churner){ .id = i, .seed = 42 + (uint64_t)i };
	start_line_init(CLAIMERS);
	run_threads(CLAIMERS, claim_hold_release, c, sizeof(c[0]));
	for (i = 0; i < CLAIMERS; i++) {
		ck_assert_int_eq(c[i].overlaps, 0);
		ck_assert_int_eq(c[i].bad_releases, 0);
	}
	ck_assert_uint_eq(READ_ONCE(churn_map[0]), 0);
	ck_assert_uint_eq(READ_ONCE(churn_map[1]),
			  ~BITMAP_LAST_WORD_MASK(CHURN_BITS));
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
	unsigned long i;
	long got = 0;

	start_line_wait();
	for (i = 0; i < WORDS * BITS_PER_LONG; i++)
		if (bitmap_claim_mask(mixed_map, BIT_WORD(i), BIT_MASK(i)))
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
	tcase_add_test(tc, test_bitmap_released_bits_are_claimed_again);
	tcase_add_test(tc, test_bitmap_claim_mask_returns_only_new_bits);
	tcase_add_test(tc, test_bitmap_release_mask_reports_already_clear);
	suite_add_tcase(s, tc);

	tcase_set_timeout(mt, 120);
	tcase_add_test(mt, test_bitmap_concurrent_claims_are_distinct_and_complete);
	tcase_add_test(mt, test_bitmap_concurrent_claim_release_never_shares_a_bit);
	tcase_add_test(mt, test_bitmap_word_and_bit_claims_split_exactly);
	suite_add_tcase(s, mt);
	return s;
}
