// SPDX-License-Identifier: MIT
/*
 * reclaim.c - dead chunks that were ever on a shared list wait here for an
 * RCU grace period before they are reused, and no user's call waits for it.
 *
 * A walker of a shared list may have found a chunk a moment before it was
 * adopted or retired, and still be reading its header; only a grace period
 * (synchronize_rcu()) proves that every such walker has left.  Waiting for
 * one inside free() would stall the caller for up to 19 ms here, and hang
 * it for good beside a host that uses liburcu-bp itself (bp's state is
 * process-wide: a host thread in its own read-side section that waits for
 * a lock the freeing thread holds never ends its section).  So:
 *
 *  - retiring a chunk pushes it on retire_stack (llist_add: lock-free, no
 *    allocation) and returns;
 *  - a helper thread of ours takes the whole stack with one exchange
 *    (no ABA: there is no single-node pop), waits for one grace period
 *    holding no lock, and hands the chunks to the chunk cache.  It is woken
 *    (futex) by the first chunk queued and when opt_retire_batch chunks or
 *    RECLAIM_BYTES wait, and takes the stack RECLAIM_MS after the first,
 *    so a retired chunk waits at most that long plus one grace period; a
 *    heap that finds the chunk cache empty meanwhile has it take the stack
 *    at once (reclaim_hungry()).
 *  - a chunk that left the shared list two or more of the helper's grace
 *    periods ago (adopted, then emptied by its owner) needs none of its
 *    own: it goes to the chunk cache at once (reclaim_gp_passed()).
 *
 * The same thread decays the chunk cache: it unmaps what stayed there
 * longer than opt_decay_ms (chunk_cache_decay()), sleeping until the next
 * deadline, or for good while nothing is cached or queued and every
 * inbox is empty; and it drains the inboxes of idle owners (core/idle.c).
 *
 * The helper starts on the first retirement or cached chunk, from a thread
 * that holds none of our locks (a nested call waits for the next one); a
 * program that never empties a chunk never gets one.  It has a small stack
 * (HELPER_STACK: the fragmentation test runs under a 16 MiB address-space
 * limit), every signal blocked, takes no read-side section and never
 * allocates (its allocations would go to the locked fallback heap).  It
 * ends when no thread has a heap, and is joined then (helper_end()).  After
 * fork() the child has no helper; the next retirement or cached chunk
 * starts one (not under a sanitizer in a child of a threaded parent).
 *
 * Only two paths wait for a grace period in the calling thread, through
 * reclaim_now(): an allocation that the system refused memory for, and
 * malloc_trim() / bitslab_trim(), whose job is to give memory back now.
 * Neither waits inside a read-side section of its own or from inside a call
 * out of the allocator (heap_may_wait()).
 *
 * Lock order: liburcu-bp's locks, then reclaim_lock, then cache_lock.
 * reclaim_lock is never held across synchronize_rcu(): it guards the list
 * of batches in flight, which the fork child puts back on the stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <urcu-bp.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "heap.h"
#include "idle.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "reclaim.h"
#include "report.h"
#include "tsan.h"

#if defined(__SANITIZE_THREAD__)
char tsan_grace_token;
#endif

/*
 * Sanitizer runtimes cannot start a thread in a child forked from a
 * threaded process (ThreadSanitizer dies; AddressSanitizer's allocator
 * lock may be held across the fork).  Their builds start no helper in
 * such a child (reclaim_fork_child_threaded()): it purges the chunk cache
 * inline instead.
 */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define HELPER_IN_FORK_CHILD 0
#else
#define HELPER_IN_FORK_CHILD 1
#endif

#define RECLAIM_BYTES	(1UL << 20)
#define RECLAIM_MS	100
#define RETRY_MS	1000	/* after a failed pthread_create() */
#define HELPER_END_WAIT_MS 100	/* see reclaim_heaps_gone() */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define HELPER_STACK	(1UL << 20)
#else
#define HELPER_STACK	(128UL << 10)
#endif

static struct llist_head retire_stack = LLIST_HEAD_INIT;
static _Atomic long pending;		/* chunks retired, not yet reclaimed */
static _Atomic size_t pending_bytes;
static _Atomic long grace_periods, reclaimed, unwaited;
/* The helper's grace periods, counted after each one ends (it runs one at
 * a time): see reclaim_gp_passed(). */
static _Atomic unsigned long helper_gps;

/* A batch taken off the stack, waiting for its grace period. */
struct batch {
	struct llist_node *list;
	struct batch *next;
};

static pthread_mutex_t reclaim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct batch *in_flight;		/* reclaim lock */

/*
 * NONE: no helper, or one that ended; ENDING: it found no live heap and
 * counts them again (helper_may_end()).  The state's kind is in its low
 * bits, and every start of a helper adds HELPER_GEN: a helper changes
 * only the state of its own generation, so an ending helper cannot
 * overwrite the ENDING of the next one, started meanwhile (review of
 * b82adfb: that one then ended with a heap live and no helper).
 */
enum helper_state { HELPER_NONE, HELPER_RUNNING, HELPER_FAILED,
		    HELPER_ENDING };
#define HELPER_KIND(s)	((s) & 3)
#define HELPER_GEN	4
static _Atomic int helper_state;
static _Atomic uint64_t helper_failed_at;	/* ms */
static _Atomic int wake_seq;		/* futex word: bumped to wake it */
enum helper_sleep { SLEEP_AWAKE, SLEEP_TIMED, SLEEP_FOREVER };
static _Atomic int helper_sleep;	/* enum helper_sleep */
static _Atomic bool hungry;		/* a heap missed the chunk cache */
/* Who joins an ended helper: see helper_end(). */
static _Atomic unsigned long helper_ended;	/* its pthread_t, or 0 */
static _Atomic int helper_looks;		/* futex word */
static _Atomic int helper_end_waiters;
/* Helpers started whose id is not in helper_ended yet: alive, or about
 * to be, and not yet joinable by a waiter (reclaim_heaps_gone()). */
static _Atomic int helpers_unpublished;
BUILD_BUG_ON(sizeof(pthread_t) != sizeof(unsigned long));
static bool in_threaded_fork_child;	/* see HELPER_IN_FORK_CHILD */

static long futex(_Atomic int *word, int op, int val,
		  const struct timespec *timeout)
{
	return syscall(SYS_futex, (int *)word, op | FUTEX_PRIVATE_FLAG, val,
		       timeout, NULL, 0);
}

/* Hand the chunks of @list, past a grace period, to the chunk cache. */
static void reclaim_list(struct llist_node *list)
{
	struct llist_node *p;

	for (p = list; p; p = p->next) {
		struct chunk *c = container_of(p, struct chunk, retire);

		fetch_sub_relaxed(&pending, 1);
		fetch_sub_relaxed(&pending_bytes, c->span);
		fetch_add_relaxed(&reclaimed, 1);
		chunk_forget(c);
	}
	/* The helper's own loop looks at the cache next. */
	(void)chunk_cache_release(list, false);
}

/*
 * Take everything retired so far through one grace period.  The caller may
 * wait for one (see heap_may_wait()) and holds no lock of ours; @helper:
 * it is the helper thread, whose grace periods are counted.
 * Return: true if anything was reclaimed.
 */
static bool reclaim_run(bool helper)
{
	struct batch b, **pp;
	struct heap *saved;

	pthread_mutex_lock(&reclaim_lock);
	b.list = llist_del_all(&retire_stack);
	if (!b.list) {
		pthread_mutex_unlock(&reclaim_lock);
		return false;
	}
	b.next = in_flight;
	in_flight = &b;
	pthread_mutex_unlock(&reclaim_lock);

	saved = heap_call_out_begin();
	synchronize_rcu();
	tsan_grace_period_end();
	heap_call_out_end(saved);
	fetch_add_relaxed(&grace_periods, 1);
	/* Sequentially consistent, after the grace period's end: pairs with
	 * the barrier in __shared_unlink() (see reclaim_gp_passed()). */
	if (helper)
		fetch_add(&helper_gps, 1);

	pthread_mutex_lock(&reclaim_lock);
	for (pp = &in_flight; *pp != &b; pp = &(*pp)->next)
		;
	*pp = b.next;
	reclaim_list(b.list);
	pthread_mutex_unlock(&reclaim_lock);
	return true;
}

static bool batch_full(void)
{
	return READ_ONCE(pending) >= opt_retire_batch ||
	       READ_ONCE(pending_bytes) >= RECLAIM_BYTES;
}

/*
 * The large blocks' cache decays on the same timer.  core/large.c defines
 * the real one where its cache is process-wide; until then there is
 * nothing for the helper to do there.
 */
__attribute__((weak)) long large_cache_decay(uint64_t now_ms)
{
	(void)now_ms;
	return -1;
}

/* One decay pass.  Return: ms until the next one is due, -1 if none. */
static long decay_pass(uint64_t now)
{
	long a = chunk_cache_decay(now), b = large_cache_decay(now);

	if (a < 0 || (b >= 0 && b < a))
		return b;
	return a;
}

static void ms_to_timespec(long ms, struct timespec *ts)
{
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000L;
}

/*
 * The helper's loop: retired chunks through a grace period once a batch
 * is full or RECLAIM_MS after the first was queued; a decay pass whenever
 * it wakes; then sleep until the earlier of the two deadlines, or for good
 * when there is neither (an idle process with nothing cached is never
 * woken).  Before sleeping for good it says so in helper_sleep and looks
 * once more (Dekker with reclaim_decay_kick(), both sequentially
 * consistent): either it sees what was just cached or queued, or the
 * kicker sees it asleep and wakes it.
 */
static bool helper_may_end(int gen);
static void helper_looked(void);
static void helper_end(int gen);

static void *helper_main(void *arg)
{
	int gen = (int)(intptr_t)arg;	/* its state, running */
	uint64_t due = 0;	/* when the retire stack is reclaimed */
	uint64_t idle_at = 0;	/* when the inboxes are looked at (idle.c) */

	/* Never an RCU reader, never the owner of a heap. */
	(void)heap_call_out_begin();
	for (;;) {
		int seq = load_acquire(&wake_seq);
		struct timespec ts;
		uint64_t now;
		long wait, next;

		store_seq_cst(&helper_sleep, SLEEP_AWAKE);
		now = os_now_ms();
		if (READ_ONCE(pending)) {
			if (!due)
				due = now + RECLAIM_MS;
			if (batch_full() || now >= due ||
			    xchg_relaxed(&hungry, false)) {
				reclaim_run(true);
				due = 0;
				continue;
			}
		} else {
			due = 0;
		}
		wait = due ? (long)(due - now) : -1;
		next = decay_pass(now);
		if (next >= 0 && (wait < 0 || next < wait))
			wait = next;
		/* The inboxes of idle owners: when due, or asked to. */
		if (idle_due(idle_at, now)) {
			next = idle_scan();
			idle_at = next < 0 ? 0 : now + (uint64_t)next;
		}
		if (idle_at) {
			next = idle_at > now ? (long)(idle_at - now) : 0;
			if (wait < 0 || next < wait)
				wait = next;
		}
		/* No thread of the program's has a heap: it may be ending
		 * with pthread_exit() (see helper_may_end()). */
		if (helper_may_end(gen))
			break;
		helper_looked();
		if (wait < 0) {
			store_seq_cst(&helper_sleep, SLEEP_FOREVER);
			atomic_thread_fence(memory_order_seq_cst);
			/* A large piece cached meanwhile is kicked as
			 * lightly: look at it too. */
			if (chunk_cache_count() || READ_ONCE(pending) ||
			    large_cache_bytes())
				continue;
			futex(&wake_seq, FUTEX_WAIT, seq, NULL);
		} else {
			store_seq_cst(&helper_sleep, SLEEP_TIMED);
			ms_to_timespec(wait, &ts);
			futex(&wake_seq, FUTEX_WAIT, seq, &ts);
		}
	}
	helper_end(gen);
	return NULL;
}

/*
 * The helper ends when no thread of the program has a heap.  glibc ends a
 * process when its last thread ends, whether it returned from main() or
 * not: a program whose main thread calls pthread_exit() and whose other
 * threads then finish ends as their last one does.  The helper is a thread
 * too, so it kept such a process alive for good, blocking every signal
 * but SIGKILL (a Python child forked from a thread, whose thread ends with
 * pthread_exit(), never exited: test_threading's
 * test_3_join_in_forked_from_thread).  So the last heap to go back to the
 * pool wakes it (reclaim_heaps_gone()), and it ends before it sleeps,
 * joined by that thread (helper_end()).  A thread that gets a heap
 * afterwards starts a new one at its first kick; what waits in the caches
 * meanwhile waits for it.
 *
 * The race with a kicker that sees the helper running and only wakes it is
 * a Dekker handshake, every access sequentially consistent: the helper
 * says HELPER_ENDING (and clears idle_armed) and then counts the live
 * heaps; the kicker's heap was counted (heap_pool_get()) before it reads
 * the state (or idle_armed, for a push: idle_kick()).  Either the helper
 * counts that heap and runs on, or the kicker sees HELPER_ENDING and
 * starts another helper.
 */
static bool helper_may_end(int gen)
{
	int state = gen;

	if (heap_live_count())
		return false;
	/*
	 * What waits for a grace period goes to the chunk cache first, so
	 * that the next thread to get a heap reuses it rather than map anew
	 * (threads in rounds, with a main thread that has no heap: 540 chunks
	 * mapped anew in 10 rounds, check_threads, against 0 - 237).
	 */
	if (READ_ONCE(pending))
		reclaim_run(true);
	if (!try_cmpxchg(&helper_state, &state,
			 gen - HELPER_RUNNING + HELPER_ENDING))
		return false;
	/* Its looks at idle owners end with it: a push must start the next
	 * helper (idle_kick(); the same handshake, on idle_armed). */
	idle_disarm();
	if (!heap_live_count())
		return true;
	/* A heap came meanwhile: run on, unless its thread started another
	 * helper already. */
	state = gen - HELPER_RUNNING + HELPER_ENDING;
	return !try_cmpxchg(&helper_state, &state, gen);
}

/*
 * pthread_join() is a cancellation point: a thread with a cancel pending
 * would unwind out of malloc() or free() here, with the helper's state
 * saying RUNNING and no helper, and the heap's lock held (review of
 * b82adfb).  Not here.
 */
static void helper_join(unsigned long t)
{
	int old;

	if (!t)
		return;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	pthread_join((pthread_t)t, NULL);
	pthread_setcancelstate(old, NULL);
}

/* The helper looked at the live heaps and runs on: a thread waiting in
 * reclaim_heaps_gone() looks again. */
static void helper_looked(void)
{
	fetch_add(&helper_looks, 1);
	if (load_seq_cst(&helper_end_waiters))
		futex(&helper_looks, FUTEX_WAKE, INT_MAX, NULL);
}

/*
 * The helper ends.  It is joinable: glibc's exit(0) runs on whichever
 * thread ends last, with that thread's stack and signal mask, and the
 * helper's are small and block every signal (an exit handler needing
 * 512 KiB of stack crashed there, and one that waits for a signal would
 * hang).  So the thread that gave the last heap back waits for it to end
 * and joins it (reclaim_heaps_gone()), and outlives it.
 *
 * Each helper's id goes into helper_ended once, after it decided to end,
 * and leaves it once, to be joined: by that waiting thread, by
 * helper_start() before it starts the next one, or by the next helper
 * to end (whose start raced with this one's end).  Then, and only then,
 * the state says NONE (a waiter that sees it finds the id), and waiters
 * are woken.
 */
static void helper_end(int gen)
{
	int state = gen - HELPER_RUNNING + HELPER_ENDING;
	unsigned long prev;

	prev = xchg(&helper_ended, (unsigned long)pthread_self());
	fetch_sub(&helpers_unpublished, 1);
	/* A kicker may have started the next helper already. */
	(void)try_cmpxchg(&helper_state, &state,
			  gen - HELPER_RUNNING + HELPER_NONE);
	/* Whoever joins this one waits for it to have joined prev. */
	helper_looked();
	helper_join(prev);
}

/* Start the helper thread of state @gen (running).  The caller holds
 * none of our locks. */
static void helper_start(int gen)
{
	struct heap *saved = heap_call_out_begin();
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int err;

	/* The last one to end, if no thread that gave a heap back did. */
	helper_join(xchg(&helper_ended, 0));
	fetch_add(&helpers_unpublished, 1);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_attr_init(&attr);
	if (!err) {
		pthread_attr_setstacksize(&attr, HELPER_STACK);
		err = pthread_create(&t, &attr, helper_main,
				     (void *)(intptr_t)gen);
		pthread_attr_destroy(&attr);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	heap_call_out_end(saved);
	if (err) {
		fetch_sub(&helpers_unpublished, 1);
		WRITE_ONCE(helper_failed_at, os_now_ms());
		store_release(&helper_state,
			      gen - HELPER_RUNNING + HELPER_FAILED);
	}
}

static bool helper_running(void)
{
	return HELPER_KIND(load_seq_cst(&helper_state)) == HELPER_RUNNING;
}

/**
 * reclaim_heaps_gone() - the last live thread heap went back to the pool:
 * wake the helper, so that it ends (helper_may_end()).  Any thread, none of
 * our locks held.
 */
void reclaim_heaps_gone(void)
{
	uint64_t start = os_now_ms();
	int looks, state;

	/*
	 * Whatever the helper's state says: a helper that counted this heap
	 * in helper_may_end() after it said HELPER_ENDING goes back to
	 * running, and must count again before it sleeps.  It read wake_seq
	 * before it counted, so this bump makes its next wait return at once
	 * (a wake sent only to a running helper was lost there, and the
	 * helper slept for good with no heap left: review of 5bf0a7e).
	 */
	fetch_add_release(&wake_seq, 1);
	futex(&wake_seq, FUTEX_WAKE, 1, NULL);

	/*
	 * Outlive it (helper_end()).  Its second look at the live heaps
	 * from here on began after this heap had gone: then it has ended,
	 * or found another heap, whose thread waits for it in turn.  A
	 * thread that gets a heap meanwhile ends the wait too.  And every
	 * helper started must have published its id, to be joined here:
	 * an older one, superseded but still on its way out, would end last
	 * otherwise (review of 672889a).  At most HELPER_END_WAIT_MS: the
	 * helper may be in a grace period.
	 */
	fetch_add(&helper_end_waiters, 1);
	looks = load_seq_cst(&helper_looks);
	for (;;) {
		int now = load_seq_cst(&helper_looks);
		long left = HELPER_END_WAIT_MS - (long)(os_now_ms() - start);
		struct timespec ts;

		state = HELPER_KIND(load_seq_cst(&helper_state));
		if (heap_live_count() || left <= 0)
			break;
		if (!load_seq_cst(&helpers_unpublished) &&
		    ((state != HELPER_RUNNING && state != HELPER_ENDING) ||
		     now - looks >= 2))
			break;
		ms_to_timespec(left, &ts);
		futex(&helper_looks, FUTEX_WAIT, now, &ts);
	}
	fetch_sub(&helper_end_waiters, 1);
	helper_join(xchg(&helper_ended, 0));
}

/**
 * reclaim_decay_kick() - something was queued or cached that the helper
 * must see: make sure it runs, and wake it if it sleeps for good, or, if
 * @urgent (a batch is full, a cache is over budget), if it sleeps at all.
 * At most one wake-up per sleep: the first kicker takes helper_sleep.
 * Any thread, any locks held (it starts the helper only from a thread of
 * the program's own outside any call out of the allocator).
 */
void reclaim_decay_kick(bool urgent)
{
	/* Sequentially consistent: see helper_may_end(). */
	int state = load_seq_cst(&helper_state), sleep, next;

	/*
	 * Until it runs: a failed exchange rereads the state, which an
	 * ending helper may have moved from ENDING to NONE or back to
	 * RUNNING meanwhile (review of 672889a: returning then left a live
	 * heap with no helper, and 8 MiB mapped for good).
	 */
	while (HELPER_KIND(state) != HELPER_RUNNING) {
		/* Only a thread of the program's own, outside any call out
		 * of the allocator, may create a thread. */
		if (bitslab_tls_heap->kind != HEAP_KIND_THREAD)
			return;
		if (!HELPER_IN_FORK_CHILD && in_threaded_fork_child)
			return;
		if (HELPER_KIND(state) == HELPER_FAILED &&
		    os_now_ms() - READ_ONCE(helper_failed_at) < RETRY_MS)
			return;
		/* The next generation (wrapping, as unsigned). */
		next = (int)(((unsigned int)state & ~3U) + HELPER_GEN +
			     HELPER_RUNNING);
		if (try_cmpxchg(&helper_state, &state, next)) {
			helper_start(next);
			return;
		}
	}
	/* Pairs with the fence in helper_main(): what the caller queued or
	 * cached before, then helper_sleep. */
	atomic_thread_fence(memory_order_seq_cst);
	sleep = READ_ONCE(helper_sleep);
	if (sleep == SLEEP_TIMED && !urgent)
		return;		/* a later deadline can wait */
	if (sleep == SLEEP_AWAKE) {
		/* Busy, maybe about to sleep on what it saw before this:
		 * then its wait returns at once (the word changed). */
		if (urgent)
			fetch_add_release(&wake_seq, 1);
		return;
	}
	if (!try_cmpxchg(&helper_sleep, &sleep, SLEEP_AWAKE))
		return;		/* another kicker wakes it, or it woke */
	fetch_add_release(&wake_seq, 1);
	futex(&wake_seq, FUTEX_WAKE, 1, NULL);
}

/**
 * reclaim_gp_seq() - how many grace periods the helper has completed; read
 * when a chunk leaves a shared list, after a full barrier.
 */
unsigned long reclaim_gp_seq(void)
{
	return load_seq_cst(&helper_gps);
}

/*
 * Has a grace period begun and ended since @c left a shared list?  Then no
 * walker can still stand on it (a walker that began after the unlink
 * cannot reach it), and it needs no grace period of its own.  The helper's
 * grace periods run one at a time: when two more have ended than had at
 * the unlink, the second began after the first had ended, so after the
 * unlink (the unlinker read the count after a full barrier and did not see
 * the first end).  In the thread-churn workload this spares most chunks
 * their wait: a thread adopts chunks when it starts and gives them up
 * empty when it exits, long after the helper's next grace periods.
 */
static bool reclaim_gp_passed(const struct chunk *c)
{
	return (long)(load_seq_cst(&helper_gps) - c->unshared_gp) >= 2;
}

/**
 * reclaim_retire() - @c is dead and on no list, and was on a shared list
 * once: queue it for reuse after a grace period.  Any thread; never waits.
 */
void reclaim_retire(struct chunk *c)
{
	size_t span = c->span;
	bool first;

	DEBUG_BUG_ON(!c->was_shared || c->list != CHUNK_LIST_DEAD);
	/*
	 * A grace period waits for walkers; when no other heap is live there
	 * are none (the caller unlinked @c before), and the chunk is reused
	 * at once: a program that is down to one thread, or a fork child,
	 * neither waits nor starts the helper.  Nor does a chunk that left
	 * the shared list before a grace period of the helper's began.
	 */
	if (heap_no_walkers() || reclaim_gp_passed(c)) {
		c->retire.next = NULL;
		fetch_add_relaxed(&reclaimed, 1);
		fetch_add_relaxed(&unwaited, 1);
		chunk_forget(c);
		reclaim_decay_kick(chunk_cache_release(&c->retire,
						       !helper_running()));
		return;
	}
	/* Count first: once on the stack the chunk may be reclaimed.  The
	 * first one wakes the helper to start RECLAIM_MS. */
	first = fetch_add_relaxed(&pending, 1) == 0;
	fetch_add_relaxed(&pending_bytes, span);
	llist_add(&c->retire, &retire_stack);
	reclaim_decay_kick(first || batch_full());
}

/**
 * reclaim_unshared() - dead chunks on @list (linked by ->retire), none of
 * which was on a shared list since it was set up: no walker can hold them,
 * so they go to the chunk cache (or back to the system) now.
 */
void reclaim_unshared(struct llist_node *list)
{
	struct llist_node *p;

	for (p = list; p; p = p->next) {
		DEBUG_BUG_ON(container_of(p, struct chunk, retire)->was_shared);
		chunk_forget(container_of(p, struct chunk, retire));
		fetch_add_relaxed(&reclaimed, 1);
	}
	reclaim_decay_kick(chunk_cache_release(list, !helper_running()));
}

/**
 * reclaim_hungry() - a heap found the chunk cache empty: if retired chunks
 * wait for their grace period, have the helper take them through it now
 * rather than at the end of RECLAIM_MS, so that the cache is refilled
 * with them before more is mapped.  Any thread, any locks held; never
 * waits.  Return: how many chunks wait (the caller maps that many fewer
 * ahead).
 */
long reclaim_hungry(void)
{
	long n = READ_ONCE(pending);

	if (n <= 0 || !helper_running())
		return 0;
	if (!READ_ONCE(hungry))
		WRITE_ONCE(hungry, true);
	reclaim_decay_kick(true);
	return n;
}

/**
 * reclaim_now() - reclaim everything retired, in this thread, through one
 * grace period: for a thread short of memory, and for trim.  Does nothing
 * where this thread may not wait for a grace period (heap_may_wait()).
 * Return: true if chunks were reclaimed.
 */
bool reclaim_now(void)
{
	static const struct timespec tick = { 0, 1000000L };
	bool any;
	int i;

	if (!heap_may_wait())
		return false;
	any = reclaim_run(false);
	/* Batches the helper took are past their grace period soon: wait
	 * for them too (at most a second), so that trim gives them back. */
	for (i = 0; i < 1000; i++) {
		bool busy;

		pthread_mutex_lock(&reclaim_lock);
		busy = in_flight != NULL;
		pthread_mutex_unlock(&reclaim_lock);
		if (!busy)
			break;
		nanosleep(&tick, NULL);
		any = true;
	}
	return any;
}

/* fork: the prepare handler runs after liburcu-bp's own (see thread.c). */
void reclaim_fork_prepare(void)
{
	pthread_mutex_lock(&reclaim_lock);
}

void reclaim_fork_parent(void)
{
	pthread_mutex_unlock(&reclaim_lock);
}

/*
 * fork child: the helper and every other reclaimer are gone.  Batches they
 * had taken and not yet reclaimed go back on the stack, to wait for a
 * grace period of the child's.
 */
void reclaim_fork_child(void)
{
	struct batch *b;
	int state;

	for (b = in_flight; b; b = b->next) {
		struct llist_node *p = b->list, *next;

		for (; p; p = next) {
			next = p->next;
			llist_add(p, &retire_stack);
		}
	}
	in_flight = NULL;
	state = HELPER_KIND(READ_ONCE(helper_state));
	if (state == HELPER_RUNNING || state == HELPER_ENDING)
		in_threaded_fork_child = true;
	atomic_init(&helper_state, HELPER_NONE);
	/* The parent's threads are not the child's to join. */
	atomic_init(&helper_ended, 0);
	atomic_init(&helper_end_waiters, 0);
	atomic_init(&helpers_unpublished, 0);
	atomic_init(&wake_seq, 0);
	atomic_init(&helper_sleep, SLEEP_AWAKE);
	pthread_mutex_unlock(&reclaim_lock);
}

/** reclaim_fork_child_threaded() - this fork child's parent had threads. */
void reclaim_fork_child_threaded(void)
{
	in_threaded_fork_child = true;
}

void reclaim_get_stats(struct reclaim_stats *st)
{
	st->pending = READ_ONCE(pending);
	st->grace_periods = READ_ONCE(grace_periods);
	st->reclaimed = READ_ONCE(reclaimed);
	st->unwaited = READ_ONCE(unwaited);
	st->helper = HELPER_KIND(READ_ONCE(helper_state)) == HELPER_RUNNING;
}
