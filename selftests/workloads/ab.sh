#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ab.sh - workload --ab: two allocators loaded side by side in one
# process, the workload run through each in turn.  Two copies of
# $PRELOAD_LIB (two paths, so two instances) run wset and print the
# rounds' ratios, one for each half of wset too; a library that does not
# define malloc itself (libm, whose dlsym() would find libc's) is refused.
# No figure is judged: the ratios are for a person to read.
#
#   WORKLOAD_DIR=dir PRELOAD_LIB=libbitslab.so ab.sh   (make selftest sets both)
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
dir=${WORKLOAD_DIR:?set WORKLOAD_DIR to the directory of workload}
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check WHAT STATUS: report, and count a status other than 0.
check() {
	if [ "$2" = 0 ]; then
		echo "  ok   $1"
	else
		echo "  FAIL $1"
		fail=$((fail + 1))
	fi
}

cp "$PRELOAD_LIB" "$tmp/copy.so"
out=$("$dir/workload" --ab 3 "$PRELOAD_LIB" "$tmp/copy.so" wset 2 2 4000 256 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/       /'
check "two copies of bitslab, wset: exit 0" $rc
for what in wall growing shrinking; do
	grep -Eq "^  $what A/B +[0-9]+\.[0-9]{3} \(quartiles" <<<"$out"
	check "a ratio for $what" $?
done
grep -Eq '^  A median wall 0\.[0-9]*[1-9]' <<<"$out" &&
	grep -Eq '^  B median wall 0\.[0-9]*[1-9]' <<<"$out"
check "both timed" $?

out=$("$dir/workload" --ab 2 libm.so.6 "$PRELOAD_LIB" wset 2>&1)
rc=$?
[ $rc -eq 2 ] && grep -q "does not define malloc" <<<"$out"
check "libm refused (exit $rc: $out)" $?
echo "ab: $([ $fail -eq 0 ] && echo passed || echo "$fail failed")"
[ $fail -eq 0 ]
