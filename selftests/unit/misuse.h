/* SPDX-License-Identifier: MIT */
/*
 * misuse.h - run a case of heap misuse in a child process and check that
 * it died the way the design says: SIGABRT after exactly one line on
 * stderr, "bitslab: <what> of 0x...".  Shared by the suites that test
 * misuse (check_misuse.c, check_shared.c).
 */
#ifndef SELFTESTS_MISUSE_H
#define SELFTESTS_MISUSE_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

/* Run @fn in a child; return its stderr in @out and its wait status. */
static inline int run_child(void (*fn)(void), char *out, size_t outsz)
{
	int fds[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		fn();
		_exit(0);	/* misuse went unnoticed */
	}
	close(fds[1]);
	while ((n = read(fds[0], out + got, outsz - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = 0;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* The child must abort with exactly one line containing @what. */
static inline void expect_abort(void (*fn)(void), const char *what)
{
	char out[1024];
	int status = run_child(fn, out, sizeof(out));
	char *nl = strchr(out, '\n');

	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		      "expected abort() for '%s', got status %#x, stderr '%s'",
		      what, status, out);
	ck_assert_msg(strncmp(out, "bitslab: ", 9) == 0 && strstr(out, what),
		      "expected 'bitslab: %s', got '%s'", what, out);
	ck_assert_msg(nl && nl[1] == 0, "more than one line: '%s'", out);
	ck_assert_msg(strstr(out, " of 0x"), "no pointer in '%s'", out);
}

/*
 * A build with CONFIG_MISUSE_CHECKS=n (Makefile) leaves out the checks of
 * small blocks: double free, interior pointer, write after free.  A case
 * that needs them is not run there; it is named as skipped instead, so
 * that the suite's pass does not claim it.  Cases of large blocks and of
 * foreign pointers, which those builds still catch, stay plain tests.
 */
#define tcase_add_checked_test(tc, fn) add_checked_test((tc), (fn), #fn)

static inline void add_checked_test(TCase *tc, const TTest *fn,
				    const char *name)
{
	if (MISUSE_CHECKS) {
		tcase_add_test(tc, fn);
		return;
	}
	printf("SKIP %s: built without the misuse checks "
	       "(CONFIG_MISUSE_CHECKS=n)\n", name);
}

#endif /* SELFTESTS_MISUSE_H */
