#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run.sh - make fuzz (and the last test of make stress): libFuzzer on the
# harness of fuzz_api.c for $FUZZ_SECONDS seconds.  The working corpus is
# $FUZZ_OUT/corpus (new inputs are written there and kept between runs);
# the generated seeds ($FUZZ_SEEDS) and the regression inputs are read
# too.  Extra libFuzzer options come in $FUZZ_ARGS (e.g. -jobs=2,
# -seed=N).  A crash leaves $FUZZ_OUT/crash-<sha1>, and this script says
# how to minimise it and keep it as a regression input.
set -u
: "${FUZZ_BIN:?}" "${FUZZ_OUT:?}" "${FUZZ_SEEDS:?}" "${FUZZ_SECONDS:=60}"
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$FUZZ_OUT/corpus"

# -timeout: no input takes a second; one that hangs for 30 is a deadlock.
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of options
"$FUZZ_BIN" -max_len=4096 -timeout=30 -print_final_stats=1 \
	-max_total_time="$FUZZ_SECONDS" -artifact_prefix="$FUZZ_OUT/" \
	${FUZZ_ARGS:-} "$FUZZ_OUT/corpus" "$FUZZ_SEEDS" "$here/regress"
rc=$?
if [ $rc -ne 0 ]; then
	cat >&2 <<MSG
fuzz: libFuzzer exited $rc; the input is $FUZZ_OUT/<crash|timeout|oom>-*.
  Minimise it:  $FUZZ_BIN -minimize_crash=1 -max_total_time=120 FILE
  Replay it:    FUZZ_SYNC=1 $FUZZ_BIN FILE
  Keep it:      cp the minimised file to $here/regress/<what-it-does>
MSG
fi
exit $rc
