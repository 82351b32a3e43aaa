// SPDX-License-Identifier: MIT
/*
 * malloc.c - the standard malloc family, exported only by libbitslab.so:
 * the set glibc's manual ("Replacing malloc") asks of a replacement, with
 * glibc 2.36's argument checks and errno values.  Not defined here, on the
 * manual's advice: reallocarray and strdup (glibc's call ours).
 * Built with -fno-builtin so the compiler cannot turn malloc + memset in
 * here into a call to calloc, i.e. into ourselves.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <bitslab.h>

#include "alloc.h"
#include "api.h"
#include "os.h"
#include "chunk_cache.h"
#include "stats.h"

#define EXPORT __attribute__((visibility("default")))

/* C23; glibc 2.36's headers do not declare them yet. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t align, size_t size);

/*
 * malloc and free start on a cache line: where the linker happened to put
 * them moved the time of a malloc + free loop by up to 20 % from one build
 * to the next, with the same instructions (Documentation/benchmarks.rst).
 */
EXPORT __aligned(CACHELINE_SIZE) void *malloc(size_t size)
{
	return bitslab_alloc_fast(size);
}

EXPORT __aligned(CACHELINE_SIZE) void free(void *ptr)
{
	bitslab_free_fast(ptr);
}

EXPORT void *calloc(size_t n, size_t size)
{
	return bitslab_calloc(n, size);
}

EXPORT void *realloc(void *ptr, size_t size)
{
	return bitslab_realloc(ptr, size);
}

/* glibc 2.36: an alignment that is not a power of two is rounded up; one
 * beyond SIZE_MAX / 2 + 1 is EINVAL. */
EXPORT void *memalign(size_t align, size_t size)
{
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (align & (align - 1))
		align = (size_t)1 << (64 - __builtin_clzl(align));
	return bitslab_alloc_aligned(align, size);
}

/* glibc 2.36 defines aligned_alloc as memalign. */
EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return memalign(align, size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;
	int saved = errno;

	if (align % sizeof(void *) || (align & (align - 1)) || align == 0)
		return EINVAL;
	p = bitslab_alloc_aligned(align, size);
	if (!p)
		return ENOMEM;
	errno = saved;
	*out = p;
	return 0;
}

EXPORT void *valloc(size_t size)
{
	return bitslab_alloc_aligned(OS_PAGE_SIZE, size);
}

EXPORT void *pvalloc(size_t size)
{
	if (size > SIZE_MAX - OS_PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	return bitslab_alloc_aligned(OS_PAGE_SIZE,
				     ALIGN_UP(size ? size : 1, OS_PAGE_SIZE));
}

EXPORT size_t malloc_usable_size(void *ptr)
{
	return bitslab_usable_size_op(ptr, "malloc_usable_size");
}

/*
 * C23 sized frees: @size must be the size asked for (malloc, calloc,
 * realloc; aligned_alloc for free_aligned_sized).  One that does not
 * belong to the block's size class is reported (bitslab_free_sized_op()).
 */
EXPORT void free_sized(void *ptr, size_t size)
{
	bitslab_free_sized_op(ptr, 0, size, "free_sized with wrong size");
}

/* @align as aligned_alloc() (memalign()) took it: rounded up to a power
 * of two; one no call accepts is wrong whatever the size (no block is
 * aligned at SIZE_MAX). */
EXPORT void free_aligned_sized(void *ptr, size_t align, size_t size)
{
	if (align > SIZE_MAX / 2 + 1)
		align = SIZE_MAX;	/* no class, no large block fits */
	else if (align & (align - 1))
		align = (size_t)1 << (64 - __builtin_clzl(align));
	bitslab_free_sized_op(ptr, align, size,
			      "free_aligned_sized with wrong size");
}

EXPORT int malloc_trim(size_t pad)
{
	return bitslab_trim();
}

EXPORT void malloc_stats(void)
{
	bitslab_stats_print(STDERR_FILENO);
}

/* glibc: options must be 0 (EINVAL otherwise); the XML goes to @fp. */
EXPORT int malloc_info(int options, FILE *fp)
{
	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	stats_print_xml(fp);
	return 0;
}

EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi = { 0 };

	/* What the allocator uses, and apart, what it reserved ahead (the
	 * chunk arena): glibc's total is arena + hblkhd too.  The peak
	 * (usmblks) is of that total, as the kernel counts. */
	mi.arena = os_mapped_bytes();
	mi.hblkhd = os_reserved_bytes();
	mi.fordblks = chunk_cache_bytes();
	mi.uordblks = mi.arena - mi.fordblks;
	mi.usmblks = os_mapped_peak();
	mi.keepcost = mi.fordblks;
	return mi;
}
