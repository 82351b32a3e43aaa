// SPDX-License-Identifier: MIT
/*
 * check_idle.c - the inbox of an owner that went idle is drained on its
 * behalf (core/idle.c, the heap lock of core/heap.h), and the interleavings
 * the protocol names: the owner waking up while the drainer holds its
 * lock, the owner exiting then, and fork() during a drain.
 *
 * Each test has an owner thread allocate blocks and hand them to the main
 * thread, which frees them all (so they wait in the owner's inbox), while
 * the owner sleeps on a condition.  A scanner thread then looks at the
 * inboxes twice (idle_scan(): the first look notes the owner's slow paths,
 * the second drains), unless the reclaim helper gets there first; either
 * way idle_batch_hook runs between two batches of the drain, in a thread
 * that is not the owner's, and stages the interleaving.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bitslab.h>

#include "chunk.h"
#include "heap.h"
#include "idle.h"
#include "os.h"
#include "unit.h"

#define NBLOCKS 60000	/* many chunks, and many drain batches */

#define BLK_CLASSES 23

static size_t blk_size(unsigned int i)
{
	return 16 + (size_t)(i % BLK_CLASSES) * 24;
}

static void *blk_new(size_t n)
{
	unsigned char *p = bitslab_malloc(n);

	if (!p)
		abort();
	memset(p, (int)(n & 0xff), n);
	return p;
}

static int blk_ok(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(n & 0xff))
			return 0;
	return 1;
}

enum owner_next { OWNER_SLEEP, OWNER_WAKE, OWNER_EXIT };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void *blocks[NBLOCKS];
	struct heap *owner_heap;
	int made;		/* owner: blocks handed over */
	int next;		/* enum owner_next */
	long bad;		/* owner's checks that failed */
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static _Atomic int hook_state;	/* 0 idle, 1 in the hook, 2 hook done */
static _Atomic int hook_calls;
static _Atomic int hook_saw_wait;
static _Atomic int hook_mode;	/* enum owner_next, or 3: fork */

static void wait_for(_Atomic int *v, int want)
{
	int i;

	for (i = 0; i < 5000 && atomic_load(v) != want; i++)
		usleep(1000);
}

/* The owner: allocate, hand over, sleep; then wake (more work) or exit. */
static void *owner_main(void *arg)
{
	void *mine[300];
	int i, next;

	(void)arg;
	/* Not under S.lock: the hook takes it inside a drain. */
	for (i = 0; i < NBLOCKS; i++)
		S.blocks[i] = blk_new(blk_size((unsigned int)i));
	pthread_mutex_lock(&S.lock);
	S.owner_heap = bitslab_tls_heap;	/* made by the first malloc */
	S.made = 1;
	pthread_cond_broadcast(&S.cond);
	while (S.next == OWNER_SLEEP)
		pthread_cond_wait(&S.cond, &S.lock);
	next = S.next;
	pthread_mutex_unlock(&S.lock);
	if (next == OWNER_EXIT)
		return NULL;	/* heap_exit() waits for the drainer */
	/* Wake: enough allocations of one class to need a refill, which
	 * waits for the drainer's lock; then they must all be sound. */
	for (i = 0; i < 300; i++)
		mine[i] = blk_new(48);
	for (i = 0; i < 300; i++) {
		if (!blk_ok(mine[i], 48))
			S.bad++;
		bitslab_free(mine[i]);
	}
	return NULL;
}

/* Owner made its blocks; the main thread frees them all (remote frees). */
static pthread_t owner_start_and_feed(void)
{
	pthread_t t;
	int i;

	S.made = 0;
	S.next = OWNER_SLEEP;
	S.bad = 0;
	pthread_create(&t, NULL, owner_main, NULL);
	pthread_mutex_lock(&S.lock);
	while (!S.made)
		pthread_cond_wait(&S.cond, &S.lock);
	pthread_mutex_unlock(&S.lock);
	for (i = 0; i < NBLOCKS; i++) {
		ck_assert(blk_ok(S.blocks[i], blk_size((unsigned int)i)));
		bitslab_free(S.blocks[i]);
	}
	/* Blocks still in this thread's outbox go out with a refill. */
	bitslab_free(bitslab_malloc(20000));
	return t;
}

static void owner_tell(int next)
{
	pthread_mutex_lock(&S.lock);
	S.next = next;
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.lock);
}

/* The drainer, between two batches of the owner's inbox. */
static void hook(struct heap *h)
{
	int i;

	if (h != S.owner_heap || atomic_fetch_add(&hook_calls, 1))
		return;		/* stage it once */
	atomic_store(&hook_state, 1);
	switch (atomic_load(&hook_mode)) {
	case OWNER_WAKE:
	case OWNER_EXIT:
		/* The owner now enters a slow path (a refill, its exit) and
		 * must find the lock held and wait for it. */
		owner_tell(atomic_load(&hook_mode));
		for (i = 0; i < 5000 && !heap_lock_waited(h); i++)
			usleep(1000);
		atomic_store(&hook_saw_wait, heap_lock_waited(h));
		break;
	default:
		/* fork() is called now, and must wait for this drain. */
		usleep(100 * 1000);
		break;
	}
	atomic_store(&hook_state, 2);
}

static void *scanner(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 200 && !atomic_load(&hook_calls); i++) {
		idle_scan();
		usleep(1000);
	}
	return NULL;
}

static void stage(int mode)
{
	atomic_store(&hook_state, 0);
	atomic_store(&hook_calls, 0);
	atomic_store(&hook_saw_wait, 0);
	atomic_store(&hook_mode, mode);
	idle_batch_hook = hook;
}

/* An idle owner's inbox is drained and its emptied chunks given up. */
START_TEST(test_idle_owner_inbox_drained)
{
	long live_before = chunk_live_count(), fed;
	struct idle_stats st0, st1;
	pthread_t t, sc;
	int i;

	idle_get_stats(&st0);
	t = owner_start_and_feed();
	fed = chunk_live_count();
	ck_assert_int_eq(S.owner_heap->kind, HEAP_KIND_THREAD);
	/* Two looks: the owner sleeps between them. */
	pthread_create(&sc, NULL, scanner, NULL);
	for (i = 0; i < 2000 && !llist_empty(&S.owner_heap->inbox); i++)
		usleep(1000);
	pthread_join(sc, NULL);
	idle_get_stats(&st1);
	ck_assert_msg(llist_empty(&S.owner_heap->inbox),
		      "the sleeping owner's inbox was not drained");
	ck_assert_msg(st1.drains > st0.drains, "no drain counted");
	/* The pages of the chunks that stay (the bins' blocks) are purged,
	 * and the heap says there is nothing left to purge. */
	for (i = 0; i < 2000 && READ_ONCE(S.owner_heap->idle_dirty); i++)
		usleep(1000);
	idle_get_stats(&st1);
	ck_assert_msg(st1.purges > st0.purges, "no page purged");
	ck_assert_msg(!READ_ONCE(S.owner_heap->idle_dirty),
		      "free pages left unpurged in an idle heap");
	/* What stays: the chunks of the blocks the owner holds in its
	 * bins, one or two for each of the BLK_CLASSES classes it used. */
	ck_assert_msg(chunk_live_count() - live_before <= 2 * BLK_CLASSES &&
		      chunk_live_count() - live_before < (fed - live_before) / 2,
		      "%ld chunks live after the drain, %ld fed, %ld before",
		      chunk_live_count(), fed, live_before);
	owner_tell(OWNER_WAKE);
	pthread_join(t, NULL);
	ck_assert_int_eq(S.bad, 0);
	idle_batch_hook = NULL;
}
END_TEST

/* The owner wakes and takes a slow path while the drainer holds its lock:
 * it waits, the drainer lets go after its batch, the rest of the inbox
 * goes back on it, and the owner's blocks are sound. */
START_TEST(test_idle_owner_wakes_during_drain)
{
	pthread_t t, sc;

	stage(OWNER_WAKE);
	t = owner_start_and_feed();
	pthread_create(&sc, NULL, scanner, NULL);
	pthread_join(t, NULL);	/* woken by the hook */
	pthread_join(sc, NULL);
	idle_batch_hook = NULL;
	ck_assert_msg(atomic_load(&hook_calls) > 0, "no drain ran");
	ck_assert_msg(atomic_load(&hook_saw_wait),
		      "the owner never waited for the drainer's lock");
	ck_assert_int_eq(S.bad, 0);
	ck_assert_msg(READ_ONCE(S.owner_heap->slow) == SLOW_FREE,
		      "the heap lock is still held");
}
END_TEST

/* The owner exits while the drainer holds its lock: heap_exit() waits,
 * then takes what is left and gives everything back. */
START_TEST(test_idle_owner_exits_during_drain)
{
	long live_before = chunk_live_count();
	pthread_t t, sc;
	void *p;

	stage(OWNER_EXIT);
	t = owner_start_and_feed();
	pthread_create(&sc, NULL, scanner, NULL);
	pthread_join(t, NULL);
	pthread_join(sc, NULL);
	idle_batch_hook = NULL;
	ck_assert_msg(atomic_load(&hook_calls) > 0, "no drain ran");
	ck_assert_msg(atomic_load(&hook_saw_wait),
		      "the exiting owner never waited for the drainer's lock");
	ck_assert_msg(READ_ONCE(S.owner_heap->state) != HEAP_LIVE,
		      "the exited owner's heap is still live");
	ck_assert_msg(llist_empty(&S.owner_heap->inbox),
		      "blocks left in an exited heap's inbox");
	/* Its chunks were given up: no more live than before, but for
	 * this thread's own (a new block of each size, at most). */
	ck_assert_msg(chunk_live_count() <= live_before + 24,
		      "%ld chunks live, %ld before", chunk_live_count(),
		      live_before);
	p = blk_new(48);
	ck_assert(blk_ok(p, 48));
	bitslab_free(p);
}
END_TEST

/* fork() while a drain is in progress waits for it: the child never sees
 * half-updated books, and can allocate and free. */
START_TEST(test_idle_fork_during_drain)
{
	pthread_t t, sc;
	int status, i;
	pid_t pid;

	stage(3);
	t = owner_start_and_feed();
	pthread_create(&sc, NULL, scanner, NULL);
	wait_for(&hook_state, 1);
	ck_assert_msg(atomic_load(&hook_state) >= 1, "no drain ran");
	pid = fork();
	if (pid == 0) {
		/* The drain ended before fork() went on. */
		int ok = atomic_load(&hook_state) == 2;
		void *v[100];

		for (i = 0; i < 100; i++)
			v[i] = blk_new(blk_size((unsigned int)i));
		for (i = 0; i < 100; i++) {
			ok &= blk_ok(v[i], blk_size((unsigned int)i));
			bitslab_free(v[i]);
		}
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child saw the drain unfinished, or failed (status %d)",
		      status);
	pthread_join(sc, NULL);
	idle_batch_hook = NULL;
	owner_tell(OWNER_WAKE);
	pthread_join(t, NULL);
	ck_assert_int_eq(S.bad, 0);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("idle");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_idle_owner_inbox_drained);
	tcase_add_test(tc, test_idle_owner_wakes_during_drain);
	tcase_add_test(tc, test_idle_owner_exits_during_drain);
	tcase_add_test(tc, test_idle_fork_during_drain);
	suite_add_tcase(s, tc);
	return s;
}
