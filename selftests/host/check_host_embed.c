// SPDX-License-Identifier: MIT
/* check_host.c through libbitslab.a's prefixed API, in a host that keeps
 * glibc's malloc. */
#define HOST_EMBED 1
#include "check_host.c"
