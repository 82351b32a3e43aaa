/* SPDX-License-Identifier: MIT */
/*
 * refill.h - the allocation slow paths behind bitslab_alloc_fast()
 * (alloc.h): refilling a bin, finding a chunk, large blocks, and giving
 * memory back when the system refuses more.
 */
#ifndef CORE_REFILL_H
#define CORE_REFILL_H

#include <stdbool.h>
#include <stddef.h>

struct heap;
struct chunk;

void *heap_alloc_slow(size_t size);
struct bin;
int heap_refill(struct heap *h, unsigned int cls, struct bin *b);
void *heap_alloc_class(unsigned int cls);
void *heap_alloc_sized(unsigned int cls, size_t size);
void *heap_alloc_large(size_t size, size_t align, bool zero);
bool heap_trim(void);

#endif /* CORE_REFILL_H */
