// SPDX-License-Identifier: MIT
/*
 * heap.c - per-thread heaps: their setup, the pool they live in, the
 * sentinels a thread uses while it may not touch its own heap, and the
 * locked fallback heap.
 *
 * A heap owns chunks, per class: the current chunk refills claim from, a
 * list of partly used chunks and a list of full ones (the ownership
 * protocol is in core/chunk.h).  In front of them sit the bins (struct
 * bin), which the inline fast paths of alloc.h pop and push without
 * atomics.  Heaps live in a pool that is never unmapped, so a thread that
 * read a chunk's owner just before that owner exited still points at a
 * heap (remote.c relies on it).
 *
 * The sentinels have empty bins (every empty bin's head is BIN_END, also
 * the end of every bin's list), so a fast path on them always takes the
 * slow path: heap_boot (a thread that has not allocated yet), heap_nested
 * (a thread inside a call out of the allocator: liburcu or pthreads may
 * allocate, and must not see the thread's heap half-updated nor take RCU
 * read locks), heap_exited (past the thread's heap's exit).  The last two
 * allocate from heap_global under global_lock.
 *
 * Locks: global_lock (the fallback heap), pool_lock (a leaf).  The order
 * of all the allocator's locks is in Documentation/design.rst.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <urcu-bp.h>

#include "heap.h"
#include "idle.h"
#include "large.h"
#include "options.h"
#include "counters.h"
#include "os.h"
#include "prof.h"
#include "reclaim.h"
#include "report.h"
#include "size_class.h"

void *const bin_end[2] = { NULL, NULL };

#define BINS_EMPTY { [0 ... NR_SIZE_CLASSES - 1] = { .head = BIN_END } }

struct heap heap_boot = {
	.kind = HEAP_KIND_BOOT, .hot = HOT_SLOTS_NONE, .bins = BINS_EMPTY,
	.hot_mask = HOT_MASK(HOT_SLOTS_MIN)
};
static struct heap heap_nested = {
	.kind = HEAP_KIND_NESTED, .hot = HOT_SLOTS_NONE, .bins = BINS_EMPTY,
	.hot_mask = HOT_MASK(HOT_SLOTS_MIN)
};
struct heap heap_exited = {
	.kind = HEAP_KIND_EXITED, .hot = HOT_SLOTS_NONE, .bins = BINS_EMPTY,
	.hot_mask = HOT_MASK(HOT_SLOTS_MIN)
};
struct heap heap_orphanage = {
	.kind = HEAP_KIND_EXITED, .hot = HOT_SLOTS_NONE, .bins = BINS_EMPTY,
	.hot_mask = HOT_MASK(HOT_SLOTS_MIN)
};

__thread struct heap *bitslab_tls_heap
	__attribute__((tls_model("initial-exec"))) = &heap_boot;

/* The fallback heap for threads without a usable heap of their own. */
struct heap heap_global = {
	.kind = HEAP_KIND_GLOBAL, .hot = HOT_SLOTS_NONE, .bins = BINS_EMPTY,
	.hot_mask = HOT_MASK(HOT_SLOTS_MIN)
};
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static bool global_ready;			/* global lock */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heap *pool_free;			/* pool lock */
static struct heap *all_heaps;			/* pool lock */
static struct heap_stats exited_stats;		/* pool lock */
/* Written under the pool lock, sequentially consistent: the reclaim
 * helper reads it without the lock (heap_live_count()). */
static _Atomic long heaps_live;
static _Atomic bool heaps_many;			/* set under pool lock */

/**
 * heap_call_out_begin() - before calling liburcu or pthreads from inside
 * the allocator: switch this thread to the nested sentinel, so a malloc
 * they make takes the locked global heap, never this heap's half-updated
 * state and never RCU.  Return: what heap_call_out_end() restores.
 */
struct heap *heap_call_out_begin(void)
{
	struct heap *saved = bitslab_tls_heap;

	bitslab_tls_heap = &heap_nested;
	return saved;
}

void heap_call_out_end(struct heap *saved)
{
	bitslab_tls_heap = saved;
}

/**
 * heap_may_wait() - may this thread wait for an RCU grace period now?  Only
 * reclaim_now() asks (memory shortage, trim): never from inside a call out
 * to liburcu or pthreads (it may hold their locks), not before the thread
 * has a heap, and not inside a read-side section of its own (the
 * application may use liburcu-bp too).  An exiting thread may wait
 * (synchronize_rcu() does not register it) but must not ask liburcu whether
 * it is in a read-side section: that would register it again after bp's
 * own cleanup.  It is in none of ours.
 */
bool heap_may_wait(void)
{
	unsigned int kind = bitslab_tls_heap->kind;

	if (kind == HEAP_KIND_EXITED)
		return true;
	return kind == HEAP_KIND_THREAD && !urcu_bp_read_ongoing();
}

/* ---------------------------------------------------------------------
 * The heap lock (protocol at the top of heap.h)
 * ------------------------------------------------------------------- */

static long heap_futex(_Atomic int *word, int op, int val)
{
	return syscall(SYS_futex, (int *)word, op | FUTEX_PRIVATE_FLAG, val,
		       NULL, NULL, 0);
}

/**
 * heap_lock_wait() - heap_lock() found the drainer holding @h's lock: say
 * so (it then lets go after its current step) and sleep until it has.
 */
void heap_lock_wait(struct heap *h)
{
	for (;;) {
		int v = SLOW_FREE;

		if (try_cmpxchg_acquire(&h->slow, &v, SLOW_OWNER))
			return;
		if (v == SLOW_HELPER &&
		    !try_cmpxchg_relaxed(&h->slow, &v, SLOW_HELPER_WAITED))
			continue;
		DEBUG_BUG_ON(v == SLOW_OWNER);
		heap_futex(&h->slow, FUTEX_WAIT, SLOW_HELPER_WAITED);
	}
}

/**
 * heap_trylock_idle() - the idle drainer takes @h's lock if nobody holds
 * it; never waits.  Return: true if taken.
 */
bool heap_trylock_idle(struct heap *h)
{
	int v = SLOW_FREE;

	/* Acquire: pairs with the release in heap_unlock(). */
	return try_cmpxchg_acquire(&h->slow, &v, SLOW_HELPER);
}

/** heap_lock_waited() - does @h's owner wait for the drainer's lock? */
bool heap_lock_waited(struct heap *h)
{
	return READ_ONCE(h->slow) == SLOW_HELPER_WAITED;
}

/** heap_unlock_idle() - the idle drainer lets go of @h's lock. */
void heap_unlock_idle(struct heap *h)
{
	/* Release: pairs with the acquire in heap_lock(). */
	if (xchg_release(&h->slow, SLOW_FREE) == SLOW_HELPER_WAITED)
		heap_futex(&h->slow, FUTEX_WAKE, 1);
}

/** heap_hot_reset() - forget every hot chunk of @h (owner, or a heap no
 * thread uses yet). */
void heap_hot_reset(struct heap *h)
{
	unsigned long i, n = h->hot_mask / sizeof(struct hot_slot) + 1;

	for (i = 0; i < n; i++)
		h->hot[i] = (struct hot_slot){ HOT_NONE, NULL, NULL, 0, 0 };
}

/**
 * heap_hot_grow() - @h's owner gives it all HOT_SLOTS hot slots (see
 * struct hot_slot).  Every region moves to a slot of its own under the
 * wider mask, so all are forgotten: the next free of each makes it hot
 * again.  Under the heap lock, so that the drainer, which reads the slots
 * and the mask under it, sees either the old slots or the new.
 */
void heap_hot_grow(struct heap *h)
{
	heap_lock(h);
	h->hot_mask = HOT_MASK(HOT_SLOTS);
	heap_hot_reset(h);
	heap_unlock(h);
}

/** heap_setup() - make @h an empty heap of @kind. */
static void heap_setup(struct heap *h, enum heap_kind kind)
{
	unsigned int c;

	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		long max = (long)size_classes[c].bin_max * opt_bin_scale / 100;
		struct heap_class *hc = &h->cls[c];

		max = max < 2 ? 2 : max;
		if (unlikely(prof_active))
			max = 1;	/* every malloc and free takes a slow path */
		h->bins[c] = (struct bin){ BIN_END, (int32_t)max, (int32_t)max,
					 0, 0 };
		h->sbins[c] = h->bins[c];
		hc->bin_base = (int32_t)max;
		hc->cur = NULL;
		CDS_INIT_LIST_HEAD(&hc->partial);
		CDS_INIT_LIST_HEAD(&hc->full);
		hc->nchunks = 0;
		hc->nempty = 0;
		hc->flushes = 0;
	}
	h->hot_mask = HOT_MASK(HOT_SLOTS_MIN);
	h->hot_misses = 0;
	heap_hot_reset(h);
	h->slow_depth = 0;
	WRITE_ONCE(h->idle_dirty, false);
	h->out_owner = NULL;
	h->out_first = h->out_last = NULL;
	h->out_count = 0;
	h->kind = (uint8_t)kind;
	h->empty_keep = (uint8_t)opt_empty_keep;
	memset(h->quar, 0, sizeof(h->quar));
	h->qpos = 0;
	h->rng = 0;
	h->bin_grown = 0;
	large_bin_init(h);
	memset(&h->stats, 0, sizeof(h->stats));
}

/* ---------------------------------------------------------------------
 * The fallback heap
 * ------------------------------------------------------------------- */

/**
 * heap_global_lock() - take the fallback heap's lock (set it up on first
 * use).  The caller is on the nested sentinel meanwhile, so nothing it
 * does there waits for a grace period with the lock held.
 */
void heap_global_lock(void)
{
	pthread_mutex_lock(&global_lock);
	if (!global_ready) {
		heap_setup(&heap_global, HEAP_KIND_GLOBAL);
		init_llist_head(&heap_global.inbox);
		atomic_init(&heap_global.state, HEAP_LIVE);
		global_ready = true;
	}
}

void heap_global_unlock(void)
{
	pthread_mutex_unlock(&global_lock);
}

/* ---------------------------------------------------------------------
 * The pool
 * ------------------------------------------------------------------- */

/*
 * Map a batch of heaps; keep one, pool the rest.  The first batch is the
 * one heap of the first thread that allocates: most programs have no
 * other.  A heap is 45 KiB, 32 KiB of it the hot slots, of which the last
 * 24 KiB are never touched unless the heap grows them (struct hot_slot):
 * a batch of 256 KiB holds 5 heaps.  Pool lock held.
 */
#define HEAP_BATCH_BYTES (256 * 1024)

static struct heap *__heap_pool_grow(void)
{
	size_t sz = ALIGN_UP(HEAP_MAPPED_SIZE, CACHELINE_SIZE);
	size_t n = all_heaps ? HEAP_BATCH_BYTES / sz : 1, i;
	char *mem;

	if (n == 0)
		n = 1;
	mem = os_map(n * sz);
	if (!mem)
		return NULL;
	for (i = 0; i < n; i++) {
		struct heap *h = (struct heap *)(mem + i * sz);

		init_llist_head(&h->inbox);
		atomic_init(&h->state, HEAP_FREE);
		atomic_init(&h->slow, SLOW_FREE);
		atomic_init(&h->idle_dirty, false);
		h->all_next = all_heaps;
		all_heaps = h;
		if (i) {
			h->pool_next = pool_free;
			pool_free = h;
		}
	}
	return (struct heap *)mem;
}

/** heap_many_threads() - has a second thread ever had a heap at once? */
bool heap_many_threads(void)
{
	return READ_ONCE(heaps_many);
}

/** heap_pool_get() - a live, empty thread heap, or NULL (no memory). */
struct heap *heap_pool_get(void)
{
	struct heap *h;

	pthread_mutex_lock(&pool_lock);
	h = pool_free;
	if (h)
		pool_free = h->pool_next;
	else
		h = __heap_pool_grow();
	if (h && fetch_add(&heaps_live, 1) > 0)
		WRITE_ONCE(heaps_many, true);
	pthread_mutex_unlock(&pool_lock);
	if (!h)
		return NULL;
	heap_setup(h, HEAP_KIND_THREAD);
	/* Blocks pushed while the heap was free are drained at the first
	 * refill; whoever drains re-checks each block's owner. */
	store_seq_cst(&h->state, HEAP_LIVE);
	return h;
}

static void stats_add(struct heap_stats *sum, const struct heap_stats *s)
{
	const uint64_t *a = (const uint64_t *)s;
	uint64_t *b = (uint64_t *)sum;
	size_t i;

	for (i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		b[i] += a[i];
}

/** heap_pool_put() - @h, dead and owning nothing, goes back to the pool;
 * the last live one wakes the reclaim helper, which then ends. */
void heap_pool_put(struct heap *h)
{
	bool last;

	pthread_mutex_lock(&pool_lock);
	stats_add(&exited_stats, &h->stats);
	store_seq_cst(&h->state, HEAP_FREE);
	h->pool_next = pool_free;
	pool_free = h;
	last = fetch_sub(&heaps_live, 1) == 1;
	pthread_mutex_unlock(&pool_lock);
	if (last)
		reclaim_heaps_gone();
}

/** heap_live_count() - how many thread heaps are live now (a
 * sequentially consistent read: see helper_may_end() in reclaim.c). */
long heap_live_count(void)
{
	return load_seq_cst(&heaps_live);
}

/**
 * heap_all_first() - the most recently made heap; ->all_next leads to every
 * other ever made (heaps are never unmapped, and a heap's all_next never
 * changes once it is linked).
 */
struct heap *heap_all_first(void)
{
	struct heap *h;

	pthread_mutex_lock(&pool_lock);
	h = all_heaps;
	pthread_mutex_unlock(&pool_lock);
	return h;
}

/**
 * heap_no_walkers() - can no thread but the caller be walking a shared
 * list now?  Walkers are threads with a heap of their own (adoption), so
 * that is so when no heap is live but, maybe, the caller's.  Read under the
 * pool lock: a heap that becomes live after this read (its pool lock
 * section comes later) begins walking after whatever the caller unlinked
 * before calling, so it cannot find that.
 */
bool heap_no_walkers(void)
{
	long live;

	pthread_mutex_lock(&pool_lock);
	live = READ_ONCE(heaps_live);
	pthread_mutex_unlock(&pool_lock);
	return live == 0 ||
	       (live == 1 && bitslab_tls_heap->kind == HEAP_KIND_THREAD);
}

/**
 * heap_sum_stats() - add up the counters of every heap, live or exited.
 * Racy reads of live heaps' counters: good enough for statistics.
 */
void heap_sum_stats(struct heap_stats *sum, long *threads)
{
	struct heap *h;

	memset(sum, 0, sizeof(*sum));
	pthread_mutex_lock(&pool_lock);
	*sum = exited_stats;
	for (h = all_heaps; h; h = h->all_next)
		if (READ_ONCE(h->state) == HEAP_LIVE) {
			stats_add(sum, &h->stats);
			count_binned(sum, h);
		}
	*threads = READ_ONCE(heaps_live);
	pthread_mutex_unlock(&pool_lock);
	stats_add(sum, &heap_global.stats);
	count_binned(sum, &heap_global);
	idle_stats_add(sum);
}

/* ---------------------------------------------------------------------
 * fork
 * ------------------------------------------------------------------- */

/* fork: global_lock comes first of ours, pool_lock last (design.rst). */
void heap_fork_prepare(void)
{
	pthread_mutex_lock(&global_lock);
}

void heap_fork_prepare_pool(void)
{
	pthread_mutex_lock(&pool_lock);
}

void heap_fork_parent(void)
{
	pthread_mutex_unlock(&pool_lock);
	pthread_mutex_unlock(&global_lock);
}

/**
 * heap_fork_child() - in the child: release the locks (the forking thread,
 * the only one left, took them all in prepare), and hand every other heap
 * that was live (its thread did not survive the fork) to @dead.
 * @survivor is the forking thread's heap.
 */
void heap_fork_child(struct heap *survivor, void (*dead)(struct heap *h))
{
	struct heap *h;

	/* Only the survivor's heap is live now (counted first: what @dead
	 * gives back must see that no other thread can walk a list). */
	store_seq_cst(&heaps_live, survivor->kind == HEAP_KIND_THREAD &&
				   READ_ONCE(survivor->state) == HEAP_LIVE);
	heap_fork_parent();
	/* Live, or dead in the middle of its exit: either way its thread is
	 * gone, and what it holds is @dead's to look at. */
	for (h = all_heaps; h; h = h->all_next)
		if (h != survivor && READ_ONCE(h->state) != HEAP_FREE)
			dead(h);
}

/**
 * heap_forget() - @h, whose thread did not survive a fork, is dead; it is
 * never reused (it may have been in the middle of an update).
 */
void heap_forget(struct heap *h)
{
	store_seq_cst(&h->state, HEAP_DEAD);
}
