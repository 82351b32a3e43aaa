// SPDX-License-Identifier: MIT
/*
 * shared.c - per-class lists of unowned chunks, protected by RCU, and the
 * retirement of dead chunks.
 *
 * A chunk is on its class's shared list while no heap owns it: the partly
 * used chunks of exited threads.  Threads looking for a chunk walk the list
 * in an RCU read-side section without any lock and adopt a chunk by swinging
 * its owner from NULL to themselves.  Unlinking (by the adopter, or by the
 * thread that released an orphan's last block) takes the class lock and uses
 * cds_list_del_rcu(); the memory is reused or unmapped only after a grace
 * period, so a walker that found the chunk a moment before can keep reading
 * its header.  Nothing else protects a walker: no try-lock, no reference
 * count, no "don't delete me" flag.  A chunk that was never published since
 * it was set up has no walkers, so it is reused at once when it dies.
 *
 * Lock order (see Documentation/design.rst):
 *
 *	global_lock (core/heap.c)
 *	  reclaim_lock
 *	    class_lock[c % CLASS_LOCKS]
 *	      cache_lock (core/chunk_cache.c)
 *	pool_lock (core/heap.c): a leaf
 *
 * Never call synchronize_rcu() inside a read-side section, nor with any lock
 * but reclaim_lock held.
 */
#include <pthread.h>
#include <sched.h>
#include <urcu-bp.h>
#include <urcu/rculist.h>

#include "chunk.h"
#include "heap.h"
#include "options.h"
#include "os.h"
#include "report.h"
#include "shared.h"
#include "tsan.h"

#if defined(__SANITIZE_THREAD__)
char tsan_grace_token;
#endif

#define RETIRE_BYTES (1UL << 20)

/*
 * The shared lists are written rarely (thread exit, adoption, the last
 * release into an orphan), so classes share CLASS_LOCKS locks, c taking
 * class_lock[c % CLASS_LOCKS]; no path holds two of them.  This also
 * keeps the fork handler, which holds them all, under the 64 mutexes a
 * thread may hold at once under ThreadSanitizer.
 */
#define CLASS_LOCKS 16
static pthread_mutex_t class_lock[CLASS_LOCKS];
static struct cds_list_head shared_list[NR_SIZE_CLASSES];
static _Atomic long shared_len[NR_SIZE_CLASSES];	/* for lock-free peeks */

static pthread_mutex_t reclaim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct llist_head retire_stack = LLIST_HEAD_INIT;
static _Atomic long retired_pending;
static _Atomic size_t retired_bytes;


static _Atomic long shared_count, grace_periods, reclaimed;

/** shared_init() - set up the class locks and lists; from global init. */
void shared_init(void)
{
	unsigned int c;

	for (c = 0; c < CLASS_LOCKS; c++)
		pthread_mutex_init(&class_lock[c], NULL);
	for (c = 0; c < NR_SIZE_CLASSES; c++)
		CDS_INIT_LIST_HEAD(&shared_list[c]);
}

static void class_lock_take(unsigned int cls)
{
	pthread_mutex_lock(&class_lock[cls % CLASS_LOCKS]);
}

static void class_lock_drop(unsigned int cls)
{
	pthread_mutex_unlock(&class_lock[cls % CLASS_LOCKS]);
}

/**
 * shared_publish() - put an orphaned chunk (owner already NULL) on its
 * class's shared list, unless a stray release retired it meanwhile.
 */
void shared_publish(struct chunk *c)
{
	class_lock_take(c->cls);
	if (READ_ONCE(c->nused) != CHUNK_DEAD) {
		c->list = CHUNK_LIST_SHARED;
		c->was_shared = true;
		tsan_publish(c);
		cds_list_add_tail_rcu(&c->shared, &shared_list[c->cls]);
		fetch_add_relaxed(&shared_len[c->cls], 1);
		fetch_add_relaxed(&shared_count, 1);
	}
	class_lock_drop(c->cls);
}

/* Unlink @c from its shared list if it is still there.  Class lock held. */
static void __shared_unlink(struct chunk *c)
{
	if (c->list == CHUNK_LIST_SHARED) {
		cds_list_del_rcu(&c->shared);
		c->list = CHUNK_LIST_NONE;
		fetch_sub_relaxed(&shared_len[c->cls], 1);
		fetch_sub_relaxed(&shared_count, 1);
	}
}

/*
 * Try to make @h the owner of @c, found on a shared list.  Inside a
 * read-side section.  The owner CAS decides between adopters; the pin on
 * nused (refused once it is CHUNK_DEAD) decides against a thread retiring
 * the chunk, which swings nused from its last count to CHUNK_DEAD in one
 * CAS under the class lock (chunk_account_stray()).
 */
static bool chunk_try_adopt(struct chunk *c, struct heap *h)
{
	struct heap *none = NULL;
	long n = READ_ONCE(c->nused);

	if (n == CHUNK_DEAD || n >= c->nblocks || READ_ONCE(c->owner))
		return false;
	if (!try_cmpxchg(&c->owner, &none, h))
		return false;
	n = READ_ONCE(c->nused);
	do {
		if (n == CHUNK_DEAD)
			return false;	/* its retirer owns it now */
	} while (!try_cmpxchg(&c->nused, &n, n + 1));
	return true;
}

/**
 * shared_adopt() - find a chunk of class @cls with clear bits on the shared
 * list and make @h its owner.  Return: the chunk, off every list, or NULL.
 */
struct chunk *shared_adopt(struct heap *h, unsigned int cls)
{
	struct chunk *found = NULL;
	struct cds_list_head *pos;

	if (!READ_ONCE(shared_len[cls]))
		return NULL;	/* snapshot; a miss costs only a new chunk */
	rcu_read_lock();
	tsan_ignore_reads_begin();
	/* Walk nodes, not entries: the entry form makes a chunk pointer out
	 * of the list head at the end, which is undefined behaviour. */
	cds_list_for_each_rcu(pos, &shared_list[cls]) {
		struct chunk *c = cds_list_entry(pos, struct chunk, shared);

		tsan_subscribe(c);
		DEBUG_BUG_ON(c->magic != CHUNK_MAGIC);
		if (chunk_try_adopt(c, h)) {
			found = c;
			break;
		}
		/* Debug builds linger on each chunk, so that other threads
		 * adopt, unlink and reuse chunks under this reader's feet. */
		if (IS_ENABLED(CONFIG_DEBUG))
			sched_yield();
	}
	tsan_ignore_reads_end();
	tsan_read_side_end();
	rcu_read_unlock();
	if (!found)
		return NULL;
	/* Pinned: nobody retires it now, so it is safe outside the section. */
	class_lock_take(cls);
	__shared_unlink(found);
	class_lock_drop(cls);
	fetch_sub(&found->nused, 1);	/* unpin; the owner counts from here */
	found->hint = 0;
	found->kept_empty = false;
	return found;
}

/**
 * chunk_reclaim_unshared() - dead chunks on @list (linked by ->retire),
 * none of which was on a shared list since it was set up: no reader can
 * hold them, so they go to the chunk cache (or back to the system) now.
 */
void chunk_reclaim_unshared(struct llist_node *list)
{
	struct llist_node *p;

	for (p = list; p; p = p->next) {
		DEBUG_BUG_ON(container_of(p, struct chunk, retire)->was_shared);
		chunk_forget(container_of(p, struct chunk, retire));
		fetch_add_relaxed(&reclaimed, 1);
	}
	chunk_cache_release(list);
}

/* Queue dead @c, on no list any more, for reclaim after a grace period. */
static void chunk_queue_reclaim(struct chunk *c)
{
	size_t span;
	bool full;

	/*
	 * Only walkers of a shared list can still hold a dead chunk (a free
	 * holds a live block, so its chunk is not dead).  A chunk that was
	 * never on a shared list since it was last set up has none: it goes
	 * to the chunk cache at once, with no grace period.  A thread
	 * allocating and freeing without other threads exiting never waits
	 * for one.
	 */
	if (!c->was_shared) {
		c->retire.next = NULL;
		chunk_reclaim_unshared(&c->retire);
		return;
	}
	/*
	 * A batch is 32 chunks or 1 MiB, whichever comes first: spans are up
	 * to 16 chunks, and memory waiting for a grace period is not reused.
	 * Count before pushing: once on the stack, another thread may reclaim
	 * the chunk at any moment, so this one must not touch it again.
	 */
	span = c->span;
	full = fetch_add_relaxed(&retired_pending, 1) + 1 >= opt_retire_batch;
	full |= fetch_add_relaxed(&retired_bytes, span) + span >= RETIRE_BYTES;
	llist_add(&c->retire, &retire_stack);
	if (full)
		shared_reclaim(false);
}

/**
 * chunk_retire() - @c is dead (nused == CHUNK_DEAD) and on no owner's list:
 * unlink it from the shared list if needed and queue it for reclaim after a
 * grace period.  Any thread.
 */
void chunk_retire(struct chunk *c)
{
	/*
	 * Whether it is on the shared list is known only under the class lock
	 * (an adopter that lost to this retirement has set the owner but not
	 * unlinked it).
	 */
	class_lock_take(c->cls);
	__shared_unlink(c);
	class_lock_drop(c->cls);
	chunk_queue_reclaim(c);
}

/**
 * chunk_account_stray() - @k blocks of @c were released (or a pin of @k
 * dropped) by a thread that does not own @c, usually an orphan on its
 * class's shared list: take them off nused, and retire @c if that was its
 * last count and no heap owns it.
 *
 * Counts above the last are taken with a plain compare-and-swap.  The last
 * one is decided under the class lock: an adopter swings the owner and pins
 * nused outside the lock but unpins only after unlinking the chunk under
 * it, so while this thread holds the lock the count cannot be pinned and
 * unpinned back to the value it read (no ABA), and an adopter that pins
 * first makes the swing to CHUNK_DEAD fail and shows its owner on the retry.
 */
void chunk_account_stray(struct chunk *c, unsigned int k)
{
	long n = READ_ONCE(c->nused), next;

	while (n > (long)k)
		if (try_cmpxchg(&c->nused, &n, n - (long)k))
			return;
	class_lock_take(c->cls);
	n = READ_ONCE(c->nused);
	do {
		BUG_ON(n < (long)k);
		next = n - (long)k;
		if (next == 0 && READ_ONCE(c->owner) == NULL)
			next = CHUNK_DEAD;
	} while (!try_cmpxchg(&c->nused, &n, next));
	if (next == CHUNK_DEAD)
		__shared_unlink(c);
	class_lock_drop(c->cls);
	if (next == CHUNK_DEAD)
		chunk_queue_reclaim(c);
}

/**
 * shared_reclaim() - free every retired chunk after one grace period.
 * @wait: wait for another reclaimer instead of leaving the work to it.
 * Does nothing when this thread may not wait for a grace period (see
 * heap_may_wait()).
 * Return: true if chunks were freed.
 */
bool shared_reclaim(bool wait)
{
	struct llist_node *n, *p;
	bool any = false;

	if (!heap_may_wait())
		return false;
	if (wait)
		pthread_mutex_lock(&reclaim_lock);
	else if (pthread_mutex_trylock(&reclaim_lock))
		return false;	/* the running reclaimer or the next one */
	n = llist_del_all(&retire_stack);
	if (n) {
		struct heap *saved = heap_call_out_begin();

		synchronize_rcu();
		tsan_grace_period_end();
		heap_call_out_end(saved);
		fetch_add_relaxed(&grace_periods, 1);
		for (p = n; p; p = p->next) {
			struct chunk *c = container_of(p, struct chunk, retire);

			fetch_sub_relaxed(&retired_pending, 1);
			fetch_sub_relaxed(&retired_bytes, c->span);
			fetch_add_relaxed(&reclaimed, 1);
			chunk_forget(c);
		}
		chunk_cache_release(n);
		any = true;
	}
	pthread_mutex_unlock(&reclaim_lock);
	return any;
}

/* fork: take every lock of this file, in the documented order. */
void shared_lock_all(void)
{
	unsigned int c;

	pthread_mutex_lock(&reclaim_lock);
	for (c = 0; c < CLASS_LOCKS; c++)
		pthread_mutex_lock(&class_lock[c]);
}

void shared_unlock_all(void)
{
	unsigned int c;

	for (c = CLASS_LOCKS; c-- > 0;)
		pthread_mutex_unlock(&class_lock[c]);
	pthread_mutex_unlock(&reclaim_lock);
}

/* fork child: one thread left; locks are re-created unlocked. */
void shared_reinit_locks(void)
{
	unsigned int c;

	pthread_mutex_init(&reclaim_lock, NULL);
	for (c = 0; c < CLASS_LOCKS; c++)
		pthread_mutex_init(&class_lock[c], NULL);
}

void shared_get_stats(struct shared_stats *st)
{
	st->shared_chunks = READ_ONCE(shared_count);
	st->retired_pending = READ_ONCE(retired_pending);
	st->grace_periods = READ_ONCE(grace_periods);
	st->chunks_reclaimed = READ_ONCE(reclaimed);
	st->cached_chunks = chunk_cache_count();
}
