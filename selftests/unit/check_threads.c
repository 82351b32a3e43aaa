// SPDX-License-Identifier: MIT
/*
 * check_threads.c - the allocator under threads: blocks freed by other
 * threads than their allocators keep their contents and come back for
 * reuse, exited threads' chunks are adopted, memory does not grow with
 * thread churn, and fork works while other threads allocate.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bitslab.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "options.h"
#include "os.h"
#include "unit.h"

/*
 * A block carries its size and a pattern derived from its address.  Worker
 * threads never call ck_assert(): Check serialises its messages with a
 * mutex, and a fork while a worker holds it would hang the child.  Workers
 * count problems or abort(), which Check reports as an error.
 */
static void *block_new(size_t n)
{
	unsigned char *p = bitslab_malloc(n);
	size_t i;

	if (!p)
		abort();
	if (n >= sizeof(size_t)) {
		memcpy(p, &n, sizeof(n));
		for (i = sizeof(n); i < n; i++)
			p[i] = (unsigned char)((uintptr_t)p + i);
	}
	return p;
}

static int block_ok(const unsigned char *p, size_t n)
{
	size_t i, m;

	if (n < sizeof(size_t))
		return 1;
	memcpy(&m, p, sizeof(m));
	if (m != n)
		return 0;
	for (i = sizeof(n); i < n; i++)
		if (p[i] != (unsigned char)((uintptr_t)p + i))
			return 0;
	return 1;
}

/*
 * Producer/consumer: producers allocate and hand blocks over a ring; the
 * consumer checks and frees them, so every free is a remote free.
 */
#define RING 1024
#define HANDOFFS 200000

/*
 * Slot k carries items k, k + RING, k + 2 * RING, ...: turn[k] is 2 * i
 * while it waits for item i and 2 * i + 1 while it holds it.
 */
static struct {
	void *slot[RING];
	size_t size[RING];
	_Atomic long turn[RING];
} ring;

struct pc_arg {
	int id, nprod;
	long bad;
};

static void *producer(void *arg)
{
	struct pc_arg *a = arg;
	uint64_t s = 0x1234567 + (uint64_t)a->id;
	long i;

	for (i = a->id; i < HANDOFFS; i += a->nprod) {
		size_t n = 8 + prng_next(&s) % 600, k = (size_t)i % RING;
		void *p = block_new(n);

		while (load_acquire(&ring.turn[k]) != 2 * i)
			cpu_relax();
		ring.slot[k] = p;
		ring.size[k] = n;
		store_release(&ring.turn[k], 2 * i + 1);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc_arg *a = arg;
	long i;

	for (i = 0; i < HANDOFFS; i++) {
		size_t k = (size_t)i % RING;

		while (load_acquire(&ring.turn[k]) != 2 * i + 1)
			cpu_relax();
		if (!block_ok(ring.slot[k], ring.size[k]))
			a->bad++;
		bitslab_free(ring.slot[k]);
		store_release(&ring.turn[k], 2 * (i + RING));
	}
	return NULL;
}

START_TEST(test_threads_producer_consumer_remote_frees)
{
	struct pc_arg a[4] = { { 0, 3, 0 }, { 1, 3, 0 }, { 2, 3, 0 },
			       { 3, 3, 0 } };
	pthread_t t[4];
	int i;

	for (i = 0; i < RING; i++)
		atomic_init(&ring.turn[i], 2L * i);
	pthread_create(&t[3], NULL, consumer, &a[3]);
	for (i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, producer, &a[i]);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(a[3].bad, 0);
}
END_TEST

/*
 * Every thread swaps blocks in and out of a shared table, checking and
 * freeing whatever it took out, whoever allocated it.
 */
#define SWAP_SLOTS 2048
#define SWAPS 150000

static _Atomic(void *) table[SWAP_SLOTS];
static _Atomic long swap_bad;

static void *swapper(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	long i;

	start_line_wait();
	for (i = 0; i < SWAPS; i++) {
		uint64_t r = prng_next(&s);
		size_t n = (r & 15) == 0 ? 1000 + r % 60000 : 8 + r % 300;
		void *p = block_new(n);
		unsigned char *old = atomic_exchange(&table[(r >> 40) % SWAP_SLOTS], p);

		if (old) {
			size_t m;

			memcpy(&m, old, sizeof(m));
			if (!block_ok(old, m))
				fetch_add(&swap_bad, 1);
			bitslab_free(old);
		}
	}
	return NULL;
}

START_TEST(test_threads_cross_frees_keep_contents)
{
	int i;

	memset(table, 0, sizeof(table));
	WRITE_ONCE(swap_bad, 0);
	start_line_init(4);
	run_threads(4, swapper, (void *)1, 1);
	for (i = 0; i < SWAP_SLOTS; i++) {
		unsigned char *p = atomic_load(&table[i]);
		size_t m;

		if (p) {
			memcpy(&m, p, sizeof(m));
			ck_assert(block_ok(p, m));
			bitslab_free(p);
		}
	}
	ck_assert_int_eq(READ_ONCE(swap_bad), 0);
}
END_TEST

/*
 * A thread allocates and exits with its blocks live; the main thread frees
 * half of them (into orphaned chunks); new threads then adopt the chunks
 * and reuse the free half instead of mapping new memory.
 */
#define ORPHANS 20000

static void *orphan_blocks[ORPHANS];

static void *make_orphans(void *arg)
{
	int i;

	for (i = 0; i < ORPHANS; i++)
		orphan_blocks[i] = block_new(48);
	return NULL;
}

static void *reuse_orphans(void *arg)
{
	void **mine = arg;
	int i;

	for (i = 0; i < ORPHANS / 2; i++)
		mine[i] = block_new(48);
	return NULL;
}

START_TEST(test_threads_exited_thread_chunks_are_adopted)
{
	static void *mine[ORPHANS / 2];
	pthread_t t;
	size_t before;
	long reused = 0;
	int i;

	pthread_create(&t, NULL, make_orphans, NULL);
	pthread_join(t, NULL);
	for (i = 0; i < ORPHANS; i += 2) {
		ck_assert(block_ok(orphan_blocks[i], 48));
		bitslab_free(orphan_blocks[i]);
	}
	before = os_mapped_bytes();
	pthread_create(&t, NULL, reuse_orphans, mine);
	pthread_join(t, NULL);
	/* The new thread's blocks land in the orphaned chunks' holes. */
	for (i = 0; i < ORPHANS / 2; i++) {
		uintptr_t a = (uintptr_t)mine[i];
		int k;

		for (k = 0; k < ORPHANS; k += 2)
			if ((uintptr_t)orphan_blocks[k] == a) {
				reused++;
				break;
			}
	}
	ck_assert_msg(reused > ORPHANS / 4, "only %ld of %d holes reused",
		      reused, ORPHANS / 2);
	ck_assert_uint_le(os_mapped_bytes(), before + 4 * CHUNK_SIZE);
	for (i = 1; i < ORPHANS; i += 2) {
		ck_assert(block_ok(orphan_blocks[i], 48));
		bitslab_free(orphan_blocks[i]);
	}
	for (i = 0; i < ORPHANS / 2; i++) {
		ck_assert(block_ok(mine[i], 48));
		bitslab_free(mine[i]);
	}
}
END_TEST

/* Thread churn: thousands of short threads must not grow the footprint. */
static void *short_life(void *arg)
{
	void **keep = arg, *p[64];
	int i;

	for (i = 0; i < 64; i++)
		p[i] = block_new(16 + 32 * (size_t)i);
	for (i = 1; i < 64; i++)
		bitslab_free(p[i]);
	*keep = p[0];	/* freed later by another thread */
	return NULL;
}

START_TEST(test_threads_churn_does_not_grow_memory)
{
	void *keep[8] = { 0 };
	size_t early = 0, late = 0;
	int round, i;

	int rounds = 400 / SLOW_SCALE, q = rounds / 8;

	for (round = 0; round < rounds; round++) {
		pthread_t t[8];
		size_t now;

		for (i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, short_life, &keep[i]);
		for (i = 0; i < 8; i++) {
			pthread_join(t[i], NULL);
			ck_assert(block_ok(keep[i], 16));
			bitslab_free(keep[i]);
		}
		/* Peaks, not samples: retired chunks wait for a grace period
		 * in batches, so the footprint breathes by a few MiB.  Chunks
		 * kept in the chunk cache (up to 16 MiB, for a second) are
		 * free memory, not footprint. */
		now = os_mapped_bytes() - chunk_cache_bytes();
		if (round >= q && round < 3 * q)
			early = max(early, now);
		if (round >= 6 * q)
			late = max(late, now);
	}
	/* 3200 threads: the late peak is no higher than the early one, give
	 * or take what waits for a grace period (1 MiB) and the heaps' kept
	 * empty chunks; a leak of one chunk per thread would add 200 MiB. */
	ck_assert_msg(late <= early + 4 * 1024 * 1024,
		      "mapped peak %zu late in the run, %zu early", late, early);
}
END_TEST

/*
 * Rounds of threads whose working sets add up to more than the chunk
 * cache's floor (opt_chunk_cache, 16 MiB): each round's threads exit with
 * all their chunks empty (never published, so no grace period delays
 * them), and the next round must find those chunks in the cache rather
 * than map new ones.  A cache bounded below the working set unmapped the
 * excess after every round and the next round mapped it anew.  Decay is
 * off for the test, so only the budget decides.
 */
enum { REUSE_THREADS = 4, REUSE_BLOCKS = 6000 };

static void *reuse_round(void *arg)
{
	void **v = malloc(REUSE_BLOCKS * sizeof(*v));
	uint64_t s = (uint64_t)(uintptr_t)arg;
	int i;

	if (!v)
		abort();
	/* 6000 blocks of 16 - 2000 bytes: about 6 MiB a thread. */
	for (i = 0; i < REUSE_BLOCKS; i++)
		v[i] = block_new(16 + prng_next(&s) % 1985);
	for (i = 0; i < REUSE_BLOCKS; i++) {
		if (!block_ok(v[i], *(size_t *)v[i]))
			abort();
		bitslab_free(v[i]);
	}
	free(v);
	return NULL;
}

START_TEST(test_threads_rounds_reuse_chunks)
{
	long warm = 0, later;
	int round, i, rounds = 12;

	opt_decay_ms = 3600000;
	for (round = 0; round < rounds; round++) {
		pthread_t t[REUSE_THREADS];

		for (i = 0; i < REUSE_THREADS; i++)
			pthread_create(&t[i], NULL, reuse_round,
				       (void *)(uintptr_t)(round * 16 + i + 1));
		for (i = 0; i < REUSE_THREADS; i++)
			pthread_join(t[i], NULL);
		if (round == 1)
			warm = chunk_cache_mapped();
	}
	later = chunk_cache_mapped() - warm;
	/*
	 * Ten rounds of about 24 MiB each (384 chunks).  What free storms
	 * published waits for a grace period, and a round that comes first
	 * maps ahead meanwhile (0 - 237 chunks in all, here, also beside
	 * other busy processes); a cache bounded at 16 MiB mapped 729 - 1393.
	 */
	ck_assert_msg(later < 480, "%ld chunks mapped anew in %d rounds after "
		      "the first two (%ld)", later, rounds - 2, warm);
}
END_TEST

/* A burst freed, then nothing: the chunks go back to the system within
 * decay_ms (here 100), from the helper thread, with no trim. */
static void *idle_burst(void *arg)
{
	enum { N = 40000 };
	void **v = malloc(N * sizeof(*v));
	int i;

	if (!v)
		abort();
	for (i = 0; i < N; i++)
		v[i] = block_new(16 + (size_t)(i % 13) * 40);
	for (i = 0; i < N; i++)
		if (!block_ok(v[(i * 7919) % N], 16 + (size_t)((i * 7919) % N % 13) * 40))
			abort();
	for (i = 0; i < N; i++)
		bitslab_free(v[(i * 7919) % N]);
	free(v);
	return NULL;
}

START_TEST(test_threads_idle_memory_decays)
{
	pthread_t t;
	size_t before = os_mapped_bytes(), peak, after;

	opt_decay_ms = 100;
	/* One burst in this thread (it starts the helper), one in a thread
	 * that stays until the end. */
	idle_burst(NULL);
	pthread_create(&t, NULL, idle_burst, NULL);
	pthread_join(t, NULL);
	peak = os_mapped_peak();	/* the arena's reservation too */
	usleep(600 * 1000);
	/*
	 * What is mapped and was used, against what was before the bursts:
	 * not the arena's reservation ahead, which is address space no chunk
	 * has touched, no memory (given back when the address space is
	 * short, os_vm_tight()).  Counted against a quarter of the peak, it
	 * failed two runs in five under ThreadSanitizer once refills claimed
	 * 2 KiB: the peak fell to 16 MiB, and the 5 MiB reserved ahead at the
	 * end were more than a quarter of it, with 80 KiB in use.  The heaps
	 * keep what bins hold (a block a class after a storm) and their
	 * chunks: 80 KiB here, of a 13 - 16 MiB peak.
	 */
	after = os_mapped_bytes();
	ck_assert_msg(chunk_cache_bytes() == 0,
		      "%zu bytes still cached after 600 ms", chunk_cache_bytes());
	ck_assert_msg(after < before + (1 << 20) && after < peak / 4,
		      "mapped %zu after 600 ms idle, %zu before the bursts "
		      "(and %zu reserved ahead), peak %zu", after, before,
		      os_reserved_bytes(), peak);
}
END_TEST

/* fork() while other threads allocate and free: the child can allocate,
 * free blocks from before the fork, and exit normally. */
static _Atomic int forking_done;

static void *busy(void *arg)
{
	void *p[32] = { 0 };
	uint64_t s = (uint64_t)(uintptr_t)arg;
	unsigned int i = 0;

	while (!READ_ONCE(forking_done)) {
		unsigned int k = (i++) % 32;

		bitslab_free(p[k]);
		p[k] = block_new(16 + prng_next(&s) % 2000);
	}
	for (i = 0; i < 32; i++)
		bitslab_free(p[i]);
	return NULL;
}

START_TEST(test_threads_fork_while_allocating)
{
	pthread_t t[3];
	void *before = block_new(100);
	int i, status;

	WRITE_ONCE(forking_done, 0);
	for (i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, busy, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < 50 / SLOW_SCALE; i++) {
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			void *p[1000];
			pthread_t ct;
			int k;

			for (k = 0; k < 1000; k++)
				p[k] = block_new(8 + (size_t)k * 7);
			for (k = 0; k < 1000; k++)
				bitslab_free(p[k]);
			if (!block_ok(before, 100))
				_exit(2);
			/* Threads in the child allocate too (not under a
			 * sanitizer's malloc; see unit.h). */
			if (SANITIZER_MALLOC) {
				bitslab_free(before);
				_exit(0);
			}
			WRITE_ONCE(forking_done, 0);
			if (pthread_create(&ct, NULL, busy, (void *)9))
				_exit(3);
			usleep(1000);
			WRITE_ONCE(forking_done, 1);
			pthread_join(ct, NULL);
			bitslab_free(before);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "child %d: status %#x", i, status);
	}
	WRITE_ONCE(forking_done, 1);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	bitslab_free(before);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("concurrent");

	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_threads_producer_consumer_remote_frees);
	tcase_add_test(tc, test_threads_cross_frees_keep_contents);
	tcase_add_test(tc, test_threads_exited_thread_chunks_are_adopted);
	tcase_add_test(tc, test_threads_churn_does_not_grow_memory);
	tcase_add_test(tc, test_threads_rounds_reuse_chunks);
	tcase_add_test(tc, test_threads_idle_memory_decays);
	tcase_add_test(tc, test_threads_fork_while_allocating);
	suite_add_tcase(s, tc);
	return s;
}
