// SPDX-License-Identifier: MIT
/*
 * idle.c - a server between bursts: does the memory go back?
 *
 * @threads workers start and make a first allocation each; the resident
 * set is read from /proc/self/statm.  Then the workers allocate a burst of
 * @mib MiB together (small blocks of mixed sizes), and free all of it, each
 * its own blocks and some of a partner's in one
 * random order (@cross percent of them by the partner, the rest by their
 * owner), so with more than one worker part of every chunk comes back from
 * another thread, at the same time as its owner frees the rest.  Then they stay alive and do nothing (blocked on a
 * barrier, as a server blocks in epoll_wait) while the main thread sleeps
 * @sleep_ms and reads the resident set again.  It passes if that is at most
 * @slack_mib MiB above what it was before the burst.  Nobody calls
 * malloc_trim(): the allocator has to give the memory back by itself.
 *
 * The workers' pointer arrays are mapped with mmap and unmapped before the
 * measurement, so that only the allocator's own memory is measured.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "workloads.h"

struct idle {
	const struct wl_alloc *a;
	void **blk[WL_MAX_THREADS];	/* worker i's blocks; see the barriers */
	long nblk[WL_MAX_THREADS];
	unsigned int threads;
	unsigned int cross;		/* percent of blocks a partner frees */
	size_t bytes;			/* burst per worker */
	pthread_barrier_t bar;		/* workers and the main thread */
};

struct idle_worker {
	struct idle *I;
	unsigned int id;
	uint64_t seed;
	uint64_t made, checked;
	bool bad, oom;
};

#define IDLE_MAX_SIZE 8192

/** idle_rss_kib() - the resident set now, from /proc/self/statm, in KiB. */
long idle_rss_kib(void)
{
	char buf[128];
	long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld %ld", &size, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Mostly small sizes, one in four up to IDLE_MAX_SIZE. */
static size_t idle_size(uint64_t *seed)
{
	if (wl_rand(seed) % 4)
		return wl_rand_size(seed, 16, 256);
	return wl_rand_size(seed, 256, IDLE_MAX_SIZE);
}

/* Is block @k of each array freed by the partner rather than its owner?
 * The same answer for every array, so each block is freed exactly once. */
static bool idle_cross(const struct idle *I, long k)
{
	uint64_t x = (uint64_t)k * 0x9e3779b97f4a7c15ULL;

	return (x >> 32) % 100 < I->cross;
}

static void *idle_worker(void *arg)
{
	struct idle_worker *w = arg;
	struct idle *I = w->I;
	size_t cap = I->bytes / 16 + 1, got = 0, len = cap * sizeof(void *);
	uint64_t seed = w->seed;
	void **own, **other, *p;
	long n = 0, j;
	unsigned int d = I->threads > 1 ? 1 : 0;

	/* A first allocation: the thread's heap exists before the baseline. */
	p = I->a->malloc(64);
	I->a->free(p);
	own = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (own == MAP_FAILED) {
		own = NULL;
		w->oom = true;
	}
	pthread_barrier_wait(&I->bar);		/* 1: main reads the baseline */
	pthread_barrier_wait(&I->bar);		/* 2: burst */
	while (own && got < I->bytes && (size_t)n < cap) {
		size_t sz = idle_size(&seed);

		own[n] = wl_block_new(I->a, sz);
		if (!own[n]) {
			w->oom = true;
			break;
		}
		got += sz;
		n++;
	}
	I->blk[w->id] = own;
	I->nblk[w->id] = n;
	w->made = (uint64_t)n;
	pthread_barrier_wait(&I->bar);		/* 3: all full; main reads peak */
	other = I->blk[(w->id + d) % I->threads];
	if (other) {
		long m = I->nblk[(w->id + d) % I->threads];
		long top = m > n ? m : n;

		/* One random pass over indices: odd ones of mine, even ones
		 * of my partner's (all mine when alone). */
		for (j = 0; j < 2 * top; j++) {
			long k = (long)(wl_rand(&seed) % (uint64_t)top);
			void **s;

			if (d && idle_cross(I, k))
				s = k < m ? &other[k] : NULL;
			else
				s = k < n ? &own[k] : NULL;
			if (!s || !*s)
				continue;
			if (!wl_block_free(I->a, *s, IDLE_MAX_SIZE))
				w->bad = true;
			w->checked++;
			*s = NULL;
		}
		/* What the random pass missed, in order. */
		for (j = 0; j < top; j++) {
			void **s;

			if (d && idle_cross(I, j))
				s = j < m ? &other[j] : NULL;
			else
				s = j < n ? &own[j] : NULL;
			if (!s || !*s)
				continue;
			if (!wl_block_free(I->a, *s, IDLE_MAX_SIZE))
				w->bad = true;
			w->checked++;
			*s = NULL;
		}
	}
	pthread_barrier_wait(&I->bar);		/* 4: everything freed */
	if (own)
		munmap(own, len);
	pthread_barrier_wait(&I->bar);		/* 5: arrays gone; idle */
	pthread_barrier_wait(&I->bar);		/* 6: main has measured */
	return NULL;
}

static void idle_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

/*
 * idle_run() - see the top of the file.  r->best_start is the resident set
 * before the burst and r->best_steps after the idle time, in KiB; the
 * resident set at the burst's peak goes to *@peak_kib.
 */
int idle_run(const struct wl_alloc *a, unsigned int threads, long mib,
	     long sleep_ms, long slack_mib, unsigned int cross, uint64_t seed,
	     struct wl_result *r, long *peak_kib)
{
	struct idle *I = calloc(1, sizeof(*I));
	struct idle_worker *w = calloc(threads ? threads : 1, sizeof(*w));
	pthread_t tid[WL_MAX_THREADS];
	unsigned int i;
	long before, after;
	bool bad = false, oom = false;

	memset(r, 0, sizeof(*r));
	if (!I || !w || threads < 1 || threads > WL_MAX_THREADS) {
		wl_fail(r, "bad arguments or out of memory");
		free(I);
		free(w);
		return -1;
	}
	I->a = a;
	I->threads = threads;
	I->cross = cross > 100 ? 100 : cross;
	I->bytes = ((size_t)mib << 20) / threads;
	pthread_barrier_init(&I->bar, NULL, threads + 1);
	for (i = 0; i < threads; i++) {
		w[i] = (struct idle_worker){ .I = I, .id = i,
					     .seed = seed * 7919 + i + 1 };
		if (pthread_create(&tid[i], NULL, idle_worker, &w[i]))
			wl_die("cannot start thread %u", i);
	}
	pthread_barrier_wait(&I->bar);		/* 1 */
	before = idle_rss_kib();
	pthread_barrier_wait(&I->bar);		/* 2 */
	pthread_barrier_wait(&I->bar);		/* 3 */
	*peak_kib = idle_rss_kib();
	pthread_barrier_wait(&I->bar);		/* 4 */
	pthread_barrier_wait(&I->bar);		/* 5 */
	idle_sleep_ms(sleep_ms);
	after = idle_rss_kib();
	pthread_barrier_wait(&I->bar);		/* 6 */
	for (i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		r->ops += w[i].made;
		r->checked += w[i].checked;
		bad |= w[i].bad;
		oom |= w[i].oom;
	}
	pthread_barrier_destroy(&I->bar);
	free(I);
	free(w);
	r->best_start = before;
	r->best_steps = after;
	if (oom)
		wl_fail(r, "out of memory");
	else if (bad)
		wl_fail(r, "a block's contents changed while it was allocated");
	else if (r->checked != r->ops)
		wl_fail(r, "%llu blocks made, %llu freed",
			(unsigned long long)r->ops,
			(unsigned long long)r->checked);
	else if (before < 0 || after < 0)
		wl_fail(r, "cannot read /proc/self/statm");
	else if (after > before + slack_mib * 1024)
		wl_fail(r, "resident %.1f MiB after %ld ms idle, %.1f MiB before the burst (at most %ld MiB more allowed)",
			after / 1024.0, sleep_ms, before / 1024.0, slack_mib);
	return r->why[0] ? -1 : 0;
}
