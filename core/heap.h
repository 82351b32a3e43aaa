/* SPDX-License-Identifier: MIT */
/*
 * heap.h - per-thread heaps: the calling thread's heap, the sentinel heaps
 * of threads that may not use their own, the fallback heap, the pool heaps
 * live in, and the bin operations the inline fast paths of alloc.h use.
 *
 * The heap lock: idle owners
 * --------------------------
 * Only a chunk's owner releases blocks into it (core/chunk.h), so the
 * blocks other threads send to a heap wait in its inbox until its owner
 * takes them, and an owner that stops calling malloc and free (a producer
 * between bursts, a server thread blocked in epoll_wait) would hold them,
 * and the chunks they keep taken, for good.  So the heap's bookkeeping of
 * its chunks, its "books", sits behind a lock of its own, which the owner
 * takes in its slow paths only and which the reclaim helper (core/idle.c)
 * may take, with a try-lock, to drain the inbox of an owner that has taken
 * no slow path for a while.
 *
 *   what                                   who writes it
 *   -------------------------------------  -------------------------------
 *   the books: cls[] (cur, partial, full,  under the heap lock: the owner,
 *   nchunks, nempty); of each owned chunk  or the drainer on its behalf
 *   nused, hint, list, node, kept_empty,
 *   its bits (claim: owner only; release:
 *   both), owned -> dead or shared
 *   bins, sbins, hot slots, outbox,        the owner alone, without the
 *   quarantine, large bins, flushes,       lock (the fast paths); the
 *   empty_keep, stats                      drainer never writes them (it
 *                                          counts apart, core/idle.c)
 *   inbox, state                           atomic: any thread
 *   slow (the lock word)                   the owner (lock, may wait) and
 *                                          the drainer (try-lock only)
 *   slow_seq                               the owner, under the lock
 *   hot_mask (how many hot slots are in    the owner, under the lock; its
 *   use)                                   fast paths read it unlocked
 *   idle_seen                              the drainer, under the lock
 *   idle_dirty (heap and chunk)            the lock holder; the heap's is
 *                                          read by the drainer unlocked
 *
 * The owner takes the lock (heap_lock(), recursive through slow_depth,
 * owner only; heap_trylock() where another path serves if it would have
 * to wait) around every slow path that touches its books: a refill, a
 * bin overflow and the flushes it does, taking the inbox, the outbox's
 * blocks of shared chunks (which may be its own by now), trim and memory
 * recovery, and exit.  One compare-and-swap on a line of the owner's own
 * (the outbox's) and a plain release store: the fast paths, which
 * touch only the bins and read the hot slots, take nothing.  The owner
 * may wait for the lock only while the drainer holds it, which is for at
 * most IDLE_BATCH blocks or one chunk's purge: the drainer runs none of the
 * program's code, allocates nothing and waits for nothing while it holds
 * it, and lets go early when the owner says it waits (SLOW_HELPER_WAITED).
 *
 * The drainer holds the lock only through heap_trylock_idle(), which never
 * waits, and only on a live thread heap; under it the drainer takes the
 * inbox and puts every block back into its bitmap (never into a bin),
 * gives up the chunks that empty and the empty ones the owner kept, and
 * purges the pages that hold no taken block in the chunks blocks were
 * released into since its last purge (idle_dirty; core/idle.c).  It must
 * not touch what the fast paths touch, so:
 *
 *  - a chunk in one of the heap's hot slots stays owned (its slot is the
 *    owner's to reset).  A hot chunk is one the owner holds, and the free
 *    fast path trusts that without a check; the drainer reads the slots
 *    with relaxed atomic loads (heap_chunk_hot()), the owner's lock-free
 *    write in heap_free_chunk() is a relaxed atomic store, and it makes
 *    hot only a chunk a block of which it is freeing: a taken block keeps
 *    nused above 0, so a chunk the drainer sees empty under the lock is
 *    never being made hot at that moment.  (The owner also makes hot the
 *    chunk of a block it takes back from its inbox, __heap_take_blocks(),
 *    but holds the lock there, so the drainer is not running);
 *  - a block in a bin is taken (its bit set), so the drainer never sees
 *    its chunk empty, and never gives it up or purges its page.
 *
 * A heap reaches the drainer only while it is live: heap_exit() holds the
 * lock from its first step until its state is HEAP_DEAD, and the drainer
 * checks the state under the lock.  fork() waits for a drain in progress
 * (the drainer's drain_lock is taken by the fork handlers), so the child
 * never inherits half-updated books.
 */
#ifndef CORE_HEAP_H
#define CORE_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#include <bitslab/types.h>

#include "chunk.h"

/*
 * The calling thread's heap.  Never NULL: threads start on a sentinel heap
 * whose bins are empty, so the fast paths need no test for it.
 */
extern __thread struct heap *bitslab_tls_heap
	__attribute__((tls_model("initial-exec")));

/* Sentinels (see enum heap_kind) and the locked fallback heap. */
extern struct heap heap_boot, heap_exited;
/* Destination of frees into shared chunks (no owner): see remote.c. */
extern struct heap heap_orphanage;
extern struct heap heap_global;

/** heap_is_real() - does @h own chunks (a thread's heap, or the global)? */
static __always_inline bool heap_is_real(const struct heap *h)
{
	return h->kind == HEAP_KIND_THREAD || h->kind == HEAP_KIND_GLOBAL;
}

__cold __noreturn void heap_bin_corrupt(void **p);

/*
 * The end of every bin's list, and so the head of every empty bin: two
 * words that no block holds, read-only.  Its word 1, the free cookie of a
 * block in a bin, is 0, which is no heap's, so the pop's cookie test is
 * also its test for an empty bin.
 */
extern void *const bin_end[2];
#define BIN_END ((void **)bin_end)

/** bin_empty() - has bin @b no blocks? */
static __always_inline bool bin_empty(const struct bin *b)
{
	return b->head == BIN_END;
}

/*
 * Take block @p, the head of bin @b, off it and clear its free cookie: a
 * block handed out holds no cookie, so that its free does not look like a
 * double free.
 */
static __always_inline void *__bin_take(struct bin *b, void **p)
{
	b->head = p[0];
	b->room++;
	p[1] = NULL;
	return p;
}

/**
 * bin_pop_fast() - the fast path's pop: the most recently freed block of
 * bin @b of heap @h if it carries @h's local free cookie, else NULL.
 * Owner only.  NULL means the bin is empty (its head is BIN_END) or its
 * head block was written to after it was freed (or the link of the block
 * freed after it was): one compare for both, on the word the pop clears
 * anyway; bin_pop(), on the slow path, tells which.
 */
static __always_inline void *bin_pop_fast(struct heap *h, struct bin *b)
{
	void **p = b->head;

	in_return_reg(p);	/* the callers return it */
	if (unlikely((uintptr_t)p[1] != free_cookie_local(h)))
		return NULL;
	return __bin_take(b, p);
}

/**
 * bin_pop() - take the most recently freed block off bin @b of heap @h,
 * which is not empty, and clear its free cookie.  Owner only.
 *
 * Every block in a bin carries @h's local free cookie in word 1
 * (core/chunk.h); a block whose word 1 says otherwise was written to after
 * it was freed (or the bin's links were), and is reported before it is
 * handed out again.
 */
static __always_inline void *bin_pop(struct heap *h, struct bin *b)
{
	void **p = b->head;

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    unlikely((uintptr_t)p[1] != free_cookie_local(h)))
		heap_bin_corrupt(p);
	return __bin_take(b, p);
}

/*
 * The free fast path's view of the hot slots: the slot of the region of @a
 * as an offset in struct heap, and its words read from the heap and that
 * offset.  Reading them so, rather than through the slot's address, lets
 * the compiler address them from the heap's register and the offset's
 * (gcc 12 forms the slot's address first: one instruction more).
 */
static __always_inline unsigned long heap_hot_off(const struct heap *h,
						  uintptr_t a)
{
	_Static_assert(sizeof(struct hot_slot) == 1UL << HOT_SLOT_SHIFT,
		       "HOT_SLOT_SHIFT");
	/* The mask from memory costs no instruction: it is the and's
	 * operand. */
	return offsetof(struct heap, hot) +
	       ((a >> (CHUNK_SHIFT - HOT_SLOT_SHIFT)) & h->hot_mask);
}

static __always_inline uintptr_t heap_hot_region(struct heap *h,
						 unsigned long off)
{
	return *(uintptr_t *)((char *)h + off +
			      offsetof(struct hot_slot, region));
}

static __always_inline struct chunk *heap_hot_chunk(struct heap *h,
						     unsigned long off)
{
	return *(struct chunk **)((char *)h + off +
				  offsetof(struct hot_slot, chunk));
}

static __always_inline struct bin *heap_hot_bin(struct heap *h,
						 unsigned long off)
{
	return *(struct bin **)((char *)h + off +
				offsetof(struct hot_slot, bin));
}

/*
 * heap_hot_block_index() - chunk_block_start_index() for @a, whose region
 * is in the hot slot at @off, with @b the slot's bin: the test's constants
 * from the slot and the bin, which a free touches anyway, not from the
 * chunk's header.  Blocks of 4 - 32 KiB are spread over many chunks whose
 * headers all start at 64 KiB boundaries, so in the same L1 sets: the
 * header's line missed on 0.75 frees in 1 (cachegrind, workload micro
 * 4096 32768).
 */
static __always_inline bool heap_hot_block_index(struct heap *h,
						 unsigned long off,
						 struct bin *b, uintptr_t a,
						 unsigned long *idx)
{
	uint32_t o = (uint32_t)a -
		     *(const uint32_t *)((const char *)h + off +
					 offsetof(struct hot_slot, first_lo));
	unsigned __int128 prod = (unsigned __int128)o * b->div_magic;

	*idx = (unsigned long)(prod >> 64);
	return (uint64_t)prod <
	       *(const uint32_t *)((const char *)h + off +
				   offsetof(struct hot_slot, div_limit));
}

/**
 * heap_hot_find() - for @h's own thread (or under its heap lock): the
 * offset of the hot slot that holds the region of @a, whose chunk is then
 * @h's and not secure, or 0 if no slot does.  The slow paths' view; the
 * free fast path makes the same test its own way (alloc.h).
 */
static __always_inline unsigned long heap_hot_find(struct heap *h,
						   uintptr_t a)
{
	unsigned long off = heap_hot_off(h, a);

	return heap_hot_region(h, off) == (a & ~CHUNK_MASK) ? off : 0;
}

/** heap_hot_slot() - the hot slot of @h where the region of @a would be
 * (the owner, or the drainer under the heap lock). */
static __always_inline struct hot_slot *heap_hot_slot(struct heap *h,
						      uintptr_t a)
{
	return (struct hot_slot *)((char *)h + heap_hot_off(h, a));
}

__cold noinline void heap_lock_wait(struct heap *h);

/**
 * heap_lock() - the owner of @h enters a slow path that touches its books
 * (see the top of this file).  Owner only (or, for the fallback heap,
 * under its global lock); nests.  Waits only while the idle drainer holds
 * the lock, which is for a bounded step.
 */
static __always_inline void heap_lock(struct heap *h)
{
	int v = SLOW_FREE;

	if (h->slow_depth++)
		return;
	/* Acquire: pairs with the release in heap_unlock_idle(). */
	if (unlikely(!try_cmpxchg_acquire(&h->slow, &v, SLOW_OWNER)))
		heap_lock_wait(h);
	h->slow_seq++;
}

/**
 * heap_trylock() - heap_lock() if it takes no waiting and nests in no
 * slow path: for a path that would rather take another one than wait.
 */
static __always_inline bool heap_trylock(struct heap *h)
{
	int v = SLOW_FREE;

	if (h->slow_depth ||
	    !try_cmpxchg_acquire(&h->slow, &v, SLOW_OWNER))
		return false;
	h->slow_depth = 1;
	h->slow_seq++;
	return true;
}

/** heap_unlock() - the owner of @h leaves the slow path. */
static __always_inline void heap_unlock(struct heap *h)
{
	if (--h->slow_depth)
		return;
	/* Release: pairs with the acquire in heap_trylock_idle().  Nobody
	 * waits for the owner: the drainer only tries. */
	store_release(&h->slow, SLOW_FREE);
}

/**
 * heap_hot_set() - the owner of @h makes region @region of @c, which it
 * owns, hot, with bin @b.  Without the heap lock: the region key is
 * written with a relaxed atomic store, for the drainer's heap_chunk_hot(),
 * which reads nothing else of a slot.  The field is not _Atomic, so that
 * the free fast path (its writer's own thread) reads it as a plain load.
 */
static __always_inline void heap_hot_set(struct heap *h, uintptr_t region,
					 struct chunk *c, struct bin *b)
{
	struct hot_slot *s = heap_hot_slot(h, region);

	s->chunk = c;
	s->bin = b;
	s->first_lo = c->first_lo;
	s->div_limit = (uint32_t)c->div_limit;
	b->div_magic = c->div_magic;	/* the same for every chunk of b */
	__atomic_store_n(&s->region, region, __ATOMIC_RELAXED);
}

/** chunk_regions() - how many CHUNK_SIZE regions the span of @c covers
 * (a short chunk, core/chunk_cache.c, is part of one). */
static __always_inline unsigned int chunk_regions(const struct chunk *c)
{
	return (c->span + CHUNK_SIZE - 1) >> CHUNK_SHIFT;
}

/**
 * heap_chunk_hot() - is a region of @c, a chunk of @h, in its hot slot
 * of @h?  The heap lock holder (owner or drainer): a chunk that is must
 * stay owned by @h.  A slot keyed by a region of @c is @c's: every slot
 * of a chunk is unset before @h gives the chunk up.
 */
static __always_inline bool heap_chunk_hot(struct heap *h, struct chunk *c)
{
	uintptr_t r = (uintptr_t)c;
	unsigned int i, n = chunk_regions(c);

	for (i = 0; i < n; i++, r += CHUNK_SIZE)
		if (__atomic_load_n(&heap_hot_slot(h, r)->region,
				    __ATOMIC_RELAXED) == r)
			return true;
	return false;
}

/** heap_hot_unset() - the owner of @h forgets every hot region of @c. */
static __always_inline void heap_hot_unset(struct heap *h, struct chunk *c)
{
	uintptr_t r = (uintptr_t)c;
	unsigned int i, n = chunk_regions(c);

	for (i = 0; i < n; i++, r += CHUNK_SIZE) {
		struct hot_slot *s = heap_hot_slot(h, r);

		if (s->region == r)
			__atomic_store_n(&s->region, HOT_NONE,
					 __ATOMIC_RELAXED);
	}
}

bool heap_trylock_idle(struct heap *h);
bool heap_lock_waited(struct heap *h);
void heap_unlock_idle(struct heap *h);

struct heap *heap_call_out_begin(void);
void heap_call_out_end(struct heap *saved);
bool heap_may_wait(void);
bool heap_many_threads(void);
bool heap_no_walkers(void);
long heap_live_count(void);

void heap_hot_reset(struct heap *h);
void heap_hot_grow(struct heap *h);
struct heap *heap_pool_get(void);
void heap_pool_put(struct heap *h);
struct heap *heap_all_first(void);
void heap_global_lock(void);
void heap_global_unlock(void);

void heap_fork_prepare(void);
void heap_fork_prepare_pool(void);
void heap_fork_parent(void);
void heap_forget(struct heap *h);
void heap_fork_child(struct heap *survivor, void (*dead)(struct heap *h));

struct heap_stats;
void heap_sum_stats(struct heap_stats *sum, long *threads);

#endif /* CORE_HEAP_H */
