// SPDX-License-Identifier: MIT
/*
 * check_large.c - large blocks and the process-wide cache of freed large
 * mappings: a freed mapping serves the next block of a similar size (same
 * address, nothing new mapped), comes back zeroed for calloc, is bounded,
 * decays, goes back on trim; misuse is still caught after reuse; mappings
 * are rounded to pages, not to 64 KiB; a foreign page sharing a region
 * with a short mapping is rejected, not read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bitslab.h>
#include <bitslab/types.h>

#include "api.h"
#include "heap.h"
#include "large.h"
#include "misuse.h"
#include "os.h"
#include "unit.h"

#define MIB (1UL << 20)

/* Is every one of the @n bytes at @p equal to @c? */
static int all_bytes(const unsigned char *p, size_t n, unsigned char c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* Start from an empty cache. */
static void large_fresh(void)
{
	bitslab_trim();
	ck_assert_uint_eq(large_cache_bytes(), 0);
}

START_TEST(test_large_freed_mapping_reused_for_similar_size)
{
	unsigned char *p, *q;
	size_t mapped;

	large_fresh();
	p = bitslab_malloc(3 * MIB);
	ck_assert_ptr_nonnull(p);
	memset(p, 0x5a, 3 * MIB);
	bitslab_free(p);
	ck_assert_uint_ge(large_cache_bytes(), 3 * MIB);
	mapped = os_mapped_bytes();
	/* A little smaller: the same mapping, nothing new mapped. */
	q = bitslab_malloc(3 * MIB - 20000);
	ck_assert_ptr_eq(q, p);
	ck_assert_uint_le(os_mapped_bytes(), mapped);
	bitslab_free(q);
	/* Much smaller: the head of the mapping, the rest stays cached. */
	q = bitslab_malloc(MIB);
	ck_assert_ptr_eq(q, p);
	ck_assert_uint_ge(large_cache_bytes(), MIB);
	ck_assert_uint_le(os_mapped_bytes(), mapped);
	bitslab_free(q);
}
END_TEST

START_TEST(test_large_calloc_after_reuse_is_zeroed)
{
	unsigned char *p, *a, *b;
	size_t mapped;

	large_fresh();
	p = bitslab_malloc(2 * MIB);
	memset(p, 0xaa, 2 * MIB);
	bitslab_free(p);
	a = bitslab_calloc(1, 2 * MIB - 4096);
	ck_assert_ptr_eq(a, p);
	ck_assert(all_bytes(a, 2 * MIB - 4096, 0));
	bitslab_free(a);
	bitslab_trim();

	/* Bigger than any cached mapping: filled with two of them. */
	a = bitslab_malloc(4 * MIB);
	b = bitslab_malloc(4 * MIB);
	memset(a, 0xbb, 4 * MIB);
	memset(b, 0xcc, 4 * MIB);
	bitslab_free(a);
	bitslab_free(b);
	mapped = os_mapped_bytes();
	p = bitslab_calloc(8, MIB);
	ck_assert_ptr_nonnull(p);
	ck_assert(all_bytes(p, 8 * MIB, 0));
	/* The pages moved: what is mapped grew by little more than the
	 * header's page (none of it is new memory). */
	ck_assert_uint_le(os_mapped_bytes(), mapped + CHUNK_SIZE);
	bitslab_free(p);
}
END_TEST

static int pattern_ok(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 7))
			return 0;
	return 1;
}

START_TEST(test_large_realloc_growth_keeps_bytes)
{
	unsigned char *p, *q;
	size_t i;

	large_fresh();
	q = bitslab_malloc(8 * MIB);
	memset(q, 0xdd, 8 * MIB);
	p = bitslab_malloc(2 * MIB);
	for (i = 0; i < 2 * MIB; i++)
		p[i] = (unsigned char)(i * 7);
	bitslab_free(q);		/* cached: the growth takes its pages */
	p = bitslab_realloc(p, 9 * MIB);
	ck_assert_ptr_nonnull(p);
	ck_assert(pattern_ok(p, 2 * MIB));
	memset(p + 2 * MIB, 1, 7 * MIB);
	p = bitslab_realloc(p, 3 * MIB);	/* the tail goes to the cache */
	ck_assert(pattern_ok(p, 2 * MIB));
	ck_assert(all_bytes(p + 2 * MIB, MIB, 1));
	ck_assert_uint_ge(bitslab_usable_size(p), 3 * MIB);
	bitslab_free(p);
}
END_TEST

/*
 * A block that realloc grows to at most 1 MiB of mapping is copied into a
 * block of the thread's large bins or of the cache: a vector doubling from
 * 48 KiB to 768 KiB a second time maps nothing new, and keeps its bytes.
 * (Moved by mremap(), each step mapped a target first: a failed mremap()
 * in place, a mapping, its trim and the move.)
 */
START_TEST(test_large_realloc_growth_reuses_blocks)
{
	const size_t first = 48 << 10;
	unsigned char *p;
	long calls = 0;
	size_t sz, i;
	int round;

	large_fresh();
	for (round = 0; round < 2; round++) {
		if (round)
			calls = os_map_calls();
		p = bitslab_malloc(first);
		ck_assert_ptr_nonnull(p);
		for (i = 0; i < first; i++)
			p[i] = (unsigned char)(i * 7 + round);
		for (sz = 2 * first; sz <= 16 * first; sz *= 2) {
			p = bitslab_realloc(p, sz);
			ck_assert_ptr_nonnull(p);
			for (i = 0; i < first &&
				    p[i] == (unsigned char)(i * 7 + round); i++)
				;
			ck_assert_uint_eq(i, first);
		}
		bitslab_free(p);
	}
	ck_assert_int_eq(os_map_calls(), calls);
}
END_TEST

START_TEST(test_large_cache_is_bounded)
{
	void *p[64];
	size_t cached, rest;
	int i;

	large_fresh();
	/* 64 blocks of 4 MiB, never touched (cheap), all freed at once. */
	for (i = 0; i < 64; i++)
		p[i] = bitslab_malloc(4 * MIB);
	for (i = 0; i < 64; i++)
		bitslab_free(p[i]);
	cached = large_cache_bytes();
	rest = os_mapped_bytes() - cached;
	ck_assert_uint_gt(cached, 0);
	ck_assert_msg(cached <= 32 * MIB || cached <= rest / 2,
		      "cache holds %zu bytes beside %zu", cached, rest);
	ck_assert_uint_lt(cached, 64 * 4 * MIB);
}
END_TEST

START_TEST(test_large_cache_decays_after_the_delay)
{
	void *p;
	size_t mapped;

	large_fresh();
	p = bitslab_malloc(4 * MIB);
	bitslab_free(p);
	ck_assert_uint_ge(large_cache_bytes(), 4 * MIB);
	large_cache_decay(os_now_ms());		/* too young to go */
	ck_assert_uint_ge(large_cache_bytes(), 4 * MIB);
	mapped = os_mapped_bytes();
	large_cache_decay(os_now_ms() + 60 * 1000);
	ck_assert_uint_eq(large_cache_bytes(), 0);
	ck_assert_uint_le(os_mapped_bytes(), mapped - 4 * MIB);
}
END_TEST

START_TEST(test_large_cache_drained_by_trim)
{
	void *p = bitslab_malloc(4 * MIB);
	size_t mapped;

	bitslab_free(p);
	ck_assert_uint_ge(large_cache_bytes(), 4 * MIB);
	mapped = os_mapped_bytes();
	ck_assert_int_eq(bitslab_trim(), 1);
	ck_assert_uint_eq(large_cache_bytes(), 0);
	ck_assert_uint_le(os_mapped_bytes(), mapped - 4 * MIB);
}
END_TEST

static void double_free_after_reuse(void)
{
	void *p = bitslab_malloc(2 * MIB), *q;

	bitslab_free(p);
	q = bitslab_malloc(2 * MIB);	/* the same mapping */
	bitslab_free(q);
	bitslab_free(p);
}

static void free_of_cached_block(void)
{
	char *p = bitslab_malloc(2 * MIB);

	bitslab_free(p);
	/* Still mapped (cached), no longer a block. */
	bitslab_free(p);
}

static void realloc_of_cached_block(void)
{
	char *p = bitslab_malloc(2 * MIB);

	bitslab_free(p);
	if (bitslab_realloc(p, 3 * MIB))
		_exit(0);	/* misuse went unnoticed */
}

/*
 * A page of someone else's mapped in the same 64 KiB region as a short
 * large block's mapping (which ends at a page), past a hole: freeing a
 * pointer at its start must not read the "header" 64 bytes before it, in
 * the hole.  Arranged by the test (the child inherits it).
 */
static void *foreign_page;

static void free_foreign_page_beside_short_block(void)
{
	bitslab_free(foreign_page);
}

/* Arrange it; false if the address after the block is taken. */
static bool foreign_page_arranged(void)
{
	char *p = bitslab_malloc(40 << 10);
	uintptr_t base = (uintptr_t)p & ~(uintptr_t)CHUNK_MASK;
	uintptr_t at = base + (48 << 10);

	ck_assert_uint_lt(bitslab_usable_size(p), 44 << 10);
	foreign_page = mmap((void *)at, 4096, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			    -1, 0);
	if (foreign_page == (void *)at)
		return true;
	if (foreign_page != MAP_FAILED)
		munmap(foreign_page, 4096);
	return false;
}

START_TEST(test_large_misuse_still_caught_after_reuse)
{
	expect_abort(double_free_after_reuse, "double free");
	expect_abort(free_of_cached_block, "double free");
	expect_abort(realloc_of_cached_block, "realloc of freed block");
	if (foreign_page_arranged())
		expect_abort(free_foreign_page_beside_short_block,
			     "invalid pointer");
	else
		printf("SKIP foreign page beside a short block: address taken\n");
}
END_TEST

/*
 * A thread that keeps mapping blocks of a large bin's class anew maps them
 * in batches: from its third such block on, one mapping serves the next
 * ones too, each in the region after the last.  The block that maps the
 * batch keeps a page-granular usable size, and a realloc into its slack
 * stays in place with the usable size it needs; the next ones take their
 * whole region from the cache, as any block split from a cached piece, and
 * go to the bin of their size's class when freed.
 */
START_TEST(test_large_fresh_blocks_in_batches)
{
	const size_t size = 40 << 10;
	uintptr_t region[8];
	unsigned char *p[8];
	size_t mapped = 0, u;
	unsigned int i;

	large_fresh();
	for (i = 0; i < 8; i++) {
		p[i] = bitslab_malloc(size);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], 0x40 + i, size);
		region[i] = (uintptr_t)p[i] & ~(uintptr_t)CHUNK_MASK;
		u = bitslab_usable_size(p[i]);
		ck_assert_uint_ge(u, size);
		ck_assert_uint_le(u, i == 2 ? ALIGN_UP(size + 64, 4096) + 4096 :
					      CHUNK_SIZE);
		if (i == 2)
			mapped = os_mapped_bytes();
	}
	ck_assert_uint_eq(os_mapped_bytes(), mapped);
	for (i = 3; i < 8; i++)
		ck_assert_uint_eq(region[i], region[i - 1] + CHUNK_SIZE);
	/* Into the slack: in place, and all of it usable. */
	ck_assert_ptr_eq(bitslab_realloc(p[2], 60 << 10), p[2]);
	ck_assert_uint_ge(bitslab_usable_size(p[2]), 60 << 10);
	memset(p[2] + size, 0x55, (60 << 10) - size);
	/* A block split from the batch goes to the bin of its size's
	 * class, where the next request of that size finds it. */
	bitslab_free(p[4]);
	ck_assert_ptr_eq(bitslab_malloc(size), p[4]);
	for (i = 0; i < 8; i++) {
		ck_assert(all_bytes(p[i], size, 0x40 + i));
		bitslab_free(p[i]);
	}
}
END_TEST

/*
 * More blocks than the cache has slots, freed together: neighbours make
 * one piece again (each batch's blocks are neighbours), so the cache
 * keeps them all rather than unmap all but the last slots' worth; and so
 * it does thread generation after thread generation.
 */
#define MANY_BLOCKS 100

static void *many_blocks_freed(void *arg)
{
	void *p[MANY_BLOCKS];
	unsigned int i;

	(void)arg;
	for (i = 0; i < MANY_BLOCKS; i++)
		p[i] = bitslab_malloc(40 << 10);
	for (i = 0; i < MANY_BLOCKS; i++)
		bitslab_free(p[i]);
	return NULL;
}

START_TEST(test_large_cache_joins_neighbours)
{
	pthread_t t;
	int gen;

	/* Generation after generation: pieces split and joined again
	 * must not grow their count of parts until they join no more. */
	large_fresh();
	for (gen = 0; gen < 80; gen++) {
		ck_assert_int_eq(pthread_create(&t, NULL, many_blocks_freed,
						NULL), 0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
		ck_assert_msg(large_cache_bytes() >= MANY_BLOCKS * CHUNK_SIZE,
			      "generation %d: %zu bytes cached", gen,
			      large_cache_bytes());
	}
}
END_TEST

START_TEST(test_large_usable_size_page_granular)
{
	size_t sizes[] = { 33 << 10, 40 << 10, 60 << 10, 100 << 10,
			   (1 << 20) + 1 };
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p;
		size_t u, need, off;

		large_fresh();
		p = bitslab_malloc(sizes[i]);
		u = bitslab_usable_size(p);
		ck_assert_uint_ge(u, sizes[i]);
		/* The header and the request, rounded up to a page, and up
		 * to a large bin class below 288 KiB (at most an eighth
		 * more, in whole pages). */
		need = ALIGN_UP(sizes[i] + 64, 4096);
		/* The block starts after its header, which is up to 63
		 * lines into the first page (its colour, taken from the
		 * slack), and runs to the end of the mapping. */
		off = (uintptr_t)p & CHUNK_MASK;
		ck_assert_uint_ge(off, 64);
		ck_assert_uint_le(off, 4096);
		ck_assert_uint_eq(off % 64, 0);
		ck_assert_uint_eq((u + off) % 4096, 0);
		ck_assert_uint_ge(u + off, need);
		ck_assert_uint_le(u + off, need + ALIGN_UP(need / 8, 4096));
		memset(p, 0x11, u);
		bitslab_free(p);
	}
}
END_TEST

/*
 * Large bins: blocks of up to 288 KiB of mapping that a thread frees wait
 * in its heap for its next request of their class (or up to three classes
 * smaller), not in the process-wide cache.
 */
START_TEST(test_large_bin_gives_the_thread_its_block_back)
{
	unsigned char *p, *q;
	size_t mapped;

	large_fresh();
	p = bitslab_malloc(100 << 10);
	ck_assert_ptr_nonnull(p);
	memset(p, 0x77, 100 << 10);
	mapped = os_mapped_bytes();
	bitslab_free(p);
	/* Kept by the thread, still mapped, not in the shared cache. */
	ck_assert_uint_eq(large_cache_bytes(), 0);
	ck_assert_uint_eq(os_mapped_bytes(), mapped);
	/* A request a class or two smaller gets it back, nothing mapped. */
	q = bitslab_malloc(90 << 10);
	ck_assert_ptr_eq(q, p);
	ck_assert_uint_eq(os_mapped_bytes(), mapped);
	ck_assert_uint_ge(bitslab_usable_size(q), 90 << 10);
	bitslab_free(q);
	/* calloc from a bin is zeroed. */
	q = bitslab_calloc(1, 100 << 10);
	ck_assert_ptr_eq(q, p);
	ck_assert(all_bytes(q, 100 << 10, 0));
	bitslab_free(q);
}
END_TEST

/*
 * The bins are found through a mask of those that hold a block: a request
 * far smaller than the binned block (more than three classes) leaves it
 * there, and once a request took it, the next finds the bin empty.
 */
START_TEST(test_large_bin_reach_and_mask)
{
	unsigned char *p, *q, *r;

	large_fresh();
	p = bitslab_malloc(100 << 10);
	ck_assert_ptr_nonnull(p);
	bitslab_free(p);
	q = bitslab_malloc(40 << 10);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_ne(q, p);
	r = bitslab_malloc(90 << 10);
	ck_assert_ptr_eq(r, p);
	p = bitslab_malloc(90 << 10);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_ne(p, r);
	memset(p, 1, 90 << 10);
	memset(r, 2, 90 << 10);
	bitslab_free(p);
	bitslab_free(q);
	bitslab_free(r);
}
END_TEST

/* 96 blocks, about four of each large bin class (9 .. 16, 18 .. 32,
 * 36 .. 64 and 72 pages of mapping: 12 MiB in all), freed: what the
 * calling thread's large bins keep of them (mapped beyond what was before
 * and the shared cache). */
static size_t large_bin_kept(void)
{
	static void *p[96];
	size_t base, kept;
	int i;

	large_fresh();
	base = os_mapped_bytes();
	for (i = 0; i < 96; i++) {
		unsigned int c = (unsigned int)i % 25;
		size_t pages = (c % 8 + 9) << (c / 8);

		p[i] = bitslab_malloc(pages * 4096 - 200);
		ck_assert_ptr_nonnull(p[i]);
	}
	for (i = 0; i < 96; i++)
		bitslab_free(p[i]);
	/* Less a page-map leaf or two mapped on the way. */
	kept = os_mapped_bytes() - large_cache_bytes() - base;
	ck_assert_uint_gt(large_cache_bytes(), 0);
	return kept > 2 * 4096 ? kept - 2 * 4096 : 0;
}

/* One thread: its bins keep more than 4 MiB (the budget before), at most
 * 8 MiB. */
START_TEST(test_large_bin_is_bounded)
{
	size_t kept = large_bin_kept();

	ck_assert_msg(kept > 4 * MIB && kept <= 8 * MIB,
		      "the thread keeps %zu bytes", kept);
}
END_TEST

static pthread_barrier_t bin_bar;

static void *bin_neighbour(void *arg)
{
	void *p = bitslab_malloc(64);	/* a heap: a live thread */

	(void)arg;
	pthread_barrier_wait(&bin_bar);	/* all live */
	pthread_barrier_wait(&bin_bar);	/* the main thread measured */
	bitslab_free(p);
	return NULL;
}

/* With 16 threads live, 32 MiB shared: 2 MiB a thread. */
START_TEST(test_large_bin_shared_among_threads)
{
	pthread_t t[15];
	size_t kept;
	int i;

	ck_assert_int_eq(pthread_barrier_init(&bin_bar, NULL, 16), 0);
	for (i = 0; i < 15; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, bin_neighbour,
						NULL), 0);
	pthread_barrier_wait(&bin_bar);
	kept = large_bin_kept();
	pthread_barrier_wait(&bin_bar);
	for (i = 0; i < 15; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&bin_bar);
	ck_assert_msg(kept > 0 && kept <= 2 * MIB,
		      "the thread keeps %zu bytes among 16", kept);
}
END_TEST

/*
 * A block's bin class follows its mapping: one that realloc took past the
 * bins' 72 pages (in place or moved) goes to the shared cache when freed,
 * not to the bin of the size it was allocated at; one that realloc took
 * back into range may be binned again.
 */
START_TEST(test_large_bin_class_follows_realloc)
{
	struct heap *h;
	void *p = bitslab_malloc(100 << 10);

	ck_assert_ptr_nonnull(p);
	h = bitslab_tls_heap;
	large_bin_flush(h);
	p = bitslab_realloc(p, 1 * MIB);	/* within the bins' budget */
	ck_assert_ptr_nonnull(p);
	bitslab_free(p);
	ck_assert_uint_eq(h->lbin_bytes, 0);

	p = bitslab_malloc(4 * MIB);
	ck_assert_ptr_nonnull(p);
	p = bitslab_realloc(p, 100 << 10);	/* a copy: shrinks to a bin size */
	ck_assert_ptr_nonnull(p);
	bitslab_free(p);
	ck_assert_uint_gt(h->lbin_bytes, 0);
	ck_assert_uint_le(h->lbin_bytes, 72 * 4096);
}
END_TEST

/* A size near SIZE_MAX is refused with ENOMEM even while the bins hold
 * blocks: its page count must not wrap into a bin's class (the fuzzer
 * found malloc(SIZE_MAX - 17) handing out a binned block). */
START_TEST(test_large_bin_huge_size_refused)
{
	void *p = bitslab_malloc(40 << 10);

	ck_assert_ptr_nonnull(p);
	bitslab_free(p);
	errno = 0;
	ck_assert_ptr_null(bitslab_malloc(SIZE_MAX - 17));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(bitslab_malloc(SIZE_MAX - (40 << 10)));
	ck_assert_int_eq(errno, ENOMEM);
	/* (The refusal gives memory back, the bins' blocks with it.) */
}
END_TEST

/*
 * Colour: a block's header sits up to 63 lines into its mapping, marked
 * in the page map.  A binned block taken for a larger size of its class
 * than its colour leaves room for moves its header: the new pointer is
 * whole and freeable, the old one is no block any more.
 */
static void *stale;

static void free_stale(void)
{
	bitslab_free(stale);
}

START_TEST(test_large_colour_moves_for_a_larger_size)
{
	void *keep[16], *p = NULL, *q;
	size_t u;
	int i, n;

	large_fresh();
	/* A block of 9 pages' class with a colour (the colour is a hash
	 * of the mapping's address; most mappings get one). */
	for (n = 0; n < 16 && !p; n++) {
		keep[n] = bitslab_malloc(32769);
		ck_assert_ptr_nonnull(keep[n]);
		if (((uintptr_t)keep[n] & CHUNK_MASK) > 64)
			p = keep[n--];
	}
	ck_assert_ptr_nonnull(p);
	bitslab_free(p);
	q = bitslab_malloc(36800);	/* the class's largest size */
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq((uintptr_t)q & ~CHUNK_MASK, (uintptr_t)p & ~CHUNK_MASK);
	ck_assert_ptr_ne(q, p);
	u = bitslab_usable_size(q);
	ck_assert_uint_ge(u, 36800);
	memset(q, 0x3c, u);
	stale = p;
	expect_abort(free_stale, "invalid pointer");
	bitslab_free(q);
	for (i = 0; i < n; i++)
		bitslab_free(keep[i]);
}
END_TEST

START_TEST(test_large_bin_given_back_by_trim)
{
	void *p = bitslab_malloc(100 << 10);
	size_t mapped;

	bitslab_free(p);
	mapped = os_mapped_bytes();
	ck_assert_int_eq(bitslab_trim(), 1);
	ck_assert_uint_le(os_mapped_bytes(), mapped - (100 << 10));
}
END_TEST

static void *alloc_free_exit(void *arg)
{
	bitslab_free(bitslab_malloc((size_t)(uintptr_t)arg));
	return NULL;
}

START_TEST(test_large_bin_given_up_at_thread_exit)
{
	pthread_t t;

	large_fresh();
	ck_assert_int_eq(pthread_create(&t, NULL, alloc_free_exit,
					(void *)(uintptr_t)(100 << 10)), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	/* The exiting thread's bin went to the shared cache. */
	ck_assert_uint_ge(large_cache_bytes(), 100 << 10);
}
END_TEST

static pthread_barrier_t fork_barrier;

static void *bin_then_wait(void *arg)
{
	bitslab_free(bitslab_malloc((size_t)(uintptr_t)arg));
	pthread_barrier_wait(&fork_barrier);	/* binned: fork now */
	pthread_barrier_wait(&fork_barrier);	/* forked */
	return NULL;
}

/* A fork child gives the bins of threads that did not survive to the
 * shared cache, where its own requests find them. */
START_TEST(test_large_bin_of_a_lost_thread_reused_in_fork_child)
{
	pthread_t t;
	int status;
	pid_t pid;

	large_fresh();
	pthread_barrier_init(&fork_barrier, NULL, 2);
	ck_assert_int_eq(pthread_create(&t, NULL, bin_then_wait,
					(void *)(uintptr_t)(100 << 10)), 0);
	pthread_barrier_wait(&fork_barrier);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		size_t cached;

		/* The first allocation in the child salvages. */
		bitslab_free(bitslab_malloc(16));
		cached = large_cache_bytes();
		_exit(cached >= (100 << 10) && bitslab_trim() == 1 ? 0 : 1);
	}
	pthread_barrier_wait(&fork_barrier);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %#x", status);
	pthread_barrier_destroy(&fork_barrier);
}
END_TEST

/*
 * Every give-back a cache begins under its lock ends after its munmap:
 * a count that drifted below zero let trim return before the helper's
 * munmap (a mapping bigger than the cache's bound ended one it never
 * began), one above zero would make every trim wait a second.
 */
START_TEST(test_large_give_backs_in_flight_balance)
{
	int i;

	for (i = 0; i < 3; i++) {
		void *p = bitslab_malloc(96 * MIB);	/* above the bound */

		ck_assert_ptr_nonnull(p);
		bitslab_free(p);
		ck_assert_int_eq(os_unmaps_in_flight(), 0);
	}
	bitslab_free(bitslab_malloc(4 * MIB));
	large_cache_decay(os_now_ms() + 60 * 1000);
	ck_assert_int_eq(os_unmaps_in_flight(), 0);
	bitslab_trim();
	ck_assert_int_eq(os_unmaps_in_flight(), 0);
}
END_TEST

static void free_sized_of_binned_block(void)
{
	void *p = bitslab_malloc(100 << 10);

	bitslab_free(p);
	bitslab_free_sized_op(p, 0, 100, "free_sized with wrong size");
}

static void double_free_of_binned_block(void)
{
	void *p = bitslab_malloc(100 << 10);

	bitslab_free(p);
	bitslab_free(p);
}

static void realloc_of_binned_block(void)
{
	void *p = bitslab_malloc(100 << 10);

	bitslab_free(p);
	if (bitslab_realloc(p, 200 << 10))
		_exit(0);	/* misuse went unnoticed */
}

static void usable_size_of_binned_block(void)
{
	void *p = bitslab_malloc(100 << 10);

	bitslab_free(p);
	if (bitslab_usable_size(p))
		_exit(0);	/* misuse went unnoticed */
}

START_TEST(test_large_bin_misuse_caught)
{
	expect_abort(double_free_of_binned_block, "double free");
	expect_abort(realloc_of_binned_block, "realloc of freed block");
	expect_abort(usable_size_of_binned_block, "of freed block");
	expect_abort(free_sized_of_binned_block, "double free");
}
END_TEST

/*
 * A write after free into a binned block: the bins hold their blocks in
 * the heap, not linked through the blocks, so the next malloc of the
 * class gets the block back and the one after a block of its own, never
 * an address the program wrote.
 */
START_TEST(test_large_bin_write_after_free_forges_nothing)
{
	static char fake[256 << 10] __attribute__((aligned(4096)));
	void **p = bitslab_malloc(100 << 10), *q, *r;

	ck_assert_ptr_nonnull(p);
	bitslab_free(p);
	p[0] = fake + 64;
	p[1] = fake + 64;
	q = bitslab_malloc(100 << 10);
	r = bitslab_malloc(100 << 10);
	ck_assert_ptr_eq(q, p);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg((char *)r < fake || (char *)r >= fake + sizeof(fake),
		      "malloc handed out %p, inside the program's array", r);
	bitslab_free(q);
	bitslab_free(r);
}
END_TEST

/* The cache's lock is taken around fork: a child reuses cached memory. */
START_TEST(test_large_cache_survives_fork)
{
	void *p = bitslab_malloc(4 * MIB);
	int status;
	pid_t pid;

	bitslab_free(p);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		void *q = bitslab_malloc(4 * MIB);
		int reused = q == p;

		bitslab_free(q);
		_exit(reused && bitslab_trim() == 1 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %#x", status);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("large");
	TCase *tc = tcase_create("large");

	tcase_add_test(tc, test_large_freed_mapping_reused_for_similar_size);
	tcase_add_test(tc, test_large_calloc_after_reuse_is_zeroed);
	tcase_add_test(tc, test_large_realloc_growth_keeps_bytes);
	tcase_add_test(tc, test_large_realloc_growth_reuses_blocks);
	tcase_add_test(tc, test_large_cache_is_bounded);
	tcase_add_test(tc, test_large_cache_decays_after_the_delay);
	tcase_add_test(tc, test_large_cache_drained_by_trim);
	tcase_add_test(tc, test_large_misuse_still_caught_after_reuse);
	tcase_add_test(tc, test_large_usable_size_page_granular);
	tcase_add_test(tc, test_large_cache_survives_fork);
	tcase_add_test(tc, test_large_bin_gives_the_thread_its_block_back);
	tcase_add_test(tc, test_large_bin_reach_and_mask);
	tcase_add_test(tc, test_large_bin_is_bounded);
	tcase_add_test(tc, test_large_bin_shared_among_threads);
	tcase_add_test(tc, test_large_bin_given_back_by_trim);
	tcase_add_test(tc, test_large_colour_moves_for_a_larger_size);
	tcase_add_test(tc, test_large_bin_huge_size_refused);
	tcase_add_test(tc, test_large_bin_class_follows_realloc);
	tcase_add_test(tc, test_large_bin_given_up_at_thread_exit);
	tcase_add_test(tc, test_large_bin_misuse_caught);
	tcase_add_test(tc, test_large_bin_write_after_free_forges_nothing);
	tcase_add_test(tc, test_large_give_backs_in_flight_balance);
	tcase_add_test(tc, test_large_bin_of_a_lost_thread_reused_in_fork_child);
	tcase_add_test(tc, test_large_fresh_blocks_in_batches);
	tcase_add_test(tc, test_large_cache_joins_neighbours);
	suite_add_tcase(s, tc);
	return s;
}
