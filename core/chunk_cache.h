/* SPDX-License-Identifier: MIT */
/*
 * chunk_cache.h - dead chunks kept for reuse; batched mapping and
 * unmapping of chunks.
 */
#ifndef CORE_CHUNK_CACHE_H
#define CORE_CHUNK_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bitslab/types.h>

/*
 * Purging (chunk_cache.c): a pass purges nothing when fewer than
 * CACHE_PURGE_MIN chunks stayed unused since the last one, and makes
 * CACHE_PURGE_CALLS_BURST calls at most, CACHE_PURGE_CALLS_PER_S a second
 * on average.
 */
#define CACHE_PURGE_MIN			16
#define CACHE_PURGE_CALLS_PER_S		100
#define CACHE_PURGE_CALLS_BURST		12

/*
 * A new chunk looks this far into its span's cache, most recent first,
 * for one that last served its own class (chunk_cache.c).
 */
#define CACHE_MATCH_SCAN		64

struct chunk *chunk_cache_get(size_t span, unsigned int cls, bool *zero);
struct chunk *chunk_cache_map(size_t span, size_t coming);
void *chunk_arena_carve(size_t size);
bool chunk_arena_room(size_t span);
bool chunk_cache_release(struct llist_node *list, bool purge);
long chunk_cache_decay(uint64_t now);
size_t chunk_cache_decayed(void);
size_t chunk_cache_drain(void);
long chunk_cache_count(void);
long chunk_cache_mapped(void);
size_t chunk_cache_bytes(void);
size_t chunk_cache_purged(void);

void chunk_cache_fork_prepare(void);
void chunk_cache_fork_parent(void);
void chunk_cache_fork_child(void);

#endif /* CORE_CHUNK_CACHE_H */
