// SPDX-License-Identifier: MIT
/*
 * check_misuse.c - heap misuse is caught before it corrupts anything: the
 * process prints one line naming the problem and the pointer, then aborts.
 * Each case runs in a child process; the test reads the child's stderr and
 * checks it died of SIGABRT.  The eight cases of the mission, plus a few
 * that exercise other paths (remote double free, spans, chunk headers).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bitslab.h>

#include "misuse.h"
#include "unit.h"

static void double_free_small(void)
{
	void *p = bitslab_malloc(48);

	bitslab_free(p);
	bitslab_free(p);
}

static void double_free_small_after_reuse(void)
{
	static void *a[3000];
	void *p;
	int i;

	for (i = 0; i < 3000; i++)
		a[i] = bitslab_malloc(48);
	p = a[1500];
	bitslab_free(p);
	/* p goes back to its chunk's bitmap; then the chunk's other blocks
	 * are freed (bins overflow and flush) while p stays free. */
	bitslab_trim();
	for (i = 0; i < 3000; i++)
		if (i != 1500)
			bitslab_free(a[i]);
	bitslab_free(p);
}

static void double_free_large(void)
{
	void *p = bitslab_malloc(1 << 20);

	bitslab_free(p);
	bitslab_free(p);
}

static void free_stack_address(void)
{
	char buf[64];

	bitslab_free(buf + 16);
}

static void free_interior_small(void)
{
	char *p = bitslab_malloc(64);

	bitslab_free(p + 16);
}

static void free_interior_large(void)
{
	char *p = bitslab_malloc(1 << 20);

	bitslab_free(p + 4096);
}

static void realloc_freed_block(void)
{
	void *p = bitslab_malloc(100), *q;

	bitslab_free(p);
	q = bitslab_realloc(p, 200);
	(void)q;
}

static void free_wild_address(void)
{
	bitslab_free((void *)(uintptr_t)0x7e57dead0000ULL);
}

static void free_static_address(void)
{
	static char global[128];

	bitslab_free(global + 32);
}

/* 20 blocks of 8192 bytes into @p: they live in 512 KiB spans, and
 * blocks 16 - 23 start in a span's third 64 KiB region. */
static void span_blocks(char **p)
{
	int i;

	for (i = 0; i < 20; i++)
		p[i] = bitslab_malloc(8192);
}

static void free_interior_span(void)
{
	char *p[20];

	span_blocks(p);
	bitslab_free(p[19] + 100);	/* a pointer into block 19 */
}

/*
 * The free fast path knows a span's later regions too (struct hot_slot):
 * once a free of block 18 made the third region of the span hot, frees of
 * its neighbour take the fast path, with the same checks.
 */
static void free_interior_span_hot(void)
{
	char *p[20];

	span_blocks(p);
	bitslab_free(p[18]);
	bitslab_free(p[19] + 100);
}

static void double_free_span_hot(void)
{
	char *p[20];

	span_blocks(p);
	bitslab_free(p[18]);
	bitslab_free(p[19]);
	bitslab_free(p[19]);
}

/*
 * A span's later region stays hot while the free of block 19 made it so;
 * then every block goes back and trim gives the span up, with its regions'
 * slots.  A second free of block 19 must be looked up afresh: a slot left
 * behind would send it to a chunk that is no longer there.
 */
static void double_free_span_after_trim(void)
{
	char *p[20];
	int i;

	span_blocks(p);
	for (i = 19; i >= 0; i--)
		bitslab_free(p[i]);
	bitslab_trim();
	bitslab_free(p[19]);
}

static void free_chunk_header(void)
{
	char *p = bitslab_malloc(32);
	uintptr_t chunk = (uintptr_t)p & ~(uintptr_t)0xffff;

	bitslab_free((void *)(chunk + 64));
}

static void *remote_double(void *arg)
{
	bitslab_free(arg);
	bitslab_free(arg);
	return NULL;
}

static void double_free_remote(void)
{
	pthread_t t;
	void *p = bitslab_malloc(80);

	pthread_create(&t, NULL, remote_double, p);
	pthread_join(t, NULL);
}

static void *remote_free(void *arg)
{
	bitslab_free(arg);
	return NULL;
}

/* Freed by its owner (it sits in the owner's bin), then by another thread. */
static void double_free_local_then_remote(void)
{
	pthread_t t;
	void *p = bitslab_malloc(80), *keep = bitslab_malloc(80);

	bitslab_free(p);
	pthread_create(&t, NULL, remote_free, p);
	pthread_join(t, NULL);
	bitslab_free(keep);
}

static void usable_size_interior_large(void)
{
	char *p = bitslab_malloc(1 << 20);

	(void)bitslab_usable_size(p + 4096);
}

static void realloc_interior_large(void)
{
	char *p = bitslab_malloc(1 << 20), *q;

	q = bitslab_realloc(p + 4096, 10);
	bitslab_free(q);
}

static void usable_size_interior_small(void)
{
	char *p = bitslab_malloc(64);

	(void)bitslab_usable_size(p + 16);
}

START_TEST(test_misuse_double_free_small)
{
	expect_abort(double_free_small, "double free");
}
END_TEST

START_TEST(test_misuse_double_free_small_after_reuse)
{
	expect_abort(double_free_small_after_reuse, "double free");
}
END_TEST

START_TEST(test_misuse_double_free_large)
{
	expect_abort(double_free_large, "double free");
}
END_TEST

START_TEST(test_misuse_free_stack_address)
{
	expect_abort(free_stack_address, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_free_interior_small)
{
	expect_abort(free_interior_small, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_free_interior_large)
{
	expect_abort(free_interior_large, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_realloc_freed_block)
{
	expect_abort(realloc_freed_block, "realloc of freed block");
}
END_TEST

START_TEST(test_misuse_free_wild_address)
{
	expect_abort(free_wild_address, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_free_static_address)
{
	expect_abort(free_static_address, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_free_interior_of_span)
{
	expect_abort(free_interior_span, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_free_interior_of_hot_span)
{
	expect_abort(free_interior_span_hot, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_double_free_in_hot_span)
{
	expect_abort(double_free_span_hot, "double free");
}
END_TEST

START_TEST(test_misuse_double_free_span_after_trim)
{
	expect_abort(double_free_span_after_trim, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_free_inside_chunk_header)
{
	expect_abort(free_chunk_header, "invalid pointer");
}
END_TEST

START_TEST(test_misuse_double_free_by_another_thread)
{
	expect_abort(double_free_remote, "double free");
}
END_TEST

START_TEST(test_misuse_double_free_local_then_remote)
{
	expect_abort(double_free_local_then_remote, "double free");
}
END_TEST

/* The report names the call that was made, not a guess from its name. */
START_TEST(test_misuse_report_names_the_call)
{
	expect_abort(usable_size_interior_large,
		     "bitslab_usable_size of invalid pointer");
	expect_abort(usable_size_interior_small,
		     "bitslab_usable_size of invalid pointer");
	expect_abort(realloc_interior_large, "realloc of invalid pointer");
	expect_abort(free_interior_large, "free of invalid pointer");
}
END_TEST

START_TEST(test_misuse_report_names_size_class)
{
	char out[1024];

	run_child(double_free_small, out, sizeof(out));
	ck_assert_msg(strstr(out, "(size class 48)"), "got '%s'", out);
}
END_TEST

/*
 * A block another thread freed waits in its owner's inbox with the remote
 * cookie in word 1; a stale write there is caught when the owner takes
 * the inbox (here through trim), whether the block's region is in one of
 * the owner's hot slots (@hot: the owner freed a block of it first, so
 * the slot names its chunk) or not (the page map and the header).
 */
static void write_after_remote_free(bool hot)
{
	pthread_t t;
	void **p = bitslab_malloc(48), *q = bitslab_malloc(48);

	if (hot)
		bitslab_free(q);
	pthread_create(&t, NULL, remote_free, p);
	pthread_join(t, NULL);	/* its exit sends its outbox */
	p[1] = (void *)0x4141414141414141ULL;
	bitslab_trim();
}

static void write_after_remote_free_hot(void)
{
	write_after_remote_free(true);
}

static void write_after_remote_free_cold(void)
{
	write_after_remote_free(false);
}

/*
 * Writes to freed blocks that reach the words bitslab keeps in them are
 * caught when the block would be handed out again, before the program gets
 * a block its own stale pointer still writes to.
 */
static void write_after_free_small(void)
{
	char *p = bitslab_malloc(64);

	bitslab_free(p);
	memset(p, 0x41, 64);
	p = bitslab_malloc(64);
	p[0] = 1;
}

/*
 * The classic free-list poisoning: a stale pointer rewrites the link of a
 * freed block to point at memory the attacker controls.  The block itself
 * is handed out (its cookie is intact), but the forged "block" after it
 * lacks the bin's cookie and is reported instead of returned.
 */
static void write_after_free_poisoned_link(void)
{
	static void *forged[8];
	void **p = bitslab_malloc(48), **q, **r;

	bitslab_free(p);
	p[0] = forged;
	q = bitslab_malloc(48);
	r = bitslab_malloc(48);
	/* Reached only if the forged block was handed out. */
	fprintf(stderr, "got %p then %p (forged %p)\n", (void *)q, (void *)r,
		(void *)forged);
}

START_TEST(test_misuse_write_after_remote_free)
{
	expect_abort(write_after_remote_free_hot, "write after free");
	expect_abort(write_after_remote_free_cold, "write after free");
}
END_TEST

START_TEST(test_misuse_write_after_free_small)
{
	expect_abort(write_after_free_small, "write after free");
}
END_TEST

START_TEST(test_misuse_write_after_free_poisoned_link)
{
	expect_abort(write_after_free_poisoned_link, "write after free");
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("misuse");
	TCase *tc = tcase_create("caught");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_test(tc, test_misuse_double_free_small);
	tcase_add_checked_test(tc, test_misuse_double_free_small_after_reuse);
	tcase_add_test(tc, test_misuse_double_free_large);
	tcase_add_test(tc, test_misuse_free_stack_address);
	tcase_add_checked_test(tc, test_misuse_free_interior_small);
	tcase_add_test(tc, test_misuse_free_interior_large);
	tcase_add_test(tc, test_misuse_realloc_freed_block);
	tcase_add_test(tc, test_misuse_free_wild_address);
	tcase_add_test(tc, test_misuse_free_static_address);
	tcase_add_checked_test(tc, test_misuse_free_interior_of_span);
	tcase_add_checked_test(tc, test_misuse_free_interior_of_hot_span);
	tcase_add_checked_test(tc, test_misuse_double_free_in_hot_span);
	tcase_add_test(tc, test_misuse_double_free_span_after_trim);
	tcase_add_checked_test(tc, test_misuse_free_inside_chunk_header);
	tcase_add_checked_test(tc, test_misuse_double_free_by_another_thread);
	tcase_add_checked_test(tc, test_misuse_double_free_local_then_remote);
	tcase_add_checked_test(tc, test_misuse_report_names_size_class);
	tcase_add_test(tc, test_misuse_report_names_the_call);
	tcase_add_checked_test(tc, test_misuse_write_after_remote_free);
	tcase_add_checked_test(tc, test_misuse_write_after_free_small);
	tcase_add_checked_test(tc, test_misuse_write_after_free_poisoned_link);
	suite_add_tcase(s, tc);
	return s;
}
