// SPDX-License-Identifier: MIT
/*
 * frag.c - the seed's fragmentation test.  Under an address-space limit a
 * few MiB above what the process uses at the start (once its allocator has
 * served one block), each round fills up to
 * 9 MiB with small blocks of mixed sizes, frees every other block and then
 * the rest, and asks for one 9 MiB block.  Both together do not fit under
 * the limit: the round passes only if the allocator gave the small blocks'
 * memory back to the system (or reuses it for the big block).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "workloads.h"

#define MiB (1024UL * 1024UL)
#define BIG (9 * MiB)

struct fblock {
	struct fblock *next;
	size_t size;
};

/* The process's address-space size now, read without allocating. */
static size_t vm_size(void)
{
	char buf[128];
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoul(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

/* Free list @b, checking each block; return false if one was wrong. */
static bool free_chain(const struct wl_alloc *a, struct fblock *b,
		       struct wl_result *r)
{
	bool ok = true;

	while (b) {
		struct fblock *next = b->next;

		if (!wl_check(b + 1, b->size - sizeof(*b), (uintptr_t)b))
			ok = false;
		a->free(b);
		r->checked++;
		b = next;
	}
	return ok;
}

static int frag_round(const struct wl_alloc *a, int round, uint64_t *seed,
		      struct wl_result *r)
{
	/* Mixed small sizes, a different range each round. */
	static const size_t max_size[] = { 64, 512, 4096, 256, 2048, 32768,
					   128, 1024 };
	size_t top = max_size[round % 8], total = BIG - (size_t)(round % 3) * MiB;
	size_t got = 0;
	struct fblock *chain[2] = { NULL, NULL };
	unsigned long k = 0;
	unsigned char *big;
	bool ok;

	while (got < total) {
		size_t size = sizeof(struct fblock) +
			      wl_rand(seed) % (top - sizeof(struct fblock) + 1);
		struct fblock *b;

		if (size > total - got)
			size = total - got < sizeof(*b) ? sizeof(*b) : total - got;
		b = a->malloc(size);
		r->ops++;
		if (!b) {
			wl_fail(r, "round %d: malloc(%zu) failed after %.1f MiB of small blocks",
				round, size, (double)got / MiB);
			free_chain(a, chain[0], r);
			free_chain(a, chain[1], r);
			return -1;
		}
		b->size = size;
		wl_fill(b + 1, size - sizeof(*b), (uintptr_t)b);
		b->next = chain[k & 1];
		chain[k++ & 1] = b;
		got += size;
	}
	ok = free_chain(a, chain[1], r);
	ok &= free_chain(a, chain[0], r);
	if (!ok) {
		wl_fail(r, "round %d: a small block lost its contents", round);
		return -1;
	}
	big = a->malloc(BIG);
	r->ops++;
	if (!big) {
		wl_fail(r, "round %d: the 9 MiB block failed after the small ones were freed",
			round);
		return -1;
	}
	memset(big, round + 1, BIG);
	ok = big[0] == round + 1 && big[BIG - 1] == round + 1;
	a->free(big);
	if (!ok) {
		wl_fail(r, "round %d: the 9 MiB block lost its contents", round);
		return -1;
	}
	return 0;
}

int frag_run(const struct wl_alloc *a, long limit_mib, int rounds,
	     uint64_t seed, struct wl_result *r)
{
	struct rlimit rl;
	size_t start;
	int i;

	memset(r, 0, sizeof(*r));
	/* The process at its start has an allocator that has served a
	 * block: what that first block maps is not what the test measures. */
	a->free(a->malloc(64));
	start = vm_size();
	if (!start || limit_mib < 1) {
		wl_fail(r, "cannot read the process size (/proc/self/statm)");
		return -1;
	}
	getrlimit(RLIMIT_AS, &rl);
	rl.rlim_cur = start + (size_t)limit_mib * MiB;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < rl.rlim_cur)
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_AS, &rl)) {
		wl_fail(r, "setrlimit(RLIMIT_AS) failed");
		return -1;
	}
	seed = seed ? seed : 1;
	for (i = 0; i < rounds; i++)
		if (frag_round(a, i, &seed, r))
			return -1;
	return 0;
}
