/* SPDX-License-Identifier: MIT */
/*
 * secure.h - secure mode (BITSLAB_OPTIONS=secure=1, or CONFIG_SECURE=y):
 * canaries, zero-filled free blocks, a quarantine and randomised reuse for
 * the small blocks of chunks created while it is on.  See core/secure.c;
 * large blocks' guard pages and quarantine are core/large.c's, with the
 * slack pattern from here.
 */
#ifndef CORE_SECURE_H
#define CORE_SECURE_H

#include <stddef.h>

#include <bitslab/types.h>

#include "options.h"

/* Bytes at the end of every block of a secure chunk that hold its canary. */
#define SECURE_CANARY	8

/** secure_pad() - bytes a request needs on top of its size: the canary. */
static __always_inline size_t secure_pad(void)
{
	return unlikely(opt_secure) ? SECURE_CANARY : 0;
}

/**
 * chunk_usable() - the bytes a block of @c can hold for the program: the
 * class size, less the canary in a secure chunk.
 */
static __always_inline size_t chunk_usable(const struct chunk *c)
{
	if (unlikely(c->zero))
		return 0;
	return c->size - (c->secure ? SECURE_CANARY : 0);
}

size_t secure_usable(struct chunk *c, void **p);

/**
 * chunk_block_usable() - the bytes of block @p of @c that are the
 * program's (malloc_usable_size()): chunk_usable(), but in a secure chunk
 * the size last asked for, past which the canary's check begins.
 */
static __always_inline size_t chunk_block_usable(struct chunk *c, void *p)
{
	if (unlikely(c->secure) && !c->zero)
		return secure_usable(c, p);
	return chunk_usable(c);
}

void *secure_alloc(struct heap *h, unsigned int cls, size_t size);
void secure_resize(struct chunk *c, void **p, size_t size);
void secure_slack_fill(void *p, size_t from, size_t to);
bool secure_slack_intact(const void *p, size_t from, size_t to);
void *secure_alloc_zero(struct heap *h);
void secure_free(struct heap *h, struct chunk *c, void **p);
void secure_flush(struct heap *h);
void secure_salvage(struct heap *me, struct heap *dead);
void secure_chunk_setup(struct chunk *c, bool fresh);
void secure_shuffle(struct heap *h, void ***first, void ***last);

/* Word 1 of a block in quarantine (core/secure.c); set once at start-up. */
extern uintptr_t secure_qcookie;

/** secure_cookie() - does word 1 @w1 say the block waits in a quarantine?
 * Inline: every free by another thread asks it (block_cookie_free()). */
static inline bool secure_cookie(uintptr_t w1)
{
	return w1 == secure_qcookie;
}

void secure_init(void);

#endif /* CORE_SECURE_H */
