// SPDX-License-Identifier: MIT
/*
 * refill.c - the allocation slow paths: a bin ran dry, the size is beyond
 * the fast path's table, or the block is large.
 *
 * A refill first takes back what other threads sent to the heap's inbox,
 * then claims whole bitmap words of the class's current chunk; when that is
 * full it moves on to a partly used chunk of the heap's own, a chunk
 * adopted from the class's shared list, or a new chunk (from the chunk
 * cache or the system), in that order.  When the system refuses memory,
 * the thread gives back everything free it holds and every cached chunk,
 * waits for the retired ones' grace period if it may, and tries once more.
 */
#include <errno.h>
#include <pthread.h>

#include <bitslab/types.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "prof.h"
#include "reclaim.h"
#include "refill.h"
#include "release.h"
#include "remote.h"
#include "report.h"
#include "secure.h"
#include "shared.h"
#include "thread.h"

/*
 * Give memory back when the system refused some (RLIMIT_AS, overcommit),
 * or for trim: everything the heap holds free, every retired and cached
 * chunk.  After a refusal, the caller retries once.
 *
 * With cancellation disabled: the grace period's wait (liburcu-bp's poll)
 * and the sleeps of reclaim_now() and os_unmap_wait() are cancellation
 * points, and a pending cancel would unwind out of malloc() with the
 * heap's lock or bp's grace-period lock held (review of 672889a).
 */
static void __heap_recover(struct heap *h);

static void heap_recover(struct heap *h)
{
	int old;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	__heap_recover(h);
	pthread_setcancelstate(old, NULL);
}

static void __heap_recover(struct heap *h)
{
	if (h->kind == HEAP_KIND_THREAD)
		secure_flush(h);
	heap_flush_outbox(h);
	if (heap_is_real(h)) {
		heap_lock(h);
		heap_release_bins(h);
		heap_retire_empty(h);
		heap_unlock(h);
	}
	large_bin_flush(h);
	large_cache_drain();
	reclaim_now();
	chunk_cache_drain();
	/* What the helper or another thread took out of a cache a moment
	 * ago is still being unmapped. */
	os_unmap_wait();
}

/* A chunk of @cls for @h to claim from: partial, adopted, or new. */
static struct chunk *heap_next_chunk(struct heap *h, unsigned int cls)
{
	struct heap_class *hc = &h->cls[cls];
	struct chunk *c;

	if (!cds_list_empty(&hc->partial)) {
		c = cds_list_first_entry(&hc->partial, struct chunk, node);
		cds_list_del(&c->node);
		c->list = CHUNK_LIST_NONE;
		if (c->kept_empty) {
			c->kept_empty = false;
			hc->nempty--;
		}
		return hc->cur = c;
	}
	if (h->kind == HEAP_KIND_THREAD) {
		c = shared_adopt(h, cls);
		if (c) {
			hc->nchunks++;
			h->stats.chunks_adopted++;
			return hc->cur = c;
		}
	}
	c = chunk_create(cls, h, false);
	if (!c) {
		heap_recover(h);
		if (!cds_list_empty(&hc->partial))
			return heap_next_chunk(h, cls);
		c = chunk_create(cls, h, true);
		if (!c)
			return NULL;
	}
	hc->nchunks++;
	h->stats.chunks_new++;
	return hc->cur = c;
}

/*
 * A bin grows to at most BIN_GROW_MAX times its capacity (bin_base), by
 * doubling, while the heap's bins have grown by less than opt_bin_grow
 * KiB in all.
 */
#define BIN_GROW_MAX	4

/**
 * heap_bin_grow() - the plain bin @b of @cls ran dry after overflowing
 * since its last refill (or after a free storm in its class, which ended
 * so): it was too small for how the program uses the
 * class, whose blocks then went to the bitmaps and back at every few
 * operations.  Double its capacity, within the heap's budget.  (With bins
 * of 4 blocks, the classes above 4 KiB, a program freeing and allocating
 * blocks of 4 - 32 KiB at random spent a third of its time so: workload
 * micro 4096 32768, Documentation/benchmarks.rst.)  heap_release_bins()
 * shrinks them back.
 */
static void heap_bin_grow(struct heap *h, unsigned int cls, struct bin *b)
{
	int32_t add = b->max, limit = BIN_GROW_MAX * h->cls[cls].bin_base;
	size_t bytes;

	if (add > limit - b->max)
		add = limit - b->max;
	bytes = (size_t)add * size_classes[cls].size;
	if (add <= 0 || h->bin_grown + bytes > (size_t)opt_bin_grow << 10)
		return;
	h->bin_grown += bytes;
	b->max += add;
}

/*
 * A plain bin's refill claims at most REFILL_BYTES of blocks (REFILL_MIN
 * blocks at least), however big the bin.  Claiming chains the blocks, so
 * writes to each, and what a refill claimed but the program did not ask
 * for before its footprint peaked is resident memory it never used: with
 * half a bin (16 KiB of blocks of 128 bytes or more) claimed at a time,
 * workload xfree 16 40 4000 512 peaked at 16.8 MiB, 12.5 with 2 KiB
 * (mimalloc 12.7), and pcsplit 16 500000 512 at 5.7 MiB, 4.2 with 2 KiB
 * (mimalloc 4.1); 4 KiB kept 0.3 - 0.6 MiB of that.  The extra refills cost
 * workload wset 1 4 40000 1024 3 % more instructions, and the others none
 * (Documentation/benchmarks.rst).  Secure bins claim half the bin still:
 * their blocks are shuffled, and a shuffle of four is not random reuse.
 */
#define REFILL_BYTES	2048
#define REFILL_MIN	4

static unsigned int refill_want(const struct bin *b, unsigned int cls,
				bool secure)
{
	unsigned int want = (unsigned int)(b->max > 1 ? b->max / 2 : 1);
	unsigned int cap = REFILL_BYTES / size_classes[cls].size;

	if (cap < REFILL_MIN)
		cap = REFILL_MIN;
	return secure || want <= cap ? want : cap;
}

/**
 * heap_refill() - put blocks into @b, the empty bin of @cls (or its secure
 * bin, which takes only secure chunks' blocks, in random order).
 * Return: 0, or -1 (ENOMEM).
 */
static int __heap_refill(struct heap *h, unsigned int cls, struct bin *b)
{
	bool secure = b != &h->bins[cls];
	struct heap_class *hc = &h->cls[cls];
	unsigned int want;

	h->stats.refills++;
	if (hc->flushes) {
		/* The class is wanted again: a free storm is over, or the
		 * bin went from full to empty. */
		if (!secure && !prof_active)
			heap_bin_grow(h, cls, b);
		hc->flushes = 0;
		b->room = b->max;
		b->storm = 0;
	}
	heap_flush_outbox(h);
	if (!llist_empty(&h->inbox)) {
		heap_take_inbox(h);
		if (!bin_empty(b))
			return 0;
	}
	for (;;) {
		struct chunk *c = hc->cur;
		void **first, **last;
		unsigned int n;

		if (!c) {
			c = heap_next_chunk(h, cls);
			if (!c)
				return -1;
			if (!bin_empty(b))	/* recovery refilled the bin */
				return 0;
		}
		/*
		 * From the bin as it is now: a recovery in
		 * heap_next_chunk() (heap_release_bins()) may have shrunk a
		 * bin that grew, and claiming for the bigger one left it
		 * with no room, so that its frees never overflowed.
		 */
		want = refill_want(b, cls, secure);
		/* A chunk made before secure mode was decided serves only
		 * the plain bin (it gets back to the partial list when a
		 * block of it is released). */
		n = c->secure == secure ? chunk_claim(c, want, &first, &last) : 0;
		if (n) {
			if (secure)
				secure_shuffle(h, &first, &last);
			h->stats.claimed += n;
			h->stats.cls_claimed[cls] += n;
			last[0] = b->head;
			b->head = first;
			b->room -= (int32_t)n;
			DEBUG_BUG_ON(b->room < (b->max > 1));
			return 0;
		}
		hc->cur = NULL;
		c->list = CHUNK_LIST_FULL;
		cds_list_add(&c->node, &hc->full);
	}
}

int heap_refill(struct heap *h, unsigned int cls, struct bin *b)
{
	int ret;

	heap_lock(h);
	ret = __heap_refill(h, cls, b);
	heap_unlock(h);
	return ret;
}

/* @size: the bytes asked for, for secure mode's canary (secure_alloc()). */
static void *__heap_alloc(struct heap *h, unsigned int cls, size_t size)
{
	if (unlikely(opt_secure))
		return secure_alloc(h, cls, size);
	if (bin_empty(&h->bins[cls]) && heap_refill(h, cls, &h->bins[cls])) {
		errno = ENOMEM;
		return NULL;
	}
	return bin_pop(h, &h->bins[cls]);
}

/*
 * The fallback heap, under its lock.  The thread counts as calling out
 * meanwhile, so nothing it does there waits for a grace period with the
 * lock held (heap_may_wait()).
 */
static void *heap_alloc_global(unsigned int cls, size_t size)
{
	struct heap *saved = heap_call_out_begin();
	void *p;

	heap_global_lock();
	p = __heap_alloc(&heap_global, cls, size);
	heap_global_unlock();
	heap_call_out_end(saved);
	return p;
}

/**
 * heap_alloc_sized() - a block of class @cls for the calling thread,
 * whatever state the thread is in, for a request of @size bytes (which
 * the class holds; SIZE_MAX: the whole block is the program's).  The size
 * matters only in secure mode, whose canary starts right after it.  NULL
 * with errno = ENOMEM on failure.
 */
void *heap_alloc_sized(unsigned int cls, size_t size)
{
	struct heap *h = bitslab_tls_heap;

	if (likely(h->kind == HEAP_KIND_THREAD))
		return __heap_alloc(h, cls, size);
	if (h->kind == HEAP_KIND_BOOT) {
		h = heap_ensure();
		if (h->kind == HEAP_KIND_THREAD)
			return __heap_alloc(h, cls, size);
	}
	return heap_alloc_global(cls, size);
}

/**
 * heap_alloc_class() - a whole block of class @cls for the calling thread
 * (object caches, whose owner tag lies past the object): the slow exit of
 * heap_alloc_class_fast(), which passes no size, so that the fast path
 * does not pay for secure mode.  NULL with errno = ENOMEM on failure.
 */
void *heap_alloc_class(unsigned int cls)
{
	return heap_alloc_sized(cls, SIZE_MAX);
}

/**
 * heap_alloc_large() - a large block (large_alloc()) for the calling
 * thread, which gets its heap first (the free cookie secrets must be set
 * before a header is written); on a refusal, memory is given back and the
 * mapping tried once more.
 */
void *heap_alloc_large(size_t size, size_t align, bool zero)
{
	struct heap *h = heap_ensure();
	void *p = large_alloc(h, size, align, zero);

	if (!p && errno == ENOMEM) {
		heap_recover(h);
		p = large_alloc(h, size, align, zero);
	}
	return p;
}

/**
 * heap_alloc_slow() - malloc() when the fast path could not serve it: an
 * empty bin, a size beyond the lookup table, or a large block.
 */
void *heap_alloc_slow(size_t size)
{
	void *p;

	/* The options (secure mode) are read before a class is picked. */
	if (unlikely(bitslab_tls_heap->kind == HEAP_KIND_BOOT))
		heap_ensure();
	/* (malloc's large sizes asked the thread's bins on the way here,
	 * in large_malloc().) */
	if (unlikely(size > SMALL_MAX - secure_pad()))
		return heap_alloc_large(size, 0, false);
	if (unlikely(size == 0 && opt_secure)) {
		p = secure_alloc_zero(bitslab_tls_heap);
		if (p)
			return p;
	}
	p = heap_alloc_sized(size_to_class(size + secure_pad()), size);
	prof_alloc_hook(p, size);
	return p;
}

/**
 * heap_trim() - malloc_trim(): give back everything the calling thread
 * holds free and every retired or cached chunk.  Return: true if anything
 * was given back.
 */
bool heap_trim(void)
{
	/* A thread that never allocated gets its heap: it may then wait for
	 * the grace period of what other threads retired. */
	struct heap *h = heap_ensure();
	size_t before = os_mapped_total();	/* the arena's rest too */

	if (h->kind == HEAP_KIND_THREAD)
		heap_take_inbox(h);
	heap_recover(h);
	return os_mapped_total() < before;
}
