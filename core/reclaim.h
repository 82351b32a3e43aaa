/* SPDX-License-Identifier: MIT */
/*
 * reclaim.h - dead chunks through a grace period, off the user's calls.
 */
#ifndef CORE_RECLAIM_H
#define CORE_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include <bitslab/types.h>

void reclaim_retire(struct chunk *c);
void reclaim_unshared(struct llist_node *list);
bool reclaim_now(void);
long reclaim_hungry(void);
unsigned long reclaim_gp_seq(void);
void reclaim_decay_kick(bool urgent);
void reclaim_heaps_gone(void);

/*
 * large_cache_decay() - give back large mappings cached longer than
 * opt_decay_ms, at @now_ms; called by the reclaim helper on every pass,
 * with no lock held.  Return: ms until the next one expires, -1 if none is
 * cached.  A weak default in reclaim.c does nothing; a process-wide large
 * cache defines it, and calls reclaim_decay_kick(false) when it caches a
 * mapping.
 */
long large_cache_decay(uint64_t now_ms);

void reclaim_fork_prepare(void);
void reclaim_fork_parent(void);
void reclaim_fork_child(void);
void reclaim_fork_child_threaded(void);

struct reclaim_stats {
	long pending;		/* retired, waiting for a grace period */
	long grace_periods;	/* synchronize_rcu() calls */
	long reclaimed;		/* dead chunks handed to the chunk cache */
	long unwaited;		/* of which without a grace period of their
				 * own (no walkers, or one had passed) */
	bool helper;		/* the reclaim thread is running */
};
void reclaim_get_stats(struct reclaim_stats *st);

#endif /* CORE_RECLAIM_H */
