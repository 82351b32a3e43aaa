// SPDX-License-Identifier: MIT
/*
 * check_sized.c - run under LD_PRELOAD=libbitslab.so: C23's free_sized()
 * and free_aligned_sized() by their standard names.  A size that does not
 * belong to the block's size class ends the process with one line and
 * SIGABRT; every size a call could have asked for is accepted.  glibc 2.36
 * neither declares nor defines them, so they are looked up with dlsym().
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"
#include "unit.h"

#define MAX_SIZE 70000

static void (*sized_free)(void *, size_t);
static void (*aligned_sized_free)(void *, size_t, size_t);

static void lookup(void)
{
	sized_free = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
	aligned_sized_free = (void (*)(void *, size_t, size_t))
		dlsym(RTLD_DEFAULT, "free_aligned_sized");
	ck_assert_msg(sized_free && aligned_sized_free,
		      "free_sized or free_aligned_sized not exported");
}

static void small_wrong_size(void)
{
	sized_free(malloc(48), 4096);
}

static void large_wrong_size(void)
{
	sized_free(malloc(100000), 100);
}

static void large_beyond_usable(void)
{
	sized_free(malloc(100000), 200000);
}

static void aligned_wrong_size(void)
{
	aligned_sized_free(aligned_alloc(128, 100), 128, 5000);
}

static void aligned_wrong_alignment(void)
{
	aligned_sized_free(aligned_alloc(4096, 100), 16, 100);
}

START_TEST(test_sized_from_bitslab)
{
	Dl_info info;

	lookup();
	ck_assert_int_ne(dladdr((void *)sized_free, &info), 0);
	ck_assert_msg(strstr(info.dli_fname, "bitslab"),
		      "free_sized is %s's", info.dli_fname);
}
END_TEST

START_TEST(test_sized_wrong_size_caught)
{
	char out[1024];

	lookup();
	expect_abort(small_wrong_size, "free_sized with wrong size of 0x");
	expect_abort(large_wrong_size, "free_sized with wrong size of 0x");
	expect_abort(large_beyond_usable, "free_sized with wrong size of 0x");
	expect_abort(aligned_wrong_size,
		     "free_aligned_sized with wrong size of 0x");
	expect_abort(aligned_wrong_alignment,
		     "free_aligned_sized with wrong size of 0x");
	run_child(small_wrong_size, out, sizeof(out));
	ck_assert_msg(strstr(out, "(size class 48)"), "got '%s'", out);
}
END_TEST

static const size_t aligns[] = { 1, 16, 32, 64, 128, 256, 4096, 65536 };

START_TEST(test_sized_right_size_accepted)
{
	unsigned int i;
	size_t s;
	void *p;

	lookup();
	for (s = 0; s <= MAX_SIZE; s++) {
		p = malloc(s);
		ck_assert_ptr_nonnull(p);
		sized_free(p, s);
		p = calloc(s, 1);
		ck_assert_ptr_nonnull(p);
		sized_free(p, s);
		p = realloc(malloc(s / 2 + 1), s + 1);
		ck_assert_ptr_nonnull(p);
		sized_free(p, s + 1);
		for (i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
			p = aligned_alloc(aligns[i], s);
			ck_assert_ptr_nonnull(p);
			aligned_sized_free(p, aligns[i], s);
		}
	}
	sized_free(NULL, 1);
	aligned_sized_free(NULL, 64, 1);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("sized (LD_PRELOAD)");
	TCase *tc = tcase_create("sized");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sized_from_bitslab);
	tcase_add_test(tc, test_sized_wrong_size_caught);
	tcase_add_test(tc, test_sized_right_size_accepted);
	suite_add_tcase(s, tc);
	return s;
}
