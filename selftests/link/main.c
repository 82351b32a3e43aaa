// SPDX-License-Identifier: MIT
/* The Check runner shared with selftests/unit/. */
#include "../unit/main.c"
