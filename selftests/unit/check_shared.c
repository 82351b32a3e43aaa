// SPDX-License-Identifier: MIT
/*
 * check_shared.c - the chunk lifecycle across threads (core/chunk.h's
 * ownership protocol, core/shared.c, core/remote.c, core/reclaim.c):
 * chunks of exited threads are adopted and given back, a block freed while
 * its chunk had no owner reaches whoever owns it when the free arrives, and
 * a double free is caught wherever the block has been.  Misuse cases run
 * in a child that must die of SIGABRT with the one-line report.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bitslab.h>

#include "chunk.h"
#include "heap.h"
#include "misuse.h"
#include "os.h"
#include "unit.h"

/* Blocks of class 48 that fill most of one chunk (1352 fit in 64 KiB). */
#define FILL 1300

static void *blocks[FILL];

static void *fill_and_exit(void *arg)
{
	int i, n = (int)(intptr_t)arg;

	for (i = 0; i < n; i++) {
		blocks[i] = bitslab_malloc(48);
		memset(blocks[i], 0x48, 48);
	}
	return NULL;
}

/* A thread allocates @n blocks of class 48 and exits: their chunk is
 * shared (no owner) from then on. */
static void orphan_blocks(int n)
{
	pthread_t t;

	pthread_create(&t, NULL, fill_and_exit, (void *)(intptr_t)n);
	pthread_join(t, NULL);
}

/*
 * The lifecycle issue's third fault: blocks of a shared chunk go back to
 * its bitmap, the main thread adopts the chunk, then frees one of them
 * again.  Its bit is clear (or, if the adopter's refill claimed it, it sits
 * in the adopter's bin): either way a double free, never a block handed
 * out twice.
 */
static void double_free_after_adoption(void)
{
	void *p;
	int i;

	orphan_blocks(FILL);
	/* More than one refill claims, so that the last ones stay in the
	 * bitmap after the adopter's refill. */
	for (i = 0; i < 1000; i++)
		bitslab_free(blocks[i]);
	bitslab_trim();
	p = bitslab_malloc(48);		/* adopts the chunk */
	for (i = 999; i >= 0; i--)
		if (blocks[i] != p)
			break;
	bitslab_free(blocks[i]);
}

START_TEST(test_shared_double_free_after_adoption)
{
	expect_abort(double_free_after_adoption, "double free");
}
END_TEST

/* The last block of @p's chunk: blocks are handed out lowest first, so a
 * chunk with few taken has never handed that one out. */
static void *last_block_of(void *p)
{
	struct chunk *c = chunk_lookup((uintptr_t)p);

	return chunk_block(c, c->nblocks - 1u);
}

/* A block start of a live chunk that was never handed out. */
static void free_never_allocated(void)
{
	bitslab_free(last_block_of(bitslab_malloc(16)));
}

static void *free_arg(void *arg)
{
	bitslab_free(arg);
	return NULL;
}

/* The same, by a thread that does not own the chunk. */
static void free_never_allocated_remote(void)
{
	pthread_t t;

	pthread_create(&t, NULL, free_arg, last_block_of(bitslab_malloc(16)));
	pthread_join(t, NULL);
}

START_TEST(test_shared_free_of_block_never_allocated)
{
	expect_abort(free_never_allocated, "double free");
	expect_abort(free_never_allocated_remote, "double free");
}
END_TEST

/* Freed twice by a thread that does not own the chunk: the first free
 * waits in its outbox towards the orphanage. */
static void double_free_into_shared_chunk(void)
{
	orphan_blocks(10);
	bitslab_free(blocks[3]);
	bitslab_free(blocks[3]);
}

/* Freed once, given back through the class lock (the chunk died with
 * its last block and waits for its grace period), then freed again. */
static void double_free_into_dead_chunk(void)
{
	int i;

	orphan_blocks(10);
	for (i = 0; i < 10; i++)
		bitslab_free(blocks[i]);
	/* A refill sends the outbox out: the chunk dies. */
	bitslab_free(bitslab_malloc(48));
	bitslab_free(blocks[3]);
}

struct handoff {
	void *block;
	pthread_barrier_t *go;
};

static void *free_then_wait(void *arg)
{
	struct handoff *h = arg;

	bitslab_free(h->block);		/* waits in this thread's outbox */
	pthread_barrier_wait(h->go);	/* the owner frees it again */
	pthread_barrier_wait(h->go);
	bitslab_trim();			/* the outbox goes out */
	return NULL;
}

/* Freed by another thread (its outbox holds it), then by the owner, which
 * takes it back from its inbox later: the cookie there is not a remote
 * one. */
static void double_free_remote_then_owner(void)
{
	static pthread_barrier_t go;
	struct handoff h = { bitslab_malloc(64), &go };
	void *keep = bitslab_malloc(64);
	pthread_t t;
	int i;

	pthread_barrier_init(&go, NULL, 2);
	pthread_create(&t, NULL, free_then_wait, &h);
	pthread_barrier_wait(&go);
	bitslab_free(h.block);
	pthread_barrier_wait(&go);
	pthread_join(t, NULL);
	/* Refills take the inbox. */
	for (i = 0; i < 100000; i++)
		bitslab_free(bitslab_malloc(64));
	bitslab_trim();
	bitslab_free(keep);
}

START_TEST(test_shared_double_free_wherever_the_block_is)
{
	expect_abort(double_free_into_shared_chunk, "double free");
	expect_abort(double_free_into_dead_chunk, "double free");
	expect_abort(double_free_remote_then_owner, "double free");
}
END_TEST

/*
 * The lifecycle issue's fourth fault: frees decided while the chunk had no
 * owner wait in the main thread's outbox; another thread adopts the chunk;
 * the late frees must reach the adopter, which gives the chunk back once
 * it is empty.  After every thread has trimmed, no chunk is left.
 */
static pthread_barrier_t adopt_go;
static void *adopted;

static void *adopt_and_wait(void *arg)
{
	static void *mine[FILL];
	int i;

	/* Adopt the shared chunk, fill it and go on to another one, so that
	 * it is no longer the current chunk of the class; then give every
	 * block of its own back. */
	for (i = 0; i < FILL; i++)
		mine[i] = bitslab_malloc(48);
	adopted = mine[0];
	for (i = 0; i < FILL; i++)
		bitslab_free(mine[i]);
	for (i = 40; i < 200; i++)	/* the rest of the exited thread's */
		bitslab_free(blocks[i]);
	bitslab_trim();		/* all back but those in main's outbox */
	pthread_barrier_wait(&adopt_go);	/* main sends its late frees */
	pthread_barrier_wait(&adopt_go);
	bitslab_trim();				/* takes them from the inbox */
	pthread_barrier_wait(&adopt_go);	/* main counts, then we exit */
	pthread_barrier_wait(&adopt_go);
	return NULL;
}

START_TEST(test_shared_late_release_after_adoption_gives_chunk_back)
{
	long before;
	pthread_t t;
	int i;

	bitslab_trim();
	before = chunk_live_count();
	orphan_blocks(200);
	for (i = 0; i < 40; i++)	/* below OUTBOX_MAX: not sent yet */
		bitslab_free(blocks[i]);
	pthread_barrier_init(&adopt_go, NULL, 2);
	pthread_create(&t, NULL, adopt_and_wait, NULL);
	pthread_barrier_wait(&adopt_go);
	ck_assert_ptr_eq((void *)((uintptr_t)adopted & ~CHUNK_MASK),
			 (void *)((uintptr_t)blocks[0] & ~CHUNK_MASK));
	bitslab_trim();		/* the late frees go out now */
	pthread_barrier_wait(&adopt_go);
	pthread_barrier_wait(&adopt_go);
	/* Every thread has trimmed, and the adopter is still alive. */
	bitslab_trim();
	ck_assert_int_eq(chunk_live_count(), before);
	pthread_barrier_wait(&adopt_go);
	pthread_join(t, NULL);
}
END_TEST

/*
 * Churn: producers allocate and exit (their chunks become shared) while
 * consumers free their blocks (releases into shared chunks, racing with
 * adoption by the next producers).  Contents survive, no block is handed
 * out twice, and once everything is freed and every thread has trimmed,
 * no chunk is left.
 */
#define CHURN_ROUNDS	(24 / SLOW_SCALE)
#define CHURN_BLOCKS	3000
#define CHURN_PRODUCERS	3

static _Atomic(unsigned char *) churn_slot[CHURN_PRODUCERS][CHURN_BLOCKS];

static size_t churn_size(unsigned int i)
{
	return 16 + (i * 37) % 700;
}

static _Atomic long churn_bad;	/* blocks whose contents changed */

/* Check block @p of slot @j, @i and free it. */
static void churn_free(unsigned int j, unsigned int i, unsigned char *p)
{
	size_t n = churn_size(i), b;

	for (b = 0; b < n; b++)
		if (p[b] != ((j * 131 + i) & 0xff)) {
			atomic_fetch_add(&churn_bad, 1);
			break;
		}
	bitslab_free(p);
}

static void *churn_producer(void *arg)
{
	unsigned int k = (unsigned int)(uintptr_t)arg, i;

	for (i = 0; i < CHURN_BLOCKS; i++) {
		size_t n = churn_size(i);
		unsigned char *p = bitslab_malloc(n);

		if (!p)
			abort();
		memset(p, (int)((k * 131 + i) & 0xff), n);
		/* A block of the last round still there: this thread frees it
		 * (into a chunk of an exited thread). */
		p = atomic_exchange(&churn_slot[k][i], p);
		if (p)
			churn_free(k, i, p);
	}
	return NULL;
}

static _Atomic int churn_done;

static void *churn_consumer(void *arg)
{
	unsigned int i, j;

	for (;;) {
		/* Read before the sweep: a sweep that found nothing ends the
		 * loop only if the producers were done before it began. */
		int done = atomic_load(&churn_done), freed = 0;

		for (j = 0; j < CHURN_PRODUCERS; j++)
			for (i = 0; i < CHURN_BLOCKS; i++) {
				unsigned char *p =
					atomic_exchange(&churn_slot[j][i], NULL);

				if (!p)
					continue;
				churn_free(j, i, p);
				freed++;
			}
		if (done && !freed)
			break;
	}
	if (arg)
		bitslab_trim();
	return NULL;
}

START_TEST(test_shared_churn_gives_every_chunk_back)
{
	pthread_t prod[CHURN_PRODUCERS], cons[2];
	unsigned int r, k;
	long before;

	bitslab_trim();
	before = chunk_live_count();
	atomic_store(&churn_done, 0);
	/* One consumer trims before it exits, the other just exits. */
	for (k = 0; k < 2; k++)
		pthread_create(&cons[k], NULL, churn_consumer,
			       (void *)(uintptr_t)k);
	for (r = 0; r < CHURN_ROUNDS; r++) {
		for (k = 0; k < CHURN_PRODUCERS; k++)
			pthread_create(&prod[k], NULL, churn_producer,
				       (void *)(uintptr_t)k);
		for (k = 0; k < CHURN_PRODUCERS; k++)
			pthread_join(prod[k], NULL);
	}
	atomic_store(&churn_done, 1);
	for (k = 0; k < 2; k++)
		pthread_join(cons[k], NULL);
	bitslab_trim();
	ck_assert_int_eq(atomic_load(&churn_bad), 0);
	ck_assert_int_eq(chunk_live_count(), before);
}
END_TEST

/*
 * fork() while a thread holds blocks: in the child that thread is gone, its
 * heap dead; once its blocks come back, its chunk is shared and the child
 * reuses it instead of mapping new memory.
 */
static pthread_barrier_t fork_hold;

static void *hold_blocks(void *arg)
{
	int i;

	for (i = 0; i < 1000; i++) {
		blocks[i] = bitslab_malloc(48);
		memset(blocks[i], 0x48, 48);
	}
	pthread_barrier_wait(&fork_hold);	/* main forks */
	pthread_barrier_wait(&fork_hold);
	return NULL;
}

/* Is @p in a chunk that one of blocks[500..999] is in? */
static bool held_by_dead(void *p)
{
	uintptr_t c = (uintptr_t)p & ~CHUNK_MASK;
	int i;

	for (i = 500; i < 1000; i++)
		if (((uintptr_t)blocks[i] & ~CHUNK_MASK) == c)
			return true;
	return false;
}

START_TEST(test_shared_fork_child_reuses_dead_threads_chunks)
{
	pthread_t t;
	long before;
	int status;
	pid_t pid;

	bitslab_trim();
	before = chunk_live_count();
	pthread_barrier_init(&fork_hold, NULL, 2);
	pthread_create(&t, NULL, hold_blocks, NULL);
	pthread_barrier_wait(&fork_hold);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static void *mine[500];
		int i, reused = 0;

		for (i = 0; i < 500; i++)
			bitslab_free(blocks[i]);
		bitslab_trim();
		/* The chunks that still hold blocks of the dead thread's
		 * (the first ones may have emptied: short chunks at the
		 * start hold fewer than 500). */
		for (i = 0; i < 500; i++) {
			mine[i] = bitslab_malloc(48);
			if (held_by_dead(mine[i]))
				reused++;
		}
		if (!reused)
			_exit(1);
		for (i = 0; i < 500; i++)
			bitslab_free(mine[i]);
		for (i = 500; i < 1000; i++)
			bitslab_free(blocks[i]);
		bitslab_trim();
		/* Even the blocks the dead thread had in its bins are back. */
		_exit(chunk_live_count() == before ? 0 : 2);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child: status %#x (exit 1: the dead thread's chunk was "
		      "not reused; 2: chunks were left)", status);
	pthread_barrier_wait(&fork_hold);
	pthread_join(t, NULL);
}
END_TEST

/*
 * A thread that stops allocating but still frees (a producer between
 * bursts) takes back what its consumers freed within a bounded number of
 * its own frees, instead of holding those blocks, and their chunks, until
 * its next allocation.
 */
#define HANDED 1000

static void *hand[2 * HANDED];

static void *free_handed(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < HANDED; i++)
		bitslab_free(hand[i]);
	return NULL;	/* the exit pushes the outbox to the owner */
}

START_TEST(test_shared_owner_that_only_frees_takes_its_inbox)
{
	struct heap *h;
	pthread_t t;
	int i;

	for (i = 0; i < 2 * HANDED; i++)
		hand[i] = bitslab_malloc(64);
	h = bitslab_tls_heap;
	ck_assert_int_eq(pthread_create(&t, NULL, free_handed, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(!llist_empty(&h->inbox), "the consumer's frees did not "
		      "reach the owner's inbox");
	/* Frees only: at most a few bin capacities of them. */
	for (i = HANDED; i < 2 * HANDED; i++)
		bitslab_free(hand[i]);
	ck_assert_msg(llist_empty(&h->inbox), "after %d frees and no "
		      "allocation the owner still holds its remote frees", HANDED);
	ck_assert_uint_ge(h->stats.remote_taken, HANDED);
}
END_TEST

/*
 * The scenarios here place a thread's blocks in one chunk: past the short
 * chunks of a program's start (core/chunk.c), which hold fewer.  Blocks
 * of a class no test uses keep the live chunks above CHUNK_SHORT_UNTIL.
 */
static void past_short_chunks(void)
{
	while (chunk_live_bytes() < CHUNK_SHORT_UNTIL)
		ck_assert_ptr_nonnull(bitslab_malloc(3000));
}

Suite *check_suite(void)
{
	Suite *s = suite_create("shared");
	TCase *tc = tcase_create("lifecycle");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, past_short_chunks, NULL);
	tcase_add_checked_test(tc, test_shared_double_free_after_adoption);
	tcase_add_checked_test(tc, test_shared_free_of_block_never_allocated);
	tcase_add_checked_test(tc, test_shared_double_free_wherever_the_block_is);
	tcase_add_test(tc, test_shared_late_release_after_adoption_gives_chunk_back);
	tcase_add_test(tc, test_shared_churn_gives_every_chunk_back);
	tcase_add_test(tc, test_shared_fork_child_reuses_dead_threads_chunks);
	tcase_add_test(tc, test_shared_owner_that_only_frees_takes_its_inbox);
	suite_add_tcase(s, tc);
	return s;
}
