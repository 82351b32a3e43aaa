#!/bin/bash
# SPDX-License-Identifier: MIT
#
# programs.sh - real programs under LD_PRELOAD=$PRELOAD_LIB give the same
# output and exit status as without it: python3 (objects, threads, fork and
# subprocess), gcc (compiling a file), git (log of this repository), perl (a
# large hash) and sort (a shuffled file).  SCALE=n makes the inputs n times
# larger (make stress uses more).  A program that is not installed is
# reported as skipped; exit 77 only if all of them were.
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
SCALE=${SCALE:-1}
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0 skip=0

# compare NAME CMD...: run CMD twice, plain and preloaded, compare output.
compare() {
	local name=$1; shift
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "SKIP $name ($1 not installed)"; skip=$((skip + 1)); return
	fi
	"$@" >"$work/plain.out" 2>"$work/plain.err"; local rc1=$?
	LD_PRELOAD=$PRELOAD_LIB "$@" >"$work/bitslab.out" 2>"$work/bitslab.err"
	local rc2=$?
	if [ $rc1 -ne $rc2 ] || ! cmp -s "$work/plain.out" "$work/bitslab.out"; then
		echo "FAIL $name: exit $rc1 vs $rc2 under bitslab"
		diff "$work/plain.out" "$work/bitslab.out" | head -5
		head -5 "$work/bitslab.err"
		fail=$((fail + 1))
	else
		echo "ok   $name ($(wc -c <"$work/plain.out") bytes of output alike)"
		pass=$((pass + 1))
	fi
}

cat >"$work/objects.py" <<PY
import json, threading, subprocess, os, sys
n = 200000 * $SCALE
objs = [{"id": i, "name": "obj%d" % i, "tags": [i % 7, str(i)]} for i in range(n)]
blob = json.dumps(objs)
assert json.loads(blob) == objs
del objs
out = []
def work(k):
    d = {}
    for i in range(50000 * $SCALE):
        d[(k, i)] = str(i) * (i % 13)
        if i % 1000 == 0:
            d = {key: v for key, v in d.items() if key[1] % 3}
    out.append(len(d))
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
pid = os.fork()
if pid == 0:
    os._exit(len([str(i) for i in range(100000)]) % 200)
_, st = os.waitpid(pid, 0)
sub = subprocess.run([sys.executable, "-c", "print(sum(range(10**6)))"],
                     capture_output=True, text=True).stdout.strip()
print(len(blob), sorted(out), os.WEXITSTATUS(st), sub)
PY
compare python3 python3 "$work/objects.py"

cat >"$work/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
struct node { struct node *next; long v; };
static long collatz(long n) { long s = 0; while (n != 1) { n = n & 1 ? 3 * n + 1 : n / 2; s++; } return s; }
int main(void) {
	struct node *h = NULL;
	for (long i = 1; i < 1000; i++) { struct node *n = malloc(sizeof(*n)); n->v = collatz(i); n->next = h; h = n; }
	long best = 0; for (struct node *n = h; n; n = n->next) if (n->v > best) best = n->v;
	printf("%ld\n", best);
	return 0;
}
C
compare gcc gcc -O2 -S -o - "$work/prog.c"

if [ -d "$src/.git" ]; then
	compare git git -C "$src" log --stat --format='%H %s' -n 40
else
	compare git git --version
fi

compare perl perl -e '
	my %h; my $n = 300000 * '"$SCALE"';
	for my $i (1 .. $n) { $h{"key$i"} = [$i, "v" x ($i % 17)]; }
	my $s = 0; $s += $h{$_}[0] for keys %h;
	delete $h{"key$_"} for grep { $_ % 2 } 1 .. $n;
	print scalar(keys %h), " $s\n";'

awk -v n=$((300000 * SCALE)) 'BEGIN { srand(7); for (i = 0; i < n; i++)
	printf "%08d %s\n", int(rand() * 1e8), substr("abcdefghijklmnop", 1 + i % 16) }' >"$work/lines"
compare sort sort "$work/lines"

echo "programs: $pass alike, $fail differ, $skip skipped"
[ $fail -eq 0 ] || exit 1
[ $pass -gt 0 ] || exit 77
exit 0
