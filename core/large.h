/* SPDX-License-Identifier: MIT */
/*
 * large.h - blocks beyond SMALL_MAX, one mapping each.
 */
#ifndef CORE_LARGE_H
#define CORE_LARGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bitslab/compiler.h>

struct heap;

void *large_alloc(struct heap *h, size_t size, size_t align, bool zero);
void large_cache_drain(void);
long large_cache_decay(uint64_t now_ms);
size_t large_cache_bytes(void);
size_t large_quarantine_bytes(void);
void large_cache_fork_prepare(void);
void large_cache_fork_parent(void);
void large_cache_fork_child(void);
void large_free(void *ptr, unsigned int kind);
void *large_malloc(size_t size);
void large_bin_flush(struct heap *h);
void large_bin_init(struct heap *h);
void *large_realloc(void *ptr, size_t size);
size_t large_usable(void *ptr, const char *op);
bool large_size_fits(void *ptr, size_t size);
__cold __noreturn void large_report_unknown(const char *op, void *ptr);

/* Live large blocks and their bytes, for statistics. */
struct heap_stats;
void large_get_stats(long *blocks, size_t *bytes);
void large_live_less_binned(const struct heap_stats *sum, long *blocks,
			    size_t *bytes);

#endif /* CORE_LARGE_H */
