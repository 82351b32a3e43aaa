// SPDX-License-Identifier: MIT
/*
 * llist.c - out-of-line helpers for lists taken off a lock-less llist head.
 * These work on a private list (the result of llist_del_all()), so they need
 * no synchronisation; the concurrency table is in llist.h.
 */
#include <bitslab/llist.h>

/**
 * llist_reverse_order() - reverse a private list, turning the newest-first
 * order of llist_del_all() into the order the nodes were pushed in.
 */
struct llist_node *llist_reverse_order(struct llist_node *head)
{
	struct llist_node *prev = NULL;

	while (head) {
		struct llist_node *next = head->next;

		head->next = prev;
		prev = head;
		head = next;
	}
	return prev;
}

/** llist_count() - number of nodes on a private list. */
size_t llist_count(struct llist_node *head)
{
	size_t n = 0;

	for (; head; head = head->next)
		n++;
	return n;
}
