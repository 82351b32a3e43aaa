// SPDX-License-Identifier: MIT
/*
 * prof.c - the sampling heap profiler and the leak report.
 *
 * Sampling.  Each thread counts down the bytes it allocates; when the count
 * crosses zero, the block that crossed it is sampled and a new count is
 * drawn from an exponential distribution of mean opt_prof_sample bytes
 * (the sampling points form a Poisson process over the allocated bytes,
 * as in tcmalloc and jemalloc).  A block of s bytes is then sampled with
 * probability p = 1 - exp(-s / R), whatever came before it, so counting it
 * as 1 / p blocks and s / p bytes gives unbiased estimates.
 *
 * Call stacks come from libgcc's unwinder (_Unwind_Backtrace(), which reads
 * the .eh_frame tables every object has, so the program needs no frame
 * pointers).  With glibc 2.35 or later it finds a frame's tables with
 * _dl_find_object(), without a lock and without calling malloc (measured:
 * 0 allocations in 100,000 walks, including the first; about 8 us a walk of
 * six frames).  Leading frames of the allocator itself are dropped: those
 * inside libbitslab.so's text, or, linked statically, those in one of the
 * functions of self_funcs[].
 * A thread that is already sampling does not sample again (a nested
 * allocation, should the unwinder ever make one, is simply not sampled).
 *
 * Tables.  Sampled blocks are kept in a hash table of their addresses, and
 * each points at its call stack in a second table, where the estimates of
 * the live blocks are kept per stack.  Both are in memory mapped here
 * (os_map), never in the heap.  free() of a block that was not sampled, the
 * common case, costs one load of its bucket, which is almost always empty.
 *
 * When prof_active is false nothing here runs: heaps keep their normal
 * bins, and the hooks of prof.h are a predictable branch on slow paths.
 *
 * Lock order: prof_lock is a leaf; nothing that takes it allocates or
 * takes another lock.  A dump from a signal handler only try-locks it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>

#include <bitslab.h>
#include <bitslab/atomic.h>

#include "api.h"
#include "chunk.h"
#include "heap.h"
#include "large.h"
#include "refill.h"
#include "options.h"
#include "os.h"
#include "prof.h"

bool prof_active;

#define PROF_DEPTH	32
#define ADDR_BITS	16
#define STACK_BITS	12
#define POOL_MAP	(256UL << 10)

struct prof_stack {
	struct prof_stack *next;	/* prof lock: hash chain */
	uint64_t hash;
	unsigned int depth;
	long samples;			/* prof lock: sampled blocks live */
	double live_count, live_bytes;	/* prof lock: estimates */
	double alloc_count, alloc_bytes;	/* prof lock: estimates, ever */
	void *pc[PROF_DEPTH];
};

struct prof_rec {
	struct prof_rec *next;		/* prof lock: bucket chain */
	uintptr_t addr;
	double count, bytes;		/* what this sample stands for */
	struct prof_stack *stack;
};

static pthread_mutex_t prof_lock = PTHREAD_MUTEX_INITIALIZER;
/* Bucket heads: written under prof lock, read by any free without it. */
static _Atomic(struct prof_rec *) *addr_table;
static struct prof_stack **stack_table;		/* prof lock */
static struct prof_rec *rec_free;		/* prof lock */
static char *pool_cur, *pool_end;		/* prof lock */
static unsigned long nstacks;			/* prof lock */

/* Text of libbitslab.so: leading frames there are the allocator's. */
static uintptr_t self_lo, self_hi;

/*
 * Linked statically (libbitslab.a), the allocator's text is the program's
 * too: its frames are told by the function they are in, one of these
 * (every function through which an allocation reaches prof_alloc()).
 */
static const void *const self_funcs[] = {
	prof_alloc, heap_alloc_slow, heap_alloc_class, heap_alloc_sized,
	heap_alloc_large, large_alloc, large_malloc, large_realloc,
	bitslab_alloc_aligned, bitslab_malloc, bitslab_calloc, bitslab_realloc,
	bitslab_aligned_alloc,
};

static char prefix[200] = "bitslab";
static _Atomic unsigned int dump_seq;
static _Atomic bool dump_pending;

static __thread uint64_t prof_rng;
static __thread long prof_left;		/* bytes before the next sample */
static __thread bool prof_busy;

/* ---------------------------------------------------------------------
 * Numbers: the PRNG, ln and exp (no libm in the allocator)
 * ------------------------------------------------------------------- */

static uint64_t rng_next(void)
{
	uint64_t x = prof_rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	prof_rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* ln(x), x > 0: x = m * 2^e with m in [1, 2), then the atanh series. */
static double prof_ln(double x)
{
	union { double d; uint64_t u; } v = { .d = x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	double m, z, z2, s;

	v.u = (v.u & ((1ULL << 52) - 1)) | (1023ULL << 52);
	m = v.d;
	if (m > 1.41421356237309505) {
		m /= 2;
		e++;
	}
	z = (m - 1) / (m + 1);
	z2 = z * z;
	s = z * (1 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 +
	    z2 * (1.0 / 9 + z2 * (1.0 / 11 + z2 * (1.0 / 13)))))));
	return 2 * s + e * 0.693147180559945309;
}

/* exp(-x), x >= 0: 2^-k * exp(-r) with r in [0, ln 2), Taylor for exp(-r). */
static double prof_exp_neg(double x)
{
	double r, t = 1, s = 1;
	int k, i;

	if (x > 700)
		return 0;
	k = (int)(x / 0.693147180559945309);
	r = x - k * 0.693147180559945309;
	for (i = 1; i < 20; i++) {
		t *= -r / i;
		s += t;
	}
	while (k-- > 0)
		s *= 0.5;
	return s;
}

/* Bytes to the next sampling point: exponential, mean opt_prof_sample. */
static long prof_next_interval(void)
{
	double u = (double)((rng_next() >> 11) + 1) * (1.0 / 9007199254740992.0);
	double n = -prof_ln(u) * (double)opt_prof_sample;

	return n < 1 ? 1 : n > 1e15 ? (long)1e15 : (long)n;
}

/* ---------------------------------------------------------------------
 * The tables
 * ------------------------------------------------------------------- */

static void *pool_alloc(size_t size)
{
	void *p;

	if ((size_t)(pool_end - pool_cur) < size) {
		pool_cur = os_map(POOL_MAP);
		if (!pool_cur) {
			pool_end = NULL;
			return NULL;
		}
		pool_end = pool_cur + POOL_MAP;
	}
	p = pool_cur;
	pool_cur += ALIGN_UP(size, 16);
	return p;
}

static unsigned int addr_hash(uintptr_t a)
{
	return (unsigned int)(((a >> 4) * 0x9e3779b97f4a7c15ULL) >>
			      (64 - ADDR_BITS));
}

static uint64_t stack_hash(void *const *pc, unsigned int depth)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned int i;

	for (i = 0; i < depth; i++)
		h = (h ^ (uintptr_t)pc[i]) * 0x100000001b3ULL;
	return h ^ depth;
}

/* The stack @pc[@depth], added if new.  Prof lock held. */
static struct prof_stack *__stack_get(void *const *pc, unsigned int depth)
{
	uint64_t h = stack_hash(pc, depth);
	struct prof_stack **b = &stack_table[h >> (64 - STACK_BITS)], *s;

	for (s = *b; s; s = s->next)
		if (s->hash == h && s->depth == depth &&
		    !memcmp(s->pc, pc, depth * sizeof(void *)))
			return s;
	s = pool_alloc(sizeof(*s));
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->hash = h;
	s->depth = depth;
	memcpy(s->pc, pc, depth * sizeof(void *));
	s->next = *b;
	*b = s;
	nstacks++;
	return s;
}

/* ---------------------------------------------------------------------
 * Call stacks
 * ------------------------------------------------------------------- */

static unsigned int prof_backtrace(void **pc);

struct walk {
	void **pc;
	unsigned int n;
	bool user;		/* past the allocator's own frames */
};

/* Is return address @ip in one of self_funcs[] (or in prof_backtrace())? */
static bool self_func(uintptr_t ip)
{
	const void *f = _Unwind_FindEnclosingFunction((void *)(ip - 1));
	unsigned int i;

	if (f == (const void *)prof_backtrace)
		return true;
	for (i = 0; i < ARRAY_SIZE(self_funcs); i++)
		if (f == self_funcs[i])
			return true;
	return false;
}

static _Unwind_Reason_Code walk_frame(struct _Unwind_Context *ctx, void *arg)
{
	struct walk *w = arg;
	uintptr_t ip = _Unwind_GetIP(ctx);

	if (!ip)
		return _URC_END_OF_STACK;
	if (!w->user) {
		if (self_hi ? ip >= self_lo && ip < self_hi : self_func(ip))
			return _URC_NO_REASON;
		w->user = true;
	}
	w->pc[w->n++] = (void *)ip;
	return w->n < PROF_DEPTH ? _URC_NO_REASON : _URC_END_OF_STACK;
}

static noinline unsigned int prof_backtrace(void **pc)
{
	struct walk w = { pc, 0, false };

	_Unwind_Backtrace(walk_frame, &w);
	return w.n;
}

/* ---------------------------------------------------------------------
 * Hooks
 * ------------------------------------------------------------------- */

static void prof_dump_numbered(bool from_signal);

/** prof_alloc() - count @size bytes towards the next sample; sample @ptr
 * if they cross it. */
void prof_alloc(void *ptr, size_t size)
{
	void *pc[PROF_DEPTH];
	struct prof_stack *s;
	struct prof_rec *r;
	_Atomic(struct prof_rec *) *b;
	unsigned int depth;
	double p;

	/*
	 * Not what libc or liburcu allocate inside a call out of bitslab (the
	 * helper thread's TLS, made by pthread_create() from a free() that
	 * retired a chunk): those blocks are the allocator's, and the leak
	 * report blamed the program's call that happened to start the
	 * helper (prof.sh failed one run in a hundred so).
	 */
	if (prof_busy || bitslab_tls_heap->kind == HEAP_KIND_NESTED)
		return;
	if (unlikely(!prof_rng)) {
		prof_rng = ((uintptr_t)&prof_rng ^ bitslab_secret ^
			    os_now_ms()) | 1;
		prof_left = prof_next_interval();
	}
	prof_left -= (long)size;
	if (likely(prof_left > 0))
		return;
	prof_left = prof_next_interval();
	prof_busy = true;
	depth = prof_backtrace(pc);
	p = 1 - prof_exp_neg((double)size / (double)opt_prof_sample);
	if (p < 1e-12)
		p = 1e-12;

	pthread_mutex_lock(&prof_lock);
	s = __stack_get(pc, depth);
	r = rec_free;
	if (r)
		rec_free = r->next;
	else
		r = pool_alloc(sizeof(*r));
	if (s && r) {
		r->addr = (uintptr_t)ptr;
		r->count = 1 / p;
		r->bytes = (double)size / p;
		r->stack = s;
		s->samples++;
		s->live_count += r->count;
		s->live_bytes += r->bytes;
		s->alloc_count += r->count;
		s->alloc_bytes += r->bytes;
		b = &addr_table[addr_hash(r->addr)];
		r->next = READ_ONCE(*b);
		/* Pairs with the load_acquire() in prof_free(). */
		store_release(b, r);
	}
	pthread_mutex_unlock(&prof_lock);
	prof_busy = false;
	if (unlikely(READ_ONCE(dump_pending)))
		prof_dump_numbered(false);
}

/** prof_free() - @ptr is being freed: forget it if it was sampled. */
void prof_free(void *ptr)
{
	uintptr_t a = (uintptr_t)ptr;
	_Atomic(struct prof_rec *) *b = &addr_table[addr_hash(a)];
	struct prof_rec *r, *prev = NULL;

	if (likely(!load_acquire(b)))
		return;
	pthread_mutex_lock(&prof_lock);
	for (r = READ_ONCE(*b); r; prev = r, r = r->next) {
		if (r->addr != a)
			continue;
		if (prev)
			prev->next = r->next;
		else
			WRITE_ONCE(*b, r->next);
		r->stack->samples--;
		r->stack->live_count -= r->count;
		r->stack->live_bytes -= r->bytes;
		r->next = rec_free;
		rec_free = r;
		break;
	}
	pthread_mutex_unlock(&prof_lock);
}

/* ---------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------- */

struct pout {
	int fd;
	size_t len;
	char buf[4096];
};

static void pout_flush(struct pout *o)
{
	size_t done = 0;

	while (done < o->len) {
		ssize_t r = write(o->fd, o->buf + done, o->len - done);

		if (r <= 0 && errno != EINTR)
			break;
		if (r > 0)
			done += (size_t)r;
	}
	o->len = 0;
}

static __printf(2, 3) void pout_printf(struct pout *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sizeof(o->buf) - o->len < 600)
		pout_flush(o);
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += min((size_t)n, sizeof(o->buf) - o->len - 1);
}

static unsigned long est(double x)
{
	return x < 0.5 ? 0 : (unsigned long)(x + 0.5);
}

/* Copy /proc/self/maps to @o. */
static void pout_maps(struct pout *o)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	pout_flush(o);
	while ((n = read(fd, o->buf, sizeof(o->buf))) > 0) {
		o->len = (size_t)n;
		pout_flush(o);
	}
	close(fd);
}

/* The heap profile, in gperftools' text format.  Prof lock held. */
static void __prof_write(struct pout *o)
{
	double lc = 0, lb = 0, ac = 0, ab = 0;
	unsigned int i, k;
	struct prof_stack *s;

	for (i = 0; i < (1U << STACK_BITS); i++) {
		for (s = stack_table[i]; s; s = s->next) {
			lc += s->live_count;
			lb += s->live_bytes;
			ac += s->alloc_count;
			ab += s->alloc_bytes;
		}
	}
	pout_printf(o, "heap profile: %6lu: %8lu [%6lu: %8lu] @ heapprofile\n",
		    est(lc), est(lb), est(ac), est(ab));
	for (i = 0; i < (1U << STACK_BITS); i++) {
		for (s = stack_table[i]; s; s = s->next) {
			pout_printf(o, "%6lu: %8lu [%6lu: %8lu] @",
				    est(s->live_count), est(s->live_bytes),
				    est(s->alloc_count), est(s->alloc_bytes));
			for (k = 0; k < s->depth; k++)
				pout_printf(o, " %p", s->pc[k]);
			pout_printf(o, "\n");
		}
	}
	pout_printf(o, "\nMAPPED_LIBRARIES:\n");
}

static struct pout dump_out;	/* prof lock */

/* Write the profile to @path.  Return: 0 or -errno. */
static int prof_write_file(const char *path, bool from_signal)
{
	int fd, err = 0;

	if (from_signal) {
		if (pthread_mutex_trylock(&prof_lock)) {
			WRITE_ONCE(dump_pending, true);
			return -EAGAIN;
		}
	} else {
		pthread_mutex_lock(&prof_lock);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
	} else {
		dump_out.fd = fd;
		dump_out.len = 0;
		__prof_write(&dump_out);
		pout_maps(&dump_out);
		close(fd);
	}
	pthread_mutex_unlock(&prof_lock);
	return err;
}

/* On the signal, or after one that found the lock taken. */
static void prof_dump_numbered(bool from_signal)
{
	char path[256];

	WRITE_ONCE(dump_pending, false);
	snprintf(path, sizeof(path), "%s.%d.%04u.heap", prefix, (int)getpid(),
		 fetch_add_relaxed(&dump_seq, 1));
	prof_write_file(path, from_signal);
}

static void prof_on_signal(int sig)
{
	int saved = errno;

	if (!prof_busy)
		prof_dump_numbered(true);
	else
		WRITE_ONCE(dump_pending, true);
	errno = saved;
}

int bitslab_prof_dump(const char *path)
{
	if (!prof_active)
		return -EINVAL;
	return prof_write_file(path, false);
}

/* "name+0xoff (file)" for return address @pc, with dladdr(). */
static void pout_symbol(struct pout *o, void *pc)
{
	Dl_info info;
	uintptr_t a = (uintptr_t)pc;

	if (dladdr((void *)(a - 1), &info) && info.dli_fname) {
		if (info.dli_sname)
			pout_printf(o, " %s+0x%lx", info.dli_sname,
				    (unsigned long)(a - (uintptr_t)info.dli_saddr));
		else
			pout_printf(o, " +0x%lx",
				    (unsigned long)(a - (uintptr_t)info.dli_fbase));
		pout_printf(o, " (%s)", info.dli_fname);
	}
}

/* A stack's figures, copied under the lock for the leak report. */
struct leak {
	const struct prof_stack *stack;	/* its pcs never change */
	double bytes, count;
	long samples;
};

/**
 * prof_leak_report() - the sampled blocks still live, grouped by call
 * stack, most bytes first, on @fd.  The figures are copied under the prof
 * lock; the report is symbolised without it, since dladdr() takes the
 * dynamic linker's lock, which a thread in dlopen() holds while it
 * allocates.
 */
static void prof_leak_report(int fd)
{
	static struct pout o;	/* only at exit */
	struct leak *v = NULL, t;
	const struct prof_stack *s;
	unsigned long n = 0, i, j, samples = 0;
	double lb = 0, lc = 0;
	size_t vsize = 0;

	pthread_mutex_lock(&prof_lock);
	if (nstacks) {
		vsize = ALIGN_UP(nstacks * sizeof(*v), OS_PAGE_SIZE);
		v = os_map(vsize);
	}
	for (i = 0; v && i < (1U << STACK_BITS); i++) {
		for (s = stack_table[i]; s; s = s->next) {
			if (s->samples <= 0)
				continue;
			v[n++] = (struct leak){ s, s->live_bytes,
						s->live_count, s->samples };
		}
	}
	pthread_mutex_unlock(&prof_lock);
	/* Insertion sort, most live bytes first. */
	for (i = 1; i < n; i++) {
		t = v[i];
		for (j = i; j > 0 && v[j - 1].bytes < t.bytes; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	for (i = 0; i < n; i++) {
		samples += (unsigned long)v[i].samples;
		lb += v[i].bytes;
		lc += v[i].count;
	}
	o.fd = fd;
	o.len = 0;
	pout_printf(&o, "bitslab: leak report: %lu sampled blocks still live at exit, from %lu call stacks: about %lu bytes in %lu blocks (estimated, 1 sample per %ld bytes allocated)\n",
		    samples, n, est(lb), est(lc), opt_prof_sample);
	for (i = 0; i < n; i++) {
		s = v[i].stack;
		pout_printf(&o, "bitslab: leak of about %lu bytes in %lu blocks (%ld samples) allocated at:\n",
			    est(v[i].bytes), est(v[i].count), v[i].samples);
		for (j = 0; j < s->depth; j++) {
			pout_printf(&o, "    #%lu %p", j, s->pc[j]);
			pout_symbol(&o, s->pc[j]);
			pout_printf(&o, "\n");
		}
	}
	pout_flush(&o);
	if (v)
		os_unmap(v, vsize);
}

/* ---------------------------------------------------------------------
 * Set-up and exit
 * ------------------------------------------------------------------- */

/*
 * The executable mapping of /proc/self/maps holding this code.  In
 * libbitslab.so that is the library's text: frames there are the
 * allocator's.  Statically linked (libbitslab.a), it is the program's:
 * self_lo and self_hi stay 0, and self_func() tells the frames instead.
 */
static void prof_find_self(void)
{
	char buf[4096], exe[256], line[512];
	uintptr_t me = (uintptr_t)prof_find_self;
	size_t ll = 0;
	ssize_t n, i, elen;
	int fd;

	elen = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[elen > 0 ? elen : 0] = '\0';
	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			unsigned long lo, hi;
			char *path;

			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 ||
			    me < lo || me >= hi)
				continue;
			path = strchr(line, '/');
			if (!path || strcmp(path, exe))
				self_lo = lo, self_hi = hi;
			close(fd);
			return;
		}
	}
	close(fd);
}

static void prof_fork_prepare(void)
{
	pthread_mutex_lock(&prof_lock);
}

static void prof_fork_parent(void)
{
	pthread_mutex_unlock(&prof_lock);
}

/* The forking thread, the child's only one, holds it: release it. */
static void prof_fork_child(void)
{
	pthread_mutex_unlock(&prof_lock);
}

/**
 * prof_init() - at the allocator's initialisation, after the options: set
 * the profiler up if prof=1 or leaks=1 asked for it.  Runs before any heap
 * is set up, so that every heap gets the one-block bins.
 */
void prof_init(void)
{
	const char *env = getenv("BITSLAB_PROF_PREFIX");

	if (!opt_prof && !opt_leaks)
		return;
	addr_table = os_map(sizeof(*addr_table) << ADDR_BITS);
	stack_table = os_map(sizeof(*stack_table) << STACK_BITS);
	if (!addr_table || !stack_table)
		return;
	if (env && env[0] && strlen(env) < sizeof(prefix))
		strcpy(prefix, env);
	prof_find_self();
	pthread_atfork(prof_fork_prepare, prof_fork_parent, prof_fork_child);
	if (opt_prof_signal) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = prof_on_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction((int)opt_prof_signal, &sa, NULL);
	}
	prof_active = true;
}

/**
 * prof_at_exit() - the profile of what is still live, to
 * <prefix>.<pid>.heap (prof=1), and the leak report on @fd (leaks=1).
 */
void prof_at_exit(int fd)
{
	char path[256];

	if (!prof_active)
		return;
	prof_busy = true;	/* this thread samples no more */
	if (opt_prof) {
		char msg[300];
		int n;
		ssize_t __maybe_unused r;

		snprintf(path, sizeof(path), "%s.%d.heap", prefix, (int)getpid());
		if (prof_write_file(path, false) == 0) {
			n = snprintf(msg, sizeof(msg),
				     "bitslab: heap profile written to %s\n", path);
			r = write(fd, msg, (size_t)min(n, (int)sizeof(msg) - 1));
		}
	}
	if (opt_leaks)
		prof_leak_report(fd);
}
