// SPDX-License-Identifier: MIT
/*
 * cache.c - object caches after the kernel's kmem_cache.  A cache is a size
 * class chosen for its object size and alignment (objects smaller than a
 * class share its chunks with bitslab_malloc()), plus a constructor.
 *
 * Constructor semantics: every object handed out by bitslab_cache_alloc()
 * has just been constructed.  Unlike the kernel, a freed object is not kept
 * in its constructed state: its first 16 bytes hold bin links and the free
 * cookie while it is free, so the constructor runs on each allocation.
 *
 * bitslab_cache_free() checks that the object is a block start of the
 * cache's class; freeing it to another cache (of another class) or passing
 * a pointer that is not a live block is reported like any misuse.
 */
#include <errno.h>
#include <string.h>

#include <bitslab.h>

#include "alloc.h"
#include "report.h"

#define CACHE_MAGIC 0x6b6d656d63616368ULL	/* "kmemcach" */
#define CACHE_NAME_MAX 32

struct bitslab_cache {
	uint64_t magic;			/* const; 0 once destroyed */
	unsigned int cls;		/* const: size class of the objects */
	size_t size, align;		/* const: as asked */
	void (*ctor)(void *obj);	/* const */
	char name[CACHE_NAME_MAX];	/* const */
};

static struct bitslab_cache *cache_check(struct bitslab_cache *cache,
					 const char *op)
{
	if (!cache || cache->magic != CACHE_MAGIC)
		report_misuse(op, cache, -1);
	return cache;
}

struct bitslab_cache *bitslab_cache_create(const char *name, size_t size,
					   size_t align, void (*ctor)(void *))
{
	struct bitslab_cache *cache;
	unsigned int cls;

	if (align == 0)
		align = MIN_ALIGN;
	if (size == 0 || size > SMALL_MAX || (align & (align - 1)) ||
	    align > 4096) {
		errno = EINVAL;
		return NULL;
	}
	cls = align <= MIN_ALIGN ? size_to_class(size)
				 : size_class_aligned(size, align);
	if (cls >= NR_SIZE_CLASSES) {
		errno = EINVAL;	/* no class gives that alignment */
		return NULL;
	}
	cache = bitslab_alloc_fast(sizeof(*cache));
	if (!cache)
		return NULL;
	cache->magic = CACHE_MAGIC;
	cache->cls = cls;
	cache->size = size;
	cache->align = align;
	cache->ctor = ctor;
	memset(cache->name, 0, sizeof(cache->name));
	if (name)
		strncpy(cache->name, name, sizeof(cache->name) - 1);
	return cache;
}

void *bitslab_cache_alloc(struct bitslab_cache *cache)
{
	void *obj = heap_alloc_class_fast(cache_check(cache,
				"cache_alloc on an invalid cache")->cls);

	if (obj && cache->ctor)
		cache->ctor(obj);
	return obj;
}

void bitslab_cache_free(struct bitslab_cache *cache, void *obj)
{
	struct chunk *c;

	cache_check(cache, "cache_free on an invalid cache");
	if (!obj)
		return;
	c = chunk_lookup((uintptr_t)obj);
	if (!c || c->cls != cache->cls)
		report_misuse("cache_free of an object not from this cache",
			      obj, c ? c->cls : -1);
	bitslab_free_fast(obj);
}

void bitslab_cache_destroy(struct bitslab_cache *cache)
{
	if (!cache)
		return;
	cache_check(cache, "cache_destroy of an invalid cache")->magic = 0;
	bitslab_free_fast(cache);
}
