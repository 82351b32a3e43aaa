// SPDX-License-Identifier: MIT
/*
 * check_host.c - bitslab beside a host program that uses liburcu-bp itself
 * (bp's state is process-wide: the host's read-side sections and fork hooks
 * are the same ones bitslab uses).  Built twice: check_host runs under
 * LD_PRELOAD=libbitslab.so and allocates with malloc/free; check_host_embed
 * links libbitslab.a and uses the prefixed API (see check_host_embed.c).
 *
 *  - A host thread in its own read-side section waits for a mutex that a
 *    thread freeing memory holds: the free must not wait for a grace
 *    period, or neither ever finishes.
 *  - A host that registers bp's fork hooks itself, as urcu-bp.h advises,
 *    forks while threads allocate and read: bp's hooks must run once.
 *  - A host that does not, forks while its threads sit in read-side
 *    sections: the child's grace periods must not wait for them.
 *
 * A hang is a failure: the test case's timeout ends it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urcu-bp.h>

#include "unit.h"

#ifdef HOST_EMBED
#include <bitslab.h>
#define host_malloc(n)	bitslab_malloc(n)
#define host_free(p)	bitslab_free(p)
#define host_trim()	bitslab_trim()
#define HOST_SUITE	"host_embed"
#else
#include <malloc.h>
#define host_malloc(n)	malloc(n)
#define host_free(p)	free(p)
#define host_trim()	malloc_trim(0)
#define HOST_SUITE	"host"
#endif

START_TEST(test_host_bitslab_is_there)
{
#ifndef HOST_EMBED
	/* Under another allocator these tests prove nothing: fail. */
	ck_assert_msg(dlsym(RTLD_DEFAULT, "bitslab_version") != NULL,
		      "libbitslab.so is not preloaded");
#else
	ck_assert_ptr_nonnull(bitslab_version());
#endif
}
END_TEST

/*
 * Blocks of a thread that exited: their chunks are shared, so freeing them
 * all retires chunks that walkers may have seen, which need a grace period
 * before reuse.  Enough of them for several reclaim batches.
 */
#define DEAD_BLOCKS (64 * 1300)
static void *dead_blocks[DEAD_BLOCKS];

static void *fill_and_exit(void *arg)
{
	int i;

	for (i = 0; i < DEAD_BLOCKS; i++) {
		dead_blocks[i] = host_malloc(48);
		ck_assert_ptr_nonnull(dead_blocks[i]);
		memset(dead_blocks[i], 7, 48);
	}
	return NULL;
}

static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t reader_in;

static void *reader(void *arg)
{
	rcu_read_lock();
	pthread_barrier_wait(&reader_in);
	/* In the host's own read-side section, wait for the freeing thread. */
	pthread_mutex_lock(&host_lock);
	pthread_mutex_unlock(&host_lock);
	rcu_read_unlock();
	return NULL;
}

START_TEST(test_host_reader_waiting_for_a_freeing_thread)
{
	pthread_t t, r;
	int i;

	pthread_create(&t, NULL, fill_and_exit, NULL);
	pthread_join(t, NULL);
	pthread_barrier_init(&reader_in, NULL, 2);
	pthread_mutex_lock(&host_lock);
	pthread_create(&r, NULL, reader, NULL);
	pthread_barrier_wait(&reader_in);
	/* The reader is inside its section and about to block on host_lock. */
	for (i = 0; i < DEAD_BLOCKS; i++)
		host_free(dead_blocks[i]);
	for (i = 0; i < 1000; i++)	/* refills take what the frees sent */
		host_free(host_malloc(48 + (size_t)i % 200));
	pthread_mutex_unlock(&host_lock);
	pthread_join(r, NULL);
	host_trim();
}
END_TEST

static _Atomic int fork_done;

/* Allocate, free and read under RCU until told to stop. */
static void *busy_reader(void *arg)
{
	void *p[16] = { 0 };
	uint64_t s = (uint64_t)(uintptr_t)arg;
	unsigned int i = 0;

	while (!atomic_load(&fork_done)) {
		unsigned int k = (i++) % 16;

		rcu_read_lock();
		host_free(p[k]);
		p[k] = host_malloc(16 + prng_next(&s) % 3000);
		rcu_read_unlock();
	}
	for (i = 0; i < 16; i++)
		host_free(p[i]);
	return NULL;
}

/* Threads exit in the parent while it forks: their chunks become shared. */
static void *short_lived(void *arg)
{
	void *p = host_malloc(100);

	host_free(p);
	return NULL;
}

/* The child allocates, starts a thread that reads and waits for a grace
 * period, and exits 0; any hang ends the test by its timeout. */
static void fork_child_work(void)
{
	void *p[500];
	pthread_t t;
	int k;

	for (k = 0; k < 500; k++)
		p[k] = host_malloc(8 + (size_t)k * 13);
	for (k = 0; k < 500; k++)
		host_free(p[k]);
	/* Sanitizer runtimes cannot start threads in a child forked from a
	 * threaded process (unit.h): there the child waits for a grace
	 * period on its own. */
	if (!SANITIZER_MALLOC) {
		atomic_store(&fork_done, 0);
		if (pthread_create(&t, NULL, busy_reader, (void *)5))
			_exit(3);
	}
	synchronize_rcu();
	if (!SANITIZER_MALLOC) {
		atomic_store(&fork_done, 1);
		pthread_join(t, NULL);
	}
	host_trim();
	_exit(0);
}

static void fork_many(int n)
{
	pthread_t t[2];
	int i, status;

	atomic_store(&fork_done, 0);
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, busy_reader,
			       (void *)(uintptr_t)(i + 1));
	for (i = 0; i < n; i++) {
		pthread_t e;
		pid_t pid;

		pthread_create(&e, NULL, short_lived, NULL);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			fork_child_work();
		pthread_join(e, NULL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "child %d: status %#x", i, status);
	}
	atomic_store(&fork_done, 1);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

START_TEST(test_host_fork_with_bp_hooks_of_its_own)
{
	/* As urcu-bp.h advises a program that forks. */
	ck_assert_int_eq(pthread_atfork(urcu_bp_before_fork,
					urcu_bp_after_fork_parent,
					urcu_bp_after_fork_child), 0);
	fork_many(30);
}
END_TEST

START_TEST(test_host_fork_without_bp_hooks)
{
	fork_many(30);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create(HOST_SUITE);
	TCase *tc = tcase_create("liburcu");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_host_bitslab_is_there);
	tcase_add_test(tc, test_host_reader_waiting_for_a_freeing_thread);
	tcase_add_test(tc, test_host_fork_with_bp_hooks_of_its_own);
	tcase_add_test(tc, test_host_fork_without_bp_hooks);
	suite_add_tcase(s, tc);
	return s;
}
