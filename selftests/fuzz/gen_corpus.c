// SPDX-License-Identifier: MIT
/*
 * gen_corpus.c DIR - write the fuzzer's seed inputs into DIR: programs in
 * the byte code of fuzz.h that do what the workloads of selftests/workloads
 * do, small: Collatz lists (16-byte cells, most freed by the other thread)
 * and vectors (grown by doubling through the classes into large blocks and
 * back), the fragmentation test's mix (a third of the sizes up to 100
 * bytes, a third up to 256, a third up to 64 KiB; every other block freed,
 * then the rest, then one big block), producer/consumer hand-offs, frees
 * into the other thread's chunks, aligned requests, object caches, every
 * kind of bad request, and Larson's random replacement with thread exits.
 *
 * Generated at build time rather than checked in: the seeds follow fuzz.h
 * when the byte code changes, and the tree holds no binary files but the
 * regression inputs.  Each generator runs with three seeds of a fixed
 * PRNG, so the corpus is the same on every build.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

static uint8_t out[FUZZ_MAX_LEN];
static size_t len;
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t rnd_to(size_t n)
{
	return rnd() % (n + 1);
}

/* Room for one more operation of up to 8 bytes? */
static bool room(void)
{
	return len + 8 <= sizeof(out);
}

static void u8(unsigned int b)
{
	if (len < sizeof(out))
		out[len++] = (uint8_t)b;
}

static void sz(size_t size)
{
	if (len + 3 <= sizeof(out))
		len += fuzz_enc_size(out + len, size);
}

static void op_slot(enum fuzz_op op, unsigned int slot)
{
	u8(op);
	u8(slot);
}

static void do_malloc(unsigned int slot, size_t size)
{
	op_slot(FOP_MALLOC, slot);
	sz(size);
}

static void do_realloc(unsigned int slot, size_t size)
{
	op_slot(FOP_REALLOC, slot);
	sz(size);
}

static void do_free(unsigned int slot)
{
	op_slot(rnd() & 1 ? FOP_FREE : FOP_FREE_SIZED, slot);
}

static void do_handoff(unsigned int slot)
{
	op_slot(FOP_HANDOFF, slot);
}

/* align: the byte whose 2^(b % 23) it is. */
static void do_aligned(enum fuzz_op op, unsigned int slot, unsigned int shift,
		       size_t size)
{
	op_slot(op, slot);
	u8(shift);
	sz(size);
}

static void gen_collatz_list(void)
{
	unsigned int s;

	/* A sequence of cells, then copied cell by cell by "the other
	 * worker": the old cells are freed remotely. */
	for (s = 0; s < 32; s++)
		do_malloc(s, 16);
	while (room()) {
		s = rnd_to(31);
		if (rnd() % 4) {
			do_handoff(s);
			do_malloc(s, 16);
		} else {
			do_free(s);
			do_malloc(s, rnd() & 1 ? 16 : 32);
		}
		if (rnd() % 16 == 0)
			u8(FOP_SYNC);
	}
}

static void gen_collatz_ivec(void)
{
	unsigned int s = 0;
	size_t cap = 8;

	while (room()) {
		if (rnd() % 3 == 0) {
			op_slot(FOP_REMOTE_REALLOC, s);
			sz(cap);
		} else {
			do_realloc(s, cap);
		}
		cap *= 2;
		if (cap > 64 * 1024) {
			do_handoff(s);
			s = (s + 1) % FUZZ_SLOTS;
			cap = 8;
		}
	}
}

static void gen_vectors(void)
{
	static const size_t esizes[] = { 1, 2, 4, 8, 12, 16, 24, 32, 48, 64 };
	size_t len_of[8] = { 0 }, es[8];
	unsigned int i;

	for (i = 0; i < 8; i++)
		es[i] = esizes[rnd_to(9)];
	while (room()) {
		i = rnd_to(7);
		if (rnd() % 3) {
			len_of[i] = len_of[i] ? len_of[i] * 2 : 1;
		} else {
			len_of[i] /= 2;
		}
		if (len_of[i] * es[i] > 512 * 1024 || rnd() % 40 == 0) {
			do_free(i);
			len_of[i] = 0;
			es[i] = esizes[rnd_to(9)];
			continue;
		}
		if (len_of[i] == 0)
			continue;
		/* Vectors are taken by whichever thread comes next. */
		if (rnd() % 4 == 0)
			op_slot(FOP_REMOTE_REALLOC, i);
		else
			op_slot(FOP_REALLOC, i);
		sz(len_of[i] * es[i]);
	}
}

static size_t frag_size(void)
{
	switch (rnd() % 3) {
	case 0:
		return rnd_to(100);
	case 1:
		return rnd_to(256);
	default:
		return rnd_to(64 * 1024);
	}
}

static void gen_frag(void)
{
	unsigned int s;

	while (room()) {
		for (s = 0; s < FUZZ_SLOTS && room(); s++)
			do_malloc(s, frag_size());
		for (s = 0; s < FUZZ_SLOTS && room(); s += 2)
			do_free(s);
		for (s = 1; s < FUZZ_SLOTS && room(); s += 2)
			do_free(s);
		u8(FOP_TRIM);
		do_malloc(0, 4 << 20);
		do_free(0);
	}
}

static void gen_prodcons(void)
{
	unsigned int s;

	while (room()) {
		s = rnd_to(FUZZ_SLOTS - 1);
		do_malloc(s, rnd() & 1 ? rnd_to(2048) : rnd_to(128));
		do_handoff(s);
		if (rnd() % 32 == 0)
			u8(FOP_SYNC);
	}
}

static void gen_xfree(void)
{
	unsigned int s;

	while (room()) {
		s = rnd_to(FUZZ_SLOTS - 1);
		switch (rnd() % 4) {
		case 0:
		case 1:
			op_slot(FOP_REMOTE_ALLOC, s);
			sz(rnd() % 8 ? rnd_to(1024) : rnd_to(300000));
			break;
		case 2:
			do_free(s);
			break;
		default:
			do_realloc(s, rnd_to(4096));
			break;
		}
		if (rnd() % 64 == 0)
			u8(FOP_RESTART);
	}
}

static void gen_aligned(void)
{
	unsigned int s;

	while (room()) {
		s = rnd_to(FUZZ_SLOTS - 1);
		do_aligned(rnd() & 1 ? FOP_ALIGNED_ALLOC : FOP_MEMALIGN, s,
			   rnd_to(22), rnd() % 4 ? rnd_to(4096)
						 : rnd_to(200000));
		if (rnd() % 3 == 0)
			op_slot(FOP_USABLE, s);
		if (rnd() % 3 == 0)
			do_free(rnd_to(FUZZ_SLOTS - 1));
		if (rnd() % 5 == 0)
			do_handoff(rnd_to(FUZZ_SLOTS - 1));
	}
}

static void gen_caches(void)
{
	unsigned int c, s;

	while (room()) {
		c = rnd_to(FUZZ_CACHES - 1);
		u8(FOP_CACHE_CREATE);
		u8(c);
		sz(rnd() % 4 ? rnd_to(512) + 1 : rnd_to(32768));
		u8(rnd_to(255));
		u8(rnd_to(1));
		for (s = 0; s < 24 && room(); s++) {
			unsigned int slot = rnd_to(FUZZ_SLOTS - 1);

			op_slot(FOP_CACHE_ALLOC, slot);
			u8(rnd_to(FUZZ_CACHES - 1));
			if (rnd() % 3 == 0)
				do_handoff(slot);
			else if (rnd() % 3 == 0)
				do_free(slot);
		}
		if (rnd() & 1) {
			u8(FOP_CACHE_DESTROY);
			u8(rnd_to(FUZZ_CACHES - 1));
		}
	}
}

static void gen_bad(void)
{
	unsigned int k, s = 0;

	while (room()) {
		do_malloc(s, rnd_to(5000));
		for (k = 0; k < FBAD_COUNT && room(); k++) {
			u8(FOP_BAD);
			u8(k);
			u8(s);
			u8(rnd());
			u8(rnd());
		}
		s = (s + 1) % FUZZ_SLOTS;
	}
}

static void gen_larson(void)
{
	unsigned int s;

	while (room()) {
		s = rnd_to(FUZZ_SLOTS - 1);
		switch (rnd() % 8) {
		case 0:
			u8(FOP_RESTART);
			break;
		case 1:
			op_slot(FOP_CALLOC, s);
			u8(rnd_to(8));
			sz(rnd_to(600));
			break;
		case 2:
			do_handoff(s);
			break;
		default:
			do_malloc(s, rnd() % 16 ? rnd_to(500) : rnd_to(40000));
			break;
		}
	}
}

static const struct {
	const char *name;
	void (*gen)(void);
} gens[] = {
	{ "collatz-list", gen_collatz_list },
	{ "collatz-ivec", gen_collatz_ivec },
	{ "vectors", gen_vectors },
	{ "frag", gen_frag },
	{ "prodcons", gen_prodcons },
	{ "xfree", gen_xfree },
	{ "aligned", gen_aligned },
	{ "caches", gen_caches },
	{ "bad", gen_bad },
	{ "larson", gen_larson },
};

int main(int argc, char **argv)
{
	unsigned int g, k;
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (g = 0; g < sizeof(gens) / sizeof(gens[0]); g++) {
		for (k = 1; k <= 3; k++) {
			FILE *f;

			rng = 0x9e3779b97f4a7c15ULL * (g * 3 + k);
			len = 0;
			gens[g].gen();
			snprintf(path, sizeof(path), "%s/%s-%u", argv[1],
				 gens[g].name, k);
			f = fopen(path, "wb");
			if (!f || fwrite(out, 1, len, f) != len || fclose(f)) {
				perror(path);
				return 1;
			}
		}
	}
	return 0;
}
