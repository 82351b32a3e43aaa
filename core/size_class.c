// SPDX-License-Identifier: MIT
/*
 * size_class.c - the size class table and the alignment each class gives.
 * Geometry (spans, block counts, divisibility constants) comes from
 * scripts/gen-size-classes.py; see Documentation/design.rst.
 */
#include "size_class.h"

#define SC(sz, sp, n, fst, bmax, magic, limit)                             \
	{ .size = (sz), .span = (sp), .nblocks = (n), .first = (fst),      \
	  .bin_max = (bmax), .div_magic = (magic), .div_limit = (limit),   \
	  .div_recip = ((1ULL << 40) + (sz) - 1) / (sz) },

const struct size_class size_classes[NR_SIZE_CLASSES] = { SIZE_CLASS_TABLE };

#define CLASS(c) c
#define BIN_OFF(c) (uint16_t)(offsetof(struct heap, bins) + (c) * sizeof(struct bin))

const uint8_t size_class_lookup[SMALL_FAST_MAX / 16 + 1] = {
	SIZE_CLASS_LOOKUP(CLASS)
};

const uint8_t size_class_lookup_big[SMALL_MAX / 128 + 1] = {
	SIZE_CLASS_LOOKUP_BIG(CLASS)
};

const uint16_t size_bin_offset_big[SMALL_MAX / 128 + 1] = {
	SIZE_CLASS_LOOKUP_BIG(BIN_OFF)
};

/* The same lookup giving the offset of the class's bin in struct heap,
 * one entry per byte: entry 16 * g + j (j < 16) is granule g's, so that
 * entry size + 15 is granule (size + 15) / 16's. */
#define BIN_OFF16(c) BIN_OFF(c), BIN_OFF(c), BIN_OFF(c), BIN_OFF(c),	\
		     BIN_OFF(c), BIN_OFF(c), BIN_OFF(c), BIN_OFF(c),	\
		     BIN_OFF(c), BIN_OFF(c), BIN_OFF(c), BIN_OFF(c),	\
		     BIN_OFF(c), BIN_OFF(c), BIN_OFF(c), BIN_OFF(c)

const uint16_t size_bin_offset[SMALL_FAST_MAX + 16] = {
	SIZE_CLASS_LOOKUP(BIN_OFF16)
};

/*
 * Blocks of class c start at chunk + first + k * size, and chunks are
 * CHUNK_SIZE-aligned, so every block is aligned to the largest power of two
 * dividing both first and the size.  The generator rounds first up to the
 * size's own largest power of two (at most SIZE_CLASS_ALIGN_MAX), so for
 * align up to that the first class at or above ALIGN_UP(size, align) whose
 * size is a multiple of align is the answer, and one always exists below
 * SMALL_MAX (a multiple of SIZE_CLASS_ALIGN_MAX).
 */
unsigned int size_class_aligned(size_t size, size_t align)
{
	unsigned int c;

	if (size > SMALL_MAX || align > SIZE_CLASS_ALIGN_MAX)
		return NR_SIZE_CLASSES;
	size = ALIGN_UP(size, align);
	if (size > SMALL_MAX)
		return NR_SIZE_CLASSES;
	for (c = size_to_class(size); c < NR_SIZE_CLASSES; c++) {
		const struct size_class *sc = &size_classes[c];

		if (((sc->size | sc->first) & (align - 1)) == 0)
			return c;
	}
	return NR_SIZE_CLASSES;
}
