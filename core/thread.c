// SPDX-License-Identifier: MIT
/*
 * thread.c - a thread's heap from its first allocation to its exit, the
 * allocator's one-time setup, and fork.
 *
 * Setup is lazy, on the first allocation of the process (other libraries'
 * constructors may allocate before ours runs); only the fork handlers are
 * registered by a constructor, so that they come before the program's own
 * (see fork below).  A thread's first allocation gives it a
 * heap from the pool and registers it with liburcu-bp.
 *
 * Exit.  A pthread key destructor runs when a thread exits: the heap sends
 * off its outbox, takes its inbox, releases its bins, then gives up every
 * chunk it owns: an empty one it retires, any other it publishes on its
 * class's shared list (owned -> shared, core/chunk.h).  Then it stores
 * HEAP_DEAD and takes its inbox a last time: a pusher that read the old
 * owner pushes, then reads the state (Dekker, remote.c): either the exiting
 * thread sees the block or the pusher sees the heap dead and drains it.
 *
 * Fork.  liburcu-bp's state is process-wide, and its fork hooks
 * (urcu_bp_before_fork() and friends) must run exactly once per fork: a
 * second urcu_bp_before_fork() blocks for good on bp's own lock.  A host
 * that uses liburcu-bp registers them itself, as urcu-bp.h advises; since
 * pthread_atfork() runs prepare handlers in the reverse order of
 * registration and bitslab registers its handlers before the program's
 * code runs, the host's prepare handler has run by the time bitslab's
 * does.  What it leaves behind is recognisable: urcu_bp_before_fork()
 * blocks every signal.  So bitslab calls bp's hooks itself unless the
 * forking thread has every signal blocked already (then either a host ran
 * them, or the host blocks everything around fork itself; see
 * Documentation/usage.rst).  bp's locks come first, then bitslab's.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <urcu-bp.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "heap.h"
#include "idle.h"
#include "large.h"
#include "options.h"
#include "pagemap.h"
#include "reclaim.h"
#include "release.h"
#include "remote.h"
#include "report.h"
#include "shared.h"
#include "thread.h"
#include "secure.h"

static pthread_key_t heap_key;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void heap_key_destructor(void *arg);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

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

static void fork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void init_routine(void)
{
	init_secrets();
	secure_init();
	options_parse(getenv("BITSLAB_OPTIONS"));
	stats_init();
	shared_init();
	pthread_key_create(&heap_key, heap_key_destructor);
	pthread_once(&fork_once, fork_register);
}

/**
 * bitslab_init() - one-time global setup.  The caller is on the nested
 * sentinel, so what pthread_once(), pthread_key_create() and
 * pthread_atfork() allocate comes from the global heap.
 */
static void bitslab_init(void)
{
	pthread_once(&init_once, init_routine);
}

/*
 * The fork handlers are registered before the program's code runs (see
 * "Fork" above); the rest waits for the first allocation, so that options
 * set in the environment by then are seen.  pthread_atfork() may allocate:
 * from the global heap, as a nested call.
 */
__attribute__((constructor)) static void bitslab_fork_early(void)
{
	struct heap *saved = heap_call_out_begin();

	pthread_once(&fork_once, fork_register);
	heap_call_out_end(saved);
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
		 * exactly when the allocator runs short.
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

static void heap_exit(struct heap *h)
{
	unsigned int cls;

	/* Held until the heap is dead: the idle drainer leaves it alone from
	 * here on (core/heap.h). */
	heap_lock(h);
	secure_flush(h);
	large_bin_flush(h);
	heap_flush_outbox(h);
	heap_take_inbox(h);
	h->empty_keep = 0;
	heap_release_bins(h);
	heap_hot_reset(h);
	for (cls = 0; cls < NR_SIZE_CLASSES; cls++) {
		struct heap_class *hc = &h->cls[cls];

		if (hc->cur) {
			hc->cur->list = CHUNK_LIST_PARTIAL;
			cds_list_add(&hc->cur->node, &hc->partial);
			hc->cur = NULL;
		}
		hc->nempty = 0;
		heap_give_up_list(h, &hc->partial);
		heap_give_up_list(h, &hc->full);
		DEBUG_BUG_ON(hc->nchunks != 0);
	}
	/* Pairs with heap_push_remote(): HEAP_DEAD, then take the inbox. */
	store_seq_cst(&h->state, HEAP_DEAD);
	heap_drain_foreign(h);
	heap_unlock(h);
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
 * fork
 * ------------------------------------------------------------------- */

/*
 * fork child: what a heap whose thread did not survive still holds.  Its
 * thread may have been in the middle of an update, so nothing of it is
 * trusted: every chunk and block is checked (ours by the page map, a chunk
 * header, owned by @h, a taken block start) before it is touched, and each
 * walk is bounded.  Whatever fails a check stays where it is.
 */
#define SALVAGE_MAX	(1L << 20)

/* @a, if it is a chunk of ours that @h owns. */
static struct chunk *salvage_chunk(struct heap *h, uintptr_t a)
{
	struct chunk *c = (struct chunk *)a;

	if (!a || (a & CHUNK_MASK) || pagemap_kind(a) != PM_CHUNK)
		return NULL;
	if (c->magic != CHUNK_MAGIC || READ_ONCE(c->owner) != h)
		return NULL;
	return c;
}

/* Publish every chunk on @head, a list of @h's (through ->node). */
static void salvage_list(struct heap *h, struct cds_list_head *head)
{
	struct cds_list_head *pos = head->next;
	long n;

	for (n = 0; pos != head && n < SALVAGE_MAX; n++) {
		struct chunk *c = salvage_chunk(h, (uintptr_t)pos -
						offsetof(struct chunk, node));

		if (!c)
			break;
		pos = pos->next;
		shared_publish_dead(c, h);
	}
}

/*
 * Give back the free blocks on @list (through word 0, at most @max), which
 * @h held in a bin with its local cookie: their chunks are shared by now.
 */
static void salvage_blocks(struct heap *me, struct heap *h, void **list,
			   long max)
{
	while (list != BIN_END && max-- > 0) {
		uintptr_t a = (uintptr_t)list;
		struct chunk *c = chunk_lookup(a);
		void **next;

		if (!c || c->magic != CHUNK_MAGIC || READ_ONCE(c->owner) ||
		    !chunk_block_start(c, a) || !chunk_block_taken(c, a) ||
		    (uintptr_t)list[1] != free_cookie_local(h))
			break;
		next = list[0];
		list[1] = NULL;
		heap_free_remote(me, c, list);
		list = next;
	}
}

/*
 * @h's thread did not survive the fork: make the heap dead (never reused),
 * publish its chunks so that the child's threads adopt them, and give back
 * the blocks that waited in its bins and inbox.  Blocks it had in flight
 * in its outbox, or that fail a check, stay taken.
 */
static void heap_fork_dead(struct heap *h)
{
	struct heap *me = bitslab_tls_heap;
	unsigned int cls;

	reclaim_fork_child_threaded();	/* its thread was another one */
	heap_forget(h);
	for (cls = 0; cls < NR_SIZE_CLASSES; cls++) {
		struct heap_class *hc = &h->cls[cls];
		struct chunk *cur = salvage_chunk(h, (uintptr_t)hc->cur);

		if (cur)
			shared_publish_dead(cur, h);
		salvage_list(h, &hc->partial);
		salvage_list(h, &hc->full);
	}
	for (cls = 0; cls < NR_SIZE_CLASSES; cls++) {
		salvage_blocks(me, h, h->bins[cls].head, h->bins[cls].max);
		salvage_blocks(me, h, h->sbins[cls].head, h->sbins[cls].max);
	}
	secure_salvage(me, h);
	large_bin_flush(h);
	heap_drain_foreign(h);
	heap_flush_outbox(me);
}

/* Did this thread's fork_prepare() call liburcu-bp's fork hooks? */
static __thread bool fork_called_bp __attribute__((tls_model("initial-exec")));

/* Does the calling thread block every signal it can (as
 * urcu_bp_before_fork() leaves it)? */
static bool signals_all_blocked(void)
{
	sigset_t cur;
	int s;

	if (pthread_sigmask(SIG_BLOCK, NULL, &cur))
		return false;
	for (s = 1; s < NSIG; s++) {
		if (s == SIGKILL || s == SIGSTOP ||
		    (s >= 32 && s < SIGRTMIN))	/* glibc's own */
			continue;
		if (!sigismember(&cur, s))
			return false;
	}
	return true;
}

/* Every lock, in the documented order: bp's, then ours. */
static void fork_prepare(void)
{
	bool bp = !signals_all_blocked();

	if (bp)
		urcu_bp_before_fork();
	fork_called_bp = bp;
	heap_fork_prepare();
	reclaim_fork_prepare();
	idle_fork_prepare();
	shared_fork_prepare();
	chunk_cache_fork_prepare();
	heap_fork_prepare_pool();
	large_cache_fork_prepare();
}

static void fork_parent(void)
{
	large_cache_fork_parent();
	heap_fork_parent();	/* pool, then global */
	chunk_cache_fork_parent();
	shared_fork_parent();
	idle_fork_parent();
	reclaim_fork_parent();
	if (fork_called_bp)
		urcu_bp_after_fork_parent();
}

/* Every lock is released by the forking thread, which took them all. */
static void fork_child(void)
{
	large_cache_fork_child();
	chunk_cache_fork_child();
	shared_fork_child();
	idle_fork_child();
	reclaim_fork_child();
	/* Only the forking thread survives: the other heaps are dead, and
	 * what they hold goes back (heap_fork_dead()). */
	heap_fork_child(bitslab_tls_heap, heap_fork_dead);
	if (fork_called_bp)
		urcu_bp_after_fork_child();
}
