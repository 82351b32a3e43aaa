/* SPDX-License-Identifier: MIT */
/*
 * counters.h - the counting behind BITSLAB_STATS, bitslab_stats_print_json()
 * and malloc_info().  Nothing here is on a fast path: blocks are counted
 * per size class where they move between a chunk's bitmap and a thread's
 * bin (refill, flush, inbox overflow, exit), remote frees where they leave
 * a thread, chunks where they are set up and reclaimed, large blocks where
 * they are mapped and unmapped.  Per-heap counters live in struct
 * heap_stats (owner only, summed on demand by heap_sum_stats()); the rest
 * are relaxed atomics in counters.c.  core/stats.c reads both: it sits on
 * top, and nothing below calls it.
 */
#ifndef CORE_COUNTERS_H
#define CORE_COUNTERS_H

#include <stddef.h>

#include <bitslab/types.h>

struct class_counts {
	_Atomic long chunks;		/* live chunks of the class */
	_Atomic long blocks;		/* their blocks */
	_Atomic long bytes;		/* their spans */
	_Atomic unsigned long shared;	/* blocks released into shared chunks */
};

/* Large blocks by mapping size: range r holds 2^r to 2^(r+1) - 1 bytes. */
#define LARGE_RANGES 64

struct large_counts {
	_Atomic long live;
	_Atomic long bytes;		/* mapped by the live ones */
	_Atomic unsigned long allocs;
	_Atomic unsigned long frees;
};

extern struct class_counts class_counts[NR_SIZE_CLASSES];
extern struct large_counts large_counts[LARGE_RANGES];

void count_chunk_add(const struct chunk *c);
void count_chunk_sub(const struct chunk *c);
void count_shared_release(unsigned int cls, unsigned int n);

void count_large_add(size_t map);
void count_large_sub(size_t map);
void count_large_resize(size_t old_map, size_t new_map);

/**
 * count_binned() - add the blocks waiting in @h's bins, per class, to
 * @sum (for the "in use" column: taken in the bitmaps, but not the
 * program's), and the large blocks in its large bins (live mappings that
 * are not the program's).
 */
static inline void count_binned(struct heap_stats *sum, const struct heap *h)
{
	unsigned int c;

	for (c = 0; c < NR_SIZE_CLASSES; c++)
		sum->cls_binned[c] += (uint64_t)(h->bins[c].max -
						 h->bins[c].room);
	sum->large_binned_bytes += h->lbin_bytes;
	for (c = 0; c < LBIN_CLASSES; c++) {
		const struct lbin *b = &h->lbins[c];
		unsigned int k, n = b->count;	/* racy: heap_sum_stats() */

		for (k = 0; k < n && k < LBIN_PER_CLASS; k++) {
			uint32_t map = b->map[k];
			unsigned int r;

			if (map < (1U << LBIN_RANGE_FIRST))
				continue;	/* a slot being written */
			r = 31 - (unsigned int)__builtin_clz(map) -
			    LBIN_RANGE_FIRST;
			if (r >= LBIN_RANGES)
				r = LBIN_RANGES - 1;
			sum->large_binned++;
			sum->lbin_range_blocks[r]++;
			sum->lbin_range_bytes[r] += map;
		}
	}
}

#endif /* CORE_COUNTERS_H */
