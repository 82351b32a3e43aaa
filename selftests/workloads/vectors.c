// SPDX-License-Identifier: MIT
/*
 * vectors.c - many growable vectors of mixed element sizes, shared by
 * several threads: pushed (growing by doubling with realloc), popped
 * (shrinking by halving), freed and started again with another element
 * size.  A vector is used by one thread at a time (a try-flag; a busy
 * vector is skipped), and by whichever thread picks it next, so blocks move
 * between threads and through every size class, and now and then into
 * large blocks and back.
 *
 * Byte i of a vector holds a value derived from (vector, generation, i):
 * popped elements are checked, and the whole vector after every realloc
 * and before it is freed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

struct vec {
	atomic_flag busy;
	unsigned char *data;
	size_t len, cap;	/* in elements */
	size_t esize;
	uint64_t tag;		/* changes with every generation */
};

struct vectors {
	const struct wl_alloc *a;
	struct vec *v;
	long nvec, ops;
	struct wl_result *r;
	_Atomic bool failed;
	_Atomic uint64_t allocs, checked;
};

struct vworker {
	struct vectors *vs;
	uint64_t seed;
};

static const size_t esizes[] = { 1, 2, 4, 8, 12, 16, 24, 32, 48, 64 };

/*
 * Byte i of a vector's data is derived from the vector's tag and i alone,
 * so elements keep their bytes when the vector shrinks and grows, and the
 * loops below compile to vector instructions: the workload's own cost
 * stays small beside the allocator's.
 */
static unsigned char elem_byte(uint64_t tag, size_t i)
{
	return (unsigned char)(tag + i * 7 + (i >> 8));
}

static void elems_fill(struct vec *v, size_t from, size_t to)
{
	size_t i;

	for (i = from * v->esize; i < to * v->esize; i++)
		v->data[i] = elem_byte(v->tag, i);
}

static bool elems_ok(const struct vec *v, size_t from, size_t to)
{
	unsigned char bad = 0;
	size_t i;

	for (i = from * v->esize; i < to * v->esize; i++)
		bad |= v->data[i] ^ elem_byte(v->tag, i);
	return !bad;
}

static void vec_fail(struct vectors *vs, const char *why, long idx)
{
	wl_fail(vs->r, "%s (vector %ld)", why, idx);
	vs->failed = true;
}

/* Resize @v to @cap elements; the whole vector is checked after. */
static bool vec_resize(struct vectors *vs, struct vec *v, size_t cap,
		       long idx)
{
	unsigned char *d = vs->a->realloc(v->data, cap * v->esize);

	atomic_fetch_add_explicit(&vs->allocs, 1, memory_order_relaxed);
	if (!d) {
		vec_fail(vs, "out of memory", idx);
		return false;
	}
	v->data = d;
	v->cap = cap;
	if (!elems_ok(v, 0, v->len)) {
		vec_fail(vs, "realloc lost elements", idx);
		return false;
	}
	atomic_fetch_add_explicit(&vs->checked, 1, memory_order_relaxed);
	return true;
}

static bool vec_push(struct vectors *vs, struct vec *v, size_t k, long idx)
{
	size_t cap = v->cap ? v->cap : 4;

	while (cap < v->len + k)
		cap *= 2;
	if (cap != v->cap && !vec_resize(vs, v, cap, idx))
		return false;
	elems_fill(v, v->len, v->len + k);
	v->len += k;
	return true;
}

static bool vec_pop(struct vectors *vs, struct vec *v, size_t k, long idx)
{
	if (k > v->len)
		k = v->len;
	if (!elems_ok(v, v->len - k, v->len)) {
		vec_fail(vs, "popped element lost its value", idx);
		return false;
	}
	v->len -= k;
	if (v->cap > 4 && v->len < v->cap / 4)
		return vec_resize(vs, v, v->cap / 2, idx);
	return true;
}

/* Check and free @v; it starts again empty with element size @esize. */
static bool vec_restart(struct vectors *vs, struct vec *v, size_t esize,
			long idx)
{
	bool ok = elems_ok(v, 0, v->len);

	vs->a->free(v->data);
	atomic_fetch_add_explicit(&vs->checked, 1, memory_order_relaxed);
	v->data = NULL;
	v->len = v->cap = 0;
	v->esize = esize;
	v->tag = v->tag * 0x2545f4914f6cdd1dULL + 1;
	if (!ok)
		vec_fail(vs, "vector lost elements before free", idx);
	return ok;
}

static void *vectors_worker(void *arg)
{
	struct vworker *w = arg;
	struct vectors *vs = w->vs;
	uint64_t seed = w->seed;	/* a local: no false sharing */
	long op;

	for (op = 0; op < vs->ops && !vs->failed; op++) {
		uint64_t x = wl_rand(&seed);
		long idx = (long)(x % (uint64_t)vs->nvec);
		unsigned int kind = (unsigned int)(x >> 32) % 100;
		size_t k = (size_t)(x >> 48);
		struct vec *v;
		bool ok;

		/* Take the first idle vector from a random place. */
		while (atomic_flag_test_and_set_explicit(&vs->v[idx].busy,
							 memory_order_acquire))
			idx = (idx + 1) % vs->nvec;
		v = &vs->v[idx];
		if (kind < 45)
			ok = vec_push(vs, v, 1 + k % 64, idx);
		else if (kind < 50)
			ok = vec_push(vs, v, 256 + k % 3840, idx);
		else if (kind < 80)
			ok = vec_pop(vs, v, 1 + k % (v->len + 1), idx);
		else
			ok = vec_restart(vs, v, esizes[k % 10], idx);
		atomic_flag_clear_explicit(&v->busy, memory_order_release);
		if (!ok)
			break;
	}
	return NULL;
}

int vectors_run(const struct wl_alloc *a, unsigned int threads, long nvec,
		long ops, uint64_t seed, struct wl_result *r)
{
	struct vectors vs = { .a = a, .nvec = nvec, .ops = ops, .r = r };
	struct vworker w[WL_MAX_THREADS];
	long i;
	unsigned int t;

	memset(r, 0, sizeof(*r));
	if (threads < 1 || threads > WL_MAX_THREADS || nvec < threads) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	vs.v = calloc((size_t)nvec, sizeof(*vs.v));
	if (!vs.v) {
		wl_fail(r, "out of memory for %ld vectors", nvec);
		return -1;
	}
	for (i = 0; i < nvec; i++) {
		atomic_flag_clear(&vs.v[i].busy);
		vs.v[i].esize = esizes[i % 10];
		vs.v[i].tag = seed ^ (uint64_t)i * 0x9e3779b97f4a7c15ULL;
	}
	for (t = 0; t < threads; t++)
		w[t] = (struct vworker){ &vs, seed * 0x2545f4914f6cdd1dULL + t + 1 };
	wl_run_threads(threads, vectors_worker, w, sizeof(w[0]));
	for (i = 0; i < nvec; i++)
		if (!vs.failed)
			vec_restart(&vs, &vs.v[i], 1, i);
	free(vs.v);
	r->ops = vs.allocs;
	r->checked = vs.checked;
	return vs.failed ? -1 : 0;
}
