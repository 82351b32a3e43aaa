// SPDX-License-Identifier: MIT
/*
 * secure.c - secure mode for small blocks: what a hardened allocator adds
 * to the default mode's checks, paid for only by the programs that ask.
 *
 * BITSLAB_OPTIONS=secure=1 (or a build with CONFIG_SECURE=y, where it is
 * the default) makes every chunk created from then on a secure chunk
 * (chunk->secure).  Its blocks never enter a bin or a hot slot: free
 * blocks wait in the heap's secure bins (heap->sbins, one per class,
 * threaded and bounded as bins are), which the inline fast paths of
 * alloc.h never look at, so the default mode pays nothing for secure
 * mode: in secure mode every malloc takes secure_alloc() and every free
 * secure_free(), both on slow paths.
 *
 *  - Canary: the last SECURE_CANARY bytes of every block hold a value
 *    derived from the process's secret and the block's address, with the
 *    size asked for in its high half; the bytes between that size and the
 *    canary (the class's slack) hold the slack pattern, a non-zero byte of
 *    the secret's.  Both are written when the block is handed out (and by
 *    a realloc that keeps it) and checked when it is freed: a write past
 *    the size asked for is reported, even one that stays inside the class
 *    (malloc(16) is a block of the 32-byte class; strcpy() of 16
 *    characters writes its NUL at byte 16, in the slack, and a zero
 *    pattern would not see it).  The usable size is the size asked for.
 *  - Zero fill: a freed block is zeroed at once (no stale data for a use
 *    after free to read), and checked to be still zero when it leaves the
 *    quarantine and when it is handed out again: a write after free is
 *    reported.  Word 0 and 1 of a block are the allocator's while the
 *    block travels back to its owner (links and cookies), so only the
 *    quarantine check covers them.  Chunks taken from the chunk cache are
 *    zeroed when they become secure chunks.
 *  - Quarantine: the last SECURE_QUARANTINE blocks a thread freed stay
 *    taken (their bits set, word 1 the quarantine cookie) in a ring of its
 *    heap; the block a free pushes out of the ring is checked and only
 *    then goes back to its chunk (by its owner) or towards its owner (the
 *    remote paths of core/remote.c), as any free.  A double free of a
 *    block in quarantine finds the quarantine cookie.
 *  - malloc(0): a block of no bytes in a page that faults when touched
 *    (zero chunks, below).
 *  - Randomised reuse: the blocks a refill claims from a chunk enter the
 *    secure bin in random order within each run of 32 neighbours, and a
 *    block is taken from a random one of the bin's first four: the next
 *    block's address is neither the next one in the chunk nor always the
 *    last one released.
 *
 * The ownership protocol (core/chunk.h) is unchanged: a block in a ring is
 * a taken block, so its chunk stays alive as for any block the program
 * holds; only the owner claims and releases.  The ring is the heap's
 * owner's: thread heaps only (a sentinel or the fallback heap frees at
 * once, with the same checks).
 */
#include <errno.h>
#include <string.h>

#include <bitslab/types.h>

#include "chunk.h"
#include "heap.h"
#include "os.h"
#include "refill.h"
#include "release.h"
#include "remote.h"
#include "report.h"
#include "secure.h"

#define QUARANTINE_MIX	0x71756172616e7469ULL	/* "quaranti" */
#define CANARY_MIX	0x63616e6172792121ULL	/* "canary!!" */

/*
 * Word 1 of a block in quarantine.  Its low bits are 10, so it is never a
 * heap's local cookie (a 64-byte aligned address) or remote cookie (01).
 * Set once, at start-up, with the canaries' key.
 */
uintptr_t secure_qcookie = 2;
static uintptr_t canary_key;

/* The slack pattern, a byte repeated: never 0 (see the top).  Set once. */
static uintptr_t slack_word = 0xa5a5a5a5a5a5a5a5ULL;

/** secure_init() - derive the quarantine cookie and canary key. */
void secure_init(void)
{
	secure_qcookie =
		((bitslab_secret ^ QUARANTINE_MIX) & ~(uintptr_t)3) | 2;
	canary_key = bitslab_secret ^ CANARY_MIX;
	slack_word = (((canary_key >> 24) & 0xff) | 1) * 0x0101010101010101ULL;
}

static uintptr_t *canary_of(struct chunk *c, void **p)
{
	return (uintptr_t *)((char *)p + c->size - SECURE_CANARY);
}

static uintptr_t canary_value(void **p)
{
	uintptr_t v = canary_key ^ (uintptr_t)p;

	return v * 0x9e3779b97f4a7c15ULL;
}

/*
 * The canary of block @p asked for @size bytes: the size in the high half
 * (a block's size fits: SMALL_MAX is far below 2^32), so that the low
 * half, the bytes an overflow reaches first (little-endian), is the
 * secret value alone and any change to it is seen.
 */
#define CANARY_SIZE_SHIFT 32
BUILD_BUG_ON(SMALL_MAX >= (1ULL << CANARY_SIZE_SHIFT));

static uintptr_t canary_encode(void **p, size_t size)
{
	return canary_value(p) ^ ((uintptr_t)size << CANARY_SIZE_SHIFT);
}

static __cold __noreturn void report_overflow(void **p, int cls)
{
	report_misuse("write past the end of a block (canary overwritten)",
		      p, cls);
}

/* The size block @p of @c was last asked for, from its canary (checked). */
static size_t canary_size(struct chunk *c, void **p)
{
	uintptr_t d = *canary_of(c, p) ^ canary_value(p);
	size_t size = d >> CANARY_SIZE_SHIFT;

	if ((uint32_t)d || size > c->size - SECURE_CANARY)
		report_overflow(p, c->cls);
	return size;
}

/*
 * The slack of a small block is mostly a few bytes (malloc(16): 8): a
 * call to memset() and a loop of byte compares cost more than the work.
 * Bytes up to the first whole word, then words; memset() past
 * SLACK_MEMSET bytes.
 */
#define SLACK_MEMSET 256

static __always_inline void slack_fill(unsigned char *b, size_t from,
				       size_t to)
{
	if (to - from > SLACK_MEMSET) {
		memset(b + from, (int)(slack_word & 0xff), to - from);
		return;
	}
	for (; from < to && (from & 7); from++)
		b[from] = (unsigned char)slack_word;
	for (; from < to; from += sizeof(uintptr_t))
		*(uintptr_t *)(b + from) = slack_word;
}

static __always_inline bool slack_intact(const unsigned char *b,
					 size_t from, size_t to)
{
	uintptr_t any = 0;

	for (; from < to && (from & 7); from++)
		if (b[from] != (unsigned char)slack_word)
			return false;
	for (; from < to; from += sizeof(uintptr_t))
		any |= *(const uintptr_t *)(b + from) ^ slack_word;
	return !any;
}

/**
 * secure_slack_fill() - write the slack pattern over bytes [@from, @to)
 * of block @p (@p 8-byte aligned, @to a multiple of 8): what lies between
 * the size asked for and the canary (or, for a large block, its guard
 * page).
 */
void secure_slack_fill(void *p, size_t from, size_t to)
{
	if (from < to)
		slack_fill(p, from, to);
}

/**
 * secure_slack_intact() - do bytes [@from, @to) of block @p (@p 8-byte
 * aligned, @to a multiple of 8) still hold the slack pattern?
 */
bool secure_slack_intact(const void *p, size_t from, size_t to)
{
	return slack_intact(p, from, to);
}

/*
 * Give block @p of @bytes (its class's size), asked for @size bytes, its
 * canary and the slack pattern from @from on.
 */
static __always_inline void block_seal(void **p, size_t bytes, size_t from,
				       size_t size)
{
	if (from < bytes - SECURE_CANARY)
		slack_fill((unsigned char *)p, from, bytes - SECURE_CANARY);
	*(uintptr_t *)((char *)p + bytes - SECURE_CANARY) =
		canary_encode(p, size);
}

/* Check block @p of @c (its canary and slack); its size asked for. */
static __always_inline size_t block_check_seal(struct chunk *c, void **p)
{
	size_t size = canary_size(c, p);

	if (!slack_intact((unsigned char *)p, size, c->size - SECURE_CANARY))
		report_overflow(p, c->cls);
	return size;
}

/**
 * secure_usable() - the size block @p of secure chunk @c was last asked
 * for: what malloc_usable_size() says, so that a program that uses all of
 * it stays clear of the slack.  A broken canary is reported.
 */
size_t secure_usable(struct chunk *c, void **p)
{
	return canary_size(c, p);
}

/**
 * secure_resize() - realloc() keeps block @p of secure chunk @c for @size
 * bytes (it fits the class): check its canary and slack, then move them
 * to the new size.  Bytes a growth hands over keep the slack pattern
 * (realloc() promises nothing about them); bytes a shrink takes back get
 * it.
 */
void secure_resize(struct chunk *c, void **p, size_t size)
{
	size_t old = block_check_seal(c, p);

	block_seal(p, c->size, size < old ? size : old, size);
}

/* xorshift64*: the heap's own, seeded from the secret and its address. */
static uint64_t heap_random(struct heap *h)
{
	uint64_t x = h->rng;

	if (!x)
		x = (bitslab_secret ^ (uintptr_t)h) | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	h->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/**
 * secure_chunk_setup() - @c, just made a chunk, becomes a secure chunk if
 * secure mode is on; its blocks are zeroed unless the memory is @fresh
 * from the system (the cache holds chunks with earlier contents).
 */
void secure_chunk_setup(struct chunk *c, bool fresh)
{
	c->secure = opt_secure != 0;
	if (c->secure && !fresh)
		memset(chunk_block(c, 0), 0, (size_t)c->nblocks * c->size);
}

/* Are the words of block @p (@size bytes) after words 0 and 1 zero? */
static bool block_zero(void **p, size_t size)
{
	const uintptr_t *w = (const uintptr_t *)p;
	size_t i, n = size / sizeof(*w);
	uintptr_t any = 0;

	for (i = 2; i < n; i++)
		any |= w[i];
	return !any;
}

#define SHUFFLE_MAX 256
/*
 * Blocks are shuffled in runs of SHUFFLE_RUN neighbours, each run in
 * random order, the runs in address order: a block handed out is one of
 * 32 (5 bits; secure_pop() adds 2 more), yet a program's successive
 * blocks stay within a run's few cache lines.  Shuffling a whole refill
 * (up to 256 blocks) cost the Collatz list search (list 100000 4, whose
 * cells are 32-byte blocks walked in allocation order) 1.57 times the
 * default mode's time; runs of 32 cost 1.21 times, of 8 1.10 times, none
 * 1.06 times (five interleaved runs each).
 */
#define SHUFFLE_RUN 32

/**
 * secure_shuffle() - put the @n claimed blocks chained from *@first to
 * *@last (word 0 links) in random order within each run of SHUFFLE_RUN,
 * so that the order in which a chunk's blocks are handed out says little
 * about their addresses.
 */
void secure_shuffle(struct heap *h, void ***first, void ***last)
{
	void **v[SHUFFLE_MAX], **p = *first;
	unsigned int i, k = 0, run;

	while (p && k < SHUFFLE_MAX) {
		v[k++] = p;
		p = p[0];
	}
	if (p)
		return;	/* more than fit: leave the chain as it is */
	for (run = 0; run < k; run += SHUFFLE_RUN) {
		void ***r = v + run;

		for (i = min(k - run, SHUFFLE_RUN); i > 1; i--) {
			unsigned int j = (unsigned int)(heap_random(h) % i);
			void **t = r[i - 1];

			r[i - 1] = r[j];
			r[j] = t;
		}
	}
	for (i = 0; i + 1 < k; i++)
		v[i][0] = v[i + 1];
	v[k - 1][0] = NULL;
	*first = v[0];
	*last = v[k - 1];
}

/*
 * Take a block off secure bin @b of @h: one of its first four, at random,
 * so that the block freed (and released from quarantine) last is not
 * always the next one handed out.
 */
static void **secure_pop(struct heap *h, struct bin *b)
{
	unsigned int k = (unsigned int)(heap_random(h) & 3);
	void **prev = NULL, **p = b->head;

	while (k-- && p[0] != BIN_END) {
		prev = p;
		p = p[0];
	}
	if ((uintptr_t)p[1] != free_cookie_local(h))
		heap_bin_corrupt(p);
	if (prev)
		prev[0] = p[0];
	else
		b->head = p[0];
	b->room++;
	return p;
}

/**
 * secure_alloc() - a block of class @cls for @h (a thread's heap, or the
 * fallback heap under its lock) from its secure bin, checked to be zero
 * and given its slack and canary for a request of @size bytes (more than
 * the class holds: all of it, as object caches ask).  NULL with errno =
 * ENOMEM on failure.
 */
void *secure_alloc(struct heap *h, unsigned int cls, size_t size)
{
	struct bin *b = &h->sbins[cls];
	size_t bytes = size_classes[cls].size;
	void **p;

	if (bin_empty(b) && heap_refill(h, cls, b)) {
		errno = ENOMEM;
		return NULL;
	}
	p = secure_pop(h, b);
	if (!block_zero(p, bytes))
		report_misuse("write after free (freed block not zero)", p, cls);
	p[0] = NULL;
	p[1] = NULL;
	if (size > bytes - SECURE_CANARY)
		size = bytes - SECURE_CANARY;
	block_seal(p, bytes, size, size);
	return p;
}

/*
 * Give block @p of @c back as any free would: into the secure bin of its
 * owner if that is @h, else towards its owner or the orphanage.
 */
static void secure_release(struct heap *h, struct chunk *c, void **p)
{
	if (load_acquire(&c->owner) == h && heap_is_real(h)) {
		struct bin *b = &h->sbins[c->cls];

		p[1] = (void *)free_cookie_local(h);
		p[0] = b->head;
		b->head = p;
		if (--b->room == 0)
			heap_flush_bin_of(h, b);
		return;
	}
	heap_free_remote(h, c, p);
}

/* Is block @p of @c, in a quarantine, still as secure_free() left it? */
static void secure_check_quarantined(struct chunk *c, void **p)
{
	if ((uintptr_t)p[1] != secure_qcookie || p[0] ||
	    !block_zero(p, c->size))
		report_misuse("write after free (block in quarantine)", p,
			      c->cls);
}

/* @p leaves @h's quarantine: still as the free left it, then released. */
static void secure_evict(struct heap *h, void **p)
{
	struct chunk *c = chunk_lookup((uintptr_t)p);

	secure_check_quarantined(c, p);
	p[1] = NULL;
	secure_release(h, c, p);
}

/*
 * malloc(0) in secure mode: a block of no bytes that faults when touched.
 * Zero chunks are chunks of the 16-byte class whose blocks lie in pages
 * mapped PROT_NONE (those sharing the header's page are never handed
 * out).  They have no owner and are never retired: any thread claims and
 * releases their bits with the bitmap's atomics, and nothing ever reads
 * or writes their blocks (heap_block_is_free() and chunk_usable() know
 * them).  At most ZERO_CHUNKS of them; past that, malloc(0) falls back
 * to an ordinary block.
 */
#define ZERO_CHUNKS 64

static _Atomic(struct chunk *) zero_chunks[ZERO_CHUNKS];
static _Atomic unsigned int zero_slots;	/* slots handed out */

static struct chunk *zero_chunk_new(void)
{
	struct chunk *c = chunk_create(0, NULL, false);
	uintptr_t page = (uintptr_t)c + OS_PAGE_SIZE;
	unsigned long idx, slot;

	if (!c)
		return NULL;
	c->zero = true;
	for (idx = 0; (uintptr_t)chunk_block(c, idx) < page; idx++)
		bitmap_claim_mask(c->used, BIT_WORD(idx), BIT_MASK(idx));
	if (os_protect_none((void *)page, c->span - OS_PAGE_SIZE))
		return NULL;	/* stays a chunk nobody hands blocks of */
	slot = fetch_add_relaxed(&zero_slots, 1);
	if (slot >= ZERO_CHUNKS)
		return NULL;
	store_release(&zero_chunks[slot], c);
	return c;
}

static void **zero_claim(struct chunk *c, uint64_t r)
{
	unsigned int words = (unsigned int)BITS_TO_LONGS(c->nblocks);
	unsigned int i, w = (unsigned int)(r % words);

	for (i = 0; i < words; i++, w = w + 1 == words ? 0 : w + 1) {
		unsigned long clear;

		while ((clear = ~READ_ONCE(c->used[w]))) {
			unsigned long bit = clear & -clear;

			if (bitmap_claim_mask(c->used, w, bit))
				return chunk_block(c, w * BITS_PER_LONG +
						      __ffs(bit));
		}
	}
	return NULL;
}

/**
 * secure_alloc_zero() - malloc(0) in secure mode, for the thread of @h:
 * a block in a zero chunk, or NULL (then an ordinary block does).
 */
void *secure_alloc_zero(struct heap *h)
{
	uint64_t r = h->kind == HEAP_KIND_THREAD ? heap_random(h) : 0;
	unsigned int n = READ_ONCE(zero_slots), i;
	struct chunk *c;
	void **p;

	if (n > ZERO_CHUNKS)
		n = ZERO_CHUNKS;
	for (i = 0; i < n; i++) {
		c = load_acquire(&zero_chunks[(i + r) % n]);
		if (c && (p = zero_claim(c, r >> 8)))
			return p;
	}
	c = n < ZERO_CHUNKS ? zero_chunk_new() : NULL;
	return c ? zero_claim(c, r >> 8) : NULL;
}

/* free() of @p, a taken block start of zero chunk @c. */
static void zero_free(struct chunk *c, void **p)
{
	unsigned long idx = chunk_block_index(c, (uintptr_t)p);

	if (!bitmap_release_mask(c->used, BIT_WORD(idx), BIT_MASK(idx)))
		report_misuse("double free", p, c->cls);
}

/*
 * At exit: the blocks still in the exiting thread's quarantine are checked
 * as if they left it then, so that a write after free the program did not
 * outlive by SECURE_QUARANTINE frees is still reported (other threads exit
 * through heap_exit(), which flushes theirs).  Nothing is released: code
 * that runs later (other destructors) may still allocate and free.
 */
__attribute__((destructor)) static void secure_at_exit(void)
{
	struct heap *h = bitslab_tls_heap;
	unsigned int i;

	if (h->kind != HEAP_KIND_THREAD)
		return;
	for (i = 0; i < SECURE_QUARANTINE; i++) {
		void **p = h->quar[i];

		if (p)
			secure_check_quarantined(chunk_lookup((uintptr_t)p), p);
	}
}

/**
 * secure_free() - free block @p of secure chunk @c, a taken block start,
 * from the calling thread's heap @h: check it is not free already and
 * its canary, zero it, and put it in quarantine.
 */
void secure_free(struct heap *h, struct chunk *c, void **p)
{
	uintptr_t w1;
	void **old;

	if (unlikely(c->zero)) {
		zero_free(c, p);
		return;
	}
	w1 = (uintptr_t)p[1];
	if (secure_cookie(w1) || block_cookie_free(load_acquire(&c->owner), w1))
		report_misuse("double free", p, c->cls);
	block_check_seal(c, p);
	memset(p, 0, c->size);
	if (h->kind != HEAP_KIND_THREAD) {
		secure_release(h, c, p);
		return;
	}
	p[1] = (void *)secure_qcookie;
	old = h->quar[h->qpos];
	h->quar[h->qpos] = p;
	h->qpos = (h->qpos + 1) % SECURE_QUARANTINE;
	if (old)
		secure_evict(h, old);
}

/** secure_flush() - release every block in @h's quarantine (exit, trim). */
void secure_flush(struct heap *h)
{
	unsigned int i;

	for (i = 0; i < SECURE_QUARANTINE; i++) {
		void **p = h->quar[i];

		h->quar[i] = NULL;
		if (p)
			secure_evict(h, p);
	}
	h->qpos = 0;
}

/**
 * secure_salvage() - fork child: the quarantine of @dead, a heap whose
 * thread did not survive, is released by @me as remote frees.
 */
void secure_salvage(struct heap *me, struct heap *dead)
{
	unsigned int i;

	for (i = 0; i < SECURE_QUARANTINE; i++) {
		void **p = dead->quar[i];
		struct chunk *c = p ? chunk_lookup((uintptr_t)p) : NULL;

		dead->quar[i] = NULL;
		if (!c || (uintptr_t)p[1] != secure_qcookie)
			continue;	/* stays taken, as a block in flight */
		p[1] = NULL;
		heap_free_remote(me, c, p);
	}
	dead->qpos = 0;
}
