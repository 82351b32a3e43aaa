/* SPDX-License-Identifier: MIT */
/*
 * chunk.h - chunk geometry and the per-block checks used by every free.
 *
 * A chunk of class c is size_classes[c].span bytes at a CHUNK_SIZE-aligned
 * address: the struct chunk header (CHUNK_HDR_SIZE bytes), then nblocks
 * blocks of size bytes.  Block k starts at first + k * size, where first is
 * the address just past the header.
 *
 * Free cookies: word 1 of a free block that has not gone back to its
 * bitmap says where it is, so that a second free of the same block finds
 * it there: the address of the heap whose bin holds it (local), or that
 * address + 1 for a block sent towards that heap's inbox and not yet taken
 * (remote).  Heaps are 64-byte aligned allocator-internal memory, so no
 * user data holds those values by accident, and the free fast path has the
 * heap in a register already.  A block back in its bitmap is recognised by
 * its clear bit instead.  malloc() zeroes word 1 before handing a block out.
 */
#ifndef CORE_CHUNK_H
#define CORE_CHUNK_H

#include <bitslab/types.h>

#include "pagemap.h"
#include "size_class.h"

/* A per-process random value, for the large blocks' cookies. */
extern uintptr_t bitslab_secret;

static __always_inline uintptr_t free_cookie_local(const struct heap *bin_heap)
{
	return (uintptr_t)bin_heap;
}

static __always_inline uintptr_t free_cookie_remote(const struct heap *dest)
{
	return (uintptr_t)dest | 1;
}

/** chunk_of_head() - the chunk of a pointer in a PM_CHUNK region. */
static __always_inline struct chunk *chunk_of_head(uintptr_t a)
{
	return (struct chunk *)(a & ~CHUNK_MASK);
}

/**
 * chunk_lookup() - the chunk holding @a, or NULL if @a is not inside one of
 * our chunks.  Never touches memory that is not ours.
 */
static __always_inline struct chunk *chunk_lookup(uintptr_t a)
{
	unsigned int kind = pagemap_kind(a);

	if (likely(kind == PM_CHUNK))
		return chunk_of_head(a);
	if (kind & PM_TAIL)
		return chunk_of_head(a - ((uintptr_t)(kind & ~PM_TAIL) << CHUNK_SHIFT));
	return NULL;
}

/**
 * chunk_block_start() - is @a the start of one of @c's blocks?  Lemire's
 * divisibility test on the offset from the first block: one multiply, one
 * compare.  Offsets before the first block wrap to values near 2^32 and fail
 * like offsets past the last block.
 */
static __always_inline bool chunk_block_start(struct chunk *c, uintptr_t a)
{
	uint32_t off = (uint32_t)a - c->first_lo;

	return (uint64_t)off * c->div_magic < c->div_limit;
}

/** chunk_block_index() - index of the block starting at @a. */
static __always_inline unsigned long chunk_block_index(struct chunk *c,
						       uintptr_t a)
{
	uint32_t off = (uint32_t)a - c->first_lo;

	return (unsigned long)(((uint64_t)off * c->div_recip) >> 40);
}

/** chunk_block() - address of block @idx of @c. */
static __always_inline void **chunk_block(struct chunk *c, unsigned long idx)
{
	return (void **)((char *)c + CHUNK_HDR_SIZE + idx * c->size);
}

struct chunk *chunk_create(unsigned int cls, struct heap *owner, bool shorter);
void chunk_forget(struct chunk *c);
unsigned int chunk_claim(struct chunk *c, unsigned int want, void ***first,
			 void ***last);

/* Chunks created and not yet destroyed, for statistics. */
long chunk_live_count(void);

#endif /* CORE_CHUNK_H */
