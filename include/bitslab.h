/* SPDX-License-Identifier: MIT */
/*
 * bitslab.h - public API of the bitslab memory allocator.
 *
 * The prefixed functions below are in both libbitslab.a and libbitslab.so;
 * they never replace the process's malloc.  libbitslab.so additionally
 * exports the standard malloc family for LD_PRELOAD and -lbitslab use.
 * Memory from one family may be released through the other only in
 * libbitslab.so, where both are the same allocator.
 */
#ifndef BITSLAB_H
#define BITSLAB_H

#include <stddef.h>

#define BITSLAB_VERSION_MAJOR 0
#define BITSLAB_VERSION_MINOR 1
#define BITSLAB_VERSION_PATCH 0
#define BITSLAB_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BITSLAB_API __attribute__((visibility("default")))
#define BITSLAB_MALLOC __attribute__((malloc, warn_unused_result))
#define BITSLAB_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#define BITSLAB_ALLOC_ALIGN(n) __attribute__((alloc_align(n)))
#define BITSLAB_WUR __attribute__((warn_unused_result))
#else
#define BITSLAB_API
#define BITSLAB_MALLOC
#define BITSLAB_ALLOC_SIZE(...)
#define BITSLAB_ALLOC_ALIGN(n)
#define BITSLAB_WUR
#endif

/**
 * bitslab_version() - the library's version string, e.g. "0.1.0".
 * Compare with BITSLAB_VERSION to detect a header/library mismatch.
 */
BITSLAB_API const char *bitslab_version(void);

/**
 * bitslab_malloc() - allocate @size bytes, 16-byte aligned.  @size 0 gives
 * a unique pointer.  Return: NULL with errno = ENOMEM on exhaustion.
 */
BITSLAB_API void *bitslab_malloc(size_t size) BITSLAB_MALLOC
	BITSLAB_ALLOC_SIZE(1);

/**
 * bitslab_calloc() - allocate @n objects of @size bytes, zeroed.
 * Return: NULL with errno = ENOMEM on exhaustion or if @n * @size overflows.
 */
BITSLAB_API void *bitslab_calloc(size_t n, size_t size) BITSLAB_MALLOC
	BITSLAB_ALLOC_SIZE(1, 2);

/**
 * bitslab_realloc() - resize @ptr to @size bytes, moving it if needed.
 * @ptr NULL allocates; @size 0 frees @ptr and returns NULL.  On failure
 * returns NULL with errno = ENOMEM and leaves @ptr intact.
 */
BITSLAB_API void *bitslab_realloc(void *ptr, size_t size) BITSLAB_WUR
	BITSLAB_ALLOC_SIZE(2);

/**
 * bitslab_free() - release @ptr (NULL is ignored).  Heap misuse (a double
 * free, a pointer bitslab did not hand out, a pointer inside a block) is
 * reported on stderr in one line and the process aborts.  errno is kept.
 */
BITSLAB_API void bitslab_free(void *ptr);

/**
 * bitslab_aligned_alloc() - allocate @size bytes at a multiple of @align.
 * Return: NULL with errno = EINVAL if @align is not a power of two, ENOMEM
 * on exhaustion.
 */
BITSLAB_API void *bitslab_aligned_alloc(size_t align, size_t size)
	BITSLAB_MALLOC BITSLAB_ALLOC_ALIGN(1) BITSLAB_ALLOC_SIZE(2);

/**
 * bitslab_usable_size() - bytes usable at @ptr (at least what was asked
 * for), 0 for NULL.
 */
BITSLAB_API size_t bitslab_usable_size(void *ptr);

/**
 * bitslab_trim() - give every free chunk and cached mapping back to the
 * system now.  Return: 1 if memory was released, else 0.
 */
BITSLAB_API int bitslab_trim(void);

/**
 * bitslab_stats_print() - write a summary of the allocator's state to file
 * descriptor @fd (what BITSLAB_STATS=1 prints at exit).
 */
BITSLAB_API void bitslab_stats_print(int fd);

/**
 * bitslab_stats_print_json() - write the same statistics, with a table per
 * size class in use and the large blocks by size range, to file descriptor
 * @fd as one JSON object (what BITSLAB_STATS=json prints at exit).
 */
BITSLAB_API void bitslab_stats_print_json(int fd);

/**
 * bitslab_prof_dump() - write a heap profile of the live sampled blocks to
 * the file @path, in the text format of gperftools' heap profiler (read it
 * with google-pprof --text <program> @path).  Sampling must have been
 * turned on with BITSLAB_OPTIONS=prof=1 (or leaks=1).
 * Return: 0, -EINVAL if sampling is off, or -errno if @path cannot be
 * written.
 */
BITSLAB_API int bitslab_prof_dump(const char *path);

/*
 * Object caches, after the Linux kernel's kmem_cache.  A cache hands out
 * objects of one size and alignment; when it has a constructor, every
 * object is handed out constructed.
 */
struct bitslab_cache;

/**
 * bitslab_cache_create() - a cache of objects of @size bytes (1 to 32760)
 * aligned at @align (0 or a power of two up to 4096), constructed by @ctor
 * if not NULL.  @name is copied (up to 31 characters) and used in reports.
 * Return: NULL with errno = EINVAL for a bad @size or @align, ENOMEM on
 * exhaustion.
 */
BITSLAB_API struct bitslab_cache *bitslab_cache_create(const char *name,
							size_t size,
							size_t align,
							void (*ctor)(void *));

/** bitslab_cache_alloc() - an object of @cache, or NULL with ENOMEM. */
BITSLAB_API void *bitslab_cache_alloc(struct bitslab_cache *cache)
	BITSLAB_MALLOC;

/**
 * bitslab_cache_free() - return @obj to @cache.  An object of another
 * cache (even one of the same size), not from a cache, or freed already is
 * reported as misuse.
 */
BITSLAB_API void bitslab_cache_free(struct bitslab_cache *cache, void *obj);

/**
 * bitslab_cache_destroy() - release @cache.  Objects still allocated from
 * it stay valid and must be freed with bitslab_free().
 */
BITSLAB_API void bitslab_cache_destroy(struct bitslab_cache *cache);

#ifdef __cplusplus
}
#endif

#endif /* BITSLAB_H */
