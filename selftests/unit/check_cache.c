// SPDX-License-Identifier: MIT
/*
 * check_cache.c - kmem_cache-style object caches: objects come constructed
 * and aligned, are distinct and reusable, and a free to the wrong cache is
 * caught, also to another cache of the same size class.  Every alignment
 * include/bitslab.h promises (up to 4096) is accepted and kept, by blocks
 * packed in a size class.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bitslab.h>

#include "unit.h"

struct obj {
	long magic;
	char name[40];
	struct obj *self;
};

static void obj_ctor(void *p)
{
	struct obj *o = p;

	o->magic = 0x0b1ec7;
	strcpy(o->name, "constructed");
	o->self = o;
}

START_TEST(test_cache_objects_constructed_and_aligned)
{
	struct bitslab_cache *c = bitslab_cache_create("obj", sizeof(struct obj),
						       64, obj_ctor);
	struct obj *o[500];
	int i, round;

	ck_assert_ptr_nonnull(c);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 500; i++) {
			o[i] = bitslab_cache_alloc(c);
			ck_assert_ptr_nonnull(o[i]);
			ck_assert_uint_eq((uintptr_t)o[i] % 64, 0);
			ck_assert_int_eq(o[i]->magic, 0x0b1ec7);
			ck_assert_str_eq(o[i]->name, "constructed");
			ck_assert_ptr_eq(o[i]->self, o[i]);
			/* The user scribbles on it; the next round must
			 * still get constructed objects. */
			memset(o[i], 0xee, sizeof(struct obj));
		}
		for (i = 0; i < 500; i++)
			bitslab_cache_free(c, o[i]);
	}
	bitslab_cache_destroy(c);
}
END_TEST

static void fill_ctor(void *p)
{
	memset(p, 0xc7, 8);
}

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/* A cache of @size at @align: its objects are constructed, aligned, hold
 * @size bytes, and sit side by side (one block size apart). */
static void cache_at(size_t size, size_t align)
{
	struct bitslab_cache *c = bitslab_cache_create("al", size, align,
						       fill_ctor);
	uintptr_t o[12];
	size_t usable = 0, gap = SIZE_MAX;
	unsigned int i;

	ck_assert_msg(c != NULL, "size %zu align %zu: errno %d", size, align,
		      errno);
	for (i = 0; i < 12; i++) {
		unsigned char *p = bitslab_cache_alloc(c);

		ck_assert_ptr_nonnull(p);
		ck_assert_msg((uintptr_t)p % align == 0,
			      "size %zu align %zu: %p", size, align, (void *)p);
		ck_assert_uint_eq(p[0], 0xc7);
		usable = bitslab_usable_size(p);
		ck_assert_uint_ge(usable, size);
		memset(p, 0x11, size);
		o[i] = (uintptr_t)p;
	}
	qsort(o, 12, sizeof(o[0]), cmp_addr);
	for (i = 1; i < 12; i++)
		if (o[i] - o[i - 1] < gap)
			gap = o[i] - o[i - 1];
	ck_assert_msg(gap == usable, "size %zu align %zu: %zu apart, block %zu",
		      size, align, gap, usable);
	for (i = 0; i < 12; i++)
		bitslab_cache_free(c, (void *)o[i]);
	bitslab_cache_destroy(c);
}

START_TEST(test_cache_every_alignment_up_to_a_page)
{
	static const size_t sizes[] = { 1, 24, 100, 1000, 4096, 5000, 20000,
					32760 };
	size_t align;
	unsigned int i;

	for (align = 1; align <= 4096; align *= 2) {
		cache_at(align, align);
		cache_at(align + 1, align);
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			cache_at(sizes[i], align);
	}
}
END_TEST

START_TEST(test_cache_rejects_bad_arguments)
{
	errno = 0;
	ck_assert_ptr_null(bitslab_cache_create("bad", 0, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(bitslab_cache_create("bad", 64, 48, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(bitslab_cache_create("bad", 64, 8192, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(bitslab_cache_create("bad", 1 << 20, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;	/* the owner tag must fit in 32 KiB too */
	ck_assert_ptr_null(bitslab_cache_create("bad", 32761, 4096, NULL));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void free_to_cache_of_other_class(void)
{
	struct bitslab_cache *a = bitslab_cache_create("a", 24, 0, NULL);
	struct bitslab_cache *b = bitslab_cache_create("b", 700, 0, NULL);

	bitslab_cache_free(b, bitslab_cache_alloc(a));
}

/* Two caches made alike share a size class, and so chunks. */
static void free_to_cache_of_same_class(void)
{
	struct bitslab_cache *a = bitslab_cache_create("a", 40, 16, NULL);
	struct bitslab_cache *b = bitslab_cache_create("b", 40, 16, NULL);
	void *keep = bitslab_cache_alloc(b), *o = bitslab_cache_alloc(a);

	bitslab_cache_free(b, keep);	/* fine: b's own */
	bitslab_cache_free(b, o);	/* a's object: caught */
}

/* A bitslab_malloc() block of the cache's class is not a cache object. */
static void free_malloc_block_to_cache(void)
{
	struct bitslab_cache *a = bitslab_cache_create("a", 40, 16, NULL);
	void *o = bitslab_cache_alloc(a);
	void *p = bitslab_malloc(bitslab_usable_size(o));

	bitslab_cache_free(a, o);
	bitslab_cache_free(a, p);
}

static void free_twice_to_cache(void)
{
	struct bitslab_cache *a = bitslab_cache_create("a", 40, 16, NULL);
	void *o = bitslab_cache_alloc(a);

	bitslab_cache_free(a, o);
	bitslab_cache_free(a, o);
}

/* Run @fn in a child: it must abort with @what in its one line. */
static void expect_abort(void (*fn)(void), const char *what)
{
	int fds[2], status;
	char out[256] = { 0 };
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		fn();
		_exit(0);
	}
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	waitpid(pid, &status, 0);
	ck_assert_msg(n > 0 && WIFSIGNALED(status) &&
		      WTERMSIG(status) == SIGABRT,
		      "status %#x, stderr '%s'", status, out);
	ck_assert_msg(strstr(out, what), "expected '%s', got '%s'", what, out);
}

START_TEST(test_cache_free_to_wrong_cache_aborts)
{
	expect_abort(free_to_cache_of_other_class, "not from this cache");
	expect_abort(free_to_cache_of_same_class, "not from this cache");
	expect_abort(free_malloc_block_to_cache, "not from this cache");
	expect_abort(free_twice_to_cache, "freed already");
}
END_TEST

START_TEST(test_cache_two_of_one_class_side_by_side)
{
	size_t n = sizeof(struct obj);
	struct bitslab_cache *a = bitslab_cache_create("a", n, 16, obj_ctor);
	struct bitslab_cache *b = bitslab_cache_create("b", n, 16, NULL);
	void *oa[300], *ob[300];
	int i;

	for (i = 0; i < 300; i++) {
		oa[i] = bitslab_cache_alloc(a);
		ob[i] = bitslab_cache_alloc(b);
		ck_assert(oa[i] && ob[i]);
		ck_assert_int_eq(((struct obj *)oa[i])->magic, 0x0b1ec7);
		memset(ob[i], 0x55, n);
	}
	/* Freed in the other order, each to its own cache; the blocks are
	 * then reused by the other cache and by bitslab_malloc(). */
	for (i = 299; i >= 0; i--) {
		bitslab_cache_free(b, ob[i]);
		bitslab_cache_free(a, oa[i]);
	}
	for (i = 0; i < 300; i++) {
		ob[i] = bitslab_cache_alloc(b);
		oa[i] = bitslab_malloc(n);
	}
	for (i = 0; i < 300; i++) {
		bitslab_cache_free(b, ob[i]);
		bitslab_free(oa[i]);
	}
	bitslab_cache_destroy(a);
	bitslab_cache_destroy(b);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("kmem_cache");

	tcase_add_test(tc, test_cache_objects_constructed_and_aligned);
	tcase_add_test(tc, test_cache_every_alignment_up_to_a_page);
	tcase_add_test(tc, test_cache_rejects_bad_arguments);
	tcase_add_test(tc, test_cache_free_to_wrong_cache_aborts);
	tcase_add_test(tc, test_cache_two_of_one_class_side_by_side);
	suite_add_tcase(s, tc);
	return s;
}
