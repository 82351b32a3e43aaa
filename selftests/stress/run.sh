#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh [THREADS] [SCALE] [ITER] - make stress: the seed's workloads large,
# with more threads than cores, through bitslab's prefixed API
# (workload-api) and through malloc under LD_PRELOAD=$PRELOAD_LIB
# (workload); thread churn (larson, churn), blocks handed between threads
# (prodcons, pcsplit, xfree, wset), the fragmentation test; idle memory
# going back after a burst (idle: RSS from /proc/self/statm, no
# malloc_trim); then real programs under LD_PRELOAD with their output
# compared to a run without it, modules of Python's own test suite that must
# pass with the preload as they do without, and a Redis server that must
# give its memory back after FLUSHALL (run once, not per iteration; SCALE
# makes them larger).  ITER repeats the whole workload set with a new seed
# each time.  Last, with FUZZ_BIN set (make stress does when clang is
# installed), the fuzzer for FUZZ_SECONDS (selftests/fuzz/run.sh); without,
# that test is reported as skipped.
#
# Output is TAP; exit status 0 only if every test passed.  Without
# PRELOAD_LIB (sanitizer builds, whose runtime owns malloc) the LD_PRELOAD
# half is reported as skipped.
set -u
THREADS=${1:-16}
SCALE=${2:-1}
ITER=${3:-5}
: "${WORKLOAD_DIR:?set WORKLOAD_DIR to the directory of workload and workload-api}"
PRELOAD_LIB=${PRELOAD_LIB:-}
here=$(cd "$(dirname "$0")" && pwd)

n=0 failed=0 skipped=0 todos=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# t NAME CMD...: one TAP test; the workload's own line goes to the log.
t() {
	local name=$1; shift
	n=$((n + 1))
	local start=$SECONDS
	if "$@" >"$out" 2>&1; then
		echo "ok $n - $name ($((SECONDS - start)) s)"
	else
		echo "not ok $n - $name"
		sed 's/^/# /' "$out" | tail -5
		failed=$((failed + 1))
	fi
}

# todo NAME CMD...: a test of a known gap (TAP TODO): reported, not counted
# as a failure; a pass is reported as an unexpected one.
todo() {
	local name=$1 why=$2; shift 2
	n=$((n + 1))
	todos=$((todos + 1))
	if "$@" >"$out" 2>&1; then
		echo "ok $n - $name # TODO $why (passed unexpectedly)"
	else
		echo "not ok $n - $name # TODO $why"
		sed 's/^/# /' "$out" | tail -2
	fi
}

# fails NAME CMD...: CMD must fail (a test that shows another can fail).
fails() {
	local name=$1; shift
	n=$((n + 1))
	if "$@" >"$out" 2>&1; then
		echo "not ok $n - $name"
		sed 's/^/# /' "$out" | tail -5
		failed=$((failed + 1))
	else
		echo "ok $n - $name"
	fi
}

skip() {
	n=$((n + 1))
	skipped=$((skipped + 1))
	echo "ok $n - $1 # SKIP $2"
}

# both NAME ARGS...: the workload through the API, then under LD_PRELOAD.
both() {
	local name=$1; shift
	t "$name [api]" "$WORKLOAD_DIR/workload-api" --verify "$@"
	if [ -n "$PRELOAD_LIB" ]; then
		t "$name [LD_PRELOAD]" env LD_PRELOAD="$PRELOAD_LIB" \
			"$WORKLOAD_DIR/workload" --verify "$@"
	else
		skip "$name [LD_PRELOAD]" "no PRELOAD_LIB (sanitizer build)"
	fi
}

T=$THREADS
for iter in $(seq 1 "$ITER"); do
	export WL_SEED=$iter
	echo "# iteration $iter of $ITER: $T threads, scale $SCALE, seed $iter"
	both "collatz list" list $((200000 * SCALE)) "$T"
	both "collatz ivec" ivec $((200000 * SCALE)) "$T"
	both "vectors" vectors "$T" $((100000 * SCALE)) 2048
	both "producer/consumer" prodcons "$T" $((200000 * SCALE)) 2048
	both "larson thread churn" larson "$T" $((2000 * SCALE)) 150 500 4096
	both "larson, large blocks" larson "$T" 500 10 100 200000
	both "producers apart from consumers" pcsplit $(((T + 1) / 2 * 2)) \
		$((200000 * SCALE)) 2048
	both "thread churn, shared array" churn "$T" 10 $((20000 * SCALE)) 2048
	both "frees into other threads' chunks" xfree "$T" 10 $((5000 * SCALE)) 1024
	both "rising and falling working set" wset "$T" 8 $((10000 * SCALE)) 1024
	both "fragmentation at 16 MiB" frag 16 $((8 * SCALE))
	# A server between bursts: 100 MiB allocated and freed, then 1.5 s
	# of nothing; the resident set must be back within 4 MiB.
	if [ -n "$PRELOAD_LIB" ]; then
		both "idle memory goes back, 1 thread" idle 1 100 1500 4 0
		both "idle memory goes back, 4 threads, half freed by others" \
			idle 4 100 1500 4 50
		# Blocks only other threads freed wait in the inbox of an
		# owner that never runs again: the reclaim helper drains it
		# for the owner (core/idle.c).
		both "idle memory goes back, 4 threads, all freed by others" \
			idle 4 100 1500 4 100
	else
		skip "idle memory goes back" "sanitizer build: its shadow memory is resident"
	fi
done

if [ -n "$PRELOAD_LIB" ]; then
	# The idle test can fail: with decay off, the chunk cache keeps
	# what it holds (16 MiB).
	fails "idle test fails with decay off (decay_ms=3600000)" \
		env BITSLAB_OPTIONS=decay_ms=3600000 LD_PRELOAD="$PRELOAD_LIB" \
		"$WORKLOAD_DIR/workload" idle 1 100 1500 4 0
	# ... and, with every block freed by another thread, with no drain
	# of idle owners' inboxes (idle_ms=0).
	fails "idle test fails with idle owners not drained (idle_ms=0)" \
		env BITSLAB_OPTIONS=idle_ms=0 LD_PRELOAD="$PRELOAD_LIB" \
		"$WORKLOAD_DIR/workload" idle 4 100 1500 4 100
fi

# script NAME CMD...: one TAP test of a script of selftests/preload, whose
# exit status 77 is a skip (its SKIP lines say why); its whole output goes
# to the log.  Sets $rc.
script() {
	local name=$1 start=$SECONDS; shift
	n=$((n + 1))
	"$@" >"$out" 2>&1
	rc=$?
	case $rc in
	0) echo "ok $n - $name ($((SECONDS - start)) s)" ;;
	77) echo "ok $n - $name # SKIP $(grep -m1 '^SKIP ' "$out" | cut -c6-)"
	    skipped=$((skipped + 1)) ;;
	*) echo "not ok $n - $name"
	   failed=$((failed + 1)) ;;
	esac
	sed 's/^/# /' "$out"
}

if [ -n "$PRELOAD_LIB" ]; then
	# Real programs, larger inputs: python3 builds a million objects,
	# sort gets 1.5 million lines, perl a hash of 1.5 million keys.
	script "real programs under LD_PRELOAD" env PRELOAD_LIB="$PRELOAD_LIB" \
		SCALE=$((5 * SCALE)) "$here/../preload/programs.sh"
	# Python's own tests, threads, fork and exec among them, with and
	# without the preload (SCALE 2 or more adds three slow modules).
	script "Python's test suite under LD_PRELOAD" env \
		PRELOAD_LIB="$PRELOAD_LIB" SCALE="$SCALE" \
		"$here/../preload/python-suite.sh"
	# A Redis server filled with 800000 keys times SCALE, then flushed,
	# gives the memory back by itself within 3 s ...
	script "Redis gives memory back after FLUSHALL under LD_PRELOAD" env \
		PRELOAD_LIB="$PRELOAD_LIB" SCALE="$SCALE" \
		"$here/../preload/redis.sh"
	# ... and not with decay off: the test can fail.
	if [ "$rc" -ne 77 ]; then
		fails "Redis test fails with decay off (decay_ms=3600000)" \
			env BITSLAB_OPTIONS=decay_ms=3600000 \
			PRELOAD_LIB="$PRELOAD_LIB" "$here/../preload/redis.sh"
	fi
else
	skip "real programs under LD_PRELOAD" "no PRELOAD_LIB (sanitizer build)"
	skip "Python's test suite under LD_PRELOAD" "no PRELOAD_LIB (sanitizer build)"
	skip "Redis gives memory back after FLUSHALL under LD_PRELOAD" \
		"no PRELOAD_LIB (sanitizer build)"
fi

if [ -n "${FUZZ_BIN:-}" ]; then
	t "libFuzzer on the prefixed API, ${FUZZ_SECONDS:-60} s" \
		"$here/../fuzz/run.sh"
else
	skip "libFuzzer on the prefixed API" "no clang (FUZZ_BIN unset)"
fi

echo "1..$n"
echo "# stress: $((n - failed - skipped - todos)) passed, $failed failed, $skipped skipped, $todos todo"
[ "$failed" -eq 0 ]
