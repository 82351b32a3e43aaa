// SPDX-License-Identifier: MIT
/*
 * api.c - the prefixed API of include/bitslab.h, in both libraries.
 * malloc and free are the inline fast paths of alloc.h; the rest is built on
 * them and on the slow paths of heap.c and large.c.
 */
#include <errno.h>
#include <string.h>

#include <bitslab.h>

#include "alloc.h"
#include "api.h"
#include "large.h"
#include "prof.h"
#include "report.h"
#include "secure.h"
#include "thread.h"

void *bitslab_malloc(size_t size)
{
	return bitslab_alloc_fast(size);
}

void bitslab_free(void *ptr)
{
	bitslab_free_fast(ptr);
}

void *bitslab_calloc(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	if (bytes > SMALL_MAX)
		return heap_alloc_large(bytes, 0, true);
	p = bitslab_alloc_fast(bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

/*
 * The chunk of small block @ptr, in a region of @kind (a chunk's), after
 * checking that @ptr is a block start and not free; misuse is reported
 * with @op ("realloc", ...) in the line.
 */
static struct chunk *block_check(void *ptr, const char *op, unsigned int kind)
{
	uintptr_t a = (uintptr_t)ptr;
	struct chunk *c = chunk_of_kind(a, kind);

	if (!chunk_block_start(c, a))
		report_misuse_op(op, "invalid pointer (not the start of a block)",
				 ptr, c->cls);
	if (heap_block_is_free(c, ptr))
		report_misuse_op(op, "freed block", ptr, c->cls);
	return c;
}

void *bitslab_realloc(void *ptr, size_t size)
{
	unsigned int kind;
	struct chunk *c;
	size_t old;
	void *np;

	if (!ptr)
		return bitslab_alloc_fast(size);
	if (size == 0) {
		bitslab_free_fast(ptr);
		return NULL;
	}
	kind = pagemap_kind((uintptr_t)ptr);
	if (pm_chunk(kind)) {
		c = block_check(ptr, "realloc", kind);
		old = chunk_usable(c);
		/* Stay put while the block fits and is not mostly empty. */
		if (size <= old && size > old / 2) {
			if (unlikely(c->secure))
				secure_resize(c, ptr, size);
			return ptr;
		}
		/* In secure mode, only the bytes asked for are the data. */
		if (unlikely(c->secure) && !c->zero)
			old = secure_usable(c, ptr);
		np = bitslab_alloc_fast(size);
		if (!np)
			return NULL;
		memcpy(np, ptr, min(old, size));
		bitslab_free_fast(ptr);
		return np;
	}
	if (pm_large(kind)) {
		if (size > SMALL_MAX)
			return large_realloc(ptr, size);
		/* Validates; the block may hold less than @size: an aligned
		 * large block (aligned_alloc(65536, 100)), or in secure mode
		 * one of SMALL_MAX - 7 bytes with a guard page after it. */
		old = large_usable(ptr, "realloc");
		np = bitslab_alloc_fast(size);
		if (!np)
			return NULL;
		memcpy(np, ptr, min(old, size));
		large_free(ptr, kind);
		return np;
	}
	large_report_unknown("realloc", ptr);
}

/**
 * bitslab_alloc_aligned() - @size bytes at a multiple of @align, a power of
 * two.  Sizes up to SMALL_MAX at alignments up to SIZE_CLASS_ALIGN_MAX (a
 * page: valloc, pvalloc, posix_memalign(4096) ...) come from the smallest
 * class whose blocks are all aligned enough (size_class_aligned()); larger
 * sizes or alignments get a large block.
 */
void *bitslab_alloc_aligned(size_t align, size_t size)
{
	unsigned int cls;
	void *p;

	if (align <= MIN_ALIGN)
		return bitslab_alloc_fast(size);
	if (unlikely(bitslab_tls_heap->kind == HEAP_KIND_BOOT))
		heap_ensure();	/* the options, before a class is picked */
	cls = size > SMALL_MAX ? NR_SIZE_CLASSES
			       : size_class_aligned(size + secure_pad(), align);
	if (cls < NR_SIZE_CLASSES) {
		p = heap_alloc_sized(cls, size);
		prof_alloc_hook(p, size);
		return p;
	}
	return heap_alloc_large(size, align, false);
}

void *bitslab_aligned_alloc(size_t align, size_t size)
{
	if (align == 0 || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return bitslab_alloc_aligned(align, size);
}

/**
 * bitslab_usable_size_op() - usable size of @ptr; misuse is reported as
 * misuse of @op, the call that was made.
 */
size_t bitslab_usable_size_op(void *ptr, const char *op)
{
	unsigned int kind;

	if (!ptr)
		return 0;
	kind = pagemap_kind((uintptr_t)ptr);
	if (pm_chunk(kind))
		return chunk_block_usable(block_check(ptr, op, kind), ptr);
	return large_usable(ptr, op);
}

/*
 * Could a call asking for @size bytes at alignment @align (MIN_ALIGN or
 * less: malloc's) have given a block of class @cls, or left one there?
 * malloc and calloc give size_to_class(size); realloc leaves a block in
 * place while the size fits and is more than half the class (see
 * bitslab_realloc()); aligned calls give size_class_aligned().
 */
static bool small_size_fits(const struct chunk *c, size_t align, size_t size)
{
	unsigned int cls = c->cls;
	size_t csize = chunk_usable(c);

	if (size > csize)
		return false;
	/* A secure block's class is the one of the size and its canary. */
	if (c->secure)
		size += SECURE_CANARY;
	if (align > MIN_ALIGN)
		return size_class_aligned(size, align) == cls;
	return size_to_class(size) == cls || (size <= csize && size > csize / 2);
}

/* Does @size at alignment @align get a large block? */
static bool size_is_large(size_t align, size_t size)
{
	if (size > SMALL_MAX - secure_pad())
		return true;
	if (align <= MIN_ALIGN)
		return false;
	return size_class_aligned(size + secure_pad(), align) == NR_SIZE_CLASSES;
}

/**
 * bitslab_free_sized_op() - free @ptr, which a call asking for @size bytes
 * at alignment @align (0 or up to MIN_ALIGN: malloc, calloc, realloc)
 * returned.  A size that could not have given a live block (one of another
 * size class; for a large block, more than its usable size or a size that
 * gets another mapping) is reported as "<@what> of <ptr>", @what being
 * "free_sized with wrong size", say.  Invalid pointers and double frees
 * are reported as free() reports them.  Only the sized entry points pay
 * for the check: free()'s fast path does not look at sizes.
 */
void bitslab_free_sized_op(void *ptr, size_t align, size_t size,
			   const char *what)
{
	uintptr_t a = (uintptr_t)ptr;
	unsigned int kind;
	struct chunk *c;

	if (!ptr)
		return;
	kind = pagemap_kind(a);
	if (pm_chunk(kind)) {
		c = chunk_of_kind(a, kind);
		/* A block that is free is free()'s to report. */
		if (chunk_block_start(c, a) &&
		    !small_size_fits(c, align, size) &&
		    !heap_block_is_free(c, ptr))
			report_misuse(what, ptr, c->cls);
	} else if (pm_large(kind)) {
		/* A freed block (in a thread's large bin, still marked) is
		 * free()'s to report, before its size is looked at. */
		(void)large_usable(ptr, "free");
		if (!size_is_large(align, size) ||
		    (align > MIN_ALIGN && (a & (align - 1))) ||
		    !large_size_fits(ptr, size))
			report_misuse(what, ptr, REPORT_LARGE);
	}
	bitslab_free_fast(ptr);
}

size_t bitslab_usable_size(void *ptr)
{
	return bitslab_usable_size_op(ptr, "bitslab_usable_size");
}

int bitslab_trim(void)
{
	return heap_trim() ? 1 : 0;
}
