// SPDX-License-Identifier: MIT
/*
 * stats.c - what BITSLAB_STATS prints at exit, bitslab_stats_print(),
 * bitslab_stats_print_json() and malloc_info()'s XML.
 *
 * Everything is gathered first (heap_sum_stats() adds up every heap's
 * counters under the pool lock), then formatted with snprintf into a stack
 * buffer that is written out whenever it fills: no allocation on the fd
 * paths (glibc's snprintf does not allocate for these conversions), so
 * this also runs from a destructor after the program's own teardown.
 *
 * What the per-class columns count (see Documentation/usage.rst):
 *   allocs   blocks taken out of the class's chunk bitmaps into threads'
 *            bins (bin refills); a block that goes round a bin (freed and
 *            allocated again by one thread) is not counted again;
 *   frees    blocks released back into those bitmaps (bin overflows,
 *            remote frees drained by the owner, thread exit, trim);
 *   remote   blocks freed by a thread that does not own their chunk;
 *   in use   blocks taken in the bitmaps minus those cached in bins: blocks
 *            the program holds, plus remote frees still on their way;
 *   free     the other blocks of the class's live chunks.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bitslab.h>

#include "chunk.h"
#include "chunk_cache.h"
#include "heap.h"
#include "idle.h"
#include "large.h"
#include "options.h"
#include "os.h"
#include "prof.h"
#include "reclaim.h"
#include "shared.h"
#include "counters.h"
#include "stats.h"

#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

/* ---------------------------------------------------------------------
 * Gathering
 * ------------------------------------------------------------------- */

struct class_row {
	unsigned int cls;
	unsigned int size;
	long chunks;
	long mapped;
	long blocks;
	long in_use;
	long free;
	unsigned long allocs;
	unsigned long frees;
	unsigned long remote;
};

struct large_row {
	size_t from, to;
	long live;
	long bytes;
	unsigned long allocs, frees;
};

struct snapshot {
	struct heap_stats hs;
	struct {
		long shared_chunks, cached_chunks, retired_pending;
		size_t cache_purged;
		long grace_periods, chunks_reclaimed, unwaited;
		bool helper;
	} ss;
	struct idle_stats idle;
	long threads, lblocks;
	size_t lbytes, mapped, peak, reserved;
	long chunks_live, chunks_fresh;
	unsigned int nclasses, nlarge;
	struct class_row cls[NR_SIZE_CLASSES];
	struct large_row large[LARGE_RANGES];
};

static void snapshot_take(struct snapshot *s)
{
	struct reclaim_stats rs;
	unsigned int c, r;

	heap_sum_stats(&s->hs, &s->threads);
	reclaim_get_stats(&rs);
	s->ss.shared_chunks = shared_chunk_count();
	s->ss.cached_chunks = chunk_cache_count();
	s->ss.cache_purged = chunk_cache_purged();
	s->ss.retired_pending = rs.pending;
	s->ss.grace_periods = rs.grace_periods;
	s->ss.chunks_reclaimed = rs.reclaimed;
	s->ss.unwaited = rs.unwaited;
	s->ss.helper = rs.helper;
	idle_get_stats(&s->idle);
	/* With the bins' counts of the same sum as the rows below. */
	large_live_less_binned(&s->hs, &s->lblocks, &s->lbytes);
	s->mapped = os_mapped_total();
	s->peak = os_mapped_peak();
	s->reserved = os_reserved_bytes();
	s->chunks_live = chunk_live_count();
	s->chunks_fresh = chunk_cache_mapped();
	s->nclasses = 0;
	for (c = 0; c < NR_SIZE_CLASSES; c++) {
		struct class_counts *k = &class_counts[c];
		struct class_row *row = &s->cls[s->nclasses];
		unsigned long released = s->hs.cls_released[c] +
					 READ_ONCE(k->shared);
		long taken = (long)(s->hs.cls_claimed[c] - released);

		row->chunks = READ_ONCE(k->chunks);
		row->allocs = s->hs.cls_claimed[c];
		if (!row->chunks && !row->allocs)
			continue;
		row->cls = c;
		row->size = size_classes[c].size;
		row->mapped = READ_ONCE(k->bytes);
		row->blocks = READ_ONCE(k->blocks);
		row->in_use = taken - (long)s->hs.cls_binned[c];
		if (row->in_use < 0)
			row->in_use = 0;
		if (row->in_use > row->blocks)
			row->in_use = row->blocks;
		row->free = row->blocks - row->in_use;
		row->frees = released;
		row->remote = s->hs.cls_remote[c];
		s->nclasses++;
	}
	s->nlarge = 0;
	for (r = 0; r < LARGE_RANGES; r++) {
		struct large_counts *k = &large_counts[r];
		struct large_row *row = &s->large[s->nlarge];

		row->allocs = READ_ONCE(k->allocs);
		row->live = READ_ONCE(k->live);
		row->bytes = READ_ONCE(k->bytes);
		/* Blocks in threads' large bins are not the program's. */
		if (r >= LBIN_RANGE_FIRST && r < LBIN_RANGE_FIRST + LBIN_RANGES) {
			row->live -= (long)s->hs.lbin_range_blocks[
				r - LBIN_RANGE_FIRST];
			row->bytes -= (long)s->hs.lbin_range_bytes[
				r - LBIN_RANGE_FIRST];
			if (row->live < 0 || row->bytes < 0)
				row->live = row->bytes = 0;
		}
		if (!row->allocs && !row->live)
			continue;
		row->from = (size_t)1 << r;
		row->to = r < 63 ? ((size_t)1 << (r + 1)) - 1 : SIZE_MAX;
		row->frees = READ_ONCE(k->frees);
		s->nlarge++;
	}
}

/* ---------------------------------------------------------------------
 * Output: a buffer written to a file descriptor or a stdio stream
 * ------------------------------------------------------------------- */

struct out {
	int fd;			/* -1: write to fp */
	FILE *fp;
	size_t len;
	char buf[4096];
};

static void out_flush(struct out *o)
{
	size_t done = 0;

	if (o->fd < 0) {
		if (o->len)
			fwrite(o->buf, 1, o->len, o->fp);
		o->len = 0;
		return;
	}
	while (done < o->len) {
		ssize_t r = write(o->fd, o->buf + done, o->len - done);

		if (r <= 0)
			break;
		done += (size_t)r;
	}
	o->len = 0;
}

/* One formatted piece of at most 512 bytes. */
static __attribute__((format(printf, 2, 3))) void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sizeof(o->buf) - o->len < 512)
		out_flush(o);
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += min((size_t)n, sizeof(o->buf) - o->len - 1);
}

static void print_text(struct out *o, const struct snapshot *s)
{
	const struct heap_stats *hs = &s->hs;
	unsigned int i;

	out_printf(o,
		"bitslab %s statistics\n"
		"  mapped now          %10.2f MiB   peak %10.2f MiB; reserved ahead, untouched %.2f MiB\n"
		"  chunks live         %10ld        shared %ld, cached %ld (%.2f MiB of pages purged so far), awaiting grace period %ld\n"
		"  large blocks live   %10ld        %.2f MiB; reused from caches %llu; in thread bins %llu, %.2f MiB\n"
		"  threads with heaps  %10ld\n",
		BITSLAB_VERSION, MiB(s->mapped), MiB(s->peak), MiB(s->reserved),
		s->chunks_live, s->ss.shared_chunks, s->ss.cached_chunks,
		MiB(s->ss.cache_purged),
		s->ss.retired_pending, s->lblocks, MiB(s->lbytes),
		(unsigned long long)hs->large_reused,
		(unsigned long long)hs->large_binned,
		MiB(hs->large_binned_bytes), s->threads);
	out_printf(o,
		"  bin refills         %10llu        blocks claimed from bitmaps %llu\n"
		"  bin flushes         %10llu        blocks released to bitmaps %llu\n"
		"  remote frees        %10llu        in %llu pushes; taken back %llu\n"
		"  chunks created      %10llu        adopted %llu, retired %llu, mapped anew %ld\n"
		"  grace periods       %10ld        chunks reclaimed %ld (%ld without waiting)%s\n"
		"  idle owners drained %10ld        in %ld looks; page runs purged %ld\n",
		(unsigned long long)hs->refills, (unsigned long long)hs->claimed,
		(unsigned long long)hs->flushes, (unsigned long long)hs->released,
		(unsigned long long)hs->remote_frees,
		(unsigned long long)hs->remote_pushes,
		(unsigned long long)hs->remote_taken,
		(unsigned long long)hs->chunks_new,
		(unsigned long long)hs->chunks_adopted,
		(unsigned long long)hs->chunks_retired, s->chunks_fresh,
		s->ss.grace_periods, s->ss.chunks_reclaimed, s->ss.unwaited,
		s->ss.helper ? " (reclaim thread running)" : "",
		s->idle.drains, s->idle.looks, s->idle.purges);
	if (s->nclasses) {
		out_printf(o, "  size classes in use (allocs/frees: blocks out of and back into chunk bitmaps)\n"
			   "  %5s %6s %7s %10s %9s %9s %9s %11s %11s %10s\n",
			   "class", "size", "chunks", "KiB mapped", "blocks",
			   "in use", "free", "allocs", "frees", "remote");
	}
	for (i = 0; i < s->nclasses; i++) {
		const struct class_row *r = &s->cls[i];

		out_printf(o, "  %5u %6u %7ld %10ld %9ld %9ld %9ld %11lu %11lu %10lu\n",
			   r->cls, r->size, r->chunks, r->mapped / 1024,
			   r->blocks, r->in_use, r->free, r->allocs, r->frees,
			   r->remote);
	}
	if (s->nlarge) {
		out_printf(o, "  large blocks by mapping size\n"
			   "  %12s %12s %7s %10s %11s %11s\n",
			   "from KiB", "to KiB", "live", "KiB mapped", "allocs",
			   "frees");
	}
	for (i = 0; i < s->nlarge; i++) {
		const struct large_row *r = &s->large[i];

		out_printf(o, "  %12zu %12zu %7ld %10ld %11lu %11lu\n",
			   r->from / 1024, (r->to + 1) / 1024, r->live,
			   r->bytes / 1024, r->allocs, r->frees);
	}
}

static void print_json(struct out *o, const struct snapshot *s)
{
	const struct heap_stats *hs = &s->hs;
	unsigned int i;

	out_printf(o,
		"{\"version\": \"%s\", \"mapped\": %zu, \"mapped_peak\": %zu, "
		"\"reserved\": %zu, "
		"\"chunks_live\": %ld, \"chunks_shared\": %ld, "
		"\"chunks_cached\": %ld, \"cache_purged\": %zu, "
		"\"chunks_awaiting_grace\": %ld, "
		"\"large_live\": %ld, \"large_bytes\": %zu, "
		"\"large_binned\": %llu, \"large_binned_bytes\": %llu, "
		"\"threads\": %ld,\n",
		BITSLAB_VERSION, s->mapped, s->peak, s->reserved, s->chunks_live,
		s->ss.shared_chunks, s->ss.cached_chunks, s->ss.cache_purged,
		s->ss.retired_pending, s->lblocks, s->lbytes,
		(unsigned long long)s->hs.large_binned,
		(unsigned long long)s->hs.large_binned_bytes, s->threads);
	out_printf(o,
		" \"bin_refills\": %llu, \"blocks_claimed\": %llu, "
		"\"bin_flushes\": %llu, \"blocks_released\": %llu, "
		"\"remote_frees\": %llu, \"remote_pushes\": %llu, "
		"\"remote_taken\": %llu, \"chunks_created\": %llu, "
		"\"chunks_adopted\": %llu, \"chunks_retired\": %llu, "
		"\"large_reused\": %llu, \"grace_periods\": %ld, "
		"\"chunks_reclaimed\": %ld, \"chunks_unwaited\": %ld, "
		"\"chunks_fresh\": %ld, \"idle_looks\": %ld, "
		"\"idle_drains\": %ld, \"idle_purges\": %ld,\n \"classes\": [",
		(unsigned long long)hs->refills, (unsigned long long)hs->claimed,
		(unsigned long long)hs->flushes, (unsigned long long)hs->released,
		(unsigned long long)hs->remote_frees,
		(unsigned long long)hs->remote_pushes,
		(unsigned long long)hs->remote_taken,
		(unsigned long long)hs->chunks_new,
		(unsigned long long)hs->chunks_adopted,
		(unsigned long long)hs->chunks_retired,
		(unsigned long long)hs->large_reused,
		s->ss.grace_periods, s->ss.chunks_reclaimed, s->ss.unwaited,
		s->chunks_fresh, s->idle.looks, s->idle.drains,
		s->idle.purges);
	for (i = 0; i < s->nclasses; i++) {
		const struct class_row *r = &s->cls[i];

		out_printf(o, "%s\n  {\"class\": %u, \"size\": %u, \"chunks\": %ld, "
			   "\"mapped\": %ld, \"blocks\": %ld, \"in_use\": %ld, "
			   "\"free\": %ld, \"allocs\": %lu, \"frees\": %lu, "
			   "\"remote_frees\": %lu}",
			   i ? "," : "", r->cls, r->size, r->chunks, r->mapped,
			   r->blocks, r->in_use, r->free, r->allocs, r->frees,
			   r->remote);
	}
	out_printf(o, "],\n \"large\": [");
	for (i = 0; i < s->nlarge; i++) {
		const struct large_row *r = &s->large[i];

		out_printf(o, "%s\n  {\"from\": %zu, \"to\": %zu, \"live\": %ld, "
			   "\"mapped\": %ld, \"allocs\": %lu, \"frees\": %lu}",
			   i ? "," : "", r->from, r->to, r->live, r->bytes,
			   r->allocs, r->frees);
	}
	out_printf(o, "]}\n");
}

/* The snapshot is big (about 10 KiB): static, under a lock. */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot snap;
static struct out out;

void bitslab_stats_print(int fd)
{
	pthread_mutex_lock(&print_lock);
	snapshot_take(&snap);
	out.fd = fd;
	out.len = 0;
	print_text(&out, &snap);
	out_flush(&out);
	pthread_mutex_unlock(&print_lock);
}

void bitslab_stats_print_json(int fd)
{
	pthread_mutex_lock(&print_lock);
	snapshot_take(&snap);
	out.fd = fd;
	out.len = 0;
	print_json(&out, &snap);
	out_flush(&out);
	pthread_mutex_unlock(&print_lock);
}

/**
 * stats_print_xml() - malloc_info(0, @fp): glibc's layout, one <heap> for
 * the whole allocator.  <sizes> lists the free blocks of each class in use
 * (in chunks and in bins) and the live large blocks by size range.
 */
void stats_print_xml(FILE *fp)
{
	struct snapshot *s = &snap;
	unsigned long free_blocks = 0, free_bytes = 0;
	unsigned int i;

	pthread_mutex_lock(&print_lock);
	snapshot_take(s);
	out.fd = -1;
	out.fp = fp;
	out.len = 0;
	out_printf(&out, "<malloc version=\"bitslab-%s\">\n<heap nr=\"0\">\n<sizes>\n",
		   BITSLAB_VERSION);
	for (i = 0; i < s->nclasses; i++) {
		const struct class_row *r = &s->cls[i];

		out_printf(&out, "  <size from=\"%u\" to=\"%u\" total=\"%lu\" count=\"%ld\"/>\n",
			   r->cls ? size_classes[r->cls - 1].size + 1 : 1, r->size,
			   (unsigned long)r->free * r->size, r->free);
		free_blocks += (unsigned long)r->free;
		free_bytes += (unsigned long)r->free * r->size;
	}
	out_printf(&out, "</sizes>\n"
		   "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
		   "<total type=\"rest\" count=\"%lu\" size=\"%lu\"/>\n"
		   "<system type=\"current\" size=\"%zu\"/>\n"
		   "<system type=\"max\" size=\"%zu\"/>\n"
		   "<aspace type=\"total\" size=\"%zu\"/>\n"
		   "<aspace type=\"mprotect\" size=\"%zu\"/>\n</heap>\n",
		   free_blocks, free_bytes, s->mapped, s->peak, s->mapped,
		   s->mapped);
	for (i = 0; i < s->nlarge; i++) {
		const struct large_row *r = &s->large[i];

		out_printf(&out, "<large from=\"%zu\" to=\"%zu\" count=\"%ld\" size=\"%ld\"/>\n",
			   r->from, r->to, r->live, r->bytes);
	}
	out_printf(&out, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
		   "<total type=\"rest\" count=\"%lu\" size=\"%lu\"/>\n"
		   "<total type=\"mmap\" count=\"%ld\" size=\"%zu\"/>\n"
		   "<system type=\"current\" size=\"%zu\"/>\n"
		   "<system type=\"max\" size=\"%zu\"/>\n"
		   "<aspace type=\"total\" size=\"%zu\"/>\n"
		   "<aspace type=\"mprotect\" size=\"%zu\"/>\n</malloc>\n",
		   free_blocks, free_bytes, s->lblocks, s->lbytes, s->mapped,
		   s->peak, s->mapped, s->mapped);
	out_flush(&out);
	pthread_mutex_unlock(&print_lock);
}

/*
 * Where BITSLAB_STATS output (and the leak report) goes: a duplicate of stderr taken at the
 * first allocation, because some programs close stderr themselves before
 * exiting (GNU coreutils' close_stdout) and library destructors run after.
 */
static int stats_fd = -1;

/** stats_init() - after options are parsed: keep a handle on stderr. */
void stats_init(void)
{
	if (opt_stats || opt_prof || opt_leaks)
		stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 64);
	prof_init();
}

__attribute__((destructor)) static void stats_at_exit(void)
{
	int fd = stats_fd >= 0 ? stats_fd : STDERR_FILENO;

	prof_at_exit(fd);
	if (opt_stats == OPT_STATS_JSON)
		bitslab_stats_print_json(fd);
	else if (opt_stats)
		bitslab_stats_print(fd);
}
