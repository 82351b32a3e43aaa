// SPDX-License-Identifier: MIT
/*
 * pair.c - N malloc+free pairs of one size through the PLT, for
 * valgrind --tool=callgrind: the difference between the instruction counts
 * of two runs with different N, divided by the difference of N, is the
 * exact cost of one pair (plus this loop's few instructions), with the
 * start-up and exit of the process cancelled out.
 *
 *   pair SIZE N [BURST]
 *
 * Two blocks of the size stay live throughout, so the pair never frees the
 * only live block of a chunk or page (which would measure a retire path
 * that programs rarely take).  Built with -fno-builtin so the compiler
 * cannot drop the pair.
 *
 * With BURST, the N pairs come in rounds of BURST: BURST blocks
 * allocated, then freed in a random order (the same every round), as a
 * program frees a data structure: the cost of refills and of a free storm
 * (Documentation/design.rst).  N should be a multiple of BURST.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* @n pairs in rounds of @burst, freed in a shuffled order. */
static int bursts(size_t size, long n, long burst)
{
	void **p = calloc((size_t)burst, sizeof(*p));
	long *order = calloc((size_t)burst, sizeof(*order));
	uint64_t x = 88172645463325252ULL;
	long i, r;

	if (!p || !order)
		return 1;
	for (i = 0; i < burst; i++)
		order[i] = i;
	for (i = burst - 1; i > 0; i--) {
		long k, t;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = (long)(x % (uint64_t)(i + 1));
		t = order[i];
		order[i] = order[k];
		order[k] = t;
	}
	for (r = 0; r < n / burst; r++) {
		for (i = 0; i < burst; i++) {
			p[i] = malloc(size);
			__asm__ volatile("" : : "r"(p[i]) : "memory");
		}
		for (i = 0; i < burst; i++)
			free(p[order[i]]);
	}
	free(order);
	free(p);
	return 0;
}

int main(int argc, char **argv)
{
	size_t size;
	long n, i, burst = 0;
	void *keep[2];

	if (argc != 3 && argc != 4) {
		fputs("usage: pair SIZE N [BURST]\n", stderr);
		return 2;
	}
	size = strtoul(argv[1], NULL, 0);
	n = strtol(argv[2], NULL, 0);
	if (argc == 4) {
		burst = strtol(argv[3], NULL, 0);
		if (burst <= 0 || n < burst || n % burst) {
			fputs("pair: N must be a multiple of BURST\n", stderr);
			return 2;
		}
	}
	keep[0] = malloc(size);
	keep[1] = malloc(size);
	if (burst > 0) {
		int rc = bursts(size, n, burst);

		free(keep[0]);
		free(keep[1]);
		return rc;
	}
	for (i = 0; i < n; i++) {
		void *p = malloc(size);

		/* An empty asm that claims to read and write p: the pair
		 * cannot be elided, and nothing else is added. */
		__asm__ volatile("" : "+r"(p) : : "memory");
		free(p);
	}
	free(keep[0]);
	free(keep[1]);
	return 0;
}
