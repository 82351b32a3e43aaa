// SPDX-License-Identifier: MIT
/*
 * check_lifecycle.c - run under LD_PRELOAD=libbitslab.so: the chunk
 * lifecycle's misuse cases through the standard names (the prefixed-API
 * suite is selftests/unit/check_shared.c).  A block freed into a chunk of an
 * exited thread, back in its bitmap, adopted by another thread since, and
 * freed again is a double free; so is the free of a block never handed
 * out.  Each runs in a child that must abort with the one-line report.
 *
 * And the end of a process: glibc ends one when its last thread ends,
 * returned from main() or not, so the allocator's helper thread must not
 * keep it alive.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "misuse.h"
#include "unit.h"

#define FILL 1300

static void *blocks[FILL];

static void *fill_and_exit(void *arg)
{
	int i;

	for (i = 0; i < FILL; i++) {
		blocks[i] = malloc(48);
		memset(blocks[i], 0x48, 48);
	}
	return NULL;
}

static void double_free_after_adoption(void)
{
	pthread_t t;
	void *p;
	int i;

	pthread_create(&t, NULL, fill_and_exit, NULL);
	pthread_join(t, NULL);
	for (i = 0; i < 1000; i++)
		free(blocks[i]);
	malloc_trim(0);
	p = malloc(48);		/* adopts the exited thread's chunk */
	for (i = 999; i >= 0; i--)
		if (blocks[i] != p)
			break;
	free(blocks[i]);
}

/*
 * A block start of a live chunk that was never handed out: the last
 * 16-byte block in the 8 KiB that @p starts in (a chunk is at least that
 * long and starts at a 64 KiB boundary; block starts of class 16 are the
 * multiples of 16 after its header; blocks are handed out lowest first).
 */
static void free_never_allocated(void)
{
	uintptr_t p = (uintptr_t)malloc(16);

	free((void *)((p | (8192 - 1)) + 1 - 16));
}

/* Blocks allocated by one thread and freed by another, then 20 MiB
 * allocated and freed: what starts the reclaim helper. */
static void *free_them(void *arg)
{
	int i;

	for (i = 0; i < FILL; i++)
		free(blocks[i]);
	return NULL;
}

static void cross_frees(void)
{
	static void *many[20000];
	pthread_t t;
	int i;

	for (i = 0; i < FILL; i++)
		blocks[i] = malloc(16 + i % 2000);
	pthread_create(&t, NULL, free_them, NULL);
	pthread_join(t, NULL);
	/* Chunks emptied and given up: they are cached for the helper to
	 * decay, which starts it where remote frees did not. */
	for (i = 0; i < 20000; i++)
		many[i] = malloc(1024);
	for (i = 0; i < 20000; i++)
		free(many[i]);
}

/* Run @fn in a child, which must exit with status 0 within 10 s. */
static void expect_exit_0(void (*fn)(void))
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int status = 0, i;
	pid_t pid, got = 0;

	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fn();
		_exit(3);	/* fn() ends the process otherwise */
	}
	for (i = 0; i < 1000 && got == 0; i++) {
		got = waitpid(pid, &status, WNOHANG);
		if (got == 0)
			nanosleep(&tick, NULL);
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("the process did not end within 10 s");
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "status %#x", status);
}

/* The main thread ends with pthread_exit() after remote frees; the
 * thread it started last ends too: so does the process. */
static void main_pthread_exit(void)
{
	cross_frees();
	pthread_exit(NULL);
}

/* As a Python child forked from a thread: the forking thread is the
 * child's only one, and it ends with pthread_exit() after remote frees. */
static void *fork_and_exit(void *arg)
{
	pid_t pid;
	int status;

	(void)arg;
	pid = fork();
	if (pid == 0) {
		cross_frees();
		pthread_exit(NULL);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		_exit(4);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 5);
}

static void fork_from_thread_pthread_exit(void)
{
	pthread_t t;

	cross_frees();
	pthread_create(&t, NULL, fork_and_exit, NULL);
	pthread_join(t, NULL);
}

/*
 * The helper ends with the last thread heap, and the next thread to get
 * one starts a new helper: the main thread ends with pthread_exit() while
 * a thread that has not allocated waits; that thread then allocates,
 * frees across threads, and finds the helper running again (in the
 * statistics malloc_stats() writes to its stderr, a pipe here).
 */
static int stats_pipe[2];

static void *late_allocator(void *arg)
{
	struct timespec wait = { 0, 300 * 1000 * 1000 };
	char buf[8192];
	ssize_t n, got = 0;

	(void)arg;
	nanosleep(&wait, NULL);		/* the main thread's heap is gone */
	cross_frees();
	dup2(stats_pipe[1], 2);
	malloc_stats();
	close(2);
	close(stats_pipe[1]);
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(stats_pipe[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	buf[got] = '\0';
	_exit(strstr(buf, "(reclaim thread running)") ? 0 : 6);
}

static void helper_restarts(void)
{
	pthread_t t;

	if (pipe(stats_pipe))
		_exit(7);
	cross_frees();
	pthread_create(&t, NULL, late_allocator, NULL);
	pthread_exit(NULL);
}

/*
 * glibc's exit(0) runs on whichever thread ends last, with that thread's
 * stack and signal mask: it must be one of the program's, never the
 * helper (a small stack, every signal blocked).  The main thread ends with
 * pthread_exit() and a thread that started the helper again ends after
 * it, so that the helper ends after the last heap is gone; the exit
 * handler then needs 512 KiB of stack and SIGUSR1 unblocked, as the
 * program left it.
 */
static void __attribute__((noinline)) deep_stack(void)
{
	volatile char big[512 << 10];

	big[0] = 1;
	big[sizeof(big) - 1] = 1;
	(void)big[0];
}

static void exit_on_a_program_thread(void)
{
	sigset_t mask;

	if (pthread_sigmask(SIG_BLOCK, NULL, &mask) ||
	    sigismember(&mask, SIGUSR1))
		_exit(9);
	deep_stack();
}

static void *last_allocator(void *arg)
{
	struct timespec wait = { 0, 50 * 1000 * 1000 };

	(void)arg;
	nanosleep(&wait, NULL);		/* after the main thread's end */
	cross_frees();			/* the helper runs again */
	return NULL;
}

static void exit_after_pthread_exit(void)
{
	pthread_t t;

	atexit(exit_on_a_program_thread);
	cross_frees();
	pthread_create(&t, NULL, last_allocator, NULL);
	pthread_exit(NULL);
}

/* "idle owners drained N" in what malloc_stats() writes, through a pipe. */
static long idle_drained(void)
{
	static char buf[16384];
	const char *key = "idle owners drained", *p;
	ssize_t n, got = 0;
	int fd[2], saved;

	if (pipe(fd))
		return -1;
	fflush(stderr);
	saved = dup(2);
	dup2(fd[1], 2);
	malloc_stats();
	dup2(saved, 2);
	close(saved);
	close(fd[1]);
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	close(fd[0]);
	buf[got] = '\0';
	p = strstr(buf, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/*
 * An owner whose blocks another thread frees, then idles until released:
 * the reclaim helper drains its inbox for it (core/idle.c).
 */
static pthread_barrier_t owner_ready, owner_done;

static void *idle_owner(void *arg)
{
	pthread_t t;
	int i;

	(void)arg;
	for (i = 0; i < FILL; i++)
		blocks[i] = malloc(16 + i % 2000);
	pthread_create(&t, NULL, free_them, NULL);
	pthread_join(t, NULL);
	pthread_barrier_wait(&owner_ready);
	pthread_barrier_wait(&owner_done);	/* idle meanwhile */
	return NULL;
}

/* Start an idle owner; after @ms, return the drains counted. */
static long idle_round(pthread_t *t, long ms)
{
	struct timespec wait = { ms / 1000, (ms % 1000) * 1000000L };

	pthread_barrier_init(&owner_ready, NULL, 2);
	pthread_barrier_init(&owner_done, NULL, 2);
	pthread_create(t, NULL, idle_owner, NULL);
	pthread_barrier_wait(&owner_ready);
	nanosleep(&wait, NULL);
	return idle_drained();
}

static void idle_round_end(pthread_t t)
{
	pthread_barrier_wait(&owner_done);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&owner_ready);
	pthread_barrier_destroy(&owner_done);
}

/*
 * A fork while the helper's look at idle owners is armed (it just found
 * an inbox with work): the child, which has no helper, must not inherit
 * the armed flag, or its pushes never start one and its idle owners are
 * never drained.
 */
static void fork_while_armed(void)
{
	pthread_t t, u;
	long before;
	pid_t pid;
	int status;

	idle_round(&t, 20);	/* armed by now */
	pid = fork();
	if (pid == 0) {
		before = idle_drained();
		_exit(idle_round(&u, 1500) > before ? 0 : 8);
	}
	idle_round_end(t);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		_exit(4);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 5);
}

START_TEST(test_lifecycle_under_bitslab)
{
	ck_assert_msg(dlsym(RTLD_DEFAULT, "bitslab_version") != NULL,
		      "libbitslab.so is not preloaded");
}
END_TEST

START_TEST(test_lifecycle_double_free_after_adoption)
{
	expect_abort(double_free_after_adoption, "double free");
}
END_TEST

START_TEST(test_lifecycle_free_of_block_never_allocated)
{
	expect_abort(free_never_allocated, "double free");
}
END_TEST

START_TEST(test_lifecycle_main_thread_pthread_exit_ends_process)
{
	expect_exit_0(main_pthread_exit);
}
END_TEST

START_TEST(test_lifecycle_child_of_thread_pthread_exit_ends_process)
{
	expect_exit_0(fork_from_thread_pthread_exit);
}
END_TEST

START_TEST(test_lifecycle_helper_restarts_for_a_later_thread)
{
	expect_exit_0(helper_restarts);
}
END_TEST

START_TEST(test_lifecycle_exit_handlers_run_on_a_program_thread)
{
	int i;

	/* Which thread ends last is a race: the helper won it 8 times in
	 * 20 before it was joined. */
	for (i = 0; i < 12; i++)
		expect_exit_0(exit_after_pthread_exit);
}
END_TEST

START_TEST(test_lifecycle_fork_child_drains_idle_owners)
{
	expect_exit_0(fork_while_armed);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("lifecycle");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lifecycle_under_bitslab);
	tcase_add_checked_test(tc, test_lifecycle_double_free_after_adoption);
	tcase_add_checked_test(tc, test_lifecycle_free_of_block_never_allocated);
	tcase_add_test(tc, test_lifecycle_main_thread_pthread_exit_ends_process);
	tcase_add_test(tc, test_lifecycle_child_of_thread_pthread_exit_ends_process);
	tcase_add_test(tc, test_lifecycle_helper_restarts_for_a_later_thread);
	tcase_add_test(tc, test_lifecycle_exit_handlers_run_on_a_program_thread);
	tcase_add_test(tc, test_lifecycle_fork_child_drains_idle_owners);
	suite_add_tcase(s, tc);
	return s;
}
