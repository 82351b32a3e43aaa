// SPDX-License-Identifier: MIT
/*
 * check_lifecycle.c - run under LD_PRELOAD=libbitslab.so: the chunk
 * lifecycle's misuse cases through the standard names (the prefixed-API
 * suite is selftests/unit/check_shared.c).  A block freed into a chunk of an
 * exited thread, back in its bitmap, adopted by another thread since, and
 * freed again is a double free; so is the free of a block never handed
 * out.  Each runs in a child that must abort with the one-line report.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "misuse.h"
#include "unit.h"

#define FILL 1300

static void *blocks[FILL];

static void *fill_and_exit(void *arg)
{
	int i;

	for (i = 0; i < FILL; i++) {
		blocks[i] = malloc(48);
		memset(blocks[i], 0x48, 48);
	}
	return NULL;
}

static void double_free_after_adoption(void)
{
	pthread_t t;
	void *p;
	int i;

	pthread_create(&t, NULL, fill_and_exit, NULL);
	pthread_join(t, NULL);
	for (i = 0; i < 1000; i++)
		free(blocks[i]);
	malloc_trim(0);
	p = malloc(48);		/* adopts the exited thread's chunk */
	for (i = 999; i >= 0; i--)
		if (blocks[i] != p)
			break;
	free(blocks[i]);
}

/*
 * A block start of a live chunk that was never handed out: the last
 * 16-byte block in the 8 KiB that @p starts in (a chunk is at least that
 * long and starts at a 64 KiB boundary; block starts of class 16 are the
 * multiples of 16 after its header; blocks are handed out lowest first).
 */
static void free_never_allocated(void)
{
	uintptr_t p = (uintptr_t)malloc(16);

	free((void *)((p | (8192 - 1)) + 1 - 16));
}

START_TEST(test_lifecycle_under_bitslab)
{
	ck_assert_msg(dlsym(RTLD_DEFAULT, "bitslab_version") != NULL,
		      "libbitslab.so is not preloaded");
}
END_TEST

START_TEST(test_lifecycle_double_free_after_adoption)
{
	expect_abort(double_free_after_adoption, "double free");
}
END_TEST

START_TEST(test_lifecycle_free_of_block_never_allocated)
{
	expect_abort(free_never_allocated, "double free");
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("lifecycle");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lifecycle_under_bitslab);
	tcase_add_test(tc, test_lifecycle_double_free_after_adoption);
	tcase_add_test(tc, test_lifecycle_free_of_block_never_allocated);
	suite_add_tcase(s, tc);
	return s;
}
