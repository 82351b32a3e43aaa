#!/bin/sh
# SPDX-License-Identifier: MIT
#
# deps.sh - install the Debian packages bitslab needs, on a bare Debian 12
# machine: as root it runs apt-get itself, as another user through sudo.
# apt-get update comes first: a fresh machine has no package lists.
#
#   sh scripts/deps.sh           build, make demo, make selftest, make stress
#   sh scripts/deps.sh --bench   also make bench's peers and tools, and the
#                                developer tools (what CI installs)
#
# make deps [BENCH=1] runs it too (make itself comes with build-essential,
# so on a machine without make, run the script).
set -eu

# build, demo and the Check suites; python3, git, perl and coreutils for
# the real programs selftests/preload/programs.sh runs under LD_PRELOAD
packages="build-essential pkg-config liburcu-dev check python3 git perl coreutils"
# make stress: Python's own test suite for python-suite.sh (Debian 12's
# python3 is 3.11), a Redis server and redis-cli for redis.sh (the package
# also starts a system Redis on port 6379; the test uses a Unix socket of
# its own and does not touch it)
packages="$packages libpython3.11-testsuite redis-server redis-tools"
# make bench: the peers, the chart and the instruction counts; clang for
# builds with CC=clang and for make fuzz (libFuzzer); google-perftools for google-pprof; strace for the
# memory system call counts
bench_packages="libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev gnuplot valgrind clang google-perftools strace"

case ${1:-} in
"") ;;
--bench) packages="$packages $bench_packages" ;;
*) echo "usage: sh scripts/deps.sh [--bench]" >&2; exit 2 ;;
esac

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: no apt-get: install by hand: $packages" >&2
	exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=
elif command -v sudo >/dev/null 2>&1; then
	as_root=sudo
else
	echo "deps.sh: not root and no sudo: run this as root (su -c 'sh scripts/deps.sh')" >&2
	exit 1
fi

# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends $packages
