// SPDX-License-Identifier: MIT
/*
 * large.c - blocks beyond SMALL_MAX get a mapping of their own.
 *
 * The mapping starts at a CHUNK_SIZE boundary and spans whole pages (not
 * whole chunks: a 40 KiB block mapped alone maps 44 KiB, not 64; one of a
 * batch, or split from a cached piece, holds the whole regions it spans,
 * see large_map_batch()).  A 64-byte header sits
 * just before the user pointer; the region of the user pointer is marked
 * PM_LARGE (pointer at offset >= 64 in its region) or PM_LARGE0 (offset 0,
 * for alignments of CHUNK_SIZE or more; the header then ends the previous
 * region, which the mapping covers whole).  Only that region is marked:
 * the rest of the mapping, and whatever the kernel maps after its last page
 * in the same region (never one of ours: our mappings start at region
 * boundaries), reads PM_NONE.  A PM_LARGE region is ours from its first
 * byte, where the mapping starts; that first word holds the user pointer's
 * offset (it is the header's first field when the header starts the
 * mapping).  So free() reads first that word, which is always mapped, then
 * the header only if the pointer is at that offset (so the header lies in
 * the mapping), and accepts the pointer only if the header's cookie
 * matches it: interior pointers, stale pointers and foreign pointers that
 * share a region with a short mapping are rejected without touching
 * memory that may be unmapped.
 *
 * Colour.  Blocks that malloc's alignment serves (the large bins' blocks
 * among them) are marked PM_LARGEC | c instead: the header sits c lines
 * (of 64) into the mapping's first page and the user pointer just after
 * it, c a hash of the mapping's address as far as the slack past the
 * block allows.  free() then needs no word of the region's: the page-map
 * byte says where the header is, and the pointer must be right after it
 * (the first page is always mapped).  With every header and first line
 * at the same offsets from a 64 KiB boundary, those of all a thread's
 * binned and live blocks fell into two sets of the first-level cache
 * (cachegrind, blocks of 32 - 256 KiB: 3.3 misses an operation, tcmalloc
 * 2.1).  A block taken off a bin for a size its colour leaves no room for
 * moves to a colour that does (large_recolour()).
 *
 * Freed mappings are kept in a process-wide cache, under large_lock, and
 * reused for later blocks: the pages are already faulted in, so a program
 * that replaces big buffers pays neither the mmap and munmap nor a page
 * fault per page (a fresh 16 MiB buffer is 4,096 faults).  A request takes
 * the smallest cached mapping that holds it (the excess stays cached as a
 * piece of its own); when none does, a fresh aligned reservation is filled
 * with cached pieces moved there with mremap(), largest first: the pages
 * move, nothing is copied, and only what the pieces do not cover faults in.
 * A growing realloc fills its new tail the same way; blocks under
 * LARGE_FILL_MIN only take a piece that holds them.  Bounded three ways:
 * at most max(LARGE_CACHE_MIN, half the rest of what the allocator has
 * mapped) and LARGE_CACHE_SLOTS pieces (the oldest go first); nothing
 * stays longer than LARGE_CACHE_MS unused (large_cache_decay(), and every
 * touch of the cache); and nothing is kept when the address space is tight
 * (os_vm_tight()), when malloc_trim() or a refused mapping drains it.
 *
 * Secure mode (core/secure.c) places a block so that its end, the size
 * asked for, lies as close to the end of its last page as its alignment
 * lets it (within 15 bytes for malloc's 16), and maps one more page after
 * it, PROT_NONE: an overflow that runs past the page faults at once, and
 * the few bytes of slack before it hold secure mode's slack pattern,
 * checked on free.  The user pointer then sits up to a page into the
 * mapping, still in its first region (off < CHUNK_SIZE), and the mapping's
 * first word holds its offset as for any aligned block, so free() finds
 * the header as above.  Its usable size is the size asked for.  Such
 * blocks never come from the cache, and never go to it: a freed one is
 * turned into a PROT_NONE reservation of the same addresses (its pages go
 * back to the kernel) and kept in a FIFO quarantine, under large_lock, of
 * at most LARGE_QUAR_SLOTS blocks and LARGE_QUAR_BYTES of address space;
 * the oldest is unmapped when it is full, all of it on malloc_trim() or a
 * refused mapping.  A read or write after free faults, and the addresses
 * are not handed out again while the block is there.  A second free finds
 * no page-map mark and is told from a wild free by the recent frees
 * (RECENT >= LARGE_QUAR_SLOTS): nothing of the block is read.
 *
 * Lock order: large_lock is a leaf (Documentation/design.rst): nothing is
 * taken under it, nothing is mapped or unmapped under it.  Concurrency of
 * blocks: a block is freed by whoever swaps its cookie to 0 first; a
 * second free loses and is reported.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <bitslab/types.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "pagemap.h"
#include "options.h"
#include "prof.h"
#include "reclaim.h"
#include "refill.h"
#include "report.h"
#include "secure.h"
#include "counters.h"

#define LARGE_HDR	64
#define LARGE_HDR_SHIFT	6
#define LARGE_MAX	((size_t)PTRDIFF_MAX - 2 * CHUNK_SIZE)
#define RECENT		64

/*
 * The cache's bounds.  At most 1/LARGE_CACHE_SHARE of the rest of what the
 * allocator has mapped: a program replacing buffers of random sizes frees
 * one while it allocates the next, and what the cache holds rises and
 * falls by a buffer at a time; every time it runs dry, a buffer's worth of
 * pages faults in again, and every time it overflows, a buffer's worth is
 * unmapped.  In the bigbuf workload (20 buffers of 5 - 25 MiB), a quarter
 * faulted 930 MiB in again over 2,000 replacements, a half 450 MiB, for
 * the same peak RSS (398 MiB; glibc's is 470 MiB, tcmalloc's 575 MiB).
 * At least LARGE_CACHE_MIN, so that a small program replacing one big
 * buffer still reuses it.  What stays unused goes back after
 * LARGE_CACHE_MS anyway.
 */
#define LARGE_CACHE_SHARE	2
#define LARGE_CACHE_MIN		(32UL << 20)
#define LARGE_CACHE_SLOTS	64
#define LARGE_CACHE_MS		1000
/* Pieces smaller than this are unmapped, not kept. */
#define LARGE_PIECE_MIN		CHUNK_SIZE
/* Blocks of this size or more may be filled with several pieces. */
#define LARGE_FILL_MIN		(1UL << 20)
/* Fresh blocks of a large bin class: mapped this many bytes at a time,
 * from a thread's this-many-th on (large_map_batch()). */
#define LARGE_BATCH		(1UL << 20)
#define LARGE_BATCH_AFTER	2
/*
 * A block filled from cached pieces may be several kernel mappings (VMAs):
 * the kernel need not merge moved pages with their new neighbours.  Each
 * block and piece carries an estimate of its parts (the sum of what went
 * into it; a split shares them out by size), and a block of more than this
 * many is unmapped when freed, not cached, so the process's mapping count
 * stays bounded.
 */
#define LARGE_PARTS_MAX		64

struct large {
	uintptr_t off;			/* const while live: user pointer -
					 * map_start (first: the word at the
					 * mapping's start when off is 64) */
	uintptr_t map_start;		/* const while live */
	size_t map_size;		/* the block's owner (the user) */
	size_t usable;			/* bytes from the user pointer on */
	_Atomic uintptr_t cookie;	/* atomic: large_cookie() while live */
	size_t asked;			/* the size last asked for (malloc,
					 * realloc): the user */
	uint32_t parts;			/* the user: kernel mappings, at most */
	uint32_t guard;			/* const: bytes of PROT_NONE guard
					 * ending the mapping (secure mode) */
	uint32_t align_shift;		/* const: log2 of the alignment asked
					 * for, 0 for malloc's (secure mode) */
	int32_t bin;			/* const while live: the large bin
					 * class it may go to, -1 for none */
};

BUILD_BUG_ON(sizeof(struct large) != LARGE_HDR);

static _Atomic long live_blocks;
static _Atomic size_t live_bytes;

/* Recently freed large blocks, to tell a double free from a wild free. */
static _Atomic uintptr_t recent[RECENT];
static _Atomic unsigned int recent_pos;

static uintptr_t large_cookie(uintptr_t p)
{
	return p ^ bitslab_secret ^ 0x6c617267ULL;
}

static struct large *large_hdr(uintptr_t p)
{
	return (struct large *)(p - LARGE_HDR);
}

/**
 * large_get_stats() - the large blocks the program holds, and their
 * mappings' bytes: the live ones less those waiting in threads' large
 * bins (summed as statistics are, racily for live threads).
 */
void large_get_stats(long *blocks, size_t *bytes)
{
	struct heap_stats sum;
	long threads;

	heap_sum_stats(&sum, &threads);
	large_live_less_binned(&sum, blocks, bytes);
}

/**
 * large_live_less_binned() - the live large blocks and bytes less those
 * in the threads' large bins that @sum counted (heap_sum_stats()).  A
 * thread that flushed its bins after @sum was taken would make it less
 * than nothing: never below 0.
 */
void large_live_less_binned(const struct heap_stats *sum, long *blocks,
			    size_t *bytes)
{
	long b = READ_ONCE(live_blocks) - (long)sum->large_binned;
	size_t live = READ_ONCE(live_bytes);

	*blocks = b > 0 ? b : 0;
	*bytes = live > sum->large_binned_bytes ?
		 live - sum->large_binned_bytes : 0;
}

/* ---- the cache ---- */

/** struct large_piece - cached mapped memory, page-aligned.  large_lock. */
struct large_piece {
	uintptr_t start;
	size_t size;
	uint64_t stamp;		/* when it was cached, in ms */
	uint32_t parts;		/* kernel mappings it may span */
};

/* Adaptive: held for a scan of at most LARGE_CACHE_SLOTS entries. */
static pthread_mutex_t large_lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static struct large_piece lcache[LARGE_CACHE_SLOTS];	/* large_lock */
static unsigned int lcache_n;				/* large_lock */
static _Atomic size_t lcache_bytes;	/* written under large_lock */

/* Pieces taken out of the cache, to unmap once the lock is dropped. */
struct large_victims {
	unsigned int n;
	struct large_piece v[LARGE_CACHE_SLOTS + 1];
};

/*
 * Secure mode's quarantine of freed blocks (see the top): a ring of
 * PROT_NONE reservations, oldest at lquar_head.  Bounded in slots and in
 * address space only: its ranges hold no pages.
 */
#define LARGE_QUAR_SLOTS	32
#define LARGE_QUAR_BYTES	(1UL << 30)
BUILD_BUG_ON(LARGE_QUAR_SLOTS > RECENT || LARGE_QUAR_SLOTS > LARGE_CACHE_SLOTS);

static struct large_piece lquar[LARGE_QUAR_SLOTS];	/* large_lock */
static unsigned int lquar_head, lquar_n;		/* large_lock */
static _Atomic size_t lquar_bytes;	/* written under large_lock */

static void lcache_sub(size_t bytes)
{
	WRITE_ONCE(lcache_bytes, READ_ONCE(lcache_bytes) - bytes);
}

/*
 * Add @piece to @out, to unmap once large_lock is dropped.  Lock held.  The
 * first piece starts a give-back in flight (os_unmap_begin()), which
 * lcache_unmap() ends: a trim meanwhile waits for it.
 */
static void __lcache_out(struct large_victims *out, struct large_piece piece)
{
	if (!out->n)
		os_unmap_begin();
	out->v[out->n++] = piece;
}

/* Remove piece @i, moving it to @out (if not NULL).  large_lock held. */
static void __lcache_remove(unsigned int i, struct large_victims *out)
{
	if (out)
		__lcache_out(out, lcache[i]);
	lcache_sub(lcache[i].size);
	lcache[i] = lcache[--lcache_n];
}

/* Move the pieces cached at or before @cutoff ms to @out.  Lock held. */
static void __lcache_expire(uint64_t cutoff, struct large_victims *out)
{
	unsigned int i = 0;

	while (i < lcache_n) {
		if (lcache[i].stamp <= cutoff)
			__lcache_remove(i, out);
		else
			i++;
	}
}

/*
 * Move the pieces LARGE_CACHE_MS old at @now to @out.  Lock held.  One
 * scan per millisecond at most: every touch of the cache asks.
 */
static void __lcache_expire_old(uint64_t now, struct large_victims *out)
{
	static uint64_t scanned;	/* large_lock */

	if (now == scanned || now < LARGE_CACHE_MS)
		return;
	scanned = now;
	__lcache_expire(now - LARGE_CACHE_MS, out);
}

/* The piece cached longest ago.  Lock held, lcache_n > 0. */
static unsigned int __lcache_oldest(void)
{
	unsigned int i, o = 0;

	for (i = 1; i < lcache_n; i++)
		if (lcache[i].stamp < lcache[o].stamp)
			o = i;
	return o;
}

static void lcache_unmap(struct large_victims *out)
{
	unsigned int i;

	for (i = 0; i < out->n; i++)
		os_unmap((void *)out->v[i].start, out->v[i].size);
	if (out->n)
		os_unmap_end();
	out->n = 0;
}

/**
 * large_cache_decay() - unmap the cached mappings that have stayed unused
 * for LARGE_CACHE_MS or more at @now_ms (os_now_ms()'s clock).  Any
 * thread, any time: takes large_lock only (a leaf), allocates nothing,
 * unmaps after dropping the lock.  The reclaim helper's decay pass calls
 * it (core/reclaim.c).  Return: ms until the oldest piece left is due, or
 * -1 if nothing is cached.
 */
long large_cache_decay(uint64_t now_ms)
{
	struct large_victims out = { 0 };
	uint64_t oldest = 0;
	unsigned int i;

	if (!READ_ONCE(lcache_bytes))
		return -1;
	pthread_mutex_lock(&large_lock);
	__lcache_expire_old(now_ms, &out);
	for (i = 0; i < lcache_n; i++)
		if (!oldest || lcache[i].stamp < oldest)
			oldest = lcache[i].stamp;
	pthread_mutex_unlock(&large_lock);
	lcache_unmap(&out);
	if (!oldest)
		return -1;
	return oldest + LARGE_CACHE_MS > now_ms ?
	       (long)(oldest + LARGE_CACHE_MS - now_ms) : 0;
}

/* Move the oldest block in quarantine to @out.  Lock held, lquar_n > 0. */
static void __lquar_evict(struct large_victims *out)
{
	struct large_piece *q = &lquar[lquar_head];

	__lcache_out(out, *q);
	WRITE_ONCE(lquar_bytes, READ_ONCE(lquar_bytes) - q->size);
	lquar_head = (lquar_head + 1) % LARGE_QUAR_SLOTS;
	lquar_n--;
}

/** large_quarantine_bytes() - address space secure mode's quarantine holds. */
size_t large_quarantine_bytes(void)
{
	return READ_ONCE(lquar_bytes);
}

/**
 * large_cache_drain() - unmap every cached mapping, and every block in
 * secure mode's quarantine (malloc_trim(), a refused mapping).  Any
 * thread; the lock as large_cache_decay().
 */
void large_cache_drain(void)
{
	struct large_victims out = { 0 };

	if (!READ_ONCE(lcache_bytes) && !READ_ONCE(lquar_bytes))
		return;
	pthread_mutex_lock(&large_lock);
	__lcache_expire(UINT64_MAX, &out);
	pthread_mutex_unlock(&large_lock);
	lcache_unmap(&out);
	/* In two goes: each holds at most LARGE_CACHE_SLOTS pieces. */
	pthread_mutex_lock(&large_lock);
	while (lquar_n)
		__lquar_evict(&out);
	pthread_mutex_unlock(&large_lock);
	lcache_unmap(&out);
}

/** large_cache_bytes() - bytes the cache holds (mapped, not in use). */
size_t large_cache_bytes(void)
{
	return READ_ONCE(lcache_bytes);
}

/* fork: large_lock is a leaf, taken last (see Documentation/design.rst). */
void large_cache_fork_prepare(void)
{
	pthread_mutex_lock(&large_lock);
}

void large_cache_fork_parent(void)
{
	pthread_mutex_unlock(&large_lock);
}

/* The cached mappings are the child's too: it keeps them. */
void large_cache_fork_child(void)
{
	pthread_mutex_unlock(&large_lock);
}

/*
 * The parts of the first @part bytes of something of @whole bytes made of
 * *@parts parts, which keeps the rest: split at least one each side.
 */
static uint32_t parts_split(uint32_t *parts, size_t part, size_t whole)
{
	uint32_t head = (uint32_t)(((uint64_t)*parts * part + whole - 1) /
				   whole);

	if (!head)
		head = 1;
	if (head >= *parts)
		head = *parts > 1 ? *parts - 1 : 1;
	*parts = *parts - head + 1;
	return head;
}

/*
 * os_vm_tight() is a system call (getrlimit): once per LARGE_TIGHT_MS at
 * most, not once per free (it was nine tenths of a free's cost for blocks
 * of 32 - 256 KiB).  A limit set meanwhile is seen that much later; until
 * then a refused mapping still drains the cache.
 */
#define LARGE_TIGHT_MS	10

static _Atomic bool tight;		/* atomic: any; the last reading */

static bool large_vm_tight(void)
{
	static _Atomic uint64_t checked;	/* atomic: any; ms + 1 */
	uint64_t now = os_now_ms() + 1, last = READ_ONCE(checked);

	if (now - last >= LARGE_TIGHT_MS || now < last) {
		WRITE_ONCE(tight, os_vm_tight());
		WRITE_ONCE(checked, now);
	}
	return READ_ONCE(tight);
}

/*
 * Secure mode: the mapping of a freed block, @size bytes at @start, goes
 * to the quarantine as a PROT_NONE reservation, pushing out the oldest if
 * it is full; unmapped at once when the address space is tight or the
 * kernel will not replace it.
 */
static void large_quarantine_put(uintptr_t start, size_t size)
{
	struct large_victims out = { 0 };

	if (large_vm_tight() || os_discard_none((void *)start, size)) {
		os_unmap((void *)start, size);
		return;
	}
	pthread_mutex_lock(&large_lock);
	while (lquar_n && (lquar_n == LARGE_QUAR_SLOTS ||
			   READ_ONCE(lquar_bytes) + size > LARGE_QUAR_BYTES))
		__lquar_evict(&out);
	lquar[(lquar_head + lquar_n++) % LARGE_QUAR_SLOTS] =
		(struct large_piece){ start, size, 0, 1 };
	WRITE_ONCE(lquar_bytes, READ_ONCE(lquar_bytes) + size);
	pthread_mutex_unlock(&large_lock);
	lcache_unmap(&out);
}

/*
 * Piece [*@start, + *@size) of *@parts parts, cached at *@stamp, takes in
 * the cached pieces next to it, which leave the cache.  The blocks of one
 * batch (large_map_batch()), flushed from a thread's bins at its exit,
 * took a slot each: the cache overflowed its slots and unmapped them one
 * by one (81 of the 505 memory calls of workload wset 16 16 10000 1024).
 * At most a batch's size: a piece that spans two kernel mappings cannot be
 * moved whole with mremap() (large_cache_fill() then maps it fresh), and
 * neighbours from one batch are one mapping, those of two may not be.
 * Parts: the inverse of a split (parts_split() shares out one more than
 * there were), or a piece split and joined again gained one each time
 * and, past LARGE_PARTS_MAX, was left apart for good (review of a1d05c3:
 * after 60 thread generations, one munmap per block again).  The joined
 * piece keeps the older stamp: decay does not wait for its neighbours.
 * large_lock held.
 */
static void __lcache_coalesce(uintptr_t *start, size_t *size, uint32_t *parts,
			      uint64_t *stamp)
{
	unsigned int i = 0;

	while (i < lcache_n) {
		struct large_piece *c = &lcache[i];

		if ((c->start + c->size != *start &&
		     *start + *size != c->start) ||
		    c->parts + *parts > LARGE_PARTS_MAX ||
		    c->size + *size > LARGE_BATCH) {
			i++;
			continue;
		}
		if (c->start < *start)
			*start = c->start;
		*size += c->size;
		*parts += c->parts - 1;
		if (c->stamp < *stamp)
			*stamp = c->stamp;
		__lcache_remove(i, NULL);
		i = 0;		/* the other side may be cached too */
	}
}

/* Keep @size bytes of mapped memory at @start (page-aligned), or unmap it. */
static void large_cache_put(uintptr_t start, size_t size, uint32_t parts)
{
	struct large_victims out = { 0 };
	uint64_t now, stamp;
	size_t bound;
	bool kick = false;

	/* A piece under LARGE_PIECE_MIN is kept only if it starts at a chunk
	 * boundary (a block's whole mapping): it can serve another block
	 * of its size, which would otherwise cost a mapping and a trim. */
	if ((size < LARGE_PIECE_MIN && !IS_ALIGNED(start, CHUNK_SIZE)) ||
	    parts > LARGE_PARTS_MAX || large_vm_tight()) {
		os_unmap((void *)start, size);
		return;
	}
	now = os_now_ms();
	pthread_mutex_lock(&large_lock);
	__lcache_expire_old(now, &out);
	bound = (os_mapped_bytes() - READ_ONCE(lcache_bytes)) /
		LARGE_CACHE_SHARE;
	if (bound < LARGE_CACHE_MIN)
		bound = LARGE_CACHE_MIN;
	stamp = now;
	__lcache_coalesce(&start, &size, &parts, &stamp);
	if (size > bound) {
		__lcache_out(&out, (struct large_piece){ start, size, 0, parts });
		goto unlock;
	}
	/* The oldest go until it fits, in bytes and in slots. */
	while (lcache_n && (READ_ONCE(lcache_bytes) + size > bound ||
			    lcache_n == LARGE_CACHE_SLOTS))
		__lcache_remove(__lcache_oldest(), &out);
	lcache[lcache_n++] = (struct large_piece){ start, size, stamp, parts };
	WRITE_ONCE(lcache_bytes, READ_ONCE(lcache_bytes) + size);
	kick = true;
unlock:
	pthread_mutex_unlock(&large_lock);
	lcache_unmap(&out);
	/* The helper gives it back if it stays unused (an idle program). */
	if (kick)
		reclaim_decay_kick(false);
}

/*
 * The smallest cached piece at a CHUNK_SIZE boundary that holds a mapping
 * of @map bytes: split at the first CHUNK_SIZE boundary past @map (the rest
 * stays cached and can serve another block), or taken whole if the rest
 * would be under LARGE_PIECE_MIN (the block gets the slack: its pages are
 * in already).  Splitting keeps blocks from growing with every reuse until
 * no small request fits the cache.  Its start and size (*@got), or 0.
 */
static uintptr_t large_cache_fit(size_t map, size_t *got, uint32_t *parts)
{
	struct large_victims out = { 0 };
	unsigned int i, best = LARGE_CACHE_SLOTS;
	size_t head = ALIGN_UP(map, CHUNK_SIZE);
	uintptr_t start = 0;

	pthread_mutex_lock(&large_lock);
	__lcache_expire_old(os_now_ms(), &out);
	for (i = 0; i < lcache_n; i++) {
		struct large_piece *c = &lcache[i];

		if (c->size < map || !IS_ALIGNED(c->start, CHUNK_SIZE))
			continue;
		if (best == LARGE_CACHE_SLOTS || c->size < lcache[best].size)
			best = i;
		if (c->size < head + LARGE_PIECE_MIN)
			break;	/* taken whole: none fits better */
	}
	if (best < LARGE_CACHE_SLOTS) {
		struct large_piece *b = &lcache[best];

		start = b->start;
		*parts = b->parts;
		if (b->size >= head + LARGE_PIECE_MIN) {
			*parts = parts_split(&b->parts, head, b->size);
			*got = head;
			b->start += head;
			b->size -= head;
			lcache_sub(head);
		} else {
			*got = b->size;
			__lcache_remove(best, NULL);
		}
	}
	pthread_mutex_unlock(&large_lock);
	lcache_unmap(&out);
	return start;
}

/*
 * Move cached pieces, largest first, onto [@dst, @dst + @len) (mapped by
 * the caller; what they do not cover stays as it was: fresh zeroes for a
 * reservation), zero-filling them if @zero.  Return: the parts the range
 * now has beyond one (0: nothing was moved).
 */
static uint32_t large_cache_fill(uintptr_t dst, size_t len, bool zero)
{
	struct large_victims take = { 0 }, out = { 0 };
	uint32_t parts = 0;
	size_t moved = 0, want;
	unsigned int i, k;

	want = len = ALIGN_DOWN(len, OS_PAGE_SIZE);
	if (len < LARGE_PIECE_MIN || !READ_ONCE(lcache_bytes))
		return 0;
	pthread_mutex_lock(&large_lock);
	__lcache_expire_old(os_now_ms(), &out);
	while (len >= LARGE_PIECE_MIN && lcache_n) {
		struct large_piece piece;

		for (i = 1, k = 0; i < lcache_n; i++)
			if (lcache[i].size > lcache[k].size)
				k = i;
		piece = lcache[k];
		if (piece.size > len && piece.size - len >= LARGE_PIECE_MIN) {
			/* Its head moves; the rest stays cached. */
			piece.parts = parts_split(&lcache[k].parts, len,
						  piece.size);
			lcache[k].start += len;
			lcache[k].size -= len;
			lcache_sub(len);
			piece.size = len;
		} else {
			__lcache_remove(k, NULL);
			if (piece.size > len) {	/* a tail too small to keep */
				__lcache_out(&out, (struct large_piece){
					piece.start + len, piece.size - len,
					0, 0 });
				piece.size = len;
			}
		}
		take.v[take.n++] = piece;
		len -= piece.size;
	}
	pthread_mutex_unlock(&large_lock);
	lcache_unmap(&out);
	for (i = 0; i < take.n; i++) {
		struct large_piece *t = &take.v[i];

		/* A kernel that cannot move it (one that moves only single
		 * mappings, say): the range stays fresh, as if uncached. */
		if (!os_remap((void *)t->start, t->size, t->size, (void *)dst)) {
			os_unmap((void *)t->start, t->size);
		} else {
			parts += t->parts;
			moved += t->size;
			if (zero)
				memset((void *)dst, 0, t->size);
		}
		dst += t->size;
	}
	/* What the pieces left uncovered is one more part (or several). */
	return moved ? parts + (moved < want) : 0;
}

/*
 * A fresh mapping of @map bytes at a multiple of @align.  The kernel puts
 * a new mapping just below the last one: asked for whole chunks, it lands
 * at a chunk boundary when the last one did, and the pages past @map go
 * back at once (two system calls; a mapping of @map bytes alone would
 * straddle a boundary and take four to realign).  When it does not, it
 * grows down to the boundary below and its tail goes back: three calls
 * (it took nine when the mapping was unmapped and placed anew: workload
 * wset 4 16 40000 1024, each thread's first large block).
 */
static uintptr_t large_map_fresh(size_t map, size_t align)
{
	size_t whole = ALIGN_UP(map, CHUNK_SIZE);
	int saved = errno;
	uintptr_t p, a;

	if (align != CHUNK_SIZE || whole == map || large_vm_tight())
		return (uintptr_t)os_map_aligned(map, align);
	p = (uintptr_t)os_map(whole);
	if (!p) {
		errno = saved;	/* the block may still fit */
		return (uintptr_t)os_map_aligned(map, align);
	}
	a = os_map_below(p, CHUNK_SIZE);
	if (!a) {
		os_unmap((void *)p, whole);
		return (uintptr_t)os_map_aligned(map, align);
	}
	/* [a, p + whole) is mapped: what lies past @map goes back. */
	os_unmap((void *)(a + map), p + whole - (a + map));
	return a;
}

/*
 * Fresh blocks of a large bin's class in batches.  A thread whose working
 * set of such blocks rises maps them anew one by one, two system calls
 * each (the mapping, then its tail's trim): 144 of the 313 memory calls of
 * workload wset 4 16 40000 1024, against mimalloc's 53 in all.  So from a
 * thread's LARGE_BATCH_AFTER-th fresh block of a bin class on (a small
 * program with one buffer maps just that: the start-up budget), a fresh
 * block maps LARGE_BATCH bytes: it takes the whole regions it spans, and
 * the rest goes to the process-wide cache as one piece, untouched, for
 * the next blocks to split (large_cache_fit()); what stays unused decays.
 * The regions' slack past the block's @map bytes (*@slack) is mapping the
 * block releases with it, not usable size: that stays page-granular, and
 * its pages are never touched.  Not under an address-space limit: bin
 * classes are not used then.  Return the mapping's start, or 0.
 */
static uintptr_t large_map_batch(struct heap *h, size_t map, size_t *slack)
{
	size_t head = ALIGN_UP(map, CHUNK_SIZE);
	uintptr_t start;

	/* Carved from the chunk arena when it runs: no system call. */
	start = (uintptr_t)chunk_arena_carve(LARGE_BATCH);
	if (!start) {
		if (h->lbin_fresh < LARGE_BATCH_AFTER) {
			h->lbin_fresh++;
			return large_map_fresh(map, CHUNK_SIZE);
		}
		start = (uintptr_t)os_map_aligned(LARGE_BATCH, CHUNK_SIZE);
		if (!start)
			return large_map_fresh(map, CHUNK_SIZE);
	}
	large_cache_put(start + head, LARGE_BATCH - head, 1);
	*slack = head - map;
	return start;
}

/*
 * A fresh block above the bins' classes, up to LARGE_BATCH, is carved from
 * the chunk arena when it runs, as batches are: mapped alone, it took
 * three calls (the mapping, the one below it to its boundary, the tail's
 * trim) and up to five when threads map at once; workload wset 4 16 40000
 * 1024's four arrays of 320,000 bytes, one per thread, took 17.  The
 * regions' slack past @map (*@slack) goes with the block, as a batch's
 * does.  Return the mapping's start, or 0.
 */
static uintptr_t large_map_carve(size_t map, size_t *slack)
{
	size_t whole = ALIGN_UP(map, CHUNK_SIZE);
	uintptr_t start = 0;

	if (whole <= LARGE_BATCH)
		start = (uintptr_t)chunk_arena_carve(whole);
	if (!start)
		return large_map_fresh(map, CHUNK_SIZE);
	*slack = whole - map;
	return start;
}

/*
 * A mapping of @map bytes at a CHUNK_SIZE boundary made of cached memory,
 * zero-filled if @zero: a cached piece that holds it, else a reservation
 * filled with pieces.  Its start and size (*@got) and parts, or 0 if the
 * cache has too little to be worth it.
 */
static uintptr_t large_cache_get(struct heap *h, size_t map, bool zero,
				 size_t *got, uint32_t *parts)
{
	uintptr_t start;

	if (READ_ONCE(lcache_bytes) < map)
		return 0;
	start = large_cache_fit(map, got, parts);
	if (start) {
		if (zero)
			memset((void *)start, 0, *got);
		goto reused;
	}
	/* Small: not worth the system calls (a reservation and an
	 * mremap() per piece). */
	if (map < LARGE_FILL_MIN)
		return 0;
	start = large_map_fresh(map, CHUNK_SIZE);
	if (!start)
		return 0;
	*got = map;
	*parts = large_cache_fill(start, map, zero);
	if (!*parts)
		*parts = 1;
reused:
	if (h->kind == HEAP_KIND_THREAD)
		h->stats.large_reused++;
	return start;
}

/*
 * Large bins.  Blocks just above SMALL_MAX are what programs replace
 * fastest (a buffer of some tens of KiB per request), and the process-wide
 * cache costs such a block a lock, a clock read and a scan of the cache at
 * both ends (about 700 instructions a malloc+free pair, against the few
 * tens of a small block).  So a thread that frees a block of up to 72
 * pages of mapping (256 KiB of payload and then some) that it may keep
 * keeps it in its heap's large bin of the block's class, still mapped and
 * still marked in the page map, with the binned cookie in place of the
 * live one; its next request of that class, or of one up to LBIN_REACH
 * classes smaller, takes it back with no lock, no system call and no scan
 * (measured on 32 - 256 KiB blocks of random sizes: with exact classes
 * and 2 MiB a thread, 63 % of the frees still went to the shared cache;
 * with a reach of 3 and 4 MiB, 0.2 %).  Classes are of 9 to 72 pages, eight per
 * doubling: fresh blocks in that range are mapped at their class's size
 * (at most an eighth more address space, not more memory: pages never
 * touched are never resident), so that a freed block serves any request
 * of its class.
 *
 * Bounded: LBIN_PER_CLASS blocks a class, and LBIN_TOTAL of mapping
 * shared among the live threads, LBIN_BYTES_MIN to LBIN_BYTES_MAX a
 * thread (lbin_limit_now(); a thread takes its share anew at each large
 * slow path, and keeps what it holds).  At 4 MiB a thread whatever the
 * number of threads, workload micro 32768 262144 sent 3 % of its
 * operations to the shared cache, 12 instructions an operation of 215
 * (callgrind); at 8 MiB, medians of 11: 0.019 -> 0.017 s at one thread,
 * 0.013 -> 0.009 at two (tcmalloc 0.012 and 0.010), and larson 4 20000 10
 * 200 200000 peaked 1.2 MiB higher (147 MiB).  tcmalloc shares 32 MiB of
 * thread caches the same way.
 * Not used for aligned blocks, in secure mode (freed mappings must not be
 * reused at once there), while the address space is tight, nor under the
 * profiler (whose hooks then need no place on the bins' paths).  A bin is
 * its thread's alone (owner only, no atomics); the blocks go to the
 * process-wide cache when the thread exits, on trim and when the system
 * refuses memory (large_bin_flush()); a fork child flushes the bins of the
 * heaps whose threads did not survive, checking each block first.  A
 * thread that goes idle holds its bins, as it holds its small bins.  A
 * bin is an array in the heap, not a list through the blocks: a write
 * after free into a binned block changes nothing of the allocator's, and
 * a pop follows no pointer the program could have written.
 *
 * A binned block is free: free(), realloc() and malloc_usable_size() of
 * it find the binned cookie and report a double free (or a freed block),
 * as they do for a block that went back to the cache.
 */
#define LBIN_TOTAL	(32UL << 20)
#define LBIN_BYTES_MIN	(2UL << 20)
#define LBIN_BYTES_MAX	(8UL << 20)
#define LBIN_REACH	3	/* a request may take a block this many
				 * classes bigger (at most about 40 %) */
#define LBIN_PAGES_MIN	9
#define LBIN_MAP_MAX	(72 * OS_PAGE_SIZE)
#define BINNED_MIX	0x62696e6e65642121ULL	/* "binned!!" */

static uintptr_t large_binned_cookie(uintptr_t p)
{
	return large_cookie(p) ^ BINNED_MIX;
}

/* Pages of large bin class @i: 9 .. 16, 18 .. 32, 36 .. 64, 72. */
#define LBIN_PAGES(i)	(((i) % 8 + LBIN_PAGES_MIN) << ((i) / 8))
/* The smallest class of at least @p pages (LBIN_PAGES_MIN .. 72). */
#define LBIN_SHIFT(p)	((p) > 16 ? 60 - __builtin_clzl((p) - 1UL) : 0)
#define LBIN_UP(p)	(8 * LBIN_SHIFT(p) + \
			 (((p) + (1UL << LBIN_SHIFT(p)) - 1) >> LBIN_SHIFT(p)) - \
			 LBIN_PAGES_MIN)
#define LBIN_UP4(p)	LBIN_UP(p), LBIN_UP(p + 1), LBIN_UP(p + 2), LBIN_UP(p + 3)
#define LBIN_UP16(p)	LBIN_UP4(p), LBIN_UP4(p + 4), LBIN_UP4(p + 8), \
			LBIN_UP4(p + 12)

/* Both as tables: a request's class is a load, not 20 instructions. */
static const uint8_t lbin_up[LBIN_MAP_MAX / OS_PAGE_SIZE + 1] = {
	[LBIN_PAGES_MIN] = LBIN_UP4(9), LBIN_UP(13), LBIN_UP(14), LBIN_UP(15),
	LBIN_UP16(16), LBIN_UP16(32), LBIN_UP16(48), LBIN_UP4(64),
	LBIN_UP4(68), LBIN_UP(72)
};
BUILD_BUG_ON(LBIN_MAP_MAX / OS_PAGE_SIZE != 72);
/* A batch holds a block of any class and a piece worth caching. */
BUILD_BUG_ON(ALIGN_UP(LBIN_MAP_MAX, CHUNK_SIZE) + LARGE_PIECE_MIN > LARGE_BATCH);

#define LBIN_PAGES4(i)	LBIN_PAGES(i), LBIN_PAGES(i + 1), LBIN_PAGES(i + 2), \
			LBIN_PAGES(i + 3)
static const uint8_t lbin_pages[LBIN_CLASSES] = {
	LBIN_PAGES4(0), LBIN_PAGES4(4), LBIN_PAGES4(8), LBIN_PAGES4(12),
	LBIN_PAGES4(16), LBIN_PAGES4(20), LBIN_PAGES(24)
};
BUILD_BUG_ON(LBIN_CLASSES != 25);
BUILD_BUG_ON(LBIN_CLASSES > 32);	/* a bit each in lbin_nonempty */

/* The largest class a mapping of @map bytes holds, or -1 if none. */
static int lbin_class_down(size_t map)
{
	size_t pages = map / OS_PAGE_SIZE;
	unsigned int i;

	if (pages < LBIN_PAGES_MIN || map > LBIN_MAP_MAX)
		return -1;
	i = lbin_up[pages];
	return lbin_pages[i] > pages ? (int)i - 1 : (int)i;
}

/* May @h keep large blocks now?  A thread's heap, not in secure mode,
 * with room in the address space. */
static bool lbin_allowed(const struct heap *h)
{
	return h->kind == HEAP_KIND_THREAD && !unlikely(opt_secure) &&
	       !READ_ONCE(tight);
}

/* A thread's share of LBIN_TOTAL now. */
static size_t lbin_limit_now(void)
{
	long n = heap_live_count();
	size_t share = LBIN_TOTAL / (size_t)(n > 1 ? n : 1);

	return share < LBIN_BYTES_MIN ? LBIN_BYTES_MIN :
	       share > LBIN_BYTES_MAX ? LBIN_BYTES_MAX : share;
}

/*
 * A mapping of @map bytes for a block at offset LARGE_HDR, rounded up to
 * its large bin class if it has one; *@cls is that class, or -1.
 */
static size_t lbin_round(struct heap *h, size_t map, int *cls)
{
	*cls = -1;
	if (!lbin_allowed(h) || map > LBIN_MAP_MAX ||
	    map < LBIN_PAGES_MIN * OS_PAGE_SIZE)
		return map;
	*cls = lbin_up[map / OS_PAGE_SIZE];
	if (h->lbin_limit)	/* 0: binning nothing (the profiler's) */
		h->lbin_limit = lbin_limit_now();
	return lbin_pages[*cls] * OS_PAGE_SIZE;
}

/*
 * @delta blocks of @map bytes of mapping enter (1) or leave (-1) @h's
 * bins: the budget.  The statistics by range of size are not counted
 * here but summed from the bins' slots when asked for (count_binned()):
 * two counters indexed by a range known only once the block's header is
 * read made this pair 1.1 times slower (workload micro 32768 262144 1,
 * Documentation/benchmarks.rst).
 */
static void lbin_account(struct heap *h, size_t map, int delta)
{
	h->lbin_bytes += (size_t)delta * map;
}

/* The colour, in lines, of a block in the mapping at @start with @slack
 * bytes to spare past it: a hash of the address, as far as the slack
 * allows. */
static unsigned int large_colour(uintptr_t start, size_t slack)
{
	unsigned int c = (unsigned int)(((start >> CHUNK_SHIFT) *
					 0x9e3779b97f4a7c15ULL) >> 58);
	size_t room = slack / LARGE_HDR;

	return room < c ? (unsigned int)room : c;
}

/*
 * The binned block with header @l is about to serve @size bytes, more
 * than its colour leaves room for: its header moves to the colour this
 * size gets (a line of its own: the two never overlap) and its page-map
 * byte with it.  Moving it whenever the colour of the size differed cost
 * more instructions than the misses it saved.  Owner of the block only.
 * The rest of the pop of @h's block for @size bytes is done here too, so
 * that the pop calls nothing but in tail position and saves no registers.
 * Return the block's user pointer now.
 */
static noinline void *large_recolour(struct heap *h, struct large *l,
				     size_t size)
{
	uintptr_t start = l->map_start;
	unsigned int c = large_colour(start, l->map_size - LARGE_HDR - size);
	size_t off = LARGE_HDR + (size_t)c * LARGE_HDR;
	struct large *n = large_hdr(start + off);

	*n = *l;
	n->off = off;
	n->usable = l->map_size - off;
	*(uintptr_t *)start = off;
	pagemap_mark(start + off, PM_LARGEC | c);	/* its leaf exists */
	n->asked = size;
	atomic_store_explicit(&n->cookie, large_cookie(start + off),
			      memory_order_relaxed);
	h->stats.large_reused++;
	return (void *)(start + off);
}

/* Block @size bytes from @h's bin @cls or one of the LBIN_REACH above it,
 * or NULL.  Not zero-filled. */
static __always_inline void *lbin_pop(struct heap *h, unsigned int cls,
				      size_t size)
{
	/*
	 * The first bin that holds a block, from the mask of those that do:
	 * walking the bins took a branch per empty one, and with sizes at
	 * random whether a bin is empty is too (workload micro 32768
	 * 262144: 0.88 mispredicted branches an operation, nine tenths of
	 * them there).
	 */
	uint32_t m = (h->lbin_nonempty >> cls) & ((2U << LBIN_REACH) - 1);
	unsigned int i;
	struct lbin *b;
	struct large *l;
	void *p;

	if (!m)
		return NULL;
	i = cls + (unsigned int)__builtin_ctz(m);
	b = &h->lbins[i];
	DEBUG_BUG_ON(!b->count);
	/* Taken off before it is used (a fork child flushes the rest). */
	p = b->blocks[b->count - 1];
	b->count--;
	/* Bit i is set: cleared if the bin is empty now. */
	h->lbin_nonempty ^= (uint32_t)!b->count << i;
	atomic_signal_fence(memory_order_seq_cst);
	l = large_hdr((uintptr_t)p);
	DEBUG_BUG_ON(READ_ONCE(l->cookie) != large_binned_cookie((uintptr_t)p));
	DEBUG_BUG_ON(prof_active);	/* no thread bins then */
	lbin_account(h, l->map_size, -1);
	if (unlikely(size > l->usable))
		return large_recolour(h, l, size);
	l->asked = size;
	atomic_store_explicit(&l->cookie, large_cookie((uintptr_t)p),
			      memory_order_relaxed);
	h->stats.large_reused++;
	return p;
}

/* @l, a live block, has @map bytes of mapping now: so its bin class. */
static void large_set_map(struct large *l, size_t map)
{
	l->map_size = map;
	l->bin = l->align_shift <= LARGE_HDR_SHIFT && !l->guard ?
		 lbin_class_down(map) : -1;
}

/* The bin of @h that live block @l may go to when freed, or NULL.  A
 * block with a bin class is no secure one (those have guard pages). */
static struct lbin *lbin_for(struct heap *h, const struct large *l)
{
	if (l->bin < 0 || READ_ONCE(tight) ||
	    h->lbin_bytes + l->map_size > h->lbin_limit ||
	    h->lbins[l->bin].count >= LBIN_PER_CLASS)
		return NULL;
	return &h->lbins[l->bin];
}

/* The bytes of mapping a block @off bytes into it gets for @size bytes. */
static size_t large_map_for(size_t off, size_t size)
{
	return ALIGN_UP(off + (size ? size : 1), OS_PAGE_SIZE);
}

/**
 * large_malloc() - malloc() of more than SMALL_MAX bytes: a block from the
 * calling thread's large bins if they have one of its class or of one up
 * to LBIN_REACH above, with nothing in the way (a thread that has none
 * yet, or a heap that bins nothing, finds them empty); the slow path for
 * the rest.
 */
void *large_malloc(size_t size)
{
	struct heap *h = bitslab_tls_heap;
	void *p;

	/* The size first: near SIZE_MAX, the page count would wrap.  (A
	 * heap with nothing binned has lbin_nonempty 0: lbin_pop() says.) */
	if (size > LBIN_MAP_MAX - LARGE_HDR)
		return heap_alloc_slow(size);
	/* large_map_for() of a size that is not 0 */
	p = lbin_pop(h, lbin_up[(LARGE_HDR + size + OS_PAGE_SIZE - 1) /
				OS_PAGE_SIZE], size);
	if (unlikely(!p))
		return heap_alloc_slow(size);
	return p;	/* (the profiler's heaps bin nothing: no hook here) */
}

/*
 * Secure mode: the offset in a mapping of @map bytes (before its guard)
 * that puts the end of @size bytes as close to the mapping's end as
 * alignment @align (0: malloc's) lets it.  @off is the offset the block
 * would have had; the result is at least that (the header still fits
 * before the pointer) and a multiple of the same alignment, and less than
 * @off plus a page (so below CHUNK_SIZE: the pointer stays in the first
 * region).
 */
static size_t large_secure_off(size_t off, size_t map, size_t size,
			       size_t align)
{
	size_t a = align > MIN_ALIGN ? align : MIN_ALIGN;
	size_t at = ALIGN_DOWN(map - (size ? size : 1), a);

	/* map >= off + size, and off (LARGE_HDR or align) is a multiple
	 * of a. */
	DEBUG_BUG_ON(at < off || at >= off + OS_PAGE_SIZE);
	return at;
}

/* The bytes from block @p of @l to its guard page: its size and slack. */
static size_t large_secure_room(const struct large *l, uintptr_t p)
{
	return l->map_start + l->map_size - l->guard - p;
}

/* Is the slack of secure block @p (past the size asked for) intact? */
static void large_secure_check(const struct large *l, uintptr_t p)
{
	if (!secure_slack_intact((void *)p, l->asked, large_secure_room(l, p)))
		report_misuse("write past the end of a block (canary overwritten)",
			      (void *)p, REPORT_LARGE);
}

/**
 * large_alloc() - a block of @size bytes aligned at @align (0: 64 bytes;
 * in secure mode MIN_ALIGN, so that its end can lie close to its guard),
 * zero-filled if @zero (fresh mappings always are), for the thread whose
 * heap is @h.  The allocator must be set up (the free cookie secrets).
 * NULL with errno = ENOMEM if it cannot be mapped; the caller may give
 * memory back and try again.
 */
void *large_alloc(struct heap *h, size_t size, size_t align, bool zero)
{
	size_t off, map, lead = 0, map_align = CHUNK_SIZE, guard = 0;
	size_t slack = 0;
	uintptr_t start = 0, p;
	uint32_t parts = 1;
	unsigned int kind;
	struct large *l;
	int cls = -1;

	if (align <= LARGE_HDR) {
		off = LARGE_HDR;
	} else if (align < CHUNK_SIZE) {
		off = align;
	} else {
		off = align;
		map_align = align;
		lead = align - CHUNK_SIZE;
	}
	if (size > LARGE_MAX - off) {
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * A block of 0 bytes is still a block: at least one byte must lie in
	 * the mapping, or an offset that is a multiple of CHUNK_SIZE (any
	 * alignment of CHUNK_SIZE or more) would put the user pointer, and
	 * the page-map mark, one past the end of the mapping, on whatever
	 * region comes next.
	 */
	map = large_map_for(off, size);
	if (unlikely(opt_secure)) {
		/* Fresh, with a guard page; the end of the block against it. */
		if (!lead)
			off = large_secure_off(off, map, size, align);
		guard = OS_PAGE_SIZE;
		map += guard;
	} else if (!lead) {
		/* Not aligned: a block a large bin may hold. */
		if (off == LARGE_HDR)
			map = lbin_round(h, map, &cls);
		if (cls >= 0) {
			void *b = lbin_pop(h, (unsigned int)cls, size);

			if (b) {
				if (zero)
					memset(b, 0, size);
				return b;
			}
		}
		/* A block from the cache gets the whole piece it took
		 * (its usable size), and the bin of its request's class
		 * (below): split from a batch at 64 KiB boundaries, blocks
		 * went to the bins of 16, 32, 48 and 64 pages, which requests
		 * of the classes between never reach, and every block went
		 * through the cache (workload micro 32768 262144 2: 0.07 s,
		 * 0.02 s before batches and now). */
		start = large_cache_get(h, map, zero, &map, &parts);
		if (start)
			goto mark;
	}
	start = cls >= 0 ? large_map_batch(h, map, &slack) :
		!lead && !guard ? large_map_carve(map, &slack) :
			   large_map_fresh(map, map_align);
	if (!start) {
		errno = ENOMEM;
		return NULL;
	}
	if (lead) {
		os_unmap((void *)start, lead);
		start += lead;
		map -= lead;
		off -= lead;
	}
mark:
	kind = off == CHUNK_SIZE ? PM_LARGE0 : PM_LARGE;
	if (off == LARGE_HDR && !guard) {
		unsigned int c = large_colour(start, map - LARGE_HDR -
						       (size ? size : 1));

		off += (size_t)c * LARGE_HDR;
		kind = PM_LARGEC | c;
	}
	p = start + off;
	if ((guard && os_protect_none((void *)(start + map - guard), guard)) ||
	    pagemap_mark(p, kind)) {
		os_unmap((void *)start, map + slack);
		errno = ENOMEM;
		return NULL;
	}
	l = large_hdr(p);
	*(uintptr_t *)start = off;	/* is l->off when l starts the map */
	l->off = off;
	l->map_start = start;
	l->guard = (uint32_t)guard;
	l->align_shift = align ? (uint32_t)__builtin_ctzl(align) : 0;
	l->usable = guard ? size : start + map - p;
	map += slack;		/* released with it (large_map_batch()) */
	large_set_map(l, map);
	if (cls >= 0)
		l->bin = cls;	/* map may be more: see above */
	l->asked = size;
	l->parts = parts;
	if (guard)
		secure_slack_fill((void *)p, size, large_secure_room(l, p));
	atomic_init(&l->cookie, large_cookie(p));
	fetch_add_relaxed(&live_blocks, 1);
	fetch_add_relaxed(&live_bytes, map);
	count_large_add(map);
	prof_alloc_hook((void *)p, size);
	return (void *)p;
}

/* @op was handed @ptr, a large block that was freed. */
static __cold __noreturn void large_report_freed(const char *op, void *ptr)
{
	if (!strcmp(op, "free"))
		report_misuse("double free", ptr, REPORT_LARGE);
	report_misuse_op(op, "freed block", ptr, REPORT_LARGE);
}

static bool recently_freed(uintptr_t p)
{
	unsigned int i;

	for (i = 0; i < RECENT; i++)
		if (READ_ONCE(recent[i]) == p)
			return true;
	return false;
}

/**
 * large_report_unknown() - @ptr, passed to @op ("free", "realloc",
 * "malloc_usable_size"...), is in no region of ours (or is not a large
 * block's pointer): a block freed twice if we unmapped it lately, else a
 * pointer we never handed out.
 */
void large_report_unknown(const char *op, void *ptr)
{
	if (recently_freed((uintptr_t)ptr))
		large_report_freed(op, ptr);
	report_misuse_op(op, "invalid pointer", ptr, REPORT_FOREIGN);
}

/*
 * Is @p, in a region of @kind, right after a large block's header, so that
 * the header lies in the block's mapping and may be read?  PM_LARGEC says
 * where the header is; PM_LARGE's region is ours from its first word (see
 * the top), which says at what offset the pointer is.
 */
static __always_inline bool large_at_header(uintptr_t p, unsigned int kind)
{
	uintptr_t off = p & CHUNK_MASK;

	if (likely((kind & PM_LARGEC_MASK) == PM_LARGEC))
		return off == ((kind & (PM_LARGEC_LINES - 1)) + 1) * LARGE_HDR;
	return (kind == PM_LARGE && off >= LARGE_HDR &&
		*(const uintptr_t *)(p - off) == off) ||
	       (kind == PM_LARGE0 && off == 0);
}

/* @ptr, handed to @op, in a region of @kind, is no live large block:
 * say what it is. */
static __cold __noreturn void large_lookup_failed(void *ptr, const char *op,
						  unsigned int kind)
{
	uintptr_t p = (uintptr_t)ptr;

	if (large_at_header(p, kind) &&
	    READ_ONCE(large_hdr(p)->cookie) == large_binned_cookie(p))
		large_report_freed(op, ptr);
	if (pm_large(kind))
		report_misuse_op(op, "invalid pointer", ptr,
				 REPORT_INSIDE_LARGE);
	large_report_unknown(op, ptr);
}

/* The header of large block @ptr, whose region is of @kind in the page
 * map and whose live cookie is @live (large_cookie()), or a report naming
 * @op if it is not one. */
static __always_inline struct large *large_lookup_kind(void *ptr,
						       const char *op,
						       unsigned int kind,
						       uintptr_t live)
{
	uintptr_t p = (uintptr_t)ptr;

	if (likely(large_at_header(p, kind)) &&
	    likely(READ_ONCE(large_hdr(p)->cookie) == live))
		return large_hdr(p);
	large_lookup_failed(ptr, op, kind);
}

static struct large *large_lookup(void *ptr, const char *op)
{
	return large_lookup_kind(ptr, op, pagemap_kind((uintptr_t)ptr),
				 large_cookie((uintptr_t)ptr));
}

size_t large_usable(void *ptr, const char *op)
{
	return large_lookup(ptr, op)->usable;
}

/**
 * large_size_fits() - could a call asking for @size bytes have given large
 * block @ptr, or left it as it is (realloc)?  Yes for the size last asked
 * for, and for any size from its last page up to the usable one (the
 * usable size itself, say); the caller has checked that @size gets a
 * large block at all.  A pointer that is no live large block is reported
 * as free() reports it.
 */
bool large_size_fits(void *ptr, size_t size)
{
	struct large *l = large_lookup(ptr, "free");
	size_t off = (uintptr_t)ptr - l->map_start;

	if (size == l->asked)
		return true;
	/* A reused mapping may put the usable size pages beyond it. */
	return size <= l->usable &&
	       large_map_for(off, size) >= large_map_for(off, l->asked);
}

/* Freed block @l at @p: its mapping goes to the process-wide cache. */
static void large_release(struct large *l, uintptr_t p)
{
	size_t map = l->map_size;
	uintptr_t start = l->map_start;
	uint32_t parts = l->parts;

	WRITE_ONCE(recent[fetch_add_relaxed(&recent_pos, 1) % RECENT], p);
	pagemap_clear(p, 1);
	fetch_sub_relaxed(&live_blocks, 1);
	fetch_sub_relaxed(&live_bytes, map);
	count_large_sub(map);
	if (l->guard)
		large_quarantine_put(start, map);
	else
		large_cache_put(start, map, parts);
}

/* large_free() of @l at @p, whose live cookie is @live, with no bin to
 * keep it: its mapping goes to the cache.  Out of line: the bin's path
 * then saves no registers. */
static noinline void large_free_unbinned(struct large *l, uintptr_t p,
					 uintptr_t live)
{
	/* Whoever swaps the live cookie out first frees the block. */
	if (xchg(&l->cookie, 0) != live)
		report_misuse("double free", (void *)p, REPORT_LARGE);
	if (l->guard)
		large_secure_check(l, p);
	prof_free_hook((void *)p);
	large_release(l, p);
}

/**
 * large_free() - free large block @ptr, whose region the caller found of
 * @kind (pm_large()) in the page map; anything else it is is reported.
 */
void large_free(void *ptr, unsigned int kind)
{
	uintptr_t p = (uintptr_t)ptr, live = large_cookie(p);
	struct large *l = large_lookup_kind(ptr, "free", kind, live);
	struct heap *h = bitslab_tls_heap;
	struct lbin *b = lbin_for(h, l);

	if (!b) {
		large_free_unbinned(l, p, live);
		return;
	}
	if (xchg(&l->cookie, live ^ BINNED_MIX) != live)
		report_misuse("double free", ptr, REPORT_LARGE);
	DEBUG_BUG_ON(l->guard);		/* a block with a bin has none */
	/* The slot, then the count: a fork child flushes only what the
	 * count covers. */
	b->blocks[b->count] = ptr;
	b->map[b->count] = (uint32_t)l->map_size;
	atomic_signal_fence(memory_order_seq_cst);
	b->count++;
	h->lbin_nonempty |= 1U << l->bin;
	lbin_account(h, l->map_size, 1);
}

/**
 * large_bin_flush() - every block in @h's large bins goes to the
 * process-wide cache (thread exit, trim, a refused mapping; in a fork
 * child, a heap whose thread did not survive).  Owner only, or a heap no
 * thread owns any more.
 */
void large_bin_flush(struct heap *h)
{
	unsigned int i;

	if (!h->lbin_bytes)
		return;
	for (i = 0; i < LBIN_CLASSES; i++) {
		struct lbin *b = &h->lbins[i];

		while (b->count) {
			uintptr_t p = (uintptr_t)b->blocks[b->count - 1];
			struct large *l = large_hdr(p);

			/*
			 * Off the bin before it goes: a fork during the
			 * flush leaves the child only blocks still binned.
			 * In a fork child, a dead thread may have stopped
			 * between a pop's count and its cookie: the block
			 * is left as it is.
			 */
			b->count--;
			atomic_signal_fence(memory_order_seq_cst);
			if (READ_ONCE(l->cookie) != large_binned_cookie(p))
				continue;
			atomic_store_explicit(&l->cookie, 0,
					      memory_order_relaxed);
			large_release(l, p);
		}
	}
	/* The counts go with the bins (what a fork child could not follow
	 * stays mapped, uncounted). */
	large_bin_init(h);
}

/** large_bin_init() - @h's large bins empty, and counted so. */
void large_bin_init(struct heap *h)
{
	memset(h->lbins, 0, sizeof(h->lbins));
	h->lbin_bytes = 0;
	/* Only a thread's heap bins, and not under the profiler: the
	 * others' limit is 0. */
	h->lbin_limit = h->kind == HEAP_KIND_THREAD && !prof_active ?
			lbin_limit_now() : 0;
	h->lbin_nonempty = 0;
}

#define SHRINK_KEEP (1UL << 20)
/* A block growing to at most this much mapping is copied (see below). */
#define REALLOC_COPY_MAX (1UL << 20)

/* A new block and a copy.  NULL if none.  Inlined: the profiler drops
 * the frames of large_realloc() as the allocator's own, and of no other
 * function of this file (core/prof.c, self_funcs[]). */
static __always_inline void *large_realloc_copy(struct large *l, void *ptr,
						size_t size)
{
	/* The alignment asked for (the offset says nothing of it: a
	 * block's colour, a secure block's place against its guard). */
	size_t align = l->align_shift ? 1UL << l->align_shift : 0;
	void *q = large_alloc(bitslab_tls_heap, size, align, false);

	if (!q)
		return NULL;
	memcpy(q, ptr, l->usable < size ? l->usable : size);
	large_free(ptr, pagemap_kind((uintptr_t)ptr));
	return q;
}

/*
 * realloc of secure block @ptr (header @l) to @size bytes: in place while
 * the end stays in its last page (the slack, checked, moves with it; the
 * guard stays where it is), else a new block and a copy, and the old one
 * goes to the quarantine as any free: the pages of a secure block are
 * never moved or grown into, which would leave its end far from a guard.
 */
static void *large_realloc_secure(struct large *l, void *ptr, size_t size)
{
	uintptr_t p = (uintptr_t)ptr;
	size_t room = large_secure_room(l, p);

	if (size <= room && room - size < OS_PAGE_SIZE) {
		large_secure_check(l, p);
		if (size < l->asked)	/* @room: the fill ends at a word */
			secure_slack_fill(ptr, size, room);
		l->asked = size;
		l->usable = size;
		return ptr;
	}
	return large_realloc_copy(l, ptr, size);
}

/**
 * large_realloc() - resize large block @ptr to @size bytes (more than
 * SMALL_MAX).  A block shrinking by at most SHRINK_KEEP keeps its mapping
 * (no munmap, no TLB shootdown; the tail stays usable); beyond that the
 * tail goes to the cache.  A growing block grows in place if the mapping
 * can, else its pages move with mremap() onto a fresh aligned reservation
 * (no copy); either way its new tail is filled with cached pieces, whose
 * pages are in already.  Only a kernel that refuses the move gets a copy.
 * NULL with errno = ENOMEM leaves @ptr intact.
 */
void *large_realloc(void *ptr, size_t size)
{
	uintptr_t p = (uintptr_t)ptr, np;
	struct large *l = large_lookup(ptr, "realloc");
	size_t off = p - l->map_start, map, old = l->map_size;
	void *target, *moved;
	unsigned int kind;

	if (size > LARGE_MAX - off) {
		errno = ENOMEM;
		return NULL;
	}
	if (l->guard)
		return large_realloc_secure(l, ptr, size);
	map = large_map_for(off, size);
	if (map <= old && old - map <= SHRINK_KEEP) {
		/* A batch's block may have mapping past its usable size. */
		if (size > l->usable)
			l->usable = l->map_start + old - p;
		l->asked = size;
		return ptr;
	}
	/*
	 * Growing to at most REALLOC_COPY_MAX: a new block from the bins, a
	 * batch or the cache, and a copy of less than that.  Grown in place
	 * or moved by mremap(), a vector doubling through these sizes made
	 * four system calls a step (a failed mremap() in place, a mapping,
	 * its trim, the move): workload vectors 4 200000 1024 made 6,700
	 * memory calls, 168 since (mimalloc 68, tcmalloc 58), and its peak
	 * RSS went from 51 to 47 MiB (mimalloc 46) at the same time.  With
	 * 4 MiB, 144 calls and 45 MiB; bigger blocks still move by mremap(),
	 * a copy of them costs more than the calls.
	 */
	if (map > old && map <= REALLOC_COPY_MAX && !l->align_shift)
		return large_realloc_copy(l, ptr, size);
	/* The profiler forgets the block before its address can be reused
	 * (if the realloc fails, the sample is lost: only an underestimate). */
	prof_free_hook(ptr);
	if (map < old) {
		uint32_t tail = l->parts;

		l->parts = parts_split(&tail, map, old);
		large_cache_put(l->map_start + map, old - map, tail);
	} else if (os_grow_in_place((void *)l->map_start, old, map)) {
		l->parts += large_cache_fill(l->map_start + old, map - old,
					     false);
	} else {
		target = (void *)large_map_fresh(map, CHUNK_SIZE);
		if (!target) {
			errno = ENOMEM;
			return NULL;
		}
		np = (uintptr_t)target + off;
		if (pagemap_mark(np, pagemap_kind(p))) {
			os_unmap(target, map);
			errno = ENOMEM;
			return NULL;
		}
		/*
		 * Clear the old region's mark before its range goes back to
		 * the kernel: from then on another thread may map a chunk
		 * there and mark it, and a late clear would unmark that chunk.
		 * The leaf exists, so marking it again cannot fail.
		 */
		kind = pagemap_kind(p);
		pagemap_clear(p, 1);
		moved = os_remap((void *)l->map_start, old, map, target);
		if (!moved) {
			pagemap_mark(p, kind);
			pagemap_clear(np, 1);
			os_unmap(target, map);
			return large_realloc_copy(l, ptr, size);
		}
		WRITE_ONCE(recent[fetch_add_relaxed(&recent_pos, 1) % RECENT], p);
		p = np;
		l = large_hdr(p);
		l->map_start = (uintptr_t)moved;
		atomic_store_explicit(&l->cookie, large_cookie(p),
				      memory_order_relaxed);
		l->parts += large_cache_fill(l->map_start + old, map - old,
					     false);
	}
	large_set_map(l, map);
	l->usable = l->map_start + map - p;
	l->asked = size;
	fetch_add_relaxed(&live_bytes, map - old);
	count_large_resize(old, map);
	prof_alloc_hook((void *)p, size);
	return (void *)p;
}
