#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-suites.sh - run each test program given as an argument, let it print
# its own summary line, and finish with one line for the whole run.
#
#   path               run it
#   preload:path       run it with LD_PRELOAD=$PRELOAD_LIB; a PRELOAD_LIB
#                      that is not a readable file fails the program, since
#                      the dynamic loader would only warn and run it on
#                      glibc's malloc
#   linked:path        run it with LD_LIBRARY_PATH=$LINK_LIB_DIR (a program
#                      linked with -lbitslab)
#   skip:reason:path   do not run it; report it as skipped with the reason
#
# Exit status: 0 only if every program passed.  A program that exits 77 was
# skipped and is counted as skipped, never as passed.
set -u
pass=0 fail=0 skip=0 failed=""
for arg in "$@"; do
	case $arg in
	skip:*)
		rest=${arg#skip:}
		reason=${rest%%:*}
		prog=${rest#*:}
		printf '%s\n' "--- $(basename "$prog")" "SKIP $(basename "$prog") ($reason)"
		skip=$((skip + 1))
		continue ;;
	preload:*)
		prog=${arg#preload:}
		name="$(basename "$prog") (LD_PRELOAD)"
		printf '%s\n' "--- $name"
		if [ ! -f "${PRELOAD_LIB:-}" ] || [ ! -r "$PRELOAD_LIB" ]; then
			printf '%s\n' "$name: PRELOAD_LIB='${PRELOAD_LIB:-}' is not a readable file"
			fail=$((fail + 1)); failed="$failed $name;"
			printf '%s\n' "FAIL $name (no library to preload)"
			continue
		fi
		LD_PRELOAD=$PRELOAD_LIB "$prog" ;;
	linked:*)
		prog=${arg#linked:}
		name="$(basename "$prog") (-lbitslab)"
		printf '%s\n' "--- $name"
		LD_LIBRARY_PATH=${LINK_LIB_DIR:?}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
			"$prog" ;;
	*)
		prog=$arg
		name=$(basename "$prog")
		printf '%s\n' "--- $name"
		"$prog" ;;
	esac
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); printf '%s\n' "SKIP $name" ;;
	*) fail=$((fail + 1)); failed="$failed $name;"
	   printf '%s\n' "FAIL $name (exit $rc)" ;;
	esac
done
printf 'selftest: %d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
[ -n "$failed" ] && printf 'failed:%s\n' "$failed"
[ "$fail" -eq 0 ]
