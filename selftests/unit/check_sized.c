// SPDX-License-Identifier: MIT
/*
 * check_sized.c - the sized frees (free_sized(), free_aligned_sized(), C++
 * sized delete) check the size they are given against the block, through
 * bitslab_free_sized_op(), which libbitslab.so's entry points call.  A size
 * that could not have given the block ends the process with one line; the
 * size every call could have asked for, at every alignment, is accepted.
 * The same through LD_PRELOAD and the standard names:
 * selftests/preload/check_sized.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bitslab.h>

#include "api.h"
#include "misuse.h"
#include "unit.h"

#define WRONG "free_sized with wrong size"
#define WRONG_ALIGNED "free_aligned_sized with wrong size"
#define MAX_SIZE 70000

static void sized_free(void *p, size_t size)
{
	bitslab_free_sized_op(p, 0, size, WRONG);
}

static void aligned_sized_free(void *p, size_t align, size_t size)
{
	bitslab_free_sized_op(p, align, size, WRONG_ALIGNED);
}

static void small_larger_class(void)
{
	sized_free(bitslab_malloc(48), 4096);
}

static void small_smaller_class(void)
{
	sized_free(bitslab_malloc(1000), 16);
}

static void small_large_size(void)
{
	sized_free(bitslab_malloc(100), 100000);
}

static void large_beyond_usable(void)
{
	sized_free(bitslab_malloc(100000), 200000);
}

static void large_small_size(void)
{
	sized_free(bitslab_malloc(100000), 100);
}

static void large_other_mapping(void)
{
	sized_free(bitslab_malloc(1 << 20), (1 << 20) - 200000);
}

static void aligned_wrong_size(void)
{
	aligned_sized_free(bitslab_aligned_alloc(128, 100), 128, 5000);
}

static void aligned_wrong_alignment(void)
{
	/* An alignment no class gives: a large block, not malloc(100)'s. */
	aligned_sized_free(bitslab_aligned_alloc(4096, 100), 16, 100);
}

static void sized_double_free(void)
{
	void *p = bitslab_malloc(48);

	sized_free(p, 48);
	sized_free(p, 48);
}

static void sized_double_free_wrong_size(void)
{
	void *p = bitslab_malloc(48);

	sized_free(p, 48);
	sized_free(p, 4096);
}

START_TEST(test_sized_wrong_size_small)
{
	char out[1024];

	expect_abort(small_larger_class, WRONG " of 0x");
	expect_abort(small_smaller_class, WRONG " of 0x");
	expect_abort(small_large_size, WRONG " of 0x");
	run_child(small_larger_class, out, sizeof(out));
	ck_assert_msg(strstr(out, "(size class 48)"), "got '%s'", out);
}
END_TEST

START_TEST(test_sized_wrong_size_large)
{
	char out[1024];

	expect_abort(large_beyond_usable, WRONG " of 0x");
	expect_abort(large_small_size, WRONG " of 0x");
	expect_abort(large_other_mapping, WRONG " of 0x");
	run_child(large_small_size, out, sizeof(out));
	ck_assert_msg(strstr(out, "(large block)"), "got '%s'", out);
}
END_TEST

START_TEST(test_sized_wrong_size_aligned)
{
	expect_abort(aligned_wrong_size, WRONG_ALIGNED " of 0x");
	expect_abort(aligned_wrong_alignment, WRONG_ALIGNED " of 0x");
}
END_TEST

/* A freed block is a double free, whatever size comes with it. */
START_TEST(test_sized_double_free)
{
	expect_abort(sized_double_free, "double free");
	expect_abort(sized_double_free_wrong_size, "double free");
}
END_TEST

START_TEST(test_sized_every_size_accepted)
{
	size_t s;
	void *p;

	for (s = 0; s <= MAX_SIZE; s++) {
		p = bitslab_malloc(s);
		ck_assert_ptr_nonnull(p);
		sized_free(p, s);
		p = bitslab_calloc(1, s);
		ck_assert_ptr_nonnull(p);
		sized_free(p, s);
		/* The usable size too: it gets the same class or mapping. */
		p = bitslab_malloc(s);
		sized_free(p, bitslab_usable_size(p));
	}
	sized_free(NULL, 12345);
}
END_TEST

static const size_t aligns[] = { 0, 1, 8, 16, 32, 64, 128, 256, 4096, 65536 };

START_TEST(test_sized_every_aligned_size_accepted)
{
	size_t align = aligns[_i], s, step = SLOW_SCALE;
	void *p;

	for (s = 0; s <= MAX_SIZE; s += step) {
		p = bitslab_aligned_alloc(align ? align : 1, s);
		ck_assert_ptr_nonnull(p);
		aligned_sized_free(p, align ? align : 1, s);
	}
}
END_TEST

/* realloc leaves a block in place while the new size fits: the new size
 * is the one asked for, and must be accepted. */
START_TEST(test_sized_realloc_size_accepted)
{
	static const size_t from[] = { 1, 100, 1000, 1024, 5000, 32768,
				       40000, 200000, 1 << 20, 5 << 20 };
	unsigned int i;
	size_t s;
	void *p;

	for (i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		for (s = 1; s <= from[i] * 2; s += 1 + s / 64) {
			p = bitslab_malloc(from[i]);
			p = bitslab_realloc(p, s);
			ck_assert_ptr_nonnull(p);
			sized_free(p, s);
		}
	}
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("sized");
	TCase *tc = tcase_create("caught");
	TCase *ok = tcase_create("accepted");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sized_wrong_size_small);
	tcase_add_test(tc, test_sized_wrong_size_large);
	tcase_add_test(tc, test_sized_wrong_size_aligned);
	tcase_add_checked_test(tc, test_sized_double_free);
	suite_add_tcase(s, tc);
	tcase_set_timeout(ok, 120);
	tcase_add_test(ok, test_sized_every_size_accepted);
	tcase_add_loop_test(ok, test_sized_every_aligned_size_accepted, 0,
			    sizeof(aligns) / sizeof(aligns[0]));
	tcase_add_test(ok, test_sized_realloc_size_accepted);
	suite_add_tcase(s, ok);
	return s;
}
