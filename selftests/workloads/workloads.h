/* SPDX-License-Identifier: MIT */
/*
 * workloads.h - the seed's test cases as library functions, so that one
 * source serves the Check suite (through the prefixed API), the stress runs
 * and the benchmarks (through plain malloc, under LD_PRELOAD of bitslab or
 * of a peer).
 *
 * Every workload reaches its allocator only through a struct wl_alloc, checks
 * the contents of every block it frees, and returns 0 if its result and
 * every block were right, or -1 with a one-line reason in wl_result.why.
 * Worker threads never call into Check: they count problems.
 */
#ifndef SELFTESTS_WORKLOADS_H
#define SELFTESTS_WORKLOADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct wl_alloc {
	const char *name;
	void *(*malloc)(size_t size);
	void *(*realloc)(void *ptr, size_t size);
	void (*free)(void *ptr);
};

/* The allocator a program was linked with: alloc_libc.c or alloc_bitslab.c. */
extern const struct wl_alloc wl_default_alloc;

struct wl_result {
	long best_start;	/* collatz: start value of the longest sequence */
	long best_steps;	/* collatz: its number of steps */
	uint64_t ops;		/* allocations made */
	uint64_t checked;	/* blocks whose contents were verified on free */
	/* wset: seconds its workers spent growing their sets ([0]) and
	 * shrinking them ([1]), summed over the workers */
	double phase_s[2];
	char why[160];		/* first problem seen, or "" */
};

/* Seconds on the monotonic clock. */
static inline double wl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seeded xorshift64 PRNG, so that a failing run can be repeated. */
static inline uint64_t wl_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* The step of the Collatz map (branch-free: the checks walk long runs). */
static inline long collatz_next(long x)
{
	unsigned long u = (unsigned long)x;

	return (long)((u & 1) ? 3 * u + 1 : u >> 1);
}

/*
 * collatz_list_run() - a Collatz search over 1..@n in which each start value
 * keeps its sequence so far as a linked list of 16-byte cells.  In passes,
 * @threads workers take values one at a time, copy the value's list, extend
 * the copy by up to 50 steps and free the old list; the next pass hands the
 * value to whichever thread comes first, so lists are freed by other
 * threads than the ones that built them.  Every cell is checked on free.
 */
int collatz_list_run(const struct wl_alloc *a, long n, unsigned int threads,
		     struct wl_result *r);

void collatz_longest(long n, long *start, long *steps);

/* collatz_ivec_run() - the same with growable vectors of longs (doubling
 * with realloc): each step copies the vector and pushes up to 50 values. */
int collatz_ivec_run(const struct wl_alloc *a, long n, unsigned int threads,
		     struct wl_result *r);

/*
 * vectors_run() - @threads workers share @nvec vectors of mixed element
 * sizes (1 to 64 bytes) and, @ops times each, take a random idle vector and
 * push to it, pop from it (shrinking it with realloc), or free it and start
 * it again with another element size.  Every element is checked when it is
 * popped or freed.
 */
int vectors_run(const struct wl_alloc *a, unsigned int threads, long nvec,
		long ops, uint64_t seed, struct wl_result *r);

/*
 * frag_run() - the fragmentation test: under RLIMIT_AS set @limit_mib MiB
 * above the process's size at the start, @rounds rounds each allocate up to
 * 9 MiB of small blocks of mixed sizes, free them all (every other block
 * first), then allocate, fill and free one 9 MiB block.  It passes when every
 * allocation succeeded.  Sets the limit for the whole process and leaves it
 * set: run it in a process of its own.
 */
int frag_run(const struct wl_alloc *a, long limit_mib, int rounds,
	     uint64_t seed, struct wl_result *r);

/*
 * frag_course_run() - the fragmentation test as the course runs it: RLIMIT_AS
 * set to @limit bytes for the whole process (absolute, not above its size),
 * then @rounds rounds (the course: 2) each allocate blocks of the seed's
 * sizes (a third up to 100 bytes, a third up to 256, a third up to 64 KiB)
 * until 9 MiB were asked for, about 6 MiB live at once, free them all,
 * and allocate, fill and free one 9 MiB block.  malloc's result is not
 * checked: a NULL is written to and the process dies of SIGSEGV.  Sets the
 * limit for the whole process and leaves it set: run it in a process of its
 * own.  r->best_start is the peak of live bytes in KiB.
 */
int frag_course_run(const struct wl_alloc *a, size_t limit, int rounds,
		    uint64_t seed, struct wl_result *r);

/*
 * prodcons_run() - @threads workers in a ring: each allocates @items blocks
 * of random sizes up to @max_size, fills them and hands them to the next
 * worker through a single-producer single-consumer queue; each checks and
 * frees what it receives.  Every free is a remote free.
 */
int prodcons_run(const struct wl_alloc *a, unsigned int threads, long items,
		 size_t max_size, uint64_t seed, struct wl_result *r);

/*
 * prodcons_split_run() - the same with separate roles: @threads / 2
 * producers only allocate and fill @items blocks each, and as many
 * consumers (one per producer) only check and free them.  @threads must be
 * even.
 */
int prodcons_split_run(const struct wl_alloc *a, unsigned int threads,
		       long items, size_t max_size, uint64_t seed,
		       struct wl_result *r);

/*
 * larson_run() - a server in the style of Larson and Krishnan's benchmark:
 * @threads workers each hold @slots blocks of random sizes up to @max_size
 * and replace random ones @ops times; then each hands its blocks to a new
 * thread it starts and exits, @generations times.  Thread churn with blocks
 * freed by threads that did not allocate them.
 */
int larson_run(const struct wl_alloc *a, unsigned int threads, long slots,
	       long ops, int generations, size_t max_size, uint64_t seed,
	       struct wl_result *r);

/*
 * micro_run() - malloc/free throughput: @threads workers each allocate and
 * free @ops blocks of sizes in [@lo, @hi], keeping a window of 8 live blocks
 * (so no chunk empties on every free).
 */
int micro_run(const struct wl_alloc *a, unsigned int threads, size_t lo,
	      size_t hi, long ops, uint64_t seed, struct wl_result *r);

/*
 * churn_run() - thread churn with a shared array, after xmalloc-test and
 * threadtest: @rounds times, @threads new workers each allocate @ops blocks
 * of random sizes from 16 to @max_size bytes (one in WL_BIG_ODDS up to
 * WL_BIG_FACTOR times larger) and store a random fraction of
 * them (chosen per worker and round) in random slots of an array shared by
 * all, freeing the block each displaces (another thread's, often one that
 * has exited); the rest they free themselves.  The workers of a round are
 * joined before the next round starts; the array outlives them.
 */
int churn_run(const struct wl_alloc *a, unsigned int threads, int rounds,
	      long ops, size_t max_size, uint64_t seed, struct wl_result *r);

/*
 * xfree_run() - @rounds times, each of @threads workers allocates @blocks
 * blocks of random sizes from 16 to @max_size bytes; then, once all have,
 * each frees its own odd-numbered blocks and the even-numbered ones of a
 * partner (another worker each round), in one random order, so half of
 * every chunk's blocks come back from another thread while its owner frees
 * the rest.
 */
int xfree_run(const struct wl_alloc *a, unsigned int threads, int rounds,
	      long blocks, size_t max_size, uint64_t seed, struct wl_result *r);

/*
 * wset_run() - a working set that rises and falls: @cycles times, each of
 * @threads workers grows its set of blocks (random sizes from 16 to
 * @max_size bytes, one in WL_BIG_ODDS up to WL_BIG_FACTOR times larger) to
 * a random height of up to @peak blocks, trading a
 * quarter of its new blocks for other workers' through a shared array, then
 * all shrink it again, freeing blocks in random order, many of them
 * allocated by other threads.  All workers rise together and fall
 * together, so the process's working set swings between nearly nothing and
 * @threads * @peak blocks.
 */
int wset_run(const struct wl_alloc *a, unsigned int threads, int cycles,
	     long peak, size_t max_size, uint64_t seed, struct wl_result *r);

/*
 * bigbuf_run() - big buffers replaced in a loop: @count buffers of random
 * sizes in [@lo, @hi] bytes, a random one replaced @iters times; each new
 * buffer is allocated before the old one is freed and zero-filled with
 * memset (std::make_unique<char[]>).  A tag in each is checked on free.
 */
int bigbuf_run(const struct wl_alloc *a, long count, size_t lo, size_t hi,
	       long iters, uint64_t seed, struct wl_result *r);

/**
 * idle_run() - a server between bursts (idle.c): @threads workers allocate
 * @mib MiB of small blocks together, free them all (@cross percent of each
 * worker's by a partner), then stay alive doing nothing; passes if, @sleep_ms later,
 * the resident set (/proc/self/statm) is at most @slack_mib MiB above what
 * it was before the burst.  No malloc_trim().  r->best_start and
 * r->best_steps are the resident sets before and after, in KiB; the peak
 * goes to *@peak_kib.
 */
int idle_run(const struct wl_alloc *a, unsigned int threads, long mib,
	     long sleep_ms, long slack_mib, unsigned int cross, uint64_t seed,
	     struct wl_result *r, long *peak_kib);
long idle_rss_kib(void);

/* Internal helpers of the workloads. */
void wl_fail(struct wl_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define WL_MAX_THREADS 256
void wl_run_threads(unsigned int n, void *(*fn)(void *), void *args,
		    size_t argsize);
__attribute__((noreturn, format(printf, 1, 2)))
void wl_die(const char *fmt, ...);
void wl_fill(void *p, size_t n, uint64_t tag);
int wl_check(const void *p, size_t n, uint64_t tag);
size_t wl_rand_size(uint64_t *seed, size_t lo, size_t hi);
#define WL_BIG_ODDS	128
#define WL_BIG_FACTOR	64
size_t wl_rand_size_mixed(uint64_t *seed, size_t max);
void *wl_block_new(const struct wl_alloc *a, size_t size);
bool wl_block_free(const struct wl_alloc *a, void *p, size_t max_size);

#endif /* SELFTESTS_WORKLOADS_H */
