// SPDX-License-Identifier: MIT
/*
 * check_link.c - linked with -lbitslab: the process's malloc family is
 * libbitslab.so's without any LD_PRELOAD, and what a user sees of bitslab
 * from the environment works: BITSLAB_OPTIONS warns once per bad item,
 * naming it, and is silent for good ones; BITSLAB_STATS=1 and
 * malloc_stats() print a summary.  The environment cases re-execute this
 * program with CHECK_LINK_CHILD set and read what it writes on stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *defined_in(const char *name)
{
	void *sym = dlsym(RTLD_DEFAULT, name);
	Dl_info info;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "(nowhere)";
	return info.dli_fname;
}

/* The child's work: allocate (so that bitslab starts and reads its
 * environment), optionally call malloc_stats(), exit normally. */
__attribute__((constructor)) static void child(void)
{
	const char *mode = getenv("CHECK_LINK_CHILD");
	void *p[100];
	int i;

	if (!mode)
		return;
	for (i = 0; i < 100; i++)
		p[i] = malloc((size_t)i * 40 + 1);
	for (i = 0; i < 100; i++)
		free(p[i]);
	if (!strcmp(mode, "malloc_stats"))
		malloc_stats();
	exit(0);
}

/* Run this program as a child with @var=@val; its stderr into @out. */
static void run_child(const char *mode, const char *var, const char *val,
		      char *out, size_t size)
{
	int fds[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		unsetenv("BITSLAB_OPTIONS");
		unsetenv("BITSLAB_STATS");
		setenv("CHECK_LINK_CHILD", mode, 1);
		if (var)
			setenv(var, val, 1);
		execl("/proc/self/exe", "check_link", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (len < size - 1 &&
	       (n = read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %#x, stderr '%s'", status, out);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_link_malloc_is_bitslab)
{
	static const char *const names[] = {
		"malloc", "free", "calloc", "realloc", "aligned_alloc",
		"posix_memalign", "malloc_usable_size", "malloc_stats",
	};
	size_t (*usable)(const void *) = (size_t (*)(const void *))
		dlsym(RTLD_DEFAULT, "bitslab_usable_size");
	size_t i;
	void *p;

	ck_assert_ptr_eq(getenv("LD_PRELOAD"), NULL);
	for (i = 0; i < ARRAY_SIZE(names); i++)
		ck_assert_msg(strstr(defined_in(names[i]), "libbitslab.so"),
			      "%s comes from %s", names[i],
			      defined_in(names[i]));
	ck_assert_ptr_nonnull(usable);
	p = malloc(100);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(malloc_usable_size(p), 100);
	ck_assert_uint_eq(malloc_usable_size(p), usable(p));
	free(p);
}
END_TEST

START_TEST(test_link_options_warn_once_naming_the_item)
{
	static const struct {
		const char *options, *named;
	} bad[] = {
		{ "bogus=1", "'bogus'" },
		{ "chunk_cache=x", "'chunk_cache=x'" },
		{ "bin_scale=5", "'bin_scale=5'" },	/* out of range */
		{ "retire_batch", "'retire_batch'" },	/* no value */
	};
	char out[4096];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		run_child("options", "BITSLAB_OPTIONS", bad[i].options, out,
			  sizeof(out));
		ck_assert_msg(count_lines(out) == 1 &&
			      !strncmp(out, "bitslab: ", 9) &&
			      strstr(out, bad[i].named),
			      "BITSLAB_OPTIONS=%s: stderr '%s'", bad[i].options,
			      out);
	}
	/* One line per bad item, good items among them silent. */
	run_child("options", "BITSLAB_OPTIONS",
		  "retire_batch=16,bogus=1,empty_keep=1,chunk_cache=x", out,
		  sizeof(out));
	ck_assert_msg(count_lines(out) == 2 && strstr(out, "'bogus'") &&
		      strstr(out, "'chunk_cache=x'"), "stderr '%s'", out);
	run_child("options", "BITSLAB_OPTIONS",
		  "retire_batch=16,empty_keep=2,bin_scale=100", out,
		  sizeof(out));
	ck_assert_msg(out[0] == 0, "good options: stderr '%s'", out);
}
END_TEST

/* A summary: a "bitslab <version> statistics" title, then a line saying
 * how much is mapped now, with a number. */
static void assert_stats_sane(const char *out, const char *how)
{
	const char *mapped = strstr(out, "mapped now");
	double mib = -1;

	ck_assert_msg(!strncmp(out, "bitslab ", 8) &&
		      strstr(out, "statistics\n"), "%s: stderr '%s'", how, out);
	ck_assert_msg(mapped && sscanf(mapped + 10, "%lf", &mib) == 1 &&
		      mib > 0 && mib < 1024,
		      "%s: no sane 'mapped now' figure in '%s'", how, out);
	ck_assert_msg(count_lines(out) >= 5, "%s: only '%s'", how, out);
}

START_TEST(test_link_stats_printed)
{
	char out[16384];

	run_child("quiet", NULL, NULL, out, sizeof(out));
	ck_assert_msg(out[0] == 0, "no statistics asked: stderr '%s'", out);
	run_child("quiet", "BITSLAB_STATS", "1", out, sizeof(out));
	assert_stats_sane(out, "BITSLAB_STATS=1");
	run_child("quiet", "BITSLAB_OPTIONS", "stats=1", out, sizeof(out));
	assert_stats_sane(out, "BITSLAB_OPTIONS=stats=1");
	run_child("malloc_stats", NULL, NULL, out, sizeof(out));
	assert_stats_sane(out, "malloc_stats()");
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("link");
	TCase *tc = tcase_create("-lbitslab");

	if (!strstr(defined_in("malloc"), "libbitslab.so")) {
		fprintf(stderr, "check_link: FAIL: malloc comes from %s, not "
			"libbitslab.so\n", defined_in("malloc"));
		exit(EXIT_FAILURE);
	}
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_link_malloc_is_bitslab);
	tcase_add_test(tc, test_link_options_warn_once_naming_the_item);
	tcase_add_test(tc, test_link_stats_printed);
	suite_add_tcase(s, tc);
	return s;
}
