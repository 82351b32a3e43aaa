/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - the fast paths of malloc and free, inlined into the exported
 * entry points of api.c and malloc.c.  Each has one unlikely() exit into an
 * out-of-line slow path (refill.c, free.c), which does the rest.
 *
 * malloc: pop the calling thread's bin of the size's class if its head
 * block has the free cookie (not so: the bin is empty, or the block was
 * written to after its free; the slow path tells which); clear the cookie.
 * free: the pointer's 64 KiB region is in the heap's hot slot for its
 * address (regions of chunks already checked through the page map and
 * owned by this heap, and which chunk;
 * anything else takes the slow path, which checks it); the
 * divisibility test says the pointer is a block start; its bit says it is
 * taken (not back in its bitmap, not a block never handed out); the block
 * has no local free cookie (not in the bin already); push it on its bin.
 * No atomic read-modify-write on either path.
 */
#ifndef CORE_ALLOC_H
#define CORE_ALLOC_H

#include "chunk.h"
#include "free.h"
#include "heap.h"
#include "large.h"
#include "pagemap.h"
#include "refill.h"
#include "size_class.h"

static __always_inline void *bitslab_alloc_fast(size_t size)
{
	char *h = (char *)bitslab_tls_heap;
	unsigned int off;
	void *p;

	if (likely(size <= SMALL_FAST_MAX))
		off = size_bin_offset[size + 15];
	else if (size <= SMALL_MAX)
		off = size_bin_offset_big[(size + 127) >> 7];
	else
		return large_malloc(size);
	p = bin_pop_fast((struct heap *)h, (struct bin *)(h + off));
	if (likely(p != NULL))
		return p;
	return heap_alloc_slow(size);
}

/** heap_alloc_class_fast() - a block of class @cls: bin pop, else slow. */
static __always_inline void *heap_alloc_class_fast(unsigned int cls)
{
	struct heap *h = bitslab_tls_heap;
	void *p = bin_pop_fast(h, &h->bins[cls]);

	return likely(p != NULL) ? p : heap_alloc_class(cls);
}

static __always_inline void bitslab_free_fast(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct heap *h = bitslab_tls_heap;
	unsigned long hot = heap_hot_off(h, a);
	unsigned long idx = 0;	/* computed by the checks only */
	struct chunk *c;
	struct bin *b;

	if (unlikely((a & ~CHUNK_MASK) != heap_hot_region(h, hot))) {
		heap_free_cold(h, ptr);
		return;
	}
	c = heap_hot_chunk(h, hot);
	b = heap_hot_bin(h, hot);
	if (IS_ENABLED(CONFIG_MISUSE_CHECKS)) {
		if (unlikely(!heap_hot_block_index(h, hot, b, a, &idx))) {
			heap_free_invalid(c, ptr);
			return;
		}
		if (unlikely(!chunk_bit_taken(c, idx))) {
			heap_free_untaken(c, ptr);
			return;
		}
	}
	heap_free_local(h, c, b, ptr, idx);
}

#endif /* CORE_ALLOC_H */
