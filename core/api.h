/* SPDX-License-Identifier: MIT */
/*
 * api.h - helpers shared by the prefixed API (api.c) and the standard
 * malloc family (malloc.c).
 */
#ifndef CORE_API_H
#define CORE_API_H

#include <stddef.h>

void *bitslab_alloc_aligned(size_t align, size_t size);
size_t bitslab_usable_size_op(void *ptr, const char *op);
void bitslab_free_sized_op(void *ptr, size_t align, size_t size,
			   const char *what);

#endif /* CORE_API_H */
