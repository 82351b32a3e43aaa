// SPDX-License-Identifier: MIT
/*
 * release.c - the owner of chunks releasing their free blocks back to the
 * bitmaps, and what happens to a chunk that becomes empty.
 *
 * Only a chunk's owner changes its bits and its count while it owns it
 * (core/chunk.h): bin overflows, the blocks other threads sent back that do
 * not fit in a bin, trim and thread exit all release through here, on the
 * owner's thread.  Bits go with one fetch_and per bitmap word, which
 * returns the previous bits: a bit already clear is a block released
 * twice, reported as a double free.  An owned chunk that becomes empty is
 * kept for reuse (up to empty_keep per class) or retired by its owner
 * alone: a chunk never on a shared list goes to the chunk cache at once,
 * one that was shared waits for a grace period (reclaim.c).
 */
#include <bitslab/types.h>

#include "chunk.h"
#include "free.h"
#include "heap.h"
#include "idle.h"
#include "prof.h"
#include "reclaim.h"
#include "options.h"
#include "release.h"
#include "remote.h"
#include "shared.h"
#include "report.h"

/*
 * @c, given up by @h, is dead and on no list.  One that was never on a
 * shared list needs no grace period and goes to the chunk cache now: the
 * cache sorts what it gives back into runs of neighbours, and gives it
 * back from the helper thread, so there is nothing to gain from holding
 * dead chunks in the heap, where an idle thread would keep them for good.
 */
static void heap_chunk_dead(struct heap *h, struct chunk *c)
{
	if (c->was_shared) {
		reclaim_retire(c);
		return;
	}
	c->retire.next = NULL;
	reclaim_unshared(&c->retire);
}

/*
 * owned -> dead: @c, an empty chunk of @h on one of its lists (or its
 * current chunk, already unset), dies.  @idle: given up by the idle
 * drainer, which counts it apart (the owner's counters are the owner's).
 */
static void __heap_give_up_chunk(struct heap *h, struct chunk *c, bool idle)
{
	struct heap_class *hc = &h->cls[c->cls];
	DEBUG_BUG_ON(READ_ONCE(c->nused) != 0);
	DEBUG_BUG_ON(READ_ONCE(h->slow) == SLOW_FREE);
	/* The drainer gives up no hot chunk: it never writes a slot. */
	DEBUG_BUG_ON(idle && heap_chunk_hot(h, c));
	if (!idle && heap_chunk_hot(h, c))
		heap_hot_unset(h, c);
	if (c->kept_empty)
		hc->nempty--;
	if (c->list == CHUNK_LIST_PARTIAL || c->list == CHUNK_LIST_FULL)
		cds_list_del(&c->node);
	c->list = CHUNK_LIST_DEAD;
	store_release(&c->owner, NULL);
	hc->nchunks--;
	if (idle)
		idle_count_retired();
	else
		h->stats.chunks_retired++;
	heap_chunk_dead(h, c);
}

/** heap_give_up_chunk() - __heap_give_up_chunk() by @h's owner. */
void heap_give_up_chunk(struct heap *h, struct chunk *c)
{
	__heap_give_up_chunk(h, c, false);
}

/*
 * Free storms.  A bin that overflows STORM_FLUSHES times with no refill of
 * its class in between belongs to a thread that is giving that class back
 * (freeing a data structure, a server after a burst).  Its blocks are
 * not coming back soon, and whatever a bin or the heap holds when the
 * thread then goes idle it holds for good: nobody but the owner may touch
 * it.  So, until the next refill of the class, the bin is flushed whole at
 * every overflow and left with room for a single free (each free then goes
 * straight back to its bitmap), and chunks of the class that empty, the
 * current one included, are given up rather than kept.  The blocks other
 * threads sent back are taken at each such flush too.  A storm ends, and
 * the bin is its full size again, at the next refill.
 */
#define STORM_FLUSHES	2

static bool heap_class_storm(const struct heap_class *hc)
{
	return hc->flushes >= STORM_FLUSHES;
}

/*
 * An owned, non-current chunk became empty: keep it or give it up.  The
 * idle drainer (@idle) keeps only what it must: a hot chunk.
 */
static void heap_chunk_empty(struct heap *h, struct chunk *c, bool idle)
{
	struct heap_class *hc = &h->cls[c->cls];

	if (idle) {
		if (!heap_chunk_hot(h, c)) {
			__heap_give_up_chunk(h, c, true);
		} else if (!c->kept_empty) {
			c->kept_empty = true;
			hc->nempty++;
		}
		return;
	}
	if (!c->kept_empty && hc->nempty < h->empty_keep &&
	    !heap_class_storm(hc)) {
		c->kept_empty = true;
		hc->nempty++;
		return;
	}
	heap_give_up_chunk(h, c);
}

/* @c, owned by @h, has @n blocks taken after a release (@idle: by the
 * idle drainer): off the full list, and given up or kept if it is empty. */
static __always_inline void __heap_chunk_lists(struct heap *h,
					       struct chunk *c, long n,
					       bool idle)
{
	struct heap_class *hc = &h->cls[c->cls];

	if (c == hc->cur) {
		if (n == 0 && (idle ? !heap_chunk_hot(h, c)
				    : heap_class_storm(hc))) {
			hc->cur = NULL;
			__heap_give_up_chunk(h, c, idle);
		}
		return;
	}
	if (c->list == CHUNK_LIST_FULL) {
		cds_list_del(&c->node);
		cds_list_add(&c->node, &hc->partial);
		c->list = CHUNK_LIST_PARTIAL;
	}
	if (n == 0)
		heap_chunk_empty(h, c, idle);
}

/* @k blocks of @c (owned by @h) went back to its bitmap (@idle: by the
 * idle drainer): its count.  Return: the blocks still taken. */
static __always_inline long __heap_chunk_count(struct heap *h,
					       struct chunk *c,
					       unsigned int k, bool idle)
{
	long n = READ_ONCE(c->nused) - (long)k;

	DEBUG_BUG_ON(n < 0);
	WRITE_ONCE(c->nused, n);
	if (!idle)
		h->stats.released += k;
	/* Free pages, which the idle drainer purges if the owner goes
	 * idle (core/idle.c). */
	c->idle_dirty = true;
	if (!READ_ONCE(h->idle_dirty))
		WRITE_ONCE(h->idle_dirty, true);
	return n;
}

/* __heap_chunk_count(), then what the count says: for a run of blocks
 * (release_run()), out of line. */
static noinline void heap_chunk_released(struct heap *h, struct chunk *c,
					 unsigned int k, bool idle)
{
	__heap_chunk_lists(h, c, __heap_chunk_count(h, c, k, idle), idle);
}

static void release_word(struct release *r)
{
	struct chunk *c = r->c;
	unsigned long got;

	if (!r->mask)
		return;
	got = bitmap_release_mask(c->used, r->word, r->mask);
	if (got != r->mask)
		report_misuse("double free",
			      chunk_block(c, r->word * BITS_PER_LONG +
					      __ffs(r->mask & ~got)), c->cls);
	if (r->word < c->hint)
		c->hint = (uint32_t)r->word;
	r->mask = 0;
}

static void release_run(struct release *r)
{
	if (!r->c)
		return;
	release_word(r);
	if (r->idle)
		idle_count_released(r->c->cls, r->n);
	else
		r->h->stats.cls_released[r->c->cls] += r->n;
	heap_chunk_released(r->h, r->c, r->n, r->idle);
	r->c = NULL;
	r->n = 0;
}

/* release_add(), inlined into the release of a bin's list. */
static __always_inline void __release_add(struct release *r, struct chunk *c,
					  void **p)
{
	unsigned long idx = chunk_block_index(c, (uintptr_t)p);
	unsigned long w = BIT_WORD(idx), bit = BIT_MASK(idx);

	DEBUG_BUG_ON(READ_ONCE(c->owner) != r->h);
	DEBUG_BUG_ON(READ_ONCE(r->h->slow) == SLOW_FREE);
	prof_free_hook(p);
	if (c != r->c) {
		release_run(r);
		r->c = c;
	} else if (w != r->word) {
		release_word(r);
	}
	if (r->mask & bit)
		report_misuse("double free", p, c->cls);
	r->word = w;
	r->mask |= bit;
	r->n++;
}

/**
 * release_add() - queue block @p of @c, a chunk r->h owns, for release.
 * The chunk's count is lowered last, when its run ends.
 */
void release_add(struct release *r, struct chunk *c, void **p)
{
	__release_add(r, c, p);
}

/** release_end() - release what is still queued in @r. */
void release_end(struct release *r)
{
	release_run(r);
}

/*
 * The chunk of @p, a block in a bin of @h, for @h's own thread: from its
 * hot slot if its region is there (a block freed into a bin went through
 * the slot, or made it), else from the page map.
 */
static __always_inline struct chunk *bin_block_chunk(struct heap *h, void **p)
{
	unsigned long off = heap_hot_find(h, (uintptr_t)p);

	return off ? heap_hot_chunk(h, off) : chunk_lookup((uintptr_t)p);
}

/* Release a chain of free blocks of @h's chunks (word 0 links, ending
 * at BIN_END): a bin's blocks, or some of them, by @h's own thread.  @c:
 * the first block's chunk if the caller knows it (the free that filled
 * the bin), else NULL; the others' come from the hot slots or the page
 * map. */
static void heap_release_list(struct heap *h, void **list, struct chunk *c)
{
	struct release r = { .h = h };

	while (list != BIN_END) {
		void **next = list[0];

		__release_add(&r, c ? c : bin_block_chunk(h, list), list);
		c = NULL;
		list = next;
	}
	release_end(&r);
}

/*
 * Block @p of @c, a chunk @h owns, back into its bitmap, and counted:
 * heap_release_list() for one block, without the run's bookkeeping (half
 * the cost of a storm free was that: Documentation/benchmarks.rst).
 * Return: the blocks of @c still taken.
 */
static __always_inline long release_bit_at(struct heap *h, struct chunk *c,
					   void **p, unsigned long idx)
{
	unsigned long w = BIT_WORD(idx), bit = BIT_MASK(idx);

	DEBUG_BUG_ON(READ_ONCE(c->owner) != h);
	DEBUG_BUG_ON(READ_ONCE(h->slow) == SLOW_FREE);
	if (!(bitmap_release_mask(c->used, w, bit) & bit))
		report_misuse("double free", p, c->cls);
	if (w < c->hint)
		c->hint = (uint32_t)w;
	h->stats.cls_released[c->cls]++;
	return __heap_chunk_count(h, c, 1, false);
}

static __always_inline long release_bit(struct heap *h, struct chunk *c,
					void **p)
{
	return release_bit_at(h, c, p, chunk_block_index(c, (uintptr_t)p));
}

/* release_bit() and what the count says: a free in a free storm, which
 * releases every block as it comes (the bin holds the one being freed). */
static __always_inline void release_one(struct heap *h, struct chunk *c,
					void **p)
{
	prof_free_hook(p);
	__heap_chunk_lists(h, c, release_bit(h, c, p), false);
}

/**
 * heap_give_up_list() - owned -> dead or shared: give up every chunk on
 * @list, one of @h's: retire the empty ones, publish the rest on their
 * class's shared list, where whoever frees their last blocks releases
 * them and any heap may adopt them.
 */
void heap_give_up_list(struct heap *h, struct cds_list_head *list)
{
	struct cds_list_head *pos, *tmp;

	cds_list_for_each_safe(pos, tmp, list) {
		struct chunk *c = cds_list_entry(pos, struct chunk, node);

		if (READ_ONCE(c->nused) == 0) {
			heap_give_up_chunk(h, c);
			continue;
		}
		heap_hot_unset(h, c);
		cds_list_del(&c->node);
		if (c->kept_empty) {
			c->kept_empty = false;
			h->cls[c->cls].nempty--;
		}
		h->cls[c->cls].nchunks--;
		shared_publish(c);
	}
}

/*
 * A free storm began in class @cls of @h and no helper drains idle
 * owners (idle_ms=0): the class's chunks are not needed for a while, and
 * the blocks still taken in them will come back from this thread and
 * others, maybe while this one sleeps.  Published, they are released by
 * whoever frees them, and retired by whoever frees the last, so nothing
 * waits for this thread to run again (the blocks it holds in its inbox
 * now it takes first).  The next refill adopts them back from the shared
 * list.
 */
static void heap_class_publish(struct heap *h, unsigned int cls)
{
	struct heap_class *hc = &h->cls[cls];
	struct chunk *cur;

	if (!llist_empty(&h->inbox))
		heap_take_inbox(h);
	/* Read after: the inbox may have emptied it, and it is gone. */
	cur = hc->cur;
	if (cur) {
		hc->cur = NULL;
		cur->list = CHUNK_LIST_PARTIAL;
		cds_list_add(&cur->node, &hc->partial);
	}
	heap_give_up_list(h, &hc->partial);
	heap_give_up_list(h, &hc->full);
}

/* Release the newest half of bin @b of @h, whose head block is of chunk
 * @c (NULL: not known). */
static void flush_half(struct heap *h, struct bin *b, struct chunk *c)
{
	int n = b->max / 2, i;
	void **first = b->head, **last = first;

	if (n < 1)
		n = 1;
	for (i = 1; i < n && last[0] != BIN_END; i++)
		last = last[0];
	b->head = last[0];
	last[0] = BIN_END;
	b->room += i;
	DEBUG_BUG_ON(b->room < 1);
	heap_lock(h);
	heap_release_list(h, first, c);
	heap_unlock(h);
}

/*
 * A free of a block of @c filled its class's bin in @h (the block is the
 * bin's head): release the bin's newest half to the bitmaps, which is how
 * chunks become empty again; in a free storm, all of it (see
 * STORM_FLUSHES).  Under @h's heap lock.
 */
static void heap_flush_bin(struct heap *h, struct chunk *c)
{
	unsigned int cls = c->cls;
	struct bin *b = &h->bins[cls];
	struct heap_class *hc = &h->cls[cls];
	void **first = b->head;

	DEBUG_BUG_ON(chunk_lookup((uintptr_t)first) != c);

	h->stats.flushes++;
	if (hc->flushes < STORM_FLUSHES && h->kind == HEAP_KIND_THREAD)
		hc->flushes++;
	if (heap_class_storm(hc)) {
		b->head = BIN_END;
		b->room = 1;
		/* Its next frees may take the storm free (see
		 * heap_free_overflow()); the next refill clears it. */
		b->storm = opt_idle_ms && !prof_active;
		if (first[0] == BIN_END)
			release_one(h, c, first);
		else
			heap_release_list(h, first, c);
		if (h->out_count)
			heap_flush_outbox(h);
		/* Not under the profiler: its bins hold one block, so every
		 * free goes straight back already, and a block waiting in an
		 * outbox towards a shared chunk would still count as live. */
		/*
		 * Published only when the reclaim helper does not drain idle
		 * owners (idle_ms=0): otherwise it gives back what other
		 * threads free into these chunks while this one sleeps, and
		 * the chunks stay owned, so this thread's own frees go back
		 * to its bitmaps without the class lock (published, each of
		 * them took the lock: wset 4 16 40000 1024, 0.22 s against
		 * 0.13).
		 */
		if (!opt_idle_ms && !prof_active &&
		    (hc->cur || !cds_list_empty(&hc->partial) ||
		     !cds_list_empty(&hc->full)))
			heap_class_publish(h, cls);
		return;
	}
	flush_half(h, b, c);
}

/* heap_free_overflow(), when it does more than release_one(). */
static noinline void heap_free_overflow_slow(struct heap *h, struct chunk *c)
{
	heap_lock(h);
	heap_flush_bin(h, c);
	if (!llist_empty(&h->inbox))
		heap_take_inbox(h);
	heap_unlock(h);
}

/**
 * heap_free_overflow() - a free of a block of @c filled @b, the bin of its
 * class in @h: flush the bin, and take back what other threads sent to
 * @h.  A thread that frees but no longer allocates (a producer between
 * bursts, say) so still takes its remote frees back every few dozen of its
 * own frees, instead of holding the blocks, and with them their chunks,
 * until it allocates.
 *
 * @idx: the block's index in @c, from the free's misuse checks (without
 * them, computed here).  In a free storm, when the bin holds only the
 * block being freed, the inbox is empty and the outbox holds fewer than
 * STORM_OUTBOX blocks, that block goes back to its bitmap on a path of its
 * own, which calls
 * nothing and saves no registers (it takes the heap lock only if that
 * takes no waiting; else the whole path waits for the drainer): that is
 * most frees of a storm, and 19 of the 172 instructions a pair of
 * tools/bench/pair 64 N 10000 cost were the registers and the calls.
 * (With idle_ms=0 the storm's first flush publishes the class's chunks,
 * so those take the whole path.)
 * The outbox waits for STORM_OUTBOX blocks rather than going out at every
 * storm free: a thread freeing its own blocks and others' in turn (workload
 * wset) pushed the others' one at a time.  What it may hold when it goes
 * idle is 15 blocks: towards a live owner, up to 15 chunks that owner
 * cannot retire, towards the orphanage one shared chunk; outside storms
 * the outbox holds up to OUTBOX_MAX - 1 already.  Not under the profiler:
 * a block of a shared chunk leaves the profile when its outbox goes out,
 * and one left waiting counted as live, and as leaked at exit.
 */
#define STORM_OUTBOX	16

/*
 * The end of a storm free whose chunk @c, @n blocks taken, leaves the
 * full list or empties.  Out of line: the storm free itself then calls
 * nothing and saves no registers.  Drops @h's heap lock.
 */
static noinline void storm_free_lists(struct heap *h, struct chunk *c,
				      long n)
{
	__heap_chunk_lists(h, c, n, false);
	heap_unlock(h);
}

void heap_free_overflow(struct heap *h, struct chunk *c, struct bin *b,
			unsigned long idx)
{
	void **p = b->head;

	/* b->storm: the class is in a storm, idle_ms is not 0 and the
	 * profiler is off (heap_flush_bin()); one test for the three. */
	if (b->storm && p[0] == BIN_END && h->out_count < STORM_OUTBOX &&
	    llist_empty(&h->inbox) && heap_trylock(h)) {
		long n;

		DEBUG_BUG_ON(chunk_lookup((uintptr_t)p) != c);
		DEBUG_BUG_ON(!heap_class_storm(&h->cls[c->cls]) ||
			     !opt_idle_ms || prof_active);
		/* The free fast path's checks computed the index. */
		if (!IS_ENABLED(CONFIG_MISUSE_CHECKS))
			idx = chunk_block_index(c, (uintptr_t)p);
		DEBUG_BUG_ON(idx != chunk_block_index(c, (uintptr_t)p));
		h->stats.flushes++;
		b->head = BIN_END;
		b->room = 1;
		n = release_bit_at(h, c, p, idx);	/* no profiler */
		if (unlikely(n == 0 || c->list == CHUNK_LIST_FULL)) {
			storm_free_lists(h, c, n);
			return;
		}
		heap_unlock(h);
		return;
	}
	heap_free_overflow_slow(h, c);
}

/** heap_flush_bin_of() - release the newest half of bin @b of @h (a
 * plain bin outside a free storm, or a secure bin). */
void heap_flush_bin_of(struct heap *h, struct bin *b)
{
	flush_half(h, b, NULL);
}

/** heap_release_bins() - release every block of every bin of @h (and of
 * every secure bin), and shrink the bins that grew back. */
void heap_release_bins(struct heap *h)
{
	unsigned int c;

	heap_lock(h);
	for (c = 0; c < 2 * NR_SIZE_CLASSES; c++) {
		struct bin *b = c < NR_SIZE_CLASSES ? &h->bins[c]
				: &h->sbins[c - NR_SIZE_CLASSES];
		void **list = b->head;

		b->head = BIN_END;
		if (c < NR_SIZE_CLASSES)	/* what heap_bin_grow() added */
			b->max = h->cls[c].bin_base;
		b->room = b->max;
		heap_release_list(h, list, NULL);
	}
	h->bin_grown = 0;
	heap_unlock(h);
}

/**
 * heap_retire_empty() - give up every empty chunk of @h (trim, memory
 * shortage): those it keeps for reuse and the current chunks of its
 * classes.
 */
void heap_retire_empty(struct heap *h)
{
	unsigned int c;

	heap_lock(h);
	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		struct heap_class *hc = &h->cls[c];
		struct cds_list_head *pos, *tmp;
		struct chunk *cur = hc->cur;

		if (cur && READ_ONCE(cur->nused) == 0) {
			hc->cur = NULL;
			heap_give_up_chunk(h, cur);
		}
		cds_list_for_each_safe(pos, tmp, &hc->partial) {
			struct chunk *k = cds_list_entry(pos, struct chunk, node);

			if (k->kept_empty)
				heap_give_up_chunk(h, k);
		}
	}
	heap_unlock(h);
}

/**
 * heap_retire_idle() - the idle drainer, holding @h's heap lock, gives up
 * the empty chunks @h keeps, the current ones included, but not the hot
 * ones (see the top of core/heap.h).
 */
void heap_retire_idle(struct heap *h)
{
	unsigned int c;

	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		struct heap_class *hc = &h->cls[c];
		struct cds_list_head *pos, *tmp;
		struct chunk *cur = hc->cur;

		if (cur && READ_ONCE(cur->nused) == 0 &&
		    !heap_chunk_hot(h, cur)) {
			hc->cur = NULL;
			__heap_give_up_chunk(h, cur, true);
		}
		cds_list_for_each_safe(pos, tmp, &hc->partial) {
			struct chunk *k = cds_list_entry(pos, struct chunk, node);

			if (k->kept_empty && !heap_chunk_hot(h, k))
				__heap_give_up_chunk(h, k, true);
		}
	}
}
