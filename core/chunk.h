/* SPDX-License-Identifier: MIT */
/*
 * chunk.h - chunk geometry, the per-block checks used by every free, and
 * the ownership protocol every file that touches a chunk follows.
 *
 * A chunk of class c is size_classes[c].span bytes at a CHUNK_SIZE-aligned
 * address: the struct chunk header (CHUNK_HDR_SIZE bytes), then nblocks
 * blocks of size bytes.  Block k starts at chunk + first + k * size, where
 * first (size_classes[c].first, copied to chunk->first) is CHUNK_HDR_SIZE
 * rounded up to the class's natural alignment: the largest power of two
 * dividing the size, at most SIZE_CLASS_ALIGN_MAX.  So every block of a
 * class whose size is a multiple of a power of two up to that is aligned
 * to it (size_class_aligned()); the bytes between the header and block 0
 * are never touched.
 *
 * Ownership protocol
 * ------------------
 * A chunk is in one of three states:
 *
 *   owned   owner == H, a heap that is not dead.  list is NONE (H's
 *           current chunk of the class), PARTIAL or FULL (H's private
 *           lists, through ->node).
 *   shared  owner == NULL, list == SHARED: on its class's shared list
 *           (through ->shared), read by walkers under RCU.  The chunks of
 *           threads that exited, with blocks still taken.
 *   dead    list == DEAD, nothing taken, on no list but a retire queue
 *           (core/reclaim.c) or the chunk cache.
 *
 * Who may write what:
 *
 *   field           owned by H           shared                 dead
 *   --------------  -------------------  ---------------------  ---------
 *   owner           H -> NULL: H, under  NULL -> H2: adopter,   -
 *                   the class lock       under the class lock
 *   bits: set       H (claim)            nobody                 -
 *   bits: clear,    H (bin flush, inbox  class lock holder      -
 *   nused           blocks)              (orphan release)
 *   list            H                    class lock holder      retirer
 *   node, hint      H                    -                      cache lock
 *
 * where "H" means H's heap lock holder (core/heap.h): H itself in its slow
 * paths, or the idle drainer on H's behalf, which releases inbox blocks,
 * gives up chunks that empty and purges free pages, but never claims and
 * never gives up a chunk in one of H's hot slots.
 *   shared          -                    class lock (writers);  -
 *                                        RCU (readers)
 *
 * and the transitions, each decided by re-checking the state under the
 * class lock, then acting:
 *
 *   owned -> shared   H exits, or a free storm begins in the class
 *                     while idle owners are not drained (idle_ms=0,
 *                     release.c): publishes each chunk with blocks
 *                     taken (shared_publish()); empty ones it retires
 *                     itself.
 *   shared -> owned   a heap needing a chunk walks the shared list under
 *                     RCU alone; for a candidate it takes the class lock
 *                     (still inside the read-side section, so the chunk
 *                     cannot be reused under it), checks list == SHARED
 *                     and clear bits, and adopts (shared_adopt()).
 *   shared -> dead    the release of a shared chunk's last taken block,
 *                     under the class lock (shared_release()).
 *   owned -> dead     H alone (or the idle drainer for it, core/idle.c),
 *                     when its own release empties a chunk it does not
 *                     keep.
 *
 * A thread freeing a block of a chunk it does not own never touches the
 * chunk's count or bits: it sends the block to the owner's inbox (owned),
 * or releases it under the class lock after checking that the chunk is
 * still shared; a chunk adopted in between gets the block forwarded to its
 * new owner.  A chunk is never freed under a thread holding one of its
 * blocks: a taken block keeps nused above 0.  Nothing else keeps a chunk
 * alive: no pins, no reference counts, no "don't delete me" flags.  A dead
 * chunk that was ever shared is reused only after a grace period that
 * began after it last left the shared list, because a walker may still be
 * reading its header (core/reclaim.c).
 *
 * Free cookies: word 1 of a free block that has not gone back to its
 * bitmap says where it is, so that a second free of the same block finds
 * it there: the address of the heap whose bin holds it (local), or that
 * address + 1 for a block sent towards that heap's inbox and not yet taken
 * (remote).  Heaps are 64-byte aligned allocator-internal memory, so no
 * user data holds those values by accident, and the free fast path has the
 * heap in a register already.  A block back in its bitmap is recognised by
 * its clear bit instead, which every free tests first: a block is handed
 * out only while its bit is set, so a free of a block whose bit is clear is
 * a double free or the free of a block never handed out.  malloc() zeroes
 * word 1 before handing a block out.
 */
#ifndef CORE_CHUNK_H
#define CORE_CHUNK_H

#include <stddef.h>

#include <bitslab/types.h>

#include "pagemap.h"
#include "size_class.h"

/* A per-process random value, for the large blocks' cookies. */
extern uintptr_t bitslab_secret;

static __always_inline uintptr_t free_cookie_local(const struct heap *bin_heap)
{
	return (uintptr_t)bin_heap;
}

static __always_inline uintptr_t free_cookie_remote(const struct heap *dest)
{
	return (uintptr_t)dest | 1;
}

/** chunk_of_head() - the chunk of a pointer in a PM_CHUNK region. */
static __always_inline struct chunk *chunk_of_head(uintptr_t a)
{
	return (struct chunk *)(a & ~CHUNK_MASK);
}

/**
 * chunk_of_region() - the chunk holding @a, whose region is a chunk's
 * (pm_chunk(@kind)): its head, or a later region of a span, @kind's count
 * of regions back.  Without a branch between the two: blocks of 4 - 32 KiB
 * lie in either at random, and a branch on which mispredicted every fourth
 * free (cachegrind --branch-sim, workload micro 4096 32768).
 */
static __always_inline struct chunk *chunk_of_region(uintptr_t a,
						     unsigned int kind)
{
	uintptr_t back = (kind & ~PM_TAIL) & -(uintptr_t)(kind >> 7);

	return chunk_of_head(a - (back << CHUNK_SHIFT));
}

/**
 * chunk_of_kind() - the chunk holding @a, whose region the page map says
 * is of @kind, or NULL if that is no chunk's.
 */
static __always_inline struct chunk *chunk_of_kind(uintptr_t a,
						   unsigned int kind)
{
	return likely(pm_chunk(kind)) ? chunk_of_region(a, kind) : NULL;
}

/**
 * chunk_lookup() - the chunk holding @a, or NULL if @a is not inside one of
 * our chunks.  Never touches memory that is not ours.
 */
static __always_inline struct chunk *chunk_lookup(uintptr_t a)
{
	return chunk_of_kind(a, pagemap_kind(a));
}

/**
 * chunk_block_start() - is @a the start of one of @c's blocks?  Lemire's
 * divisibility test on the offset from the first block: one multiply, one
 * compare.  Offsets before the first block wrap to values near 2^32 and fail
 * like offsets past the last block.
 */
static __always_inline bool chunk_block_start(struct chunk *c, uintptr_t a)
{
	uint32_t off = (uint32_t)a - c->first_lo;

	return (uint64_t)off * c->div_magic < c->div_limit;
}

/** chunk_block_index() - index of the block starting at @a. */
static __always_inline unsigned long chunk_block_index(struct chunk *c,
						       uintptr_t a)
{
	uint32_t off = (uint32_t)a - c->first_lo;

	return (unsigned long)(((uint64_t)off * c->div_recip) >> 40);
}

/**
 * chunk_block_start_index() - chunk_block_start(), which also gives the
 * block's index in *@idx: the high half of the same product.  With
 * M = ceil(2^64 / d), a block start k * d times M is k * 2^64 + k * e for
 * e = d * M - 2^64 < d, so the low half is what the divisibility test
 * compares and the high half is k (exact while k * e < 2^64, here always).
 * *@idx is meaningful only if the test passed.
 */
static __always_inline bool chunk_block_start_index(struct chunk *c,
						    uintptr_t a,
						    unsigned long *idx)
{
	uint32_t off = (uint32_t)a - c->first_lo;
	unsigned __int128 prod = (unsigned __int128)off * c->div_magic;

	*idx = (unsigned long)(prod >> 64);
	return (uint64_t)prod < c->div_limit;
}

/** chunk_bit_taken() - is the bit of block @idx of @c set (relaxed)? */
static __always_inline bool chunk_bit_taken(struct chunk *c, unsigned long idx)
{
	const char *base = (const char *)c + offsetof(struct chunk, used);
	unsigned long w = atomic_load_explicit(
		(const _Atomic unsigned long *)(base + BIT_WORD(idx) * sizeof(long)),
		memory_order_relaxed);

	return (w >> (idx % BITS_PER_LONG)) & 1;
}

/**
 * chunk_block_taken() - is the bit of block @a of @c set?  Every block
 * handed out, or on its way back to its chunk, has its bit set.  Any
 * thread, on a chunk it holds a block of (relaxed: the bit of a block this
 * thread may free was set before the block reached it).
 */
static __always_inline bool chunk_block_taken(struct chunk *c, uintptr_t a)
{
	return chunk_bit_taken(c, chunk_block_index(c, a));
}

/** chunk_block() - address of block @idx of @c. */
static __always_inline void **chunk_block(struct chunk *c, unsigned long idx)
{
	return (void **)((char *)c + c->first + idx * c->size);
}

/* Below this many bytes of live chunks, new chunks are short (chunk.c). */
#define CHUNK_SHORT_UNTIL	(512UL << 10)

struct chunk *chunk_create(unsigned int cls, struct heap *owner, bool shorter);
size_t chunk_live_bytes(void);
void chunk_forget(struct chunk *c);
unsigned int chunk_claim(struct chunk *c, unsigned int want, void ***first,
			 void ***last);

/* Chunks created and not yet destroyed, for statistics. */
long chunk_live_count(void);
size_t chunk_live_recent_peak(uint64_t now, uint64_t window_ms);

#endif /* CORE_CHUNK_H */
