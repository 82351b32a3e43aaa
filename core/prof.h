/* SPDX-License-Identifier: MIT */
/*
 * prof.h - the sampling heap profiler (BITSLAB_OPTIONS=prof=1, leaks=1).
 *
 * Off by default, and then it costs one predictable branch on some slow
 * paths and nothing on the fast paths.  On, every heap is set up with bins
 * of one block, so that every malloc and every free of a small block
 * leaves the fast path; the hooks below see them all.
 */
#ifndef CORE_PROF_H
#define CORE_PROF_H

#include <stdbool.h>
#include <stddef.h>

#include <bitslab/compiler.h>

/* Set once, at initialisation, before any heap is set up. */
extern bool prof_active;

void prof_init(void);
void prof_at_exit(int fd);
void prof_alloc(void *ptr, size_t size);
void prof_free(void *ptr);

/** prof_alloc_hook() - block @ptr of @size bytes was handed out. */
static __always_inline void prof_alloc_hook(void *ptr, size_t size)
{
	if (unlikely(prof_active) && ptr)
		prof_alloc(ptr, size);
}

/**
 * prof_free_hook() - block @ptr is being freed (before it can be handed
 * out again: before its bit is cleared, or its mapping cached or unmapped).
 */
static __always_inline void prof_free_hook(void *ptr)
{
	if (unlikely(prof_active))
		prof_free(ptr);
}

#endif /* CORE_PROF_H */
