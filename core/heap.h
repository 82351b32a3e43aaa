/* SPDX-License-Identifier: MIT */
/*
 * heap.h - per-thread heaps: the calling thread's heap, the sentinel heaps
 * of threads that may not use their own, the fallback heap, the pool heaps
 * live in, and the bin operations the inline fast paths of alloc.h use.
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
 * The free fast path's view of the hot slots: the slot of the chunk of @a
 * as an offset in struct heap, and its two words read from the heap and
 * that offset.  Reading them so, rather than through the slot's address,
 * lets the compiler address both from the heap's register and the offset's
 * (gcc 12 forms the slot's address first: one instruction more).
 */
static __always_inline unsigned long heap_hot_off(uintptr_t a)
{
	return offsetof(struct heap, hot) +
	       ((a >> CHUNK_SHIFT) & (HOT_SLOTS - 1)) * sizeof(struct hot_slot);
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

/** heap_hot_slot() - the hot slot of @h where the chunk @c would be. */
static __always_inline struct hot_slot *heap_hot_slot(struct heap *h,
						      uintptr_t c)
{
	return &h->hot[(c >> CHUNK_SHIFT) & (HOT_SLOTS - 1)];
}

struct heap *heap_call_out_begin(void);
void heap_call_out_end(struct heap *saved);
bool heap_may_wait(void);
bool heap_no_walkers(void);

void heap_hot_reset(struct heap *h);
struct heap *heap_pool_get(void);
void heap_pool_put(struct heap *h);
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
