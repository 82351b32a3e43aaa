// SPDX-License-Identifier: MIT
/*
 * idle.c - the inboxes and free pages of owners that went idle, given back
 * on their behalf.
 *
 * Blocks other threads free go to their owner's inbox, and only the owner
 * takes them: at a refill, at a bin overflow, at exit.  A thread that
 * stops calling malloc and free (a producer between bursts, a server
 * thread blocked in epoll_wait) would hold them, and every chunk they keep
 * taken, until it runs again; and the blocks it did take back, into its
 * bins, leave the rest of their chunks resident though free.  So the
 * reclaim helper thread (reclaim.c) looks at the live heaps every
 * idle_ms while one has blocks in its inbox or free pages not purged
 * (idle_dirty), and for an owner that took no slow path between two
 * looks, under that heap's lock (the protocol, and what the drainer may
 * and may not touch, is at the top of core/heap.h):
 *
 *  1. it takes the inbox and puts each block back into its bitmap,
 *     IDLE_BATCH blocks at a time (heap_drain_idle()); blocks of chunks
 *     the heap no longer owns go where any taker sends them.  If the
 *     owner wakes and waits for its lock meanwhile, the rest goes back on
 *     the inbox and the drainer lets go;
 *  2. chunks that empty are given up, as the owner would give them up in
 *     a free storm (to the chunk cache, whose decay gives them back to the
 *     system after decay_ms), except those in the owner's hot slots, and
 *     so are the empty chunks the owner kept (heap_retire_idle());
 *  3. in the chunks blocks were released into since the last purge
 *     (idle_dirty) that stay owned (blocks the owner still holds in its
 *     bins, or that the program holds), the pages no taken block touches
 *     are purged (MADV_DONTNEED, os_purge()): with the lock held nothing
 *     can claim them meanwhile, nothing reads a free block's memory, and a
 *     block claimed later reads zeros, as a fresh chunk's do.
 *
 * So an inbox waits at most two looks, 2 * idle_ms, after its owner's
 * last slow path, and an emptied chunk decay_ms more in the cache.  A look
 * costs a read of every live heap's inbox head and flag and, for one with
 * work, a try-lock; an owner that takes slow paths is never drained (they
 * change slow_seq between two looks) and never waits for a look.  While a
 * thread runs and releases blocks the helper so looks every idle_ms;
 * once every thread is idle and purged, it sleeps.
 *
 * Waking: while some heap had work at its last look, the helper looks
 * again idle_ms later, and says so in idle_armed.  When none had, it
 * clears idle_armed and looks at them all once more; a
 * push that makes an inbox non-empty (heap_push_remote(), sequentially
 * consistent) reads idle_armed and, if clear, wakes the helper
 * (idle_kick(), which also sets idle_wanted, so that the helper looks at
 * once): either the helper sees the push or the pusher sees the flag
 * clear.  While armed, a push costs one read of a line the helper rarely
 * writes.
 *
 * Lock order: drain_lock after reclaim_lock, before the class locks, the
 * cache lock and the pool lock (all of which a drain may take); a heap's
 * lock is only ever tried under it, never waited for.  The fork handlers
 * take drain_lock, so no drain is half done in a child.
 */
#include <pthread.h>

#include <bitslab/types.h>

#include "chunk.h"
#include "heap.h"
#include "idle.h"
#include "options.h"
#include "os.h"
#include "reclaim.h"
#include "release.h"
#include "remote.h"

#define IDLE_BATCH	256

static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic long idle_looks, idle_drains, idle_purges;
/* The helper looks at the inboxes again within idle_ms. */
static _Atomic bool idle_armed;
/* A push found idle_armed clear: the helper looks at once. */
static _Atomic bool idle_wanted;

static bool idle_any_work(void);

void (*idle_batch_hook)(struct heap *h);

/*
 * Purge the pages of @c, owned by the heap whose lock the caller holds,
 * that no taken block touches: runs of clear bits, less the header's page
 * and the pages the run shares with a taken block.
 */
static void idle_purge_chunk(struct chunk *c)
{
	uintptr_t base = (uintptr_t)c + c->first;
	unsigned int n = c->nblocks, i = 0;

	c->idle_dirty = false;
	if (c->zero)
		return;		/* no access to its blocks at all */
	while (i < n) {
		unsigned int j;
		uintptr_t start, end;

		if (chunk_bit_taken(c, i)) {
			i++;
			continue;
		}
		for (j = i + 1; j < n && !chunk_bit_taken(c, j); j++)
			;
		start = ALIGN_UP(base + (uintptr_t)i * c->size, OS_PAGE_SIZE);
		end = j == n ? (uintptr_t)c + c->span
			     : base + (uintptr_t)j * c->size;
		end &= ~(OS_PAGE_SIZE - 1);
		if (end > start && !os_purge((void *)start, end - start))
			fetch_add_relaxed(&idle_purges, 1);
		i = j;
	}
}

/*
 * Purge what was released into @h's chunks since their last purge.  @h's
 * lock held.  Return: false if it stopped early, the owner waiting.
 */
static bool idle_purge_heap(struct heap *h)
{
	unsigned int cls;

	for (cls = 0; cls < NR_SIZE_CLASSES; cls++) {
		struct heap_class *hc = &h->cls[cls];
		struct cds_list_head *pos;

		if (hc->cur && hc->cur->idle_dirty)
			idle_purge_chunk(hc->cur);
		cds_list_for_each(pos, &hc->partial) {
			struct chunk *c = cds_list_entry(pos, struct chunk, node);

			if (!c->idle_dirty)
				continue;
			idle_purge_chunk(c);
			if (heap_lock_waited(h))
				return false;	/* the rest at the next drain */
		}
	}
	return true;
}

/* Drain and purge idle heap @h, whose lock the caller holds. */
static void idle_drain(struct heap *h)
{
	if (!llist_empty(&h->inbox)) {
		fetch_add_relaxed(&idle_drains, 1);
		if (!heap_drain_idle(h, IDLE_BATCH))
			return;
	}
	heap_retire_idle(h);
	if (idle_purge_heap(h))
		WRITE_ONCE(h->idle_dirty, false);
}

/* Has @h blocks in its inbox or free pages not purged? */
static bool idle_work(struct heap *h)
{
	return !llist_empty(&h->inbox) || READ_ONCE(h->idle_dirty);
}

/**
 * idle_scan() - look at every live heap, drain and purge those whose owner
 * took no slow path since the last look.  The reclaim helper, or a test;
 * any thread that holds none of our locks.  Never waits for a heap.
 * Return: ms until the next look is due, or -1 if no heap had work.
 */
long idle_scan(void)
{
	struct heap *saved;
	bool again = false;
	struct heap *h;

	if (!opt_idle_ms)
		return -1;
	saved = heap_call_out_begin();
	pthread_mutex_lock(&drain_lock);
	fetch_add_relaxed(&idle_looks, 1);
	for (h = heap_all_first(); h; h = h->all_next) {
		if (READ_ONCE(h->state) != HEAP_LIVE || !idle_work(h))
			continue;
		if (!heap_trylock_idle(h)) {
			again = true;
			continue;
		}
		/* Under the lock: live means its owner has not begun to
		 * exit, and its books are set up (acquire: pairs with the
		 * store in heap_pool_get()). */
		if (load_acquire(&h->state) == HEAP_LIVE && idle_work(h)) {
			if (h->idle_seen == h->slow_seq)
				idle_drain(h);
			else
				again = true;	/* a second look drains */
			h->idle_seen = h->slow_seq;
			again |= idle_work(h);
		}
		heap_unlock_idle(h);
	}
	if (!again) {
		/* Sequentially consistent, then a look at every inbox:
		 * pairs with the push, then the load, in idle_kick(). */
		store_seq_cst(&idle_armed, false);
		again = idle_any_work();
	}
	if (again)
		store_seq_cst(&idle_armed, true);
	pthread_mutex_unlock(&drain_lock);
	heap_call_out_end(saved);
	return again ? opt_idle_ms : -1;
}

/**
 * idle_kick() - a push made @h's inbox non-empty.  Unless the helper
 * looks at the inboxes again anyway, wake it.  Any thread, any locks held
 * (reclaim_decay_kick()); the push was sequentially consistent.
 */
void idle_kick(void)
{
	if (load_seq_cst(&idle_armed) || !opt_idle_ms)
		return;
	if (!READ_ONCE(idle_wanted))
		WRITE_ONCE(idle_wanted, true);
	reclaim_decay_kick(true);
}

/** idle_disarm() - the helper ends (reclaim.c): the next push wakes one. */
void idle_disarm(void)
{
	store_seq_cst(&idle_armed, false);
}

/**
 * idle_due() - should the helper look at the inboxes now?  @due: when its
 * last look said to look again, 0 for not at all; @now: the time.
 */
bool idle_due(uint64_t due, uint64_t now)
{
	if (due && now >= due)
		return true;
	return READ_ONCE(idle_wanted) && xchg_relaxed(&idle_wanted, false);
}

/* Has any live heap work for the drainer?  drain_lock held. */
static bool idle_any_work(void)
{
	struct heap *h;

	for (h = heap_all_first(); h; h = h->all_next)
		if (READ_ONCE(h->state) == HEAP_LIVE && idle_work(h))
			return true;
	return false;
}

static struct {
	_Atomic uint64_t released, remote_taken, chunks_retired;
	_Atomic uint64_t cls_released[NR_SIZE_CLASSES];
} idle_counts;

void idle_count_released(unsigned int cls, unsigned int n)
{
	fetch_add_relaxed(&idle_counts.released, n);
	fetch_add_relaxed(&idle_counts.cls_released[cls], n);
}

void idle_count_taken(void)
{
	fetch_add_relaxed(&idle_counts.remote_taken, 1);
}

void idle_count_retired(void)
{
	fetch_add_relaxed(&idle_counts.chunks_retired, 1);
}

/** idle_stats_add() - add what drains did for their owners to @sum. */
void idle_stats_add(struct heap_stats *sum)
{
	unsigned int c;

	sum->released += READ_ONCE(idle_counts.released);
	sum->remote_taken += READ_ONCE(idle_counts.remote_taken);
	sum->chunks_retired += READ_ONCE(idle_counts.chunks_retired);
	for (c = 0; c < NR_SIZE_CLASSES; c++)
		sum->cls_released[c] += READ_ONCE(idle_counts.cls_released[c]);
}

void idle_get_stats(struct idle_stats *st)
{
	st->looks = READ_ONCE(idle_looks);
	st->drains = READ_ONCE(idle_drains);
	st->purges = READ_ONCE(idle_purges);
}

/* fork: after reclaim_lock, before the class locks (design.rst). */
void idle_fork_prepare(void)
{
	pthread_mutex_lock(&drain_lock);
}

void idle_fork_parent(void)
{
	pthread_mutex_unlock(&drain_lock);
}

/* fork child: the forking thread took it; the helper is gone. */
void idle_fork_child(void)
{
	/* The child has no helper yet: not armed, or its pushes would never
	 * start one and its idle owners would never be drained. */
	idle_disarm();
	WRITE_ONCE(idle_wanted, false);
	pthread_mutex_unlock(&drain_lock);
}
