// SPDX-License-Identifier: MIT
/*
 * check_llist.c - the Treiber stack of include/bitslab/llist.h: pushes of
 * single nodes and pre-linked batches from many threads, taken all at once
 * by a consumer, lose nothing, duplicate nothing, and carry their payload.
 */
#include <stdlib.h>

#include <bitslab/llist.h>

#include "unit.h"

struct item {
	struct llist_node node;
	long id;
	long check;	/* written before the push, checked after the take */
};

START_TEST(test_llist_add_reports_empty_edge)
{
	struct llist_head head = LLIST_HEAD_INIT;
	struct item a, b;

	ck_assert(llist_empty(&head));
	ck_assert(llist_add(&a.node, &head));	/* empty -> non-empty */
	ck_assert(!llist_add(&b.node, &head));
	ck_assert(!llist_empty(&head));
	ck_assert_ptr_eq(llist_del_all(&head), &b.node);
	ck_assert(llist_empty(&head));
	ck_assert(llist_add(&a.node, &head));	/* empty again */
}
END_TEST

START_TEST(test_llist_del_all_takes_everything_newest_first)
{
	struct llist_head head;
	struct item it[5];
	struct llist_node *n;
	int i;

	init_llist_head(&head);
	for (i = 0; i < 5; i++) {
		it[i].id = i;
		llist_add(&it[i].node, &head);
	}
	n = llist_del_all(&head);
	ck_assert(llist_empty(&head));
	for (i = 4; i >= 0; i--, n = n->next)
		ck_assert_int_eq(container_of(n, struct item, node)->id, i);
	ck_assert_ptr_null(n);
	ck_assert_ptr_null(llist_del_all(&head));
}
END_TEST

START_TEST(test_llist_add_batch_keeps_chain_order)
{
	struct llist_head head = LLIST_HEAD_INIT;
	struct item it[4];
	struct llist_node *n;
	int i;

	llist_add(&it[3].node, &head);
	for (i = 0; i < 3; i++) {
		it[i].id = i;
		it[i].node.next = i < 2 ? &it[i + 1].node : NULL;
	}
	it[3].id = 3;
	ck_assert(!llist_add_batch(&it[0].node, &it[2].node, &head));
	n = llist_del_all(&head);
	for (i = 0; i < 4; i++, n = n->next)
		ck_assert_int_eq(container_of(n, struct item, node)->id, i);
	ck_assert_ptr_null(n);
}
END_TEST

/*
 * Several producers push numbered items (singly or in batches of random
 * length) while one consumer keeps taking everything: each id must arrive
 * exactly once, with the payload written before its push.
 */
#define PRODUCERS 3
#define PER_PRODUCER 100000

static struct llist_head shared = LLIST_HEAD_INIT;
static _Atomic int producers_done;

struct producer {
	struct item *items;
	int first_id;
	int batch;	/* 0: single pushes; else batches of 1..batch */
	uint64_t seed;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	int i = 0;

	start_line_wait();
	while (i < PER_PRODUCER) {
		int n = 1, k;

		if (p->batch)
			n = 1 + (int)(prng_next(&p->seed) % (uint64_t)p->batch);
		if (n > PER_PRODUCER - i)
			n = PER_PRODUCER - i;
		for (k = 0; k < n; k++) {
			struct item *it = &p->items[i + k];

			it->id = p->first_id + i + k;
			it->check = it->id * 7 + 1;
			it->node.next = k + 1 < n ? &p->items[i + k + 1].node : NULL;
		}
		if (n == 1)
			llist_add(&p->items[i].node, &shared);
		else
			llist_add_batch(&p->items[i].node,
					&p->items[i + n - 1].node, &shared);
		i += n;
	}
	fetch_add_release(&producers_done, 1);
	return NULL;
}

static void run_push_take_all(int batch)
{
	static struct producer prod[PRODUCERS];
	struct item *items = calloc(PRODUCERS * PER_PRODUCER, sizeof(*items));
	unsigned char *seen = calloc(PRODUCERS * PER_PRODUCER, 1);
	pthread_t tid[PRODUCERS];
	long got = 0, dup = 0, bad = 0, sum = 0, expect_sum = 0;
	int i, done;

	ck_assert(items && seen);
	init_llist_head(&shared);
	WRITE_ONCE(producers_done, 0);
	start_line_init(PRODUCERS);
	for (i = 0; i < PRODUCERS; i++) {
		prod[i] = (struct producer){ items + i * PER_PRODUCER,
					     i * PER_PRODUCER, batch,
					     0x9e3779b97f4a7c15ULL + (uint64_t)i };
		ck_assert_int_eq(pthread_create(&tid[i], NULL, produce,
						&prod[i]), 0);
	}
	do {
		struct llist_node *n;

		done = load_acquire(&producers_done) == PRODUCERS;
		for (n = llist_del_all(&shared); n; n = n->next) {
			struct item *it = container_of(n, struct item, node);

			if (it->check != it->id * 7 + 1)
				bad++;
			if (seen[it->id]++)
				dup++;
			sum += it->id;
			got++;
		}
	} while (!done);
	for (i = 0; i < PRODUCERS; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < PRODUCERS * PER_PRODUCER; i++)
		expect_sum += i;
	ck_assert_int_eq(bad, 0);
	ck_assert_int_eq(dup, 0);
	ck_assert_int_eq(got, PRODUCERS * PER_PRODUCER);
	ck_assert_int_eq(sum, expect_sum);
	free(items);
	free(seen);
}

START_TEST(test_llist_concurrent_push_take_all_exact)
{
	run_push_take_all(0);
}
END_TEST

START_TEST(test_llist_concurrent_batch_push_take_all_exact)
{
	run_push_take_all(16);
}
END_TEST

Suite *check_suite(void)
{
	Suite *s = suite_create("llist");
	TCase *tc = tcase_create("single-thread");
	TCase *mt = tcase_create("concurrent");

	tcase_add_test(tc, test_llist_add_reports_empty_edge);
	tcase_add_test(tc, test_llist_del_all_takes_everything_newest_first);
	tcase_add_test(tc, test_llist_add_batch_keeps_chain_order);
	suite_add_tcase(s, tc);

	tcase_set_timeout(mt, 120);
	tcase_add_test(mt, test_llist_concurrent_push_take_all_exact);
	tcase_add_test(mt, test_llist_concurrent_batch_push_take_all_exact);
	suite_add_tcase(s, mt);
	return s;
}
