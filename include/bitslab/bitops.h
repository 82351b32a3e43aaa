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
 *                      claim_*  release_*  test_bit  weight  find_next_zero
 *   claim_*              yes      yes        yes      yes       yes
 *   release_*            yes      yes        yes      yes       yes
 *   bitmap_init           -        -          -        -         -
 *
 * Every claim and release is one atomic read-modify-write on one word
 * (fetch_or / fetch_and) that returns the word's previous value, so of
 * several threads racing for a bit exactly one sees it go 0 -> 1, and of
 * several threads releasing a bit exactly one sees it go 1 -> 0: a second
 * release of the same bit is reported, which is how a double free shows up.
 * weight() and find_next_zero() read word by word and are snapshots, exact
 * only while nobody writes.  bitmap_init() needs exclusive access.
 *
 * ABA: none to defend against.  Bits are not pointers and no operation
 * decides on a value it read earlier without re-checking it in the same
 * atomic instruction.
 *
 * Ordering: a claim is an acquire and a release is a release, so whatever a
 * thread wrote into a block before releasing its bit is visible to the
 * thread that claims the bit next.
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

/** ffz() - index of the lowest clear bit; @w must not be ~0UL. */
static __always_inline unsigned long ffz(unsigned long w)
{
	return __ffs(~w);
}

/** fls_long() - 1-based index of the highest set bit, 0 for 0. */
static __always_inline unsigned int fls_long(unsigned long w)
{
	return w ? (unsigned int)(BITS_PER_LONG - __builtin_clzl(w)) : 0;
}

/** ilog2() - floor(log2(@w)); @w must not be 0. */
static __always_inline unsigned int ilog2(unsigned long w)
{
	return fls_long(w) - 1;
}

/** hweight_long() - number of set bits in @w. */
static __always_inline unsigned int hweight_long(unsigned long w)
{
	return (unsigned int)__builtin_popcountl(w);
}

/** is_power_of_2() - true for 1, 2, 4, ...; false for 0. */
static __always_inline bool is_power_of_2(unsigned long n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/** test_bit() - relaxed snapshot of bit @nr. */
static __always_inline bool test_bit(unsigned long nr,
				     _Atomic unsigned long *map)
{
	return READ_ONCE(map[BIT_WORD(nr)]) & BIT_MASK(nr);
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

/** test_and_set_bit_acquire() - claim bit @nr; true if it was already set. */
static __always_inline bool test_and_set_bit_acquire(unsigned long nr,
						     _Atomic unsigned long *map)
{
	return !bitmap_claim_mask(map, BIT_WORD(nr), BIT_MASK(nr));
}

/** test_and_clear_bit_release() - release bit @nr; true if it was set. */
static __always_inline bool test_and_clear_bit_release(unsigned long nr,
						       _Atomic unsigned long *map)
{
	return bitmap_release_mask(map, BIT_WORD(nr), BIT_MASK(nr)) != 0;
}

/* atomics/bitmap.c: multi-word operations. */
void bitmap_init(_Atomic unsigned long *map, unsigned long nbits,
		 unsigned long capacity);
long bitmap_claim_first_zero(_Atomic unsigned long *map, unsigned long nbits);
unsigned long bitmap_find_next_zero(_Atomic unsigned long *map,
				    unsigned long nbits, unsigned long start);
unsigned long bitmap_weight(_Atomic unsigned long *map, unsigned long nbits);

#endif /* BITSLAB_BITOPS_H */
