#!/bin/bash
# SPDX-License-Identifier: MIT
#
# python-suite.sh - modules of Python's own test suite (Debian's
# libpython3.11-testsuite, run as python3 -m test -j2) pass under
# LD_PRELOAD=$PRELOAD_LIB wherever they pass without it.  Both runs set
# PYTHONMALLOC=malloc, so that every object, not only those pymalloc does
# not take, comes from the allocator under test.
#
# The modules: threads (test_threading, whose
# test_3_join_in_forked_from_thread found a process-exit hang in bitslab;
# test_thread, test_queue), fork and exec (test_subprocess, test_os),
# containers, strings and serialisers, the cycle collector and weak
# references, and C libraries that allocate through malloc (zlib, lzma,
# bz2, libmpdec, expat, libffi).  About 40 s a run on two cores; SCALE=2 or
# more adds three slow ones (test_io, test_asyncio, test_multiprocessing_fork:
# 135 s a run in all); test_concurrent_futures (over 2 minutes) and
# test_socket (on some machines it hangs in accept() on AF_VSOCK, without
# bitslab too) are left out.
#
# A module that passes without the preload and fails, crashes or hangs
# under it fails the run; one that does not pass without it is reported as
# skipped (exit 77), since it says nothing about bitslab.  A hang is bounded
# twice: regrtest kills a module after 120 s, and the whole run is killed
# after 300 s (timeout -k 10), both times SCALE.
#
# The preload must reach regrtest's workers, which are python's children:
# while the preloaded run goes, the workers found in /proc must all have
# the library mapped, and at least one must be found.  Python or its test
# suite not installed fails the run; with BITSLAB_TEST_ALLOW_MISSING=1
# (never set in CI) it is reported as skipped (exit 77).  PYTHON names
# another interpreter (default /usr/bin/python3, the one the Debian
# package is for).
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
SCALE=${SCALE:-1}
ALLOW_MISSING=${BITSLAB_TEST_ALLOW_MISSING:-0}
PYTHON=${PYTHON:-/usr/bin/python3}
modules="test_threading test_thread test_queue test_subprocess test_os
	test_gc test_weakref test_dict test_ordered_dict test_list test_tuple
	test_set test_deque test_collections test_sort test_itertools
	test_functools test_descr test_copy test_bytes test_unicode test_array
	test_memoryview test_mmap test_struct test_long test_bigmem test_re
	test_json test_pickle test_marshal test_decimal test_xml_etree_c
	test_ctypes test_zlib test_lzma test_bz2 test_hashlib"
if [ "$SCALE" -ge 2 ]; then
	modules="$modules test_io test_asyncio test_multiprocessing_fork"
fi
module_timeout=$((120 * SCALE))
run_timeout=$((300 * SCALE))
if ! "$PYTHON" -c 'import test.libregrtest, test.test_threading' >/dev/null 2>&1; then
	if [ "$ALLOW_MISSING" = 1 ]; then
		echo "SKIP python-suite: $PYTHON or its test suite not installed (BITSLAB_TEST_ALLOW_MISSING=1)"
		exit 77
	fi
	echo "FAIL python-suite: $PYTHON or its test suite not installed (Debian: libpython3.11-testsuite; or set BITSLAB_TEST_ALLOW_MISSING=1 to skip)"
	exit 1
fi

# shellcheck source-path=SCRIPTDIR source=preload-check.sh
. "$(dirname "$0")/preload-check.sh"
preload_check python-suite	# sets lib

# children PID...: the processes whose parent is one of PID.
children() {
	local f s ppid
	for f in /proc/[0-9]*/stat; do
		read -r s 2>/dev/null <"$f" || continue
		s=${s##*) }
		ppid=${s#* }
		ppid=${ppid%% *}
		case " $* " in *" $ppid "*)
			f=${f#/proc/}
			echo "${f%/stat}" ;;
		esac
	done
}

# watch_workers: while $runner (timeout, then python, then its workers)
# lives, look at each worker once it has exec'd (its command line names
# --worker-args) and its loader is done (libc is mapped, and preloaded
# objects come before it): count those with and without the library
# mapped, and keep their ids in $workers for stop_run.
watch_workers() {
	local main w maps
	workers=" " mapped=0 unmapped=0
	while kill -0 "$runner" 2>/dev/null; do
		main=$(children "$runner")
		# shellcheck disable=SC2086 # one or no pid
		for w in $([ -n "$main" ] && children $main); do
			case $workers in *" $w "*) continue ;; esac
			is_worker "$w" || continue
			maps=$(cat "/proc/$w/maps" 2>/dev/null)
			if [[ $maps == *"$lib"* ]]; then
				mapped=$((mapped + 1))
			elif [[ $maps == */libc.so* ]]; then
				unmapped=$((unmapped + 1))
			else
				continue
			fi
			workers="$workers$w "
		done
		sleep 0.2
	done
}

is_worker() {
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q -- --worker-args
}

# stop_run: kill what is left of a run: the workers (each leads a session
# of its own, with the processes its test started) and timeout's process
# group (timeout and python).
stop_run() {
	local w
	for w in ${workers:-}; do
		is_worker "$w" && kill -KILL -- "-$w" 2>/dev/null
	done
	[ -n "$runner" ] || return
	kill -KILL -- "-$runner" 2>/dev/null
	wait "$runner" 2>/dev/null
	runner=
}

# run NAME [VAR=value...]: the modules once, log in $work/NAME.log; its
# time in $secs, its workers in $mapped and $unmapped.
run() {
	local name=$1 start=$SECONDS; shift
	# shellcheck disable=SC2086
	env -u LD_PRELOAD "$@" PYTHONMALLOC=malloc \
		timeout -k 10 $run_timeout \
		"$PYTHON" -m test -j2 --timeout $module_timeout $modules \
		>"$work/$name.log" 2>&1 </dev/null &
	runner=$!
	watch_workers
	wait "$runner"
	echo "$?" >"$work/$name.rc"
	runner=
	stop_run
	secs=$((SECONDS - start))
}

work=$(mktemp -d)
runner=
workers=
trap 'stop_run; rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

# result NAME MODULE: what regrtest said of MODULE ("passed", "failed
# (1 failure)", "crashed ...", "timed out ...", "skipped", ...).
result() {
	local r
	r=$(sed -En "s/^[0-9:]+ .*\[ *[0-9]+\/[0-9]+(\/[0-9]+)?\] $2 (.*)$/\2/p" \
		"$work/$1.log" | tail -1)
	r=${r%% -- running*}
	echo "${r:-did not finish (exit $(cat "$work/$1.rc"))}"
}

run plain
secs_plain=$secs mapped_plain=$mapped unmapped_plain=$unmapped
run bitslab LD_PRELOAD="$PRELOAD_LIB"
secs_bitslab=$secs mapped_bitslab=$mapped unmapped_bitslab=$unmapped

pass=0 fail=0 skip=0
for m in $modules; do
	p=$(result plain "$m")
	b=$(result bitslab "$m")
	case $p in
	passed|passed\ \(*) ;;
	*)	echo "SKIP $m: $p without bitslab"
		skip=$((skip + 1))
		continue ;;
	esac
	case $b in
	passed|passed\ \(*) pass=$((pass + 1)) ;;
	*)	echo "FAIL $m: passed without bitslab, $b under it"
		fail=$((fail + 1)) ;;
	esac
done
if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
	echo "FAIL python-suite: no module passed without bitslab, nothing to compare"
	tail -5 "$work/plain.log"
	fail=1
fi
if [ "$fail" -gt 0 ]; then
	echo "--- from the run under bitslab (failed tests, hung tests' stacks):"
	grep -E '^(FAIL|ERROR): |Timeout \(|Fatal Python error|line [0-9]+ in test_' \
		"$work/bitslab.log" | head -12
fi
if [ "$mapped_bitslab" -eq 0 ] || [ "$unmapped_bitslab" -gt 0 ]; then
	echo "FAIL python-suite: of the workers seen under LD_PRELOAD, $mapped_bitslab had the library mapped, $unmapped_bitslab not"
	fail=$((fail + 1))
fi
if [ "$mapped_plain" -gt 0 ]; then
	echo "FAIL python-suite: $mapped_plain workers of the run without LD_PRELOAD had the library mapped"
	fail=$((fail + 1))
fi
echo "python-suite: $pass alike, $fail failed, $skip skipped; $secs_plain s without bitslab, $secs_bitslab s with; workers seen: $unmapped_plain plain, $mapped_bitslab preloaded"
[ $fail -eq 0 ] || exit 1
[ $skip -eq 0 ] || exit 77
exit 0
