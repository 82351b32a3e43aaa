#!/bin/bash
# SPDX-License-Identifier: MIT
#
# demo.sh WORKLOAD LIB - what bitslab is for, in one screen: the seed's
# Collatz search with every sequence a linked list (4 threads, N = 100000),
# once on glibc's malloc and once on bitslab through LD_PRELOAD, side by
# side, then bitslab's statistics at exit.
set -eu
workload=$1 lib=$2
args=(list 100000 4)

# run LABEL ENV...: run the workload, print time and peak RSS.
run() {
	local label=$1; shift
	local line
	line=$(env "$@" "$workload" --verify "${args[@]}" 2>"$stats") || {
		echo "$label: the workload failed:"; echo "$line"; cat "$stats"; exit 1; }
	local secs rss
	secs=$(sed -n 's/.* \([0-9.]*\) s, peak RSS.*/\1/p' <<<"$line")
	rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' <<<"$line")
	printf '  %-28s %7s s   peak RSS %7s MiB\n' "$label" "$secs" "$rss"
	eval "${label%% *}_secs=$secs ${label%% *}_rss=$rss"
}

stats=$(mktemp)
trap 'rm -f "$stats"' EXIT
echo "Collatz search over 1..100000, 4 threads, each sequence a linked list"
echo "of 16-byte cells that other threads copy, extend and free:"
run "glibc malloc"
run "bitslab (LD_PRELOAD)" LD_PRELOAD="$lib" BITSLAB_STATS=1
awk -v a="$glibc_secs" -v b="$bitslab_secs" -v c="$glibc_rss" -v d="$bitslab_rss" \
	'BEGIN { printf "  bitslab: %.2fx the speed of glibc, %.2fx its memory\n\n", a / b, d / c }'
cat "$stats"
