// SPDX-License-Identifier: MIT
/*
 * bitmap.c - multi-word operations on the atomic bitmaps of bitops.h.
 * The concurrency table and ordering rules are at the top of bitops.h.
 */
#include <bitslab/bitops.h>

/**
 * bitmap_init() - prepare a bitmap of @capacity bits of which only the
 * first @nbits are usable: those start clear, the rest start set so that
 * no claim ever returns them.  Needs exclusive access.
 */
void bitmap_init(_Atomic unsigned long *map, unsigned long nbits,
		 unsigned long capacity)
{
	unsigned long w, words = BITS_TO_LONGS(capacity);

	for (w = 0; w < words; w++) {
		unsigned long v = 0;

		if (w * BITS_PER_LONG >= nbits)
			v = ~0UL;
		else if ((w + 1) * BITS_PER_LONG > nbits)
			v = ~BITMAP_LAST_WORD_MASK(nbits);
		atomic_init(&map[w], v);
	}
}

/**
 * bitmap_claim_first_zero() - find a clear bit among the first @nbits and
 * set it atomically.  Lock-free: a lost race on a word retries that word.
 * Return: the bit index this caller now owns, or -1 if every bit was set
 * when looked at.
 */
long bitmap_claim_first_zero(_Atomic unsigned long *map, unsigned long nbits)
{
	unsigned long w, words = BITS_TO_LONGS(nbits);

	for (w = 0; w < words; w++) {
		unsigned long valid = ~0UL, v;

		if ((w + 1) * BITS_PER_LONG > nbits)
			valid = BITMAP_LAST_WORD_MASK(nbits);
		v = READ_ONCE(map[w]);
		while ((~v & valid) != 0) {
			unsigned long bit = ffz(v | ~valid);

			if (bitmap_claim_mask(map, w, 1UL << bit))
				return (long)(w * BITS_PER_LONG + bit);
			v = READ_ONCE(map[w]);
		}
	}
	return -1;
}

/**
 * bitmap_find_next_zero() - index of the first clear bit at or after
 * @start among the first @nbits, or @nbits if there is none.  A snapshot:
 * the bit may be taken by the time the caller looks.
 */
unsigned long bitmap_find_next_zero(_Atomic unsigned long *map,
				    unsigned long nbits, unsigned long start)
{
	unsigned long w, v;

	if (start >= nbits)
		return nbits;
	w = BIT_WORD(start);
	v = READ_ONCE(map[w]) | (BIT_MASK(start) - 1);
	for (;;) {
		if (v != ~0UL) {
			unsigned long nr = w * BITS_PER_LONG + ffz(v);

			return nr < nbits ? nr : nbits;
		}
		if (++w >= BITS_TO_LONGS(nbits))
			return nbits;
		v = READ_ONCE(map[w]);
	}
}

/** bitmap_weight() - number of set bits among the first @nbits. */
unsigned long bitmap_weight(_Atomic unsigned long *map, unsigned long nbits)
{
	unsigned long w, n = 0, full = nbits / BITS_PER_LONG;

	for (w = 0; w < full; w++)
		n += hweight_long(READ_ONCE(map[w]));
	if (nbits % BITS_PER_LONG)
		n += hweight_long(READ_ONCE(map[w]) &
				  BITMAP_LAST_WORD_MASK(nbits));
	return n;
}
