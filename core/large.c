// SPDX-License-Identifier: MIT
/*
 * large.c - blocks beyond SMALL_MAX get a mapping of their own.
 *
 * The mapping starts at a CHUNK_SIZE boundary and spans whole chunks, so the
 * page-map region of the user pointer is entirely ours.  A 64-byte header
 * sits just before the user pointer; the region of the user pointer is
 * marked PM_LARGE (pointer at offset >= 64 in its region) or PM_LARGE0
 * (offset 0, for alignments of CHUNK_SIZE or more; the header then ends the
 * previous region, which the mapping also covers).  free() reads the header
 * only after the page map said the region is a large block's, and accepts
 * the pointer only if the header's cookie matches it: interior pointers and
 * stale pointers are rejected without touching unmapped memory.
 *
 * Freed mappings are kept in a small per-heap cache (no lock: only the
 * heap's thread touches it) and reused for blocks whose mapping is the same
 * size or up to a third smaller, which spares the mmap, the munmap and the
 * page faults of a workload that frees and reallocates buffers.  The cache
 * holds at most LARGE_CACHE_BYTES and nothing older than LARGE_CACHE_MS, so
 * memory that stays unused still goes back to the system.
 *
 * Nothing here takes a lock.  Concurrency: a block is freed by whoever swaps
 * its cookie to 0 first; a second free loses and is reported.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <bitslab/types.h>

#include "chunk.h"
#include "heap.h"
#include "large.h"
#include "os.h"
#include "pagemap.h"
#include "prof.h"
#include "report.h"
#include "counters.h"

#define LARGE_HDR	64
#define LARGE_MAX	((size_t)PTRDIFF_MAX - 2 * CHUNK_SIZE)
#define RECENT		64
#define LARGE_CACHE_BYTES	(8UL << 20)
#define LARGE_CACHE_MS		1000

struct large {
	uintptr_t map_start;		/* const while live */
	size_t map_size;		/* the block's owner (the user) */
	size_t usable;			/* bytes from the user pointer on */
	_Atomic uintptr_t cookie;	/* atomic: large_cookie() while live */
	size_t asked;			/* the size last asked for (malloc,
					 * realloc): the user */
	uint64_t reserved[3];
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

void large_get_stats(long *blocks, size_t *bytes)
{
	*blocks = READ_ONCE(live_blocks);
	*bytes = READ_ONCE(live_bytes);
}

static bool heap_has_cache(struct heap *h)
{
	return h->kind == HEAP_KIND_THREAD;
}

/* Unmap cached mapping @s. */
static void large_cache_evict(struct heap *h, struct large_slot *s)
{
	os_unmap((void *)s->start, s->size);
	h->lcache_bytes -= s->size;
	s->start = 0;
}

/* Unmap cached mappings older than LARGE_CACHE_MS (all if @all). */
static void large_cache_expire(struct heap *h, bool all)
{
	uint64_t now = all ? 0 : os_now_ms();
	unsigned int i;

	for (i = 0; i < LARGE_CACHE_SLOTS; i++) {
		struct large_slot *s = &h->lcache[i];

		if (s->start && (all || now - s->stamp > LARGE_CACHE_MS))
			large_cache_evict(h, s);
	}
}

/* The slot of the smallest cached mapping of @map to @map * 3 / 2 bytes. */
static struct large_slot *large_cache_find(struct heap *h, size_t map)
{
	struct large_slot *best = NULL;
	unsigned int i;

	if (!h->lcache_bytes)
		return NULL;
	for (i = 0; i < LARGE_CACHE_SLOTS; i++) {
		struct large_slot *s = &h->lcache[i];

		if (s->start && s->size >= map && s->size <= map + map / 2 &&
		    (!best || s->size < best->size))
			best = s;
	}
	return best;
}

/* Take the mapping large_cache_find() picks; its start, or 0. */
static uintptr_t large_cache_get(struct heap *h, size_t map, size_t *got)
{
	struct large_slot *best = large_cache_find(h, map);
	uintptr_t start;

	if (!best)
		return 0;
	start = best->start;
	*got = best->size;
	h->lcache_bytes -= best->size;
	best->start = 0;
	h->stats.large_reused++;
	return start;
}

/* A free slot (@oldest: the one cached longest ago instead), or NULL. */
static struct large_slot *large_cache_slot(struct heap *h, bool oldest)
{
	struct large_slot *found = NULL;
	unsigned int i;

	for (i = 0; i < LARGE_CACHE_SLOTS; i++) {
		struct large_slot *s = &h->lcache[i];

		if (!oldest && !s->start)
			return s;
		if (oldest && s->start && (!found || s->stamp < found->stamp))
			found = s;
	}
	return found;
}

/* Keep a freed mapping if it fits; return false to have it unmapped. */
static bool large_cache_put(struct heap *h, uintptr_t start, size_t size)
{
	struct large_slot *slot;

	if (!heap_has_cache(h) || size > LARGE_CACHE_BYTES / 2)
		return false;
	large_cache_expire(h, false);
	/* The oldest go until it fits, in bytes and in slots. */
	while (h->lcache_bytes + size > LARGE_CACHE_BYTES)
		large_cache_evict(h, large_cache_slot(h, true));
	slot = large_cache_slot(h, false);
	if (!slot) {
		slot = large_cache_slot(h, true);
		large_cache_evict(h, slot);
	}
	*slot = (struct large_slot){ start, size, os_now_ms() };
	h->lcache_bytes += size;
	return true;
}

/** large_cache_drain() - unmap every mapping @h keeps (trim, exit). */
void large_cache_drain(struct heap *h)
{
	if (h->lcache_bytes)
		large_cache_expire(h, true);
}

/**
 * large_alloc() - a block of @size bytes aligned at @align (0: 64 bytes),
 * zero-filled if @zero (fresh mappings always are), for the thread whose
 * heap is @h (which caches freed mappings).  The allocator must be set up
 * (the free cookie secrets).  NULL with errno = ENOMEM if it cannot be
 * mapped; the caller may give memory back and try again.
 */
void *large_alloc(struct heap *h, size_t size, size_t align, bool zero)
{
	size_t off, map, lead = 0, map_align = CHUNK_SIZE;
	uintptr_t start = 0, p;
	struct large *l;

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
	map = ALIGN_UP(off + (size ? size : 1), CHUNK_SIZE);
	if (!lead && heap_has_cache(h))
		start = large_cache_get(h, map, &map);
	if (start) {
		p = start + off;
		if (zero)
			memset((void *)p, 0, size);
		goto mark;
	}
	start = (uintptr_t)os_map_aligned(map, map_align);
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
	p = start + off;
mark:
	if (pagemap_mark(p, off == CHUNK_SIZE ? PM_LARGE0 : PM_LARGE)) {
		os_unmap((void *)start, map);
		errno = ENOMEM;
		return NULL;
	}
	l = large_hdr(p);
	l->map_start = start;
	l->map_size = map;
	l->usable = start + map - p;
	l->asked = size;
	atomic_init(&l->cookie, large_cookie(p));
	fetch_add_relaxed(&live_blocks, 1);
	fetch_add_relaxed(&live_bytes, map);
	count_large_add(map);
	prof_alloc_hook((void *)p, size);
	return (void *)p;
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
	if (recently_freed((uintptr_t)ptr)) {
		if (!strcmp(op, "free"))
			report_misuse("double free", ptr, REPORT_LARGE);
		report_misuse_op(op, "freed block", ptr, REPORT_LARGE);
	}
	report_misuse_op(op, "invalid pointer", ptr, REPORT_FOREIGN);
}

/* The header of large block @ptr, or a report naming @op if it is not one. */
static struct large *large_lookup(void *ptr, const char *op)
{
	uintptr_t p = (uintptr_t)ptr, off = p & CHUNK_MASK;
	unsigned int kind = pagemap_kind(p);
	struct large *l;

	if ((kind == PM_LARGE && off >= LARGE_HDR) ||
	    (kind == PM_LARGE0 && off == 0)) {
		l = large_hdr(p);
		if (READ_ONCE(l->cookie) == large_cookie(p))
			return l;
	}
	if (kind == PM_LARGE || kind == PM_LARGE0)
		report_misuse_op(op, "invalid pointer", ptr,
				 REPORT_INSIDE_LARGE);
	large_report_unknown(op, ptr);
}

size_t large_usable(void *ptr, const char *op)
{
	return large_lookup(ptr, op)->usable;
}

/* The bytes of mapping a block @off bytes into it gets for @size bytes. */
static size_t large_map_for(size_t off, size_t size)
{
	return ALIGN_UP(off + (size ? size : 1), CHUNK_SIZE);
}

/**
 * large_size_fits() - could a call asking for @size bytes have given large
 * block @ptr, or left it as it is (realloc)?  Yes for the size last asked
 * for, and for any size up to the usable one that gets the same mapping
 * (the usable size itself, say); the caller has checked that @size gets a
 * large block at all.  A pointer that is no live large block is reported
 * as free() reports it.
 */
bool large_size_fits(void *ptr, size_t size)
{
	struct large *l = large_lookup(ptr, "free");
	size_t off = (uintptr_t)ptr - l->map_start;

	if (size == l->asked)
		return true;
	return size <= l->usable &&
	       large_map_for(off, size) == large_map_for(off, l->asked);
}

void large_free(void *ptr)
{
	uintptr_t p = (uintptr_t)ptr;
	struct large *l = large_lookup(ptr, "free");
	size_t map = l->map_size;
	uintptr_t start = l->map_start;

	if (xchg(&l->cookie, 0) != large_cookie(p))
		report_misuse("double free", ptr, REPORT_LARGE);
	prof_free_hook(ptr);
	WRITE_ONCE(recent[fetch_add_relaxed(&recent_pos, 1) % RECENT], p);
	pagemap_clear(p, 1);
	fetch_sub_relaxed(&live_blocks, 1);
	fetch_sub_relaxed(&live_bytes, map);
	count_large_sub(map);
	if (!large_cache_put(bitslab_tls_heap, start, map))
		os_unmap((void *)start, map);
}

#define SHRINK_KEEP (1UL << 20)

/**
 * large_realloc() - resize large block @ptr to @size bytes (more than
 * SMALL_MAX).  A block shrinking by at most SHRINK_KEEP keeps its mapping
 * (no munmap, no TLB shootdown; the tail stays usable).  A growing block
 * moves into a mapping the thread has cached if there is one (a copy, but
 * no system call and no page faults); else it grows in place if the
 * mapping can, else its pages move with mremap() onto a fresh aligned
 * reservation (no copy).  NULL with errno = ENOMEM leaves @ptr intact.
 */
void *large_realloc(void *ptr, size_t size)
{
	uintptr_t p = (uintptr_t)ptr, np;
	struct large *l = large_lookup(ptr, "realloc");
	size_t off = p - l->map_start, map, old = l->map_size;
	struct heap *h = bitslab_tls_heap;
	void *target, *moved;
	unsigned int kind;

	if (size > LARGE_MAX - off) {
		errno = ENOMEM;
		return NULL;
	}
	map = ALIGN_UP(off + size, CHUNK_SIZE);
	if (map <= old && old - map <= SHRINK_KEEP) {
		l->asked = size;
		return ptr;
	}
	/* The profiler forgets the block before its address can be reused
	 * (if the realloc fails, the sample is lost: only an underestimate). */
	prof_free_hook(ptr);
	if (map > old && off == LARGE_HDR && heap_has_cache(h) &&
	    large_cache_find(h, map)) {
		void *q = large_alloc(h, size, 0, false);

		if (q) {
			memcpy(q, ptr, l->usable);
			large_free(ptr);
			return q;
		}
	}
	if (map < old) {
		os_unmap((void *)(l->map_start + map), old - map);
	} else if (!os_grow_in_place((void *)l->map_start, old, map)) {
		target = os_map_aligned(map, CHUNK_SIZE);
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
			errno = ENOMEM;
			return NULL;
		}
		WRITE_ONCE(recent[fetch_add_relaxed(&recent_pos, 1) % RECENT], p);
		p = np;
		l = large_hdr(p);
		l->map_start = (uintptr_t)moved;
		atomic_store_explicit(&l->cookie, large_cookie(p),
				      memory_order_relaxed);
	}
	l->map_size = map;
	l->usable = l->map_start + map - p;
	l->asked = size;
	fetch_add_relaxed(&live_bytes, map - old);
	count_large_resize(old, map);
	prof_alloc_hook((void *)p, size);
	return (void *)p;
}
