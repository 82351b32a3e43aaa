/* SPDX-License-Identifier: MIT */
/*
 * tsan.h - teach ThreadSanitizer what RCU guarantees.  liburcu orders its
 * list publication with volatile accesses and barriers, and its grace
 * periods with membarrier and futexes, none of which ThreadSanitizer
 * sees.  These annotations state the same orderings in its terms:
 *
 *   tsan_publish(c) / tsan_subscribe(c)
 *	rcu_assign_pointer() / rcu_dereference() of chunk @c: everything
 *	written to @c before it was linked is visible to a reader that found
 *	it on the list.
 *   tsan_read_side_end() / tsan_grace_period_end()
 *	a grace period waits for every read-side section that began before
 *	it, so everything a reader did in its section happens before what the
 *	reclaimer does after synchronize_rcu().
 *   tsan_ignore_reads_begin() / _end()
 *	the plain loads of list links inside cds_list_for_each_entry_rcu(),
 *	which race by design with the writers' link updates.
 *
 * In other builds they compile to nothing.
 */
#ifndef CORE_TSAN_H
#define CORE_TSAN_H

#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);

extern char tsan_grace_token;

#define tsan_publish(p)		__tsan_release(p)
#define tsan_subscribe(p)	__tsan_acquire(p)
#define tsan_read_side_end()	__tsan_release(&tsan_grace_token)
#define tsan_grace_period_end()	__tsan_acquire(&tsan_grace_token)
#define tsan_ignore_reads_begin() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define tsan_ignore_reads_end()	AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define tsan_publish(p)		do { } while (0)
#define tsan_subscribe(p)	do { } while (0)
#define tsan_read_side_end()	do { } while (0)
#define tsan_grace_period_end()	do { } while (0)
#define tsan_ignore_reads_begin() do { } while (0)
#define tsan_ignore_reads_end()	do { } while (0)
#endif

#endif /* CORE_TSAN_H */
