// SPDX-License-Identifier: MIT
/*
 * workload.c - run one workload from the command line and say whether it
 * came out right.  Built twice: `workload` reaches its allocator through
 * malloc (run it under LD_PRELOAD of bitslab or of a peer), `workload-api`
 * through bitslab's prefixed API.
 *
 *   workload [--verify] NAME [ARGS...]
 *   workload --ab ROUNDS LIB_A LIB_B NAME [ARGS...]
 *
 * Prints one line: the workload, its arguments, what it found, how long it
 * took and the process's peak resident set.  Exit status 0 if everything it checked was right, 1 if not, 2 on
 * a usage error.  WL_SEED=n seeds the random workloads.
 */
#define _GNU_SOURCE	/* dladdr(), dlinfo() */
#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "workloads.h"

struct args {
	int argc;
	char **argv;
};

/* Positional argument @i as a number, or @def if absent. */
static long arg_long(struct args *a, int i, long def)
{
	char *end;
	long v;

	if (i >= a->argc)
		return def;
	v = strtol(a->argv[i], &end, 0);
	if (*end || end == a->argv[i] || v < 0)
		wl_die("not a number: %s", a->argv[i]);
	return v;
}


static const char usage[] =
	"usage: workload [--verify] NAME [ARGS...]\n"
	"       workload --ab ROUNDS LIB_A LIB_B NAME [ARGS...]\n"
	"  list     [N=100000] [THREADS=4]    Collatz search, linked lists\n"
	"  ivec     [N=300000] [THREADS=4]    Collatz search, vectors of longs\n"
	"  vectors  [THREADS=4] [OPS=200000] [NVEC=1024]\n"
	"  frag     [LIMIT_MIB=16] [ROUNDS=8] fragmentation under RLIMIT_AS\n"
	"  frag-course [LIMIT_KIB=16384] [ROUNDS=2]  the course's: absolute RLIMIT_AS, unchecked malloc\n"
	"  prodcons [THREADS=4] [ITEMS=500000] [MAX_SIZE=512]\n"
	"  pcsplit  [THREADS=4] [ITEMS=500000] [MAX_SIZE=512]  THREADS/2 producers, as many consumers\n"
	"  larson   [THREADS=4] [OPS=100000] [GENERATIONS=10] [SLOTS=1000] [MAX_SIZE=1024]\n"
	"  micro    [LO=16] [HI=16] [THREADS=1] [OPS=10000000]\n"
	"  churn    [THREADS=4] [ROUNDS=10] [OPS=50000] [MAX_SIZE=1024]  threads in rounds, shared array\n"
	"  xfree    [THREADS=4] [ROUNDS=20] [BLOCKS=5000] [MAX_SIZE=512]  free half of another's blocks\n"
	"  wset     [THREADS=4] [CYCLES=8] [PEAK=20000] [MAX_SIZE=1024]  rising and falling working set\n"
	"  bigbuf   [COUNT=20] [MIN_KIB=5120] [MAX_KIB=25600] [ITERS=2000]  big buffers replaced, zero-filled\n"
	"  idle     [THREADS=4] [MIB=100] [SLEEP_MS=1500] [SLACK_MIB=4] [CROSS=50]\n           burst, free all (CROSS%% by another thread), idle: RSS back?\n"
	"--verify: also compute the Collatz answer directly and compare.\n"
	"--ab: load allocators LIB_A and LIB_B (shared objects with malloc,\n"
	"  realloc and free) with dlopen, run the workload ROUNDS times through\n"
	"  each in turn, print the medians of the rounds' time ratios A/B.\n"
	"WL_SEED=n seeds the random workloads (default 1).\n";

/*
 * Run workload @name with arguments @a through @al: its result in @r, a
 * line saying what it did in @what.  Return: 0, -1 if what it checked was
 * wrong, -2 for an unknown workload.
 */
static int run_named(const struct wl_alloc *al, const char *name,
		     struct args a, uint64_t seed, bool verify,
		     char *what, size_t what_len, struct wl_result *r)
{
	int rc;

	if (!strcmp(name, "list") || !strcmp(name, "ivec")) {
		long n = arg_long(&a, 0, !strcmp(name, "list") ? 100000 : 300000);
		unsigned int t = (unsigned int)arg_long(&a, 1, 4);

		rc = (name[0] == 'l' ? collatz_list_run : collatz_ivec_run)(al, n, t, r);
		snprintf(what, what_len, "n=%ld threads=%u: longest from %ld, %ld steps",
			 n, t, r->best_start, r->best_steps);
		if (!rc && verify) {
			long start, steps;

			collatz_longest(n, &start, &steps);
			if (start != r->best_start || steps != r->best_steps) {
				wl_fail(r, "expected %ld steps from %ld", steps, start);
				rc = -1;
			}
		}
	} else if (!strcmp(name, "vectors")) {
		unsigned int t = (unsigned int)arg_long(&a, 0, 4);
		long ops = arg_long(&a, 1, 200000), nvec = arg_long(&a, 2, 1024);

		rc = vectors_run(al, t, nvec, ops, seed, r);
		snprintf(what, what_len, "threads=%u ops=%ld vectors=%ld", t, ops, nvec);
	} else if (!strcmp(name, "frag")) {
		long limit = arg_long(&a, 0, 16);
		int rounds = (int)arg_long(&a, 1, 8);

		rc = frag_run(al, limit, rounds, seed, r);
		snprintf(what, what_len, "limit=%ld MiB rounds=%d: %s", limit,
			 rounds, rc ? "failed" : "passed");
	} else if (!strcmp(name, "frag-course")) {
		long limit = arg_long(&a, 0, 16384);
		int rounds = (int)arg_long(&a, 1, 2);

		rc = frag_course_run(al, (size_t)limit * 1024, rounds, seed, r);
		snprintf(what, what_len,
			 "RLIMIT_AS %ld KiB absolute, rounds=%d, peak %ld KiB live: %s",
			 limit, rounds, r->best_start, rc ? "failed" : "passed");
		r->best_start = 0;
	} else if (!strcmp(name, "prodcons") || !strcmp(name, "pcsplit")) {
		unsigned int t = (unsigned int)arg_long(&a, 0, 4);
		long items = arg_long(&a, 1, 500000);
		size_t max = (size_t)arg_long(&a, 2, 512);

		rc = (!strcmp(name, "pcsplit") ? prodcons_split_run :
		      prodcons_run)(al, t, items, max, seed, r);
		snprintf(what, what_len, "threads=%u items=%ld max=%zu", t, items, max);
	} else if (!strcmp(name, "larson")) {
		unsigned int t = (unsigned int)arg_long(&a, 0, 4);
		long ops = arg_long(&a, 1, 100000);
		int gens = (int)arg_long(&a, 2, 10);
		long slots = arg_long(&a, 3, 1000);
		size_t max = (size_t)arg_long(&a, 4, 1024);

		rc = larson_run(al, t, slots, ops, gens, max, seed, r);
		snprintf(what, what_len, "threads=%u ops=%ld generations=%d slots=%ld max=%zu",
			 t, ops, gens, slots, max);
	} else if (!strcmp(name, "micro")) {
		size_t lo = (size_t)arg_long(&a, 0, 16), hi = (size_t)arg_long(&a, 1, 16);
		unsigned int t = (unsigned int)arg_long(&a, 2, 1);
		long ops = arg_long(&a, 3, 10000000);

		rc = micro_run(al, t, lo, hi < lo ? lo : hi, ops, seed, r);
		snprintf(what, what_len, "sizes %zu..%zu threads=%u ops=%ld", lo, hi, t, ops);
	} else if (!strcmp(name, "churn")) {
		unsigned int t = (unsigned int)arg_long(&a, 0, 4);
		int rounds = (int)arg_long(&a, 1, 10);
		long ops = arg_long(&a, 2, 50000);
		size_t max = (size_t)arg_long(&a, 3, 1024);

		rc = churn_run(al, t, rounds, ops, max, seed, r);
		snprintf(what, what_len, "threads=%u rounds=%d ops=%ld max=%zu",
			 t, rounds, ops, max);
	} else if (!strcmp(name, "xfree")) {
		unsigned int t = (unsigned int)arg_long(&a, 0, 4);
		int rounds = (int)arg_long(&a, 1, 20);
		long blocks = arg_long(&a, 2, 5000);
		size_t max = (size_t)arg_long(&a, 3, 512);

		rc = xfree_run(al, t, rounds, blocks, max, seed, r);
		snprintf(what, what_len, "threads=%u rounds=%d blocks=%ld max=%zu",
			 t, rounds, blocks, max);
	} else if (!strcmp(name, "wset")) {
		unsigned int t = (unsigned int)arg_long(&a, 0, 4);
		int cycles = (int)arg_long(&a, 1, 8);
		long peak = arg_long(&a, 2, 20000);
		size_t max = (size_t)arg_long(&a, 3, 1024);

		rc = wset_run(al, t, cycles, peak, max, seed, r);
		snprintf(what, what_len,
			 "threads=%u cycles=%d peak=%ld max=%zu: growing %.3f s, shrinking %.3f s (the workers' sum)",
			 t, cycles, peak, max, r->phase_s[0], r->phase_s[1]);
	} else if (!strcmp(name, "bigbuf")) {
		long count = arg_long(&a, 0, 20);
		size_t lo = (size_t)arg_long(&a, 1, 5120) << 10;
		size_t hi = (size_t)arg_long(&a, 2, 25600) << 10;
		long iters = arg_long(&a, 3, 2000);

		rc = bigbuf_run(al, count, lo, hi < lo ? lo : hi, iters, seed, r);
		snprintf(what, what_len, "count=%ld sizes %zu..%zu KiB iters=%ld",
			 count, lo >> 10, hi >> 10, iters);
	} else if (!strcmp(name, "idle")) {
		unsigned int t = (unsigned int)arg_long(&a, 0, 4);
		long mib = arg_long(&a, 1, 100), ms = arg_long(&a, 2, 1500);
		long slack = arg_long(&a, 3, 4), peak = 0;
		unsigned int cross = (unsigned int)arg_long(&a, 4, 50);

		rc = idle_run(al, t, mib, ms, slack, cross, seed, r, &peak);
		snprintf(what, what_len,
			 "threads=%u burst=%ld MiB cross=%u%%: resident %.1f MiB before, %.1f at peak, %.1f after %ld ms idle",
			 t, mib, cross, r->best_start / 1024.0, peak / 1024.0,
			 r->best_steps / 1024.0, ms);
	} else {
		return -2;
	}
	return rc;
}

/* Is @sym defined by the object of @h itself (not by a library it
 * needs, as dlsym() would find libc's malloc for libm)? */
static bool ab_own(void *h, void *sym)
{
	struct link_map *lm;
	Dl_info di;

	return sym && !dlinfo(h, RTLD_DI_LINKMAP, &lm) && dladdr(sym, &di) &&
	       di.dli_fname && !strcmp(di.dli_fname, lm->l_name);
}

static int ab_load(const char *path, struct wl_alloc *al)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "workload: %s\n", dlerror());
		return -1;
	}
	al->name = path;
	al->malloc = (void *(*)(size_t))dlsym(h, "malloc");
	al->realloc = (void *(*)(void *, size_t))dlsym(h, "realloc");
	al->free = (void (*)(void *))dlsym(h, "free");
	if (!ab_own(h, (void *)al->malloc) || !ab_own(h, (void *)al->realloc) ||
	    !ab_own(h, (void *)al->free)) {
		fprintf(stderr, "workload: %s does not define malloc, realloc and free\n",
			path);
		return -1;
	}
	return 0;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

/* Print the median and quartiles of @n ratios @v (sorted here). */
static void ab_print(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf("  %-22s %.3f (quartiles %.3f - %.3f)\n", what, v[(n - 1) / 2],
	       v[(n - 1) / 4], v[3 * (n - 1) / 4]);
}

/*
 * --ab: two allocators in one process, each loaded with dlopen() (a copy
 * of its own: two libbitslab.so of two trees load side by side), and the
 * workload run ROUNDS times through each in turn, the order alternating,
 * with the same seed in a round.  A machine whose speed wanders over
 * seconds slows both runs of a round alike, so the per-round ratios
 * scatter less than those of two processes.  Time only: the process's
 * peak RSS is both allocators'.
 */
static int ab_main(int argc, char **argv, uint64_t seed)
{
	struct wl_alloc al[2];
	struct wl_result res;
	double *t, *q;		/* [round][allocator][wall, growing, shrinking] */
	char what[160];
	int rounds, r, k, i, rc = 0;

	if (argc < 4 || (rounds = atoi(argv[0])) < 1) {
		fputs(usage, stderr);
		return 2;
	}
	if (ab_load(argv[1], &al[0]) || ab_load(argv[2], &al[1]))
		return 2;
	t = calloc((size_t)rounds * 6, sizeof(*t));
	q = calloc((size_t)rounds, sizeof(*q));
	if (!t || !q)
		wl_die("out of memory");
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < 2; k++) {
			double *m;
			double t0;

			i = r & 1 ? 1 - k : k;
			m = &t[(r * 2 + i) * 3];
			t0 = wl_now();
			rc = run_named(&al[i], argv[3],
				       (struct args){ argc - 4, argv + 4 },
				       seed + (uint64_t)r, false, what,
				       sizeof(what), &res);
			m[0] = wl_now() - t0;
			m[1] = res.phase_s[0];
			m[2] = res.phase_s[1];
			if (rc == -2) {
				fprintf(stderr, "workload: unknown workload %s\n",
					argv[3]);
				return 2;
			}
			if (rc) {
				printf("FAIL %s under %s: %s\n", argv[3],
				       al[i].name, res.why);
				return 1;
			}
		}
	}
	printf("ab %s: %s; %d rounds\n  A = %s\n  B = %s\n", argv[3], what,
	       rounds, al[0].name, al[1].name);
	for (k = 0; k < 3; k++) {
		static const char *const label[] = {
			"wall A/B", "growing A/B", "shrinking A/B"
		};

		if (k && t[k] == 0)
			break;		/* only wset times its halves */
		for (r = 0; r < rounds; r++)
			q[r] = t[r * 6 + k] / t[r * 6 + 3 + k];
		ab_print(label[k], q, rounds);
	}
	for (i = 0; i < 2; i++) {
		for (r = 0; r < rounds; r++)
			q[r] = t[(r * 2 + i) * 3];
		qsort(q, (size_t)rounds, sizeof(*q), cmp_double);
		printf("  %c median wall %.4f s\n", 'A' + i, q[(rounds - 1) / 2]);
	}
	free(t);
	free(q);
	return 0;
}

int main(int argc, char **argv)
{
	const struct wl_alloc *al = &wl_default_alloc;
	struct wl_result r;
	const char *name, *seed_env = getenv("WL_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 1;
	bool verify = false;
	struct rusage ru;
	char what[160];
	double t0;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "--ab"))
		return ab_main(argc - 2, argv + 2, seed);
	if (argc > 1 && !strcmp(argv[1], "--verify")) {
		verify = true;
		argv++;
		argc--;
	}
	if (argc < 2 || !strcmp(argv[1], "--help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	name = argv[1];
	t0 = wl_now();
	rc = run_named(al, name, (struct args){ argc - 2, argv + 2 }, seed,
		       verify, what, sizeof(what), &r);
	if (rc == -2) {
		fprintf(stderr, "workload: unknown workload %s\n%s", name, usage);
		return 2;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%s %s: %s; %llu allocations, %llu checked, %.3f s, peak RSS %.1f MiB [%s]\n",
	       rc ? "FAIL" : "ok  ", name, what, (unsigned long long)r.ops,
	       (unsigned long long)r.checked, wl_now() - t0,
	       (double)ru.ru_maxrss / 1024.0, al->name);
	if (rc)
		printf("FAIL %s: %s\n", name, r.why[0] ? r.why : "(no reason given)");
	fflush(stdout);
	return rc ? 1 : 0;
}
