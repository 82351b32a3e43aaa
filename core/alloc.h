/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - the fast paths of malloc and free, inlined into the exported
 * entry points of api.c and malloc.c.  Each has one unlikely() exit into an
 * out-of-line slow path in heap.c, which refills or flushes and does the
 * rest.
 *
 * malloc: pop the calling thread's bin of the size's class; clear the free
 * cookie.  free: the page map says the pointer's region is a chunk head; the
 * divisibility test says it is a block start; the chunk's owner is the
 * calling thread's heap; the block has no local free cookie (no double
 * free); push it on the bin.  No atomic read-modify-write on either path.
 */
#ifndef CORE_ALLOC_H
#define CORE_ALLOC_H

#include "chunk.h"
#include "heap.h"
#include "pagemap.h"
#include "size_class.h"

static __always_inline void *bitslab_alloc_fast(size_t size)
{
	struct heap *h = bitslab_tls_heap;

	if (likely(size <= SMALL_FAST_MAX)) {
		void *p = bin_pop(&h->bins[size_class_lookup[(size + 15) >> 4]]);

		if (likely(p != NULL))
			return p;
	}
	return heap_alloc_slow(size);
}

/** heap_alloc_class_fast() - a block of class @cls: bin pop, else slow. */
static __always_inline void *heap_alloc_class_fast(unsigned int cls)
{
	void *p = bin_pop(&bitslab_tls_heap->bins[cls]);

	return likely(p != NULL) ? p : heap_alloc_class(cls);
}

static __always_inline void bitslab_free_fast(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	struct heap *h;
	struct chunk *c;
	struct bin *b;
	void **p = ptr;

	if (unlikely(pagemap_kind(a) != PM_CHUNK)) {
		heap_free_slow(ptr);
		return;
	}
	c = chunk_of_head(a);
	if (unlikely(!chunk_block_start(c, a)))
		heap_free_invalid(c, ptr);
	h = bitslab_tls_heap;
	if (unlikely(READ_ONCE(c->owner) != h)) {
		heap_free_remote(h, c, ptr);
		return;
	}
	if (unlikely((uintptr_t)p[1] == free_cookie_local(a)))
		heap_free_double(c, ptr);
	p[1] = (void *)free_cookie_local(a);
	b = &h->bins[c->cls];
	p[0] = b->head;
	b->head = p;
	if (unlikely(--b->room <= 0))
		heap_flush_bin(h, c->cls);
}

#endif /* CORE_ALLOC_H */
