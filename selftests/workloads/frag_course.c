// SPDX-License-Identifier: MIT
/*
 * frag_course.c - the seed's fragmentation test as the course runs it.
 *
 * RLIMIT_AS is set once, before the first round, to an absolute size for
 * the whole process: libraries, stack, the allocator's own metadata and
 * threads all count.  Then, twice: blocks of the seed generator's sizes (a
 * third 0 - 100 bytes, a third up to 256, a third uniform up to 64 KiB)
 * are allocated until 9 MiB have been asked for, one live block in three
 * being freed on the way so that about 6 MiB are live at once; every
 * block is freed; one 9 MiB block is allocated, filled and freed.
 *
 * Like the course's program, it does not test malloc's result: it writes
 * into every block it gets, so a NULL kills the process with SIGSEGV,
 * which is how the peers fail.  frag.c is the gentler variant with a
 * limit relative to the process's size and checked results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "workloads.h"

#define KiB 1024UL
#define MiB (1024UL * 1024UL)
#define COURSE_TOTAL (9 * MiB)
#define COURSE_BIG (9 * MiB)
#define COURSE_SLOTS 2048

/* The seed generator's sizes: a third each of 0-100, 0-256, 0-64 KiB. */
static size_t course_size(uint64_t *seed)
{
	uint64_t x = wl_rand(seed);

	switch (x % 3) {
	case 0:
		return (size_t)((x >> 8) % 101);
	case 1:
		return (size_t)((x >> 8) % 257);
	default:
		return (size_t)((x >> 8) % (64 * KiB + 1));
	}
}

struct course_slot {
	unsigned char *p;
	size_t size;
};

/* Touch a block at both ends, as a program using it would; a NULL faults. */
static void course_touch(unsigned char *p, size_t size, unsigned char tag)
{
	if (!size)
		return;
	p[0] = tag;
	p[size - 1] = tag;
}

static bool course_intact(const unsigned char *p, size_t size,
			  unsigned char tag)
{
	return !size || (p[0] == tag && p[size - 1] == tag);
}

static int course_round(const struct wl_alloc *a, int round,
			struct course_slot *slot, uint64_t *seed,
			struct wl_result *r)
{
	size_t asked = 0, live = 0, peak = 0;
	unsigned char *big;
	long n = 0, i;
	bool ok = true;

	while (asked < COURSE_TOTAL && n < COURSE_SLOTS) {
		size_t size = course_size(seed);

		slot[n].p = a->malloc(size);
		slot[n].size = size;
		course_touch(slot[n].p, size, (unsigned char)n);
		r->ops++;
		asked += size;
		live += size;
		n++;
		if (live > peak)
			peak = live;
		/* One block in three goes back: about 6 MiB live at once. */
		if (wl_rand(seed) % 3 == 0) {
			i = (long)(wl_rand(seed) % (uint64_t)n);
			if (!course_intact(slot[i].p, slot[i].size,
					   (unsigned char)i))
				ok = false;
			a->free(slot[i].p);
			r->checked++;
			live -= slot[i].size;
			slot[i].p = NULL;
			slot[i].size = 0;
		}
	}
	for (i = 0; i < n; i++) {
		if (!course_intact(slot[i].p, slot[i].size, (unsigned char)i))
			ok = false;
		a->free(slot[i].p);
		r->checked += slot[i].p != NULL;
	}
	if (!ok) {
		wl_fail(r, "round %d: a block lost its contents", round);
		return -1;
	}
	big = a->malloc(COURSE_BIG);
	r->ops++;
	memset(big, round + 1, COURSE_BIG);
	ok = big[0] == round + 1 && big[COURSE_BIG - 1] == round + 1;
	a->free(big);
	if (!ok) {
		wl_fail(r, "round %d: the 9 MiB block lost its contents", round);
		return -1;
	}
	r->best_start = (long)(peak / KiB);	/* reported: peak live KiB */
	return 0;
}

int frag_course_run(const struct wl_alloc *a, size_t limit, int rounds,
		    uint64_t seed, struct wl_result *r)
{
	/* Static: a 32 KiB array on the stack or the heap would count too. */
	static struct course_slot slot[COURSE_SLOTS];
	struct rlimit rl;
	int i;

	memset(r, 0, sizeof(*r));
	if (getrlimit(RLIMIT_AS, &rl)) {
		wl_fail(r, "getrlimit(RLIMIT_AS) failed");
		return -1;
	}
	rl.rlim_cur = limit;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_AS, &rl)) {
		wl_fail(r, "setrlimit(RLIMIT_AS, %zu) failed", limit);
		return -1;
	}
	seed = seed ? seed : 1;
	for (i = 0; i < rounds; i++)
		if (course_round(a, i, slot, &seed, r))
			return -1;
	return 0;
}
