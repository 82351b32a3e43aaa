/* SPDX-License-Identifier: MIT */
/*
 * idle.h - the inboxes of idle owners, drained on their behalf by the
 * reclaim helper (core/idle.c; the protocol is at the top of heap.h).
 */
#ifndef CORE_IDLE_H
#define CORE_IDLE_H

#include <stdbool.h>
#include <stdint.h>

struct heap;

long idle_scan(void);
void idle_kick(void);
void idle_disarm(void);
bool idle_due(uint64_t due, uint64_t now);

/*
 * For tests: called by the drainer, holding @h's lock, between two batches
 * of @h's inbox (so that a test can have the owner wake, exit or fork
 * there).  NULL otherwise.
 */
extern void (*idle_batch_hook)(struct heap *h);

struct idle_stats {
	long looks;		/* idle_scan() passes */
	long drains;		/* inboxes drained for an idle owner */
	long purges;		/* page runs given back in owned chunks */
};
void idle_get_stats(struct idle_stats *st);

/* The drainer's share of the counters of struct heap_stats, which are the
 * owners' own (only the drainer writes these, under drain_lock). */
void idle_count_released(unsigned int cls, unsigned int n);
void idle_count_taken(void);
void idle_count_retired(void);
struct heap_stats;
void idle_stats_add(struct heap_stats *sum);

void idle_fork_prepare(void);
void idle_fork_parent(void);
void idle_fork_child(void);

#endif /* CORE_IDLE_H */
