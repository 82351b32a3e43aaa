#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-suites.sh - run each Check suite binary given as an argument, let it
# print its own summary line, and finish with one line for the whole run.
# Exit status: 0 only if every suite passed.  A suite that exits 77 was
# skipped and is counted as skipped, never as passed.
set -u
pass=0 fail=0 skip=0 failed=""
for prog in "$@"; do
	name=$(basename "$prog")
	printf '%s\n' "--- $name"
	"$prog"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)); printf '%s\n' "SKIP $name" ;;
	*) fail=$((fail + 1)); failed="$failed $name"
	   printf '%s\n' "FAIL $name (exit $rc)" ;;
	esac
done
printf 'selftest: %d suites passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
[ -n "$failed" ] && printf 'failed:%s\n' "$failed"
[ "$fail" -eq 0 ]
