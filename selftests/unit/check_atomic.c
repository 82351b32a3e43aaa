// SPDX-License-Identifier: MIT
/*
 * check_atomic.c - the order-named wrappers of include/bitslab/atomic.h do
 * what their names say: return the old value, apply the operation, and order
 * memory as promised (the ordering tests are the ones ThreadSanitizer and the
 * x86 store buffer can catch).
 */
#include <string.h>

#include <bitslab/atomic.h>

#include "unit.h"

START_TEST(test_atomic_xchg_returns_old_and_stores_new)
{
	_Atomic long v = 5;

	ck_assert_int_eq(xchg(&v, 7), 5);
	ck_assert_int_eq(xchg_acquire(&v, 9), 7);
	ck_assert_int_eq(xchg_release(&v, 11), 9);
	ck_assert_int_eq(xchg_relaxed(&v, 13), 11);
	ck_assert_int_eq(READ_ONCE(v), 13);
}
END_TEST

START_TEST(test_atomic_cmpxchg_success_and_failure)
{
	_Atomic long v = 1;
	long old = 1;

	ck_assert(try_cmpxchg_relaxed(&v, &old, 2));
	ck_assert_int_eq(READ_ONCE(v), 2);
	ck_assert_int_eq(old, 1);

	/* Failure leaves the value alone and reports what is there. */
	old = 1;
	ck_assert(!try_cmpxchg_acquire(&v, &old, 3));
	ck_assert_int_eq(old, 2);
	ck_assert_int_eq(READ_ONCE(v), 2);
	ck_assert(try_cmpxchg_release(&v, &old, 4));
	ck_assert(try_cmpxchg(&v, &old, 5) == false);
	ck_assert_int_eq(old, 4);
}
END_TEST

START_TEST(test_atomic_fetch_ops_return_old)
{
	_Atomic unsigned long v = 0xf0;

	ck_assert_uint_eq(fetch_or_relaxed(&v, 0x0f), 0xf0);
	ck_assert_uint_eq(fetch_and_release(&v, 0x3c), 0xff);
	ck_assert_uint_eq(fetch_add_acquire(&v, 4), 0x3c);
	ck_assert_uint_eq(fetch_sub(&v, 0x40), 0x40);
	ck_assert_uint_eq(READ_ONCE(v), 0);
	WRITE_ONCE(v, 3);
	ck_assert_uint_eq(load_acquire(&v), 3);
	store_release(&v, 4);
	ck_assert_uint_eq(load_seq_cst(&v), 4);
}
END_TEST

#define ADDERS 4
#define ADDS 200000

static _Atomic long counter;

static void *adder(void *arg)
{
	int i;

	start_line_wait();
	for (i = 0; i < ADDS; i++)
		fetch_add_relaxed(&counter, 1);
	return NULL;
}

START_TEST(test_atomic_concurrent_fetch_add_loses_nothing)
{
	WRITE_ONCE(counter, 0);
	start_line_init(ADDERS);
	run_threads(ADDERS, adder, NULL, 0);
	ck_assert_int_eq(READ_ONCE(counter), (long)ADDERS * ADDS);
}
END_TEST

static void *cas_adder(void *arg)
{
	int i;

	start_line_wait();
	for (i = 0; i < ADDS; i++) {
		long old = READ_ONCE(counter);

		while (!try_cmpxchg_relaxed(&counter, &old, old + 1))
			;
	}
	return NULL;
}

START_TEST(test_atomic_concurrent_cmpxchg_loop_loses_nothing)
{
	WRITE_ONCE(counter, 0);
	start_line_init(ADDERS);
	run_threads(ADDERS, cas_adder, NULL, 0);
	ck_assert_int_eq(READ_ONCE(counter), (long)ADDERS * ADDS);
}
END_TEST

/*
 * Message passing: the producer fills a plain payload and publishes it with
 * store_release(); a consumer that sees the flag with load_acquire() must
 * see the payload.  With a relaxed store ThreadSanitizer reports the race.
 */
#define MESSAGES 20000

static struct {
	long payload[4];
	_Atomic long seq;
	_Atomic long acked;
} mailbox;

static void *producer(void *arg)
{
	long i;

	for (i = 1; i <= MESSAGES; i++) {
		while (load_acquire(&mailbox.acked) != i - 1)
			cpu_relax();
		mailbox.payload[0] = i;
		mailbox.payload[1] = i * 3;
		mailbox.payload[2] = ~i;
		mailbox.payload[3] = i ^ 0x5a5a;
		store_release(&mailbox.seq, i);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	long i, *bad = arg;

	for (i = 1; i <= MESSAGES; i++) {
		while (load_acquire(&mailbox.seq) != i)
			cpu_relax();
		if (mailbox.payload[0] != i || mailbox.payload[1] != i * 3 ||
		    mailbox.payload[2] != ~i || mailbox.payload[3] != (i ^ 0x5a5a))
			(*bad)++;
		store_release(&mailbox.acked, i);
	}
	return NULL;
}

START_TEST(test_atomic_release_acquire_publishes_payload)
{
	pthread_t p, c;
	long bad = 0;

	WRITE_ONCE(mailbox.seq, 0);
	WRITE_ONCE(mailbox.acked, 0);
	ck_assert_int_eq(pthread_create(&c, NULL, consumer, &bad), 0);
	ck_assert_int_eq(pthread_create(&p, NULL, producer, NULL), 0);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	ck_assert_int_eq(bad, 0);
}
END_TEST

/*
 * Store-then-load (Dekker): with sequentially consistent store and load,
 * two threads that each set their own flag and then read the other's can
 * never both read 0.  Relaxed or release/acquire orders allow it, and the
 * x86 store buffer makes it happen within a few thousand rounds.
 */
#define DEKKER_ROUNDS 20000

static struct {
	_Atomic long x, y;
	_Atomic long arrived;
	long seen[2][DEKKER_ROUNDS];
} dekker;

static void *dekker_side(void *arg)
{
	long me = (long)(intptr_t)arg, r;
	_Atomic long *mine = me ? &dekker.y : &dekker.x;
	_Atomic long *other = me ? &dekker.x : &dekker.y;

	for (r = 0; r < DEKKER_ROUNDS; r++) {
		store_seq_cst(mine, r + 1);
		dekker.seen[me][r] = load_seq_cst(other) >= r + 1;
		/* Two-thread spin barrier: both finish round r first. */
		fetch_add_release(&dekker.arrived, 1);
		while (load_acquire(&dekker.arrived) < 2 * (r + 1))
			cpu_relax();
	}
	return NULL;
}

START_TEST(test_atomic_seq_cst_orders_store_before_load)
{
	pthread_t t[2];
	long r, both_missed = 0;

	memset(&dekker, 0, sizeof(dekker));
	pthread_create(&t[0], NULL, dekker_side, (void *)0);
	pthread_create(&t[1], NULL, dekker_side, (void *)1);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	for (r = 0; r < DEKKER_ROUNDS; r++)
		both_missed += !dekker.seen[0][r] && !dekker.seen[1][r];
	ck_assert_int_eq(both_missed, 0);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("atomic");
	TCase *tc = tcase_create("wrappers");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_atomic_xchg_returns_old_and_stores_new);
	tcase_add_test(tc, test_atomic_cmpxchg_success_and_failure);
	tcase_add_test(tc, test_atomic_fetch_ops_return_old);
	tcase_add_test(tc, test_atomic_concurrent_fetch_add_loses_nothing);
	tcase_add_test(tc, test_atomic_concurrent_cmpxchg_loop_loses_nothing);
	tcase_add_test(tc, test_atomic_release_acquire_publishes_payload);
	tcase_add_test(tc, test_atomic_seq_cst_orders_store_before_load);
	suite_add_tcase(s, tc);
	return s;
}
