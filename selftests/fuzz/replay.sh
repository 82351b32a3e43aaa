#!/bin/sh
# SPDX-License-Identifier: MIT
#
# replay.sh - make selftest's run of the fuzzer's harness without
# libFuzzer: every generated seed ($FUZZ_DIR/seeds) and every regression
# input (selftests/fuzz/regress/: inputs that once failed) through
# fuzz-replay, which the project's compiler built.  A failing input aborts
# with the harness's report; FUZZ_VERBOSE=1 names each input as it runs.
set -u
: "${FUZZ_DIR:?set FUZZ_DIR to the build directory of selftests/fuzz}"
here=$(cd "$(dirname "$0")" && pwd)
"$FUZZ_DIR/fuzz-replay" "$FUZZ_DIR/seeds" "$here/regress"
