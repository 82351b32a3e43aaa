/* SPDX-License-Identifier: MIT */
/*
 * thread.h - a thread's heap from its first allocation to its exit, the
 * allocator's one-time setup, and fork.
 */
#ifndef CORE_THREAD_H
#define CORE_THREAD_H

#include <bitslab/types.h>

struct heap *heap_ensure(void);

#endif /* CORE_THREAD_H */
