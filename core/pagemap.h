/* SPDX-License-Identifier: MIT */
/*
 * pagemap.h - what each CHUNK_SIZE region of the address space holds, as
 * far as the allocator knows: nothing of ours, the head of a chunk (its
 * header is at the region's start), a later region of a multi-chunk span, or
 * the user pointer of a large block.
 *
 * Three levels: pagemap_top (static, one pointer per 256 GiB of the 47-bit
 * user address space, 4 KiB, NULL where nothing is mapped) points to mids
 * (1024 pointers, 8 KiB), which point to leaves of one byte per region
 * (4096 regions, 256 MiB, in 4 KiB).  Mids and leaves are mapped on demand
 * and never freed; a mid's entries point to pagemap_empty_leaf (static,
 * all PM_NONE) until their leaf is mapped, so a lookup is three loads and
 * one branch.  (Two levels took a 256 KiB first level and 64 KiB leaves:
 * more address space than a small program's chunks.  A static empty mid
 * as well would spare the branch, at the price of 1,536 relocations.)
 *
 * Concurrency: pagemap_kind() may run at any time, with anything.  A region's
 * byte is written only by the thread creating or destroying what is there;
 * a reader that can legitimately ask about a region (it holds a pointer the
 * allocator handed out) is ordered after the creation by that hand-out.
 */
#ifndef CORE_PAGEMAP_H
#define CORE_PAGEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include <bitslab/types.h>

enum pagemap_kind {
	PM_NONE = 0,		/* not ours */
	PM_CHUNK = 1,		/* chunk header at the region's start */
	PM_LARGE = 2,		/* holds a large block's user pointer at an
				 * offset of at least LARGE_HDR */
	PM_LARGE0 = 3,		/* holds one at offset 0 (huge alignment);
				 * its header ends the region before */
	PM_LARGEC = 0x40,	/* | c: holds a large block's header c lines
				 * into the region, its user pointer just
				 * after (core/large.c, colour) */
	PM_TAIL = 0x80,		/* | n: span whose header is n regions back */
};

#define PM_LARGEC_MASK	0xc0
#define PM_LARGEC_LINES	64

/** pm_chunk() - is a region of @kind a chunk's, its head or a later one?
 * One test, no branch between the two (see chunk_of_region()). */
static __always_inline bool pm_chunk(unsigned int kind)
{
	return (kind == PM_CHUNK) | (kind >> 7);
}

/** pm_large() - does a region of @kind hold a large block's pointer? */
static __always_inline bool pm_large(unsigned int kind)
{
	return (kind & PM_LARGEC_MASK) == PM_LARGEC || kind == PM_LARGE ||
	       kind == PM_LARGE0;
}

#define PM_VA_BITS	47
#define PM_LEAF_BITS	12
#define PM_MID_BITS	10
#define PM_LEAF_SHIFT	(CHUNK_SHIFT + PM_LEAF_BITS)
#define PM_MID_SHIFT	(PM_LEAF_SHIFT + PM_MID_BITS)
#define PM_LEAF_SIZE	(1UL << PM_LEAF_BITS)
#define PM_MID_SIZE	(1UL << PM_MID_BITS)
#define PM_TOP_SIZE	(1UL << (PM_VA_BITS - PM_MID_SHIFT))

struct pagemap_leaf {
	_Atomic uint8_t kind[PM_LEAF_SIZE];
};

struct pagemap_mid {
	_Atomic(struct pagemap_leaf *) leaf[PM_MID_SIZE];
};

extern _Atomic(struct pagemap_mid *) pagemap_top[PM_TOP_SIZE];
extern struct pagemap_leaf pagemap_empty_leaf;

/** pagemap_kind() - the enum pagemap_kind of the region holding @a. */
static __always_inline unsigned int pagemap_kind(uintptr_t a)
{
	struct pagemap_mid *mid;
	struct pagemap_leaf *leaf;

	if (unlikely(a >> PM_VA_BITS))
		return PM_NONE;
	/* Acquire: pairs with the release that installed the table. */
	mid = load_acquire(&pagemap_top[a >> PM_MID_SHIFT]);
	if (unlikely(!mid))
		return PM_NONE;
	leaf = load_acquire(&mid->leaf[(a >> PM_LEAF_SHIFT) & (PM_MID_SIZE - 1)]);
	return READ_ONCE(leaf->kind[(a >> CHUNK_SHIFT) & (PM_LEAF_SIZE - 1)]);
}

int pagemap_prepare(uintptr_t start, size_t len);
int pagemap_mark_span(uintptr_t start, size_t len);
int pagemap_mark(uintptr_t a, unsigned int kind);
void pagemap_clear(uintptr_t start, size_t len);

#endif /* CORE_PAGEMAP_H */
