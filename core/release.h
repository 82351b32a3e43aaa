/* SPDX-License-Identifier: MIT */
/*
 * release.h - an owner releasing free blocks of its own chunks back to
 * their bitmaps, and giving up chunks that become empty.
 */
#ifndef CORE_RELEASE_H
#define CORE_RELEASE_H

#include <stdbool.h>

#include <bitslab/types.h>

/*
 * Releasing blocks of chunks @h owns, batched: consecutive blocks in one
 * bitmap word cost one fetch_and, consecutive blocks of one chunk one
 * update of its count.  Under @h's heap lock (core/heap.h): its owner, or
 * the idle drainer (@idle), which gives up every chunk that empties and is
 * not hot, the current ones too, and keeps none.
 */
struct release {
	struct heap *h;		/* the owner */
	bool idle;		/* the idle drainer releases for the owner */
	struct chunk *c;	/* chunk of the current run, or NULL */
	unsigned long word;	/* bitmap word of the pending bits */
	unsigned long mask;	/* pending bits of @word */
	unsigned int n;		/* blocks of @c in this run */
};

void release_add(struct release *r, struct chunk *c, void **p);
void release_end(struct release *r);

void heap_flush_bin_of(struct heap *h, struct bin *b);
void heap_release_bins(struct heap *h);
void heap_retire_empty(struct heap *h);
void heap_give_up_chunk(struct heap *h, struct chunk *c);
void heap_give_up_list(struct heap *h, struct cds_list_head *list);
void heap_retire_idle(struct heap *h);

#endif /* CORE_RELEASE_H */
