/* SPDX-License-Identifier: MIT */
/*
 * shared.h - the per-class lists of chunks no heap owns, read under RCU:
 * publication at thread exit, adoption, and the release of blocks into
 * shared chunks.  The ownership protocol is at the top of core/chunk.h.
 */
#ifndef CORE_SHARED_H
#define CORE_SHARED_H

#include <stdbool.h>

#include <bitslab/types.h>

void shared_init(void);
void shared_publish(struct chunk *c);
void shared_publish_dead(struct chunk *c, struct heap *dead);
struct chunk *shared_adopt(struct heap *h, unsigned int cls);
struct heap *shared_release(struct chunk *c, void **list, unsigned int n);

void shared_fork_prepare(void);
void shared_fork_parent(void);
void shared_fork_child(void);

/* Chunks on shared lists now, for statistics. */
long shared_chunk_count(void);

#endif /* CORE_SHARED_H */
