/* SPDX-License-Identifier: MIT */
/*
 * shared.h - what heaps share: the per-class lists of unowned chunks (read
 * under RCU), retirement of dead chunks through a grace period, and the
 * cache of retired chunks ready for reuse.
 */
#ifndef CORE_SHARED_H
#define CORE_SHARED_H

#include <stdbool.h>

#include <bitslab/types.h>

void shared_init(void);
void shared_publish(struct chunk *c);
struct chunk *shared_adopt(struct heap *h, unsigned int cls);
void chunk_retire(struct chunk *c);
void chunk_account_stray(struct chunk *c, unsigned int k);
void chunk_reclaim_unshared(struct llist_node *list);
bool shared_reclaim(bool wait);

struct chunk *chunk_cache_get(size_t span);
struct chunk *chunk_cache_map(size_t span);
void chunk_cache_release(struct llist_node *list);
size_t chunk_cache_drain(void);
long chunk_cache_count(void);
size_t chunk_cache_bytes(void);
void chunk_cache_reinit_lock(void);
void shared_lock_all(void);
void shared_unlock_all(void);
void shared_reinit_locks(void);
void shared_cache_lock(void);
void shared_cache_unlock(void);

/* Counters for statistics. */
struct shared_stats {
	long shared_chunks;	/* chunks on shared lists now */
	long retired_pending;	/* retired, waiting for a grace period */
	long grace_periods;	/* synchronize_rcu() calls */
	long chunks_reclaimed;	/* chunks freed after a grace period */
	long cached_chunks;	/* retired chunks kept for reuse */
};
void shared_get_stats(struct shared_stats *st);

#endif /* CORE_SHARED_H */
