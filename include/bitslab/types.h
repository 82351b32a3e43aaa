/* SPDX-License-Identifier: MIT */
/*
 * types.h - the allocator's shared data structures.  Every field says who
 * may write it:
 *
 *   const          written once, before the object is published
 *   owner          only the thread owning the heap (or chunk's heap)
 *   atomic: any    any thread, through the wrappers of atomic.h
 *   class lock     under the class lock of the chunk's class (shared.c)
 *   pool lock      under the heap pool lock
 *
 * A chunk's fields change hands with the chunk: see the ownership protocol
 * at the top of core/chunk.h, which says who may write what in each of a
 * chunk's states.  Readers under RCU (threads walking a shared chunk list)
 * may read any field of a chunk; the grace period before reuse keeps that
 * safe.
 */
#ifndef BITSLAB_TYPES_H
#define BITSLAB_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include <urcu/list.h>

#include <bitslab/atomic.h>
#include <bitslab/bitops.h>
#include <bitslab/compiler.h>
#include <bitslab/llist.h>

#include <bitslab/size_classes.h>

#ifndef CONFIG_CHUNK_SHIFT
#define CONFIG_CHUNK_SHIFT 16
#endif

#define CHUNK_SHIFT	CONFIG_CHUNK_SHIFT
#define CHUNK_SIZE	(1UL << CHUNK_SHIFT)
#define CHUNK_MASK	(CHUNK_SIZE - 1)
/* The shortest chunk: a chunk's header is always at a CHUNK_SIZE boundary,
 * but while the program is small the chunk may end before the region does
 * (core/chunk.c). */
#define CHUNK_SPAN_MIN	(CHUNK_SIZE / 8)
#define CHUNK_MAX_BLOCKS 4096
#define CHUNK_MAGIC	0x6b6e6863u	/* "chnk" */
#define MIN_ALIGN	16

struct heap;

/**
 * struct size_class - geometry shared by every chunk of one class (const).
 */
struct size_class {
	uint32_t size;		/* block size in bytes */
	uint32_t span;		/* bytes per chunk: 1..16 times CHUNK_SIZE */
	uint32_t nblocks;	/* blocks from first on */
	uint32_t first;		/* offset of block 0: CHUNK_HDR_SIZE rounded
				 * up to the size's natural alignment */
	uint32_t bin_max;	/* per-thread bin capacity */
	uint64_t div_magic;	/* divisibility test, see core/chunk.h */
	uint64_t div_limit;
	uint64_t div_recip;	/* block index = off * recip >> 40 */
};

enum chunk_list {
	CHUNK_LIST_NONE,	/* owned: current chunk of its class */
	CHUNK_LIST_PARTIAL,	/* owned: owner's list, has clear bits */
	CHUNK_LIST_FULL,	/* owned: owner's list, every bit set */
	CHUNK_LIST_SHARED,	/* shared: class's shared list, no owner */
	CHUNK_LIST_DEAD,	/* dead: nothing taken; retire queue or cache */
};

/**
 * struct chunk - header at the start of every chunk (or span).  It fills
 * exactly CHUNK_HDR_SIZE bytes; the blocks start at ->first, the header
 * size rounded up to the class's alignment (size_classes[].first).
 */
struct chunk {
	/* Line 0: read by every free, rarely written. */
	_Atomic(struct heap *) owner;	/* owner -> NULL (publish) and NULL ->
					 * adopter, both under the class lock;
					 * read by any thread */
	uint64_t div_magic;		/* const */
	uint64_t div_limit;		/* const */
	uint64_t div_recip;		/* const */
	uint32_t first_lo;		/* const: low 32 bits of block 0 */
	uint32_t size;			/* const: block size */
	uint16_t cls;			/* const: size class */
	uint16_t nblocks;		/* const */
	uint32_t magic;			/* const: CHUNK_MAGIC */
	_Atomic long nused;		/* taken bits: owner, or class lock
					 * while shared; read by any thread */
	uint32_t first;			/* const: offset of block 0 */
	/* In line 0 rather than line 1: a free through the page map
	 * (another thread's block, most often) and the owner taking such a
	 * block from its inbox read them and nothing else of line 1. */
	bool secure;			/* const: made in secure mode; its
					 * blocks take core/secure.c's paths */
	bool zero;			/* const: holds malloc(0)'s blocks in
					 * secure mode, no access to them */

	/* Line 1: bookkeeping of the owner or of the class's shared list. */
	struct cds_list_head node ____cacheline_aligned;
					/* owner: its partial/full list;
					 * cache lock: the chunk cache */
	/*
	 * The class's shared list, class lock for writers, RCU for readers,
	 * and for nothing else: a reader may still stand on a chunk that was
	 * just unlinked and follow its next pointer, so this node may only
	 * ever be linked into the same list again (it then leads to the
	 * list's tail), never into another list before a grace period.
	 */
	struct cds_list_head shared;
	struct llist_node retire;	/* retirer: retire queue, batches */
	union {
		uint64_t stamp;		/* dead, cache lock: when it was
					 * cached, ms */
		uint64_t unshared_gp;	/* class lock, when it leaves a shared
					 * list: the reclaim helper's grace
					 * periods by then (reclaim_gp_seq()) */
	};
	uint32_t span;			/* const: bytes mapped */
	uint32_t hint;			/* owner: first word with clear bits */
	uint8_t list;			/* owner, or class lock while shared:
					 * enum chunk_list */
	bool kept_empty;		/* owner: counted in heap_class.nempty */
	bool was_shared;		/* class lock: set when published; a
					 * retirement then waits for a grace
					 * period, unless one began after
					 * unshared_gp.  Cleared by
					 * chunk_create. */
	bool idle_dirty;		/* heap lock (core/heap.h): blocks were
					 * released into it since the idle
					 * drainer last purged its free pages */

	/* Lines 2..9: one bit per block, set = taken (handed out, or on its
	 * way back in a bin, inbox or outbox).  Set by the owner; cleared by
	 * the owner, or under the class lock while shared; read by any. */
	_Atomic unsigned long used[CHUNK_MAX_BLOCKS / 64] ____cacheline_aligned;
};

BUILD_BUG_ON(sizeof(struct chunk) != CHUNK_HDR_SIZE);

/**
 * struct bin - a thread's cache of free blocks of one class: a LIFO list
 * threaded through word 0 of the blocks.  owner only.
 */
struct bin {
	void **head;		/* first free block, or NULL */
	int32_t room;		/* frees left before the bin overflows */
	int32_t max;		/* capacity (room when empty) */
	uint64_t div_magic;	/* const: the class's (free fast path) */
	/* owner: the class is in a free storm whose frees may take the
	 * storm free (heap_free_overflow(), core/release.c) */
	uint64_t storm;		/* 32 bytes */
};

/** struct heap_class - a heap's chunks of one class.  owner only. */
struct heap_class {
	struct chunk *cur;		/* refills claim from this one first */
	struct cds_list_head partial;	/* owned chunks with clear bits */
	struct cds_list_head full;	/* owned chunks without */
	uint32_t nchunks;		/* owned chunks, cur included */
	uint32_t nempty;		/* empty ones kept for reuse */
	uint32_t flushes;		/* bin overflows since its last refill;
					 * from STORM_FLUSHES on, frees of the
					 * class go straight back (release.c) */
	int32_t bin_base;		/* the bin's capacity before it grew
					 * (core/refill.c) */
};

enum heap_state {
	HEAP_FREE,	/* in the pool, no thread */
	HEAP_LIVE,	/* owned by a running thread */
	HEAP_DEAD,	/* its thread exited (or did not survive a fork) */
};

/* The heap lock's word (core/heap.h). */
enum heap_slow {
	SLOW_FREE,		/* nobody holds it */
	SLOW_OWNER,		/* the owner, in a slow path */
	SLOW_HELPER,		/* the idle drainer */
	SLOW_HELPER_WAITED,	/* the idle drainer, and the owner waits */
};

enum heap_kind {
	HEAP_KIND_THREAD,	/* a thread's own heap */
	HEAP_KIND_GLOBAL,	/* the locked fallback heap */
	HEAP_KIND_BOOT,		/* sentinel: thread without a heap yet */
	HEAP_KIND_NESTED,	/* sentinel: inside a call out of bitslab */
	HEAP_KIND_EXITED,	/* sentinel: thread past its heap's exit */
};

/*
 * Large bins: a thread's large blocks of up to LBIN_CLASSES' largest
 * mapping (72 pages: 256 KiB of payload and more), freed by it and kept,
 * mapped and marked, for its next request of the class (core/large.c).
 * Classes of 9 to 72 pages, eight per doubling.  owner only.
 */
#define LBIN_CLASSES 25
#define LBIN_RANGE_FIRST 15	/* 9 to 72 pages: 2^15 to 2^19 bytes */
#define LBIN_RANGES 4

#define LBIN_PER_CLASS 4

struct lbin {
	void *blocks[LBIN_PER_CLASS];	/* user pointers, [0, count) */
	unsigned int count;
	/* bytes of mapping of each, for statistics: written with the slot,
	 * summed by range only when statistics are asked for */
	uint32_t map[LBIN_PER_CLASS];
};

/**
 * struct heap_stats - counters of the slow paths.  owner only.  Summed over
 * every heap on demand (heap_sum_stats()); never touched by a fast path.
 */
struct heap_stats {
	uint64_t refills;	/* bin refills */
	uint64_t claimed;	/* blocks claimed from bitmaps */
	uint64_t flushes;	/* bin overflows */
	uint64_t released;	/* blocks released to bitmaps */
	uint64_t remote_frees;	/* blocks sent to other heaps */
	uint64_t remote_pushes;	/* CAS pushes that carried them */
	uint64_t remote_taken;	/* blocks taken back from the inbox */
	uint64_t chunks_new;	/* chunks created or taken from the cache */
	uint64_t chunks_adopted;	/* chunks adopted from shared lists */
	uint64_t chunks_retired;	/* empty chunks given up */
	uint64_t large_reused;	/* large blocks served from the cache */
	/* Per size class, for core/stats.c: */
	uint64_t cls_claimed[NR_SIZE_CLASSES];	/* blocks out of bitmaps */
	uint64_t cls_released[NR_SIZE_CLASSES];	/* blocks back into them */
	uint64_t cls_remote[NR_SIZE_CLASSES];	/* blocks sent to others */
	uint64_t cls_binned[NR_SIZE_CLASSES];	/* in sums only: in bins */
	uint64_t large_binned;		/* in sums only: in large bins */
	uint64_t large_binned_bytes;	/* in sums only: their mappings */
	/* In sums only: the same by range of mapping size (as in
	 * core/counters.c), from 2^LBIN_RANGE_FIRST bytes. */
	uint64_t lbin_range_blocks[LBIN_RANGES];
	uint64_t lbin_range_bytes[LBIN_RANGES];
};

#define OUTBOX_MAX 64
#define SECURE_QUARANTINE 64	/* freed blocks held back (secure mode) */

/* No hot region: not CHUNK_SIZE-aligned, so never equal to a masked pointer
 * (not even NULL's). */
#define HOT_NONE ((uintptr_t)1)

/*
 * The free fast path's cache of this heap's chunks, by 64 KiB region:
 * slot (region >> CHUNK_SHIFT) % HOT_SLOTS says that a free has already
 * checked a pointer of that region through the page map (so the region is
 * part of a chunk that is ours, live, and owned by this heap), which chunk
 * that is and the bin of its class.  Keyed by region rather than by chunk,
 * so that the later regions of a span of several (the classes above 4 KiB)
 * hit as its first does: keyed by chunk, half the frees of 4 - 32 KiB
 * blocks missed, each a mispredicted branch and a page-map walk.
 * Neighbouring regions take different slots; 256 slots (8 KiB) cover 16
 * MiB of consecutive chunks, the current chunks of every class of a
 * program using them all at once (with 32 slots, the 24 classes above 4
 * KiB, whose spans are up to 16 regions, evicted each other's).  128 slots
 * covered them for one thread, but two threads carving their chunks from
 * the same arena interleave them over twice the address space: in
 * workload micro 4096 32768 2, one thread's frees missed its slots a
 * tenth of the time in some runs (perf: 12 % of its samples in
 * heap_free_chunk() and heap_free_cold(), the other's none), and the
 * process took 0.053 s against 0.048 with 256 slots (perf stat, 25 runs;
 * tcmalloc 0.048).
 *
 * A heap starts with HOT_SLOTS_MIN slots in use and grows to HOT_SLOTS
 * once HOT_GROW_MISSES frees of its own blocks have missed them: a working
 * set spread over more than 16 MiB of chunks (workload wset 1 8 160000
 * 1024: one free in five missed 256 slots, each a mispredicted branch and
 * some 145 instructions more).  The slots beyond the first HOT_SLOTS_MIN
 * are never touched before, so a heap that does not grow does not pay
 * for them in resident memory.
 */
#define HOT_SLOTS	1024
#define HOT_SLOTS_MIN	256
#define HOT_GROW_MISSES	4096

struct hot_slot {
	uintptr_t region;	/* the region's address, or HOT_NONE */
	struct chunk *chunk;	/* the chunk the region is part of */
	struct bin *bin;	/* the bin of chunk's class */
	/* The chunk's own halves of its divisibility test (its div_magic is
	 * its class's, in the bin): a free that hits the slot reads no line
	 * of the chunk's header but its bitmap word. */
	uint32_t first_lo;	/* chunk->first_lo */
	uint32_t div_limit;	/* chunk->div_limit */
};

/* The free fast path's mask of a slot's byte offset (struct heap's
 * hot_mask) with @n slots in use. */
#define HOT_MASK(n)	(((n) - 1) * sizeof(struct hot_slot))
#define HOT_SLOT_SHIFT	5	/* log2(sizeof(struct hot_slot)) */

/* The slots a heap starts with; the others are never read before it grows. */
#define HOT_SLOTS_NONE { [0 ... HOT_SLOTS_MIN - 1] = { HOT_NONE, NULL, NULL, 0, 0 } }

/**
 * struct heap - per-thread allocation state.  Heaps live in a pool that is
 * never unmapped, so a stale pointer to a heap (held by a thread that read
 * a chunk's owner just before that owner exited) always points at a heap.
 *
 * Remote frees: a thread freeing a block of a chunk owned by heap H pushes
 * it onto H->inbox, a Treiber stack (llist).  Consecutive frees towards the
 * same heap are first chained in the freeing heap's outbox and pushed as one
 * batch.  H takes its whole inbox with one exchange when a bin runs dry.
 */
struct heap {
	struct bin bins[NR_SIZE_CLASSES];	/* owner */
	/* The hot slots in use: HOT_MASK(HOT_SLOTS_MIN or HOT_SLOTS).  The
	 * owner writes it under the heap lock, the drainer reads it under
	 * it. */
	unsigned long hot_mask;
	uint32_t hot_misses;		/* owner: frees of its blocks that
					 * missed the slots */

	/* Written by other threads: a line of its own. */
	struct llist_head inbox ____cacheline_aligned;	/* atomic: any */
	_Atomic int state;		/* atomic: any; enum heap_state */

	/* Outbox: blocks freed here, owned by out_owner.  owner only. */
	struct heap *out_owner ____cacheline_aligned;
	struct llist_node *out_first, *out_last;
	unsigned int out_count;
	/*
	 * The heap lock (core/heap.h), on the owner's line rather than the
	 * inbox's, which pushers write: the owner's compare-and-swap at
	 * each slow path then finds its line in its own cache.  The idle
	 * drainer's try-lock touches it once per look at most.
	 */
	_Atomic int slow;		/* the owner, or the idle drainer's
					 * try-lock; enum heap_slow */
	unsigned int slow_depth;	/* owner: heap_lock() nesting */
	uint32_t slow_seq;		/* owner, under the heap lock: times
					 * it took the lock */
	uint32_t idle_seen;		/* drainer, under the heap lock:
					 * slow_seq at its last look */
	_Atomic bool idle_dirty;	/* heap lock: a chunk of it is
					 * idle_dirty; read by the drainer */

	uint8_t kind;			/* const: enum heap_kind */
	uint8_t empty_keep;		/* owner: empty chunks kept per class */
	struct heap_class cls[NR_SIZE_CLASSES];	/* owner */
	struct heap_stats stats;	/* owner */
	/* Secure mode (core/secure.c): the bins of secure blocks, which
	 * no fast path sees; the blocks freed last, still taken, a ring;
	 * and the state of the heap's random numbers.  owner */
	struct bin sbins[NR_SIZE_CLASSES];
	void **quar[SECURE_QUARANTINE];
	unsigned int qpos;
	uint64_t rng;
	size_t bin_grown;		/* owner: bytes the bins grew by */
	struct lbin lbins[LBIN_CLASSES];	/* owner */
	size_t lbin_bytes;		/* owner: mappings in lbins, the budget */
	size_t lbin_limit;		/* owner: the most lbin_bytes may be */
	uint32_t lbin_nonempty;		/* owner: bit i set iff lbins[i] holds
					 * a block */
	uint32_t lbin_fresh;		/* owner: bin-class blocks mapped
					 * anew (core/large.c, batches) */
	struct heap *pool_next;		/* pool lock: free heaps */
	struct heap *all_next;		/* pool lock: every heap ever made */

	/* Frees into these chunks skip the page map (see struct hot_slot).
	 * A slot is reset whenever this heap gives its chunk up.  owner.
	 * Last, so that the slots a heap has not grown into are the last
	 * pages of its mapping, never touched, and so that the sentinel
	 * heaps, which never grow, have only HOT_SLOTS_MIN: a thread's heap
	 * has HOT_SLOTS (HEAP_MAPPED_SIZE). */
	struct hot_slot hot[] ____cacheline_aligned;
};

/* The bytes a thread's heap takes: struct heap and all its hot slots. */
#define HEAP_MAPPED_SIZE (sizeof(struct heap) + HOT_SLOTS * sizeof(struct hot_slot))

#endif /* BITSLAB_TYPES_H */
