// SPDX-License-Identifier: MIT
/*
 * heap.c - per-thread heaps.
 *
 * A heap owns chunks, per class: the current chunk refills claim from, a
 * list of partly used chunks and a list of full ones.  In front of them sit
 * the bins (struct bin), which the inline fast paths of alloc.h pop and push
 * without atomics.  Everything here is the slow path: refilling a bin from
 * the bitmaps, flushing an overflowing bin back to them, sending blocks of
 * other heaps' chunks to their owners, taking back what other threads sent,
 * and the heap's birth and death with its thread.
 *
 * Remote frees.  A block freed by a thread that does not own its chunk goes
 * to the owner heap's inbox, a Treiber stack: consecutive frees towards the
 * same owner are chained in the freeing heap's outbox and pushed together
 * with one CAS (llist_add_batch).  The owner takes the whole inbox with one
 * exchange when a bin runs dry.  After a push the pusher looks at the owner's
 * state; an owner that has exited is drained by the pusher itself.  Heaps
 * are never unmapped, so a pusher holding a stale owner pointer still writes
 * into a heap; whoever drains re-checks each block's owner.
 *
 * Exit.  The exiting thread pins and orphans (owner = NULL) every chunk,
 * marks the heap dead, takes the inbox, then puts each chunk on its class's
 * shared list or retires it if empty.  The store of HEAP_DEAD and a pusher's
 * push are sequentially consistent on both sides (Dekker): either the exiting
 * thread sees the pushed block, or the pusher sees the heap dead.
 *
 * Lock order: global_lock comes before the locks of shared.c (the fallback
 * heap releases blocks into orphans, which takes class locks); pool_lock is
 * a leaf, held with no other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <urcu-bp.h>

#include "chunk.h"
#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "prof.h"
#include "report.h"
#include "shared.h"
#include "stats.h"

static struct heap heap_boot = {
	.kind = HEAP_KIND_BOOT, .hot = HOT_SLOTS_NONE
};
static struct heap heap_nested = {
	.kind = HEAP_KIND_NESTED, .hot = HOT_SLOTS_NONE
};
static struct heap heap_exited = {
	.kind = HEAP_KIND_EXITED, .hot = HOT_SLOTS_NONE
};

/* Outbox destination of frees into chunks that no heap owns. */
static struct heap heap_orphanage = {
	.kind = HEAP_KIND_EXITED, .hot = HOT_SLOTS_NONE
};

__thread struct heap *bitslab_tls_heap
	__attribute__((tls_model("initial-exec"))) = &heap_boot;

/* The fallback heap for threads without a usable heap of their own. */
static struct heap heap_global = {
	.kind = HEAP_KIND_GLOBAL, .hot = HOT_SLOTS_NONE
};
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static bool global_ready;			/* global lock */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heap *pool_free;			/* pool lock */
static struct heap *all_heaps;			/* pool lock */
static struct heap_stats exited_stats;		/* pool lock */
static long heaps_live;				/* pool lock */

static pthread_key_t heap_key;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void heap_take_inbox(struct heap *h);
static void heap_release_list(struct heap *h, void **list);
static void heap_drain_foreign(struct heap *o);

/* ---------------------------------------------------------------------
 * Calls out of the allocator
 * ------------------------------------------------------------------- */

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
 * heap_may_wait() - may this thread wait for an RCU grace period now?  Not
 * from inside a call out to liburcu or pthreads (it may hold their locks),
 * not before it has a heap, and not inside a read-side section of its own
 * (the application may use liburcu-bp too).  An exiting thread may wait
 * (synchronize_rcu() does not register it) but must not ask liburcu
 * whether it is in a read-side section: that would register it again
 * after bp's own cleanup.  It is in none of ours.
 */
bool heap_may_wait(void)
{
	unsigned int kind = bitslab_tls_heap->kind;

	if (kind == HEAP_KIND_EXITED)
		return true;
	return kind == HEAP_KIND_THREAD && !urcu_bp_read_ongoing();
}

/* ---------------------------------------------------------------------
 * Heap setup and the pool
 * ------------------------------------------------------------------- */

/* Forget every hot chunk of @h. */
static void heap_hot_reset(struct heap *h)
{
	unsigned int i;

	for (i = 0; i < HOT_SLOTS; i++)
		h->hot[i] = (struct hot_slot){ HOT_NONE, NULL };
}

static void heap_setup(struct heap *h, enum heap_kind kind)
{
	unsigned int c;

	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		long max = (long)size_classes[c].bin_max * opt_bin_scale / 100;
		struct heap_class *hc = &h->cls[c];

		max = max < 2 ? 2 : max;
		if (unlikely(prof_active))
			max = 1;	/* every malloc and free takes a slow path */
		h->bins[c] = (struct bin){ NULL, (int32_t)max, (int32_t)max };
		hc->cur = NULL;
		CDS_INIT_LIST_HEAD(&hc->partial);
		CDS_INIT_LIST_HEAD(&hc->full);
		hc->nchunks = 0;
		hc->nempty = 0;
	}
	heap_hot_reset(h);
	memset(h->lcache, 0, sizeof(h->lcache));
	h->lcache_bytes = 0;
	h->out_owner = NULL;
	h->out_first = h->out_last = NULL;
	h->out_count = 0;
	h->kind = (uint8_t)kind;
	h->empty_keep = (uint8_t)opt_empty_keep;
	h->dead = NULL;
	h->ndead = 0;
	memset(&h->stats, 0, sizeof(h->stats));
}

/* Map a batch of heaps; keep one, pool the rest.  Pool lock held. */
static struct heap *__heap_pool_grow(void)
{
	size_t sz = ALIGN_UP(sizeof(struct heap), CACHELINE_SIZE);
	size_t n = 65536 / sz, i;
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
		h->all_next = all_heaps;
		all_heaps = h;
		if (i) {
			h->pool_next = pool_free;
			pool_free = h;
		}
	}
	return (struct heap *)mem;
}

static struct heap *heap_pool_get(void)
{
	struct heap *h;

	pthread_mutex_lock(&pool_lock);
	h = pool_free;
	if (h)
		pool_free = h->pool_next;
	else
		h = __heap_pool_grow();
	if (h)
		heaps_live++;
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

static void heap_pool_put(struct heap *h)
{
	pthread_mutex_lock(&pool_lock);
	stats_add(&exited_stats, &h->stats);
	store_seq_cst(&h->state, HEAP_FREE);
	h->pool_next = pool_free;
	pool_free = h;
	heaps_live--;
	pthread_mutex_unlock(&pool_lock);
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
			stats_add_binned(sum, h);
		}
	*threads = heaps_live;
	pthread_mutex_unlock(&pool_lock);
	stats_add(sum, &heap_global.stats);
	stats_add_binned(sum, &heap_global);
}

/* ---------------------------------------------------------------------
 * Releasing blocks to the bitmaps (owner side)
 * ------------------------------------------------------------------- */

#define DEAD_BATCH 32

/* Hand @h's batch of dead never-shared chunks to the chunk cache. */
static void heap_dead_flush(struct heap *h)
{
	if (h->dead) {
		chunk_reclaim_unshared(h->dead);
		h->dead = NULL;
		h->ndead = 0;
	}
}

/*
 * @c, owned by @h, is dead and on no list.  One that was never on a shared
 * list needs no grace period; it waits in @h's batch, so that the cache
 * takes (and, past its budget, unmaps in runs of neighbours) DEAD_BATCH
 * chunks at a time: a thread freeing everything at once makes one munmap
 * per run instead of one per chunk, which the other threads' page faults
 * would queue behind.
 */
static void heap_chunk_dead(struct heap *h, struct chunk *c)
{
	if (c->was_shared) {
		chunk_retire(c);
		return;
	}
	c->retire.next = h->dead;
	h->dead = &c->retire;
	if (++h->ndead >= DEAD_BATCH)
		heap_dead_flush(h);
}

/* An owned, non-current chunk became empty: keep it or retire it. */
static void heap_chunk_empty(struct heap *h, struct chunk *c)
{
	struct heap_class *hc = &h->cls[c->cls];
	struct hot_slot *s = heap_hot_slot(h, (uintptr_t)c);
	long zero = 0;

	if (!c->kept_empty && hc->nempty < h->empty_keep) {
		c->kept_empty = true;
		hc->nempty++;
		return;
	}
	if (!try_cmpxchg(&c->nused, &zero, CHUNK_DEAD))
		return;
	if (s->chunk == c)
		s->chunk = HOT_NONE;
	if (c->kept_empty)
		hc->nempty--;
	cds_list_del(&c->node);
	c->list = CHUNK_LIST_NONE;
	hc->nchunks--;
	h->stats.chunks_retired++;
	heap_chunk_dead(h, c);
}

/* @k blocks of @c (owned by @h) went back to its bitmap. */
static void heap_chunk_released(struct heap *h, struct chunk *c,
				unsigned int k)
{
	struct heap_class *hc = &h->cls[c->cls];
	long n = fetch_sub_release(&c->nused, k) - (long)k;

	DEBUG_BUG_ON(n < 0);
	h->stats.released += k;
	if (c == hc->cur)
		return;
	if (c->list == CHUNK_LIST_FULL) {
		cds_list_del(&c->node);
		cds_list_add(&c->node, &hc->partial);
		c->list = CHUNK_LIST_PARTIAL;
	}
	if (n == 0)
		heap_chunk_empty(h, c);
}

/*
 * Releasing blocks to the bitmaps, batched: consecutive blocks in one
 * bitmap word cost one fetch_and, consecutive blocks of one chunk one
 * update of its count.  Used for every release: bin flushes, inbox blocks
 * that do not fit in a bin, frees into chunks nobody owns.  Whether the
 * releasing heap owns a chunk is decided once per run of its blocks; a
 * chunk's count, decremented last, keeps it alive while its bits go.
 */
struct release {
	struct heap *h;		/* the releasing heap (maybe a sentinel) */
	struct chunk *c;	/* chunk of the current run, or NULL */
	bool owned;		/* @h owns @c */
	unsigned long word;	/* bitmap word of the pending bits */
	unsigned long mask;	/* pending bits of @word */
	unsigned int n;		/* blocks of @c in this run */
};

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
	if (r->owned && r->word < c->hint)
		c->hint = (uint32_t)r->word;
	r->mask = 0;
}

static void release_run(struct release *r)
{
	if (!r->c)
		return;
	release_word(r);
	stats_count_release(r->h, r->c->cls, r->n);
	if (r->owned)
		heap_chunk_released(r->h, r->c, r->n);
	else
		chunk_account_stray(r->c, r->n);
	r->c = NULL;
	r->n = 0;
}

static void release_add(struct release *r, struct chunk *c, void **p)
{
	unsigned long idx = chunk_block_index(c, (uintptr_t)p);
	unsigned long w = BIT_WORD(idx), bit = BIT_MASK(idx);

	prof_free_hook(p);
	if (c != r->c) {
		release_run(r);
		r->c = c;
		r->owned = (r->h->kind == HEAP_KIND_THREAD ||
			    r->h->kind == HEAP_KIND_GLOBAL) &&
			   READ_ONCE(c->owner) == r->h;
	} else if (w != r->word) {
		release_word(r);
	}
	if (r->mask & bit)
		report_misuse("double free", p, c->cls);
	r->word = w;
	r->mask |= bit;
	r->n++;
}

/* Release a private chain of free blocks (linked through word 0). */
static void heap_release_list(struct heap *h, void **list)
{
	struct release r = { .h = h };

	while (list) {
		void **next = list[0];

		release_add(&r, chunk_lookup((uintptr_t)list), list);
		list = next;
	}
	release_run(&r);
}

/**
 * heap_flush_bin() - the bin of @cls overflowed: release its newest half
 * to the bitmaps, which is how chunks become empty again.
 */
void heap_flush_bin(struct heap *h, unsigned int cls)
{
	struct bin *b = &h->bins[cls];
	int n = b->max / 2, i;
	void **first = b->head, **last = first;

	if (n < 1)
		n = 1;
	for (i = 1; i < n && last[0]; i++)
		last = last[0];
	b->head = last[0];
	last[0] = NULL;
	b->room += i;
	DEBUG_BUG_ON(b->room < 1);
	h->stats.flushes++;
	heap_release_list(h, first);
}

/* Release every block of every bin (exit, trim, memory shortage). */
static void heap_release_bins(struct heap *h)
{
	unsigned int c;

	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		struct bin *b = &h->bins[c];
		void **list = b->head;

		b->head = NULL;
		b->room = b->max;
		heap_release_list(h, list);
	}
}

/*
 * Retire every empty chunk of the heap (trim, memory shortage): those it
 * keeps for reuse and the current chunks of its classes.
 */
static void heap_retire_empty(struct heap *h)
{
	unsigned int c;
	uint8_t keep = h->empty_keep;

	h->empty_keep = 0;
	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		struct heap_class *hc = &h->cls[c];
		struct cds_list_head *pos, *tmp;
		struct chunk *cur = hc->cur;

		if (cur && READ_ONCE(cur->nused) == 0) {
			/* Make it an ordinary partial chunk, then retire it. */
			hc->cur = NULL;
			cur->list = CHUNK_LIST_PARTIAL;
			cds_list_add(&cur->node, &hc->partial);
			heap_chunk_empty(h, cur);
		}
		cds_list_for_each_safe(pos, tmp, &hc->partial) {
			struct chunk *k = cds_list_entry(pos, struct chunk, node);

			if (k->kept_empty)
				heap_chunk_empty(h, k);
		}
	}
	h->empty_keep = keep;
}

/* ---------------------------------------------------------------------
 * Remote frees
 * ------------------------------------------------------------------- */

/*
 * Take one block off a list sent to heap @dest: check it was sent as a
 * remote free.  A block that is on the list twice (two threads freed it at
 * once) is caught on its second visit, which finds the cookie the first
 * visit left, as is a block written to after it was freed.
 */
static struct chunk *inbox_block(struct heap *dest, void **p)
{
	struct chunk *c = chunk_lookup((uintptr_t)p);

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    (uintptr_t)p[1] != free_cookie_remote(dest))
		report_misuse("double free (or write after free)", p,
			      c ? c->cls : -1);
	p[1] = NULL;
	return c;
}

/*
 * Put every block of @n, a list sent to heap @dest, where it belongs: into
 * @me's bins if @me owns its chunk and the bin has room, else back into its
 * chunk's bitmap (the chunk was orphaned since, or @me is not its owner).
 */
static void heap_take_blocks(struct heap *me, struct heap *dest,
			     struct llist_node *n)
{
	bool real = me->kind == HEAP_KIND_THREAD || me->kind == HEAP_KIND_GLOBAL;
	struct release r = { .h = me };

	while (n) {
		void **p = (void **)n;
		struct chunk *c;

		n = n->next;
		c = inbox_block(dest, p);
		if (real && READ_ONCE(c->owner) == me) {
			struct bin *b = &me->bins[c->cls];

			me->stats.remote_taken++;
			if (b->room > 1) {
				p[1] = (void *)free_cookie_local(me);
				p[0] = b->head;
				b->head = p;
				b->room--;
				continue;
			}
		}
		release_add(&r, c, p);
	}
	release_run(&r);
}

/** heap_take_inbox() - take every block other threads sent to @h. */
static void heap_take_inbox(struct heap *h)
{
	heap_take_blocks(h, h, llist_del_all(&h->inbox));
}

/*
 * Drain the inbox of heap @o, which is not ours and not live (its thread
 * exited, or it is in the pool).  Sequentially consistent: see
 * heap_push_remote().
 */
static void heap_drain_foreign(struct heap *o)
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
	llist_add_batch_mb((struct llist_node *)first,
			   (struct llist_node *)last, &owner->inbox);
	if (load_seq_cst(&owner->state) != HEAP_LIVE)
		heap_drain_foreign(owner);
}

static void heap_flush_outbox(struct heap *h)
{
	if (!h->out_count)
		return;
	h->out_last->next = NULL;
	if (h->out_owner == &heap_orphanage) {
		/* Blocks of chunks nobody owned: back to their bitmaps. */
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

/*
 * Does word 1 of block @p of @c say the block is free?  Its owner's local
 * cookie (in the owner's bin), or a remote cookie towards the owner or the
 * orphanage (on its way back).  A block back in its bitmap carries no
 * cookie; its clear bit says so when it is released again.
 */
static bool block_cookie_free(struct heap *owner, uintptr_t w1)
{
	return (owner && w1 == free_cookie_local(owner)) ||
	       w1 == free_cookie_remote(owner ? owner : &heap_orphanage) ||
	       w1 == free_cookie_remote(&heap_orphanage);
}

/** heap_block_is_free() - is block @p of @c free (see block_cookie_free())? */
bool heap_block_is_free(struct chunk *c, void **p)
{
	return block_cookie_free(READ_ONCE(c->owner), (uintptr_t)p[1]);
}

/**
 * heap_free_remote() - free @ptr, a valid block start of @c, which heap @h
 * does not own.  Checks for a double free first.
 */
void heap_free_remote(struct heap *h, struct chunk *c, void *ptr)
{
	void **p = ptr;
	struct heap *owner = READ_ONCE(c->owner), *dest;

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    block_cookie_free(owner, (uintptr_t)p[1]))
		report_misuse("double free", ptr, c->cls);
	/* A chunk without owner gets its blocks back through the orphanage:
	 * in batches, through the outbox; they keep its count up (and it
	 * alive) meanwhile. */
	dest = owner ? owner : &heap_orphanage;
	p[1] = (void *)free_cookie_remote(dest);
	p[0] = NULL;
	if (h->kind != HEAP_KIND_THREAD) {
		if (owner)
			heap_push_remote(owner, p, p);
		else
			heap_take_blocks(h, dest, (struct llist_node *)p);
		return;
	}
	owner = dest;
	h->stats.remote_frees++;
	h->stats.cls_remote[c->cls]++;
	if (h->out_owner != owner) {
		heap_flush_outbox(h);
		h->out_owner = owner;
	}
	p[0] = h->out_first;
	h->out_first = (struct llist_node *)p;
	if (!h->out_last)
		h->out_last = (struct llist_node *)p;
	if (++h->out_count >= OUTBOX_MAX)
		heap_flush_outbox(h);
}

/* ---------------------------------------------------------------------
 * Free slow paths and misuse
 * ------------------------------------------------------------------- */

void heap_free_invalid(struct chunk *c, void *ptr)
{
	report_misuse("free of invalid pointer (not the start of a block)",
		      ptr, c->cls);
}

void heap_free_double(struct chunk *c, void *ptr)
{
	report_misuse("double free", ptr, c->cls);
}

/**
 * heap_free_chunk() - free a block of @c through the generic path (blocks
 * of multi-chunk spans, and frees that missed the hot chunks).  A chunk of
 * this heap becomes hot, in the slot its address picks.
 */
void heap_free_chunk(struct chunk *c, void *ptr)
{
	struct heap *h = bitslab_tls_heap;
	struct hot_slot *s;

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    !chunk_block_start(c, (uintptr_t)ptr)) {
		heap_free_invalid(c, ptr);
		return;
	}
	/*
	 * A thread that frees before it ever allocated (a consumer of blocks
	 * made by others) gets its heap now: its remote frees then go out in
	 * batches, and it may reclaim retired chunks, which a thread without
	 * a heap may not.
	 */
	if (unlikely(h->kind == HEAP_KIND_BOOT))
		h = heap_ensure();
	if (READ_ONCE(c->owner) != h) {
		heap_free_remote(h, c, ptr);
		return;
	}
	s = heap_hot_slot(h, (uintptr_t)c);
	*s = (struct hot_slot){ c, &h->bins[c->cls] };
	heap_free_local(h, c, s->bin, ptr);
}

/**
 * heap_free_cold() - free of a pointer outside @h's hot chunks: look it up
 * in the page map before touching anything.
 */
void heap_free_cold(struct heap *h, void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;

	if (likely(pagemap_kind(a) == PM_CHUNK))
		heap_free_chunk(chunk_of_head(a), ptr);
	else
		heap_free_slow(ptr);
}

/** heap_free_slow() - free of a pointer outside any chunk head region. */
void heap_free_slow(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	unsigned int kind;

	if (!ptr)
		return;
	kind = pagemap_kind(a);
	if (kind & PM_TAIL)
		heap_free_chunk(chunk_lookup(a), ptr);
	else if (kind == PM_LARGE || kind == PM_LARGE0)
		large_free(ptr);
	else
		large_report_unknown("free", ptr);
}

/* ---------------------------------------------------------------------
 * Allocation slow path
 * ------------------------------------------------------------------- */

/*
 * Give memory back when the system refused some (RLIMIT_AS, overcommit):
 * everything the heap holds free, every retired and cached chunk.  The
 * caller retries once.
 */
static void heap_recover(struct heap *h)
{
	heap_flush_outbox(h);
	if (h->kind == HEAP_KIND_THREAD || h->kind == HEAP_KIND_GLOBAL) {
		heap_release_bins(h);
		heap_retire_empty(h);
		heap_dead_flush(h);
		large_cache_drain(h);
	}
	shared_reclaim(true);
	chunk_cache_drain();
}

/** heap_recover_memory() - heap_recover() for the calling thread. */
void heap_recover_memory(void)
{
	heap_recover(bitslab_tls_heap);
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
			c->list = CHUNK_LIST_NONE;
			hc->nchunks++;
			h->stats.chunks_adopted++;
			return hc->cur = c;
		}
	}
	heap_dead_flush(h);	/* they may be what chunk_create() reuses */
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

/* Put blocks into the empty bin of @cls.  Return: 0, or -1 (ENOMEM). */
static int heap_refill(struct heap *h, unsigned int cls)
{
	struct bin *b = &h->bins[cls];
	struct heap_class *hc = &h->cls[cls];
	unsigned int want = (unsigned int)(b->max > 1 ? b->max / 2 : 1);

	h->stats.refills++;
	heap_flush_outbox(h);
	if (!llist_empty(&h->inbox)) {
		heap_take_inbox(h);
		if (b->head)
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
			if (b->head)	/* recovery refilled the bin */
				return 0;
		}
		n = chunk_claim(c, want, &first, &last);
		if (n) {
			h->stats.claimed += n;
			h->stats.cls_claimed[cls] += n;
			last[0] = b->head;
			b->head = first;
			b->room -= (int32_t)n;
			return 0;
		}
		hc->cur = NULL;
		c->list = CHUNK_LIST_FULL;
		cds_list_add(&c->node, &hc->full);
	}
}

static void *__heap_alloc(struct heap *h, unsigned int cls)
{
	if (!h->bins[cls].head && heap_refill(h, cls)) {
		errno = ENOMEM;
		return NULL;
	}
	return bin_pop(&h->bins[cls]);
}

static void heap_global_ready(void)
{
	if (!global_ready) {
		heap_setup(&heap_global, HEAP_KIND_GLOBAL);
		init_llist_head(&heap_global.inbox);
		atomic_init(&heap_global.state, HEAP_LIVE);
		global_ready = true;
	}
}

/*
 * The fallback heap, under its lock.  The thread counts as calling out
 * meanwhile, so nothing it does there waits for a grace period with the
 * lock held (heap_may_wait()).
 */
static void *heap_alloc_global(unsigned int cls)
{
	struct heap *saved = heap_call_out_begin();
	void *p;

	pthread_mutex_lock(&global_lock);
	heap_global_ready();
	p = __heap_alloc(&heap_global, cls);
	pthread_mutex_unlock(&global_lock);
	heap_call_out_end(saved);
	return p;
}

static void heap_key_destructor(void *arg);

static void heap_fork_prepare(void);
static void heap_fork_parent(void);
static void heap_fork_child(void);

static void init_secrets(void)
{
	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
	uint64_t a = 0x9e3779b97f4a7c15ULL, b = 0xc2b2ae3d27d4eb4fULL;
	struct timespec ts;

	if (r) {
		memcpy(&a, r, 8);
		memcpy(&b, r + 8, 8);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	a ^= (uint64_t)ts.tv_nsec * 0xff51afd7ed558ccdULL;
	b ^= (uint64_t)(uintptr_t)&ts;
	/* Never 0: a large block's cookie would then be its own address. */
	bitslab_secret = (uintptr_t)((a ^ (b << 17)) | 0x10000);
}

static void init_routine(void)
{
	init_secrets();
	options_parse(getenv("BITSLAB_OPTIONS"));
	stats_init();
	shared_init();
	pthread_key_create(&heap_key, heap_key_destructor);
	pthread_atfork(heap_fork_prepare, heap_fork_parent, heap_fork_child);
}

/**
 * bitslab_init() - one-time global setup, on the first allocation of the
 * process (never from a constructor: other libraries' constructors may
 * allocate first).  The calling thread is on the nested sentinel, so what
 * pthread_once(), pthread_key_create() and pthread_atfork() allocate comes
 * from the global heap.
 */
void bitslab_init(void)
{
	pthread_once(&init_once, init_routine);
}

/* First allocation of a thread: give it a heap. */
static struct heap *heap_thread_init(void)
{
	struct heap *saved = heap_call_out_begin();
	struct heap *h;

	(void)saved;
	bitslab_init();
	h = heap_pool_get();
	if (h) {
		pthread_setspecific(heap_key, h);
		/*
		 * Register with liburcu-bp now, while memory is plentiful:
		 * bp registers lazily at the first read lock otherwise, and
		 * aborts if its registry cannot be mapped then, which is
		 * exactly when the allocator runs short and reclaims.
		 */
		urcu_bp_register_thread();
	}
	heap_call_out_end(h ? h : &heap_boot);
	return h;
}

/**
 * heap_ensure() - the calling thread's heap, created (and the allocator
 * initialised) if this is the thread's first allocation.  May return a
 * sentinel (nested, exited, or out of memory for a heap).
 */
struct heap *heap_ensure(void)
{
	struct heap *h = bitslab_tls_heap;

	if (unlikely(h->kind == HEAP_KIND_BOOT)) {
		h = heap_thread_init();
		if (!h)
			h = bitslab_tls_heap;
	}
	return h;
}

/**
 * heap_alloc_class() - a block of class @cls for the calling thread,
 * whatever state the thread is in.  NULL with errno = ENOMEM on failure.
 */
void *heap_alloc_class(unsigned int cls)
{
	struct heap *h = bitslab_tls_heap;

	if (likely(h->kind == HEAP_KIND_THREAD))
		return __heap_alloc(h, cls);
	if (h->kind == HEAP_KIND_BOOT) {
		h = heap_thread_init();
		if (h)
			return __heap_alloc(h, cls);
	}
	return heap_alloc_global(cls);
}

/**
 * heap_alloc_slow() - malloc() when the fast path could not serve it: an
 * empty bin, a size beyond the lookup table, or a large block.
 */
void *heap_alloc_slow(size_t size)
{
	void *p;

	if (unlikely(size > SMALL_MAX))
		return large_alloc(size, 0, false);
	p = heap_alloc_class(size_to_class(size));
	prof_alloc_hook(p, size);
	return p;
}

/* ---------------------------------------------------------------------
 * Thread exit
 * ------------------------------------------------------------------- */

static void heap_orphan_list(struct cds_list_head *from,
			     struct cds_list_head *to)
{
	struct cds_list_head *pos, *tmp;

	cds_list_for_each_safe(pos, tmp, from) {
		struct chunk *c = cds_list_entry(pos, struct chunk, node);

		fetch_add(&c->nused, 1);	/* pin against stray retirement */
		store_seq_cst(&c->owner, NULL);
		c->kept_empty = false;
		cds_list_del(&c->node);
		cds_list_add(&c->node, to);
	}
}

static void heap_exit(struct heap *h)
{
	struct cds_list_head orphans, *pos, *tmp;
	struct chunk *c;
	unsigned int cls;

	heap_flush_outbox(h);
	heap_take_inbox(h);
	h->empty_keep = 0;
	heap_release_bins(h);
	large_cache_drain(h);

	CDS_INIT_LIST_HEAD(&orphans);
	for (cls = 0; cls < NR_SIZE_CLASSES; cls++) {
		struct heap_class *hc = &h->cls[cls];

		if (hc->cur) {
			cds_list_add(&hc->cur->node, &hc->partial);
			hc->cur = NULL;
		}
		heap_orphan_list(&hc->partial, &orphans);
		heap_orphan_list(&hc->full, &orphans);
		hc->nchunks = hc->nempty = 0;
	}
	/* Pairs with heap_push_remote(): HEAP_DEAD, then take the inbox. */
	heap_hot_reset(h);
	store_seq_cst(&h->state, HEAP_DEAD);
	heap_drain_foreign(h);

	cds_list_for_each_safe(pos, tmp, &orphans) {
		long pin_only = 1;

		c = cds_list_entry(pos, struct chunk, node);
		cds_list_del(&c->node);
		c->list = CHUNK_LIST_NONE;
		/* Empty but for the pin, and on no list: nobody can adopt it
		 * or release into it, so it is retired without publishing. */
		if (try_cmpxchg(&c->nused, &pin_only, CHUNK_DEAD)) {
			heap_chunk_dead(h, c);
			continue;
		}
		shared_publish(c);
		/* Undo the pin; retire it if that was its last count and
		 * nobody adopted it since it was published. */
		chunk_account_stray(c, 1);
	}
	heap_dead_flush(h);
	heap_pool_put(h);
}

static void heap_key_destructor(void *arg)
{
	struct heap *h = arg;

	/* From here on this thread never takes an RCU read lock again: a
	 * late free would re-register it with liburcu-bp after bp's own
	 * cleanup and leak the registration.  Allocations go to the global
	 * heap, which never walks the shared lists. */
	bitslab_tls_heap = &heap_exited;
	heap_exit(h);
}

/* ---------------------------------------------------------------------
 * Trim and fork
 * ------------------------------------------------------------------- */

/**
 * heap_trim() - malloc_trim(): give back everything the calling thread
 * holds free and every retired or cached chunk.  Return: true if anything
 * was given back.
 */
bool heap_trim(void)
{
	struct heap *h = bitslab_tls_heap;
	size_t before = os_mapped_bytes();

	if (h->kind == HEAP_KIND_THREAD) {
		heap_flush_outbox(h);
		heap_take_inbox(h);
		heap_release_bins(h);
		heap_retire_empty(h);
		heap_dead_flush(h);
		large_cache_drain(h);
	}
	shared_reclaim(true);
	chunk_cache_drain();
	return os_mapped_bytes() < before;
}

/* fork: every lock, in the documented order (global_lock comes first:
 * the fallback heap takes class locks while it holds it). */
static void heap_fork_prepare(void)
{
	pthread_mutex_lock(&global_lock);
	shared_lock_all();
	shared_cache_lock();
	pthread_mutex_lock(&pool_lock);
	urcu_bp_before_fork();
}

static void heap_fork_parent(void)
{
	urcu_bp_after_fork_parent();
	pthread_mutex_unlock(&pool_lock);
	shared_cache_unlock();
	shared_unlock_all();
	pthread_mutex_unlock(&global_lock);
}

static void heap_fork_child(void)
{
	struct heap *h;

	urcu_bp_after_fork_child();
	shared_reinit_locks();
	chunk_cache_reinit_lock();
	pthread_mutex_init(&global_lock, NULL);
	pthread_mutex_init(&pool_lock, NULL);
	/*
	 * Only the forking thread survives.  The other threads' heaps may have
	 * been in the middle of an update, so they are left alone: their
	 * blocks stay valid, frees into their chunks are released directly
	 * by whoever pushes them (the heaps read as dead), and the heaps are
	 * never reused.
	 */
	for (h = all_heaps; h; h = h->all_next) {
		if (h != bitslab_tls_heap && READ_ONCE(h->state) == HEAP_LIVE) {
			store_seq_cst(&h->state, HEAP_DEAD);
			heaps_live--;
		}
	}
}
