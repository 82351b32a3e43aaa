// SPDX-License-Identifier: MIT
/*
 * counters.c - the statistics counters that are not a heap's own: live
 * chunks per class, releases into shared chunks, large blocks by size.
 * Relaxed atomics, bumped on slow paths (a chunk set up or reclaimed, a
 * large block mapped or freed); core/stats.c reads them.  A leaf: calls
 * nothing.
 */
#include <bitslab/types.h>

#include "counters.h"

struct class_counts class_counts[NR_SIZE_CLASSES];

void count_chunk_add(const struct chunk *c)
{
	struct class_counts *k = &class_counts[c->cls];

	fetch_add_relaxed(&k->chunks, 1);
	fetch_add_relaxed(&k->blocks, (long)c->nblocks);
	fetch_add_relaxed(&k->bytes, (long)c->span);
}

void count_chunk_sub(const struct chunk *c)
{
	struct class_counts *k = &class_counts[c->cls];

	fetch_sub_relaxed(&k->chunks, 1);
	fetch_sub_relaxed(&k->blocks, (long)c->nblocks);
	fetch_sub_relaxed(&k->bytes, (long)c->span);
}

void count_shared_release(unsigned int cls, unsigned int n)
{
	fetch_add_relaxed(&class_counts[cls].shared, n);
}

struct large_counts large_counts[LARGE_RANGES];

static unsigned int large_range(size_t map)
{
	return map ? 63 - (unsigned int)__builtin_clzl(map) : 0;
}

void count_large_add(size_t map)
{
	struct large_counts *k = &large_counts[large_range(map)];

	fetch_add_relaxed(&k->live, 1);
	fetch_add_relaxed(&k->bytes, (long)map);
	fetch_add_relaxed(&k->allocs, 1);
}

void count_large_sub(size_t map)
{
	struct large_counts *k = &large_counts[large_range(map)];

	fetch_sub_relaxed(&k->live, 1);
	fetch_sub_relaxed(&k->bytes, (long)map);
	fetch_add_relaxed(&k->frees, 1);
}

void count_large_resize(size_t old_map, size_t new_map)
{
	struct large_counts *o = &large_counts[large_range(old_map)];
	struct large_counts *n = &large_counts[large_range(new_map)];

	fetch_sub_relaxed(&o->live, 1);
	fetch_sub_relaxed(&o->bytes, (long)old_map);
	fetch_add_relaxed(&n->live, 1);
	fetch_add_relaxed(&n->bytes, (long)new_map);
}

