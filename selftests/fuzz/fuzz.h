/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - the byte code the fuzzer's harness (fuzz_api.c) interprets, and
 * the encoders the seed generator (gen_corpus.c) writes it with.  One
 * header for both, so a seed means what its generator meant.
 *
 * An input is a sequence of operations.  Each starts with an opcode byte
 * (taken modulo FOP_COUNT, so every byte string is a valid input) followed
 * by its arguments; an input that ends in the middle of an operation reads
 * zeros for the missing bytes.  Arguments:
 *
 *   slot       1 byte, modulo FUZZ_SLOTS: which of the harness's block
 *              records the operation works on
 *   size       3 bytes: a range selector and a 16-bit value (fuzz_size())
 *   align      1 byte: a power of two 2^(b % 23), or for FOP_BAD a value
 *   cache      1 byte, modulo FUZZ_CACHES
 */
#ifndef SELFTESTS_FUZZ_H
#define SELFTESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_SLOTS	64
#define FUZZ_CACHES	4
#define FUZZ_MAX_LEN	4096	/* -max_len; the replay refuses longer files */

enum fuzz_op {
	FOP_MALLOC,		/* slot size */
	FOP_CALLOC,		/* slot n(1 byte) size */
	FOP_REALLOC,		/* slot size */
	FOP_FREE,		/* slot */
	FOP_FREE_SIZED,		/* slot: free_sized / free_aligned_sized */
	FOP_ALIGNED_ALLOC,	/* slot align size: bitslab_aligned_alloc */
	FOP_MEMALIGN,		/* slot align size: memalign's core */
	FOP_USABLE,		/* slot */
	FOP_CACHE_CREATE,	/* cache size align ctor(1 byte) */
	FOP_CACHE_ALLOC,	/* slot cache */
	FOP_CACHE_DESTROY,	/* cache */
	FOP_HANDOFF,		/* slot: the second thread checks and frees it */
	FOP_REMOTE_ALLOC,	/* slot size: the second thread allocates it */
	FOP_REMOTE_REALLOC,	/* slot size: the second thread reallocs it */
	FOP_SYNC,		/* wait until the second thread is idle */
	FOP_TRIM,		/* bitslab_trim() */
	FOP_BAD,		/* kind(1 byte) slot value(2 bytes) */
	FOP_RESTART,		/* the second thread exits, a new one starts */
	FOP_COUNT
};

/* Kinds of FOP_BAD: a request that must fail, and how. */
enum fuzz_bad {
	FBAD_MALLOC_HUGE,	/* NULL, ENOMEM */
	FBAD_CALLOC_OVERFLOW,	/* NULL, ENOMEM */
	FBAD_CALLOC_HUGE,	/* no overflow, > PTRDIFF_MAX: NULL, ENOMEM */
	FBAD_REALLOC_HUGE,	/* NULL, ENOMEM, the block intact */
	FBAD_ALIGN_NOT_POW2,	/* aligned_alloc: NULL, EINVAL */
	FBAD_ALIGN_HUGE_SIZE,	/* aligned_alloc: NULL, ENOMEM */
	FBAD_ALIGN_VAST,	/* 2^30..2^63: NULL/ENOMEM or aligned */
	FBAD_NULLS,		/* free(NULL), usable_size(NULL) == 0, ... */
	FBAD_COUNT
};

/*
 * Size selectors: the first byte of a size, modulo 32.  Most sizes are
 * small; a large block costs its page faults, so they are the fewest, and
 * log-uniform within their range.
 */
#define FSZ_TINY	0	/* 0..128 (even selectors below FSZ_CLASS) */
#define FSZ_SMALL	1	/* 0..1024 (odd selectors below FSZ_CLASS) */
#define FSZ_CLASS	18	/* 18-22: 1025..32768, the classes above 1 KiB */
#define FSZ_MID		23	/* 23-24: 4 KiB..256 KiB */
#define FSZ_LARGE	25	/* 256 KiB..4 MiB if bit 15 of the value is set,
				 * else as FSZ_MID */
#define FSZ_POW2	26	/* 26-27: 2^k +- 16, up to 4 MiB */
#define FSZ_STEP	28	/* 28-31: multiples of 16 up to 32 KiB */

/**
 * fuzz_size() - the size that selector @sel and value @v stand for.
 */
static inline size_t fuzz_size(uint8_t sel, uint16_t v)
{
	unsigned int e;

	switch (sel % 32) {
	case FSZ_CLASS ... FSZ_CLASS + 4:
		return 1025 + v % 31744;
	case FSZ_LARGE:
		if (v & 0x8000) {
			/* 256 KiB << e plus up to as much again. */
			e = v & 3;
			return ((size_t)(256 << 10) << e) +
			       ((size_t)((v >> 2) & 0x1fff) << (e + 5));
		}
		__attribute__((fallthrough));
	case FSZ_MID ... FSZ_MID + 1:
		/* 4 KiB << e plus up to as much again. */
		e = (v & 7) % 6;
		return ((size_t)4096 << e) + ((size_t)((v >> 3) & 0xfff) << e);
	case FSZ_POW2:
	case FSZ_POW2 + 1: {
		size_t s = (size_t)1 << (v % 23);
		int d = (int)((v >> 8) % 33) - 16;

		return d < 0 && (size_t)-d > s ? 0 : s + d;
	}
	case FSZ_STEP ... FSZ_STEP + 3:
		return (size_t)(v % 2049) * 16;
	default:
		return sel & 1 ? v % 1025 : v % 129;
	}
}

/**
 * fuzz_enc_size() - write the three bytes that make fuzz_size() give
 * @size at @out: exactly up to 32 KiB, within 1% below up to 4 MiB (where
 * larger sizes are clamped).  Return: 3.
 */
static inline size_t fuzz_enc_size(uint8_t *out, size_t size)
{
	uint8_t sel;
	unsigned int v, e;

	if (size <= 128) {
		sel = FSZ_TINY;
		v = size;
	} else if (size <= 1024) {
		sel = FSZ_SMALL;
		v = size;
	} else if (size <= 32768) {
		sel = FSZ_CLASS;
		v = size - 1025;
	} else if (size < (256 << 10)) {
		sel = FSZ_MID;
		for (e = 5; ((size_t)4096 << e) > size; e--)
			;
		v = e | ((size - ((size_t)4096 << e)) >> e << 3);
	} else {
		sel = FSZ_LARGE;
		if (size >= (4 << 20) - 128)
			size = (4 << 20) - 129;
		for (e = 3; ((size_t)(256 << 10) << e) > size; e--)
			;
		v = 0x8000 | e |
		    ((size - ((size_t)(256 << 10) << e)) >> (e + 5) << 2);
	}
	out[0] = sel;
	out[1] = v & 0xff;
	out[2] = v >> 8;
	return 3;
}

#endif /* SELFTESTS_FUZZ_H */
