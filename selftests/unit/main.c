// SPDX-License-Identifier: MIT
/*
 * main.c - runner shared by every Check suite binary: runs check_suite()
 * with Check's forking runner (a crash is a failure, not a hang) and exits
 * non-zero if any test failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

static pthread_barrier_t start_line;

void start_line_init(unsigned int n)
{
	pthread_barrier_init(&start_line, NULL, n);
}

void start_line_wait(void)
{
	pthread_barrier_wait(&start_line);
}

void run_threads(unsigned int n, void *(*fn)(void *), void *args,
		 size_t argsize)
{
	pthread_t tid[64];
	unsigned int i;

	ck_assert_uint_le(n, 64);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, fn,
						(char *)args + i * argsize), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
}

void kernel_mem_read(struct kernel_mem *m)
{
	unsigned long size = 0, resident = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_msg(f, "cannot open /proc/self/statm");
	ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	m->mapped = size * (size_t)page;
	m->rss = resident * (size_t)page;
}

int main(void)
{
	SRunner *sr = srunner_create(check_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
