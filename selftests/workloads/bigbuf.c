// SPDX-License-Identifier: MIT
/*
 * bigbuf.c - big buffers replaced in a loop (issue 11): a program keeps
 * @count buffers of random sizes in [@lo, @hi] bytes and replaces a random
 * one @iters times.  Each new buffer is allocated before the old one is
 * freed and zero-filled with memset, as `buf[i] =
 * std::make_unique<char[]>(n)` does.  A tag in a few words of each buffer
 * (first, middle, last) is checked before it is freed; the rest must still
 * be zero there.
 */
#include <string.h>

#include "workloads.h"

#define BIGBUF_MAX 1024

struct bigbuf {
	unsigned char *p;
	size_t size;
};

static void bigbuf_tag(struct bigbuf *b, uint64_t tag)
{
	size_t at[3] = { 0, b->size / 2 & ~7UL, b->size - 8 };
	unsigned int k;

	for (k = 0; k < 3; k++)
		memcpy(b->p + at[k], &tag, 8);
}

static bool bigbuf_ok(const struct bigbuf *b, uint64_t tag)
{
	size_t at[3] = { 0, b->size / 2 & ~7UL, b->size - 8 };
	unsigned int k;
	uint64_t w;

	for (k = 0; k < 3; k++) {
		memcpy(&w, b->p + at[k], 8);
		if (w != tag)
			return false;
	}
	/* Zero between the tags (a word each side of the middle one). */
	return !b->p[8] && !b->p[at[1] - 1] && !b->p[at[1] + 8];
}

static uint64_t bigbuf_tag_of(const struct bigbuf *b)
{
	return (uintptr_t)b->p ^ b->size ^ 0x62696762756655ULL;
}

int bigbuf_run(const struct wl_alloc *a, long count, size_t lo, size_t hi,
	       long iters, uint64_t seed, struct wl_result *r)
{
	struct bigbuf bufs[BIGBUF_MAX] = { { NULL, 0 } }, nb;
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
	long i, k;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (count < 1 || count > BIGBUF_MAX || lo < 32 || hi < lo) {
		wl_fail(r, "bad arguments");
		return -1;
	}
	for (i = 0; i < count + iters; i++) {
		k = i < count ? i : (long)(wl_rand(&s) % (uint64_t)count);
		nb.size = lo + wl_rand(&s) % (hi - lo + 1);
		nb.p = a->malloc(nb.size);
		if (!nb.p) {
			wl_fail(r, "out of memory at %zu bytes", nb.size);
			ret = -1;
			break;
		}
		memset(nb.p, 0, nb.size);
		bigbuf_tag(&nb, bigbuf_tag_of(&nb));
		r->ops++;
		if (bufs[k].p) {
			if (!bigbuf_ok(&bufs[k], bigbuf_tag_of(&bufs[k]))) {
				wl_fail(r, "buffer %ld (%zu bytes) lost its tag",
					k, bufs[k].size);
				ret = -1;
			}
			r->checked++;
			a->free(bufs[k].p);
		}
		bufs[k] = nb;
	}
	for (k = 0; k < count; k++) {
		if (!bufs[k].p)
			continue;
		if (!bigbuf_ok(&bufs[k], bigbuf_tag_of(&bufs[k]))) {
			wl_fail(r, "buffer %ld lost its tag", k);
			ret = -1;
		}
		r->checked++;
		a->free(bufs[k].p);
	}
	return ret;
}
