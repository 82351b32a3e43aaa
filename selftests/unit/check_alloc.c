// SPDX-License-Identifier: MIT
/*
 * check_alloc.c - the prefixed API (bitslab_malloc and friends) behaves as
 * its users expect: blocks hold what was asked and keep their contents,
 * alignment is honoured, errno follows glibc, and blocks move between size
 * classes and into and out of large blocks without losing bytes, and the
 * memory given back is given back in the kernel's eyes too.  The "api"
 * case asserts only the contract (usable size >= request, alignment,
 * distinct blocks); the "white-box" case pins today's geometry and says so.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bitslab.h>

#include "heap.h"
#include "os.h"
#include "reclaim.h"
#include "size_class.h"
#include "unit.h"

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 31);
}

static int check_fill(const unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 31))
			return 0;
	return 1;
}

START_TEST(test_alloc_every_size_holds_its_bytes)
{
	static void *p[40000];
	size_t n;

	/* Every size up to 40000: usable >= asked, 16-byte aligned, and the
	 * contents survive while all of them are live. */
	for (n = 0; n < 40000; n++) {
		p[n] = bitslab_malloc(n);
		ck_assert_ptr_nonnull(p[n]);
		ck_assert_uint_eq((uintptr_t)p[n] % 16, 0);
		ck_assert_uint_ge(bitslab_usable_size(p[n]), n);
		fill(p[n], n, (unsigned int)n);
	}
	for (n = 0; n < 40000; n++) {
		ck_assert_msg(check_fill(p[n], n, (unsigned int)n),
			      "block of %zu bytes lost its contents", n);
		bitslab_free(p[n]);
	}
}
END_TEST

START_TEST(test_alloc_blocks_are_distinct)
{
	enum { N = 20000 };
	static uintptr_t p[N];
	size_t i;

	for (i = 0; i < N; i++) {
		p[i] = (uintptr_t)bitslab_malloc(24);
		memset((void *)p[i], 0xab, 24);
	}
	/* No two live blocks overlap: sort and compare neighbours. */
	for (i = 1; i < N; i++) {
		size_t j = i;

		while (j > 0 && p[j - 1] > p[j]) {
			uintptr_t t = p[j];

			p[j] = p[j - 1];
			p[j - 1] = t;
			j--;
		}
	}
	/* The contract: each block's usable bytes end before the next
	 * block starts (how far apart they are is geometry). */
	for (i = 1; i < N; i++)
		ck_assert_uint_ge(p[i] - p[i - 1],
				  bitslab_usable_size((void *)p[i - 1]));
	for (i = 0; i < N; i++)
		bitslab_free((void *)p[i]);
}
END_TEST

START_TEST(test_alloc_malloc_zero_is_unique)
{
	void *a = bitslab_malloc(0), *b = bitslab_malloc(0);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	bitslab_free(a);
	bitslab_free(b);
	bitslab_free(NULL);
}
END_TEST

START_TEST(test_alloc_exhaustion_gives_enomem)
{
	void *p;

	errno = 0;
	ck_assert_ptr_null(bitslab_malloc(SIZE_MAX - 4096));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(bitslab_malloc(SIZE_MAX));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(bitslab_calloc(SIZE_MAX / 2, 4));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(bitslab_calloc(1UL << 33, 1UL << 33));
	ck_assert_int_eq(errno, ENOMEM);
	/* A failed realloc leaves the block as it was. */
	p = bitslab_malloc(100);
	fill(p, 100, 7);
	errno = 0;
	ck_assert_ptr_null(bitslab_realloc(p, SIZE_MAX - 64));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert(check_fill(p, 100, 7));
	bitslab_free(p);
}
END_TEST

START_TEST(test_alloc_free_keeps_errno)
{
	void *small = bitslab_malloc(40), *large = bitslab_malloc(1 << 20);

	errno = 4242;
	bitslab_free(small);
	bitslab_free(large);
	bitslab_free(NULL);
	ck_assert_int_eq(errno, 4242);
}
END_TEST

START_TEST(test_alloc_calloc_zeroes_reused_memory)
{
	size_t sizes[] = { 1, 16, 100, 1000, 5000, 30000, 100000 };
	size_t i, k;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned char *p = bitslab_malloc(sizes[i]);

		memset(p, 0xff, sizes[i]);
		bitslab_free(p);
		/* Same class: likely the same block, dirty.  Must be zero. */
		p = bitslab_calloc(1, sizes[i]);
		ck_assert_ptr_nonnull(p);
		for (k = 0; k < sizes[i]; k++)
			ck_assert_msg(p[k] == 0, "calloc(%zu) byte %zu not 0",
				      sizes[i], k);
		bitslab_free(p);
	}
}
END_TEST

START_TEST(test_alloc_realloc_across_classes_keeps_bytes)
{
	size_t steps[] = { 1,     8,     17,     100,   128,   129,    1000,
			   4096,  20000, 32768,  32769, 70000, 1 << 20, 3 << 20,
			   40000, 30000, 1000,   16,    1 };
	unsigned char *p = bitslab_realloc(NULL, 1);
	size_t i, keep = 1;

	fill(p, 1, 3);
	for (i = 1; i < ARRAY_SIZE(steps); i++) {
		size_t n = steps[i];

		p = bitslab_realloc(p, n);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_ge(bitslab_usable_size(p), n);
		ck_assert_msg(check_fill(p, min(keep, n), 3),
			      "realloc to %zu lost bytes", n);
		fill(p, n, 3);
		keep = n;
	}
	/* realloc(p, 0) frees and returns NULL, as glibc does. */
	ck_assert_ptr_null(bitslab_realloc(p, 0));
}
END_TEST

START_TEST(test_alloc_realloc_growing_vector)
{
	long *v = NULL;
	size_t cap = 0, len, i;

	/* The seed's vector: doubling with realloc, contents checked. */
	for (len = 0; len < 200000; len++) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1;
			v = bitslab_realloc(v, cap * sizeof(*v));
			ck_assert_ptr_nonnull(v);
		}
		v[len] = (long)(len * 2654435761u);
	}
	for (i = 0; i < len; i++)
		ck_assert_int_eq(v[i], (long)(i * 2654435761u));
	bitslab_free(v);
}
END_TEST

START_TEST(test_alloc_alignment_matrix)
{
	size_t align, size;

	/* Every power-of-two alignment to 1 MiB against sizes around it,
	 * including size == alignment (mimalloc#700). */
	for (align = 1; align <= (1 << 20); align <<= 1) {
		size_t sizes[] = { 1, align / 2 + 1, align - 1, align,
				   align + 1, 3 * align, 100, 5000 };

		for (size = 0; size < ARRAY_SIZE(sizes); size++) {
			size_t n = sizes[size] ? sizes[size] : 1;
			unsigned char *p = bitslab_aligned_alloc(align, n);

			ck_assert_ptr_nonnull(p);
			ck_assert_msg((uintptr_t)p % align == 0,
				      "aligned_alloc(%zu, %zu) = %p", align, n,
				      (void *)p);
			ck_assert_uint_ge(bitslab_usable_size(p), n);
			memset(p, 0x5a, n);
			bitslab_free(p);
		}
	}
}
END_TEST

START_TEST(test_alloc_aligned_alloc_rejects_bad_alignment)
{
	errno = 0;
	ck_assert_ptr_null(bitslab_aligned_alloc(3, 10));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(bitslab_aligned_alloc(0, 10));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(bitslab_aligned_alloc(48, 10));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_alloc_small_blocks_16_byte_aligned)
{
	size_t n;

	for (n = 1; n <= 64; n++) {
		void *p = bitslab_malloc(n);

		ck_assert_uint_eq((uintptr_t)p % 16, 0);
		bitslab_free(p);
	}
}
END_TEST

START_TEST(test_alloc_large_blocks_resizable)
{
	unsigned char *p = bitslab_malloc(5 << 20);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(bitslab_usable_size(p), 5 << 20);
	fill(p, 5 << 20, 11);
	p = bitslab_realloc(p, 50 << 20);	/* grows, pages move, no copy */
	ck_assert_ptr_nonnull(p);
	ck_assert(check_fill(p, 5 << 20, 11));
	p = bitslab_realloc(p, 2 << 20);	/* shrinks in place */
	ck_assert(check_fill(p, 2 << 20, 11));
	ck_assert_uint_ge(bitslab_usable_size(p), 2 << 20);
	bitslab_free(p);
}
END_TEST

START_TEST(test_alloc_size_classes_waste_under_an_eighth)
{
	double waste = 0;
	size_t n;
	unsigned int c;

	/* Average internal waste over every size of the small range. */
	for (n = 1; n <= SMALL_MAX; n++) {
		size_t sz = size_classes[size_to_class(n)].size;

		ck_assert_uint_ge(sz, n);
		waste += (double)(sz - n) / (double)sz;
	}
	waste /= SMALL_MAX;
	ck_assert_msg(waste < 0.125, "average waste %.3f", waste);
	/* Classes increase, are 16-byte multiples, fit their span; block 0
	 * is the header rounded up to the size's natural alignment (at most
	 * a page), so every block of the class is aligned to that. */
	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		const struct size_class *sc = &size_classes[c];
		uint32_t nat = sc->size & -sc->size;

		if (nat > SIZE_CLASS_ALIGN_MAX)
			nat = SIZE_CLASS_ALIGN_MAX;
		ck_assert_uint_eq(sc->size % 16, 0);
		if (c)
			ck_assert_uint_gt(sc->size, size_classes[c - 1].size);
		ck_assert_uint_eq(sc->first, ALIGN_UP(CHUNK_HDR_SIZE, nat));
		ck_assert_uint_le(sc->first + sc->nblocks * sc->size,
				  sc->span);
		/* No block lost to the gap: as many as after the header. */
		ck_assert_uint_eq(sc->nblocks,
				  min((sc->span - CHUNK_HDR_SIZE) / sc->size,
				      (uint32_t)CHUNK_MAX_BLOCKS));
		ck_assert_uint_le(sc->nblocks, CHUNK_MAX_BLOCKS);
		/* The lookup and the computed path agree at class edges. */
		ck_assert_uint_eq(size_to_class(sc->size), c);
		if (sc->size < SMALL_MAX)
			ck_assert_uint_eq(size_to_class(sc->size + 1), c + 1);
	}
	/* malloc's bin tables agree with the classes. */
	for (n = 0; n <= SMALL_MAX; n++)
		ck_assert_msg(size_bin(n) == offsetof(struct heap, bins) +
			      size_to_class(n) * sizeof(struct bin),
			      "size %zu: bin offset %u", n, size_bin(n));
}
END_TEST

/*
 * mem_agree() - bitslab's count of what it maps (os_mapped_total(), which
 * mallinfo2() and the statistics report: what it uses and what it has
 * reserved ahead) matches the kernel's: the growth
 * of the process's mapped size since @k0, taken when this freshly forked
 * test process had mapped nothing through bitslab (or less what it had:
 * Check forks each test; the runner itself never calls bitslab).  Also,
 * what is resident never exceeds what bitslab maps, give or take the margin.
 */
static void mem_agree(const struct kernel_mem *k0, const char *when)
{
	struct kernel_mem k;
	size_t ours = os_mapped_total(), theirs, rss;

	kernel_mem_read(&k);
	theirs = k.mapped - k0->mapped;
	rss = k.rss > k0->rss ? k.rss - k0->rss : 0;
	/* A sanitizer maps state of its own for the helper thread as it
	 * runs (up to 1 MiB seen under ThreadSanitizer), which the kernel
	 * counts and bitslab does not. */
	ck_assert_msg(theirs <= ours + KERNEL_MEM_MARGIN +
				(SANITIZER_SHADOW ? 4UL << 20 : 0) &&
		      ours <= theirs + KERNEL_MEM_MARGIN,
		      "%s: bitslab counts %zu bytes mapped, the kernel %zu "
		      "(margin %lu)", when, ours, theirs, KERNEL_MEM_MARGIN);
	ck_assert_msg(SANITIZER_SHADOW || rss <= ours + KERNEL_MEM_MARGIN,
		      "%s: %zu bytes resident, bitslab counts %zu mapped",
		      when, rss, ours);
}

START_TEST(test_alloc_trim_gives_everything_back)
{
	static void *p[20000];
	struct kernel_mem k0, k;
	size_t before, peak, asked = 0, rss_peak;
	uint64_t seed = 5;
	int i;

	memset(p, 0, sizeof(p));	/* resident before the baseline */
	/* The reclaim helper's stack (and a sanitizer's state for the
	 * thread) is not bitslab's mapping: start the helper before the
	 * baseline, and count what bitslab has mapped by then as growth. */
	bitslab_free(bitslab_malloc(64));
	reclaim_decay_kick(false);
	usleep(100 * 1000);
	kernel_mem_read(&k0);
	k0.mapped -= os_mapped_total();
	mem_agree(&k0, "at the start");
	bitslab_trim();
	before = os_mapped_bytes();
	/* Blocks of every class up to 4 KiB, written, then freed in a
	 * scrambled order. */
	for (i = 0; i < 20000; i++) {
		size_t n = 16 + prng_next(&seed) % 4081;

		p[i] = bitslab_malloc(n);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], 0x3c, n);
		asked += n;
	}
	peak = os_mapped_bytes();
	mem_agree(&k0, "at the peak");
	/* The kernel sees the blocks resident: they are distinct memory. */
	kernel_mem_read(&k);
	rss_peak = k.rss - k0.rss;
	ck_assert_msg(SANITIZER_SHADOW || rss_peak + KERNEL_MEM_MARGIN >= asked,
		      "%zu bytes written, only %zu resident", asked, rss_peak);
	for (i = 19999; i > 0; i--) {
		int j = (int)(prng_next(&seed) % (uint64_t)(i + 1));
		void *t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	for (i = 0; i < 20000; i++)
		bitslab_free(p[i]);
	ck_assert_int_eq(bitslab_trim(), 1);
	/* Everything but a few bookkeeping pages went back: current chunks
	 * of every class, kept and retired chunks included. */
	ck_assert_msg(os_mapped_bytes() <= before + 2 * CHUNK_SIZE,
		      "mapped %zu after trim, %zu before, %zu at peak",
		      os_mapped_bytes(), before, peak);
	mem_agree(&k0, "after trim");
	/* And the kernel agrees the pages went back. */
	kernel_mem_read(&k);
	ck_assert_msg(SANITIZER_SHADOW ||
		      k.rss <= k0.rss + before + 2 * CHUNK_SIZE +
				   KERNEL_MEM_MARGIN,
		      "%zu bytes resident after trim, %zu at the start, "
		      "%zu at the peak", k.rss, k0.rss, k0.rss + rss_peak);
}
END_TEST

/*
 * White-box: today's geometry, not the API's contract.  These pin the size
 * classes and the large path as they are built now, so that a change to
 * them is seen and made on purpose; a user may rely on none of it.
 */
START_TEST(test_alloc_white_box_geometry)
{
	void *p = bitslab_malloc(17), *q;
	size_t i;

	/* A 17-byte request takes the 32-byte class (glibc gives 24). */
	ck_assert_uint_eq(size_classes[size_to_class(17)].size, 32);
	ck_assert_uint_eq(bitslab_usable_size(p), 32);
	/* 24-byte blocks are 32-byte blocks of that class's chunks. */
	q = bitslab_malloc(24);
	ck_assert_uint_eq(bitslab_usable_size(q), 32);
	ck_assert_uint_eq(size_to_class(24), size_to_class(17));
	bitslab_free(q);
	bitslab_free(p);
	/* A fresh large block comes straight from os_map(), whose pages are
	 * the kernel's zero pages (malloc does not promise that). */
	p = bitslab_malloc(5 << 20);
	ck_assert_ptr_nonnull(p);
	for (i = 0; i < (5u << 20); i += 4096)
		ck_assert_uint_eq(((unsigned char *)p)[i], 0);
	bitslab_free(p);
}
END_TEST

/*
 * A bin that grew, refilled when the system refuses a new chunk: the
 * refill recovers memory (heap_recover() gives back the cache and every
 * bin, and shrinks the bins back), then claims what the shrunk bin holds.
 * It claimed what the grown one held, which left the bin with no room: its
 * frees never overflowed again.  The address space is limited to what is
 * mapped now and a little more, after 8 MiB of large blocks went to the
 * cache, so that the recovery succeeds.
 */
START_TEST(test_alloc_white_box_refill_after_recovery)
{
	static void *keep[4000];
	void *p[16];
	unsigned int cls = size_to_class(8192);
	struct kernel_mem m;
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	struct bin *b;
	int i, r, n;

	for (r = 0; r < 20; r++) {
		for (i = 0; i < 8; i++)
			p[i] = bitslab_malloc(8192);
		for (i = 0; i < 8; i++)
			bitslab_free(p[i]);
	}
	b = &bitslab_tls_heap->bins[cls];
	ck_assert_int_gt(b->max, bitslab_tls_heap->cls[cls].bin_base);
	for (i = 0; i < 8; i++) {
		keep[i] = bitslab_malloc(1 << 20);
		memset(keep[i], 1, 4096);
	}
	for (i = 0; i < 8; i++)
		bitslab_free(keep[i]);
	kernel_mem_read(&m);
	rl.rlim_cur = m.mapped + (256 << 10);
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	for (n = 0; n < 4000; n++) {
		keep[n] = bitslab_malloc(8192);
		if (!keep[n])
			break;
		ck_assert_msg(b->room >= 1 && b->room <= b->max,
			      "after %d blocks: room %d, capacity %d", n,
			      b->room, b->max);
	}
	rl.rlim_cur = RLIM_INFINITY;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
	/* The recovery ran (and shrank the bin). */
	ck_assert_int_eq(b->max, bitslab_tls_heap->cls[cls].bin_base);
	while (n--)
		bitslab_free(keep[n]);
	ck_assert_int_ge(b->room, 1);
}
END_TEST

/* Offset in its region major, region minor: consecutive frees in this
 * order go to consecutive regions. */
static int by_offset_then_region(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
	uintptr_t kx = ((x & CHUNK_MASK) << 32) | (x >> CHUNK_SHIFT);
	uintptr_t ky = ((y & CHUNK_MASK) << 32) | (y >> CHUNK_SHIFT);

	return kx < ky ? -1 : kx > ky;
}

static void *small_working_set(void *arg)
{
	void *p[64];
	int i, r;

	for (r = 0; r < 2 * HOT_GROW_MISSES; r++) {
		for (i = 0; i < 64; i++)
			p[i] = bitslab_malloc(16 + 16 * (size_t)(i % 32));
		for (i = 0; i < 64; i++)
			bitslab_free(p[(i * 7) % 64]);
	}
	*(unsigned long *)arg = bitslab_tls_heap->hot_mask;
	return NULL;
}

/*
 * The hot slots grow with the chunks a thread frees into (struct
 * hot_slot): frees that go round 2 * HOT_SLOTS_MIN regions miss the slots
 * a heap starts with every time, until HOT_GROW_MISSES of them made the
 * heap take all HOT_SLOTS; from then on only the regions that share a
 * slot miss (chunks of one class are not all neighbours in the arena).
 * A thread whose frees stay in a few chunks keeps the few slots (and the
 * pages of the others untouched).
 */
START_TEST(test_alloc_white_box_hot_slots_grow)
{
	enum { REGIONS = 2 * HOT_SLOTS_MIN };
	struct heap *h;
	uintptr_t *blk;
	unsigned long mask;
	uint32_t before;
	size_t n = 0, cap = (size_t)REGIONS * (CHUNK_SIZE / 1024), frees;
	pthread_t t;

	blk = bitslab_malloc(cap * sizeof(*blk));
	ck_assert_ptr_nonnull(blk);
	h = bitslab_tls_heap;
	ck_assert_uint_eq(h->hot_mask, HOT_MASK(HOT_SLOTS_MIN));
	/* 1 KiB blocks until they cover REGIONS regions. */
	while (n < cap) {
		blk[n] = (uintptr_t)bitslab_malloc(1024);
		ck_assert(blk[n]);
		n++;
	}
	qsort(blk, n, sizeof(*blk), by_offset_then_region);
	before = h->hot_misses;
	frees = n;
	while (n--)
		bitslab_free((void *)blk[n]);
	ck_assert_uint_eq(h->hot_mask, HOT_MASK(HOT_SLOTS));

	/* Without the growth: every free misses. */
	ck_assert_uint_lt(h->hot_misses - before,
			  HOT_GROW_MISSES + (frees - HOT_GROW_MISSES) / 2);
	bitslab_free(blk);

	ck_assert_int_eq(pthread_create(&t, NULL, small_working_set, &mask), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(mask, HOT_MASK(HOT_SLOTS_MIN));
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("api");
	TCase *wb = tcase_create("white-box");

	/* Every size to 40000 writes and reads 800 MB: 25 - 32 s under
	 * ThreadSanitizer alone, 77 s beside another sanitized suite. */
	tcase_set_timeout(tc, 60 * SLOW_SCALE);
	tcase_add_test(tc, test_alloc_every_size_holds_its_bytes);
	tcase_add_test(tc, test_alloc_blocks_are_distinct);
	tcase_add_test(tc, test_alloc_malloc_zero_is_unique);
	tcase_add_test(tc, test_alloc_exhaustion_gives_enomem);
	tcase_add_test(tc, test_alloc_free_keeps_errno);
	tcase_add_test(tc, test_alloc_calloc_zeroes_reused_memory);
	tcase_add_test(tc, test_alloc_realloc_across_classes_keeps_bytes);
	tcase_add_test(tc, test_alloc_realloc_growing_vector);
	tcase_add_test(tc, test_alloc_alignment_matrix);
	tcase_add_test(tc, test_alloc_aligned_alloc_rejects_bad_alignment);
	tcase_add_test(tc, test_alloc_small_blocks_16_byte_aligned);
	tcase_add_test(tc, test_alloc_large_blocks_resizable);
	tcase_add_test(tc, test_alloc_size_classes_waste_under_an_eighth);
	tcase_add_test(tc, test_alloc_trim_gives_everything_back);
	suite_add_tcase(s, tc);
	tcase_add_test(wb, test_alloc_white_box_geometry);
	tcase_add_test(wb, test_alloc_white_box_refill_after_recovery);
	tcase_add_test(wb, test_alloc_white_box_hot_slots_grow);
	suite_add_tcase(s, wb);
	return s;
}
