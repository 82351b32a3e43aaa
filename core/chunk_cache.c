// SPDX-License-Identifier: MIT
/*
 * chunk_cache.c - reclaimed chunks kept for reuse.
 *
 * A workload whose blocks move between size classes (vectors growing
 * through the classes) empties chunks of one class while it needs new ones
 * of another.  Handing each empty chunk back to the kernel and mapping a
 * fresh one costs an munmap with its TLB shootdown, an mmap and a page
 * fault per page.  Chunks that went through their grace period wait here
 * instead, one list per span size, most recent first, for a new chunk of
 * any class with that span (of its own class first: __cache_take()).
 *
 * Bounded twice: nothing stays longer than opt_decay_ms unused, and at
 * most what the program's chunks took at their recent peak stays at all
 * (at least opt_chunk_cache times 64 KiB; __cache_budget()).  And what no
 * new chunk needed for opt_purge_ms gives its pages back before that,
 * staying mapped (__purge_pick()).  The reclaim
 * helper thread enforces both (chunk_cache_decay()): woken when the cache
 * goes over its budget, and at the time its oldest chunk expires, it
 * unmaps in sorted runs, off the user's calls; it sleeps for good while
 * the cache is empty.  A miss while retired chunks wait for their grace
 * period maps that many fewer ahead, and has the helper run that grace
 * period now (core/chunk.c, reclaim_hungry()).  Without a helper (none
 * could be started), the thread that releases chunks does the same
 * inline.  malloc_trim() or a refused mmap empties the cache.  A cached
 * chunk keeps its page-map entries and its dead header (list DEAD, every
 * block's bit clear), so a stale free into it is still recognised.
 *
 * Lock order: arena_lock, then cache_lock, taken last (see
 * Documentation/design.rst).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "options.h"
#include "os.h"

#define SPAN_KINDS	8	/* spans of 1/8, 1/4, 1/2, 1, 2, 4, 8, 16 chunks */

/* Adaptive: held for a few list operations, by threads creating and
 * retiring chunks at once; spinning briefly beats sleeping in the kernel. */
static pthread_mutex_t cache_lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static struct cds_list_head cache[SPAN_KINDS] = {
	{ &cache[0], &cache[0] }, { &cache[1], &cache[1] },
	{ &cache[2], &cache[2] }, { &cache[3], &cache[3] },
	{ &cache[4], &cache[4] }, { &cache[5], &cache[5] },
	{ &cache[6], &cache[6] }, { &cache[7], &cache[7] },
};
static size_t cache_bytes;		/* cache lock: on the lists */
static _Atomic long cache_count;	/* written under cache lock: on the
					 * lists and in purged runs */
static long dirty_count;		/* cache lock: on the lists */
static long dirty_low;			/* cache lock: the least dirty_count
					 * since the last purge pass */
static uint64_t purge_last;		/* cache lock: that pass, ms */
/*
 * How long chunks stay unused before a pass purges them (cache lock):
 * opt_purge_ms, doubled, up to PURGE_WAIT_MAX times that, whenever a new
 * chunk takes a purged one back (the pass purged what the program needed
 * again: workload wset, whose working set falls and rises again every few
 * dozen milliseconds, spent 12 - 70 madvise calls a run purging chunks it
 * took back at its next rise, faulting their pages in anew), and a
 * quarter shorter at each pass with no such regret since the one before.
 * A program that leaves chunks cached for good (threads that come and go,
 * workload larson) regrets no purge and keeps opt_purge_ms.
 */
#define PURGE_WAIT_MAX	16
static uint64_t purge_wait_ms;		/* cache lock: 0 until doubled */
static bool purge_regret;		/* cache lock: since the last pass */

static uint64_t __purge_wait(void)
{
	return max(purge_wait_ms, (uint64_t)opt_purge_ms);
}

/*
 * Purged runs: neighbouring chunks of one span whose pages went back to
 * the kernel (MADV_DONTNEED), headers and all, and which stay mapped and
 * marked in the page map.  Their headers read as zero, so they are kept
 * here, not on the lists through their headers.  Cache lock.
 */
struct prun {
	uintptr_t start;
	uint32_t n;		/* chunks */
	uint32_t span;
	uint64_t stamp;		/* the oldest of its chunks' cache stamps */
};

#define PRUN_MAX	256

static struct prun pruns[PRUN_MAX];
static unsigned int npruns;
static size_t purged_bytes;
static unsigned long drain_gen;		/* cache lock: drains so far */
static bool purge_off;			/* cache lock: madvise refused */
static unsigned int purge_tokens;	/* cache lock: purge calls allowed */
static uint64_t purge_token_ms;		/* cache lock: when last refilled */
static _Atomic size_t purge_total;	/* bytes purged, for statistics */
static _Atomic size_t decay_unmapped;	/* bytes given back by decay */
static _Atomic long chunks_mapped;	/* mapped by chunk_cache_map() */

static unsigned int span_kind(size_t span)
{
	return ilog2(span / CHUNK_SPAN_MIN);
}

static void cache_unlink(struct chunk *c)
{
	cds_list_del(&c->node);
	cache_bytes -= c->span;
	WRITE_ONCE(cache_count, READ_ONCE(cache_count) - 1);
	if (--dirty_count < dirty_low)
		dirty_low = dirty_count;
}

/* Move chunks older than @cutoff (all for 0) to @out.  Cache lock held. */
static void __cache_expire(uint64_t cutoff, struct cds_list_head *out)
{
	unsigned int k;

	for (k = 0; k < SPAN_KINDS; k++) {
		while (!cds_list_empty(&cache[k])) {
			struct chunk *c = cds_list_entry(cache[k].prev,
							 struct chunk, node);

			if (cutoff && c->stamp > cutoff)
				break;	/* the rest are younger */
			cache_unlink(c);
			cds_list_add(&c->node, out);
		}
	}
}

/* The oldest cached chunk, or NULL.  Cache lock held. */
static struct chunk *__cache_oldest(void)
{
	struct chunk *old = NULL;
	unsigned int k;

	for (k = 0; k < SPAN_KINDS; k++) {
		struct chunk *c;

		if (cds_list_empty(&cache[k]))
			continue;
		c = cds_list_entry(cache[k].prev, struct chunk, node);
		if (!old || c->stamp < old->stamp)
			old = c;
	}
	return old;
}

/*
 * The most the cache may hold at @now: what the program's chunks took at
 * their recent peak (chunk_live_recent_peak(), over the last one or two
 * decay periods), at least opt_chunk_cache chunks.  A program whose
 * working set swings, or whose threads come and go, empties and refills
 * that much again and again; a fixed budget below it unmapped the excess
 * chunk by chunk and the next rise mapped it anew.  Since the cache holds
 * only what the recent peak held, caching never takes the chunks' footprint
 * above twice that peak, and what stays unused goes back after decay_ms
 * anyway.  Cache lock held (it serialises the peak's windows).
 */
static size_t __cache_budget(uint64_t now)
{
	size_t least = (size_t)opt_chunk_cache << CHUNK_SHIFT;

	if (!least)
		return 0;	/* chunk_cache=0: keep nothing */
	return max(least, chunk_live_recent_peak(now, (uint64_t)opt_decay_ms));
}

/* Move the oldest chunks to @out until the cache fits @budget bytes.
 * Cache lock held. */
static void __cache_trim(size_t budget, struct cds_list_head *out)
{
	while (cache_bytes > budget) {
		struct chunk *c = __cache_oldest();

		cache_unlink(c);
		cds_list_add(&c->node, out);
	}
}

/* Expiry cutoff at @now: chunks cached before it have decayed (all of
 * them for a decay of 0). */
static uint64_t decay_cutoff(uint64_t now)
{
	uint64_t ms = (uint64_t)opt_decay_ms;

	if (!ms)
		return now + 1;
	return now > ms ? now - ms : 1;
}

#define UNMAP_BATCH 256

/* @c's place in sort_chunks(): by address, or newest (highest stamp)
 * first with @by_age. */
static __always_inline uintptr_t sort_key(const struct chunk *c, bool by_age)
{
	return by_age ? ~(uintptr_t)c->stamp : (uintptr_t)c;
}

/* Shell sort of @n chunks, by address or newest first (no allocation, no
 * recursion). */
static void sort_chunks(struct chunk **v, size_t n, bool by_age)
{
	size_t gap, i, j;

	for (gap = n / 2; gap; gap /= 2)
		for (i = gap; i < n; i++) {
			struct chunk *t = v[i];
			uintptr_t k = sort_key(t, by_age);

			for (j = i; j >= gap && sort_key(v[j - gap], by_age) > k;
			     j -= gap)
				v[j] = v[j - gap];
			v[j] = t;
		}
}

/* Unmap @n chunks, one munmap per run of adjacent ones. */
static size_t unmap_sorted(struct chunk **v, size_t n)
{
	size_t i = 0, bytes = 0;

	sort_chunks(v, n, false);
	while (i < n) {
		uintptr_t start = (uintptr_t)v[i], end = start + v[i]->span;

		for (i++; i < n && (uintptr_t)v[i] == end; i++)
			end += v[i]->span;
		pagemap_clear(start, end - start);
		os_unmap((void *)start, end - start);
		bytes += end - start;
	}
	return bytes;
}

/*
 * Cache lock held, about to drop it: the chunks on @out have left the
 * cache and are unmapped next (cache_unmap()); until then a trim waits for
 * them (os_unmap_wait()).
 */
static void __cache_let_go(struct cds_list_head *out)
{
	if (!cds_list_empty(out))
		os_unmap_begin();
}

/*
 * Unmap every chunk on @list, which __cache_let_go() let go of.  Chunks
 * mapped in one batch come back to the kernel in one munmap when they
 * leave together.
 */
static size_t cache_unmap(struct cds_list_head *list)
{
	struct chunk *v[UNMAP_BATCH];
	struct cds_list_head *pos, *tmp;
	size_t n = 0, bytes = 0;

	if (cds_list_empty(list))
		return 0;
	cds_list_for_each_safe(pos, tmp, list) {
		v[n++] = cds_list_entry(pos, struct chunk, node);
		if (n == UNMAP_BATCH) {
			bytes += unmap_sorted(v, n);
			n = 0;
		}
	}
	bytes += unmap_sorted(v, n);
	os_unmap_end();
	return bytes;
}

/* Take the last chunk of purged run @i.  Cache lock held. */
static struct chunk *__prun_take(unsigned int i)
{
	struct prun *r = &pruns[i];
	uintptr_t c = r->start + (uintptr_t)--r->n * r->span;

	purged_bytes -= r->span;
	WRITE_ONCE(cache_count, READ_ONCE(cache_count) - 1);
	if (!r->n)
		pruns[i] = pruns[--npruns];
	if (!purge_regret) {
		purge_regret = true;
		purge_wait_ms = min(2 * __purge_wait(),
				    PURGE_WAIT_MAX * (uint64_t)opt_purge_ms);
	}
	return (struct chunk *)c;
}

/* A purged chunk of @span bytes, or NULL.  Cache lock held. */
static struct chunk *__prun_get(size_t span)
{
	unsigned int i;

	for (i = npruns; i-- > 0;)
		if (pruns[i].span == span)
			return __prun_take(i);
	return NULL;
}

/* Move the purged runs cached before @cutoff (all for 0) to @out, at most
 * PRUN_BATCH of them.  Cache lock held.  Return: how many. */
#define PRUN_BATCH	16

static unsigned int __prun_expire(uint64_t cutoff, struct prun *out)
{
	unsigned int i = 0, n = 0;

	while (i < npruns && n < PRUN_BATCH) {
		if (cutoff && pruns[i].stamp > cutoff) {
			i++;
			continue;
		}
		out[n++] = pruns[i];
		purged_bytes -= (size_t)pruns[i].n * pruns[i].span;
		WRITE_ONCE(cache_count, READ_ONCE(cache_count) - pruns[i].n);
		pruns[i] = pruns[--npruns];
	}
	return n;
}

/* Unmap the @n runs at @v.  Return: bytes unmapped. */
static size_t prun_unmap(const struct prun *v, unsigned int n)
{
	size_t bytes = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		size_t len = (size_t)v[i].n * v[i].span;

		pagemap_clear(v[i].start, len);
		os_unmap((void *)v[i].start, len);
		bytes += len;
	}
	return bytes;
}

/* The oldest purged run's stamp, or 0 if none.  Cache lock held. */
static uint64_t __prun_oldest(void)
{
	uint64_t old = 0;
	unsigned int i;

	for (i = 0; i < npruns; i++)
		if (!old || pruns[i].stamp < old)
			old = pruns[i].stamp;
	return old;
}

#define PURGE_BATCH 256

/*
 * The chunks a pass took, until it keeps them again (cache lock): counted
 * in chunk_cache_bytes() meanwhile, and unmapped by a fork child, whose
 * copy of the pass never ends.
 */
static struct prun inflight[PURGE_BATCH];	/* runs of one chunk */
static unsigned int ninflight;
static size_t inflight_bytes;

/*
 * Purging.  A program whose threads come and go (workload larson) leaves
 * dozens of chunks in the cache that no new chunk needs for a while: the
 * cache's lowest level between two passes.  Their pages are resident for
 * nothing until decay_ms unmaps them (and a run is over long before).  So
 * every opt_purge_ms the helper takes as many of the oldest chunks as the
 * cache never went below since its last pass, and gives back their pages
 * (MADV_DONTNEED), one call per run of neighbours; they stay mapped and
 * marked, and serve the next new chunks when no unpurged one is cached,
 * with no system call (their pages fault in zeroed).  A program that
 * reuses what it cached (a working set that rises and falls again) takes
 * the cache down to nothing between passes and has nothing purged.
 * Cache lock held: picks them into @v (PURGE_BATCH at most; none when no
 * @calls are allowed, or fewer than CACHE_PURGE_MIN stayed unused).
 */
static size_t __purge_pick(uint64_t now, struct chunk **v, unsigned int calls)
{
	size_t n = 0, want = dirty_low > 0 ? (size_t)dirty_low : 0;
	uint64_t wait = __purge_wait();

	if (!opt_purge_ms || purge_off || now - purge_last < wait)
		return 0;
	if (!purge_regret)
		purge_wait_ms = wait - wait / 4;
	purge_regret = false;
	if (want < CACHE_PURGE_MIN || !calls)
		want = 0;
	if (want > PURGE_BATCH)
		want = PURGE_BATCH;
	while (n < want) {
		struct chunk *c = __cache_oldest();

		if (!c)
			break;
		cache_unlink(c);
		inflight[n] = (struct prun){ (uintptr_t)c, 1, c->span,
					     c->stamp };
		inflight_bytes += c->span;
		v[n++] = c;
	}
	ninflight = (unsigned int)n;
	purge_last = now;
	dirty_low = dirty_count;
	if (n)
		os_unmap_begin();	/* a trim meanwhile waits for them */
	return n;
}

/*
 * Calls to purge are bounded too: CACHE_PURGE_CALLS_PER_S a second,
 * CACHE_PURGE_CALLS_BURST at once, the longest runs first (the rest wait,
 * unpurged, for a later pass).  A program whose threads come and go in
 * rounds (workload churn) empties and refills the cache at every round;
 * purged at every lull, its chunks came back through the page-fault
 * handler, and the madvise calls outnumbered all its other memory calls.
 * Cache lock held.  Return: the calls allowed now.
 */
static unsigned int __purge_allowance(uint64_t now)
{
	uint64_t add = (now - purge_token_ms) * CACHE_PURGE_CALLS_PER_S / 1000;

	if (now < purge_token_ms) {
		purge_token_ms = now;
	} else if (add) {
		purge_tokens = (unsigned int)min((uint64_t)CACHE_PURGE_CALLS_BURST,
						 purge_tokens + add);
		purge_token_ms = now;
	}
	return purge_tokens;
}

/* Put cached chunk @c on its list: at the new end, or at the old end
 * (@old).  Cache lock held. */
static void __cache_link(struct chunk *c, bool old)
{
	struct cds_list_head *list = &cache[span_kind(c->span)];

	if (old)
		cds_list_add_tail(&c->node, list);
	else
		cds_list_add(&c->node, list);
	cache_bytes += c->span;
	WRITE_ONCE(cache_count, READ_ONCE(cache_count) + 1);
	dirty_count++;
}

/* Keep run @r as a purged run, merged with a neighbour of the same span
 * if there is one.  Cache lock held.  Return: false if there is no room. */
static bool __prun_keep(const struct prun *r)
{
	size_t len = (size_t)r->n * r->span;
	unsigned int i;

	for (i = 0; i < npruns; i++) {
		struct prun *p = &pruns[i];

		if (p->span != r->span)
			continue;
		if (p->start + (size_t)p->n * p->span == r->start) {
			p->n += r->n;
		} else if (r->start + len == p->start) {
			p->start = r->start;
			p->n += r->n;
		} else {
			continue;
		}
		p->stamp = min(p->stamp, r->stamp);	/* decays whole */
		goto kept;
	}
	if (npruns == PRUN_MAX)
		return false;
	pruns[npruns++] = *r;
kept:
	purged_bytes += len;
	WRITE_ONCE(cache_count, READ_ONCE(cache_count) + r->n);
	return true;
}

/*
 * Purge the @n chunks at @v, which __purge_pick() took, in at most @calls
 * runs, and keep them as purged runs; the rest go back to the cache.  If
 * a drain came in between (@gen), or a purged run finds no room, they are
 * unmapped instead.
 */
static void purge_runs(struct chunk **v, size_t n, unsigned long gen,
		       unsigned int calls)
{
	struct prun r[PURGE_BATCH], out[PURGE_BATCH];
	struct chunk *back[PURGE_BATCH];
	unsigned int nr = 0, nout = 0, k, used = 0;
	size_t i = 0, bytes = 0, nback;
	bool refused = false;
	uint32_t m;

	sort_chunks(v, n, false);
	while (i < n) {
		uintptr_t start = (uintptr_t)v[i];
		uint32_t span = v[i]->span;
		uint64_t stamp = v[i]->stamp;
		uint32_t cnt = 1;

		for (i++; i < n && (uintptr_t)v[i] == start + cnt * span &&
			  v[i]->span == span; i++, cnt++)
			stamp = min(stamp, v[i]->stamp);
		r[nr++] = (struct prun){ start, cnt, span, stamp };
	}
	/*
	 * The longest runs first, as many as there are calls allowed.  A
	 * refused madvise (locked pages: mlockall) stops purging for good;
	 * that run, its header intact, goes back with the rest.
	 */
	for (k = 0; k < nr && used < calls; k++) {
		unsigned int best = k, j;
		struct prun t;

		for (j = k + 1; j < nr; j++)
			if (r[j].n > r[best].n)
				best = j;
		t = r[k];
		r[k] = r[best];
		r[best] = t;
		if (os_purge((void *)r[k].start, (size_t)r[k].n * r[k].span)) {
			refused = true;
			break;
		}
		bytes += (size_t)r[k].n * r[k].span;
		used++;
	}
	/* What goes back unpurged, newest first at the old end of the
	 * lists: picked as the oldest, they stay in the lists' order. */
	for (k = used, nback = 0; k < nr; k++)
		for (m = 0; m < r[k].n; m++)
			back[nback++] = (struct chunk *)(r[k].start +
							 (uintptr_t)m * r[k].span);
	sort_chunks(back, nback, true);
	pthread_mutex_lock(&cache_lock);
	purge_tokens -= min(purge_tokens, used);
	if (refused)
		purge_off = true;
	ninflight = 0;
	inflight_bytes = 0;
	for (k = 0; k < used; k++)
		if (gen != drain_gen || !__prun_keep(&r[k]))
			out[nout++] = r[k];
	for (i = 0; i < nback; i++) {
		if (gen != drain_gen) {
			out[nout++] = (struct prun){ (uintptr_t)back[i], 1,
						     back[i]->span, 0 };
			continue;
		}
		__cache_link(back[i], true);	/* its stamp kept */
	}
	pthread_mutex_unlock(&cache_lock);
	prun_unmap(out, nout);
	os_unmap_end();
	fetch_add_relaxed(&purge_total, bytes);
}

/* Make @c a cached chunk.  Cache lock held. */
static void __cache_add(struct chunk *c, uint64_t now)
{
	atomic_init(&c->owner, NULL);
	c->list = CHUNK_LIST_DEAD;
	c->stamp = now;
	__cache_link(c, false);
}

#define MAP_BATCH_MAX 64

/*
 * The arena.  Chunks mapped anew a batch at a time cost a mapping per
 * batch (three more calls when the kernel put it off a 64 KiB boundary,
 * which other threads' stacks make it do), and a batch's unused chunks
 * waited in the cache until decay unmapped them, never touched, to be
 * mapped again at the next rise: 127 of the 283 memory calls of workload
 * churn 4 10 125000 1024, 61 of wset 4 16 40000 1024's 170; mimalloc
 * made 89 and 53 in all.  So whole chunks (and the large blocks' batches,
 * core/large.c) are carved from a reservation instead: one mapping, never
 * touched until carved (address space, not memory), of twice what the
 * program has mapped, ARENA_MIN to ARENA_MAX, so the reservations triple
 * as the program grows (with half of it, one more reservation, and the
 * rest of the last unmapped, every 1.5 times: wset 4 16 40000 1024 made
 * 103 memory calls against 90, VmPeak 127 against 173 MiB; mimalloc 53
 * and 199; with as much as it has mapped, medians of 62 calls against 54
 * under strace, VmPeak 150 against 131 MiB, fewer rests to unmap;
 * mimalloc 31 and 195).  Until the program has mapped ARENA_START, the
 * reservation is ARENA_START and serves chunks of up to half that: mapped
 * alone, each of a program's first whole chunks took up to seven calls to
 * place when the kernel put it off a 64 KiB boundary, as it does once a
 * few small mappings have left gaps.  A small program that maps no whole chunk
 * reserves nothing.  Carving is a bump under cache_lock, no system call;
 * a carved chunk counts as mapped from then on and goes back like any
 * other (decay unmaps it: the hole is the kernel's).  A chunk that does
 * not fit the rest gets a new arena; the rest is unmapped.  Not under any
 * address-space limit (RLIMIT_AS, read every ARENA_LIMIT_MS at most): the
 * reservation would take address space the program's own mappings may
 * need (review of e6cd750: under a limit 200 MiB above the program's
 * size, 43 MiB of it reserved made the program's own 94 MiB mmap fail),
 * so a limit set later unmaps the rest too, at the next chunk.
 * malloc_trim() and a refused mapping unmap the rest
 * (chunk_cache_drain()).  A fork child carves on from its copy
 * (cache_lock is held across fork).
 */
#define ARENA_START	(256UL << 10)
#define ARENA_MIN	(4UL << 20)
#define ARENA_MAX	(64UL << 20)

#define ARENA_LIMIT_MS	10

static uintptr_t arena_next, arena_end;		/* cache lock */
/*
 * Held across a new arena's reservation, taken before cache_lock: threads
 * that miss together wait for one reservation rather than make one each
 * and give back all but one (7 of wset 4's 17 reservations).  A leaf but
 * for cache_lock; nothing else is taken under it.
 */
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

/* The arena has no more to carve: its rest, [*@start, + *@size), is for
 * the caller to unmap once the lock is dropped.  Cache lock held. */
static void __arena_retire(uintptr_t *start, size_t *size)
{
	*start = arena_next;
	*size = arena_end - arena_next;
	arena_next = arena_end = 0;
}

static void arena_retire(void)
{
	uintptr_t rest;
	size_t rest_size;

	pthread_mutex_lock(&cache_lock);
	__arena_retire(&rest, &rest_size);
	pthread_mutex_unlock(&cache_lock);
	if (rest_size)
		os_reserve_release((void *)rest, rest_size);
}

/* No address-space limit?  getrlimit() once per ARENA_LIMIT_MS at most. */
static bool arena_unlimited(void)
{
	static _Atomic uint64_t checked;	/* ms + 1 */
	static _Atomic bool limited;
	uint64_t now = os_now_ms() + 1, last = READ_ONCE(checked);

	if (now - last >= ARENA_LIMIT_MS || now < last) {
		WRITE_ONCE(limited, os_vm_limited());
		WRITE_ONCE(checked, now);
	}
	return !READ_ONCE(limited);
}

/* @span bytes off the arena, counted as mapped, or 0 if it has less. */
static uintptr_t arena_bump(size_t span)
{
	uintptr_t p = 0;

	/* Counted under the lock, which fork holds: a child never sees
	 * the bump without the count. */
	pthread_mutex_lock(&cache_lock);
	if (arena_end - arena_next >= span) {
		p = arena_next;
		arena_next += span;
		os_reserve_carve(span);
	}
	pthread_mutex_unlock(&cache_lock);
	return p;
}

/**
 * chunk_arena_room() - could the arena carve @span bytes now, with no new
 * reservation?  A hint: another thread may carve them first.
 */
bool chunk_arena_room(size_t span)
{
	bool room;

	if (!arena_unlimited())
		return false;
	pthread_mutex_lock(&cache_lock);
	room = arena_end - arena_next >= span;
	pthread_mutex_unlock(&cache_lock);
	return room;
}

/**
 * chunk_arena_carve() - @span bytes (whole chunks) at a chunk boundary from
 * the arena, mapped memory from now on (os_unmap() them), or NULL if the
 * program is still small or under an address-space limit.  Also for the
 * large blocks' batches (core/large.c).
 */
void *chunk_arena_carve(size_t span)
{
	bool early = os_mapped_bytes() < ARENA_START;
	uintptr_t p, rest;
	size_t want, rest_size;

	if (span < CHUNK_SIZE || (early && span > ARENA_START / 2))
		return NULL;
	if (!arena_unlimited()) {
		arena_retire();
		return NULL;
	}
	p = arena_bump(span);
	if (p)
		return (void *)p;
	pthread_mutex_lock(&arena_lock);
	/* Another thread may have made a new one while this one waited. */
	p = arena_bump(span);
	if (p)
		goto unlock;
	want = ALIGN_DOWN(2 * os_mapped_bytes(), CHUNK_SIZE);
	want = early ? ARENA_START : want < ARENA_MIN ? ARENA_MIN :
	       want > ARENA_MAX ? ARENA_MAX : want;
	if (want < 2 * span)
		want = ALIGN_UP(2 * span, CHUNK_SIZE);
	p = (uintptr_t)os_reserve(want, CHUNK_SIZE);
	if (!p)
		goto unlock;
	/* Its leaves now: not by each thread that carves from it at once.
	 * (Without them, marking maps them as before.) */
	(void)pagemap_prepare(p, want);
	pthread_mutex_lock(&cache_lock);
	__arena_retire(&rest, &rest_size);
	arena_next = p + span;
	arena_end = p + want;
	os_reserve_carve(span);
	pthread_mutex_unlock(&cache_lock);
	if (rest_size)
		os_reserve_release((void *)rest, rest_size);
unlock:
	pthread_mutex_unlock(&arena_lock);
	return (void *)p;
}

/**
 * chunk_cache_map() - map a fresh chunk of @span bytes.  A process that
 * has mapped a lot maps several at once (at most an eighth of what it has
 * mapped, at most MAP_BATCH_MAX, less the @coming chunks that are about to
 * join the cache but at least half of it: cut to one chunk, a program that
 * retires chunks all the time mapped them one by one) and keeps the
 * others here: one mmap and, if they leave
 * together, one munmap instead of one each.  Falls back to a single chunk
 * if the system refuses the batch.  NULL if it refuses that.
 */
struct chunk *chunk_cache_map(size_t span, size_t coming)
{
	size_t n = os_mapped_bytes() / 8 / span, i;
	char *mem = NULL;

	if (n > MAP_BATCH_MAX)
		n = MAP_BATCH_MAX;
	if (span < CHUNK_SIZE)
		n = 1;	/* short chunks start regions too: not adjacent */
	n = n > coming ? n - coming : n / 2 ? n / 2 : 1;
	mem = chunk_arena_carve(span);
	if (mem)
		n = 1;	/* the next ones stay untouched in the arena */
	if (n > 1 && os_vm_tight())
		n = 1;
	if (n > 1)
		mem = os_map_aligned(n * span, CHUNK_SIZE);
	if (!mem) {
		n = 1;
		mem = os_map_aligned(span, CHUNK_SIZE);
		if (!mem)
			return NULL;
	}
	for (i = 0; i < n; i++) {
		if (pagemap_mark_span((uintptr_t)mem + i * span, span)) {
			pagemap_clear((uintptr_t)mem, n * span);
			os_unmap(mem, n * span);
			return NULL;
		}
		((struct chunk *)(mem + i * span))->span = (uint32_t)span;
	}
	fetch_add_relaxed(&chunks_mapped, (long)n);
	if (n > 1) {
		uint64_t now = os_now_ms();

		pthread_mutex_lock(&cache_lock);
		for (i = 1; i < n; i++)
			__cache_add((struct chunk *)(mem + i * span), now);
		pthread_mutex_unlock(&cache_lock);
	}
	return (struct chunk *)mem;
}

/*
 * A short chunk (core/chunk.c) that went back to the cache would wait
 * there for nothing (only a class's first chunk is short) and then cost
 * an munmap.  A miss for a whole chunk takes one instead and grows it in
 * place over the rest of its region (an mmap of the gap, one call as a
 * fresh chunk would be); if the kernel has put something in that gap, the
 * short chunk is unmapped, as its decay would have done.
 */
static struct chunk *__cache_take_short(void)
{
	unsigned int k;

	for (k = 0; k < span_kind(CHUNK_SIZE); k++) {
		if (!cds_list_empty(&cache[k])) {
			struct chunk *c = cds_list_entry(cache[k].next,
							 struct chunk, node);

			cache_unlink(c);
			os_unmap_begin();	/* may go back: trim waits */
			return c;
		}
	}
	return NULL;
}

static struct chunk *chunk_grow_short(struct chunk *c)
{
	struct chunk *grown = NULL;

	if (os_map_after(c, c->span, CHUNK_SIZE)) {
		c->span = CHUNK_SIZE;
		grown = c;
	} else {
		pagemap_clear((uintptr_t)c, c->span);
		os_unmap(c, c->span);
	}
	os_unmap_end();
	return grown;
}

/*
 * A cached chunk keeps the pages its last class touched resident until a
 * purge, and a new owner of another class inherits them: a chunk that
 * held 1 KiB blocks, taken for 16-byte ones of which a thread uses a few
 * dozen, keeps 60 KiB resident for a page's worth of use.  Workload larson,
 * whose threads come and go and whose successors take their chunks from
 * the cache, grew its resident memory so by some 4 MiB over a run: a peak
 * of 11.4 MiB against mimalloc's 10.7 (larson 4 100000 10 1000 1024,
 * medians of 11), 43.0 against 40.4 with 16 threads.  So a new chunk
 * takes, of the CACHE_MATCH_SCAN most recent of its span, the most recent
 * whose dead header says it served the same class, whose resident pages
 * are then those the class uses; else the most recent: 9.3 and 36.0 MiB.
 * The scan reads the headers of chunks cached moments ago, under the
 * cache lock, once per new chunk (0.3 % more instructions in larson).
 * Cache lock held; the list of @k is not empty.
 */
static struct chunk *__cache_take(unsigned int k, unsigned int cls)
{
	struct chunk *c;
	unsigned int n = 0;

	cds_list_for_each_entry(c, &cache[k], node) {
		if (c->cls == cls)
			goto found;
		if (++n == CACHE_MATCH_SCAN)
			break;
	}
	c = cds_list_entry(cache[k].next, struct chunk, node);
found:
	cache_unlink(c);
	return c;
}

/**
 * chunk_cache_get() - a reclaimed chunk of @span bytes for class @cls, or
 * NULL.  *@zero says whether its memory reads as zero (a purged one),
 * header and all.
 */
struct chunk *chunk_cache_get(size_t span, unsigned int cls, bool *zero)
{
	unsigned int k = span_kind(span);
	struct chunk *c = NULL, *s = NULL;

	*zero = false;
	if (!READ_ONCE(cache_count))
		return NULL;
	pthread_mutex_lock(&cache_lock);
	if (!cds_list_empty(&cache[k])) {
		c = __cache_take(k, cls);
	} else if (span == CHUNK_SIZE && (s = __cache_take_short())) {
		/* grown below */
	} else if (npruns) {
		c = __prun_get(span);
		*zero = c != NULL;
	}
	pthread_mutex_unlock(&cache_lock);
	return s ? chunk_grow_short(s) : c;
}

/**
 * chunk_cache_release() - dead chunks on @list (linked through ->retire),
 * past their grace period, join the cache.  With @purge (no helper thread
 * to do it), whatever expired or does not fit the budget is unmapped now,
 * in runs; so it is with a decay of 0, which gives memory back at once.
 * Return: true if the cache is over its budget, for the helper to trim,
 * or has just come to hold enough for a purge pass, whose timer the
 * helper then starts (it does not wake for fewer).
 */
bool chunk_cache_release(struct llist_node *list, bool purge)
{
	uint64_t now = os_now_ms();
	size_t budget;
	bool over, few;
	CDS_LIST_HEAD(out);

	if (!list)
		return false;
	if (!opt_decay_ms)
		purge = true;
	pthread_mutex_lock(&cache_lock);
	few = dirty_count < CACHE_PURGE_MIN;
	while (list) {
		struct chunk *c = container_of(list, struct chunk, retire);

		list = list->next;
		__cache_add(c, now);
	}
	budget = __cache_budget(now);
	if (purge) {
		__cache_expire(decay_cutoff(now), &out);
		__cache_trim(budget, &out);
	}
	over = cache_bytes > budget ||
	       (few && dirty_count >= CACHE_PURGE_MIN && opt_purge_ms &&
		!purge_off);
	__cache_let_go(&out);
	pthread_mutex_unlock(&cache_lock);
	cache_unmap(&out);
	return over;
}

/**
 * chunk_cache_decay() - the helper's pass at @now: unmap, in runs, what
 * stayed longer than opt_decay_ms and what exceeds the budget.
 * Return: milliseconds until the next chunk expires, -1 if none is cached.
 */
long chunk_cache_decay(uint64_t now)
{
	struct chunk *old, *v[PURGE_BATCH];
	struct prun gone[PRUN_BATCH];
	unsigned int ngone;
	unsigned long gen;
	uint64_t oldest = 0;
	long next = -1;
	size_t npurge;
	unsigned int calls;
	CDS_LIST_HEAD(out);

	if (!READ_ONCE(cache_count))
		return -1;
	pthread_mutex_lock(&cache_lock);
	__cache_expire(decay_cutoff(now), &out);
	__cache_trim(__cache_budget(now), &out);
	ngone = __prun_expire(decay_cutoff(now), gone);
	calls = __purge_allowance(now);
	npurge = __purge_pick(now, v, calls);
	gen = drain_gen;
	old = __cache_oldest();
	if (old)
		oldest = old->stamp;
	if (npruns) {
		uint64_t p = __prun_oldest();

		if (!oldest || p < oldest)
			oldest = p;
	}
	if (ngone == PRUN_BATCH) {
		next = 0;	/* more runs to unmap */
	} else if (oldest) {
		uint64_t due = oldest + (uint64_t)opt_decay_ms;

		next = due > now ? (long)(due - now) : 0;
	}
	if (dirty_count >= CACHE_PURGE_MIN && opt_purge_ms && !purge_off) {
		uint64_t due = purge_last + __purge_wait();
		long p = due > now ? (long)(due - now) : 0;

		if (next < 0 || p < next)
			next = p;
	}
	__cache_let_go(&out);
	if (ngone)
		os_unmap_begin();
	pthread_mutex_unlock(&cache_lock);
	fetch_add_relaxed(&decay_unmapped, cache_unmap(&out));
	if (ngone) {
		fetch_add_relaxed(&decay_unmapped, prun_unmap(gone, ngone));
		os_unmap_end();
	}
	if (npurge)
		purge_runs(v, npurge, gen, calls);
	return next;
}

/** chunk_cache_drain() - unmap every cached chunk.  Return: bytes freed. */
size_t chunk_cache_drain(void)
{
	struct prun gone[PRUN_BATCH];
	unsigned int ngone;
	size_t bytes;
	CDS_LIST_HEAD(all);

	pthread_mutex_lock(&cache_lock);
	__cache_expire(0, &all);
	drain_gen++;	/* a purge in flight unmaps what it took */
	__cache_let_go(&all);
	pthread_mutex_unlock(&cache_lock);
	arena_retire();
	bytes = cache_unmap(&all);
	do {
		pthread_mutex_lock(&cache_lock);
		ngone = __prun_expire(0, gone);
		if (ngone)
			os_unmap_begin();
		pthread_mutex_unlock(&cache_lock);
		if (ngone) {
			bytes += prun_unmap(gone, ngone);
			os_unmap_end();
		}
	} while (ngone == PRUN_BATCH);
	return bytes;
}

/** chunk_cache_decayed() - bytes the helper has unmapped by decay. */
size_t chunk_cache_decayed(void)
{
	return READ_ONCE(decay_unmapped);
}

/**
 * chunk_cache_mapped() - chunks mapped from the system so far, those mapped
 * ahead in batches included: what reuse did not spare.
 */
long chunk_cache_mapped(void)
{
	return READ_ONCE(chunks_mapped);
}

long chunk_cache_count(void)
{
	return READ_ONCE(cache_count);
}

/** chunk_cache_purged() - bytes the helper has purged so far. */
size_t chunk_cache_purged(void)
{
	return READ_ONCE(purge_total);
}

/** chunk_cache_bytes() - bytes of chunks waiting in the cache now, purged
 * ones included. */
size_t chunk_cache_bytes(void)
{
	size_t bytes;

	pthread_mutex_lock(&cache_lock);
	bytes = cache_bytes + purged_bytes + inflight_bytes;
	pthread_mutex_unlock(&cache_lock);
	return bytes;
}

/* fork: arena_lock, then cache_lock, the last lock taken (see
 * Documentation/design.rst). */
void chunk_cache_fork_prepare(void)
{
	pthread_mutex_lock(&arena_lock);
	pthread_mutex_lock(&cache_lock);
}

void chunk_cache_fork_parent(void)
{
	pthread_mutex_unlock(&cache_lock);
	pthread_mutex_unlock(&arena_lock);
}

void chunk_cache_fork_child(void)
{
	/* A purge pass the parent's helper was in never ends here. */
	prun_unmap(inflight, ninflight);
	ninflight = 0;
	inflight_bytes = 0;
	/* What the parent's other threads were unmapping stays mapped. */
	os_unmap_fork_child();
	pthread_mutex_unlock(&cache_lock);
	pthread_mutex_unlock(&arena_lock);
}
