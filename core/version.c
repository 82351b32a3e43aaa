// SPDX-License-Identifier: MIT
/*
 * version.c - the library's version, for callers that need to check the
 * header they compiled against matches the library they run with.
 */
#include <bitslab.h>

const char *bitslab_version(void)
{
	return BITSLAB_VERSION;
}
