/* SPDX-License-Identifier: MIT */
/*
 * size_class.h - mapping a request size to its size class.  The table of
 * classes is generated (include/bitslab/size_classes.h).
 */
#ifndef CORE_SIZE_CLASS_H
#define CORE_SIZE_CLASS_H

#include <stddef.h>

#include <bitslab/types.h>

extern const struct size_class size_classes[NR_SIZE_CLASSES];
extern const uint8_t size_class_lookup[SMALL_FAST_MAX / 16 + 1];
extern const uint8_t size_class_lookup_big[SMALL_MAX / 128 + 1];
/*
 * The offset of the bin of a size's class in struct heap, for every size up
 * to SMALL_FAST_MAX, indexed by size + 15: one load with no arithmetic on
 * the size (the + 15 goes into the load's displacement).
 */
extern const uint16_t size_bin_offset[SMALL_FAST_MAX + 16];

/* The same for sizes up to SMALL_MAX, indexed by (size + 127) / 128. */
extern const uint16_t size_bin_offset_big[SMALL_MAX / 128 + 1];

/**
 * size_bin() - the offset of @size's bin in struct heap.  @size must be
 * at most SMALL_MAX.  (malloc's fast path does the same inline.)
 */
static __always_inline unsigned int size_bin(size_t size)
{
	if (likely(size <= SMALL_FAST_MAX))
		return size_bin_offset[size + 15];
	return size_bin_offset_big[(size + 127) >> 7];
}

/**
 * size_to_class() - the smallest class whose blocks hold @size bytes.
 * @size must be at most SMALL_MAX; 0 maps to the 16-byte class.
 */
static __always_inline unsigned int size_to_class(size_t size)
{
	if (likely(size <= SMALL_FAST_MAX))
		return size_class_lookup[(size + 15) >> 4];
	/* Every class above SMALL_FAST_MAX is a multiple of 128 bytes. */
	return size_class_lookup_big[(size + 127) >> 7];
}

/**
 * size_class_aligned() - the smallest class whose blocks hold @size bytes
 * and all start at a multiple of @align (a power of two).  There is one
 * for every @size up to SMALL_MAX and @align up to SIZE_CLASS_ALIGN_MAX.
 * Return: NR_SIZE_CLASSES if there is none, then the caller maps a large
 * block.
 */
unsigned int size_class_aligned(size_t size, size_t align);

#endif /* CORE_SIZE_CLASS_H */
