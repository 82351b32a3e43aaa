#!/bin/bash
# SPDX-License-Identifier: MIT
#
# startup.sh - what bitslab maps of its own in a small program that has
# made its first allocations: cat /proc/self/status (cat has set up its
# locale and its buffer by the time it reads the file) under
# LD_PRELOAD=$PRELOAD_LIB against the same without it, VmSize (address
# space) and RssAnon (anonymous memory touched).
#
# Limits: both at most 512 KiB above glibc's (issue 11's figure).  What
# keeps the address space there: short chunks while the program is small
# (core/chunk.c), the three-level page map (core/pagemap.h), a first heap
# batch of one heap (core/heap.c).  STARTUP_VM_KIB overrides the VmSize
# limit, to measure.
set -u
: "${PRELOAD_LIB:?set PRELOAD_LIB to libbitslab.so}"
rss_max=512
vm_max=${STARTUP_VM_KIB:-512}

# status_kib FIELD [LD_PRELOAD]: FIELD of cat's own /proc/self/status.
status_kib() {
	env ${2:+LD_PRELOAD=$2} cat /proc/self/status |
		awk -v f="$1:" '$1 == f { print $2 }'
}

# shellcheck source-path=SCRIPTDIR source=preload-check.sh
. "$(dirname "$0")/preload-check.sh"
preload_check startup
fail=0
for field in VmSize RssAnon; do
	plain=$(status_kib $field)
	ours=$(status_kib $field "$PRELOAD_LIB")
	if [ -z "$plain" ] || [ -z "$ours" ]; then
		echo "FAIL startup: no $field in /proc/self/status"
		fail=1
		continue
	fi
	max=$([ $field = RssAnon ] && echo $rss_max || echo "$vm_max")
	d=$((ours - plain))
	if [ $d -le "$max" ]; then
		echo "  ok   cat $field: $ours kB under bitslab, $plain kB on glibc: +$d kB (at most +$max)"
	else
		echo "  FAIL cat $field: $ours kB under bitslab, $plain kB on glibc: +$d kB (more than +$max)"
		fail=1
	fi
done
echo "startup: $([ $fail -eq 0 ] && echo passed || echo failed)"
exit $fail
