// SPDX-License-Identifier: MIT
/*
 * wl.c - helpers shared by the workloads: the first failure's message,
 * starting and joining worker threads, and the block patterns.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

/** wl_fail() - record the first problem of a run in @r->why. */
void wl_fail(struct wl_result *r, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_lock);
	if (!r->why[0]) {
		va_start(ap, fmt);
		vsnprintf(r->why, sizeof(r->why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&fail_lock);
}

/**
 * wl_run_threads() - run @fn(@args + i * @argsize) on @n threads and join
 * them.  A thread that cannot be started ends the program with a message:
 * the workers of a pass wait for each other, so a run cannot go on without
 * one of them.
 */
void wl_run_threads(unsigned int n, void *(*fn)(void *), void *args,
		    size_t argsize)
{
	pthread_t tid[WL_MAX_THREADS];
	unsigned int i;
	int err;

	if (n > WL_MAX_THREADS)
		wl_die("at most %d threads", WL_MAX_THREADS);
	for (i = 0; i < n; i++) {
		err = pthread_create(&tid[i], NULL, fn, (char *)args + i * argsize);
		if (err)
			wl_die("cannot start thread %u: %s", i, strerror(err));
	}
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
}

/** wl_die() - a one-line message on stderr, then exit status 2. */
void wl_die(const char *fmt, ...)
{
	va_list ap;

	fputs("workload: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/*
 * Block patterns: the last word and one word every 512 bytes before it
 * (none overlapping it) carry a value derived from @tag and the offset (blocks under 16 bytes:
 * every byte), so a block that overlaps another, was handed out twice or
 * was written after it was freed fails its check, at a cost that does not
 * drown the allocator in a benchmark.
 */
#define PATTERN_STRIDE 512

static uint64_t pattern_word(uint64_t tag, size_t off)
{
	return (tag ^ off) * 0x9e3779b97f4a7c15ULL;
}

void wl_fill(void *p, size_t n, uint64_t tag)
{
	unsigned char *b = p;
	uint64_t w;
	size_t off;

	if (n < 16) {
		for (off = 0; off < n; off++)
			b[off] = (unsigned char)pattern_word(tag, off);
		return;
	}
	for (off = 0; off + 16 <= n; off += PATTERN_STRIDE) {
		w = pattern_word(tag, off);
		memcpy(b + off, &w, 8);
	}
	w = pattern_word(tag, n - 8);
	memcpy(b + n - 8, &w, 8);
}

/** wl_check() - does @p still hold what wl_fill(@p, @n, @tag) wrote? */
int wl_check(const void *p, size_t n, uint64_t tag)
{
	const unsigned char *b = p;
	uint64_t w;
	size_t off;

	if (n < 16) {
		for (off = 0; off < n; off++)
			if (b[off] != (unsigned char)pattern_word(tag, off))
				return 0;
		return 1;
	}
	for (off = 0; off + 16 <= n; off += PATTERN_STRIDE) {
		memcpy(&w, b + off, 8);
		if (w != pattern_word(tag, off))
			return 0;
	}
	memcpy(&w, b + n - 8, 8);
	return w == pattern_word(tag, n - 8);
}

/**
 * wl_rand_size() - a random size from @lo to @hi, log-uniform in steps of
 * powers of two from 16: about as many blocks under @lo + 16 bytes as
 * from 512 to 1024 bytes above @lo, as programs allocate.
 */
size_t wl_rand_size(uint64_t *seed, size_t lo, size_t hi)
{
	uint64_t x = wl_rand(seed);
	size_t span = hi - lo + 1, lim;
	unsigned int bits = 64 - (unsigned int)__builtin_clzll(span);
	unsigned int k = bits > 4 ? 4 + (unsigned int)(x % (bits - 3)) : bits;

	lim = (size_t)1 << k;
	if (lim > span)
		lim = span;
	return lo + (size_t)((x >> 8) % lim);
}

/**
 * wl_rand_size_mixed() - wl_rand_size(@seed, 16, @max), except that one
 * block in WL_BIG_ODDS is from @max to WL_BIG_FACTOR * @max bytes, as in
 * mimalloc's stress test: the rare big blocks of real programs, which go
 * to an allocator's large-block path.
 */
size_t wl_rand_size_mixed(uint64_t *seed, size_t max)
{
	if (wl_rand(seed) % WL_BIG_ODDS == 0)
		return wl_rand_size(seed, max, WL_BIG_FACTOR * max);
	return wl_rand_size(seed, 16, max);
}

/*
 * Blocks that carry their size in their first word, for workloads that
 * hand bare pointers between threads: the rest of the block has
 * wl_fill()'s pattern, tagged by address and size.
 */

/** wl_block_new() - allocate and fill a block of @size (at least 16) bytes. */
void *wl_block_new(const struct wl_alloc *a, size_t size)
{
	unsigned char *p;

	if (size < 16)
		size = 16;
	p = a->malloc(size);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	wl_fill(p + 8, size - 8, (uintptr_t)p ^ size);
	return p;
}

/**
 * wl_block_free() - check a block made by wl_block_new() and free it.
 * Returns false if its size word is not from 16 to @max_size or its
 * pattern is not intact (the block is freed all the same).
 */
bool wl_block_free(const struct wl_alloc *a, void *p, size_t max_size)
{
	unsigned char *b = p;
	size_t size;
	bool ok;

	memcpy(&size, b, sizeof(size));
	ok = size >= 16 && size <= max_size &&
	     wl_check(b + 8, size - 8, (uintptr_t)b ^ size);
	a->free(p);
	return ok;
}
