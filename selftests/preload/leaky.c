// SPDX-License-Identifier: MIT
/*
 * leaky.c - a program that leaks from two call sites, for prof.sh: run
 * under LD_PRELOAD=libbitslab.so with BITSLAB_OPTIONS=prof=1,leaks=1 its
 * heap profile and leak report must name leak_small() and leak_large()
 * with about the bytes they leaked, and not churn(), whose blocks are all
 * freed.
 *
 *   leaky [SIGNAL]    prints the bytes each site leaked; dumps a profile
 *                     with bitslab_prof_dump() (if the allocator has it)
 *                     and raises SIGNAL (if given) before exiting
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_SIZE	1000
#define SMALL_COUNT	32768
#define LARGE_SIZE	(96 << 10)	/* beyond the size classes */
#define LARGE_COUNT	320

/* Exported (the build hides symbols by default), so that -rdynamic puts
 * them where dladdr() finds them. */
#define EXPORTED __attribute__((visibility("default"), noinline))

void leak_small(void);
void leak_large(void);
void churn(void);

static void *volatile sink;

/* Both leaks are kept reachable through sink's chain, so the compiler
 * cannot drop them. */
EXPORTED void leak_small(void)
{
	int i;

	for (i = 0; i < SMALL_COUNT; i++) {
		void **p = malloc(SMALL_SIZE);

		memset(p, 1, SMALL_SIZE);
		p[0] = sink;
		sink = p;
	}
}

EXPORTED void leak_large(void)
{
	int i;

	for (i = 0; i < LARGE_COUNT; i++) {
		void **p = malloc(LARGE_SIZE);

		p[0] = sink;
		sink = p;
	}
}

/* Allocates three times what both leak, and frees all of it. */
EXPORTED void churn(void)
{
	static void *keep[4096];
	int round, i;

	for (round = 0; round < 48; round++) {
		for (i = 0; i < 4096; i++)
			keep[i] = malloc(100 + (i % 7) * 150);
		for (i = 0; i < 4096; i++)
			free(keep[i]);
	}
}

int main(int argc, char **argv)
{
	int (*dump)(const char *) =
		(int (*)(const char *))dlsym(RTLD_DEFAULT, "bitslab_prof_dump");

	churn();
	leak_small();
	leak_large();
	printf("leak_small %ld\nleak_large %ld\n",
	       (long)SMALL_SIZE * SMALL_COUNT, (long)LARGE_SIZE * LARGE_COUNT);
	if (dump && getenv("LEAKY_DUMP"))
		printf("dump %d\n", dump(getenv("LEAKY_DUMP")));
	if (argc > 1)
		raise(atoi(argv[1]));
	return 0;
}
