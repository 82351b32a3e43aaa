// SPDX-License-Identifier: MIT
/*
 * prodcons.c - blocks handed from thread to thread.  Worker i allocates
 * blocks, fills them and puts them on queue i; worker i + 1 (mod n) takes
 * them off, checks and frees them.  Each queue is a single-producer
 * single-consumer ring, so the only synchronisation between the two sides
 * is one release store and one acquire load per block.  In the split
 * variant the roles are separate threads: producers that never free and
 * consumers that never allocate, in pairs.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#define RING_SIZE 256	/* a power of two */

struct item {
	void *p;
	size_t size;
};

struct ring {
	_Atomic unsigned long head;	/* written by the consumer */
	char pad1[64 - sizeof(unsigned long)];
	_Atomic unsigned long tail;	/* written by the producer */
	char pad2[64 - sizeof(unsigned long)];
	struct item slot[RING_SIZE];
};

struct pc_worker {
	const struct wl_alloc *a;
	struct ring *out, *in;
	long make, take;	/* blocks to put on out, to take from in */
	size_t max_size;
	uint64_t seed;
	uint64_t checked;
	const char *why;
	_Atomic bool *stop;	/* set by a worker that fails: all give up */
};

static bool ring_put(struct ring *q, struct item it)
{
	unsigned long t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	/* Acquire: pairs with the consumer's release of head. */
	if (t - atomic_load_explicit(&q->head, memory_order_acquire) == RING_SIZE)
		return false;
	q->slot[t % RING_SIZE] = it;
	/* Release: the slot (and the block's contents) before the tail. */
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	return true;
}

static bool ring_get(struct ring *q, struct item *it)
{
	unsigned long h = atomic_load_explicit(&q->head, memory_order_relaxed);

	/* Acquire: pairs with the producer's release of tail. */
	if (h == atomic_load_explicit(&q->tail, memory_order_acquire))
		return false;
	*it = q->slot[h % RING_SIZE];
	/* Release: done reading the slot before it can be reused. */
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	return true;
}

static void *pc_worker(void *arg)
{
	struct pc_worker *w = arg;
	uint64_t seed = w->seed, checked = 0;	/* locals: no false sharing */
	long made = 0, taken = 0;
	bool have = false;
	struct item next = { NULL, 0 };

	while ((made < w->make || taken < w->take) && !*w->stop) {
		bool progress = false;
		struct item it;

		if (made < w->make && !have) {
			next.size = 1 + wl_rand(&seed) % w->max_size;
			next.p = w->a->malloc(next.size);
			if (!next.p) {
				w->why = "out of memory";
				break;
			}
			wl_fill(next.p, next.size, (uintptr_t)next.p ^ next.size);
			have = true;
		}
		if (have && ring_put(w->out, next)) {
			have = false;
			made++;
			progress = true;
		}
		while (taken < w->take && ring_get(w->in, &it)) {
			if (!wl_check(it.p, it.size, (uintptr_t)it.p ^ it.size))
				w->why = "a handed-over block lost its contents";
			w->a->free(it.p);
			checked++;
			taken++;
			progress = true;
		}
		if (!progress)
			sched_yield();
	}
	w->checked = checked;
	if (w->why)
		*w->stop = true;
	return NULL;
}

/*
 * Worker i of @threads puts on ring i and takes from ring i - 1 (mod
 * @threads); split: producer 2k puts on ring k, consumer 2k + 1 takes
 * from it.
 */
static int pc_run(const struct wl_alloc *a, unsigned int threads, long items,
		  size_t max_size, uint64_t seed, bool split,
		  struct wl_result *r)
{
	struct pc_worker w[WL_MAX_THREADS];
	_Atomic bool stop = false;
	struct ring *q;
	unsigned int i;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (threads < 1 || threads > WL_MAX_THREADS || max_size < 1 ||
	    (split && threads % 2)) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	q = aligned_alloc(64, threads * sizeof(*q));
	if (!q) {
		wl_fail(r, "out of memory for the queues");
		return -1;
	}
	memset(q, 0, threads * sizeof(*q));
	for (i = 0; i < threads; i++)
		w[i] = (struct pc_worker){
			.a = a, .out = &q[i], .in = &q[(i + threads - 1) % threads],
			.make = items, .take = items, .max_size = max_size,
			.seed = seed * 0x9e3779b97f4a7c15ULL + i + 1,
			.stop = &stop,
		};
	for (i = 0; split && i < threads; i++) {
		w[i].out = w[i].in = &q[i / 2];
		if (i % 2)
			w[i].make = 0;
		else
			w[i].take = 0;
	}
	wl_run_threads(threads, pc_worker, w, sizeof(w[0]));
	for (i = 0; i < threads; i++) {
		r->checked += w[i].checked;
		if (w[i].why) {
			wl_fail(r, "worker %u: %s", i, w[i].why);
			ret = -1;
		}
	}
	r->ops = (uint64_t)items * (split ? threads / 2 : threads);
	free(q);
	return ret;
}

int prodcons_run(const struct wl_alloc *a, unsigned int threads, long items,
		 size_t max_size, uint64_t seed, struct wl_result *r)
{
	return pc_run(a, threads, items, max_size, seed, false, r);
}

int prodcons_split_run(const struct wl_alloc *a, unsigned int threads,
		       long items, size_t max_size, uint64_t seed,
		       struct wl_result *r)
{
	return pc_run(a, threads, items, max_size, seed, true, r);
}
