/* SPDX-License-Identifier: MIT */
/*
 * atomic.h - order-named wrappers over C11 <stdatomic.h>.
 *
 * Every shared field in bitslab is declared _Atomic and touched only through
 * these names, so the memory order of each access is written where it
 * happens and can be reviewed there:
 *
 *   READ_ONCE(x), WRITE_ONCE(x, v)      relaxed load/store of an lvalue
 *   load_acquire(p), store_release(p,v) acquire load / release store
 *   xchg{,_relaxed,_acquire,_release}   exchange, returns the old value
 *   try_cmpxchg{,_relaxed,_acquire,_release}(p, &old, new)
 *                                       strong compare-and-swap: true and
 *                                       *p == new on success; false and
 *                                       old = *p on failure
 *   fetch_{add,sub,or,and}{,_relaxed,_acquire,_release}
 *                                       read-modify-write, returns the old
 *                                       value
 *   smp_mb()                            full fence
 *
 * The unsuffixed forms are sequentially consistent; use them only where a
 * store must be ordered before a later load (the Dekker pattern), and say
 * which access they pair with.
 */
#ifndef BITSLAB_ATOMIC_H
#define BITSLAB_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>

#define __mo_relaxed memory_order_relaxed
#define __mo_acquire memory_order_acquire
#define __mo_release memory_order_release
#define __mo_seq_cst memory_order_seq_cst

#define READ_ONCE(x)	 atomic_load_explicit(&(x), __mo_relaxed)
#define WRITE_ONCE(x, v) atomic_store_explicit(&(x), (v), __mo_relaxed)

#define load_acquire(p)	     atomic_load_explicit((p), __mo_acquire)
#define store_release(p, v)  atomic_store_explicit((p), (v), __mo_release)
#define load_seq_cst(p)	     atomic_load_explicit((p), __mo_seq_cst)
#define store_seq_cst(p, v)  atomic_store_explicit((p), (v), __mo_seq_cst)

#define xchg(p, v)	   atomic_exchange_explicit((p), (v), __mo_seq_cst)
#define xchg_relaxed(p, v) atomic_exchange_explicit((p), (v), __mo_relaxed)
#define xchg_acquire(p, v) atomic_exchange_explicit((p), (v), __mo_acquire)
#define xchg_release(p, v) atomic_exchange_explicit((p), (v), __mo_release)

#define try_cmpxchg(p, oldp, n)                                          \
	atomic_compare_exchange_strong_explicit((p), (oldp), (n),        \
						__mo_seq_cst, __mo_seq_cst)
#define try_cmpxchg_relaxed(p, oldp, n)                                  \
	atomic_compare_exchange_strong_explicit((p), (oldp), (n),        \
						__mo_relaxed, __mo_relaxed)
#define try_cmpxchg_acquire(p, oldp, n)                                  \
	atomic_compare_exchange_strong_explicit((p), (oldp), (n),        \
						__mo_acquire, __mo_relaxed)
#define try_cmpxchg_release(p, oldp, n)                                  \
	atomic_compare_exchange_strong_explicit((p), (oldp), (n),        \
						__mo_release, __mo_relaxed)

#define fetch_add(p, v)		atomic_fetch_add_explicit((p), (v), __mo_seq_cst)
#define fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), __mo_relaxed)
#define fetch_add_acquire(p, v) atomic_fetch_add_explicit((p), (v), __mo_acquire)
#define fetch_add_release(p, v) atomic_fetch_add_explicit((p), (v), __mo_release)

#define fetch_sub(p, v)		atomic_fetch_sub_explicit((p), (v), __mo_seq_cst)
#define fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), __mo_relaxed)
#define fetch_sub_acquire(p, v) atomic_fetch_sub_explicit((p), (v), __mo_acquire)
#define fetch_sub_release(p, v) atomic_fetch_sub_explicit((p), (v), __mo_release)

#define fetch_or(p, v)		atomic_fetch_or_explicit((p), (v), __mo_seq_cst)
#define fetch_or_relaxed(p, v)	atomic_fetch_or_explicit((p), (v), __mo_relaxed)
#define fetch_or_acquire(p, v)	atomic_fetch_or_explicit((p), (v), __mo_acquire)
#define fetch_or_release(p, v)	atomic_fetch_or_explicit((p), (v), __mo_release)

#define fetch_and(p, v)		atomic_fetch_and_explicit((p), (v), __mo_seq_cst)
#define fetch_and_relaxed(p, v) atomic_fetch_and_explicit((p), (v), __mo_relaxed)
#define fetch_and_acquire(p, v) atomic_fetch_and_explicit((p), (v), __mo_acquire)
#define fetch_and_release(p, v) atomic_fetch_and_explicit((p), (v), __mo_release)

#define smp_mb()	atomic_thread_fence(__mo_seq_cst)
#define barrier()	__asm__ __volatile__("" ::: "memory")

/* Spin-wait hint for the few places that wait on another thread. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	barrier();
#endif
}

#endif /* BITSLAB_ATOMIC_H */
