/* SPDX-License-Identifier: MIT */
/*
 * free.h - the free slow paths behind bitslab_free_fast() (alloc.h), with
 * the misuse checks, and the owner's push onto a bin they share with it.
 */
#ifndef CORE_FREE_H
#define CORE_FREE_H

#include <bitslab/types.h>

#include "chunk.h"
#include "release.h"

/* Report and abort().  Not declared noreturn on purpose: callers tail-call
 * them, which spares the fast path a stack frame. */
__cold void heap_free_double(struct chunk *c, void *ptr);
__cold void heap_free_invalid(struct chunk *c, void *ptr);
__cold void heap_free_untaken(struct chunk *c, void *ptr);
/* release.c */
void heap_free_overflow(struct heap *h, struct chunk *c, struct bin *b,
			unsigned long idx);

/**
 * heap_free_local() - push block @ptr of @c, a hot chunk of @h whose class
 * has bin @b, already known to be a taken block start, onto @b, after
 * checking it is not in a bin already.  @idx: the block's index in @c,
 * which the misuse checks computed (without them, any value: the bin's
 * overflow computes it).
 */
static __always_inline void heap_free_local(struct heap *h, struct chunk *c,
					    struct bin *b, void *ptr,
					    unsigned long idx)
{
	uintptr_t cookie = free_cookie_local(h);
	void **p = ptr;

	if (IS_ENABLED(CONFIG_MISUSE_CHECKS) &&
	    unlikely((uintptr_t)p[1] == cookie)) {
		heap_free_double(c, ptr);
		return;
	}
	p[1] = (void *)cookie;
	p[0] = b->head;
	b->head = p;
	/* room is at least 1 here: every path that fills a bin leaves one. */
	if (unlikely(--b->room == 0))
		heap_free_overflow(h, c, b, idx);
}

void heap_free_cold(struct heap *h, void *ptr);
bool heap_block_is_free(struct chunk *c, void **p);

#endif /* CORE_FREE_H */
