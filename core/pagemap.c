// SPDX-License-Identifier: MIT
/*
 * pagemap.c - installing leaves and marking regions of the page map.
 * The concurrency rules are in pagemap.h.
 */
#include <errno.h>

#include "os.h"
#include "pagemap.h"

_Atomic(_Atomic uint8_t *) pagemap_l1[PM_L1_SIZE];

static _Atomic uint8_t *pagemap_leaf(uintptr_t a)
{
	uintptr_t i = a >> PM_L1_SHIFT;
	_Atomic uint8_t *leaf, *fresh;

	if (i >= PM_L1_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	leaf = load_acquire(&pagemap_l1[i]);
	if (leaf)
		return leaf;
	fresh = os_map(PM_LEAF_SIZE);
	if (!fresh)
		return NULL;
	/*
	 * Release: pairs with the acquire in pagemap_kind().  Acquire on
	 * failure: the winner's leaf is written to next.
	 */
	if (!atomic_compare_exchange_strong_explicit(&pagemap_l1[i], &leaf,
						     fresh, memory_order_acq_rel,
						     memory_order_acquire)) {
		os_unmap(fresh, PM_LEAF_SIZE);	/* another thread won */
		return leaf;
	}
	return fresh;
}

/** pagemap_mark() - set the kind of the region holding @a. */
int pagemap_mark(uintptr_t a, unsigned int kind)
{
	_Atomic uint8_t *leaf = pagemap_leaf(a);

	if (!leaf)
		return -ENOMEM;
	WRITE_ONCE(leaf[(a >> CHUNK_SHIFT) & (PM_LEAF_SIZE - 1)],
		   (uint8_t)kind);
	return 0;
}

/**
 * pagemap_mark_span() - mark a chunk or span at @start: its first region
 * as PM_CHUNK, the others as tails pointing back to it.
 */
int pagemap_mark_span(uintptr_t start, size_t len)
{
	size_t n = ALIGN_UP(len, CHUNK_SIZE) >> CHUNK_SHIFT, k;

	for (k = n; k-- > 0;) {
		unsigned int kind = k ? PM_TAIL | (unsigned int)k : PM_CHUNK;

		if (pagemap_mark(start + (k << CHUNK_SHIFT), kind)) {
			pagemap_clear(start, len);
			return -ENOMEM;
		}
	}
	return 0;
}

/** pagemap_clear() - forget every region in [@start, @start + @len). */
void pagemap_clear(uintptr_t start, size_t len)
{
	uintptr_t a;

	for (a = start; a < start + len; a += CHUNK_SIZE) {
		_Atomic uint8_t *leaf = load_acquire(&pagemap_l1[a >> PM_L1_SHIFT]);

		if (leaf)
			WRITE_ONCE(leaf[(a >> CHUNK_SHIFT) & (PM_LEAF_SIZE - 1)],
				   PM_NONE);
	}
}
