/* SPDX-License-Identifier: MIT */
/*
 * heap.h - per-thread heaps: the slow paths behind the inline fast paths of
 * alloc.h, remote frees, thread start and exit.
 */
#ifndef CORE_HEAP_H
#define CORE_HEAP_H

#include <stdbool.h>
#include <stddef.h>

#include <bitslab/types.h>

/*
 * The calling thread's heap.  Never NULL: threads start on a sentinel heap
 * whose bins are empty, so the fast paths need no test for it.
 */
extern __thread struct heap *bitslab_tls_heap
	__attribute__((tls_model("initial-exec")));

void bitslab_init(void);
void heap_flush_bin(struct heap *h, unsigned int cls);
/* Report and abort().  Not declared noreturn on purpose: callers tail-call
 * them, which spares the fast path a stack frame. */
__cold void heap_free_double(struct chunk *c, void *ptr);

/**
 * bin_pop() - take the most recently freed block off bin @b and clear its
 * free cookie, or return NULL if the bin is empty.  Owner only.
 */
static __always_inline void *bin_pop(struct bin *b)
{
	void **p = b->head;

	if (likely(p != NULL)) {
		b->head = p[0];
		b->room++;
		p[1] = NULL;
	}
	return p;
}

/** heap_hot_slot() - the hot slot of @h where the chunk @c would be. */
static __always_inline struct hot_slot *heap_hot_slot(struct heap *h,
						      uintptr_t c)
{
	return &h->hot[(c >> CHUNK_SHIFT) & (HOT_SLOTS - 1)];
}

/**
 * heap_free_local() - push block @ptr of @c, a hot chunk of @h whose class
 * has bin @b, already known to be a block start, onto @b, after checking
 * it is not free already.
 */
static __always_inline void heap_free_local(struct heap *h, struct chunk *c,
					    struct bin *b, void *ptr)
{
	uintptr_t cookie = free_cookie_local(h);
	void **p = ptr;

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    unlikely((uintptr_t)p[1] == cookie)) {
		heap_free_double(c, ptr);
		return;
	}
	p[1] = (void *)cookie;
	p[0] = b->head;
	b->head = p;
	/* room is at least 1 here: every path that fills a bin leaves one. */
	if (unlikely(--b->room == 0))
		heap_flush_bin(h, c->cls);
}

void *heap_alloc_slow(size_t size);
struct heap *heap_ensure(void);
void *heap_alloc_class(unsigned int cls);
void heap_free_remote(struct heap *h, struct chunk *c, void *ptr);
bool heap_block_is_free(struct chunk *c, void **p);
void heap_free_chunk(struct chunk *c, void *ptr);
void heap_free_slow(void *ptr);
void heap_free_cold(struct heap *h, void *ptr);
__cold void heap_free_invalid(struct chunk *c, void *ptr);

bool heap_may_wait(void);
struct heap *heap_call_out_begin(void);
void heap_call_out_end(struct heap *saved);
bool heap_trim(void);
void heap_recover_memory(void);

struct heap_stats;
void heap_sum_stats(struct heap_stats *sum, long *threads);

#endif /* CORE_HEAP_H */
