// SPDX-License-Identifier: MIT
/*
 * free.c - the free slow paths behind bitslab_free_fast() (alloc.h), with
 * their misuse checks.
 *
 * free() never trusts a pointer.  The page map says whether the pointer's
 * 64 KiB region is ours and what it holds; for a chunk, the divisibility
 * test says whether it is the start of a block, and the block's bit says
 * whether it is taken (handed out, or on its way back): only then is the
 * block's memory touched, and its free cookie says whether it already sits
 * in a bin or an inbox.  A free by the chunk's owner goes onto a bin; any
 * other goes through remote.c.
 */
#include <bitslab/types.h>

#include "chunk.h"
#include "free.h"
#include "heap.h"
#include "large.h"
#include "pagemap.h"
#include "remote.h"
#include "report.h"
#include "secure.h"
#include "thread.h"

static void heap_free_slow(void *ptr, unsigned int kind);

void heap_free_invalid(struct chunk *c, void *ptr)
{
	report_misuse("free of invalid pointer (not the start of a block)",
		      ptr, c->cls);
}

/**
 * heap_bin_corrupt() - block @p at the head of a bin lost its heap's free
 * cookie: the program wrote to it after freeing it (or overwrote the link
 * of the block freed after it, which led here).
 */
__cold __noreturn void heap_bin_corrupt(void **p)
{
	struct chunk *c = chunk_lookup((uintptr_t)p);

	report_misuse("write after free (free block overwritten)", p,
		      c ? (int)c->cls : REPORT_FOREIGN);
}

void heap_free_double(struct chunk *c, void *ptr)
{
	report_misuse("double free", ptr, c->cls);
}

/* A block start whose bit is clear: back in its bitmap, or never out. */
void heap_free_untaken(struct chunk *c, void *ptr)
{
	report_misuse("double free (or free of a block never allocated)", ptr,
		      c->cls);
}

/**
 * heap_block_is_free() - is block start @p of @c free: back in its bitmap
 * (bit clear), or in a bin or on its way to one (free cookie)?
 */
bool heap_block_is_free(struct chunk *c, void **p)
{
	if (unlikely(c->zero))	/* its blocks cannot be read */
		return !chunk_block_taken(c, (uintptr_t)p);
	return !chunk_block_taken(c, (uintptr_t)p) ||
	       block_cookie_free(READ_ONCE(c->owner), (uintptr_t)p[1]);
}

/* A free of a block of @c, one of @h's, that missed the hot slots: the
 * slots may be too few for the chunks this thread frees into (struct
 * hot_slot). */
static noinline void heap_free_own_grow(struct heap *h, struct chunk *c,
					void *ptr, unsigned long idx)
{
	struct bin *b = &h->bins[c->cls];

	heap_hot_grow(h);
	heap_hot_set(h, (uintptr_t)ptr & ~CHUNK_MASK, c, b);
	heap_free_local(h, c, b, ptr, idx);
}

/*
 * The part of heap_free_chunk() after the checks, for heap @h.  The rare
 * calls it makes are tail calls, so that the common ones (a block of
 * another heap, or of this one) save no registers.
 */
static __always_inline void free_chunk_as(struct heap *h, struct chunk *c,
					  void *ptr, unsigned long idx)
{
	struct bin *b;

	/* Never hot, so every free of a secure block comes here. */
	if (unlikely(c->secure)) {
		secure_free(h, c, ptr);
		return;
	}
	if (READ_ONCE(c->owner) != h) {
		heap_free_remote(h, c, ptr);
		return;
	}
	if (unlikely(++h->hot_misses == HOT_GROW_MISSES) &&
	    h->kind == HEAP_KIND_THREAD) {
		heap_free_own_grow(h, c, ptr, idx);
		return;
	}
	b = &h->bins[c->cls];
	heap_hot_set(h, (uintptr_t)ptr & ~CHUNK_MASK, c, b);
	heap_free_local(h, c, b, ptr, idx);
}

/*
 * A thread that frees before it ever allocated (a consumer of blocks
 * made by others) gets its heap now: its remote frees then go out in
 * batches.
 */
static noinline void heap_free_chunk_boot(struct chunk *c, void *ptr,
					  unsigned long idx)
{
	free_chunk_as(heap_ensure(), c, ptr, idx);
}

/**
 * heap_free_chunk() - free a block of @c through the generic path (frees
 * that missed the hot regions).  The block's region of a chunk of this
 * heap becomes hot, in the slot its address picks.  Out of line, so that
 * heap_free_cold() saves no registers on its way to large_free().
 */
static noinline void heap_free_chunk(struct chunk *c, void *ptr)
{
	struct heap *h = bitslab_tls_heap;
	unsigned long idx = 0;	/* computed by the checks only */

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS)) {
		if (!chunk_block_start_index(c, (uintptr_t)ptr, &idx)) {
			heap_free_invalid(c, ptr);
			return;
		}
		if (!chunk_bit_taken(c, idx)) {
			heap_free_untaken(c, ptr);
			return;
		}
	}
	if (unlikely(h->kind == HEAP_KIND_BOOT)) {
		heap_free_chunk_boot(c, ptr, idx);
		return;
	}
	free_chunk_as(h, c, ptr, idx);
}

/**
 * heap_free_cold() - free of a pointer outside @h's hot chunks: look it up
 * in the page map before touching anything.
 */
void heap_free_cold(struct heap *h, void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	unsigned int kind = pagemap_kind(a);

	if (likely(pm_chunk(kind)))
		heap_free_chunk(chunk_of_region(a, kind), ptr);
	else
		heap_free_slow(ptr, kind);
}

/** heap_free_slow() - free of a pointer outside any chunk; @kind is its
 * region's in the page map. */
static void heap_free_slow(void *ptr, unsigned int kind)
{
	if (!ptr)
		return;
	if (pm_large(kind))
		large_free(ptr, kind);
	else
		large_report_unknown("free", ptr);
}
