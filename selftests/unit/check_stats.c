// SPDX-License-Identifier: MIT
/*
 * check_stats.c - the statistics a user reads: bitslab_stats_print() has a
 * row per size class in use and the large blocks by size range, and
 * bitslab_stats_print_json() counts the blocks a program holds in the
 * right class and range.  (That its JSON parses is checked with Python by
 * selftests/preload/stats.sh.)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bitslab.h>

#include "unit.h"

static char out[65536];

/* What @print wrote to a file descriptor, NUL-terminated, in out[]. */
static const char *capture(void (*print)(int))
{
	int fd = memfd_create("stats", 0);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	print(fd);
	n = pread(fd, out, sizeof(out) - 1, 0);
	ck_assert_int_gt(n, 0);
	out[n] = '\0';
	close(fd);
	return out;
}

/*
 * The value of @field in the JSON object that starts with "@key": @val in
 * the array named @array, or -1 if there is none.
 */
static long json_field(const char *json, const char *array, const char *key,
		       long val, const char *field)
{
	char pat[64];
	const char *p = strstr(json, array), *end, *f;

	ck_assert_ptr_nonnull(p);
	snprintf(pat, sizeof(pat), "{\"%s\": %ld,", key, val);
	p = strstr(p, pat);
	if (!p)
		return -1;
	end = strchr(p, '}');
	snprintf(pat, sizeof(pat), "\"%s\": ", field);
	f = strstr(p, pat);
	ck_assert_msg(f && f < end, "no %s in %.200s", field, p);
	return strtol(f + strlen(pat), NULL, 10);
}

/* The class whose blocks are @size bytes, from the text table. */
static long class_of(size_t size)
{
	void *p = bitslab_malloc(size);
	long cls = -1;
	size_t usable = bitslab_usable_size(p);
	const char *json = capture(bitslab_stats_print_json), *q;
	char pat[32];

	snprintf(pat, sizeof(pat), "\"size\": %zu,", usable);
	q = strstr(json, pat);
	ck_assert_msg(q, "no class of %zu bytes in %s", usable, json);
	while (q > json && strncmp(q, "{\"class\": ", 10))
		q--;
	cls = strtol(q + 10, NULL, 10);
	bitslab_free(p);
	return cls;
}

START_TEST(test_stats_class_counts_blocks_held)
{
	static void *p[3000];
	long cls = class_of(200), before, held, after, allocs;
	int i;

	before = json_field(capture(bitslab_stats_print_json), "\"classes\"",
			    "class", cls, "in_use");
	for (i = 0; i < 3000; i++)
		p[i] = bitslab_malloc(200);
	held = json_field(capture(bitslab_stats_print_json), "\"classes\"",
			  "class", cls, "in_use");
	allocs = json_field(out, "\"classes\"", "class", cls, "allocs");
	ck_assert_int_eq(held, before + 3000);
	ck_assert_int_ge(allocs, 3000);
	ck_assert_int_ge(json_field(out, "\"classes\"", "class", cls, "chunks"),
			 3000 / (65536 / 208));
	for (i = 0; i < 3000; i++)
		bitslab_free(p[i]);
	after = json_field(capture(bitslab_stats_print_json), "\"classes\"",
			   "class", cls, "in_use");
	ck_assert_int_eq(after, before);
	ck_assert_int_ge(json_field(out, "\"classes\"", "class", cls, "frees"),
			 2000);
}
END_TEST

/*
 * A refill claims about 2 KiB of blocks from its chunk (4 blocks at
 * least), not half its bin: a block claimed is a block written to, and
 * what the program does not ask for of it is memory touched for nothing
 * (core/refill.c).  The first block of a class claimed up to half the
 * bin: 67 blocks of 112 bytes.
 */
START_TEST(test_stats_refill_claims_about_2kib)
{
	static const size_t sizes[] = { 100, 700 };
	unsigned int i;

	unsetenv("BITSLAB_OPTIONS");	/* secure bins claim half the bin */
	for (i = 0; i < 2; i++) {
		long cls = class_of(sizes[i]);	/* its first block */
		long claimed = json_field(out, "\"classes\"", "class", cls,
					  "allocs");
		size_t size = sizes[i] == 100 ? 112 : 704;

		ck_assert_int_ge(claimed, 1);
		ck_assert_msg(claimed * size <= 2048 || claimed <= 4,
			      "%ld blocks of %zu bytes claimed for one",
			      claimed, size);
	}
}
END_TEST

struct remote_arg {
	void **blocks;
	int n;
};

static void *free_all(void *arg)
{
	struct remote_arg *a = arg;
	int i;

	for (i = 0; i < a->n; i++)
		bitslab_free(a->blocks[i]);
	return NULL;
}

START_TEST(test_stats_remote_frees_counted_in_their_class)
{
	static void *p[500];
	struct remote_arg a = { p, 500 };
	long cls = class_of(1000), before;
	int i;

	before = json_field(capture(bitslab_stats_print_json), "\"classes\"",
			    "class", cls, "remote_frees");
	for (i = 0; i < 500; i++)
		p[i] = bitslab_malloc(1000);
	run_threads(1, free_all, &a, sizeof(a));
	ck_assert_int_eq(json_field(capture(bitslab_stats_print_json),
				    "\"classes\"", "class", cls, "remote_frees"),
			 before + 500);
}
END_TEST

START_TEST(test_stats_large_blocks_by_range)
{
	void *p[3];
	int i;

	for (i = 0; i < 3; i++)
		p[i] = bitslab_malloc(3 << 20);		/* 3 MiB + header */
	capture(bitslab_stats_print_json);
	ck_assert_int_ge(json_field(out, "\"large\"", "from", 2 << 20, "live"), 3);
	ck_assert_int_ge(json_field(out, "\"large\"", "from", 2 << 20, "mapped"),
			 9L << 20);
	for (i = 0; i < 3; i++)
		bitslab_free(p[i]);
	capture(bitslab_stats_print_json);
	ck_assert_int_eq(json_field(out, "\"large\"", "from", 2 << 20, "live"), 0);
	ck_assert_int_ge(json_field(out, "\"large\"", "from", 2 << 20, "frees"), 3);
}
END_TEST

/* The top-level JSON counter @key, or -1. */
static long json_top(const char *json, const char *key)
{
	char pat[64];
	const char *f;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	f = strstr(json, pat);
	return f ? strtol(f + strlen(pat), NULL, 10) : -1;
}

/* Live blocks in the large rows of 64 - 256 KiB of mapping: a 100 KiB
 * block's mapping may take the rest of its 64 KiB region with it. */
static long live_64k_256k(const char *json)
{
	long a = json_field(json, "\"large\"", "from", 64 << 10, "live");
	long b = json_field(json, "\"large\"", "from", 128 << 10, "live");

	return (a > 0 ? a : 0) + (b > 0 ? b : 0);
}

/*
 * Blocks of 100 KiB a thread frees wait in its large bins, mapped, for its
 * next request of their size: they are not the program's, and the rows by
 * size say so (counted from the bins' slots when asked for,
 * core/counters.h), as do the totals.
 */
START_TEST(test_stats_binned_large_blocks_not_live)
{
	void *p[3];
	long live, binned, binned_bytes, all;
	int i;

	unsetenv("BITSLAB_OPTIONS");		/* nothing binned in secure mode */
	capture(bitslab_stats_print_json);
	live = live_64k_256k(out);
	all = json_top(out, "large_live");
	binned = json_top(out, "large_binned");
	binned_bytes = json_top(out, "large_binned_bytes");
	for (i = 0; i < 3; i++)
		p[i] = bitslab_malloc(100 << 10);
	capture(bitslab_stats_print_json);
	ck_assert_int_eq(live_64k_256k(out), live + 3);
	ck_assert_int_eq(json_top(out, "large_live"), all + 3);
	for (i = 0; i < 3; i++)
		bitslab_free(p[i]);
	capture(bitslab_stats_print_json);
	ck_assert_int_eq(json_top(out, "large_binned"), binned + 3);
	ck_assert_int_ge(json_top(out, "large_binned_bytes"),
			 binned_bytes + 3 * (100 << 10));
	ck_assert_int_eq(live_64k_256k(out), live);
	ck_assert_int_eq(json_top(out, "large_live"), all);
	/* Taken again from its bin: the program's once more. */
	p[0] = bitslab_malloc(100 << 10);
	capture(bitslab_stats_print_json);
	ck_assert_int_eq(json_top(out, "large_binned"), binned + 2);
	ck_assert_int_eq(live_64k_256k(out), live + 1);
	bitslab_free(p[0]);
}
END_TEST

START_TEST(test_stats_text_has_class_and_large_tables)
{
	void *big = bitslab_malloc(1 << 20), *small = bitslab_malloc(48);
	const char *text = capture(bitslab_stats_print);

	ck_assert_msg(strstr(text, "size classes in use") &&
		      strstr(text, "large blocks by mapping size") &&
		      strstr(text, "remote"), "got: %s", text);
	/* A row for the 48-byte class: "<class> 48 <chunks> ...". */
	ck_assert_msg(strstr(text, "     48 "), "no 48-byte row in: %s", text);
	bitslab_free(big);
	bitslab_free(small);
}
END_TEST

/*
 * Bins that grow (core/refill.c): each test sets BITSLAB_OPTIONS before the
 * allocator's first allocation in the process Check forks for it.
 */
static long refills(void)
{
	const char *f = strstr(capture(bitslab_stats_print_json),
			       "\"bin_refills\": ");

	ck_assert_ptr_nonnull(f);
	return strtol(f + strlen("\"bin_refills\": "), NULL, 10);
}

/* @rounds times, @live blocks of @size bytes allocated then freed: the
 * bin refills that took. */
static long back_and_forth(size_t size, int live, int rounds)
{
	void *p[64];
	long before = refills();
	int r, i;

	ck_assert_int_le(live, 64);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < live; i++)
			p[i] = bitslab_malloc(size);
		for (i = 0; i < live; i++)
			bitslab_free(p[i]);
	}
	return refills() - before;
}

/*
 * Bins of the classes above 4 KiB hold 4 blocks: a program that holds 8 at
 * a time empties its bin at every round and overflows it at the next,
 * unless the bin grows.
 */
START_TEST(test_stats_bin_grows_for_back_and_forth)
{
	unsetenv("BITSLAB_OPTIONS");
	back_and_forth(8192, 8, 10);	/* it grows */
	ck_assert_int_le(back_and_forth(8192, 8, 1000), 10);
}
END_TEST

START_TEST(test_stats_bin_stays_without_bin_grow)
{
	setenv("BITSLAB_OPTIONS", "bin_grow=0", 1);
	ck_assert_int_ge(back_and_forth(8192, 8, 1000), 1000);
}
END_TEST

/*
 * bin_grow bounds the bytes by which a heap's bins grow: with 96 KiB, the
 * bin of 8 KiB blocks grows to 16 blocks (4 + 4 + 8 blocks: 96 KiB), and
 * the bin of 16 KiB blocks cannot grow past its 4 blocks after that (a
 * bin overflows when it is full: 4 blocks at a time go round it).  Trim
 * shrinks the bins back, and the budget is there again: that bin grows.
 */
START_TEST(test_stats_bin_growth_bounded_and_trimmed)
{
	setenv("BITSLAB_OPTIONS", "bin_grow=96", 1);
	back_and_forth(8192, 8, 10);
	ck_assert_int_le(back_and_forth(8192, 8, 1000), 10);
	back_and_forth(16384, 4, 10);
	ck_assert_int_ge(back_and_forth(16384, 4, 1000), 1000);
	bitslab_trim();
	back_and_forth(16384, 4, 10);
	ck_assert_int_le(back_and_forth(16384, 4, 1000), 10);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("per_class");

	tcase_add_test(tc, test_stats_class_counts_blocks_held);
	tcase_add_test(tc, test_stats_refill_claims_about_2kib);
	tcase_add_test(tc, test_stats_remote_frees_counted_in_their_class);
	tcase_add_test(tc, test_stats_large_blocks_by_range);
	tcase_add_test(tc, test_stats_binned_large_blocks_not_live);
	tcase_add_test(tc, test_stats_text_has_class_and_large_tables);
	tcase_add_test(tc, test_stats_bin_grows_for_back_and_forth);
	tcase_add_test(tc, test_stats_bin_stays_without_bin_grow);
	tcase_add_test(tc, test_stats_bin_growth_bounded_and_trimmed);
	suite_add_tcase(s, tc);
	return s;
}
