// SPDX-License-Identifier: MIT
/*
 * check_cxx.cc - run under LD_PRELOAD=libbitslab.so: a C++ program's
 * allocation operators are bitslab's, all twenty of them, with the
 * standard's semantics: std::bad_alloc for a new that cannot be served,
 * after the new-handler loop; nullptr from the nothrow forms; and a sized
 * delete with a size that is not the block's ends the process with one
 * line (selftests/unit/misuse.h).
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include <new>

#include "misuse.h"
#include "unit.h"

/* Far beyond any mapping: every allocator refuses it. */
static const size_t HUGE_SIZE = SIZE_MAX / 4;

/* The library @fn comes from must be bitslab, under @name. */
static void expect_bitslab(void *fn, const char *name)
{
	Dl_info info;

	ck_assert_msg(dladdr(fn, &info) != 0, "%s: no dladdr", name);
	ck_assert_msg(info.dli_fname && strstr(info.dli_fname, "bitslab"),
		      "%s comes from %s", name, info.dli_fname);
	ck_assert_msg(info.dli_sname && strcmp(info.dli_sname, name) == 0,
		      "%s is %s", name, info.dli_sname);
}

#define NEW(...) ((void *)static_cast<void *(*)(__VA_ARGS__)>(&::operator new))
#define NEWA(...) ((void *)static_cast<void *(*)(__VA_ARGS__)>(&::operator new[]))
#define DEL(...) ((void *)static_cast<void (*)(__VA_ARGS__)>(&::operator delete))
#define DELA(...) ((void *)static_cast<void (*)(__VA_ARGS__)>(&::operator delete[]))

typedef const std::nothrow_t &nt_ref;

START_TEST(test_cxx_every_operator_is_bitslab)
{
	expect_bitslab(NEW(size_t), "_Znwm");
	expect_bitslab(NEWA(size_t), "_Znam");
	expect_bitslab(NEW(size_t, nt_ref), "_ZnwmRKSt9nothrow_t");
	expect_bitslab(NEWA(size_t, nt_ref), "_ZnamRKSt9nothrow_t");
	expect_bitslab(NEW(size_t, std::align_val_t), "_ZnwmSt11align_val_t");
	expect_bitslab(NEWA(size_t, std::align_val_t), "_ZnamSt11align_val_t");
	expect_bitslab(NEW(size_t, std::align_val_t, nt_ref),
		       "_ZnwmSt11align_val_tRKSt9nothrow_t");
	expect_bitslab(NEWA(size_t, std::align_val_t, nt_ref),
		       "_ZnamSt11align_val_tRKSt9nothrow_t");
	expect_bitslab(DEL(void *), "_ZdlPv");
	expect_bitslab(DELA(void *), "_ZdaPv");
	expect_bitslab(DEL(void *, size_t), "_ZdlPvm");
	expect_bitslab(DELA(void *, size_t), "_ZdaPvm");
	expect_bitslab(DEL(void *, std::align_val_t), "_ZdlPvSt11align_val_t");
	expect_bitslab(DELA(void *, std::align_val_t), "_ZdaPvSt11align_val_t");
	expect_bitslab(DEL(void *, size_t, std::align_val_t),
		       "_ZdlPvmSt11align_val_t");
	expect_bitslab(DELA(void *, size_t, std::align_val_t),
		       "_ZdaPvmSt11align_val_t");
	expect_bitslab(DEL(void *, nt_ref), "_ZdlPvRKSt9nothrow_t");
	expect_bitslab(DELA(void *, nt_ref), "_ZdaPvRKSt9nothrow_t");
	expect_bitslab(DEL(void *, std::align_val_t, nt_ref),
		       "_ZdlPvSt11align_val_tRKSt9nothrow_t");
	expect_bitslab(DELA(void *, std::align_val_t, nt_ref),
		       "_ZdaPvSt11align_val_tRKSt9nothrow_t");
}
END_TEST

struct node {
	node *next;
	long v[5];
};

struct alignas(256) wide {
	char c[300];
};

/*
 * Blocks from new expressions are bitslab's: malloc_usable_size() of a
 * pointer bitslab did not hand out aborts under LD_PRELOAD, and free()
 * takes them.  The delete expressions reach every delete form.
 */
START_TEST(test_cxx_blocks_are_bitslab)
{
	node *n = new node;
	long *a = new long[1000];
	wide *w = new wide;
	wide *wa = new wide[3];
	node *nn = new (std::nothrow) node;
	wide *wn = new (std::nothrow) wide;
	void *p;
	size_t s;

	ck_assert_uint_ge(malloc_usable_size(n), sizeof(*n));
	ck_assert_uint_ge(malloc_usable_size(a), 1000 * sizeof(long));
	ck_assert_uint_ge(malloc_usable_size(w), sizeof(*w));
	ck_assert_uint_eq((uintptr_t)w % 256, 0);
	ck_assert_uint_eq((uintptr_t)wa % 256, 0);
	ck_assert_uint_ge(malloc_usable_size(nn), sizeof(*nn));
	ck_assert_uint_eq((uintptr_t)wn % 256, 0);
	delete n;
	delete[] a;
	delete w;
	delete[] wa;
	::operator delete(nn, std::nothrow);
	::operator delete(wn, std::align_val_t(256), std::nothrow);
	free(::operator new(100));
	free(::operator new[](100, std::nothrow));
	/* Sized deletes of every size new can ask for, and new(0). */
	for (s = 0; s <= 70000; s += 1 + s / 100) {
		::operator delete(::operator new(s), s);
		::operator delete[](::operator new[](s), s);
		p = ::operator new(s, std::align_val_t(64));
		ck_assert_uint_eq((uintptr_t)p % 64, 0);
		::operator delete(p, s, std::align_val_t(64));
		p = ::operator new[](s, std::align_val_t(4096), std::nothrow);
		ck_assert_uint_eq((uintptr_t)p % 4096, 0);
		::operator delete[](p, s, std::align_val_t(4096));
	}
	p = ::operator new(0);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_ne(p, ::operator new(0));
	::operator delete(p, (size_t)0);
}
END_TEST

START_TEST(test_cxx_huge_new_throws_bad_alloc)
{
	bool thrown = false, thrown_aligned = false, thrown_array = false;

	try {
		(void)::operator new(HUGE_SIZE);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	try {
		(void)::operator new[](HUGE_SIZE);
	} catch (const std::bad_alloc &) {
		thrown_array = true;
	}
	try {
		(void)::operator new(HUGE_SIZE, std::align_val_t(128));
	} catch (const std::bad_alloc &) {
		thrown_aligned = true;
	}
	ck_assert(thrown && thrown_array && thrown_aligned);
}
END_TEST

START_TEST(test_cxx_nothrow_returns_null)
{
	ck_assert_ptr_null(::operator new(HUGE_SIZE, std::nothrow));
	ck_assert_ptr_null(::operator new[](HUGE_SIZE, std::nothrow));
	ck_assert_ptr_null(::operator new(HUGE_SIZE, std::align_val_t(64),
					  std::nothrow));
	ck_assert_ptr_null(::operator new[](HUGE_SIZE, std::align_val_t(64),
					    std::nothrow));
}
END_TEST

static int handler_calls;

/* Gives up on the third call: the next failure throws. */
static void handler_giving_up(void)
{
	if (++handler_calls == 3)
		std::set_new_handler(nullptr);
}

static void handler_throwing(void)
{
	handler_calls++;
	throw std::bad_alloc();
}

/* The new-handler loop: called on each failure until it goes away. */
START_TEST(test_cxx_new_handler_loop)
{
	bool thrown = false;

	handler_calls = 0;
	std::set_new_handler(handler_giving_up);
	try {
		(void)::operator new(HUGE_SIZE);
	} catch (const std::bad_alloc &) {
		thrown = true;
	}
	ck_assert(thrown);
	ck_assert_int_eq(handler_calls, 3);

	/* nothrow: the handler's bad_alloc ends in nullptr. */
	handler_calls = 0;
	std::set_new_handler(handler_throwing);
	ck_assert_ptr_null(::operator new(HUGE_SIZE, std::nothrow));
	ck_assert_ptr_null(::operator new[](HUGE_SIZE, std::align_val_t(64),
					    std::nothrow));
	ck_assert_int_eq(handler_calls, 2);
	std::set_new_handler(nullptr);
}
END_TEST

struct base {
	long x[2];
};

struct derived : base {
	char more[4000];
};

/* The classic: delete through a base without a virtual destructor
 * passes sizeof(base) to the sized delete. */
static base *volatile escaped;

static void delete_through_base(void)
{
	escaped = new derived;	/* kept: no new-delete elision */
	delete escaped;
}

static void sized_delete_wrong_size(void)
{
	::operator delete(::operator new(48), 4096);
}

static void array_delete_wrong_size(void)
{
	::operator delete[](::operator new[](100000), 100);
}

static void aligned_delete_wrong_size(void)
{
	::operator delete(::operator new(100, std::align_val_t(128)), 5000,
			  std::align_val_t(128));
}

START_TEST(test_cxx_sized_delete_wrong_size_caught)
{
	char out[1024];

	expect_abort(delete_through_base,
		     "operator delete with wrong size of 0x");
	expect_abort(sized_delete_wrong_size,
		     "operator delete with wrong size of 0x");
	expect_abort(array_delete_wrong_size,
		     "operator delete[] with wrong size of 0x");
	expect_abort(aligned_delete_wrong_size,
		     "operator delete with wrong size of 0x");
	run_child(sized_delete_wrong_size, out, sizeof(out));
	ck_assert_msg(strstr(out, "(size class 48)"), "got '%s'", out);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("C++ operators (LD_PRELOAD)");
	TCase *tc = tcase_create("cxx");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cxx_every_operator_is_bitslab);
	tcase_add_test(tc, test_cxx_blocks_are_bitslab);
	tcase_add_test(tc, test_cxx_huge_new_throws_bad_alloc);
	tcase_add_test(tc, test_cxx_nothrow_returns_null);
	tcase_add_test(tc, test_cxx_new_handler_loop);
	tcase_add_test(tc, test_cxx_sized_delete_wrong_size_caught);
	suite_add_tcase(s, tc);
	return s;
}
