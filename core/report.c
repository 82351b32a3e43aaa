// SPDX-License-Identifier: MIT
/*
 * report.c - the one-line diagnostics.  They must work from inside the
 * allocator, so they never allocate: no stdio, just write(2) to stderr.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "size_class.h"

struct line {
	char buf[256];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	size_t n = strlen(s);

	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void put_num(struct line *l, uintptr_t v, unsigned int base)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16)
		put(l, "0x");
	while (i < (int)sizeof(tmp)) {
		char c[2] = { tmp[i++], 0 };

		put(l, c);
	}
}

static __noreturn void emit(struct line *l)
{
	ssize_t __maybe_unused r;

	l->buf[l->len++] = '\n';
	r = write(STDERR_FILENO, l->buf, l->len);
	abort();
}

static void put_where(struct line *l, int cls)
{
	if (cls >= 0 && cls < NR_SIZE_CLASSES) {
		put(l, " (size class ");
		put_num(l, size_classes[cls].size, 10);
		put(l, ")");
	} else if (cls == REPORT_FOREIGN) {
		put(l, " (not allocated by bitslab)");
	} else if (cls == REPORT_LARGE) {
		put(l, " (large block)");
	} else if (cls == REPORT_INSIDE_LARGE) {
		put(l, " (inside a large block)");
	}
}

void report_misuse(const char *what, const void *ptr, int cls)
{
	struct line l = { .len = 0 };

	put(&l, "bitslab: ");
	put(&l, what);
	put(&l, " of ");
	put_num(&l, (uintptr_t)ptr, 16);
	put_where(&l, cls);
	emit(&l);
}

void report_misuse_op(const char *op, const char *what, const void *ptr,
		      int cls)
{
	struct line l = { .len = 0 };

	put(&l, "bitslab: ");
	put(&l, op);
	put(&l, " of ");
	put(&l, what);
	put(&l, " of ");
	put_num(&l, (uintptr_t)ptr, 16);
	put_where(&l, cls);
	emit(&l);
}

void report_bug(const char *file, int line, const char *cond)
{
	struct line l = { .len = 0 };

	put(&l, "bitslab: internal error at ");
	put(&l, file);
	put(&l, ":");
	put_num(&l, (uintptr_t)line, 10);
	put(&l, ": ");
	put(&l, cond);
	emit(&l);
}
