#!/bin/bash
# SPDX-License-Identifier: MIT
#
# prof.sh - the heap profiler and the leak report, under
# LD_PRELOAD=$PRELOAD_LIB, on leaky (two call sites that leak about 31 MiB
# each, and one that allocates three times that and frees it all) sampled
# every 64 KiB on average:
#   - the leak report names leak_small and leak_large, each with an
#     estimate within 20% of what it leaked, and not churn, even with
#     every block sampled (what libc allocates for bitslab's helper
#     thread, started from churn, is the allocator's);
#   - google-pprof --text lists both with their estimated live bytes within
#     20%, and churn with none, in all three profiles: at exit, from
#     bitslab_prof_dump() and on the prof_signal signal;
#   - with the options off, no profile and no report;
#   - the Collatz list search and producer/consumer (blocks crossing
#     threads) still come out right with the profiler on.
# Exit 77 (skipped) if google-pprof is not installed, after the checks that
# do not need it; never 0 then.
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
objtree=$(cd "$(dirname "$PRELOAD_LIB")" && pwd)
leaky=$objtree/selftests/preload/leaky
workload=$objtree/selftests/workloads/workload
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

# within NAME EST TRUE: is EST within 20% of TRUE?
within() {
	if [ -n "$2" ] && [ "$2" -ge $(($3 * 8 / 10)) ] && [ "$2" -le $(($3 * 12 / 10)) ]; then
		ok "$1: estimated $2 bytes, leaked $3 ($(awk -v e="$2" -v t="$3" 'BEGIN { printf "%+.1f%%", (e - t) * 100 / t }'))"
	else
		bad "$1: estimated '${2}' bytes, leaked $3 (more than 20% off)"
	fi
}

BITSLAB_OPTIONS=prof=1,leaks=1,prof_sample=65536,prof_signal=12 \
BITSLAB_PROF_PREFIX=$work/prof LEAKY_DUMP=$work/api.heap \
	LD_PRELOAD=$PRELOAD_LIB "$leaky" 12 >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 0 ] || bad "leaky exited with $rc under the profiler"
grep -q '^dump 0$' "$work/out" || bad "bitslab_prof_dump() did not return 0"
small=$(sed -n 's/^leak_small //p' "$work/out")
large=$(sed -n 's/^leak_large //p' "$work/out")

# The leak report: "leak of about N bytes ..." then "#0 <pc> <function>+...".
report() {
	awk -v f="$1" '/leak of about/ { n = $5 } $1 == "#0" && index($3, f "+") == 1 { print n }' "$work/err"
}
grep -q 'bitslab: leak report:' "$work/err" || bad "no leak report on stderr"
within "leak report, leak_small" "$(report leak_small)" "$small"
within "leak report, leak_large" "$(report leak_large)" "$large"
if grep -q 'churn+' "$work/err"; then bad "leak report names churn, which freed everything"; fi

# Every block sampled: what libc allocates for bitslab's own helper thread
# (started from a free in churn) is not the program's leak.
BITSLAB_OPTIONS=prof=1,leaks=1,prof_sample=1 BITSLAB_PROF_PREFIX=$work/all \
	LD_PRELOAD=$PRELOAD_LIB "$leaky" >/dev/null 2>"$work/err.all"
if grep -q 'churn+' "$work/err.all"; then
	bad "every block sampled: the leak report names churn, which freed everything"
else
	ok "every block sampled: the leak report does not name churn"
fi

exit_heap=$(ls "$work"/prof.*.heap 2>/dev/null | grep -E '/prof\.[0-9]+\.heap$')
signal_heap=$(ls "$work"/prof.*.heap 2>/dev/null | grep -E '/prof\.[0-9]+\.0000\.heap$')
[ -n "$exit_heap" ] || bad "no profile written at exit"
[ -n "$signal_heap" ] || bad "no profile written on signal 12"
[ -s "$work/api.heap" ] || bad "no profile from bitslab_prof_dump()"

# Off: nothing written, nothing reported.
BITSLAB_PROF_PREFIX=$work/off LD_PRELOAD=$PRELOAD_LIB "$leaky" >/dev/null 2>"$work/quiet.err"
if ls "$work"/off.* >/dev/null 2>&1 || [ -s "$work/quiet.err" ]; then
	bad "profiler off, yet a profile or a report"
else
	ok "profiler off: no profile, no report"
fi

for args in "list 30000 4" "prodcons 4 100000 1024"; do
	if BITSLAB_OPTIONS=prof=1,prof_sample=4096 BITSLAB_PROF_PREFIX=$work/wl \
	   LD_PRELOAD=$PRELOAD_LIB "$workload" --verify $args >"$work/wl.out" 2>&1; then
		ok "workload $args with the profiler on"
	else
		bad "workload $args with the profiler on"; head -3 "$work/wl.out"
	fi
done

pprof=$(command -v google-pprof || command -v pprof)
if [ -z "$pprof" ]; then
	echo "SKIP google-pprof checks (google-pprof not installed: Debian package google-perftools)"
	[ $fail -eq 0 ] && exit 77
	exit 1
fi
for f in $exit_heap $signal_heap "$work/api.heap"; do
	[ -s "$f" ] || continue
	what=$(basename "$f")
	"$pprof" --text --show_bytes "$leaky" "$f" >"$work/pprof.txt" 2>"$work/pprof.err"
	flat() { awk -v f="$1" '$6 == f { print $1 }' "$work/pprof.txt"; }
	within "pprof $what, leak_small" "$(flat leak_small)" "$small"
	within "pprof $what, leak_large" "$(flat leak_large)" "$large"
	c=$(awk '$6 == "churn" { print $4 }' "$work/pprof.txt")
	[ "${c:-0}" -eq 0 ] || bad "pprof $what: churn holds $c bytes, it freed everything"
done
exit $fail
