// SPDX-License-Identifier: MIT
/*
 * fuzz_api.c - a libFuzzer harness for bitslab's prefixed API.  Each input
 * is a program in the byte code of fuzz.h, run against a shadow model of
 * the heap: for every live block the size asked for, the alignment, the
 * bytes the harness owns in it (its usable size; the object size for cache
 * objects, whose owner tag follows the object) and a fill byte that, with
 * the offset, gives each of those bytes.  Checked on every operation:
 *
 *  - contents intact before free and realloc, realloc keeping the smaller
 *    of the two sizes, calloc's bytes zero, a constructor's bytes there;
 *  - the alignment asked for (16 for malloc), usable size >= size asked;
 *  - no two live blocks' usable bytes overlap (a sorted array of the
 *    blocks this thread holds, checked against both neighbours);
 *  - bad requests answered as include/bitslab.h says: NULL with ENOMEM for
 *    sizes no mapping can hold and for calloc's overflow, EINVAL for an
 *    alignment that is not a power of two, the block kept by a failed
 *    realloc.
 *
 * A second thread frees the blocks handed to it (FOP_HANDOFF: remote frees
 * into this thread's chunks, while this thread goes on allocating), and
 * allocates or reallocs blocks for this thread (FOP_REMOTE_*: this thread
 * then frees into the other's chunks); FOP_RESTART makes it exit, which
 * orphans its heap, and starts a new one.  The main thread waits for it to
 * go idle at FOP_SYNC and at the end of every input, so every input ends
 * with no block live and starts from the same state as any other;
 * FUZZ_SYNC=1 in the environment makes every hand-off wait, which makes a
 * crash replay the same way every time.
 *
 * The harness keeps its own state in static arrays: apart from what
 * libFuzzer and pthreads do, only the blocks under test come from bitslab,
 * and none from the allocator it would otherwise share with them.
 *
 * Built twice: with clang -fsanitize=fuzzer (make fuzz), and with the
 * project's compiler and replay.c's main() for make selftest, which runs
 * the seeds and the regression inputs through it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitslab.h>

#include "api.h"	/* bitslab_alloc_aligned(), bitslab_free_sized_op() */
#include <bitslab/compiler.h>
#include "large.h"	/* large_get_stats() */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Requests beyond this much live memory are skipped, not made: the point
 * is the allocator's bookkeeping, not the machine's RAM. */
#define LIVE_CAP	(64UL << 20)
#define QUEUE_LEN	128

enum blk_kind {
	BK_NONE,
	BK_MALLOC,	/* malloc, calloc, realloc: free or free_sized */
	BK_ALIGNED,	/* aligned_alloc: free or free_aligned_sized */
	BK_CACHE,	/* cache object: bitslab_cache_free() */
	BK_ORPHAN,	/* its cache was destroyed: bitslab_free() only */
};

struct blk {
	unsigned char *p;
	size_t size;		/* as asked */
	size_t align;		/* as asked (16 for malloc) */
	size_t owned;		/* bytes the harness fills and checks */
	uint8_t fill;
	uint8_t kind;		/* enum blk_kind */
	uint8_t cache;		/* BK_CACHE: index into caches[] */
};

struct fcache {
	struct bitslab_cache *c;
	size_t size, align;
	uint8_t fill;		/* the constructor's */
	bool ctor;
};

/* Main thread only. */
static struct blk slots[FUZZ_SLOTS];
static struct fcache caches[FUZZ_CACHES];
static size_t live_bytes;
static uint8_t next_fill;

/* The blocks of slots[] by address; main thread only. */
static struct range {
	uintptr_t start, end;
} ranges[FUZZ_SLOTS];
static unsigned int nranges;

/* The input being run, for the failure report. */
static const uint8_t *cur_data;
static size_t cur_size, cur_pos;

static _Noreturn void fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static _Noreturn void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_api: FAIL at input byte %zu of %zu: ", cur_pos,
		cur_size);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* --- block contents ------------------------------------------------- */

/*
 * Byte @i of a block with fill byte @fill is byte i % 8 of word i / 8 of
 * the pattern: a function of the offset alone, so bytes realloc keeps keep
 * their values, and whole words can be filled and compared (blocks of a
 * few MiB are checked on every free).  These loops are not instrumented:
 * AddressSanitizer knows nothing of bitslab's blocks (all of its memory is
 * "addressable" to it), and libFuzzer's comparison tracing would learn
 * nothing from them but cost three quarters of the run time.
 */
#ifdef __clang__
#define NO_ASAN __attribute__((no_sanitize("address", "coverage")))
#else
#define NO_ASAN __attribute__((no_sanitize_address))
#endif

static inline __attribute__((always_inline)) uint64_t pattern_word(uint8_t fill, size_t k)
{
	return (fill * 0x0101010101010101ULL) ^ (k * 0x9e3779b97f4a7c15ULL);
}

static inline __attribute__((always_inline)) unsigned char
pattern(uint8_t fill, size_t i)
{
	/* Little-endian: byte i % 8 of the word as fill_bytes() stores it. */
	return (unsigned char)(pattern_word(fill, i / 8) >> (8 * (i % 8)));
}

NO_ASAN static void fill_bytes(unsigned char *p, size_t from, size_t to,
			       uint8_t fill)
{
	size_t i = from;

	for (; i < to && i % 8; i++)
		p[i] = pattern(fill, i);
	for (; i + 8 <= to; i += 8) {
		uint64_t w = pattern_word(fill, i / 8);

		memcpy(p + i, &w, 8);
	}
	for (; i < to; i++)
		p[i] = pattern(fill, i);
}

/* The first offset in [from, to) that does not hold its pattern, or @to. */
NO_ASAN static size_t check_bytes(const unsigned char *p, size_t from,
				  size_t to, uint8_t fill)
{
	size_t i = from;

	for (; i < to && i % 8; i++)
		if (p[i] != pattern(fill, i))
			return i;
	for (; i + 8 <= to; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w != pattern_word(fill, i / 8))
			break;
	}
	for (; i < to; i++)
		if (p[i] != pattern(fill, i))
			return i;
	return to;
}

/* The first offset below @n that is not 0, or @n. */
NO_ASAN static size_t zero_until(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			break;
	return i;
}

static void blk_check(const struct blk *b, const char *when)
{
	size_t bad = check_bytes(b->p, 0, b->owned, b->fill);

	if (bad != b->owned)
		fail("%s: block %p (size %zu, align %zu, kind %d) byte %zu is "
		     "%#x, not %#x", when, (void *)b->p, b->size, b->align,
		     b->kind, bad, b->p[bad], pattern(b->fill, bad));
}

/* --- the address-sorted array of this thread's blocks ---------------- */

static unsigned int range_find(uintptr_t start)
{
	unsigned int lo = 0, hi = nranges;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (ranges[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void range_add(const struct blk *b, size_t usable)
{
	uintptr_t start = (uintptr_t)b->p;
	/* A block of 0 usable bytes still has an address of its own. */
	uintptr_t end = start + (usable ? usable : 1);
	unsigned int i = range_find(start);

	if (i < nranges && ranges[i].start < end)
		fail("block %p+%zu overlaps live block %p..%p", (void *)start,
		     usable, (void *)ranges[i].start, (void *)ranges[i].end);
	if (i > 0 && ranges[i - 1].end > start)
		fail("block %p+%zu overlaps live block %p..%p", (void *)start,
		     usable, (void *)ranges[i - 1].start,
		     (void *)ranges[i - 1].end);
	memmove(&ranges[i + 1], &ranges[i], (nranges - i) * sizeof(ranges[0]));
	ranges[i].start = start;
	ranges[i].end = end;
	nranges++;
}

static void range_del(const struct blk *b)
{
	unsigned int i = range_find((uintptr_t)b->p);

	if (i == nranges || ranges[i].start != (uintptr_t)b->p)
		fail("block %p missing from the range array", (void *)b->p);
	memmove(&ranges[i], &ranges[i + 1],
		(nranges - i - 1) * sizeof(ranges[0]));
	nranges--;
}

/* --- the second thread ----------------------------------------------- */

enum cmd_op {
	CMD_FREE,	/* check and free b */
	CMD_ALLOC,	/* allocate b.size at b.align, fill, answer in b */
	CMD_REALLOC,	/* realloc b to size, answer in b */
	CMD_QUIT,
};

struct cmd {
	int op;
	struct blk b;
	size_t size;			/* CMD_REALLOC */
	struct bitslab_cache *cache;	/* CMD_FREE of a BK_CACHE block */
};

/*
 * A ring of commands under one mutex; the answer to CMD_ALLOC and
 * CMD_REALLOC comes back in @answer, which the main thread reads after
 * queue_sync() (the mutex orders it).
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;	/* main -> thread: a command is queued */
	pthread_cond_t idle;	/* thread -> main: the ring is empty */
	struct cmd ring[QUEUE_LEN];
	unsigned int head, tail;	/* under lock */
	bool busy;		/* under lock: a command is being run */
	struct blk answer;	/* under lock */
} q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.more = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};

static pthread_t worker;
static bool worker_running;
static bool sync_every;		/* FUZZ_SYNC=1 */

/* Free @b the way its kind allows; @which picks between the ways. */
static void blk_free(const struct blk *b, struct bitslab_cache *cache,
		     unsigned int which)
{
	switch (b->kind) {
	case BK_MALLOC:
		if (which & 1)
			bitslab_free_sized_op(b->p, 0, b->size, "free_sized");
		else
			bitslab_free(b->p);
		break;
	case BK_ALIGNED:
		if (which & 1)
			bitslab_free_sized_op(b->p, b->align, b->size,
					      "free_aligned_sized");
		else
			bitslab_free(b->p);
		break;
	case BK_CACHE:
		bitslab_cache_free(cache, b->p);
		break;
	case BK_ORPHAN:
		bitslab_free(b->p);
		break;
	default:
		fail("free of a block of kind %d", b->kind);
	}
}

/* @b fresh from the allocator: check alignment and usable size, take it
 * (fill what it owns unless @keep bytes already hold the pattern). */
static size_t blk_take(struct blk *b, size_t keep)
{
	size_t usable = bitslab_usable_size(b->p);
	size_t align = b->align < 16 ? 16 : b->align;

	if ((uintptr_t)b->p & (align - 1))
		fail("block %p of size %zu is not aligned at %zu",
		     (void *)b->p, b->size, align);
	if (usable < b->size)
		fail("block %p: usable size %zu < size %zu", (void *)b->p,
		     usable, b->size);
	b->owned = b->kind == BK_CACHE ? b->size : usable;
	if (keep > b->owned)
		keep = b->owned;
	fill_bytes(b->p, keep, b->owned, b->fill);
	return usable;
}

static void cmd_run(struct cmd *c)
{
	struct blk *b = &c->b;
	unsigned char *np;
	size_t keep;

	switch (c->op) {
	case CMD_FREE:
		blk_check(b, "remote free");
		blk_free(b, c->cache, b->fill >> 1);
		break;
	case CMD_ALLOC:
		if (b->kind == BK_ALIGNED)
			b->p = bitslab_aligned_alloc(b->align, b->size);
		else
			b->p = bitslab_malloc(b->size);
		if (!b->p)
			fail("remote alloc of %zu bytes: NULL", b->size);
		blk_take(b, 0);
		break;
	case CMD_REALLOC:
		blk_check(b, "remote realloc");
		np = bitslab_realloc(b->p, c->size);
		if (!np)
			fail("remote realloc of %p to %zu: NULL", (void *)b->p,
			     c->size);
		keep = b->size < c->size ? b->size : c->size;
		if (check_bytes(np, 0, keep, b->fill) != keep)
			fail("remote realloc of %p to %zu (at %p) lost bytes",
			     (void *)b->p, c->size, (void *)np);
		b->p = np;
		b->size = c->size;
		b->align = 16;
		b->kind = BK_MALLOC;
		blk_take(b, keep);
		break;
	}
}

static void *worker_main(void *arg)
{
	for (;;) {
		struct cmd c;

		pthread_mutex_lock(&q.lock);
		while (q.head == q.tail)
			pthread_cond_wait(&q.more, &q.lock);
		c = q.ring[q.tail % QUEUE_LEN];
		q.tail++;
		q.busy = true;
		pthread_mutex_unlock(&q.lock);

		if (c.op == CMD_QUIT)
			break;
		cmd_run(&c);

		pthread_mutex_lock(&q.lock);
		q.busy = false;
		q.answer = c.b;
		if (q.head == q.tail)
			pthread_cond_signal(&q.idle);
		pthread_mutex_unlock(&q.lock);
	}
	pthread_mutex_lock(&q.lock);
	q.busy = false;
	pthread_cond_signal(&q.idle);
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

/* Wait until the second thread has run every queued command. */
static void queue_sync(void)
{
	pthread_mutex_lock(&q.lock);
	while (q.head != q.tail || q.busy)
		pthread_cond_wait(&q.idle, &q.lock);
	pthread_mutex_unlock(&q.lock);
}

static void queue_push(const struct cmd *c)
{
	pthread_mutex_lock(&q.lock);
	while (q.head - q.tail == QUEUE_LEN)
		pthread_cond_wait(&q.idle, &q.lock);
	q.ring[q.head % QUEUE_LEN] = *c;
	q.head++;
	pthread_cond_signal(&q.more);
	pthread_mutex_unlock(&q.lock);
	if (sync_every)
		queue_sync();
}

static void worker_start(void)
{
	if (pthread_create(&worker, NULL, worker_main, NULL))
		fail("pthread_create failed");
	worker_running = true;
}

/* The second thread exits (its heap goes to the orphans) and is joined. */
static void worker_stop(void)
{
	struct cmd c = { .op = CMD_QUIT };

	queue_push(&c);
	pthread_join(worker, NULL);
	worker_running = false;
}

/* --- the input reader ------------------------------------------------ */

static uint8_t in_u8(void)
{
	return cur_pos < cur_size ? cur_data[cur_pos++] : 0;
}

static uint16_t in_u16(void)
{
	uint16_t lo = in_u8();

	return lo | (uint16_t)in_u8() << 8;
}

static struct blk *in_slot(void)
{
	return &slots[in_u8() % FUZZ_SLOTS];
}

static size_t in_size(void)
{
	uint8_t sel = in_u8();

	return fuzz_size(sel, in_u16());
}

/* 2^(b % 23): 1 byte to 4 MiB, most below a chunk. */
static size_t in_align(void)
{
	return (size_t)1 << (in_u8() % 23);
}

/* --- operations ------------------------------------------------------ */

static void slot_free(struct blk *b, unsigned int which)
{
	if (b->kind == BK_NONE)
		return;
	blk_check(b, "free");
	range_del(b);
	blk_free(b, b->kind == BK_CACHE ? caches[b->cache].c : NULL, which);
	live_bytes -= b->size;
	b->kind = BK_NONE;
}

/* @b has a new block: check it and enter it in the model. */
static void slot_set(struct blk *b, size_t keep)
{
	range_add(b, blk_take(b, keep));
	live_bytes += b->size;
}

static bool over_cap(size_t size)
{
	return live_bytes + size > LIVE_CAP;
}

static void expect_null(void *p, int err, const char *what, size_t a1,
			size_t a2)
{
	if (p)
		fail("%s(%#zx, %#zx) gave %p, not NULL", what, a1, a2, p);
	if (errno != err)
		fail("%s(%#zx, %#zx): errno %d, not %d", what, a1, a2, errno,
		     err);
}

static void op_alloc(int op)
{
	struct blk *b = in_slot();
	unsigned int n = 1;
	size_t size, align = 16;

	if (op == FOP_CALLOC)
		n = in_u8() % 9;
	if (op == FOP_ALIGNED_ALLOC || op == FOP_MEMALIGN)
		align = in_align();
	size = in_size();
	slot_free(b, size >> 4);
	if (over_cap(size * n))
		return;
	b->size = size * n;
	b->align = align;
	b->fill = next_fill++;
	b->kind = BK_MALLOC;
	switch (op) {
	case FOP_MALLOC:
		b->p = bitslab_malloc(size);
		break;
	case FOP_CALLOC:
		b->p = bitslab_calloc(n, size);
		if (b->p && zero_until(b->p, b->size) != b->size)
			fail("calloc(%u, %zu) = %p: byte %zu is not 0", n, size,
			     (void *)b->p, zero_until(b->p, b->size));
		break;
	case FOP_ALIGNED_ALLOC:
		b->kind = BK_ALIGNED;
		b->p = bitslab_aligned_alloc(align, size);
		break;
	case FOP_MEMALIGN:
		/* What memalign, posix_memalign, valloc and pvalloc of
		 * libbitslab.so call once they have checked @align. */
		b->kind = BK_ALIGNED;
		b->p = bitslab_alloc_aligned(align, size);
		break;
	}
	if (!b->p)
		fail("op %d of %u x %zu bytes at %zu: NULL (errno %d)", op, n,
		     size, align, errno);
	slot_set(b, 0);
}

static void op_realloc(void)
{
	struct blk *b = in_slot();
	size_t size = in_size(), keep;
	unsigned char *np;

	if (b->kind == BK_CACHE || b->kind == BK_ORPHAN)
		slot_free(b, 0);
	if (b->kind == BK_NONE) {
		if (over_cap(size))
			return;
		b->p = bitslab_realloc(NULL, size);
		if (!b->p)
			fail("realloc(NULL, %zu): NULL", size);
		b->size = size;
		b->align = 16;
		b->fill = next_fill++;
		b->kind = BK_MALLOC;
		slot_set(b, 0);
		return;
	}
	if (size > b->size && over_cap(size - b->size))
		return;
	blk_check(b, "realloc");
	range_del(b);
	live_bytes -= b->size;
	np = bitslab_realloc(b->p, size);
	if (size == 0) {
		/* include/bitslab.h: size 0 frees and returns NULL. */
		if (np)
			fail("realloc(%p, 0) gave %p, not NULL", (void *)b->p,
			     (void *)np);
		b->kind = BK_NONE;
		return;
	}
	if (!np)
		fail("realloc(%p, %zu): NULL", (void *)b->p, size);
	keep = b->size < size ? b->size : size;
	if (check_bytes(np, 0, keep, b->fill) != keep)
		fail("realloc(%p of %zu, %zu) = %p lost byte %zu",
		     (void *)b->p, b->size, size, (void *)np,
		     check_bytes(np, 0, keep, b->fill));
	b->p = np;
	b->size = size;
	b->align = 16;
	b->kind = BK_MALLOC;
	slot_set(b, keep);
}

static void op_usable(void)
{
	struct blk *b = in_slot();
	size_t usable;

	if (b->kind == BK_NONE)
		return;
	usable = bitslab_usable_size(b->p);
	if (usable < b->size || (b->kind != BK_CACHE && usable < b->owned))
		fail("usable size of %p is %zu (asked %zu, had %zu)",
		     (void *)b->p, usable, b->size, b->owned);
}

static void ctor_fill(unsigned int i, void *obj)
{
	fill_bytes(obj, 0, caches[i].size, caches[i].fill);
}

static void ctor0(void *obj) { ctor_fill(0, obj); }
static void ctor1(void *obj) { ctor_fill(1, obj); }
static void ctor2(void *obj) { ctor_fill(2, obj); }
static void ctor3(void *obj) { ctor_fill(3, obj); }
static void (*const ctors[FUZZ_CACHES])(void *) = { ctor0, ctor1, ctor2,
						     ctor3 };

/* Cache @i goes; its live objects stay valid, for bitslab_free() only. */
static void cache_destroy(unsigned int i)
{
	unsigned int s;

	if (!caches[i].c)
		return;
	queue_sync();		/* no remote cache_free may still be queued */
	for (s = 0; s < FUZZ_SLOTS; s++)
		if (slots[s].kind == BK_CACHE && slots[s].cache == i)
			slots[s].kind = BK_ORPHAN;
	bitslab_cache_destroy(caches[i].c);
	caches[i].c = NULL;
}

static void op_cache_create(void)
{
	unsigned int i = in_u8() % FUZZ_CACHES;
	size_t size = in_size(), align;
	uint8_t a = in_u8(), flags = in_u8();
	struct fcache *fc = &caches[i];
	bool valid;

	/* 0 (the default), a power of two up to 8 KiB, or any byte. */
	align = a & 0x80 ? a & 0x7f : a % 15 ? (size_t)1 << (a % 15 - 1) : 0;
	cache_destroy(i);
	valid = size > 0 && size <= 32768 - 8 && !(align & (align - 1)) &&
		align <= 4096;
	errno = 0;
	fc->c = bitslab_cache_create("fuzz", size, align,
				     flags & 1 ? ctors[i] : NULL);
	if (!valid) {
		expect_null(fc->c, EINVAL, "bitslab_cache_create", size, align);
		return;
	}
	if (!fc->c) {
		/* A large alignment may have no class to come from. */
		if (errno == EINVAL && align > 16)
			return;
		fail("bitslab_cache_create(%zu, %zu): NULL, errno %d", size,
		     align, errno);
	}
	fc->size = size;
	fc->align = align ? align : 16;
	fc->fill = next_fill++;
	fc->ctor = flags & 1;
}

static void op_cache_alloc(void)
{
	struct blk *b = in_slot();
	unsigned int i = in_u8() % FUZZ_CACHES;
	struct fcache *fc = &caches[i];

	slot_free(b, 0);
	if (!fc->c)
		return;
	b->p = bitslab_cache_alloc(fc->c);
	if (!b->p)
		fail("bitslab_cache_alloc(%zu at %zu): NULL", fc->size,
		     fc->align);
	b->size = fc->size;
	b->align = fc->align;
	b->kind = BK_CACHE;
	b->cache = i;
	if (fc->ctor) {
		size_t bad = check_bytes(b->p, 0, fc->size, fc->fill);

		if (bad != fc->size)
			fail("cache object %p: the constructor's byte %zu "
			     "is not there", (void *)b->p, bad);
		b->fill = fc->fill;
		slot_set(b, fc->size);
	} else {
		b->fill = next_fill++;
		slot_set(b, 0);
	}
}

static void op_handoff(void)
{
	struct blk *b = in_slot();
	struct cmd c = { .op = CMD_FREE };

	if (b->kind == BK_NONE)
		return;
	blk_check(b, "hand-off");
	range_del(b);
	live_bytes -= b->size;
	c.b = *b;
	if (b->kind == BK_CACHE)
		c.cache = caches[b->cache].c;
	b->kind = BK_NONE;
	queue_push(&c);
}

/* The second thread allocates (or reallocs) the block of slot @b. */
static void op_remote(int op)
{
	struct blk *b = in_slot();
	size_t size = in_size();
	struct cmd c = { .op = CMD_ALLOC };

	if (op == FOP_REMOTE_REALLOC && (b->kind == BK_MALLOC ||
					 b->kind == BK_ALIGNED)) {
		if (size == 0 || (size > b->size && over_cap(size - b->size)))
			return;
		c.op = CMD_REALLOC;
		c.size = size;
		c.b = *b;
		range_del(b);
		live_bytes -= b->size;
	} else {
		slot_free(b, 0);
		if (over_cap(size))
			return;
		c.b.size = size;
		c.b.align = size & 1 ? 16 : (size_t)1 << (size % 13);
		c.b.kind = size & 1 ? BK_MALLOC : BK_ALIGNED;
		c.b.fill = next_fill++;
	}
	queue_push(&c);
	queue_sync();
	pthread_mutex_lock(&q.lock);
	*b = q.answer;
	pthread_mutex_unlock(&q.lock);
	range_add(b, bitslab_usable_size(b->p));
	live_bytes += b->size;
}

static void op_bad(void)
{
	uint8_t kind = in_u8() % FBAD_COUNT;
	struct blk *b = in_slot();
	uint16_t v = in_u16();
	size_t huge = (size_t)PTRDIFF_MAX + 1 + v * 4096UL;
	size_t small = v % 4096 + 2, align;
	void *p;

	if (v & 1)
		huge = SIZE_MAX - v;
	errno = 0;
	switch (kind) {
	case FBAD_MALLOC_HUGE:
		expect_null(bitslab_malloc(huge), ENOMEM, "malloc", huge, 0);
		break;
	case FBAD_CALLOC_OVERFLOW:
		expect_null(bitslab_calloc(SIZE_MAX / small + 1, small), ENOMEM,
			    "calloc", SIZE_MAX / small + 1, small);
		break;
	case FBAD_CALLOC_HUGE:
		/* No overflow, but more than PTRDIFF_MAX bytes. */
		expect_null(bitslab_calloc(small, huge / small), ENOMEM,
			    "calloc", small, huge / small);
		break;
	case FBAD_REALLOC_HUGE:
		if (b->kind == BK_CACHE || b->kind == BK_ORPHAN)
			break;
		p = b->kind == BK_NONE ? NULL : b->p;
		expect_null(bitslab_realloc(p, huge), ENOMEM, "realloc",
			    (size_t)p, huge);
		if (p)
			blk_check(b, "failed realloc");
		break;
	case FBAD_ALIGN_NOT_POW2:
		align = v & 0x8000 ? 0 : (size_t)v + 3;
		if (!(align & (align - 1)))
			align = v & 0x8000 ? 0 : align + 1;
		expect_null(bitslab_aligned_alloc(align, small), EINVAL,
			    "aligned_alloc", align, small);
		break;
	case FBAD_ALIGN_HUGE_SIZE:
		align = (size_t)1 << (v % 24);
		expect_null(bitslab_aligned_alloc(align, huge), ENOMEM,
			    "aligned_alloc", align, huge);
		break;
	case FBAD_ALIGN_VAST:
		/* May be mapped (address space is plentiful) or not; if it
		 * is, it must be aligned and writable. */
		align = (size_t)1 << (30 + v % 34);
		p = bitslab_aligned_alloc(align, small);
		if (!p) {
			expect_null(p, ENOMEM, "aligned_alloc", align, small);
			break;
		}
		if ((uintptr_t)p & (align - 1))
			fail("aligned_alloc(%#zx, %zu) = %p", align, small, p);
		if (bitslab_usable_size(p) < small)
			fail("aligned_alloc(%#zx, %zu) = %p: usable %zu", align,
			     small, p, bitslab_usable_size(p));
		memset(p, 0xa5, small);
		bitslab_free(p);
		break;
	case FBAD_NULLS:
		bitslab_free(NULL);
		bitslab_free_sized_op(NULL, 0, small, "free_sized");
		if (bitslab_usable_size(NULL) != 0)
			fail("usable_size(NULL) != 0");
		if (caches[v % FUZZ_CACHES].c)
			bitslab_cache_free(caches[v % FUZZ_CACHES].c, NULL);
		break;
	}
}

static void op_one(void)
{
	int op = in_u8() % FOP_COUNT;

	switch (op) {
	case FOP_MALLOC:
	case FOP_CALLOC:
	case FOP_ALIGNED_ALLOC:
	case FOP_MEMALIGN:
		op_alloc(op);
		break;
	case FOP_REALLOC:
		op_realloc();
		break;
	case FOP_FREE:
		slot_free(in_slot(), 0);
		break;
	case FOP_FREE_SIZED:
		slot_free(in_slot(), 1);
		break;
	case FOP_USABLE:
		op_usable();
		break;
	case FOP_CACHE_CREATE:
		op_cache_create();
		break;
	case FOP_CACHE_ALLOC:
		op_cache_alloc();
		break;
	case FOP_CACHE_DESTROY:
		cache_destroy(in_u8() % FUZZ_CACHES);
		break;
	case FOP_HANDOFF:
		op_handoff();
		break;
	case FOP_REMOTE_ALLOC:
	case FOP_REMOTE_REALLOC:
		op_remote(op);
		break;
	case FOP_SYNC:
		queue_sync();
		break;
	case FOP_TRIM:
		queue_sync();
		bitslab_trim();
		break;
	case FOP_BAD:
		op_bad();
		break;
	case FOP_RESTART:
		worker_stop();
		worker_start();
		break;
	}
}

/**
 * LLVMFuzzerTestOneInput() - run the program @data of @size bytes (fuzz.h)
 * against the model, then free everything it left and destroy its caches.
 * A failed check reports on stderr and aborts, which libFuzzer (or the
 * replay) records as a crash.  Return: 0, as libFuzzer requires.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t large_bytes;
	long large_blocks;
	unsigned int i;

	if (!worker_running) {
		const char *s = getenv("FUZZ_SYNC");

		sync_every = s && *s == '1';
		worker_start();
	}
	cur_data = data;
	cur_size = size;
	cur_pos = 0;
	next_fill = size ? data[0] : 0;
	while (cur_pos < cur_size)
		op_one();

	/* Leave nothing behind: the next input starts from scratch. */
	queue_sync();
	for (i = 0; i < FUZZ_SLOTS; i++)
		slot_free(&slots[i], i);
	for (i = 0; i < FUZZ_CACHES; i++)
		cache_destroy(i);
	if (nranges || live_bytes)
		fail("%u blocks (%zu bytes) left in the model", nranges,
		     live_bytes);
	/* Every large block was the harness's, and all are freed: one the
	 * allocator still counts was lost, or counted twice. */
	large_get_stats(&large_blocks, &large_bytes);
	if (large_blocks || large_bytes)
		fail("bitslab counts %ld large blocks (%zu bytes) live after "
		     "the input freed everything", large_blocks, large_bytes);
	if (size && data[size - 1] % 8 == 0)
		bitslab_trim();
	return 0;
}
