// SPDX-License-Identifier: MIT
/*
 * os.c - mmap, munmap, mremap and mprotect: the only file that calls them.
 * Every function keeps errno as the kernel left it on failure, so callers
 * can return ENOMEM to the user unchanged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include <bitslab/atomic.h>
#include <bitslab/compiler.h>

#include "os.h"

/*
 * GCC 12's ThreadSanitizer does not intercept mremap(): it would never
 * learn that a moved range went away or that a grown one now covers more,
 * and would report the next user of those addresses as racing with the
 * last.  Its builds copy instead (the slow way, with the same results).
 */
#if defined(__SANITIZE_THREAD__)
#define OS_MREMAP 0
#else
#define OS_MREMAP 1
#endif

static _Atomic size_t mapped, mapped_peak;
static _Atomic long map_calls;	/* mmap() calls made, for tests */
/*
 * Reservations (the chunk arena, core/chunk_cache.c): mapped, but counted
 * in mapped only as they are carved (os_reserve_carve()), so that mapped
 * stays what the allocator uses, which its policies size things by; the
 * kernel's count, and os_mapped_total(), os_vm_tight() and the peak,
 * include the rest.
 */
static _Atomic size_t reserved;

static void account(long delta)
{
	size_t now = fetch_add_relaxed(&mapped, (size_t)delta) + (size_t)delta +
		     READ_ONCE(reserved);
	size_t peak = READ_ONCE(mapped_peak);

	while (now > peak && !try_cmpxchg_relaxed(&mapped_peak, &peak, now))
		;
}

size_t os_mapped_bytes(void)
{
	return READ_ONCE(mapped);
}

/** os_map_calls() - how many mmap() calls the allocator has made. */
long os_map_calls(void)
{
	return READ_ONCE(map_calls);
}

/** os_mapped_total() - what the kernel counts: mapped and reserved. */
size_t os_mapped_total(void)
{
	return READ_ONCE(mapped) + READ_ONCE(reserved);
}

size_t os_reserved_bytes(void)
{
	return READ_ONCE(reserved);
}

/** os_reserve() - @size bytes at a multiple of @align, not yet counted as
 * mapped, or NULL. */
void *os_reserve(size_t size, size_t align)
{
	void *p = os_map_aligned(size, align);

	/* Out of mapped first: a peak taken between counts it once. */
	if (p) {
		fetch_sub_relaxed(&mapped, size);
		fetch_add_relaxed(&reserved, size);
	}
	return p;
}

/** os_reserve_carve() - @size bytes of a reservation are used from now on:
 * mapped memory like any other (os_unmap() them). */
void os_reserve_carve(size_t size)
{
	/* Out of reserved first: a peak taken between counts it once. */
	fetch_sub_relaxed(&reserved, size);
	fetch_add_relaxed(&mapped, size);
}

/** os_reserve_release() - unmap @size bytes of a reservation never carved. */
void os_reserve_release(void *addr, size_t size)
{
	int saved = errno;

	if (munmap(addr, size) == 0)
		fetch_sub_relaxed(&reserved, size);
	errno = saved;
}

size_t os_mapped_peak(void)
{
	return READ_ONCE(mapped_peak);
}

/** os_map() - @size bytes of fresh zeroed memory, or NULL with errno set. */
void *os_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	fetch_add_relaxed(&map_calls, 1);
	if (p == MAP_FAILED)
		return NULL;
	account((long)size);
	return p;
}

/* @size bytes exactly at @addr if nothing is mapped there; else 0. */
static uintptr_t os_map_at(uintptr_t addr, size_t size)
{
	int saved = errno;
	void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	fetch_add_relaxed(&map_calls, 1);
	errno = saved;
	if (p == MAP_FAILED)
		return 0;
	if ((uintptr_t)p != addr) {	/* a kernel that took it as a hint */
		munmap(p, size);
		return 0;
	}
	account((long)size);
	return addr;
}

/* @size bytes at a multiple of @align: @align more mapped, both ends
 * trimmed (three calls at most); 0 if the system refuses. */
static uintptr_t os_map_over(size_t size, size_t align)
{
	size_t over = size + align - OS_PAGE_SIZE;
	uintptr_t p = (uintptr_t)os_map(over), a;

	if (!p)
		return 0;
	a = ALIGN_UP(p, align);
	if (a > p)
		os_unmap((void *)p, a - p);
	if (p + over > a + size)
		os_unmap((void *)(a + size), p + over - (a + size));
	return a;
}

/*
 * A mapping shorter than its alignment leaves a gap up to the next
 * boundary, and the kernel puts the next mapping in that gap: unaligned,
 * so each short chunk took six system calls to place.  Instead the next
 * short one goes straight to the boundary below the last (one call, while
 * that is free).  The hint is only a guess: any thread may move it, and a
 * taken address fails the call, not the mapping.  When it fails, the
 * chunk is mapped a region longer and trimmed (os_map_over(), three calls
 * at most): a plain mapping of it is as unaligned as the first, and the
 * boundaries on either side of it are the neighbours' (seven calls).
 */
static _Atomic uintptr_t short_hint;

static uintptr_t os_map_short(size_t size, size_t align)
{
	uintptr_t hint = READ_ONCE(short_hint), a;

	if (hint <= align || !IS_ALIGNED(hint, align))
		return 0;
	a = os_map_at(hint - align, size);
	if (a)
		WRITE_ONCE(short_hint, a);
	return a;
}

static void *os_map_short_done(uintptr_t a, size_t size, size_t align)
{
	if (a && size < align)
		WRITE_ONCE(short_hint, a);
	return (void *)a;
}

/**
 * os_map_below() - grow the mapping that starts at @p down to the @align
 * boundary below it, if nothing is mapped there: that boundary, or 0.
 * The kernel hands out addresses downwards, so the gap below its latest
 * mapping is usually free.
 */
uintptr_t os_map_below(uintptr_t p, size_t align)
{
	uintptr_t a = ALIGN_DOWN(p, align);

	return a == p ? p : os_map_at(a, p - a);
}

/**
 * os_map_aligned() - @size bytes starting at a multiple of @align (a power
 * of two, at least a page), or NULL with errno set (and errno as it was on
 * success).  The kernel places new mappings just below the previous ones,
 * so a plain mapping is usually aligned already when the previous one
 * was; otherwise it is grown down to the boundary below and its tail
 * trimmed (three calls), or, when something is mapped there, @align more
 * is mapped and both ends trimmed (five).  Under an address-space limit
 * neither may fit when the block itself would (growing down takes the
 * misalignment on top of the block, for a moment): then the block alone,
 * unmapped first, at the boundary below, else above.
 */
void *os_map_aligned(size_t size, size_t align)
{
	int saved = errno;
	uintptr_t p, a;

	if (size < align) {
		a = os_map_short(size, align);
		if (!a)
			a = os_map_over(size, align);
		if (a)
			goto done;
	}
	p = (uintptr_t)os_map(size);
	if (!p)
		return NULL;
	if (IS_ALIGNED(p, align)) {
		a = p;
		goto done;
	}
	a = os_map_below(p, align);
	if (a) {
		os_unmap((void *)(a + size), p - a);
		goto done;
	}
	os_unmap((void *)p, size);
	a = os_map_over(size, align);
	if (!a)
		a = os_map_at(ALIGN_DOWN(p, align), size);
	if (!a)
		a = os_map_at(ALIGN_UP(p, align), size);
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
done:
	errno = saved;
	return os_map_short_done(a, size, align);
}

void os_unmap(void *addr, size_t size)
{
	int saved = errno;

	if (munmap(addr, size) == 0)
		account(-(long)size);
	errno = saved;
}

/* -errno if a system call @failed, else 0; errno back to @saved. */
static int os_result(bool failed, int saved)
{
	int ret = failed ? -errno : 0;

	errno = saved;
	return ret;
}

/**
 * os_protect_none() - make [@addr, @addr + @size) of a mapping of ours
 * inaccessible (PROT_NONE): a guard page, the blocks of a zero chunk.
 * The pages stay mapped and accounted.  Return: 0, or -errno.
 */
int os_protect_none(void *addr, size_t size)
{
	int saved = errno;

	return os_result(mprotect(addr, size, PROT_NONE) != 0, saved);
}

/**
 * os_discard_none() - replace [@addr, @addr + @size) of a mapping of ours
 * with a fresh PROT_NONE one: its pages go back to the kernel at once (a
 * PROT_NONE mapping alone would keep them resident), the addresses stay
 * reserved, so nothing else is placed there, and any access faults.  One
 * system call; the bytes stay accounted as mapped (they count in the
 * process's address space) until os_unmap().  Return: 0, or -errno (the
 * range is then as it was).
 */
int os_discard_none(void *addr, size_t size)
{
	int saved = errno;

	return os_result(mmap(addr, size, PROT_NONE, MAP_PRIVATE |
			      MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			      0) == MAP_FAILED, saved);
}

/**
 * os_purge() - give the pages of [@addr, @addr + @size), page-aligned, of
 * a mapping of ours back to the kernel (MADV_DONTNEED): they read as zero
 * afterwards and fault in again on the next touch.  The bytes stay mapped
 * and accounted.  Return: 0, or -errno.
 */
int os_purge(void *addr, size_t size)
{
	int saved = errno;

	return os_result(madvise(addr, size, MADV_DONTNEED) != 0, saved);
}

/*
 * Give-backs in flight: memory a cache has let go of under its lock and
 * unmaps once the lock is dropped.  Between the two, it is in no cache and
 * still mapped, so a trim that drains the caches at that moment would find
 * nothing and return before the memory went back.  os_unmap_begin() is
 * called under the cache's lock as the memory leaves the cache,
 * os_unmap_end() after the munmap; os_unmap_wait() (trim, a refused
 * mapping) waits until none is in flight.
 */
static _Atomic long unmaps_in_flight;

/** os_unmap_begin() - a cache is about to unmap what it just let go of. */
void os_unmap_begin(void)
{
	fetch_add_relaxed(&unmaps_in_flight, 1);
}

/** os_unmap_end() - ... and has unmapped it (pairs with os_unmap_wait()). */
void os_unmap_end(void)
{
	fetch_sub_release(&unmaps_in_flight, 1);
}

/**
 * os_unmap_wait() - wait until every give-back begun has ended, at most
 * about a second (munmap calls of other threads of ours, never the
 * program's code).  For trim, whose job is to give memory back now, and a
 * thread the system refused memory.
 */
void os_unmap_wait(void)
{
	static const struct timespec tick = { 0, 1000000L };
	int i;

	for (i = 0; i < 1000 && load_acquire(&unmaps_in_flight) > 0; i++)
		nanosleep(&tick, NULL);
}

/** os_unmaps_in_flight() - give-backs begun and not ended (for tests). */
long os_unmaps_in_flight(void)
{
	return load_acquire(&unmaps_in_flight);
}

/** os_unmap_fork_child() - the threads that were unmapping are gone. */
void os_unmap_fork_child(void)
{
	atomic_init(&unmaps_in_flight, 0);
}

/**
 * os_map_after() - extend the mapping [@addr, @addr + @old_size) to
 * @new_size bytes by mapping what follows it, if that is free: one mmap,
 * where the kernel may merge the two (no mremap, so sanitizer builds take
 * it too).  Return: whether it did.
 */
bool os_map_after(void *addr, size_t old_size, size_t new_size)
{
	return os_map_at((uintptr_t)addr + old_size, new_size - old_size) != 0;
}

/** os_grow_in_place() - extend a mapping without moving it, if possible. */
bool os_grow_in_place(void *addr, size_t old_size, size_t new_size)
{
	int saved = errno;

	if (!OS_MREMAP)
		return false;
	if (mremap(addr, old_size, new_size, 0) == MAP_FAILED) {
		errno = saved;
		return false;
	}
	account((long)new_size - (long)old_size);
	return true;
}

/**
 * os_remap() - move (and resize) a mapping onto @target, replacing whatever
 * was mapped there (a reservation of @new_size bytes made by the caller,
 * already accounted).  The pages move; nothing is copied.
 */
void *os_remap(void *old, size_t old_size, size_t new_size, void *target)
{
	void *p;

	if (!OS_MREMAP) {
		memcpy(target, old, old_size < new_size ? old_size : new_size);
		os_unmap(old, old_size);
		return target;
	}
	p = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED,
		   target);
	if (p == MAP_FAILED)
		return NULL;
	account(-(long)old_size);
	return p;
}

/*
 * Below this much room under RLIMIT_AS, the allocator packs tightly: the
 * shortest spans, no batches of chunks mapped ahead.
 */
#define OS_TIGHT_HEADROOM (64UL << 20)

/* RLIMIT_AS's soft limit, read now (a program may set it at any time);
 * RLIM_INFINITY if there is none.  A system call. */
static rlim_t vm_limit(void)
{
	struct rlimit rl;
	int saved = errno;
	rlim_t cur = getrlimit(RLIMIT_AS, &rl) ? RLIM_INFINITY : rl.rlim_cur;

	errno = saved;
	return cur;
}

/** os_vm_limited() - is there an address-space limit at all? */
bool os_vm_limited(void)
{
	return vm_limit() != RLIM_INFINITY;
}

/**
 * os_vm_tight() - whether the address-space limit leaves less than
 * OS_TIGHT_HEADROOM above what the allocator has mapped and reserved.  A
 * system call: for slow paths that are about to map memory.
 */
bool os_vm_tight(void)
{
	rlim_t cur = vm_limit();

	return cur != RLIM_INFINITY &&
	       cur < READ_ONCE(mapped) + READ_ONCE(reserved) +
		     OS_TIGHT_HEADROOM;
}

/** os_now_ms() - a coarse monotonic clock in milliseconds (no syscall). */
uint64_t os_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
