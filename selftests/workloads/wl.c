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
