// SPDX-License-Identifier: MIT
/*
 * check_prof.c - the heap profiler through the prefixed API, as a program
 * embedding libbitslab.a sees it: off unless asked for, estimates of two
 * call sites within 20% of what they hold, nothing left of blocks that
 * were freed (also by other threads, which ThreadSanitizer builds watch).
 *
 * Options are read once, at the allocator's first allocation: each test
 * sets BITSLAB_OPTIONS first thing, in the process Check forks for it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bitslab.h>

#include "unit.h"

#define EXPORTED __attribute__((visibility("default"), noinline))

void *prof_site_small(int n);
void *prof_site_large(int n);

static void *volatile sink;

/* Leaks @n blocks of 512 bytes, chained from the returned one. */
EXPORTED void *prof_site_small(int n)
{
	void **head = NULL;

	while (n--) {
		void **p = bitslab_malloc(512);

		p[0] = head;
		head = p;
	}
	return head;
}

/* Leaks @n blocks of 200 KiB (large blocks). */
EXPORTED void *prof_site_large(int n)
{
	void **head = NULL;

	while (n--) {
		void **p = bitslab_malloc(200 << 10);

		p[0] = head;
		head = p;
	}
	return head;
}

static void free_chain(void **p)
{
	while (p) {
		void **next = p[0];

		bitslab_free(p);
		p = next;
	}
}

static char path[64];

/* Each test's process ends with _exit(0) (tcase_add_exit_test()): no
 * profile or leak report from the allocator's destructor. */
static void prof_start(const char *options)
{
	snprintf(path, sizeof(path), "/tmp/check_prof.%d.heap", (int)getpid());
	setenv("BITSLAB_OPTIONS", options, 1);
}

/*
 * Dump a profile; return the estimated live bytes of the stacks whose first
 * frame is in function @fn (by dladdr()): the allocator's own frames must
 * have been dropped.
 */
static long live_bytes_through(const char *fn)
{
	static char line[4096];
	FILE *f;
	long total = 0;

	ck_assert_int_eq(bitslab_prof_dump(path), 0);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_msg(!strncmp(line, "heap profile: ", 14), "header: %s", line);
	while (fgets(line, sizeof(line), f) && strchr(line, '@')) {
		long count, bytes;
		char *at = strchr(line, '@') + 1, *tok, *save;

		ck_assert_int_eq(sscanf(line, "%ld: %ld", &count, &bytes), 2);
		for (tok = strtok_r(at, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save)) {
			Dl_info info;
			uintptr_t pc = strtoul(tok, NULL, 16);

			if (dladdr((void *)(pc - 1), &info) && info.dli_sname &&
			    !strcmp(info.dli_sname, fn))
				total += bytes;
			break;
		}
	}
	fclose(f);
	unlink(path);
	return total;
}

static void assert_within(const char *what, long est, long truth)
{
	ck_assert_msg(est >= truth * 8 / 10 && est <= truth * 12 / 10,
		      "%s: estimated %ld bytes live, truly %ld", what, est, truth);
}

START_TEST(test_prof_off_unless_asked)
{
	unsetenv("BITSLAB_OPTIONS");
	bitslab_free(bitslab_malloc(16));
	ck_assert_int_eq(bitslab_prof_dump("/tmp/never-written.heap"), -EINVAL);
	ck_assert_int_ne(access("/tmp/never-written.heap", F_OK), 0);
	_exit(0);
}
END_TEST

START_TEST(test_prof_estimates_two_sites)
{
	void *a, *b;

	prof_start("prof=1,leaks=1,prof_sample=65536");
	a = prof_site_small(60000);		/* 30.7 MB */
	b = prof_site_large(150);		/* 30.7 MB */
	assert_within("prof_site_small", live_bytes_through("prof_site_small"),
		      60000L * 512);
	assert_within("prof_site_large", live_bytes_through("prof_site_large"),
		      150L * (200 << 10));
	free_chain(a);
	free_chain(b);
	ck_assert_int_eq(live_bytes_through("prof_site_small"), 0);
	ck_assert_int_eq(live_bytes_through("prof_site_large"), 0);
	_exit(0);
}
END_TEST

void *prof_site_grow(int n);

/* Leaks @n blocks grown by realloc from 100 to 300 KiB, and shrunk from
 * 2 KiB to 1 KiB. */
EXPORTED void *prof_site_grow(int n)
{
	void **head = NULL;

	while (n--) {
		void **p = bitslab_realloc(bitslab_malloc(100 << 10), 300 << 10);
		void **q = bitslab_realloc(bitslab_malloc(2048), 1024);

		p[0] = head;
		p[1] = q;
		head = p;
	}
	return head;
}

START_TEST(test_prof_follows_realloc)
{
	prof_start("prof=1,prof_sample=65536");
	sink = prof_site_grow(100);
	/* Large blocks counted at their new size; the small ones at theirs. */
	assert_within("prof_site_grow", live_bytes_through("prof_site_grow"),
		      100L * (300 << 10) + 100L * 1024);
	_exit(0);
}
END_TEST

struct handoff {
	void **chain;
};

static void *make_and_pass(void *arg)
{
	struct handoff *h = arg;

	h->chain = prof_site_small(20000 / SLOW_SCALE);
	return NULL;
}

static void *free_passed(void *arg)
{
	struct handoff *h = arg;

	free_chain(h->chain);
	return NULL;
}

START_TEST(test_prof_blocks_freed_by_other_threads_leave_it)
{
	struct handoff h[4];

	prof_start("prof=1,prof_sample=4096");
	run_threads(4, make_and_pass, h, sizeof(h[0]));
	ck_assert_int_gt(live_bytes_through("prof_site_small"), 0);
	run_threads(4, free_passed, h, sizeof(h[0]));
	/* Blocks freed remotely leave the profile once their owner has taken
	 * them back: at its next refill, or when the owner exited (here). */
	ck_assert_int_eq(live_bytes_through("prof_site_small"), 0);
	_exit(0);
}
END_TEST

static void *make_and_exit(void *arg)
{
	struct handoff *h = arg;

	h->chain = prof_site_small(15);
	return NULL;	/* its chunk becomes shared, 15 blocks taken */
}

/*
 * Blocks of a shared chunk freed among a free storm of the thread's own
 * blocks: under the profiler every bin holds one block, so the storm
 * starts at once, and a storm free that left the outbox waiting (review
 * of 02b8eac) left the shared chunk's blocks in it, still live in the
 * profile and in the leak report at exit.
 */
START_TEST(test_prof_shared_blocks_freed_in_a_storm_leave_it)
{
	struct handoff h;
	void *own[200];
	void **p;
	int i;

	prof_start("prof=1,prof_sample=1");
	run_threads(1, make_and_exit, &h, sizeof(h));
	for (i = 0; i < 200; i++)
		own[i] = bitslab_malloc(64);
	p = h.chain;
	for (i = 0; i < 200; i++) {
		bitslab_free(own[i]);
		if (i % 10 == 5 && p) {
			void **next = p[0];

			bitslab_free(p);
			p = next;
		}
	}
	ck_assert_ptr_null(p);
	ck_assert_int_eq(live_bytes_through("prof_site_small"), 0);
	_exit(0);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("prof");
	TCase *tc = tcase_create("sampling");

	tcase_set_timeout(tc, 60);
	tcase_add_exit_test(tc, test_prof_off_unless_asked, 0);
	tcase_add_exit_test(tc, test_prof_estimates_two_sites, 0);
	tcase_add_exit_test(tc, test_prof_blocks_freed_by_other_threads_leave_it, 0);
	tcase_add_exit_test(tc, test_prof_follows_realloc, 0);
	tcase_add_exit_test(tc, test_prof_shared_blocks_freed_in_a_storm_leave_it,
			    0);
	suite_add_tcase(s, tc);
	return s;
}
