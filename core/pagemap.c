// SPDX-License-Identifier: MIT
/*
 * pagemap.c - installing leaves and marking regions of the page map.
 * The concurrency rules are in pagemap.h.
 */
#include <errno.h>

#include "os.h"
#include "pagemap.h"

/* What a mid's entry points to until its leaf is mapped: nothing of ours. */
struct pagemap_leaf pagemap_empty_leaf;

_Atomic(struct pagemap_mid *) pagemap_top[PM_TOP_SIZE];

/*
 * Install in *@slot, if it still holds @empty, a zeroed table of @size
 * bytes whose entries are @fill (NULL: leave them zero).  Return what the
 * slot then holds, or NULL (no memory).
 */
static void *table_install(_Atomic(void *) *slot, void *empty, size_t size,
			   void *fill)
{
	void *cur = load_acquire(slot), *fresh;
	size_t i;

	if (cur != empty)
		return cur;
	fresh = os_map(size);
	if (!fresh)
		return NULL;
	for (i = 0; fill && i < size / sizeof(void *); i++)
		((void **)fresh)[i] = fill;
	/*
	 * Release: pairs with the acquire in pagemap_kind().  Acquire on
	 * failure: the winner's table is written to next.
	 */
	if (!atomic_compare_exchange_strong_explicit(slot, &cur, fresh,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		os_unmap(fresh, size);	/* another thread won */
		return cur;
	}
	return fresh;
}

/* The leaf of @a, mapped if need be, or NULL with errno set. */
static struct pagemap_leaf *pagemap_leaf(uintptr_t a)
{
	struct pagemap_mid *mid;

	if (a >> PM_VA_BITS) {
		errno = ENOMEM;
		return NULL;
	}
	mid = table_install((_Atomic(void *) *)&pagemap_top[a >> PM_MID_SHIFT],
			    NULL, sizeof(*mid), &pagemap_empty_leaf);
	if (!mid)
		return NULL;
	return table_install((_Atomic(void *) *)
			     &mid->leaf[(a >> PM_LEAF_SHIFT) & (PM_MID_SIZE - 1)],
			     &pagemap_empty_leaf, sizeof(struct pagemap_leaf),
			     NULL);
}

/**
 * pagemap_prepare() - map the leaves of [@start, + @len) now.  For a
 * reservation that threads will carve regions from at once: each of them
 * would map the leaf, and all but one unmap it again (seven calls instead
 * of one, in workload wset 4 16 40000 1024).  Return: 0, or -ENOMEM.
 */
int pagemap_prepare(uintptr_t start, size_t len)
{
	uintptr_t a, end = start + len;

	for (a = start; a < end; a = ALIGN_DOWN(a, 1UL << PM_LEAF_SHIFT) +
				     (1UL << PM_LEAF_SHIFT))
		if (!pagemap_leaf(a))
			return -ENOMEM;
	return 0;
}

/** pagemap_mark() - set the kind of the region holding @a. */
int pagemap_mark(uintptr_t a, unsigned int kind)
{
	struct pagemap_leaf *leaf = pagemap_leaf(a);

	if (!leaf)
		return -ENOMEM;
	WRITE_ONCE(leaf->kind[(a >> CHUNK_SHIFT) & (PM_LEAF_SIZE - 1)],
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
		struct pagemap_mid *mid;
		struct pagemap_leaf *leaf;

		if (a >> PM_VA_BITS)
			break;
		mid = load_acquire(&pagemap_top[a >> PM_MID_SHIFT]);
		if (!mid)
			continue;
		leaf = load_acquire(&mid->leaf[(a >> PM_LEAF_SHIFT) &
					       (PM_MID_SIZE - 1)]);
		if (leaf != &pagemap_empty_leaf)
			WRITE_ONCE(leaf->kind[(a >> CHUNK_SHIFT) &
					      (PM_LEAF_SIZE - 1)], PM_NONE);
	}
}
