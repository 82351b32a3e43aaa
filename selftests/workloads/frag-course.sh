#!/bin/bash
# SPDX-License-Identifier: MIT
#
# frag-course.sh - the course's fragmentation test (workload frag-course:
# RLIMIT_AS of 16 MiB for the whole process, two rounds, malloc's result
# unchecked) through LD_PRELOAD=$PRELOAD_LIB of the plain program and
# through the prefixed API (workload-api).  Each must pass at an absolute
# FRAG_LIMIT_KIB (default 16384).  A run without bitslab is made too and
# printed as the reference; it does not decide the result.
#
#   WORKLOAD_DIR=dir frag-course.sh   (make selftest sets it)
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
dir=${WORKLOAD_DIR:?set WORKLOAD_DIR to the directory of workload and workload-api}
limit=${FRAG_LIMIT_KIB:-16384}
fail=0

if [ ! -x "$dir/workload" ] || [ ! -x "$dir/workload-api" ]; then
	echo "FAIL frag-course: $dir/workload or $dir/workload-api not built"
	exit 1
fi
# shellcheck source-path=SCRIPTDIR source=../preload/preload-check.sh
. "$(dirname "$0")/../preload/preload-check.sh"
preload_check frag-course

# run NAME CMD...: CMD must exit 0 (a NULL from malloc is SIGSEGV, 139).
run() {
	local name=$1 out rc; shift
	out=$("$@" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then
		echo "  ok   $name: ${out#ok   }"
	else
		echo "  FAIL $name: exit $rc$([ $rc -eq 139 ] && echo ' (SIGSEGV: malloc returned NULL)')"
		[ -n "$out" ] && printf '%s\n' "$out" | head -3 | sed 's/^/       /'
		fail=$((fail + 1))
	fi
}

ref=$("$dir/workload" frag-course "$limit" 2 2>&1) &&
	echo "  (glibc, for reference: ${ref#ok   })" ||
	echo "  (glibc, for reference: fails at $limit KiB)"
run "LD_PRELOAD, $limit KiB" env LD_PRELOAD="$PRELOAD_LIB" \
	"$dir/workload" frag-course "$limit" 2
run "prefixed API, $limit KiB" "$dir/workload-api" frag-course "$limit" 2
# Other seeds: the limit must hold for the test, not for one sequence.
for seed in 2 3; do
	run "LD_PRELOAD, $limit KiB, WL_SEED=$seed" env WL_SEED=$seed \
		LD_PRELOAD="$PRELOAD_LIB" "$dir/workload" frag-course "$limit" 2
done
echo "frag-course: $([ $fail -eq 0 ] && echo passed || echo "$fail failed")"
[ $fail -eq 0 ]
