// SPDX-License-Identifier: MIT
/*
 * remote.c - blocks freed by a thread that does not own their chunk.
 *
 * The freeing thread never touches such a chunk's bits or count (the
 * ownership protocol, core/chunk.h).  A block of an owned chunk goes to
 * the owner heap's inbox, a Treiber stack: consecutive frees towards the
 * same owner are chained in the freeing heap's outbox and pushed together
 * with one CAS (llist_add_batch).  The owner takes the whole inbox with one
 * exchange when a bin runs dry (no single-node pop, so no ABA).  A block of
 * a shared chunk (no owner) goes through the outbox too, towards the
 * "orphanage", and is released under the class lock (shared_release()),
 * which re-checks that the chunk is still shared; a chunk adopted in
 * between gets its blocks forwarded to the adopter's inbox.  So does a
 * block that reaches an inbox whose heap no longer owns the chunk (a pusher
 * read a stale owner): whoever takes a block re-checks its chunk's owner.
 *
 * After a push the pusher looks at the owner's state; an owner that has
 * exited is drained by the pusher itself.  The store of HEAP_DEAD at exit
 * and a pusher's push are sequentially consistent on both sides (Dekker):
 * either the exiting thread sees the pushed block, or the pusher sees the
 * heap dead.  Heaps are never unmapped, so a pusher holding a stale owner
 * pointer still writes into a heap.
 *
 * Every block on its way carries the remote cookie of the heap it is sent
 * to (free_cookie_remote(), core/chunk.h); whoever takes it checks that
 * cookie, so a block pushed twice, or written to after it was freed, is
 * caught there.
 */
#include <bitslab/types.h>

#include "chunk.h"
#include "heap.h"
#include "idle.h"
#include "prof.h"
#include "release.h"
#include "remote.h"
#include "report.h"
#include "secure.h"
#include "shared.h"

static void heap_push_remote(struct heap *owner, void **first, void **last);

/*
 * Block @p (of class @cls, or REPORT_FOREIGN) comes off a list sent to
 * heap @dest: check it was sent as a remote free.  A block that is on the
 * list twice (two threads freed it at once) is caught on its second
 * visit, which finds the cookie the first visit left, as is a block
 * written to after it was freed.
 */
static __always_inline void inbox_cookie_check(struct heap *dest, void **p,
					       unsigned int cls)
{
	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    (uintptr_t)p[1] != free_cookie_remote(dest))
		report_misuse("double free (or write after free)", p, cls);
}

/* Take block @p off a list sent to heap @dest; return its chunk. */
static struct chunk *inbox_block(struct heap *dest, void **p)
{
	struct chunk *c = chunk_lookup((uintptr_t)p);

	inbox_cookie_check(dest, p, c ? c->cls : REPORT_FOREIGN);
	p[1] = NULL;
	return c;
}

/* Send block @p, which arrived at the wrong heap, on to @owner. */
static void block_forward(struct heap *owner, void **p)
{
	p[1] = (void *)free_cookie_remote(owner);
	p[0] = NULL;
	heap_push_remote(owner, p, p);
}

/*
 * Blocks of one shared chunk, gathered while taking a list: released
 * together under one class lock.
 */
struct orphan_run {
	struct chunk *c;
	void **first;
	unsigned int n;
};

static void orphan_run_end(struct orphan_run *o)
{
	struct heap *owner;
	void **p, **next;

	if (!o->c)
		return;
	owner = shared_release(o->c, o->first, o->n);
	/* Adopted since the blocks were freed: they are the adopter's. */
	for (p = owner ? o->first : NULL; p; p = next) {
		next = p[0];
		block_forward(owner, p);
	}
	o->c = NULL;
	o->first = NULL;
	o->n = 0;
}

static void orphan_run_add(struct orphan_run *o, struct chunk *c, void **p)
{
	prof_free_hook(p);
	if (c != o->c) {
		orphan_run_end(o);
		o->c = c;
	}
	p[0] = o->first;
	o->first = p;
	o->n++;
}

/* Push block @p, taken from an inbox, onto bin @b of its owner @me, which
 * has room for it. */
static __always_inline void bin_push_taken(struct heap *me, struct bin *b,
					   void **p)
{
	p[1] = (void *)free_cookie_local(me);
	p[0] = b->head;
	b->head = p;
	b->room--;
}

/*
 * Put every block of @n, a list sent to heap @dest, where it belongs: into
 * @me's bins if @me owns its chunk and the bin has room, else back into its
 * bitmap by @me (its owner), or under the class lock (a shared chunk), or
 * on to the chunk's owner.
 */
static void __heap_take_blocks(struct heap *me, struct heap *dest,
			       struct llist_node *n, bool idle)
{
	struct release r = { .h = me, .idle = idle };
	struct orphan_run o = { NULL, NULL, 0 };
	/* The owner taking its own inbox may read its hot slots. */
	bool own = me == dest && !idle && me->kind == HEAP_KIND_THREAD;

	while (n) {
		void **p = (void **)n;
		struct chunk *c;
		struct heap *owner;
		unsigned long off;

		n = n->next;
		/* A region in a hot slot is a chunk @me owns, not a secure
		 * one, and the slot names its chunk and bin: neither the page
		 * map nor the chunk's header is read. */
		off = own ? heap_hot_find(me, (uintptr_t)p) : 0;
		if (off) {
			struct bin *b = heap_hot_bin(me, off);

			c = heap_hot_chunk(me, off);
			inbox_cookie_check(dest, p, c->cls);
			me->stats.remote_taken++;
			if (b->room > 1) {
				bin_push_taken(me, b, p);
				continue;
			}
			p[1] = NULL;
			release_add(&r, c, p);
			continue;
		}
		c = inbox_block(dest, p);
		/* Acquire: pairs with the release that made a heap the owner
		 * (adoption, chunk setup), so its inbox is seen set up. */
		owner = load_acquire(&c->owner);
		if (owner == me && heap_is_real(me)) {
			/* Secure blocks only enter secure bins. */
			struct bin *b = c->secure ? &me->sbins[c->cls]
					: &me->bins[c->cls];

			/* The drainer never touches a bin nor a counter:
			 * the owner's. */
			if (idle) {
				idle_count_taken();
				release_add(&r, c, p);
				continue;
			}
			me->stats.remote_taken++;
			/* Its next blocks skip the page map (above). */
			if (own && !c->secure)
				heap_hot_set(me, (uintptr_t)p & ~CHUNK_MASK,
					     c, b);
			if (b->room > 1) {
				bin_push_taken(me, b, p);
				continue;
			}
			release_add(&r, c, p);
		} else if (!owner) {
			orphan_run_add(&o, c, p);
		} else if (load_seq_cst(&owner->state) != HEAP_LIVE) {
			/* An owner that is dead but owns chunks did not
			 * survive a fork: its chunks become shared. */
			shared_publish_dead(c, owner);
			orphan_run_add(&o, c, p);
		} else {
			block_forward(owner, p);
		}
	}
	release_end(&r);
	orphan_run_end(&o);
}

/*
 * The same for @me's own thread: blocks of its chunks change its books, so
 * under its heap lock (a sentinel has none to change).
 */
static void heap_take_blocks(struct heap *me, struct heap *dest,
			     struct llist_node *n)
{
	if (!heap_is_real(me)) {
		__heap_take_blocks(me, dest, n, false);
		return;
	}
	heap_lock(me);
	__heap_take_blocks(me, dest, n, false);
	heap_unlock(me);
}

/** heap_take_inbox() - take every block other threads sent to @h. */
void heap_take_inbox(struct heap *h)
{
	heap_take_blocks(h, h, llist_del_all(&h->inbox));
}

/**
 * heap_drain_idle() - the idle drainer, holding @h's heap lock, takes @h's
 * inbox and puts its blocks back into their bitmaps (core/idle.c), @batch
 * at a time.  If @h's owner waits for the lock, what is left goes back on
 * the inbox (the blocks still carry @h's remote cookie) and it stops.
 * Return: true if the inbox was taken whole.
 */
bool heap_drain_idle(struct heap *h, unsigned int batch)
{
	struct llist_node *n = llist_del_all(&h->inbox);

	while (n) {
		struct llist_node *first = n, *last = n;
		unsigned int i;

		for (i = 1; i < batch && last->next; i++)
			last = last->next;
		n = last->next;
		last->next = NULL;
		__heap_take_blocks(h, h, first, true);
		if (n && unlikely(idle_batch_hook != NULL))
			idle_batch_hook(h);
		if (n && heap_lock_waited(h)) {
			for (last = n; last->next; last = last->next)
				;
			llist_add_batch(n, last, &h->inbox);
			return false;
		}
	}
	return true;
}

/**
 * heap_drain_foreign() - drain the inbox of heap @o, which is not ours and
 * not live (its thread exited, or it is in the pool).  Sequentially
 * consistent: see heap_push_remote().
 */
void heap_drain_foreign(struct heap *o)
{
	heap_take_blocks(bitslab_tls_heap, o, llist_del_all_mb(&o->inbox));
}

/*
 * Push a private chain @first..@last of blocks owned by @owner onto its
 * inbox.  A Dekker handshake with heap_exit(), all sequentially consistent:
 * push, then load the state here; store HEAP_DEAD, then take the inbox
 * there.  After the push, the pusher sees the owner dead, or the exiting
 * owner takes the blocks.
 */
static void heap_push_remote(struct heap *owner, void **first, void **last)
{
	bool was_empty = llist_add_batch_mb((struct llist_node *)first,
					    (struct llist_node *)last,
					    &owner->inbox);

	if (load_seq_cst(&owner->state) != HEAP_LIVE)
		heap_drain_foreign(owner);
	else if (was_empty)
		idle_kick();	/* an owner that sleeps is drained for */
}

/** heap_flush_outbox() - send what @h's outbox holds on its way. */
void heap_flush_outbox(struct heap *h)
{
	if (!h->out_count)
		return;
	h->out_last->next = NULL;
	if (h->out_owner == &heap_orphanage) {
		/* Blocks of shared chunks: under their class locks. */
		heap_take_blocks(h, &heap_orphanage, h->out_first);
	} else {
		h->stats.remote_pushes++;
		heap_push_remote(h->out_owner, (void **)h->out_first,
				 (void **)h->out_last);
	}
	h->out_first = h->out_last = NULL;
	h->out_count = 0;
	h->out_owner = NULL;
}

/**
 * block_cookie_free() - does word 1 (@w1) of a block of a chunk owned by
 * @owner say the block is free?  Its owner's local cookie (in the owner's
 * bin), or a remote cookie towards the owner or the orphanage (on its way
 * back), or the quarantine cookie (secure mode).  A block back in its
 * bitmap has its bit clear instead.
 */
bool block_cookie_free(struct heap *owner, uintptr_t w1)
{
	return (owner && w1 == free_cookie_local(owner)) ||
	       w1 == free_cookie_remote(owner ? owner : &heap_orphanage) ||
	       w1 == free_cookie_remote(&heap_orphanage) || secure_cookie(w1);
}

/*
 * The rest of heap_free_remote() for block @p of @c, whose word 1 is
 * already set for @dest (@owner, or the orphanage when @owner is NULL):
 * a sentinel's free, and an outbox that goes to another heap or holds
 * another shared chunk's blocks.  Out of line, so that the common free
 * saves no registers.
 */
static noinline void free_remote_switch(struct heap *h, struct chunk *c,
					void **p, struct heap *owner,
					struct heap *dest)
{
	if (h->kind != HEAP_KIND_THREAD) {
		/* A sentinel or the fallback heap: no outbox. */
		if (owner)
			heap_push_remote(owner, p, p);
		else
			heap_take_blocks(h, dest, (struct llist_node *)p);
		return;
	}
	/*
	 * Blocks of shared chunks wait in the outbox only while they are of
	 * one chunk (a list freed in order still goes back in one run): a
	 * thread that goes idle then holds back at most one shared chunk,
	 * which nobody else could give back.
	 */
	if (h->out_owner != dest ||
	    (!owner && h->out_first &&
	     chunk_lookup((uintptr_t)h->out_first) != c)) {
		heap_flush_outbox(h);
		h->out_owner = dest;
	}
	p[0] = h->out_first;
	h->out_first = (struct llist_node *)p;
	if (!h->out_last)
		h->out_last = (struct llist_node *)p;
	if (++h->out_count >= OUTBOX_MAX)
		heap_flush_outbox(h);
}

/**
 * heap_free_remote() - free @ptr, a taken block start of @c, which heap @h
 * does not own.  Checks for a double free first.
 */
void heap_free_remote(struct heap *h, struct chunk *c, void *ptr)
{
	void **p = ptr;
	/* Acquire: see heap_take_blocks(). */
	struct heap *owner = load_acquire(&c->owner), *dest;

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    block_cookie_free(owner, (uintptr_t)p[1]))
		report_misuse("double free", ptr, c->cls);
	dest = owner ? owner : &heap_orphanage;
	p[1] = (void *)free_cookie_remote(dest);
	/* Most often: one more block towards the live owner the outbox
	 * already holds blocks for (a sentinel's outbox is always empty). */
	if (likely(owner && h->out_owner == owner)) {
		h->stats.remote_frees++;
		h->stats.cls_remote[c->cls]++;
		p[0] = h->out_first;
		h->out_first = (struct llist_node *)p;
		if (unlikely(++h->out_count >= OUTBOX_MAX))
			heap_flush_outbox(h);
		return;
	}
	p[0] = NULL;
	if (h->kind == HEAP_KIND_THREAD) {
		h->stats.remote_frees++;
		h->stats.cls_remote[c->cls]++;
	}
	free_remote_switch(h, c, p, owner, dest);
}
