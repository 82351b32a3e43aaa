/* SPDX-License-Identifier: MIT */
/*
 * bitops.h - single-word bit helpers and the atomic multi-word bitmap that
 * every chunk uses to record which of its blocks are taken.
 *
 * A bitmap is an array of _Atomic unsigned long; bit n lives in word
 * n / BITS_PER_LONG at position n % BITS_PER_LONG.  A set bit means "taken".
 *
 * Concurrency (which operations may run at the same time on one bitmap):
 *
 *                      bitmap_claim_mask   bitmap_release_mask
 *   bitmap_claim_mask         yes                 yes
 *   bitmap_release_mask       yes                 yes
 *   bitmap_init                -                   -
 *
 * Every claim and release is one atomic read-modify-write on one word
 * (fetch_or / fetch_and) that returns the word's previous value, so of
 * several threads racing for a bit exactly one sees it go 0 -> 1, and of
 * several threads releasing a bit exactly one sees it go 1 -> 0: a second
 * release of the same bit is reported, which is how a double free shows up.
 * bitmap_init() needs exclusive access.
 *
 * ABA: none to defend against.  Bits are not pointers and no operation
 * decides on a value it read earlier without re-checking it in the same
 * atomic instruction.
 *
 * Ordering: a claim is an acquire and a release is a release, so whatever a
 * thread wrote into a block before releasing its bit is visible to the
 * thread that claims the bit next.  (The allocator's chunk_claim() writes
 * the blocks' first words before its fetch_or: what orders those writes
 * after the releaser's is the lock both hold, the owner's heap lock or the
 * class lock, core/chunk.h.)
 */
#ifndef BITSLAB_BITOPS_H
#define BITSLAB_BITOPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <bitslab/atomic.h>
#include <bitslab/compiler.h>

#define BITS_PER_LONG	  ((unsigned long)(sizeof(long) * CHAR_BIT))
#define BIT_WORD(nr)	  ((nr) / BITS_PER_LONG)
#define BIT_MASK(nr)	  (1UL << ((nr) % BITS_PER_LONG))
#define BITS_TO_LONGS(n)  (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define BITMAP_LAST_WORD_MASK(n) (~0UL >> (-(n) & (BITS_PER_LONG - 1)))

/** __ffs() - index of the lowest set bit; @w must not be 0. */
static __always_inline unsigned long __ffs(unsigned long w)
{
	return (unsigned long)__builtin_ctzl(w);
}

/** ilog2() - floor(log2(@w)); @w must not be 0. */
static __always_inline unsigned int ilog2(unsigned long w)
{
	return (unsigned int)(BITS_PER_LONG - 1 - __builtin_clzl(w));
}

/** hweight_long() - number of set bits in @w. */
static __always_inline unsigned int hweight_long(unsigned long w)
{
	return (unsigned int)__builtin_popcountl(w);
}

/**
 * bitmap_claim_mask() - atomically set the bits of @mask in word @w.
 * Return: the bits of @mask this caller turned from 0 to 1 (it now owns
 * them); bits of @mask that were already set are not in the result.
 * Acquire: pairs with the release in bitmap_release_mask().
 */
static __always_inline unsigned long
bitmap_claim_mask(_Atomic unsigned long *map, unsigned long w,
		  unsigned long mask)
{
	return mask & ~fetch_or_acquire(&map[w], mask);
}

/**
 * bitmap_release_mask() - atomically clear the bits of @mask in word @w.
 * Return: the bits of @mask that were set before; a bit of @mask missing
 * from the result was already clear (released twice).
 * Release: pairs with the acquire in bitmap_claim_mask().
 */
static __always_inline unsigned long
bitmap_release_mask(_Atomic unsigned long *map, unsigned long w,
		    unsigned long mask)
{
	return mask & fetch_and_release(&map[w], ~mask);
}

/* atomics/bitmap.c */
void bitmap_init(_Atomic unsigned long *map, unsigned long nbits,
		 unsigned long capacity);

#endif /* BITSLAB_BITOPS_H */
