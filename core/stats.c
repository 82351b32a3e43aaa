// SPDX-License-Identifier: MIT
/*
 * stats.c - what BITSLAB_STATS=1 prints at exit, and bitslab_stats_print().
 * Formats with snprintf into a stack buffer and writes once: no allocation
 * (glibc's snprintf does not allocate for these conversions).
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <bitslab.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "heap.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "reclaim.h"
#include "shared.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

void bitslab_stats_print(int fd)
{
	struct heap_stats hs;
	struct reclaim_stats rs;
	long threads, lblocks;
	size_t lbytes;
	char buf[1536];
	int n;
	ssize_t __maybe_unused r;

	heap_sum_stats(&hs, &threads);
	reclaim_get_stats(&rs);
	large_get_stats(&lblocks, &lbytes);
	n = snprintf(buf, sizeof(buf),
		"bitslab %s statistics\n"
		"  mapped now          %10.2f MiB   peak %10.2f MiB\n"
		"  chunks live         %10ld        shared %ld, cached %ld, awaiting grace period %ld\n"
		"  large blocks live   %10ld        %.2f MiB; reused from caches %llu\n"
		"  threads with heaps  %10ld\n"
		"  bin refills         %10llu        blocks claimed from bitmaps %llu\n"
		"  bin flushes         %10llu        blocks released to bitmaps %llu\n"
		"  remote frees        %10llu        in %llu pushes; taken back %llu\n"
		"  chunks created      %10llu        adopted %llu, retired %llu\n"
		"  grace periods       %10ld        chunks reclaimed %ld%s\n",
		BITSLAB_VERSION, MiB(os_mapped_bytes()), MiB(os_mapped_peak()),
		chunk_live_count(), shared_chunk_count(), chunk_cache_count(),
		rs.pending, lblocks, MiB(lbytes),
		(unsigned long long)hs.large_reused, threads,
		(unsigned long long)hs.refills, (unsigned long long)hs.claimed,
		(unsigned long long)hs.flushes, (unsigned long long)hs.released,
		(unsigned long long)hs.remote_frees,
		(unsigned long long)hs.remote_pushes,
		(unsigned long long)hs.remote_taken,
		(unsigned long long)hs.chunks_new,
		(unsigned long long)hs.chunks_adopted,
		(unsigned long long)hs.chunks_retired,
		rs.grace_periods, rs.reclaimed,
		rs.helper ? " (reclaim thread running)" : "");
	if (n > (int)sizeof(buf))
		n = (int)sizeof(buf);
	r = write(fd, buf, (size_t)n);
}

/*
 * Where BITSLAB_STATS=1 output goes: a duplicate of stderr taken at the
 * first allocation, because some programs close stderr themselves before
 * exiting (GNU coreutils' close_stdout) and library destructors run after.
 */
static int stats_fd = -1;

/** stats_init() - after options are parsed: keep a handle on stderr. */
void stats_init(void)
{
	if (opt_stats)
		stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 64);
}

__attribute__((destructor)) static void stats_at_exit(void)
{
	if (opt_stats)
		bitslab_stats_print(stats_fd >= 0 ? stats_fd : STDERR_FILENO);
}
