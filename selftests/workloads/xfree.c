// SPDX-License-Identifier: MIT
/*
 * xfree.c - blocks freed out of order and across threads: in rounds, every
 * worker fills an array with thousands of blocks; when all have, each
 * frees, in one random order, its own odd-numbered blocks and its
 * partner's even-numbered ones (the partner changes every round).  Every
 * chunk then gets half its blocks back from its owner and half from
 * another thread at the same time, scattered over the chunk, and the next
 * round allocates again into what is left.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

struct xfree {
	const struct wl_alloc *a;
	void **blk[WL_MAX_THREADS];	/* worker i's array; see the barriers */
	unsigned int threads;
	int rounds;
	long blocks;
	size_t max_size;
	pthread_barrier_t bar;
};

struct xfree_worker {
	struct xfree *X;
	unsigned int id;
	uint64_t seed;
	uint64_t made, checked;
	bool bad, oom;
};

static void *xfree_worker(void *arg)
{
	struct xfree_worker *w = arg;
	struct xfree *X = w->X;
	uint64_t seed = w->seed, made = 0, checked = 0;	/* locals */
	long n = X->blocks, j;
	void **own = X->blk[w->id], **other;
	uint32_t *order = malloc((size_t)n * sizeof(*order));
	int round;

	if (!order)
		w->oom = true;
	for (j = 0; j < n && order; j++)
		order[j] = (uint32_t)j;
	for (round = 0; round < X->rounds; round++) {
		unsigned int d = X->threads > 1 ?
			1 + (unsigned int)round % (X->threads - 1) : 0;

		for (j = 0; j < n && order; j++) {
			own[j] = wl_block_new(X->a,
					      wl_rand_size(&seed, 16, X->max_size));
			if (!own[j])
				w->oom = true;
			made += own[j] != NULL;
		}
		/* Every array is full before anyone frees from another's;
		 * the barrier orders the blocks' contents too. */
		pthread_barrier_wait(&X->bar);
		other = X->blk[(w->id + d) % X->threads];
		for (j = n - 1; j > 0 && order; j--) {
			long k = (long)(wl_rand(&seed) % (uint64_t)(j + 1));
			uint32_t t = order[j];

			order[j] = order[k];
			order[k] = t;
		}
		for (j = 0; j < n && order; j++) {
			uint32_t k = order[j];
			void **s = (k & 1) ? &own[k] : &other[k];

			if (!*s)
				continue;
			if (!wl_block_free(X->a, *s, X->max_size))
				w->bad = true;
			*s = NULL;
			checked++;
		}
		/* Nobody refills an array another is still freeing from. */
		pthread_barrier_wait(&X->bar);
	}
	free(order);
	w->made = made;
	w->checked = checked;
	return NULL;
}

int xfree_run(const struct wl_alloc *a, unsigned int threads, int rounds,
	      long blocks, size_t max_size, uint64_t seed, struct wl_result *r)
{
	struct xfree_worker w[WL_MAX_THREADS];
	struct xfree *X;
	unsigned int i, made = 0;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (threads < 1 || threads > WL_MAX_THREADS || rounds < 1 ||
	    blocks < 1 || blocks > UINT32_MAX || max_size < 16) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	X = calloc(1, sizeof(*X));
	if (!X) {
		wl_fail(r, "out of memory for the arrays");
		return -1;
	}
	*X = (struct xfree){ .a = a, .threads = threads, .rounds = rounds,
			     .blocks = blocks, .max_size = max_size };
	for (made = 0; made < threads; made++) {
		X->blk[made] = calloc((size_t)blocks, sizeof(void *));
		if (!X->blk[made])
			break;
	}
	if (made < threads) {
		wl_fail(r, "out of memory for the arrays");
		ret = -1;
		goto out_free_arrays;
	}
	pthread_barrier_init(&X->bar, NULL, threads);
	for (i = 0; i < threads; i++)
		w[i] = (struct xfree_worker){
			.X = X, .id = i,
			.seed = seed * 0x9e3779b97f4a7c15ULL + i + 1,
		};
	wl_run_threads(threads, xfree_worker, w, sizeof(w[0]));
	pthread_barrier_destroy(&X->bar);
	for (i = 0; i < threads; i++) {
		r->ops += w[i].made;
		r->checked += w[i].checked;
		if (w[i].bad || w[i].oom) {
			wl_fail(r, "worker %u: %s", i, w[i].oom ?
				"out of memory" : "a block lost its contents");
			ret = -1;
		}
	}
out_free_arrays:
	for (i = 0; i < made; i++)
		free(X->blk[i]);
	free(X);
	return ret;
}
