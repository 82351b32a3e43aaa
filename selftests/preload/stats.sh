#!/bin/bash
# SPDX-License-Identifier: MIT
#
# stats.sh - what BITSLAB_STATS=json and malloc_info() give a program run
# under LD_PRELOAD=$PRELOAD_LIB: one JSON object that Python's json module
# parses, with one entry per size class the program used (no class twice,
# every entry with blocks or allocations, counts that add up), and XML that
# Python's parser reads, in glibc's <malloc> layout.  Exit 77 (skip) only if
# no Python is installed.
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
# A real interpreter: a wrapper script (pyenv's shims) would run several
# processes, each printing statistics of its own.
py=/usr/bin/python3
[ -x $py ] || py=$(command -v python3) || { echo "SKIP stats (no python3)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

BITSLAB_STATS=json LD_PRELOAD=$PRELOAD_LIB $py -c 'print(1)' \
	>"$work/out" 2>"$work/json"
cat >"$work/check.py" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
cls = [c["class"] for c in s["classes"]]
assert cls, "no classes"
assert cls == sorted(set(cls)), "classes repeated or out of order: %s" % cls
for c in s["classes"]:
    assert c["chunks"] > 0 or c["allocs"] > 0, c
    assert c["in_use"] + c["free"] == c["blocks"], c
    assert c["mapped"] >= c["chunks"] * 8192, c  # short chunks at start
assert sum(c["chunks"] for c in s["classes"]) == s["chunks_live"], s
assert sum(l["live"] for l in s["large"]) == s["large_live"], s
# The drain of idle owners: a drain is made in a look.
for k in ("idle_looks", "idle_drains", "idle_purges"):
    assert isinstance(s[k], int) and s[k] >= 0, (k, s.get(k))
assert s["idle_drains"] <= s["idle_looks"], s
print("ok   BITSLAB_STATS=json: %d classes, %d large ranges, %d chunks"
      % (len(cls), len(s["large"]), s["chunks_live"]))
PY
if [ "$(cat "$work/out")" != 1 ] || ! $py "$work/check.py" "$work/json"; then
	echo "FAIL BITSLAB_STATS=json"; head -c 600 "$work/json"; fail=1
fi

cat >"$work/info.py" <<'PY'
import ctypes, os, sys, xml.etree.ElementTree as ET
libc = ctypes.CDLL(None)
libc.fdopen.restype = ctypes.c_void_p
keep = [bytearray(200000), [str(i) for i in range(10000)]]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
fp = libc.fdopen(fd, b"w")
assert libc.malloc_info(0, ctypes.c_void_p(fp)) == 0
libc.fflush(ctypes.c_void_p(fp))
assert libc.malloc_info(1, ctypes.c_void_p(fp)) == -1
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "malloc", root.tag
sizes = root.find("heap").find("sizes").findall("size")
assert sizes and all(int(s.get("count")) >= 0 for s in sizes)
assert root.find("large") is not None
cur = [t for t in root.findall("system") if t.get("type") == "current"]
assert int(cur[0].get("size")) > 0
print("ok   malloc_info: %d size rows" % len(sizes))
PY
if ! LD_PRELOAD=$PRELOAD_LIB $py "$work/info.py" "$work/info.xml"; then
	echo "FAIL malloc_info"; head -c 600 "$work/info.xml"; fail=1
fi
exit $fail
