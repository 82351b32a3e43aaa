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

void *heap_alloc_slow(size_t size);
void *heap_alloc_class(unsigned int cls);
void heap_flush_bin(struct heap *h, unsigned int cls);
void heap_free_remote(struct heap *h, struct chunk *c, void *ptr);
void heap_free_chunk(struct chunk *c, void *ptr);
void heap_free_slow(void *ptr);
__cold __noreturn void heap_free_invalid(struct chunk *c, void *ptr);
__cold __noreturn void heap_free_double(struct chunk *c, void *ptr);

bool heap_may_wait(void);
struct heap *heap_call_out_begin(void);
void heap_call_out_end(struct heap *saved);
bool heap_trim(void);

struct heap_stats;
void heap_sum_stats(struct heap_stats *sum, long *threads);

#endif /* CORE_HEAP_H */
