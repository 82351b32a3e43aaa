/* SPDX-License-Identifier: MIT */
/*
 * pagemap.h - what each CHUNK_SIZE region of the address space holds, as
 * far as the allocator knows: nothing of ours, the head of a chunk (its
 * header is at the region's start), a later region of a multi-chunk span, or
 * the user pointer of a large block.
 *
 * Two levels: pagemap_l1 (static, one pointer per 4 GiB of the 47-bit user
 * address space: 256 KiB, where one per GiB took 1 MiB of the process's
 * address space for nothing) points to leaves of one byte per region (64
 * KiB each), mapped on demand and never freed.
 *
 * Concurrency: pagemap_kind() may run at any time, with anything.  A region's
 * byte is written only by the thread creating or destroying what is there;
 * a reader that can legitimately ask about a region (it holds a pointer the
 * allocator handed out) is ordered after the creation by that hand-out.
 */
#ifndef CORE_PAGEMAP_H
#define CORE_PAGEMAP_H

#include <stdint.h>

#include <bitslab/types.h>

enum pagemap_kind {
	PM_NONE = 0,		/* not ours */
	PM_CHUNK = 1,		/* chunk header at the region's start */
	PM_LARGE = 2,		/* holds a large block's user pointer at an
				 * offset of at least LARGE_HDR */
	PM_LARGE0 = 3,		/* holds one at offset 0 (huge alignment);
				 * its header ends the region before */
	PM_TAIL = 0x80,		/* | n: span whose header is n regions back */
};

#define PM_VA_BITS	47
#define PM_L1_SHIFT	32
#define PM_L1_SIZE	(1UL << (PM_VA_BITS - PM_L1_SHIFT))
#define PM_LEAF_SIZE	(1UL << (PM_L1_SHIFT - CHUNK_SHIFT))

extern _Atomic(_Atomic uint8_t *) pagemap_l1[PM_L1_SIZE];

/** pagemap_kind() - the enum pagemap_kind of the region holding @a. */
static __always_inline unsigned int pagemap_kind(uintptr_t a)
{
	uintptr_t i = a >> PM_L1_SHIFT;
	_Atomic uint8_t *leaf;

	if (unlikely(i >= PM_L1_SIZE))
		return PM_NONE;
	/* Acquire: pairs with the release that installed the leaf. */
	leaf = load_acquire(&pagemap_l1[i]);
	if (unlikely(!leaf))
		return PM_NONE;
	return READ_ONCE(leaf[(a >> CHUNK_SHIFT) & (PM_LEAF_SIZE - 1)]);
}

int pagemap_mark_span(uintptr_t start, size_t len);
int pagemap_mark(uintptr_t a, unsigned int kind);
void pagemap_clear(uintptr_t start, size_t len);

#endif /* CORE_PAGEMAP_H */
