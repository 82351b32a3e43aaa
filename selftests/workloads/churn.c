// SPDX-License-Identifier: MIT
/*
 * churn.c - thread churn with blocks left behind, after xmalloc-test and
 * threadtest: workers live for one round only; each allocates blocks of
 * random sizes, frees most of them itself after a short while, and swaps
 * a random fraction into random slots of an array shared by every round,
 * freeing whatever block it displaces.  So blocks are freed by threads
 * that did not allocate them, often after their allocator has exited, and
 * the next round's new threads find chunks half full of other threads'
 * blocks.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#define CHURN_SLOTS	16384	/* the shared array: a power of two */
#define CHURN_WINDOW	16	/* blocks a worker keeps before freeing them */

struct churn {
	const struct wl_alloc *a;
	_Atomic(void *) *slot;
	long ops;
	size_t max_size;
};

struct churn_worker {
	struct churn *C;
	uint64_t seed;
	uint64_t made, checked;
	bool bad, oom;
};

/* Check and free a block; a bad one marks the worker (its own flag: no
 * shared writes on the loop). */
static void churn_release(struct churn_worker *w, void *p, uint64_t *checked)
{
	if (!wl_block_free(w->C->a, p, WL_BIG_FACTOR * w->C->max_size))
		w->bad = true;
	(*checked)++;
}

static void *churn_worker(void *arg)
{
	struct churn_worker *w = arg;
	struct churn *C = w->C;
	void *win[CHURN_WINDOW] = { NULL };
	uint64_t seed = w->seed, checked = 0;	/* locals: no false sharing */
	/* The fraction of blocks this worker shares, in sixteenths: 1 to 15. */
	unsigned int share = 1 + (unsigned int)(wl_rand(&seed) % 15);
	long i;

	for (i = 0; i < C->ops; i++) {
		uint64_t x = wl_rand(&seed);
		void *p = wl_block_new(C->a, wl_rand_size_mixed(&seed, C->max_size));

		if (!p) {
			w->oom = true;
			break;
		}
		if ((x & 15) < share) {
			/* acq_rel: our block's contents go out with it, and
			 * the displaced block's contents come in. */
			void *old = atomic_exchange_explicit(
				&C->slot[(x >> 4) & (CHURN_SLOTS - 1)], p,
				memory_order_acq_rel);

			if (old)
				churn_release(w, old, &checked);
		} else {
			void **s = &win[i % CHURN_WINDOW];

			if (*s)
				churn_release(w, *s, &checked);
			*s = p;
		}
	}
	w->made = (uint64_t)i;
	for (i = 0; i < CHURN_WINDOW; i++)
		if (win[i])
			churn_release(w, win[i], &checked);
	w->checked = checked;
	return NULL;
}

int churn_run(const struct wl_alloc *a, unsigned int threads, int rounds,
	      long ops, size_t max_size, uint64_t seed, struct wl_result *r)
{
	struct churn_worker w[WL_MAX_THREADS];
	struct churn C = { .a = a, .ops = ops, .max_size = max_size };
	unsigned int i;
	int round, ret = 0;

	memset(r, 0, sizeof(*r));
	if (threads < 1 || threads > WL_MAX_THREADS || rounds < 1 ||
	    max_size < 16) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	C.slot = calloc(CHURN_SLOTS, sizeof(*C.slot));
	if (!C.slot) {
		wl_fail(r, "out of memory for the shared array");
		return -1;
	}
	for (round = 0; round < rounds && !ret; round++) {
		for (i = 0; i < threads; i++)
			w[i] = (struct churn_worker){
				.C = &C,
				.seed = seed * 0x9e3779b97f4a7c15ULL +
					(uint64_t)round * WL_MAX_THREADS + i + 1,
			};
		wl_run_threads(threads, churn_worker, w, sizeof(w[0]));
		for (i = 0; i < threads; i++) {
			r->ops += w[i].made;
			r->checked += w[i].checked;
			if (w[i].bad || w[i].oom) {
				wl_fail(r, "round %d, worker %u: %s", round, i,
					w[i].oom ? "out of memory" :
					"a block lost its contents");
				ret = -1;
			}
		}
	}
	for (i = 0; i < CHURN_SLOTS; i++) {
		void *p = atomic_load_explicit(&C.slot[i], memory_order_relaxed);

		if (p && !wl_block_free(a, p, WL_BIG_FACTOR * max_size)) {
			wl_fail(r, "a shared block lost its contents");
			ret = -1;
		}
		r->checked += p != NULL;
	}
	free(C.slot);
	return ret;
}
