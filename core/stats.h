/* SPDX-License-Identifier: MIT */
/*
 * stats.h - statistics output: BITSLAB_STATS at exit, the bitslab_stats_*
 * calls of bitslab.h, malloc_info()'s XML.  The counting is counters.h's.
 */
#ifndef CORE_STATS_H
#define CORE_STATS_H

#include <stdio.h>

/* malloc_info()'s XML on @fp. */
void stats_print_xml(FILE *fp);

#endif /* CORE_STATS_H */
