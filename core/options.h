/* SPDX-License-Identifier: MIT */
/*
 * options.h - run-time options, read once from BITSLAB_OPTIONS
 * ("key=value,key=value") and BITSLAB_STATS at the first allocation.
 */
#ifndef CORE_OPTIONS_H
#define CORE_OPTIONS_H

#include <stdbool.h>

extern long opt_stats;		/* print statistics at exit: OPT_STATS_* */
extern long opt_bin_scale;	/* bin capacity, percent of the default */
extern long opt_bin_grow;	/* KiB a heap's bins may grow by */
extern long opt_retire_batch;	/* retired chunks per grace period */
extern long opt_chunk_cache;	/* reclaimed memory kept, 64 KiB units */
extern long opt_empty_keep;	/* empty chunks a heap keeps per class */
extern long opt_purge_ms;	/* cached chunks unused this long are purged */
extern long opt_decay_ms;	/* unused memory kept at most this long */
extern long opt_idle_ms;	/* idle owners are looked at this often */
extern long opt_prof;		/* heap profile at exit (core/prof.c) */
extern long opt_prof_sample;	/* mean bytes between samples */
extern long opt_prof_signal;	/* signal that dumps a profile, 0: none */
extern long opt_leaks;		/* leak report at exit */
extern long opt_secure;		/* secure mode (core/secure.c) */

#define OPT_STATS_TEXT	1
#define OPT_STATS_JSON	2

void options_parse(const char *env);
void stats_init(void);

#endif /* CORE_OPTIONS_H */
