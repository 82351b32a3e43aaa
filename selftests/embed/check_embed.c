// SPDX-License-Identifier: MIT
/*
 * check_embed.c - a host program linking libbitslab.a keeps glibc's malloc:
 * the archive defines only the prefixed API (and no internal symbol that
 * could clash with the host's), and both allocators work side by side.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <bitslab.h>

#include "unit.h"

/* Names the host may well use for itself; the archive must not define
 * them (its internals are local symbols). */
void *heap_alloc_slow(size_t size);
void *heap_alloc_slow(size_t size)
{
	return (void *)(size + 1);
}

START_TEST(test_embed_host_keeps_glibc_malloc)
{
	void *g = malloc(17), *b = bitslab_malloc(17), *libc;

	ck_assert_ptr_nonnull(g);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_ge(malloc_usable_size(g), 17);
	ck_assert_uint_ge(bitslab_usable_size(b), 17);
	/* malloc as this program sees it is libc's own. */
	libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	ck_assert_ptr_nonnull(libc);
	ck_assert_ptr_eq(dlsym(RTLD_DEFAULT, "malloc"), dlsym(libc, "malloc"));
	ck_assert_ptr_eq(dlsym(RTLD_DEFAULT, "free"), dlsym(libc, "free"));
	dlclose(libc);
	free(g);
	bitslab_free(b);
}
END_TEST

START_TEST(test_embed_host_symbols_do_not_clash)
{
	/* The host's own heap_alloc_slow() is the one it calls, and bitslab
	 * still allocates through its own (local) one. */
	ck_assert_ptr_eq(heap_alloc_slow(41), (void *)42);
	void *p = bitslab_malloc(5000);

	ck_assert_ptr_nonnull(p);
	memset(p, 1, 5000);
	bitslab_free(p);
	ck_assert_str_eq(bitslab_version(), BITSLAB_VERSION);
}
END_TEST

START_TEST(test_embed_both_allocators_side_by_side)
{
	void *g[1000], *b[1000];
	int i;

	for (i = 0; i < 1000; i++) {
		g[i] = malloc((size_t)i * 7 + 1);
		b[i] = bitslab_malloc((size_t)i * 7 + 1);
		memset(g[i], 0x11, (size_t)i * 7 + 1);
		memset(b[i], 0x22, (size_t)i * 7 + 1);
	}
	for (i = 0; i < 1000; i++) {
		ck_assert_uint_eq(((unsigned char *)g[i])[i * 7], 0x11);
		ck_assert_uint_eq(((unsigned char *)b[i])[i * 7], 0x22);
		free(g[i]);
		bitslab_free(b[i]);
	}
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("embed");
	TCase *tc = tcase_create("libbitslab.a");

	tcase_add_test(tc, test_embed_host_keeps_glibc_malloc);
	tcase_add_test(tc, test_embed_host_symbols_do_not_clash);
	tcase_add_test(tc, test_embed_both_allocators_side_by_side);
	suite_add_tcase(s, tc);
	return s;
}
