// SPDX-License-Identifier: MIT
/*
 * bitmap.c - setting up the atomic bitmaps of bitops.h.
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
