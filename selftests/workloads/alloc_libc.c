// SPDX-License-Identifier: MIT
/*
 * alloc_libc.c - the workloads through the process's malloc: glibc's, or
 * whichever allocator LD_PRELOAD put in front of it.
 */
#include <stdlib.h>

#include "workloads.h"

const struct wl_alloc wl_default_alloc = {
	.name = "malloc",
	.malloc = malloc,
	.realloc = realloc,
	.free = free,
};
