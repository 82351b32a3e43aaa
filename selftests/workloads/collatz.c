// SPDX-License-Identifier: MIT
/*
 * collatz.c - the seed's Collatz searches: every start value 1..n keeps its
 * sequence so far, as a linked list of 16-byte cells or as a growable vector
 * of longs, and is extended by up to STEPS_PER_TURN steps per turn.
 *
 * Work goes in passes.  In each pass the workers take the unfinished values
 * one at a time from a shared counter; a turn copies the value's sequence,
 * extends the copy and frees the old one, checking every element of it.
 * Which thread takes a value next pass is chance, so most frees are remote
 * frees.  A last pass checks every finished sequence, keeps each worker's
 * longest, and frees it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#define STEPS_PER_TURN 50

struct cell {
	long val;
	struct cell *next;	/* the value before this one, or NULL */
};

/* A list is kept newest first: head->val is the current value. */
struct list_slot {
	struct cell *head;
	bool done;		/* head->val is 1 */
};

/* A vector is kept in order: data[len - 1] is the current value. */
struct vec_slot {
	long *data;
	long len, cap;
	bool done;		/* data[len - 1] is 1 */
};

struct search;

struct search_ops {
	size_t slot_size;
	bool (*done)(void *slot);
	/* One turn; false if out of memory or a sequence was wrong. */
	bool (*turn)(struct search *s, void *slot, long start);
	/* Check and free a finished sequence; its steps, or -1 if wrong. */
	long (*finish)(struct search *s, void *slot, long start);
};

struct search {
	const struct wl_alloc *a;
	const struct search_ops *ops;
	long n;
	char *slots;
	_Atomic long next;	/* next index of this pass */
	_Atomic long turns;	/* turns taken this pass */
	_Atomic bool stop;	/* set by the serial thread between passes */
	_Atomic bool failed;
	pthread_barrier_t bar;
	struct wl_result *r;
	_Atomic uint64_t ops_count, checked;
};

struct worker {
	struct search *s;
	long best_start, best_steps;
};

static void *slot_at(struct search *s, long i)
{
	return s->slots + (size_t)i * s->ops->slot_size;
}

static void search_fail(struct search *s, const char *why, long start)
{
	wl_fail(s->r, "%s (start value %ld)", why, start);
	s->failed = true;
}

/* ---- linked lists ---- */

static struct cell *cell_new(struct search *s, long val, struct cell *next)
{
	struct cell *c = s->a->malloc(sizeof(*c));

	if (c) {
		c->val = val;
		c->next = next;
	}
	return c;
}

/*
 * Free list @head of start value @start, checking that each cell follows
 * from the one before it and that the oldest is @start.  Return: its number
 * of cells, or -1 if it was wrong (it is freed anyway).
 */
static long list_free_checked(struct search *s, struct cell *head, long start)
{
	long len = 0;
	bool ok = true;

	while (head) {
		struct cell *prev = head->next;

		if (prev ? head->val != collatz_next(prev->val) :
			   head->val != start)
			ok = false;
		s->a->free(head);
		head = prev;
		len++;
	}
	atomic_fetch_add_explicit(&s->checked, (uint64_t)len,
				  memory_order_relaxed);
	return ok ? len : -1;
}

static bool list_done(void *slot)
{
	return ((struct list_slot *)slot)->done;
}

static bool list_turn(struct search *s, void *slot, long start)
{
	struct list_slot *l = slot;
	struct cell *old = l->head, *copy = NULL, **tail = &copy, *c;
	uint64_t made = 0;
	long x;
	int k;

	if (!old) {
		copy = cell_new(s, start, NULL);
		made++;
		if (!copy)
			goto oom;
	}
	/* Copy, oldest last as in the original. */
	for (c = old; c; c = c->next) {
		struct cell *d = cell_new(s, c->val, NULL);

		made++;
		if (!d)
			goto oom;
		*tail = d;
		tail = &d->next;
	}
	x = copy->val;
	for (k = 0; k < STEPS_PER_TURN && x != 1; k++) {
		struct cell *d;

		x = collatz_next(x);
		d = cell_new(s, x, copy);
		made++;
		if (!d)
			goto oom;
		copy = d;
	}
	l->head = copy;
	l->done = x == 1;
	atomic_fetch_add_explicit(&s->ops_count, made, memory_order_relaxed);
	if (old && list_free_checked(s, old, start) < 0) {
		search_fail(s, "list cell lost its value", start);
		return false;
	}
	return true;
oom:
	search_fail(s, "out of memory", start);
	return false;
}

static long list_finish(struct search *s, void *slot, long start)
{
	struct list_slot *l = slot;
	long len = list_free_checked(s, l->head, start);

	l->head = NULL;
	l->done = false;
	return len < 0 ? -1 : len - 1;
}

static const struct search_ops list_ops = {
	.slot_size = sizeof(struct list_slot),
	.done = list_done,
	.turn = list_turn,
	.finish = list_finish,
};

/* ---- vectors ---- */

static bool vec_valid(const struct vec_slot *v, long start)
{
	long i;

	if (v->len < 1 || v->data[0] != start)
		return false;
	for (i = 1; i < v->len; i++)
		if (v->data[i] != collatz_next(v->data[i - 1]))
			return false;
	return true;
}

static bool vec_done(void *slot)
{
	return ((struct vec_slot *)slot)->done;
}

static bool vec_turn(struct search *s, void *slot, long start)
{
	struct vec_slot *v = slot, copy;
	uint64_t made = 1;
	long x;
	int k;

	if (!v->data) {
		copy = (struct vec_slot){ NULL, 1, 4, false };
		copy.data = s->a->malloc((size_t)copy.cap * sizeof(long));
		if (!copy.data)
			goto oom;
		copy.data[0] = start;
	} else {
		copy = *v;
		copy.data = s->a->malloc((size_t)copy.cap * sizeof(long));
		if (!copy.data)
			goto oom;
		memcpy(copy.data, v->data, (size_t)v->len * sizeof(long));
	}
	x = copy.data[copy.len - 1];
	for (k = 0; k < STEPS_PER_TURN && x != 1; k++) {
		if (copy.len == copy.cap) {
			long *d = s->a->realloc(copy.data, (size_t)copy.cap * 2 *
							   sizeof(long));

			made++;
			if (!d)
				goto oom;
			copy.data = d;
			copy.cap *= 2;
		}
		copy.data[copy.len++] = x = collatz_next(x);
	}
	atomic_fetch_add_explicit(&s->ops_count, made, memory_order_relaxed);
	if (v->data) {
		bool ok = vec_valid(v, start);

		atomic_fetch_add_explicit(&s->checked, 1, memory_order_relaxed);
		s->a->free(v->data);
		if (!ok) {
			*v = copy;
			search_fail(s, "vector element lost its value", start);
			return false;
		}
	}
	*v = copy;
	v->done = x == 1;
	return true;
oom:
	search_fail(s, "out of memory", start);
	return false;
}

static long vec_finish(struct search *s, void *slot, long start)
{
	struct vec_slot *v = slot;
	bool ok = vec_valid(v, start);
	long steps = v->len - 1;

	atomic_fetch_add_explicit(&s->checked, 1, memory_order_relaxed);
	s->a->free(v->data);
	v->data = NULL;
	v->done = false;
	return ok ? steps : -1;
}

static const struct search_ops vec_ops = {
	.slot_size = sizeof(struct vec_slot),
	.done = vec_done,
	.turn = vec_turn,
	.finish = vec_finish,
};

/* ---- the passes ---- */

/* Between passes: one thread decides whether another pass is needed. */
static bool search_pass_end(struct search *s)
{
	if (pthread_barrier_wait(&s->bar) == PTHREAD_BARRIER_SERIAL_THREAD) {
		s->stop = s->failed || s->turns == 0;
		s->next = 0;
		s->turns = 0;
	}
	pthread_barrier_wait(&s->bar);
	return s->stop;
}

static void *search_worker(void *arg)
{
	struct worker *w = arg;
	struct search *s = w->s;
	long i;

	do {
		long turns = 0;

		while ((i = atomic_fetch_add(&s->next, 1)) < s->n) {
			void *slot = slot_at(s, i);

			if (s->failed)
				break;
			if (s->ops->done(slot))
				continue;
			if (!s->ops->turn(s, slot, i + 1))
				break;
			turns++;
		}
		s->turns += turns;
	} while (!search_pass_end(s));

	/* Last pass: check, keep the longest, free. */
	while ((i = atomic_fetch_add(&s->next, 1)) < s->n) {
		void *slot = slot_at(s, i);
		long steps;

		if (!s->ops->done(slot))
			continue;	/* a failed run: leave it */
		steps = s->ops->finish(s, slot, i + 1);
		if (steps < 0)
			search_fail(s, "finished sequence is wrong", i + 1);
		else if (steps > w->best_steps ||
			 (steps == w->best_steps && i + 1 < w->best_start)) {
			w->best_steps = steps;
			w->best_start = i + 1;
		}
	}
	return NULL;
}

static int search_run(const struct wl_alloc *a, const struct search_ops *ops,
		      long n, unsigned int threads, struct wl_result *r)
{
	struct search s = { .a = a, .ops = ops, .n = n, .r = r };
	struct worker *w;
	unsigned int i;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (n < 1 || threads < 1 || threads > WL_MAX_THREADS) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	s.slots = a->malloc((size_t)n * ops->slot_size);
	w = calloc(threads, sizeof(*w));
	if (!s.slots || !w) {
		wl_fail(r, "out of memory for %ld slots", n);
		goto out;
	}
	memset(s.slots, 0, (size_t)n * ops->slot_size);
	pthread_barrier_init(&s.bar, NULL, threads);
	for (i = 0; i < threads; i++)
		w[i] = (struct worker){ &s, 0, -1 };
	wl_run_threads(threads, search_worker, w, sizeof(*w));
	r->best_steps = -1;
	for (i = 0; i < threads; i++)
		if (w[i].best_steps > r->best_steps ||
		    (w[i].best_steps == r->best_steps &&
		     w[i].best_start < r->best_start)) {
			r->best_steps = w[i].best_steps;
			r->best_start = w[i].best_start;
		}
	r->ops = s.ops_count;
	r->checked = s.checked;
	ret = s.failed ? -1 : 0;
	pthread_barrier_destroy(&s.bar);
out:
	if (!s.failed)
		a->free(s.slots);
	free(w);
	return ret;
}

/**
 * collatz_longest() - the longest sequence among start values 1..@n, found
 * the plain way, without allocating: what a search must arrive at.
 */
void collatz_longest(long n, long *start, long *steps)
{
	long i, x, k;

	*start = 1;
	*steps = 0;
	for (i = 1; i <= n; i++) {
		for (x = i, k = 0; x != 1; k++)
			x = collatz_next(x);
		if (k > *steps) {
			*steps = k;
			*start = i;
		}
	}
}

int collatz_list_run(const struct wl_alloc *a, long n, unsigned int threads,
		     struct wl_result *r)
{
	return search_run(a, &list_ops, n, threads, r);
}

int collatz_ivec_run(const struct wl_alloc *a, long n, unsigned int threads,
		     struct wl_result *r)
{
	return search_run(a, &vec_ops, n, threads, r);
}
