// SPDX-License-Identifier: MIT
/*
 * alloc_bitslab.c - the workloads through bitslab's prefixed API, linked
 * in, whatever the process's malloc is.
 */
#include <bitslab.h>

#include "workloads.h"

const struct wl_alloc wl_default_alloc = {
	.name = "bitslab_malloc",
	.malloc = bitslab_malloc,
	.realloc = bitslab_realloc,
	.free = bitslab_free,
};
