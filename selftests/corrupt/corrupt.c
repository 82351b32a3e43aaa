// SPDX-License-Identifier: MIT
/*
 * corrupt.c - the corruption suite's cases: "corrupt CASE" commits one
 * kind of heap corruption (overflow, use after free, double or invalid
 * free, sized-free mismatch, zero-size access) through the standard malloc
 * family and then carries on as a careless program would.  Modelled on the
 * kinds of cases a hardened allocator's own test suite has (GrapheneOS
 * hardened_malloc's test/ directory); our own code.
 *
 * The program knows nothing of the allocator under it: run.sh runs each
 * case in its own process under LD_PRELOAD (bitslab, bitslab with
 * secure=1, the peers) and on glibc, and judges by how the process ends.
 * Exit status:
 *   0   the case ran to its end: the misuse went unnoticed
 *   3   an answer case got its right answer (NULL with errno = ENOMEM)
 *   4   the allocator does not export a function the case needs
 *       (free_sized, the C++ operators): the case could not run
 *   1   an answer case got a wrong answer; 2 usage
 * anything the allocator does about the misuse (abort(), a fault) ends it
 * before that.  "corrupt --list" prints the case names.
 *
 * Pointers go through a volatile sink so that the compiler keeps every
 * access (it is built with -fno-builtin, so it sees no malloc semantics).
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define EXIT_ANSWERED		3
#define EXIT_UNSUPPORTED	4

#define SMALL		128
#define LARGE		(256 * 1024)

static void *volatile sink;
static volatile char vsink;

/* @p, laundered: the compiler cannot know where it points. */
static void *opaque(void *p)
{
	sink = p;
	return sink;
}

static void *must_malloc(size_t size)
{
	void *p = malloc(size);

	if (!p) {
		fprintf(stderr, "corrupt: malloc(%zu) failed\n", size);
		exit(2);
	}
	return opaque(p);
}

/* A function of the allocator's that glibc 2.36 lacks, or exit 4. */
static void *need_symbol(const char *name)
{
	void *f = dlsym(RTLD_DEFAULT, name);

	if (!f && name[0] == '_' && name[1] == 'Z') {
		/* The C++ operators: libstdc++'s when nothing preloaded has
		 * them (glibc, the reference, has none of its own). */
		void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_GLOBAL);

		f = h ? dlsym(h, name) : NULL;
	}
	if (!f) {
		fprintf(stderr, "corrupt: %s is not exported\n", name);
		exit(EXIT_UNSUPPORTED);
	}
	return f;
}

/* Allocate and free @n blocks of @size, @rounds times: enough frees to
 * push any block out of a quarantine and have it handed out again. */
static void churn(size_t size, int n, int rounds)
{
	void *v[256];
	int i, r;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < n; i++) {
			v[i] = must_malloc(size);
			memset(v[i], 'c', size);
		}
		for (i = 0; i < n; i++)
			free(v[i]);
	}
}

/* ---- double free ---- */

static void double_free_small(void)
{
	char *p = must_malloc(SMALL);

	free(p);
	free(p);
}

static void double_free_small_delayed(void)
{
	char *p = must_malloc(SMALL), *q = must_malloc(SMALL);

	free(p);
	q = opaque(q);
	free(q);
	free(p);
}

static void double_free_large(void)
{
	char *p = must_malloc(LARGE);

	free(p);
	free(p);
}

static void double_free_large_delayed(void)
{
	char *p = must_malloc(LARGE), *q = must_malloc(LARGE);

	free(p);
	free(q);
	free(p);
}

/* ---- overflow: write just past the size asked for ---- */

static void overflow_small_1_byte(void)
{
	char *p = must_malloc(8);

	p[8] = 'x';
	free(p);
}

static void overflow_small_8_byte(void)
{
	char *p = must_malloc(8);

	memset(p + 8, 'x', 8);
	free(p);
}

static void overflow_large_1_byte(void)
{
	char *p = must_malloc(LARGE);

	p[LARGE] = 'x';
	free(p);
}

static void overflow_large_8_byte(void)
{
	char *p = must_malloc(LARGE);

	memset(p + LARGE, 'x', 8);
	free(p);
}

/* The classic off-by-one: malloc(strlen(s)), then strcpy(). */
static void string_overflow(void)
{
	const char *s = opaque((void *)"0123456789abcdef");
	char *p = must_malloc(strlen(s));

	strcpy(p, s);
	free(p);
}

/* ---- use after free ---- */

/* Words 0 and 1 of a freed block (where an allocator keeps its free-list
 * links), then a block of the same size. */
static void write_after_free_small(void)
{
	char *p = must_malloc(SMALL);

	free(p);
	memset(p, 'x', 16);
	opaque(must_malloc(SMALL));
}

/* A byte deep in a freed block, then enough blocks of its size handed out
 * and freed that it leaves any quarantine and is handed out again. */
static void write_after_free_small_deep(void)
{
	char *p = must_malloc(SMALL);

	free(p);
	p[64] = 'x';
	churn(SMALL, 200, 1);
	churn(SMALL, 1, 200);
}

/* The same size is asked for again first (and may get the same block),
 * then the write through the stale pointer, then more blocks. */
static void write_after_free_small_reuse(void)
{
	char *p = must_malloc(SMALL), *q;

	free(p);
	q = must_malloc(SMALL);
	p[64] = 'x';
	free(q);
	churn(SMALL, 200, 1);
	churn(SMALL, 1, 200);
}

static void read_after_free_small(void)
{
	char *p = must_malloc(SMALL);

	memset(p, 'a', SMALL);
	free(p);
	vsink = p[64];
}

static void read_after_free_large(void)
{
	char *p = must_malloc(LARGE);

	memset(p, 'a', LARGE);
	free(p);
	vsink = p[LARGE / 2];
}

static void write_after_free_large(void)
{
	char *p = must_malloc(LARGE);

	free(p);
	p[LARGE / 2] = 'x';
	free(must_malloc(LARGE));
}

static void write_after_free_large_reuse(void)
{
	char *p = must_malloc(LARGE), *q;

	free(p);
	q = must_malloc(LARGE);
	p[LARGE / 2] = 'x';
	free(q);
}

/* ---- malloc(0) ---- */

static void read_zero_size(void)
{
	char *p = must_malloc(0);

	vsink = p[0];
	free(p);
}

static void write_zero_size(void)
{
	char *p = must_malloc(0);

	p[0] = 'x';
	free(p);
}

/* ---- invalid free ---- */

static void invalid_free_stack(void)
{
	char buf[64];

	free(opaque(buf + 16));
}

static void invalid_free_static(void)
{
	static char global[128];

	free(opaque(global + 32));
}

/* An address inside a mapping the allocator never gave out. */
static void invalid_free_wild(void)
{
	char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		exit(2);
	free(opaque(m + 4096 + 64));
}

static void unaligned_free_small(void)
{
	char *p = must_malloc(SMALL);

	free(p + 1);
}

static void unaligned_free_large(void)
{
	char *p = must_malloc(LARGE);

	free(p + 1);
}

/* A block start of the chunk that holds two live 48-byte blocks, far
 * from both: a block this program was never given. */
static void free_never_allocated_block_of_live_chunk(void)
{
	char *p = must_malloc(48), *q = must_malloc(48);
	uintptr_t a = (uintptr_t)p + 48 * 100;

	if ((a & ~(uintptr_t)0xffff) != ((uintptr_t)p & ~(uintptr_t)0xffff))
		a = (uintptr_t)p - 48 * 100;
	free(opaque((void *)a));
	free(q);
}

static void realloc_freed_block(void)
{
	char *p = must_malloc(SMALL);

	free(p);
	opaque(realloc(p, 2 * SMALL));
}

/* ---- malloc_usable_size of what is not a block ---- */

static void invalid_malloc_usable_size_small(void)
{
	char *p = must_malloc(SMALL);

	sink = (void *)malloc_usable_size(p + 16);
}

static void uninitialized_malloc_usable_size(void)
{
	char buf[64];

	sink = (void *)malloc_usable_size(opaque(buf + 16));
}

/* ---- sized frees ---- */

/* delete of a derived object (128 bytes) through its base (8 bytes) without
 * a virtual destructor: operator delete(void *, size_t) gets the base's
 * size.  Called through the mangled names, so no libstdc++ is needed. */
static void delete_type_size_mismatch(void)
{
	void *(*op_new)(unsigned long) = need_symbol("_Znwm");
	void (*op_delete)(void *, unsigned long) = need_symbol("_ZdlPvm");
	void *p = opaque(op_new(SMALL));

	op_delete(p, 8);
}

static void free_sized_wrong_size(void)
{
	void (*fs)(void *, size_t) = need_symbol("free_sized");
	char *p = must_malloc(SMALL);

	fs(p, 8);
}

static void free_aligned_sized_wrong_size(void)
{
	void (*fas)(void *, size_t, size_t) = need_symbol("free_aligned_sized");
	char *p = opaque(aligned_alloc(64, SMALL));

	if (!p)
		exit(2);
	fas(p, 64, 8 * SMALL);
}

/* ---- answers ---- */

static void impossibly_large_malloc(void)
{
	void *p;

	errno = 0;
	p = opaque(malloc(SIZE_MAX - 8));
	if (p) {
		fprintf(stderr, "corrupt: malloc(SIZE_MAX - 8) returned %p\n", p);
		exit(1);
	}
	if (errno != ENOMEM) {
		fprintf(stderr, "corrupt: malloc(SIZE_MAX - 8): NULL, errno %d, not ENOMEM\n",
			errno);
		exit(1);
	}
	exit(EXIT_ANSWERED);
}

#define CASE(name) { #name, name }
static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	CASE(double_free_small),
	CASE(double_free_small_delayed),
	CASE(double_free_large),
	CASE(double_free_large_delayed),
	CASE(overflow_small_1_byte),
	CASE(overflow_small_8_byte),
	CASE(overflow_large_1_byte),
	CASE(overflow_large_8_byte),
	CASE(string_overflow),
	CASE(write_after_free_small),
	CASE(write_after_free_small_deep),
	CASE(write_after_free_small_reuse),
	CASE(read_after_free_small),
	CASE(read_after_free_large),
	CASE(write_after_free_large),
	CASE(write_after_free_large_reuse),
	CASE(read_zero_size),
	CASE(write_zero_size),
	CASE(invalid_free_stack),
	CASE(invalid_free_static),
	CASE(invalid_free_wild),
	CASE(unaligned_free_small),
	CASE(unaligned_free_large),
	CASE(free_never_allocated_block_of_live_chunk),
	CASE(realloc_freed_block),
	CASE(invalid_malloc_usable_size_small),
	CASE(uninitialized_malloc_usable_size),
	CASE(delete_type_size_mismatch),
	CASE(free_sized_wrong_size),
	CASE(free_aligned_sized_wrong_size),
	CASE(impossibly_large_malloc),
};

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			puts(cases[i].name);
		return 0;
	}
	for (i = 0; argc == 2 && i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!strcmp(argv[1], cases[i].name)) {
			cases[i].fn();
			return 0;
		}
	}
	fprintf(stderr, "usage: corrupt CASE | corrupt --list\n");
	return 2;
}
