/* SPDX-License-Identifier: MIT */
/*
 * chunk.h - chunk geometry and the per-block checks used by every free.
 *
 * A chunk of class c is size_classes[c].span bytes at a CHUNK_SIZE-aligned
 * address: the struct chunk header (CHUNK_HDR_SIZE bytes), then nblocks
 * blocks of size bytes.  Block k starts at first + k * size, where first is
 * the address just past the header.
 *
 * Free cookies: word 1 of every free block holds a value derived from the
 * block's address and a per-process secret, so that a second free of the
 * same block finds it there.  FREE_LOCAL marks a block in a bin or released
 * to its bitmap, FREE_REMOTE a block sent towards its owner's inbox and not
 * yet taken.  malloc() zeroes word 1 before handing a block out.
 */
#ifndef CORE_CHUNK_H
#define CORE_CHUNK_H

#include <bitslab/types.h>

#include "pagemap.h"
#include "size_class.h"

extern uintptr_t free_secret_local, free_secret_remote;

static __always_inline uintptr_t free_cookie_local(uintptr_t a)
{
	return a ^ free_secret_local;
}

static __always_inline uintptr_t free_cookie_remote(uintptr_t a)
{
	return a ^ free_secret_remote;
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

struct chunk *chunk_create(unsigned int cls, struct heap *owner);
void chunk_forget(struct chunk *c);
unsigned int chunk_claim(struct chunk *c, unsigned int want, void ***first,
			 void ***last);
void chunk_account_stray(struct chunk *c, unsigned int k);

/* Chunks created and not yet destroyed, for statistics. */
long chunk_live_count(void);

#endif /* CORE_CHUNK_H */
