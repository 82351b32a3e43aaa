// SPDX-License-Identifier: MIT
/*
 * chunk.c - creating chunks and claiming or releasing their blocks through
 * the atomic used bitmap.
 *
 * Claims: only the chunk's owner claims, one bitmap word at a time with
 * bitmap_claim_mask() (fetch_or), and counts what it got in nused.
 * Releases (release.c, shared.c): the owner, or a class lock holder while
 * the chunk is shared, with bitmap_release_mask() (fetch_and), which
 * reports a bit that was already clear.  Who may do what when is the
 * ownership protocol at the top of chunk.h.
 */
#include <errno.h>

#include "chunk.h"
#include "os.h"
#include "secure.h"
#include "report.h"
#include "chunk_cache.h"
#include "counters.h"
#include "heap.h"
#include "reclaim.h"

uintptr_t bitslab_secret;

static _Atomic long chunks_live;

/*
 * Bytes of live chunks (created and not yet reclaimed), and the highest
 * that figure reached in the current and the previous window of
 * chunk_live_recent_peak(): what the program needed lately, which bounds
 * the chunk cache (core/chunk_cache.c).
 */
static _Atomic size_t live_bytes;		/* atomic: any */
static _Atomic size_t peak_cur, peak_prev;	/* atomic: any raises
						 * peak_cur; rotated by
						 * one caller at a time */
static uint64_t window_start;			/* that caller */

/* Set once a chunk could only be had after giving memory back: from then
 * on new chunks take the shortest span that holds two blocks. */
static _Atomic bool vm_tight;

/* Set once a class has had its short chunk (see chunk_create()). */
static _Atomic bool short_taken[NR_SIZE_CLASSES];

long chunk_live_count(void)
{
	return READ_ONCE(chunks_live);
}

/** chunk_live_bytes() - bytes of the chunks created and not reclaimed. */
size_t chunk_live_bytes(void)
{
	return READ_ONCE(live_bytes);
}

/* A chunk of @span bytes went live: raise the window's peak. */
static void live_add(size_t span)
{
	size_t now = fetch_add_relaxed(&live_bytes, span) + span;
	size_t peak = READ_ONCE(peak_cur);

	while (now > peak && !try_cmpxchg_relaxed(&peak_cur, &peak, now))
		;
}

/**
 * chunk_live_recent_peak() - the most bytes of live chunks at any time in
 * the last @window_ms to 2 * @window_ms before @now (ms): windows rotate
 * when one is @window_ms old, the last two count.  Callers are serialised
 * (the chunk cache's lock); a chunk created during a rotation may go
 * unseen in the peak (the live figure written there includes it).
 */
size_t chunk_live_recent_peak(uint64_t now, uint64_t window_ms)
{
	size_t live = READ_ONCE(live_bytes), cur, prev;

	if (!window_ms)
		window_ms = 1;
	if (now - window_start >= window_ms || now < window_start) {
		WRITE_ONCE(peak_prev, READ_ONCE(peak_cur));
		WRITE_ONCE(peak_cur, live);
		window_start = now;
	}
	cur = READ_ONCE(peak_cur);
	prev = READ_ONCE(peak_prev);
	return max(max(cur, prev), live);
}

/*
 * A chunk of @span bytes for class @cls; *@fresh says whether it is new
 * from the system.  On a miss while retired chunks wait for their grace
 * period (which the helper then runs at once), the batch mapped ahead is
 * cut by as many: the cache is about to be refilled with them.
 */
static struct chunk *chunk_get_span(size_t span, unsigned int cls,
				    bool *fresh)
{
	bool zero;
	struct chunk *c = chunk_cache_get(span, cls, &zero);

	*fresh = !c || zero;
	return c ? c : chunk_cache_map(span, (size_t)reclaim_hungry());
}

/* The shortest span of @sc, down to @floor, that holds two blocks. */
static size_t span_shortest(const struct size_class *sc, size_t floor)
{
	size_t span = sc->span;

	while (span > floor && span / 2 >= sc->first + 2 * sc->size)
		span /= 2;
	return span;
}

/**
 * chunk_create() - a new chunk of class @cls owned by @owner (NULL for
 * none), from the cache of retired chunks or fresh from the system.
 * @shorter: if the class's span cannot be had, take a shorter one (down to
 * one that holds a block): under an address-space limit, a class with
 * big spans would otherwise fail while smaller mappings still fit.  A
 * class's first chunk is short as well while the program is small.  The
 * block count and the divisibility limit are the chunk's own.
 * Return: the chunk, or NULL with errno = ENOMEM.
 */
struct chunk *chunk_create(unsigned int cls, struct heap *owner, bool shorter)
{
	const struct size_class *sc = &size_classes[cls];
	size_t span = sc->span;
	unsigned int nblocks = sc->nblocks;
	struct chunk *c;
	uintptr_t first;
	bool fresh;

	/*
	 * While the program is small, a class's first chunk is short.  A
	 * program that has just started touches a dozen classes or more,
	 * and a chunk of each, 64 KiB or more of address space apiece, made
	 * bitslab's mappings several times what the program asked for (cat:
	 * 2.6 MiB of anonymous mappings against glibc's 0.1).  So the first
	 * chunk of each class, if the live chunks take less than
	 * CHUNK_SHORT_UNTIL bytes by then, takes the shortest span, down to
	 * CHUNK_SPAN_MIN, that holds two blocks of its class: still at a
	 * CHUNK_SIZE boundary, its header where every chunk's is, the rest
	 * of its region left unmapped.  The page map marks the region as a
	 * chunk's, so a pointer into whatever the kernel maps in that gap
	 * is rejected as one past the chunk's last block; our own mappings
	 * that the page map marks (chunks, large blocks) start at region
	 * boundaries and never land there.  Only the first: making every
	 * chunk of a small program short cost a mapping, and later an
	 * unmapping, per 8 KiB, hundreds of system calls in all.  Only
	 * while the program has had one thread: a program that starts
	 * threads at once (churn, wset) made some 30 short chunks it soon
	 * outgrew, about a hundred system calls more a run.  Back in the
	 * cache, a short chunk is grown into a whole one
	 * (chunk_cache_get()).  Nor while the chunk arena has room for a
	 * whole one: reserved already, it costs no address space more, and
	 * no call (a short one placed off its boundary took three).
	 */
	if (READ_ONCE(live_bytes) < CHUNK_SHORT_UNTIL && !heap_many_threads() &&
	    !READ_ONCE(short_taken[cls]) && !xchg(&short_taken[cls], true) &&
	    !chunk_arena_room(span))
		span = span_shortest(sc, CHUNK_SPAN_MIN);
	else if (shorter || READ_ONCE(vm_tight) ||
		 (span > CHUNK_SIZE && os_vm_tight()))
		span = span_shortest(sc, CHUNK_SIZE);
	c = chunk_get_span(span, cls, &fresh);
	while (!c && shorter && span > CHUNK_SIZE &&
	       span / 2 >= sc->first + sc->size) {
		span /= 2;
		c = chunk_get_span(span, cls, &fresh);
	}
	if (c && shorter)
		WRITE_ONCE(vm_tight, true);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	if (span != sc->span)
		nblocks = (unsigned int)((span - sc->first) / sc->size);
	first = (uintptr_t)c + sc->first;
	atomic_init(&c->owner, owner);
	c->div_magic = sc->div_magic;
	/* div_limit is nblocks times the class's step (see chunk.h). */
	c->div_limit = sc->div_limit / sc->nblocks * nblocks;
	c->div_recip = sc->div_recip;
	c->first_lo = (uint32_t)first;
	c->first = sc->first;
	c->size = sc->size;
	c->cls = (uint16_t)cls;
	c->nblocks = (uint16_t)nblocks;
	c->magic = CHUNK_MAGIC;
	atomic_init(&c->nused, 0);
	CDS_INIT_LIST_HEAD(&c->node);
	CDS_INIT_LIST_HEAD(&c->shared);
	c->retire.next = NULL;
	c->span = (uint32_t)span;
	c->hint = 0;
	c->list = CHUNK_LIST_NONE;
	c->kept_empty = false;
	c->was_shared = false;
	bitmap_init(c->used, nblocks, CHUNK_MAX_BLOCKS);
	c->zero = false;
	c->idle_dirty = false;
	secure_chunk_setup(c, fresh);
	fetch_add_relaxed(&chunks_live, 1);
	live_add(span);
	count_chunk_add(c);
	return c;
}

/** chunk_forget() - a dead chunk leaves the live count (reclaim). */
void chunk_forget(struct chunk *c)
{
	fetch_sub_relaxed(&chunks_live, 1);
	fetch_sub_relaxed(&live_bytes, c->span);
	count_chunk_sub(c);
}

/**
 * chunk_claim() - claim up to @want clear blocks of @c, lowest first, and
 * chain them through word 0 (each with the owner's local cookie) from
 * *@first to *@last.  Owner only.  Return: how many were claimed (0: none left).
 *
 * The owner, under its heap lock, is the only thread that changes the
 * bits of a chunk it owns (core/chunk.h), so the clear bits it reads in a
 * word are still clear when it sets them: it chains the blocks of each
 * run of clear bits as consecutive addresses, then sets the word's bits
 * with one fetch_or, and the debug build checks that it got them all.
 * (Counting the bits first, picking the lowest ones in a loop of their
 * own and then each block's address from its index cost 24 - 33
 * instructions a block under callgrind.)
 */
unsigned int chunk_claim(struct chunk *c, unsigned int want, void ***first,
			 void ***last)
{
	unsigned int words = (unsigned int)BITS_TO_LONGS(c->nblocks);
	unsigned int w, got = 0;
	void **head = NULL, **tail = NULL;
	uintptr_t cookie = free_cookie_local(READ_ONCE(c->owner));
	size_t size = c->size;

	/*
	 * Words below the hint were full when last looked at, but a release
	 * may have cleared bits there since (the owner lowers the hint when
	 * it releases; a late release through another path may not).  So a
	 * scan from the hint that finds nothing looks again from word 0
	 * before the chunk is called full.
	 */
	if (c->hint >= words)
		c->hint = 0;
	w = c->hint;
again:
	for (; w < words && got < want; w++) {
		unsigned long clear = ~READ_ONCE(c->used[w]), mine = 0;
		unsigned long __maybe_unused set;

		if (!clear)
			continue;
		do {	/* a run of clear bits at a time: consecutive blocks */
			unsigned long b = __ffs(clear), ones = ~(clear >> b);
			unsigned int n = ones ? (unsigned int)__ffs(ones)
					      : BITS_PER_LONG;
			unsigned long run;
			char *p = (char *)chunk_block(c, w * BITS_PER_LONG + b);

			if (n > want - got)
				n = want - got;
			run = (n == BITS_PER_LONG ? ~0UL : (1UL << n) - 1) << b;
			clear &= ~run;
			mine |= run;
			got += n;
			if (tail)
				tail[0] = p;
			else
				head = (void **)p;
			for (; --n; p += size) {
				((void **)p)[1] = (void *)cookie;
				((void **)p)[0] = p + size;
			}
			((void **)p)[1] = (void *)cookie;
			tail = (void **)p;
		} while (got < want && clear);
		set = bitmap_claim_mask(c->used, w, mine);
		DEBUG_BUG_ON(set != mine);
		if (clear)
			break;	/* this word still has clear bits */
	}
	if (!got && c->hint) {
		c->hint = 0;
		w = 0;
		goto again;
	}
	if (w >= words)
		w = 0;
	c->hint = w;
	if (!got)
		return 0;
	tail[0] = NULL;
	WRITE_ONCE(c->nused, READ_ONCE(c->nused) + got);	/* owner only */
	*first = head;
	*last = tail;
	return got;
}

