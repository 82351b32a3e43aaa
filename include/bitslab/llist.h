/* SPDX-License-Identifier: MIT */
/*
 * llist.h - lock-less singly linked list (a Treiber stack), after the
 * kernel's include/linux/llist.h.
 *
 * Producers push one node or a pre-linked batch with a single
 * compare-and-swap on the head; the consumer takes the whole list at once
 * with an atomic exchange.  Nodes are embedded in the objects being listed
 * (for remote frees, in the freed block itself).
 *
 * Concurrency (which operations may run at the same time on one head):
 *
 *                      llist_add   llist_add_batch   llist_del_all
 *   llist_add             yes           yes               yes
 *   llist_add_batch       yes           yes               yes
 *   llist_del_all         yes           yes               yes
 *   init_llist_head        -             -                 -
 *
 * llist_add_batch_mb() and llist_del_all_mb() may run wherever their plain
 * forms may.  llist_empty() is a snapshot and may run with anything.
 * Walking the list returned by llist_del_all() needs no synchronisation:
 * that list belongs to the caller.
 *
 * ABA: there is no single-node pop, only take-all, so a head value can never
 * be re-installed under a concurrent CAS in a way that loses nodes: a push
 * links its node(s) in front of whatever head it read, and its CAS fails if
 * the head changed meanwhile, whether or not it changed back.
 *
 * Ordering: a push publishes with release, llist_del_all() takes with
 * acquire, so the consumer sees every write the producer made to a node
 * (and to the object around it) before pushing it.
 */
#ifndef BITSLAB_LLIST_H
#define BITSLAB_LLIST_H

#include <stdbool.h>
#include <stddef.h>

#include <bitslab/atomic.h>
#include <bitslab/compiler.h>

struct llist_node {
	struct llist_node *next;	/* owner of the node only, until pushed */
};

struct llist_head {
	_Atomic(struct llist_node *) first;	/* atomic: any thread */
};

#define LLIST_HEAD_INIT { NULL }

/** init_llist_head() - make @head empty; needs exclusive access. */
static inline void init_llist_head(struct llist_head *head)
{
	atomic_init(&head->first, NULL);
}

/** llist_empty() - snapshot: true if @head held no node when looked at. */
static inline bool llist_empty(struct llist_head *head)
{
	return READ_ONCE(head->first) == NULL;
}

static __always_inline bool __llist_add_batch(struct llist_node *first,
					      struct llist_node *last,
					      struct llist_head *head,
					      memory_order order)
{
	struct llist_node *old = READ_ONCE(head->first);

	do {
		last->next = old;
	} while (!atomic_compare_exchange_weak_explicit(
			&head->first, &old, first, order, memory_order_relaxed));
	return old == NULL;
}

/**
 * llist_add_batch() - push the chain @first..@last (already linked through
 * ->next) onto @head with one successful CAS.
 * Return: true if the list was empty before, so the caller can wake or
 * notify a consumer only on the empty -> non-empty edge.
 * Release: pairs with the acquire in llist_del_all().
 */
static inline bool llist_add_batch(struct llist_node *first,
				   struct llist_node *last,
				   struct llist_head *head)
{
	return __llist_add_batch(first, last, head, memory_order_release);
}

/** llist_add() - push one node; see llist_add_batch(). */
static inline bool llist_add(struct llist_node *node, struct llist_head *head)
{
	return llist_add_batch(node, node, head);
}

/**
 * llist_del_all() - take every node off @head at once.
 * Return: the former list, most recently pushed first, or NULL.
 * Acquire: pairs with the release in llist_add_batch().
 */
static inline struct llist_node *llist_del_all(struct llist_head *head)
{
	return xchg_acquire(&head->first, NULL);
}

/**
 * llist_add_batch_mb() - llist_add_batch() with a sequentially consistent
 * CAS, for a Dekker handshake: a push followed by a seq_cst load of a flag,
 * against a seq_cst store of that flag followed by llist_del_all_mb().
 * Either the loader sees the flag or the taker sees the push.
 */
static inline bool llist_add_batch_mb(struct llist_node *first,
				      struct llist_node *last,
				      struct llist_head *head)
{
	return __llist_add_batch(first, last, head, memory_order_seq_cst);
}

/** llist_del_all_mb() - llist_del_all(), sequentially consistent. */
static inline struct llist_node *llist_del_all_mb(struct llist_head *head)
{
	return xchg(&head->first, NULL);
}

#endif /* BITSLAB_LLIST_H */
