// SPDX-License-Identifier: MIT
/*
 * check_preload.c - run under LD_PRELOAD=libbitslab.so: every function of
 * the malloc family glibc's manual asks a replacement for is bitslab's,
 * blocks from each can be freed through every path that applies to them,
 * glibc's own functions that allocate (strdup, reallocarray, asprintf, ...)
 * hand out bitslab blocks, errno matches glibc 2.36, and misuse through the
 * standard names aborts with one line.  Not preloaded, it fails: it is only
 * ever run to test the preloaded library, and a preload that silently did
 * not happen must not pass.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* C23, exported by libbitslab.so, not yet by glibc 2.36: found at run time. */
static void (*free_sized)(void *ptr, size_t size);
static void (*free_aligned_sized)(void *ptr, size_t align, size_t size);

/* The malloc family a replacement defines (glibc manual, "Replacing malloc"). */
static const char *const family[] = {
	"malloc", "free", "calloc", "realloc", "aligned_alloc", "memalign",
	"posix_memalign", "valloc", "pvalloc", "malloc_usable_size",
	"free_sized", "free_aligned_sized", "malloc_trim", "malloc_stats",
	"mallinfo2",
};

/* The object file that defines @name as this process resolves it. */
static const char *defined_in(const char *name)
{
	void *sym = dlsym(RTLD_DEFAULT, name);
	Dl_info info;

	if (!sym || !dladdr(sym, &info) || !info.dli_fname)
		return "(nowhere)";
	return info.dli_fname;
}

static int from_bitslab(const char *name)
{
	return strstr(defined_in(name), "libbitslab") != NULL;
}

START_TEST(test_preload_malloc_is_bitslab)
{
	size_t (*usable)(const void *) = (size_t (*)(const void *))
		dlsym(RTLD_DEFAULT, "bitslab_usable_size");
	size_t sizes[] = { 1, 17, 100, 5000, 1 << 20 }, i;

	for (i = 0; i < ARRAY_SIZE(family); i++)
		ck_assert_msg(from_bitslab(family[i]), "%s comes from %s",
			      family[i], defined_in(family[i]));
	/* glibc's own, calling ours (replacing them is unsupported). */
	ck_assert_msg(!from_bitslab("strdup"), "strdup from %s",
		      defined_in("strdup"));
	ck_assert_msg(!from_bitslab("reallocarray"), "reallocarray from %s",
		      defined_in("reallocarray"));
	/* malloc's blocks are bitslab's: the prefixed API sees them alike. */
	ck_assert_ptr_nonnull(usable);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		void *p = malloc(sizes[i]);

		ck_assert_ptr_nonnull(p);
		ck_assert_uint_ge(malloc_usable_size(p), sizes[i]);
		ck_assert_uint_eq(malloc_usable_size(p), usable(p));
		free(p);
	}
}
END_TEST

typedef void *(*alloc_fn)(size_t n);

static void *via_malloc(size_t n) { return malloc(n); }
static void *via_calloc(size_t n) { return calloc(1, n); }
static void *via_realloc(size_t n) { return realloc(NULL, n); }
static void *via_memalign(size_t n) { return memalign(64, n); }
static void *via_aligned_alloc(size_t n) { return aligned_alloc(32, n); }
static void *via_valloc(size_t n) { return valloc(n); }
static void *via_pvalloc(size_t n) { return pvalloc(n); }
static void *via_reallocarray(size_t n) { return reallocarray(NULL, n, 1); }

static void *via_posix_memalign(size_t n)
{
	void *p = NULL;

	return posix_memalign(&p, 128, n) ? NULL : p;
}

static void *via_strdup(size_t n)
{
	char *s = malloc(n + 1), *d;

	memset(s, 'x', n);
	s[n] = 0;
	d = strdup(s);
	free(s);
	return d;
}

/*
 * C23 allows free_sized() only on blocks from malloc, calloc and realloc
 * (and so reallocarray and strdup), with the size asked for, and
 * free_aligned_sized() only on blocks from aligned_alloc, with its alignment
 * and size; anything else is undefined.  @sized says which applies, @extra
 * what the allocation added to n (strdup's terminating byte).
 */
enum { SIZED_NONE, SIZED_PLAIN, SIZED_ALIGNED };

static const struct {
	const char *name;
	alloc_fn fn;
	size_t align;
	int sized;
	size_t extra;
} allocators[] = {
	{ "malloc", via_malloc, 16, SIZED_PLAIN, 0 },
	{ "calloc", via_calloc, 16, SIZED_PLAIN, 0 },
	{ "realloc", via_realloc, 16, SIZED_PLAIN, 0 },
	{ "memalign", via_memalign, 64, SIZED_NONE, 0 },
	{ "aligned_alloc", via_aligned_alloc, 32, SIZED_ALIGNED, 0 },
	{ "posix_memalign", via_posix_memalign, 128, SIZED_NONE, 0 },
	{ "valloc", via_valloc, 4096, SIZED_NONE, 0 },
	{ "pvalloc", via_pvalloc, 4096, SIZED_NONE, 0 },
	{ "reallocarray", via_reallocarray, 16, SIZED_PLAIN, 0 },
	{ "strdup", via_strdup, 16, SIZED_PLAIN, 1 },
};

enum { FREE_PLAIN, FREE_SIZED, FREE_ALIGNED_SIZED, FREE_REALLOC_GROW,
       FREE_REALLOC_ZERO, FREE_PATHS };

START_TEST(test_preload_every_allocator_every_free_path)
{
	size_t sizes[] = { 1, 100, 4000, 40000, 300000 };
	size_t a, s, f;

	free_sized = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
	free_aligned_sized = (void (*)(void *, size_t, size_t))
		dlsym(RTLD_DEFAULT, "free_aligned_sized");
	ck_assert(free_sized && free_aligned_sized);
	for (a = 0; a < ARRAY_SIZE(allocators); a++)
		for (s = 0; s < ARRAY_SIZE(sizes); s++)
			for (f = 0; f < FREE_PATHS; f++) {
				size_t n = sizes[s];
				unsigned char *p;

				if ((f == FREE_SIZED &&
				     allocators[a].sized != SIZED_PLAIN) ||
				    (f == FREE_ALIGNED_SIZED &&
				     allocators[a].sized != SIZED_ALIGNED))
					continue;
				p = allocators[a].fn(n);

				ck_assert_msg(p, "%s(%zu) failed",
					      allocators[a].name, n);
				ck_assert_msg((uintptr_t)p % allocators[a].align == 0,
					      "%s(%zu) = %p misaligned",
					      allocators[a].name, n, (void *)p);
				ck_assert_uint_ge(malloc_usable_size(p), n);
				memset(p, 0xa5, n);
				switch (f) {
				case FREE_PLAIN:
					free(p);
					break;
				case FREE_SIZED:
					free_sized(p, n + allocators[a].extra);
					break;
				case FREE_ALIGNED_SIZED:
					free_aligned_sized(p, allocators[a].align,
							   n);
					break;
				case FREE_REALLOC_GROW:
					p = realloc(p, n * 3 + 1);
					ck_assert(p && p[n - 1] == 0xa5);
					free(p);
					break;
				case FREE_REALLOC_ZERO:
					ck_assert_ptr_null(realloc(p, 0));
					break;
				}
			}
}
END_TEST

START_TEST(test_preload_glibc_allocating_functions)
{
	char *s = NULL;
	FILE *f;
	size_t len = 0;

	ck_assert_int_gt(asprintf(&s, "%d-%s", 42, "bitslab"), 0);
	ck_assert_str_eq(s, "42-bitslab");
	ck_assert_uint_ge(malloc_usable_size(s), 11);
	free(s);
	s = strndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free(s);
	/* stdio buffers and getline come from malloc too. */
	f = fmemopen("line one\nline two\n", 18, "r");
	ck_assert_ptr_nonnull(f);
	s = NULL;
	ck_assert_int_eq(getline(&s, &len, f), 9);
	ck_assert_str_eq(s, "line one\n");
	free(s);
	fclose(f);
}
END_TEST

static void *volatile sink;

START_TEST(test_preload_errno_like_glibc)
{
	void *p = (void *)1;

	errno = 0;
	ck_assert_ptr_null(malloc(SIZE_MAX - 4096));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(calloc(SIZE_MAX / 2, 4));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(reallocarray(NULL, SIZE_MAX / 2, 4));
	ck_assert_int_eq(errno, ENOMEM);
	/* posix_memalign: EINVAL for a bad alignment, output untouched. */
	ck_assert_int_eq(posix_memalign(&p, 12, 10), EINVAL);
	ck_assert_int_eq(posix_memalign(&p, 0, 10), EINVAL);
	ck_assert_int_eq(posix_memalign(&p, 24, 10), EINVAL);
	ck_assert_ptr_eq(p, (void *)1);
	ck_assert_int_eq(posix_memalign(&p, 64, SIZE_MAX - 100), ENOMEM);
	ck_assert_ptr_eq(p, (void *)1);
	/* memalign / aligned_alloc in glibc 2.36: round a non-power-of-two
	 * alignment up; EINVAL beyond SIZE_MAX / 2 + 1. */
	p = memalign(24, 10);
	ck_assert(p && (uintptr_t)p % 32 == 0);
	free(p);
	p = aligned_alloc(3, 10);
	ck_assert(p && (uintptr_t)p % 4 == 0);
	free(p);
	errno = 0;
	ck_assert_ptr_null(memalign(SIZE_MAX / 2 + 2, 10));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(pvalloc(SIZE_MAX - 10));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(valloc(SIZE_MAX - 10));
	ck_assert_int_eq(errno, ENOMEM);
	/* realloc(p, 0) frees and returns NULL; a failed realloc keeps p. */
	p = malloc(10);
	strcpy(p, "keep me");
	errno = 0;
	ck_assert_ptr_null(realloc(p, SIZE_MAX - 10));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_str_eq(p, "keep me");
	ck_assert_ptr_null(realloc(p, 0));
	/* free keeps errno, malloc(0) is unique, usable_size(NULL) is 0. */
	p = malloc(0);
	ck_assert_ptr_nonnull(p);
	sink = malloc(0);
	ck_assert_ptr_nonnull(sink);
	ck_assert_ptr_ne(p, sink);
	free(sink);
	errno = 777;
	free(p);
	free(NULL);
	ck_assert_int_eq(errno, 777);
	ck_assert_uint_eq(malloc_usable_size(NULL), 0);
}
END_TEST

/* What bitslab has mapped: what it uses (arena) and what it reserved ahead
 * (hblkhd), glibc's total too. */
static size_t mapped_total(const struct mallinfo2 *m)
{
	return m->arena + m->hblkhd;
}

/*
 * mallinfo2().arena + hblkhd is bitslab's count of what it maps; the kernel's view
 * (/proc/self/statm) must move with it, within KERNEL_MEM_MARGIN, as blocks
 * are made, written, freed and trimmed away.
 */
START_TEST(test_preload_trim_stats_mallinfo)
{
	static void *p[2000];
	struct mallinfo2 m0, m1, m2;
	struct kernel_mem k0, k1, k2;
	size_t ours, theirs;
	int i;

	malloc_trim(0);
	m0 = mallinfo2();
	kernel_mem_read(&k0);
	for (i = 0; i < 2000; i++) {
		p[i] = malloc(1000);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], 0x7e, 1000);
	}
	m1 = mallinfo2();
	kernel_mem_read(&k1);
	ck_assert_uint_ge(m1.arena, 2000 * 1000);
	ck_assert_uint_ge(m1.uordblks, 2000 * 1000);
	ours = mapped_total(&m1) - mapped_total(&m0);
	theirs = k1.mapped - k0.mapped;
	ck_assert_msg(ours <= theirs + KERNEL_MEM_MARGIN &&
		      theirs <= ours + KERNEL_MEM_MARGIN,
		      "mallinfo2 arena grew by %zu, the kernel's mapping by %zu",
		      ours, theirs);
	ck_assert_msg(k1.rss + KERNEL_MEM_MARGIN >= k0.rss + 2000 * 1000,
		      "2000000 bytes written, resident grew by %zd",
		      (ssize_t)(k1.rss - k0.rss));
	for (i = 0; i < 2000; i++)
		free(p[i]);
	ck_assert_int_eq(malloc_trim(0), 1);	/* something went back */
	m2 = mallinfo2();
	kernel_mem_read(&k2);
	ck_assert_uint_lt(m2.arena, m1.arena);
	ours = mapped_total(&m1) - mapped_total(&m2);
	theirs = k1.mapped > k2.mapped ? k1.mapped - k2.mapped : 0;
	ck_assert_msg(ours <= theirs + KERNEL_MEM_MARGIN &&
		      theirs <= ours + KERNEL_MEM_MARGIN,
		      "after trim: mallinfo2 arena fell by %zu, the kernel's "
		      "mapping by %zu", ours, theirs);
	/* The pages really went back: resident fell by about as much. */
	ck_assert_msg(k2.rss + 2000 * 1000 <= k1.rss + KERNEL_MEM_MARGIN,
		      "resident %zu at the peak, %zu after trim", k1.rss,
		      k2.rss);
}
END_TEST

static void run_misuse(void (*fn)(void), const char *what)
{
	int fds[2], status;
	char out[512] = { 0 };
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		fn();
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	(void)n;
	close(fds[0]);
	waitpid(pid, &status, 0);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		      "%s: status %#x, stderr '%s'", what, status, out);
	ck_assert_msg(strstr(out, what), "expected '%s', got '%s'", what, out);
}

static void m_double_small(void) { void *p = malloc(40); free(p); free(p); }
static void m_double_large(void) { void *p = malloc(1 << 20); free(p); free(p); }
static void m_stack(void) { char b[32]; sink = b; free(sink); }
static void m_interior_small(void) { char *p = malloc(64); free(p + 32); }
static void m_interior_large(void) { char *p = malloc(1 << 20); free(p + 8192); }
static void m_realloc_freed(void) { void *p = malloc(50); free(p); sink = realloc(p, 100); }
static void m_wild(void) { free((void *)(uintptr_t)0x5eed00001000ULL); }

static void m_double_after_reuse(void)
{
	void *a = malloc(40), *b = malloc(40);

	free(a);
	free(b);	/* a is no longer on top of its free list */
	free(a);
}

START_TEST(test_preload_misuse_caught)
{
	if (MISUSE_CHECKS) {
		run_misuse(m_double_small, "double free");
		run_misuse(m_double_after_reuse, "double free");
		run_misuse(m_interior_small, "invalid pointer");
	} else {
		puts("SKIP test_preload_misuse_caught, its small blocks: built "
		     "without the misuse checks (CONFIG_MISUSE_CHECKS=n)");
	}
	run_misuse(m_double_large, "double free");
	run_misuse(m_stack, "invalid pointer");
	run_misuse(m_interior_large, "invalid pointer");
	run_misuse(m_realloc_freed, "realloc of freed block");
	run_misuse(m_wild, "invalid pointer");
}
END_TEST

/*
 * Regression: the first allocation of a process was a large calloc, made
 * before bitslab had set its secrets; the block's header cookie then did not
 * match at free and a valid free was reported as misuse.  When re-executed
 * with BITSLAB_FIRST_LARGE set, this constructor makes that first
 * allocation before anything else runs.
 */
__attribute__((constructor)) static void first_allocation_is_large(void)
{
	void *p;

	if (!getenv("BITSLAB_FIRST_LARGE"))
		return;
	p = calloc(100000, 40);
	if (!p)
		_exit(2);
	free(malloc(16));	/* a small one in between, as collatz_list did */
	free(p);
	_exit(0);
}

START_TEST(test_preload_first_allocation_large)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		setenv("BITSLAB_FIRST_LARGE", "1", 1);
		execl("/proc/self/exe", "check_preload", (char *)NULL);
		_exit(3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "status %#x", status);
}
END_TEST

/*
 * libbitslab.so exports the C++ operators, but a C program must not map
 * libstdc++ for them (a few MiB of address space: the frag test has 16),
 * and it needs nothing of C++ until an operator new fails.
 */
START_TEST(test_preload_c_program_maps_no_libstdcxx)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		ck_assert_msg(!strstr(line, "libstdc++"),
			      "libstdc++ is mapped: %s", line);
	fclose(f);
	ck_assert_msg(from_bitslab("_Znwm") && from_bitslab("_ZdlPvm"),
		      "operator new/delete are not bitslab's");
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("preload");
	TCase *tc = tcase_create("malloc-family");

	if (!from_bitslab("malloc")) {
		fprintf(stderr, "check_preload: FAIL: malloc is not bitslab's "
			"(it comes from %s); run under LD_PRELOAD=libbitslab.so\n",
			defined_in("malloc"));
		exit(EXIT_FAILURE);
	}
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_preload_malloc_is_bitslab);
	tcase_add_test(tc, test_preload_every_allocator_every_free_path);
	tcase_add_test(tc, test_preload_glibc_allocating_functions);
	tcase_add_test(tc, test_preload_errno_like_glibc);
	tcase_add_test(tc, test_preload_trim_stats_mallinfo);
	tcase_add_test(tc, test_preload_misuse_caught);
	tcase_add_test(tc, test_preload_first_allocation_large);
	tcase_add_test(tc, test_preload_c_program_maps_no_libstdcxx);
	suite_add_tcase(s, tc);
	return s;
}
