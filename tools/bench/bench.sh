#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench.sh - make bench: every workload under every allocator, side by side.
#
# bitslab (LD_PRELOAD=$PRELOAD_LIB), glibc (no preload), and Debian's
# jemalloc, tcmalloc and mimalloc through LD_PRELOAD; a peer that is not
# installed is named and skipped.  Runs are interleaved (every allocator
# once, then every allocator again, ...), REPS times; the tables give
# medians of wall time and peak RSS (wait4's rusage of the process) and
# bitslab's figure as a fraction of each peer's.  Then the fragmentation
# test's smallest passing limit per allocator (above the process's size,
# and absolute as the course sets it), and the exact instruction
# count of one malloc+free pair per allocator and size (callgrind).
#
# Environment: BENCH_BIN (measure, pair), WORKLOAD (the workload program),
# CORRUPT (the corruption suite's program; its section is left out without it),
# PRELOAD_LIB, OUT (results directory), QUICK=1 (smaller, 3 repeats:
# about three minutes), REPS.  Writes OUT/runs.csv (every run),
# OUT/summary.csv, OUT/paired.csv (bitslab's time against each peer's in
# the same repeat), OUT/frag.csv, OUT/frag-course.csv, OUT/instructions.csv,
# OUT/corrupt.csv and OUT/corrupt-scores.csv (the corruption suite, when
# CORRUPT names its program), OUT/machine.txt,
# OUT/table.txt (what is printed) and OUT/chart.png (gnuplot).
#
# A timed run or an instruction count that fails keeps its output in
# OUT/logs/ (named by workload, allocator and run), is marked FAILED as it
# happens, and makes the script exit 1 at the end, after the tables.  The
# fragmentation search is expected to fail below each allocator's limit and
# does not count.
set -u
: "${BENCH_BIN:?}" "${WORKLOAD:?}" "${PRELOAD_LIB:?}" "${OUT:?}"
QUICK=${QUICK:-}
REPS=${REPS:-$([ -n "$QUICK" ] && echo 3 || echo 5)}
measure=$BENCH_BIN/measure
mkdir -p "$OUT"
logs=$OUT/logs
rm -rf "$logs"
mkdir -p "$logs"
failed=0
src=$(cd "$(dirname "$0")/../.." && pwd)
exec 3>&1	# progress and tables; the tables also go to table.txt

multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
find_lib() {
	local d f
	for f in "$@"; do
		for d in "/usr/lib/$multiarch" /usr/lib64 /usr/lib /usr/local/lib; do
			[ -e "$d/$f" ] && { echo "$d/$f"; return 0; }
		done
	done
	return 1
}

# The allocators: name and library ("" for glibc).
names=(bitslab glibc)
declare -A lib=([bitslab]=$PRELOAD_LIB [glibc]="")
add_peer() {	# name package library...
	local name=$1 pkg=$2 path; shift 2
	if path=$(find_lib "$@"); then
		names+=("$name")
		lib[$name]=$path
	else
		echo "bench: $name skipped: $1 not found (Debian package $pkg)" >&3
	fi
}
add_peer jemalloc libjemalloc2 libjemalloc.so.2
add_peer tcmalloc libtcmalloc-minimal4 libtcmalloc_minimal.so.4 libtcmalloc.so.4
add_peer mimalloc libmimalloc2.0 libmimalloc.so.2

# The workloads: name and arguments of the workload program.
if [ -n "$QUICK" ]; then
	N_LIST=50000 N_IVEC=150000 OPS_VEC=60000 ITEMS=200000 OPS_LARSON=30000
	MICRO_OPS=20000000 BIGBUF_ITERS=500
else
	N_LIST=100000 N_IVEC=300000 OPS_VEC=200000 ITEMS=500000 OPS_LARSON=100000
	MICRO_OPS=50000000 BIGBUF_ITERS=2000
fi
wl_names=()
declare -A wl_args=()
# ONLY=regex keeps the workloads whose names match it.
wl() { [[ $1 =~ ${ONLY:-.} ]] || return 0; wl_names+=("$1"); wl_args[$1]=$2; }
wl list "list $N_LIST 4"
wl ivec "ivec $N_IVEC 4"
wl vectors "vectors 4 $OPS_VEC 1024"
wl prodcons "prodcons 4 $ITEMS 512"
wl larson "larson 4 $OPS_LARSON 10 1000 1024"
wl larson-large "larson 4 $((OPS_LARSON / 50)) 10 200 200000"
# Issue 11: 20 buffers of 5 - 25 MiB, a random one replaced (zero-filled,
# as std::make_unique<char[]> does) again and again.
wl bigbuf "bigbuf 20 5120 25600 $BIGBUF_ITERS"
for range in 16:64 64:512 512:4096 4096:32768 32768:262144; do
	lo=${range%:*} hi=${range#*:}
	ops=$MICRO_OPS
	[ "$lo" -ge 4096 ] && ops=$((ops / 4))
	[ "$lo" -ge 32768 ] && ops=$((ops / 10))
	for t in 1 2 8; do
		wl "micro-$lo-$hi-t$t" "micro $lo $hi $t $((ops / t))"
	done
done

# Blocks that cross threads: thread churn with a shared array, frees out of
# order into other threads' chunks, producers and consumers, the Larson
# server, a rising and falling working set; each at several thread counts,
# the same total work at each (xfree: the same blocks per thread, fewer
# rounds).
if [ -n "$QUICK" ]; then
	XT_THREADS="4 16" CHURN_OPS=200000 XFREE_ROUNDS=160 PC_ITEMS=800000
	WSET_CYCLES=8 WSET_PEAK=80000
else
	XT_THREADS="2 4 16 64" CHURN_OPS=500000 XFREE_ROUNDS=640
	PC_ITEMS=4000000 WSET_CYCLES=16 WSET_PEAK=160000
fi
for t in $XT_THREADS; do
	wl "churn-t$t" "churn $t 10 $((CHURN_OPS / t)) 1024"
done
for t in $XT_THREADS; do
	r=$((XFREE_ROUNDS / t))
	wl "xfree-t$t" "xfree $t $((r > 2 ? r : 2)) 4000 512"
done
for t in $XT_THREADS; do
	wl "pcsplit-t$t" "pcsplit $t $((2 * PC_ITEMS / t)) 512"
done
for t in $XT_THREADS; do
	wl "larson-t$t" "larson $t $((4 * OPS_LARSON / t)) 10 1000 1024"
done
for t in $XT_THREADS; do
	wl "wset-t$t" "wset $t $WSET_CYCLES $((WSET_PEAK / t)) 1024"
done

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
	echo "kernel: $(uname -r); glibc $(ldd --version | head -1 | sed 's/.* //')"
	for n in "${names[@]}"; do
		case $n in
		bitslab) echo "bitslab: $(basename "$PRELOAD_LIB"), $(git -C "$src" describe --always --dirty 2>/dev/null || echo "not a git tree")" ;;
		*) echo "$n: ${lib[$n]:-(libc)}" ;;
		esac
	done
	dpkg-query -W -f '${Package} ${Version}\n' libjemalloc2 \
		libtcmalloc-minimal4 libmimalloc2.0 2>/dev/null
	echo "reps: $REPS${QUICK:+ (QUICK)}"
} >"$OUT/machine.txt"

# ---- timed runs, interleaved ----
runs=$OUT/runs.csv
echo "workload,allocator,run,seconds,peak_rss_kib,status" >"$runs"
total=$((REPS * ${#wl_names[@]} * ${#names[@]}))
k=0
for rep in $(seq 1 "$REPS"); do
	# Every other repeat in the reverse order, so that bitslab is not
	# always the first of a workload's runs (see paired_ratio below).
	order=("${names[@]}")
	if [ $((rep % 2)) = 0 ]; then
		order=()
		for ((i = ${#names[@]} - 1; i >= 0; i--)); do
			order+=("${names[$i]}")
		done
	fi
	for w in "${wl_names[@]}"; do
		for n in "${order[@]}"; do
			k=$((k + 1))
			log=$logs/$w-$n-$rep.log
			# shellcheck disable=SC2086
			read -r secs rss status < <(MEASURE_LOG=$log \
				env ${lib[$n]:+LD_PRELOAD=${lib[$n]}} \
				"$measure" "$WORKLOAD" ${wl_args[$w]})
			: "${secs:=0}" "${rss:=0}" "${status:=255}"
			echo "$w,$n,$rep,$secs,$rss,$status" >>"$runs"
			if [ "$status" = 0 ]; then
				rm -f "$log"
			else
				failed=$((failed + 1))
			fi
			printf '[%4d/%d] %-22s %-9s run %d of %d: %7.3f s %8.1f MiB%s\n' \
				"$k" "$total" "$w" "$n" "$rep" "$REPS" "$secs" \
				"$(echo "$rss" | awk '{ print $1 / 1024 }')" \
				"$([ "$status" = 0 ] || echo "  FAILED (status $status; output in $log)")" >&3
		done
	done
done

# ---- memory system calls: one more run of each, under strace ----
# Counted in a run of its own, not in the timed ones: strace stops the
# process at every call it counts.  With --seccomp-bpf (strace 5.3 and
# later) it stops only there; without it, at every system call.  The
# counts include the dynamic loader's few dozen mmap and mprotect calls.
syscalls=$OUT/syscalls.csv
echo "workload,allocator,mmap,munmap,madvise,mprotect,mremap,brk,mmap_munmap_madvise,status" >"$syscalls"
declare -A S=()
strace_opts=()
if command -v strace >/dev/null 2>&1 &&
   strace -f -c -o /dev/null -e trace=memory true >/dev/null 2>&1; then
	strace -f -c --seccomp-bpf -o /dev/null -e trace=memory true \
		>/dev/null 2>&1 && strace_opts=(--seccomp-bpf)
	echo "strace: $(strace -V | head -1)${strace_opts:+, ${strace_opts[*]}}" >>"$OUT/machine.txt"
	st=$(mktemp)
	for w in "${wl_names[@]}"; do
		for n in "${names[@]}"; do
			: >"$st"
			# shellcheck disable=SC2086
			strace -f -c "${strace_opts[@]}" -e trace=memory -o "$st" \
				${lib[$n]:+-E LD_PRELOAD=${lib[$n]}} \
				"$WORKLOAD" ${wl_args[$w]} >/dev/null 2>&1
			status=$?
			counts=$(awk '
				{ c[$NF] = $4 }
				END {
					printf "%d,%d,%d,%d,%d,%d,%d", c["mmap"], c["munmap"],
						c["madvise"], c["mprotect"], c["mremap"], c["brk"],
						c["mmap"] + c["munmap"] + c["madvise"]
				}' "$st")
			echo "$w,$n,$counts,$status" >>"$syscalls"
			S[$w,$n]=$([ "$status" = 0 ] && echo "${counts##*,}" || echo FAIL)
			IFS=, read -r c_mmap c_munmap c_madvise _ <<<"$counts"
			printf 'strace %-22s %-9s mmap %7d munmap %7d madvise %7d%s\n' \
				"$w" "$n" "$c_mmap" "$c_munmap" "$c_madvise" \
				"$([ "$status" = 0 ] || echo "  FAILED (status $status)")" >&3
		done
	done
	rm -f "$st"
else
	echo "bench: memory system calls not counted: strace not installed or not permitted" >&3
fi

# median FIELD WORKLOAD ALLOCATOR: the median of a column over the runs
# that succeeded, or "FAIL" if one did not.
median() {
	awk -F, -v f="$1" -v w="$2" -v n="$3" '
		$1 == w && $2 == n { if ($6 != 0) bad = 1; print $f }
		END { if (bad) print "FAIL" }' "$runs" |
	sort -g | awk '
		/FAIL/ { fail = 1; next } { v[c++] = $1 }
		END {
			if (fail || !c) { print "FAIL"; exit }
			print (c % 2) ? v[int(c / 2)] : (v[c / 2 - 1] + v[c / 2]) / 2
		}'
}

# ratio A B: A / B to two places, or "-" if either failed.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "FAIL" || b == "FAIL" || b == 0) print "-"; else printf "%.2f", a / b }'
}

summary=$OUT/summary.csv
echo "workload,allocator,median_seconds,median_peak_rss_mib,bitslab_time_ratio,bitslab_rss_ratio" >"$summary"
declare -A T=() R=()
for w in "${wl_names[@]}"; do
	for n in "${names[@]}"; do
		T[$w,$n]=$(median 4 "$w" "$n")
		r=$(median 5 "$w" "$n")
		R[$w,$n]=$([ "$r" = FAIL ] && echo FAIL || awk -v r="$r" 'BEGIN { printf "%.1f", r / 1024 }')
	done
	for n in "${names[@]}"; do
		echo "$w,$n,${T[$w,$n]},${R[$w,$n]},$(ratio "${T[$w,bitslab]}" "${T[$w,$n]}"),$(ratio "${R[$w,bitslab]}" "${R[$w,$n]}")" >>"$summary"
	done
done

# paired_ratio W N: the median, over the repeats, of bitslab's time on
# workload W divided by allocator N's time in the same repeat, with the
# quartiles, as "median q1 q3", or "FAIL".  A repeat runs every allocator
# on a workload back to back, so a ratio of one repeat compares runs a
# second or two apart: on a virtual machine whose speed wanders by a third
# over seconds (Documentation/benchmarks.rst), the median of those ratios
# moves less than the ratio of the two medians.
paired_ratio() {
	awk -F, -v w="$1" -v n="$2" '
		$1 != w || ($2 != "bitslab" && $2 != n) { next }
		$6 != 0 { bad = 1 }
		$2 == "bitslab" { b[$3] = $4 } $2 == n { p[$3] = $4 }
		END {
			if (bad) { print "FAIL"; exit }
			for (r in b) if ((r in p) && p[r] > 0) print b[r] / p[r]
		}' "$runs" |
	sort -g | awk '
		/FAIL/ { print "FAIL"; exit } { v[c++] = $1 }
		END {
			if (!c) { print "FAIL"; exit }
			printf "%.2f %.2f %.2f\n", v[int((c - 1) / 2)],
			       v[int((c - 1) / 4)], v[int(3 * (c - 1) / 4)]
		}'
}

paired=$OUT/paired.csv
echo "workload,allocator,bitslab_time_ratio_median,q1,q3" >"$paired"
declare -A P=()
for w in "${wl_names[@]}"; do
	for n in "${names[@]:1}"; do
		read -r pm pq1 pq3 < <(paired_ratio "$w" "$n")
		P[$w,$n]=$pm
		echo "$w,$n,$pm,${pq1:-},${pq3:-}" >>"$paired"
	done
done

# ---- fragmentation: the smallest passing limit ----
frag=$OUT/frag.csv
echo "allocator,smallest_passing_limit_mib" >"$frag"
declare -A F=()
for n in "${names[@]}"; do
	F[$n]="fails at 32"
	for limit in $(seq 9 32); do
		# shellcheck disable=SC2086
		read -r _ _ status < <(env ${lib[$n]:+LD_PRELOAD=${lib[$n]}} \
			"$measure" "$WORKLOAD" frag "$limit" 8)
		if [ "$status" = 0 ]; then
			F[$n]=$limit
			break
		fi
	done
	echo "$n,${F[$n]}" >>"$frag"
	case ${F[$n]} in
	fails*) echo "frag: $n ${F[$n]} MiB" >&3 ;;
	*) echo "frag: $n passes from ${F[$n]} MiB" >&3 ;;
	esac
done

# ---- the course's fragmentation test: the smallest absolute limit ----
# workload frag-course under an absolute RLIMIT_AS for the whole process,
# as the course runs it: the first passing limit in 1 MiB steps from 8 to
# 64 MiB, then the first passing one in 128 KiB steps below it.  The same
# for the prefixed API (workload-api, bitslab-api), when it is built.
# Failures below the limit are expected and do not count.
course=$OUT/frag-course.csv
echo "allocator,smallest_passing_absolute_limit_kib" >"$course"
declare -A C=()
course_pass() {	# library program limit_kib
	local status
	# shellcheck disable=SC2086
	read -r _ _ status < <(env ${1:+LD_PRELOAD=$1} "$measure" "$2" \
		frag-course "$3" 2)
	[ "${status:-1}" = 0 ]
}
course_search() {	# library program
	local m k
	for m in $(seq 8 64); do
		course_pass "$1" "$2" $((m * 1024)) || continue
		for k in $(seq $(((m - 1) * 1024 + 128)) 128 $((m * 1024))); do
			course_pass "$1" "$2" "$k" && { echo "$k"; return; }
		done
	done
	echo "fails at 65536"
}
course_names=("${names[@]}")
[ -x "$WORKLOAD-api" ] && course_names+=(bitslab-api)
for n in "${course_names[@]}"; do
	if [ "$n" = bitslab-api ]; then
		C[$n]=$(course_search "" "$WORKLOAD-api")
	else
		C[$n]=$(course_search "${lib[$n]}" "$WORKLOAD")
	fi
	echo "$n,${C[$n]}" >>"$course"
	echo "frag-course: $n passes from ${C[$n]} KiB absolute" >&3
done

# ---- the corruption suite (selftests/corrupt): cases caught ----
# Every case under every allocator, bitslab also with secure=1; what
# counts as caught is run.sh's rule (an abort or a fault; for the answer
# case, NULL with ENOMEM).  A few seconds.  ONLY skips it unless it
# matches "corrupt".
corrupt_csv=$OUT/corrupt.csv
corrupt_scores=$OUT/corrupt-scores.csv
declare -A K=()
corrupt_names=()
if [ -n "${CORRUPT:-}" ] && [ -x "$CORRUPT" ] && [[ corrupt =~ ${ONLY:-.} ]]; then
	echo "case,allocator,outcome,caught" >"$corrupt_csv"
	echo "allocator,caught,cases" >"$corrupt_scores"
	corrupt_names=(bitslab bitslab-secure "${names[@]:1}")
	for n in "${corrupt_names[@]}"; do
		if [ "$n" = bitslab-secure ]; then
			c_lib=$PRELOAD_LIB c_opt=secure=1
		else
			c_lib=${lib[$n]} c_opt=""
		fi
		CORRUPT=$CORRUPT "$src/selftests/corrupt/run.sh" --outcomes "$c_lib" "$c_opt" |
			sed "s/^\([^ ]*\) \([^ ]*\) \([^ ]*\)$/\1,$n,\2,\3/" >>"$corrupt_csv"
		c_m=$(grep -c ",$n," "$corrupt_csv")
		K[$n]=$(grep -c ",$n,.*,caught$" "$corrupt_csv")
		echo "$n,${K[$n]},$c_m" >>"$corrupt_scores"
		echo "corrupt: $n catches ${K[$n]} of $c_m cases" >&3
	done
	K_cases=$c_m
else
	echo "bench: corruption suite skipped (CORRUPT='${CORRUPT:-}' is not a program, or ONLY leaves it out)" >&3
fi

# ---- instructions per malloc+free pair (callgrind) ----
# SIZE, or SIZE/BURST: pairs in rounds of BURST blocks allocated then
# freed in random order (tools/bench/pair.c), as a program frees a data
# structure: the refills and the free storm.
sizes="16 64 256 1024 4096 16384 64/10000"
instr=$OUT/instructions.csv
echo "allocator,size,instructions_per_pair" >"$instr"
declare -A I=()
if command -v valgrind >/dev/null 2>&1; then
	cg=$(mktemp -d)
	for n in "${names[@]}"; do
		for s in $sizes; do
			burst=
			[[ $s == */* ]] && burst=${s#*/}
			for count in 20000 120000; do
				log=$logs/callgrind-$n-${s/\//-}-$count.log
				rm -f "$cg/$count"
				if ! env ${lib[$n]:+LD_PRELOAD=${lib[$n]}} valgrind --tool=callgrind \
					--callgrind-out-file="$cg/$count" "$BENCH_BIN/pair" "${s%/*}" \
					"$count" $burst >"$log" 2>&1 ||
				   ! grep -q '^summary: ' "$cg/$count" 2>/dev/null; then
					echo "callgrind: $n $s bytes FAILED; output in $log" >&3
					failed=$((failed + 1))
				else
					rm -f "$log"
				fi
			done
			a=$(sed -n 's/^summary: //p' "$cg/20000" 2>/dev/null)
			b=$(sed -n 's/^summary: //p' "$cg/120000" 2>/dev/null)
			I[$n,$s]=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.0f", (b - a) / 100000 }')
			echo "$n,$s,${I[$n,$s]}" >>"$instr"
		done
		echo "callgrind: $n done" >&3
	done
	rm -rf "$cg"
else
	echo "bench: instruction counts skipped: valgrind not installed" >&3
fi

# ---- tables ----

# table TITLE ARRAY [COLUMN]: one row per workload, one column per
# allocator with the median from ARRAY (T or R) and, for the peers,
# bitslab's ratio from summary.csv's column COLUMN.  Without COLUMN, the
# peers' columns only, with ARRAY's value alone (P: a ratio already).
table() {
	local -n med=$2
	local col=${3:-} w n
	local -a cols=("${names[@]}")

	[ -n "$col" ] || cols=("${names[@]:1}")
	echo
	echo "$1"
	printf '%-22s' workload; printf '%16s' "${cols[@]}"; echo
	for w in "${wl_names[@]}"; do
		printf '%-22s' "$w"
		for n in "${cols[@]}"; do
			if [ "$n" = bitslab ] || [ -z "$col" ]; then
				printf '%16s' "${med[$w,$n]}"
			else
				printf '%16s' "${med[$w,$n]} [$(awk -F, -v w="$w" -v n="$n" -v c="$col" \
					'$1 == w && $2 == n { print $c }' "$summary")]"
			fi
		done
		echo
	done
}

# count_ratio A B: A / B, two places (two significant digits below 0.1),
# or "-".
count_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "FAIL" || b == "FAIL" || b == 0) print "-"
		else if (a / b < 0.1) printf "%.2g", a / b
		else printf "%.2f", a / b }'
}

# table_counts TITLE ARRAY: as table, with bitslab's ratio computed here.
table_counts() {
	local -n cnt=$2
	local w n
	echo
	echo "$1"
	printf '%-22s' workload; printf '%16s' "${names[@]}"; echo
	for w in "${wl_names[@]}"; do
		printf '%-22s' "$w"
		for n in "${names[@]}"; do
			if [ "$n" = bitslab ]; then
				printf '%16s' "${cnt[$w,$n]}"
			else
				printf '%16s' "${cnt[$w,$n]} [$(count_ratio "${cnt[$w,bitslab]}" "${cnt[$w,$n]}")]"
			fi
		done
		echo
	done
}

{
	table "Wall time, median of $REPS runs, seconds; [bitslab's time as a fraction of that allocator's]" T 5
	table "Wall time, bitslab's as a fraction of each allocator's in the same repeat: median of the $REPS repeats (paired.csv has the quartiles)" P
	table "Peak RSS, median of $REPS runs, MiB; [bitslab's as a fraction of that allocator's]" R 6
	if [ ${#S[@]} -gt 0 ]; then
		table_counts "Memory system calls (mmap + munmap + madvise), one run under strace -c -f; [bitslab's as a fraction of that allocator's]" S
	fi
	echo
	echo "Fragmentation test (8 rounds, 9 MiB): smallest RLIMIT_AS headroom that passes, MiB"
	printf '%-22s' ""; printf '%16s' "${names[@]}"; echo
	printf '%-22s' frag; for n in "${names[@]}"; do printf '%16s' "${F[$n]}"; done; echo
	echo
	echo "The course's fragmentation test (frag-course: absolute RLIMIT_AS for the whole process, 2 rounds, 9 MiB): smallest limit that passes, KiB"
	printf '%-22s' ""; printf '%16s' "${course_names[@]}"; echo
	printf '%-22s' frag-course; for n in "${course_names[@]}"; do printf '%16s' "${C[$n]}"; done; echo
	if [ ${#K[@]} -gt 0 ]; then
		echo
		echo "Corruption suite (selftests/corrupt, one process per case): cases caught of $K_cases"
		printf '%-22s' ""; printf '%16s' "${corrupt_names[@]}"; echo
		printf '%-22s' corrupt; for n in "${corrupt_names[@]}"; do printf '%16s' "${K[$n]}"; done; echo
	fi
	if [ ${#I[@]} -gt 0 ]; then
		echo
		echo "Instructions per malloc+free pair (callgrind, exact), by size in bytes (/N: in bursts of N freed in random order)"
		printf '%-22s' size; printf '%16s' "${names[@]}"; echo
		for s in $sizes; do
			printf '%-22s' "$s"
			for n in "${names[@]}"; do printf '%16s' "${I[$n,$s]}"; done
			echo
		done
	fi
	echo
	cat "$OUT/machine.txt"
} | tee "$OUT/table.txt" >&3

# ---- chart ----
if command -v gnuplot >/dev/null 2>&1; then
	dat=$OUT/chart.dat
	{
		echo "workload ${names[*]}"
		for w in "${wl_names[@]}"; do
			printf '%s' "$w"
			for n in "${names[@]}"; do
				awk -v a="${T[$w,$n]}" -v b="${T[$w,glibc]}" 'BEGIN { if (a == "FAIL" || b == "FAIL") printf " NaN"; else printf " %.3f", a / b }'
			done
			echo
		done
	} >"$dat"
	ncol=$((${#names[@]} + 1))
	gnuplot <<GP 2>&3
set terminal pngcairo size 1400,600 noenhanced font ',10'
set output '$OUT/chart.png'
set title "Wall time relative to glibc (lower is better), median of $REPS runs"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -40 scale 0
set key top left
set grid ytics
set yrange [0:*]
plot for [i=2:$ncol] '$dat' using i:xtic(1) title columnheader(i)
GP
	[ -s "$OUT/chart.png" ] && echo "chart: $OUT/chart.png" >&3
else
	echo "bench: chart skipped: gnuplot not installed" >&3
fi
echo "results: $OUT (runs.csv, summary.csv, syscalls.csv, frag.csv, frag-course.csv, corrupt.csv, corrupt-scores.csv, instructions.csv, table.txt)" >&3
if [ "$failed" -gt 0 ]; then
	echo "bench: $failed runs FAILED; their output is in $logs" >&3
	exit 1
fi
exit 0
