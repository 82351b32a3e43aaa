#!/bin/bash
# SPDX-License-Identifier: MIT
#
# examples.sh - build and run every example of Documentation/usage.rst that
# is marked ".. example: FILE": the literal block after the mark is written
# to FILE in a scratch directory that holds ./libbitslab.so ($PRELOAD_LIB)
# and include/; each FILE.sh is then run there (bash -e -o pipefail), in
# the order of the document, and what it printed is checked for what the
# document says it shows.  Exit 77 (skip) only if a tool an example needs
# (cc, python3, google-pprof) is missing, after running the others.
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
src=$(cd "$(dirname "$0")/../.." && pwd)
doc=$src/Documentation/usage.rst
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$(cd "$(dirname "$PRELOAD_LIB")" && pwd)/$(basename "$PRELOAD_LIB")" "$work/libbitslab.so"
ln -s "$src/include" "$work/include"
# Debian's python3 first: a wrapper (pyenv's shims) would be several
# processes, each printing statistics of its own.
export PATH=/usr/bin:$PATH

# Write each marked block to its file.
awk -v dir="$work" '
	/^\.\. example: / { file = dir "/" $3; want = 1; next }
	want == 1 && /^::$/ { want = 2; next }
	want == 2 && /^$/ { if (body) print "" > file; next }
	want == 2 && /^    / { sub(/^    /, ""); print > file; body = 1; next }
	want == 2 { close(file); want = 0; body = 0; files = files " " file }
	END { if (want == 2) close(file) }
' "$doc"
order=$(sed -n 's/^\.\. example: \(.*\.sh\)$/\1/p' "$doc")
[ -n "$order" ] || { echo "FAIL no examples found in $doc"; exit 1; }

# expect NAME PATTERN...: each pattern is in what example NAME printed.
expect() {
	local name=$1 p; shift
	for p in "$@"; do
		grep -q -- "$p" "$work/$name.log" || {
			echo "FAIL $name: no '$p' in its output"; head -20 "$work/$name.log"
			return 1; }
	done
}

pass=0 fail=0 skip=0
for name in $order; do
	need=""
	grep -q 'google-pprof' "$work/$name" && need="$need google-pprof"
	grep -q '^cc ' "$work/$name" && need="$need cc"
	grep -q 'python3' "$work/$name" && need="$need python3"
	missing=""
	for t in $need; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
	if [ -n "$missing" ]; then
		echo "SKIP $name (not installed:$missing)"; skip=$((skip + 1)); continue
	fi
	if ! (cd "$work" && bash -e -o pipefail "$name") >"$work/$name.log" 2>&1; then
		echo "FAIL $name (exit status)"; tail -20 "$work/$name.log"
		fail=$((fail + 1)); continue
	fi
	case $name in
	stats.sh) expect $name "size classes in use" "large blocks by mapping size" ;;
	json.sh) expect $name '"classes": \[' '"remote_frees"' ;;
	info.sh) expect $name '<malloc' '<size from=' ;;
	leaks.sh) expect $name "leak report" "make_list+" "make_table+" \
		  "% make_list" "% make_table" ;;
	*) true ;;
	esac && { echo "ok   $name"; pass=$((pass + 1)); } || fail=$((fail + 1))
done
echo "examples: $pass ran as documented, $fail failed, $skip skipped"
[ $fail -eq 0 ] || exit 1
[ $skip -eq 0 ] || exit 77
exit 0
