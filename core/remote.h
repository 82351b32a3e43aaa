/* SPDX-License-Identifier: MIT */
/*
 * remote.h - blocks freed by a thread that does not own their chunk, on
 * their way back: outboxes, inboxes, and the release of blocks of shared
 * chunks.
 */
#ifndef CORE_REMOTE_H
#define CORE_REMOTE_H

#include <stdbool.h>

#include <bitslab/types.h>

void heap_free_remote(struct heap *h, struct chunk *c, void *ptr);
bool block_cookie_free(struct heap *owner, uintptr_t w1);
void heap_flush_outbox(struct heap *h);
void heap_take_inbox(struct heap *h);
void heap_drain_foreign(struct heap *o);
bool heap_drain_idle(struct heap *h, unsigned int batch);

#endif /* CORE_REMOTE_H */
