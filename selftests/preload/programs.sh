#!/bin/bash
# SPDX-License-Identifier: MIT
#
# programs.sh - real programs under LD_PRELOAD=$PRELOAD_LIB give the same
# output as without it, and both runs exit 0: python3 (objects, threads,
# fork and subprocess), gcc (compiling a file), git (a repository made here,
# so it runs from a tarball as well as from a clone), perl (a large hash) and
# sort (a shuffled file).  SCALE=n makes the inputs n times larger (make
# stress uses more).
#
# First it checks that the preload takes: a program run with LD_PRELOAD has
# the library mapped.  A program that is not installed fails the run; with
# BITSLAB_TEST_ALLOW_MISSING=1 (never set in CI) it is reported as skipped
# instead, and the script exits 77 if anything was skipped and nothing failed.
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
SCALE=${SCALE:-1}
ALLOW_MISSING=${BITSLAB_TEST_ALLOW_MISSING:-0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0 skip=0

# shellcheck source-path=SCRIPTDIR source=preload-check.sh
. "$(dirname "$0")/preload-check.sh"
preload_check preload "programs: 0 alike, 1 failed, 0 skipped"

# compare NAME CMD...: NAME is the program under test; run CMD twice, plain and preloaded; both must exit 0
# with some output, and the same output.
compare() {
	local name=$1; shift
	if ! command -v "$name" >/dev/null 2>&1; then
		if [ "$ALLOW_MISSING" = 1 ]; then
			echo "SKIP $name (not installed; BITSLAB_TEST_ALLOW_MISSING=1)"
			skip=$((skip + 1))
		else
			echo "FAIL $name: not installed (install it, or set BITSLAB_TEST_ALLOW_MISSING=1 to skip)"
			fail=$((fail + 1))
		fi
		return
	fi
	"$@" >"$work/plain.out" 2>"$work/plain.err"; local rc1=$?
	LD_PRELOAD=$PRELOAD_LIB "$@" >"$work/bitslab.out" 2>"$work/bitslab.err"
	local rc2=$?
	if [ $rc1 -ne 0 ] || [ ! -s "$work/plain.out" ]; then
		echo "FAIL $name: exit $rc1 and $(wc -c <"$work/plain.out") bytes of output without bitslab"
		head -5 "$work/plain.err"
		fail=$((fail + 1))
	elif [ $rc2 -ne 0 ] || ! cmp -s "$work/plain.out" "$work/bitslab.out"; then
		if cmp -s "$work/plain.out" "$work/bitslab.out"; then
			echo "FAIL $name: exit $rc2 under bitslab (0 without)"
		else
			echo "FAIL $name: exit $rc2 under bitslab, output differs"
		fi
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

# git: build a repository of 30 commits (fixed author and dates, so both
# runs make the same hashes), then read it back with diffs and a pack.
cat >"$work/git.sh" <<'SH'
set -e
r=$1/repo
rm -rf "$r"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=$1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org
export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
git -c init.defaultBranch=main init -q "$r"
i=0
while [ $i -lt 30 ]; do
	seq $i $((i * 50 + 200)) >"$r/f$((i % 7))"
	git -C "$r" add -A
	git -C "$r" commit -q -m "commit $i"
	i=$((i + 1))
done
git -C "$r" gc -q
git -C "$r" log --stat -p --format='%H %s' | cksum
git -C "$r" log --format='%H %s' | head -3
git -C "$r" fsck --no-progress 2>&1
SH
compare git sh "$work/git.sh" "$work"

compare perl perl -e '
	my %h; my $n = 300000 * '"$SCALE"';
	for my $i (1 .. $n) { $h{"key$i"} = [$i, "v" x ($i % 17)]; }
	my $s = 0; $s += $h{$_}[0] for keys %h;
	delete $h{"key$_"} for grep { $_ % 2 } 1 .. $n;
	print scalar(keys %h), " $s\n";'

awk -v n=$((300000 * SCALE)) 'BEGIN { srand(7); for (i = 0; i < n; i++)
	printf "%08d %s\n", int(rand() * 1e8), substr("abcdefghijklmnop", 1 + i % 16) }' >"$work/lines"
compare sort sort "$work/lines"

echo "programs: $pass alike, $fail failed, $skip skipped"
[ $fail -eq 0 ] || exit 1
[ $skip -eq 0 ] || exit 77
exit 0
