# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# preload-check.sh - sourced by the scripts that run programs under
# LD_PRELOAD=$PRELOAD_LIB.  preload_check NAME [LINE]: unless a program run
# with that preload has the library mapped, print "FAIL NAME: ..." (and
# LINE, a script's summary) and exit 1: a preload that does not take must
# not pass for a preload that works.  Sets lib to the library's real path.

preload_check() {
	lib=$(readlink -f "$PRELOAD_LIB" 2>/dev/null)
	# shellcheck disable=SC2002 # cat must be the preloaded process
	if [ ! -f "$lib" ] ||
	   ! LD_PRELOAD=$PRELOAD_LIB cat /proc/self/maps 2>/dev/null | grep -qF "$lib"; then
		echo "FAIL $1: LD_PRELOAD=$PRELOAD_LIB does not load the library"
		if [ -n "${2:-}" ]; then
			echo "$2"
		fi
		exit 1
	fi
}
