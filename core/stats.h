/* SPDX-License-Identifier: MIT */
/*
 * stats.h - the counting behind BITSLAB_STATS, bitslab_stats_print_json()
 * and malloc_info().  Nothing here is on a fast path: blocks are counted
 * per size class where they move between a chunk's bitmap and a thread's
 * bin (refill, flush, inbox overflow, exit), remote frees where they leave
 * a thread, chunks where they are created and reclaimed, large blocks where
 * they are mapped and unmapped.  Per-heap counters live in struct heap_stats
 * (owner only, summed on demand); the rest are relaxed atomics here.
 */
#ifndef CORE_STATS_H
#define CORE_STATS_H

#include <stddef.h>
#include <stdio.h>

#include <bitslab/types.h>

struct chunk;

void stats_chunk_add(const struct chunk *c);
void stats_chunk_sub(const struct chunk *c);
void stats_stray_release(unsigned int cls, unsigned int n);

void stats_large_add(size_t map);
void stats_large_sub(size_t map);
void stats_large_resize(size_t old_map, size_t new_map);

/* malloc_info()'s XML on @fp. */
void stats_print_xml(FILE *fp);

/**
 * stats_count_release() - @n blocks of class @cls went back to their
 * chunk's bitmap, released by heap @h (maybe a sentinel, which many threads
 * share: those count in an atomic instead).
 */
static inline void stats_count_release(struct heap *h, unsigned int cls,
				       unsigned int n)
{
	if (h->kind == HEAP_KIND_THREAD || h->kind == HEAP_KIND_GLOBAL)
		h->stats.cls_released[cls] += n;
	else
		stats_stray_release(cls, n);
}

/**
 * stats_add_binned() - add the blocks waiting in @h's bins to @sum, per
 * class.  Racy reads of a live heap: good enough for statistics.
 */
static inline void stats_add_binned(struct heap_stats *sum,
				    const struct heap *h)
{
	unsigned int c;

	for (c = 0; c < NR_SIZE_CLASSES; c++)
		sum->cls_binned[c] += (uint64_t)(h->bins[c].max -
						 h->bins[c].room);
}

#endif /* CORE_STATS_H */
