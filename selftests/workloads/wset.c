// SPDX-License-Identifier: MIT
/*
 * wset.c - a working set that rises and falls, in the manner of mimalloc's
 * stress test: in cycles, every worker grows its set of blocks to a random
 * height, handing a quarter of its new blocks to a shared array in
 * exchange for whatever block another worker left there, then shrinks the
 * set to a random low, freeing blocks in random order.  Workers rise and
 * fall together (a barrier at the peak and one at the trough), so the
 * process's memory swings between a few blocks and all the workers' peaks,
 * and much of it is freed by threads that did not allocate it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#define WSET_SLOTS	4096	/* the shared array: a power of two */

struct wset {
	const struct wl_alloc *a;
	_Atomic(void *) *slot;
	int cycles;
	long peak;
	size_t max_size;
	pthread_barrier_t bar;
};

struct wset_worker {
	struct wset *S;
	uint64_t seed;
	uint64_t made, checked;
	double phase_s[2];	/* growing, shrinking: see struct wl_result */
	bool bad, oom;
};

static void *wset_worker(void *arg)
{
	struct wset_worker *w = arg;
	struct wset *S = w->S;
	uint64_t seed = w->seed, made = 0, checked = 0;	/* locals */
	void **set = malloc((size_t)S->peak * sizeof(*set));
	long live = 0, height, low;
	double t;
	int cycle;

	if (!set)
		w->oom = true;
	for (cycle = 0; cycle < S->cycles; cycle++) {
		height = S->peak / 4 +
			 (long)(wl_rand(&seed) % (uint64_t)(S->peak - S->peak / 4 + 1));
		t = wl_now();
		while (set && !w->oom && live < height) {
			uint64_t x = wl_rand(&seed);
			void *p = wl_block_new(S->a,
					       wl_rand_size_mixed(&seed, S->max_size));

			if (!p) {
				w->oom = true;
				break;
			}
			made++;
			if ((x & 3) == 0) {
				/* acq_rel: our block's contents go out, the
				 * one we take comes in with its own. */
				p = atomic_exchange_explicit(
					&S->slot[(x >> 2) & (WSET_SLOTS - 1)], p,
					memory_order_acq_rel);
				if (!p)
					continue;
			}
			set[live++] = p;
		}
		w->phase_s[0] += wl_now() - t;
		pthread_barrier_wait(&S->bar);
		low = cycle == S->cycles - 1 ? 0 :
		      (long)(wl_rand(&seed) % (uint64_t)(S->peak / 16 + 1));
		t = wl_now();
		while (live > low) {
			long k = (long)(wl_rand(&seed) % (uint64_t)live);

			if (!wl_block_free(S->a, set[k], WL_BIG_FACTOR * S->max_size))
				w->bad = true;
			checked++;
			set[k] = set[--live];
		}
		w->phase_s[1] += wl_now() - t;
		pthread_barrier_wait(&S->bar);
	}
	free(set);
	w->made = made;
	w->checked = checked;
	return NULL;
}

int wset_run(const struct wl_alloc *a, unsigned int threads, int cycles,
	     long peak, size_t max_size, uint64_t seed, struct wl_result *r)
{
	struct wset_worker w[WL_MAX_THREADS];
	struct wset S = { .a = a, .cycles = cycles, .peak = peak,
			  .max_size = max_size };
	unsigned int i;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (threads < 1 || threads > WL_MAX_THREADS || cycles < 1 ||
	    peak < 1 || max_size < 16) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	S.slot = calloc(WSET_SLOTS, sizeof(*S.slot));
	if (!S.slot) {
		wl_fail(r, "out of memory for the shared array");
		return -1;
	}
	pthread_barrier_init(&S.bar, NULL, threads);
	for (i = 0; i < threads; i++)
		w[i] = (struct wset_worker){
			.S = &S, .seed = seed * 0x9e3779b97f4a7c15ULL + i + 1,
		};
	wl_run_threads(threads, wset_worker, w, sizeof(w[0]));
	pthread_barrier_destroy(&S.bar);
	for (i = 0; i < threads; i++) {
		r->ops += w[i].made;
		r->checked += w[i].checked;
		r->phase_s[0] += w[i].phase_s[0];
		r->phase_s[1] += w[i].phase_s[1];
		if (w[i].bad || w[i].oom) {
			wl_fail(r, "worker %u: %s", i, w[i].oom ?
				"out of memory" : "a block lost its contents");
			ret = -1;
		}
	}
	for (i = 0; i < WSET_SLOTS; i++) {
		void *p = atomic_load_explicit(&S.slot[i], memory_order_relaxed);

		if (p && !wl_block_free(a, p, WL_BIG_FACTOR * max_size)) {
			wl_fail(r, "a shared block lost its contents");
			ret = -1;
		}
		r->checked += p != NULL;
	}
	free(S.slot);
	return ret;
}
