// SPDX-License-Identifier: MIT
/*
 * pair.c - N malloc+free pairs of one size through the PLT, for
 * valgrind --tool=callgrind: the difference between the instruction counts
 * of two runs with different N, divided by the difference of N, is the
 * exact cost of one pair (plus this loop's few instructions), with the
 * start-up and exit of the process cancelled out.
 *
 *   pair SIZE N
 *
 * Two blocks of the size stay live throughout, so the pair never frees the
 * only live block of a chunk or page (which would measure a retire path
 * that programs rarely take).  Built with -fno-builtin so the compiler
 * cannot drop the pair.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	size_t size;
	long n, i;
	void *keep[2];

	if (argc != 3) {
		fputs("usage: pair SIZE N\n", stderr);
		return 2;
	}
	size = strtoul(argv[1], NULL, 0);
	n = strtol(argv[2], NULL, 0);
	keep[0] = malloc(size);
	keep[1] = malloc(size);
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
