// SPDX-License-Identifier: MIT
/*
 * cache.c - object caches after the kernel's kmem_cache.  A cache is a size
 * class chosen for its object size and alignment (objects smaller than a
 * class share its chunks with bitslab_malloc()), plus a constructor.  Every
 * power-of-two alignment up to SIZE_CLASS_ALIGN_MAX (4096, what
 * include/bitslab.h promises) has classes: those whose size is a multiple
 * of it (size_class_aligned()).
 *
 * Constructor semantics: every object handed out by bitslab_cache_alloc()
 * has just been constructed.  Unlike the kernel, a freed object is not kept
 * in its constructed state: its first 16 bytes hold bin links and the free
 * cookie while it is free, so the constructor runs on each allocation.
 *
 * Owner tags: objects of caches of one class share chunks with each other
 * and with bitslab_malloc(), so the chunk cannot say which cache an object
 * came from.  Each object carries it instead: one word just past the
 * object (at tag_off, inside the block; the class is chosen to fit it)
 * holds the cache's address mixed with the process secret, written by
 * bitslab_cache_alloc() and cleared by bitslab_cache_free().  The free
 * checks the block's class, that the pointer is a block start, and the tag:
 * an object freed to another cache (of any class), a block from
 * bitslab_malloc() or one freed already is reported like any misuse.
 * Cost: one store per alloc, a load and a compare per free, and a word per
 * object (a class up when the object fills its class exactly).
 */
#include <errno.h>
#include <string.h>

#include <bitslab.h>

#include "alloc.h"
#include "report.h"
#include "secure.h"
#include "thread.h"

#define CACHE_MAGIC 0x6b6d656d63616368ULL	/* "kmemcach" */
#define CACHE_NAME_MAX 32

struct bitslab_cache {
	uint64_t magic;			/* const; 0 once destroyed */
	unsigned int cls;		/* const: size class of the objects */
	size_t size, align;		/* const: as asked */
	size_t tag_off;			/* const: owner tag's offset */
	uintptr_t tag;			/* const: its objects' owner tag */
	void (*ctor)(void *obj);	/* const */
	char name[CACHE_NAME_MAX];	/* const */
};

static __always_inline uintptr_t *cache_tag(struct bitslab_cache *cache,
					    void *obj)
{
	return (uintptr_t *)((char *)obj + cache->tag_off);
}

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
	size_t tag_off, need;

	if (align == 0)
		align = MIN_ALIGN;
	if (size == 0 || size > SMALL_MAX || (align & (align - 1)) ||
	    align > SIZE_CLASS_ALIGN_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (unlikely(bitslab_tls_heap->kind == HEAP_KIND_BOOT))
		heap_ensure();	/* the options, before a class is picked */
	tag_off = ALIGN_UP(size, sizeof(uintptr_t));
	/* The tag, and in secure mode the block's canary after it. */
	need = tag_off + sizeof(uintptr_t) + secure_pad();
	if (need > SMALL_MAX) {
		errno = EINVAL;
		return NULL;
	}
	cls = align <= MIN_ALIGN ? size_to_class(need)
				 : size_class_aligned(need, align);
	if (cls >= NR_SIZE_CLASSES) {
		errno = EINVAL;	/* cannot happen: see size_class_aligned() */
		return NULL;
	}
	cache = bitslab_alloc_fast(sizeof(*cache));
	if (!cache)
		return NULL;
	cache->magic = CACHE_MAGIC;
	cache->cls = cls;
	cache->size = size;
	cache->align = align;
	cache->tag_off = tag_off;
	cache->tag = (uintptr_t)cache ^ bitslab_secret;
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

	if (unlikely(!obj))
		return NULL;
	*cache_tag(cache, obj) = cache->tag;
	if (cache->ctor)
		cache->ctor(obj);
	return obj;
}

void bitslab_cache_free(struct bitslab_cache *cache, void *obj)
{
	struct chunk *c;
	uintptr_t *tag;

	cache_check(cache, "cache_free on an invalid cache");
	if (!obj)
		return;
	c = chunk_lookup((uintptr_t)obj);
	if (!c || c->cls != cache->cls)
		report_misuse("cache_free of an object not from this cache",
			      obj, c ? c->cls : -1);
	/* Not a block start: bitslab_free_fast() reports it as invalid. */
	if (likely(chunk_block_start(c, (uintptr_t)obj))) {
		tag = cache_tag(cache, obj);
		if (unlikely(*tag != cache->tag))
			report_misuse("cache_free of an object not from this "
				      "cache (or freed already)", obj,
				      (int)c->cls);
		*tag = 0;
	}
	bitslab_free_fast(obj);
}

void bitslab_cache_destroy(struct bitslab_cache *cache)
{
	if (!cache)
		return;
	cache_check(cache, "cache_destroy of an invalid cache")->magic = 0;
	bitslab_free_fast(cache);
}
