// SPDX-License-Identifier: MIT
/*
 * cxx.c - the C++ allocation operators, exported only by libbitslab.so:
 * the twenty jemalloc and tcmalloc export (new, new[], their nothrow and
 * align_val_t forms; delete, delete[], plain, sized, aligned, sized and
 * aligned, nothrow), under their Itanium-ABI names.
 *
 * Written in C, so that libbitslab.so needs no libstdc++: a C program
 * must not map it (the frag test's address space is 16 MiB).  What only
 * libstdc++ can do, std::get_new_handler() and throwing std::bad_alloc,
 * is looked up with dlsym() when an allocation fails, never before; an
 * operator new is only called by C++ code, which has libstdc++ loaded.
 *
 * Failure follows the standard: operator new calls the new-handler and
 * tries again while there is one, and throws std::bad_alloc when there is
 * none.  The nothrow forms return NULL when there is no handler; with one,
 * they call libstdc++'s own nothrow form (RTLD_NEXT), which calls our
 * throwing one inside a try block (GCC 9 and later) and returns NULL on
 * bad_alloc: C cannot catch.  Built with -fexceptions so that a handler's
 * exception unwinds through these frames.
 *
 * Sized deletes check the size as free_sized() does.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bitslab.h>
#include <bitslab/types.h>

#include "alloc.h"
#include "api.h"
#include "report.h"

#define EXPORT __attribute__((visibility("default")))

typedef void (*new_handler_fn)(void);

/* Resolved on first failure; a lookup that finds nothing is retried, so
 * a libstdc++ loaded later with dlopen() is still found. */
static _Atomic(void *) get_new_handler_sym;
static _Atomic(void *) throw_bad_alloc_sym;

static void *cxx_lookup(_Atomic(void *) *slot, void *handle,
			const char *name)
{
	void *f = READ_ONCE(*slot);

	if (!f) {
		f = dlsym(handle, name);
		WRITE_ONCE(*slot, f);
	}
	return f;
}

/* std::get_new_handler(), or NULL without libstdc++. */
static new_handler_fn cxx_new_handler(void)
{
	new_handler_fn (*get)(void) = (new_handler_fn (*)(void))
		cxx_lookup(&get_new_handler_sym, RTLD_DEFAULT,
			   "_ZSt15get_new_handlerv");

	return get ? get() : NULL;
}

/* throw std::bad_alloc(); abort with a line if libstdc++ is not there. */
static __cold __noreturn void cxx_throw_bad_alloc(void)
{
	static const char msg[] =
		"bitslab: operator new failed and std::bad_alloc cannot be thrown (no libstdc++)\n";
	void (*thr)(void) = (void (*)(void))
		cxx_lookup(&throw_bad_alloc_sym, RTLD_DEFAULT,
			   "_ZSt17__throw_bad_allocv");
	ssize_t __maybe_unused r;

	if (thr)
		thr();
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

/* @align == 0: malloc's alignment. */
static __always_inline void *cxx_alloc(size_t size, size_t align)
{
	if (!align)
		return bitslab_alloc_fast(size);
	/* Not a power of two: libstdc++ throws bad_alloc too. */
	if (align & (align - 1))
		return NULL;
	return bitslab_alloc_aligned(align, size);
}

/* The throwing operators' failure path: the new-handler loop. */
static __cold noinline void *cxx_new_slow(size_t size, size_t align)
{
	new_handler_fn handler;
	void *p;

	for (;;) {
		handler = cxx_new_handler();
		if (!handler)
			cxx_throw_bad_alloc();
		handler();
		p = cxx_alloc(size, align);
		if (p)
			return p;
	}
}

/*
 * The nothrow operators' failure path.  With a handler installed (it may
 * throw), libstdc++'s own nothrow form @cxx_nothrow, called with the
 * caller's @nt, does the loop inside a try block: it calls our throwing
 * form through its PLT.
 */
static __cold noinline void *cxx_new_nothrow_slow(size_t size, size_t align,
						  const void *nt,
						  const char *cxx_nothrow)
{
	void *(*next)(size_t, ...);
	Dl_info info;

	if (!cxx_new_handler())
		return NULL;
	next = (void *(*)(size_t, ...))dlsym(RTLD_NEXT, cxx_nothrow);
	if (next && dladdr((void *)next, &info) && info.dli_fname &&
	    strstr(info.dli_fname, "libstdc++"))
		return align ? next(size, align, nt) : next(size, nt);
	/* No libstdc++ after us: the loop, without catching. */
	return cxx_new_slow(size, align);
}

static __always_inline void *cxx_new(size_t size, size_t align)
{
	void *p = cxx_alloc(size, align);

	return likely(p != NULL) ? p : cxx_new_slow(size, align);
}

static __always_inline void *cxx_new_nothrow(size_t size, size_t align,
					     const void *nt,
					     const char *cxx_nothrow)
{
	void *p = cxx_alloc(size, align);

	return likely(p != NULL) ? p :
	       cxx_new_nothrow_slow(size, align, nt, cxx_nothrow);
}

/* The operators' prototypes: the C++ declarations they mangle. */
void *_Znwm(size_t size);
void *_Znam(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt);
void *_ZnamRKSt9nothrow_t(size_t size, const void *nt);
void *_ZnwmSt11align_val_t(size_t size, size_t align);
void *_ZnamSt11align_val_t(size_t size, size_t align);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
					 const void *nt);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
					 const void *nt);
void _ZdlPv(void *ptr);
void _ZdaPv(void *ptr);
void _ZdlPvm(void *ptr, size_t size);
void _ZdaPvm(void *ptr, size_t size);
void _ZdlPvSt11align_val_t(void *ptr, size_t align);
void _ZdaPvSt11align_val_t(void *ptr, size_t align);
void _ZdlPvmSt11align_val_t(void *ptr, size_t size, size_t align);
void _ZdaPvmSt11align_val_t(void *ptr, size_t size, size_t align);
void _ZdlPvRKSt9nothrow_t(void *ptr, const void *nt);
void _ZdaPvRKSt9nothrow_t(void *ptr, const void *nt);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align,
					 const void *nt);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align,
					 const void *nt);

/* operator new(size_t), operator new[](size_t) */
EXPORT void *_Znwm(size_t size)
{
	return cxx_new(size, 0);
}

EXPORT void *_Znam(size_t size)
{
	return cxx_new(size, 0);
}

/* operator new(size_t, const std::nothrow_t &), and new[] */
EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt)
{
	return cxx_new_nothrow(size, 0, nt, "_ZnwmRKSt9nothrow_t");
}

EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *nt)
{
	return cxx_new_nothrow(size, 0, nt, "_ZnamRKSt9nothrow_t");
}

/* operator new(size_t, std::align_val_t), and new[]; an alignment of 0
 * is not a power of two: bad_alloc. */
EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t align)
{
	return cxx_new(size, align ? align : 3);
}

EXPORT void *_ZnamSt11align_val_t(size_t size, size_t align)
{
	return cxx_new(size, align ? align : 3);
}

/* operator new(size_t, std::align_val_t, const std::nothrow_t &), new[] */
EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
						const void *nt)
{
	return cxx_new_nothrow(size, align ? align : 3, nt,
			       "_ZnwmSt11align_val_tRKSt9nothrow_t");
}

EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align,
						const void *nt)
{
	return cxx_new_nothrow(size, align ? align : 3, nt,
			       "_ZnamSt11align_val_tRKSt9nothrow_t");
}

/* operator delete(void *), delete[] */
EXPORT void _ZdlPv(void *ptr)
{
	bitslab_free_fast(ptr);
}

EXPORT void _ZdaPv(void *ptr)
{
	bitslab_free_fast(ptr);
}

/* operator delete(void *, size_t), delete[]: the size is checked. */
EXPORT void _ZdlPvm(void *ptr, size_t size)
{
	bitslab_free_sized_op(ptr, 0, size, "operator delete with wrong size");
}

EXPORT void _ZdaPvm(void *ptr, size_t size)
{
	bitslab_free_sized_op(ptr, 0, size,
			      "operator delete[] with wrong size");
}

/* operator delete(void *, std::align_val_t), delete[] */
EXPORT void _ZdlPvSt11align_val_t(void *ptr, size_t align)
{
	bitslab_free_fast(ptr);
}

EXPORT void _ZdaPvSt11align_val_t(void *ptr, size_t align)
{
	bitslab_free_fast(ptr);
}

/* operator delete(void *, size_t, std::align_val_t), delete[] */
EXPORT void _ZdlPvmSt11align_val_t(void *ptr, size_t size, size_t align)
{
	bitslab_free_sized_op(ptr, align, size,
			      "operator delete with wrong size");
}

EXPORT void _ZdaPvmSt11align_val_t(void *ptr, size_t size, size_t align)
{
	bitslab_free_sized_op(ptr, align, size,
			      "operator delete[] with wrong size");
}

/* operator delete(void *, const std::nothrow_t &), delete[] */
EXPORT void _ZdlPvRKSt9nothrow_t(void *ptr, const void *nt)
{
	bitslab_free_fast(ptr);
}

EXPORT void _ZdaPvRKSt9nothrow_t(void *ptr, const void *nt)
{
	bitslab_free_fast(ptr);
}

/* operator delete(void *, std::align_val_t, const std::nothrow_t &) */
EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align,
						const void *nt)
{
	bitslab_free_fast(ptr);
}

EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *ptr, size_t align,
						const void *nt)
{
	bitslab_free_fast(ptr);
}
