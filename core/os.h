/* SPDX-License-Identifier: MIT */
/*
 * os.h - the allocator's only door to the kernel's memory calls.
 */
#ifndef CORE_OS_H
#define CORE_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OS_PAGE_SIZE 4096UL

void *os_map(size_t size);
void *os_map_aligned(size_t size, size_t align);
uintptr_t os_map_below(uintptr_t p, size_t align);
void os_unmap(void *addr, size_t size);
void *os_remap(void *old, size_t old_size, size_t new_size, void *target);
bool os_grow_in_place(void *addr, size_t old_size, size_t new_size);
bool os_map_after(void *addr, size_t old_size, size_t new_size);
int os_protect_none(void *addr, size_t size);
int os_discard_none(void *addr, size_t size);
int os_purge(void *addr, size_t size);

void os_unmap_begin(void);
void os_unmap_end(void);
void os_unmap_wait(void);
void os_unmap_fork_child(void);
long os_unmaps_in_flight(void);

uint64_t os_now_ms(void);
bool os_vm_tight(void);
/* Is there an address-space limit (RLIMIT_AS) at all?  A system call. */
bool os_vm_limited(void);

/* Bytes currently mapped by the allocator, and the peak. */
size_t os_mapped_bytes(void);
long os_map_calls(void);
size_t os_mapped_total(void);
size_t os_reserved_bytes(void);
void *os_reserve(size_t size, size_t align);
void os_reserve_carve(size_t size);
void os_reserve_release(void *addr, size_t size);
size_t os_mapped_peak(void);

#endif /* CORE_OS_H */
