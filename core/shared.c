// SPDX-License-Identifier: MIT
/*
 * shared.c - per-class lists of chunks no heap owns, protected by RCU.
 *
 * A chunk is on its class's shared list while no heap owns it: the chunks
 * of exited threads that still have blocks taken.  This file makes the
 * three decisions of the ownership protocol (core/chunk.h) that concern
 * them, each under the class lock, after re-checking the chunk's state:
 *
 *   shared_publish()  owned -> shared   (the owner exits)
 *   shared_adopt()    shared -> owned   (a heap needs a chunk)
 *   shared_release()  shared -> dead    (its last taken block comes back)
 *
 * Walkers (shared_adopt()) traverse the list inside an RCU read-side
 * section with no lock; a candidate is re-checked and adopted under the
 * class lock, taken inside the section so that the chunk cannot be reused
 * meanwhile.  Unlinking uses cds_list_del_rcu(), and a chunk that was ever
 * on a shared list is reused only after a grace period (core/reclaim.c).
 * Nothing else protects a walker: no try-lock, no reference count, no pin.
 *
 * Lock order (the whole allocator's is in Documentation/design.rst):
 * rcu_read_lock() may come before a class lock, never the other way round
 * while waiting for a grace period; no path holds two class locks except
 * the fork handlers, which take them all in index order.
 */
#include <pthread.h>
#include <sched.h>
#include <urcu-bp.h>
#include <urcu/rculist.h>

#include "chunk.h"
#include "counters.h"
#include "reclaim.h"
#include "report.h"
#include "shared.h"
#include "tsan.h"

/*
 * The shared lists are written rarely (thread exit, adoption, the last
 * release into a shared chunk), so classes share CLASS_LOCKS locks, c
 * taking class_lock[c % CLASS_LOCKS].  This also keeps the fork handler,
 * which holds them all, under the 64 mutexes a thread may hold at once
 * under ThreadSanitizer.
 */
#define CLASS_LOCKS 16
/* Initialised statically: the fork handlers, registered before the first
 * allocation, may take them before shared_init() has run. */
static pthread_mutex_t class_lock[CLASS_LOCKS] = {
	[0 ... CLASS_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER
};
static struct cds_list_head shared_list[NR_SIZE_CLASSES];	/* class lock */
static _Atomic long shared_len[NR_SIZE_CLASSES];	/* for lock-free peeks */
static _Atomic long shared_count;

/** shared_init() - set up the lists; from global init. */
void shared_init(void)
{
	unsigned int c;

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

/* Make @c, which had an owner, a shared chunk.  Class lock held. */
static void __shared_link(struct chunk *c)
{
	c->list = CHUNK_LIST_SHARED;
	c->was_shared = true;
	store_release(&c->owner, NULL);
	tsan_publish(c);
	cds_list_add_tail_rcu(&c->shared, &shared_list[c->cls]);
	fetch_add_relaxed(&shared_len[c->cls], 1);
	fetch_add_relaxed(&shared_count, 1);
}

/**
 * shared_publish() - owned -> shared: the owner of @c, which has blocks
 * taken, gives it up (thread exit).  From here on only class lock holders
 * change its count and bits.
 */
void shared_publish(struct chunk *c)
{
	DEBUG_BUG_ON(READ_ONCE(c->nused) <= 0);
	class_lock_take(c->cls);
	__shared_link(c);
	class_lock_drop(c->cls);
}

/**
 * shared_publish_dead() - @c's owner @dead is a heap whose thread did not
 * survive a fork (it owns chunks but will never run): publish @c for it,
 * so that its blocks can come back and the chunk be adopted.  Nothing is
 * done if @c has changed hands meanwhile.
 */
void shared_publish_dead(struct chunk *c, struct heap *dead)
{
	class_lock_take(c->cls);
	if (READ_ONCE(c->owner) == dead) {
		c->kept_empty = false;
		__shared_link(c);
	}
	class_lock_drop(c->cls);
}

/* Unlink shared @c from its list.  Class lock held. */
static void __shared_unlink(struct chunk *c)
{
	DEBUG_BUG_ON(c->list != CHUNK_LIST_SHARED);
	cds_list_del_rcu(&c->shared);
	/* After the unlink (a full barrier, pairing with the helper's
	 * grace-period count): see reclaim_gp_passed(). */
	smp_mb();
	c->unshared_gp = reclaim_gp_seq();
	c->list = CHUNK_LIST_NONE;
	fetch_sub_relaxed(&shared_len[c->cls], 1);
	fetch_sub_relaxed(&shared_count, 1);
}

/*
 * Adopt @c, found on a shared list, for @h if it is still shared and has a
 * clear bit.  Inside a read-side section; takes the class lock.
 */
static bool shared_try_adopt(struct chunk *c, struct heap *h)
{
	bool won = false;

	if (READ_ONCE(c->nused) >= c->nblocks)
		return false;	/* a peek: full chunks are not worth the lock */
	class_lock_take(c->cls);
	if (c->list == CHUNK_LIST_SHARED && READ_ONCE(c->nused) < c->nblocks) {
		__shared_unlink(c);
		store_release(&c->owner, h);
		won = true;
	}
	class_lock_drop(c->cls);
	return won;
}

/**
 * shared_adopt() - shared -> owned: find a chunk of class @cls with clear
 * bits on the shared list and make @h its owner.
 * Return: the chunk, off every list (list NONE), or NULL.
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
		if (shared_try_adopt(c, h)) {
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
	if (found) {
		found->hint = 0;
		found->kept_empty = false;
	}
	return found;
}

/**
 * shared_release() - give back @n blocks of @c, chained through word 0 from
 * @list, which the caller holds (so @c is alive) and does not own.  If @c
 * is still shared, their bits are cleared and its count lowered under the
 * class lock, and the chunk is retired if that was its last count.  If a
 * heap adopted it meanwhile, nothing is touched.
 * Return: NULL if released, else the owner the blocks must go to.
 */
struct heap *shared_release(struct chunk *c, void **list, unsigned int n)
{
	struct heap *owner;
	long left;

	class_lock_take(c->cls);
	owner = READ_ONCE(c->owner);
	if (owner) {
		class_lock_drop(c->cls);
		return owner;
	}
	DEBUG_BUG_ON(c->list != CHUNK_LIST_SHARED);
	for (; list; list = list[0]) {
		unsigned long idx = chunk_block_index(c, (uintptr_t)list);

		if (!bitmap_release_mask(c->used, BIT_WORD(idx), BIT_MASK(idx)))
			report_misuse("double free", list, c->cls);
	}
	count_shared_release(c->cls, n);
	left = READ_ONCE(c->nused) - (long)n;
	BUG_ON(left < 0);
	WRITE_ONCE(c->nused, left);
	if (left == 0) {
		__shared_unlink(c);
		c->list = CHUNK_LIST_DEAD;
	}
	class_lock_drop(c->cls);
	if (left == 0)
		reclaim_retire(c);
	return NULL;
}

long shared_chunk_count(void)
{
	return READ_ONCE(shared_count);
}

/* fork: take every class lock, after reclaim_lock (design.rst). */
void shared_fork_prepare(void)
{
	unsigned int c;

	for (c = 0; c < CLASS_LOCKS; c++)
		pthread_mutex_lock(&class_lock[c]);
}

void shared_fork_parent(void)
{
	unsigned int c;

	for (c = CLASS_LOCKS; c-- > 0;)
		pthread_mutex_unlock(&class_lock[c]);
}

/* fork child: the forking thread, the only one left, holds them all. */
void shared_fork_child(void)
{
	shared_fork_parent();
}
