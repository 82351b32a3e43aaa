// SPDX-License-Identifier: MIT
/*
 * micro.c - malloc/free throughput.  Each worker keeps a window of
 * WINDOW live blocks and, for every operation, frees the oldest and
 * allocates one of a random size in [lo, hi]: the fast paths with a few
 * blocks live, as programs use them.  The first byte of each block carries a
 * tag that is checked before the free.
 */
#include <stdbool.h>
#include <string.h>

#include "workloads.h"

#define WINDOW 8

struct mworker {
	const struct wl_alloc *a;
	size_t lo, span;
	long ops;
	uint64_t seed;
	long bad;
	bool oom;
};

static void *micro_worker(void *arg)
{
	struct mworker *w = arg;
	unsigned char *win[WINDOW] = { NULL };
	/* Workers' structs share cache lines: the loop keeps its state in
	 * locals, or the workers would measure false sharing. */
	uint64_t seed = w->seed;
	long i, bad = 0;

	for (i = 0; i < w->ops; i++) {
		unsigned char **slot = &win[i % WINDOW];
		size_t size = w->lo + wl_rand(&seed) % w->span;

		if (*slot) {
			if (**slot != (unsigned char)(i - WINDOW))
				bad++;
			w->a->free(*slot);
		}
		*slot = w->a->malloc(size);
		if (!*slot) {
			w->oom = true;
			break;
		}
		**slot = (unsigned char)i;
	}
	for (i = 0; i < WINDOW; i++)
		w->a->free(win[i]);
	w->bad = bad;
	return NULL;
}

int micro_run(const struct wl_alloc *a, unsigned int threads, size_t lo,
	      size_t hi, long ops, uint64_t seed, struct wl_result *r)
{
	struct mworker w[WL_MAX_THREADS];
	unsigned int i;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (threads < 1 || threads > WL_MAX_THREADS || lo < 1 || hi < lo) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	for (i = 0; i < threads; i++)
		w[i] = (struct mworker){ a, lo, hi - lo + 1, ops,
					 seed * 0x9e3779b97f4a7c15ULL + i + 1,
					 0, false };
	wl_run_threads(threads, micro_worker, w, sizeof(w[0]));
	for (i = 0; i < threads; i++) {
		if (w[i].oom || w[i].bad) {
			wl_fail(r, "worker %u: %s", i, w[i].oom ? "out of memory" :
				"a block lost its tag");
			ret = -1;
		}
		r->checked += (uint64_t)(ops - WINDOW);
	}
	r->ops = (uint64_t)ops * threads;
	return ret;
}
