// SPDX-License-Identifier: MIT
/*
 * larson.c - a server workload after Larson and Krishnan's benchmark: each
 * of n lineages holds an array of blocks of random sizes, and its thread
 * replaces random blocks for a while, then starts its successor (which
 * inherits the array) and exits.  Blocks are freed long after, and by other
 * threads than, their allocators, while threads come and go.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

struct lslot {
	void *p;
	size_t size;
};

struct larson {
	const struct wl_alloc *a;
	long slots, ops;
	int generations;
	size_t max_size;
	struct wl_result *r;
	_Atomic bool failed;
	_Atomic uint64_t allocs, checked;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int finished;		/* lineages done; under lock */
};

struct lineage {
	struct larson *L;
	struct lslot *slot;
	int gen;
	uint64_t seed;
};

static void larson_fail(struct larson *L, const char *why, int gen)
{
	wl_fail(L->r, "%s (generation %d)", why, gen);
	L->failed = true;
}

static bool slot_release(struct larson *L, struct lslot *s)
{
	bool ok = true;

	if (s->p) {
		ok = wl_check(s->p, s->size, (uintptr_t)s->p ^ s->size);
		L->a->free(s->p);
		s->p = NULL;
		atomic_fetch_add_explicit(&L->checked, 1, memory_order_relaxed);
	}
	return ok;
}

static void *larson_thread(void *arg)
{
	struct lineage *ln = arg;
	struct larson *L = ln->L;
	uint64_t made = 0, seed = ln->seed;	/* a local: no false sharing */
	pthread_attr_t attr;
	pthread_t t;
	long i;

	for (i = 0; i < L->ops && !L->failed; i++) {
		uint64_t x = wl_rand(&seed);
		struct lslot *s = &ln->slot[x % (uint64_t)L->slots];

		if (!slot_release(L, s)) {
			larson_fail(L, "a block lost its contents", ln->gen);
			break;
		}
		s->size = 1 + (size_t)(x >> 24) % L->max_size;
		s->p = L->a->malloc(s->size);
		made++;
		if (!s->p) {
			larson_fail(L, "out of memory", ln->gen);
			break;
		}
		wl_fill(s->p, s->size, (uintptr_t)s->p ^ s->size);
	}
	atomic_fetch_add_explicit(&L->allocs, made, memory_order_relaxed);
	ln->seed = seed;
	if (++ln->gen < L->generations && !L->failed) {
		int err;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = pthread_create(&t, &attr, larson_thread, ln);
		pthread_attr_destroy(&attr);
		if (!err)
			return NULL;	/* the successor carries on */
		larson_fail(L, "cannot start the next thread", ln->gen);
	}
	pthread_mutex_lock(&L->lock);
	L->finished++;
	pthread_cond_signal(&L->cond);
	pthread_mutex_unlock(&L->lock);
	return NULL;
}

int larson_run(const struct wl_alloc *a, unsigned int threads, long slots,
	       long ops, int generations, size_t max_size, uint64_t seed,
	       struct wl_result *r)
{
	struct larson L = {
		.a = a, .slots = slots, .ops = ops, .generations = generations,
		.max_size = max_size, .r = r,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	struct lineage ln[WL_MAX_THREADS];
	pthread_attr_t attr;
	pthread_t t;
	unsigned int i, started = 0;
	long j;

	memset(r, 0, sizeof(*r));
	if (threads < 1 || threads > WL_MAX_THREADS || slots < 1 ||
	    generations < 1 || max_size < 1) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < threads; i++) {
		ln[i] = (struct lineage){ &L, calloc((size_t)slots,
						     sizeof(struct lslot)), 0,
					  seed * 0x9e3779b97f4a7c15ULL + i + 1 };
		if (!ln[i].slot) {
			larson_fail(&L, "out of memory for the slots", 0);
			break;
		}
		if (pthread_create(&t, &attr, larson_thread, &ln[i])) {
			larson_fail(&L, "cannot start a thread", 0);
			free(ln[i].slot);
			break;
		}
		started++;
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&L.lock);
	while (L.finished < started)
		pthread_cond_wait(&L.cond, &L.lock);
	pthread_mutex_unlock(&L.lock);
	for (i = 0; i < started; i++) {
		for (j = 0; j < slots; j++)
			if (!slot_release(&L, &ln[i].slot[j]))
				larson_fail(&L, "a block lost its contents",
					    ln[i].gen);
		free(ln[i].slot);
	}
	r->ops = L.allocs;
	r->checked = L.checked;
	return L.failed ? -1 : 0;
}
