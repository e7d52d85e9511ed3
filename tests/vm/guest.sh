#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs inside the VM (started by tests/vm/init from the checkout's root): every
# tests/vm/scenarios/*.sh in name order, each in its own process group under a timeout, with its
# output in /results/scenarios/<name>.log and its exit status in <name>.rc (0 pass, 77 skip with the
# reason in <name>.skip, anything else fail). Between scenarios it kills whatever the scenario left
# running and resets the shared kernel state (namespaces, root-namespace XFRM, nftables, links,
# BPF pins), so each scenario starts from a clean VM.
#   bash tests/vm/guest.sh [name-substring...]   (default: all, or $VMTEST_ONLY, comma separated)
set -u
cd "${VMTEST_SRC:-$(dirname "$0")/../..}" || exit 1
RES=${VMTEST_RESULTS:-/results}/scenarios
TMO=${VMTEST_TIMEOUT:-240}
export OUTPUT=${VMTEST_OUTPUT:-$PWD/.output}
mkdir -p "$RES"

only=("$@")
if [ ${#only[@]} -eq 0 ] && [ -n "${VMTEST_ONLY:-}" ]; then
	IFS=, read -r -a only <<<"$VMTEST_ONLY"
fi
selected() {
	local o
	[ ${#only[@]} -eq 0 ] && return 0
	for o in "${only[@]}"; do
		case $1 in *"$o"*) return 0 ;; esac
	done
	return 1
}
up() { cut -d' ' -f1 /proc/uptime; }

# reset: bring the VM back to its boot state after a scenario.
reset_vm() {
	local pgid=$1 l
	kill -TERM -- "-$pgid" 2>/dev/null && sleep 0.3
	kill -KILL -- "-$pgid" 2>/dev/null
	ip -all netns delete 2>/dev/null
	rm -f /run/netns/* 2>/dev/null
	ip xfrm state flush
	ip xfrm policy flush
	nft flush ruleset 2>/dev/null
	for l in $(ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'); do
		[ "$l" = lo ] || ip link del "$l" 2>/dev/null
	done
	tc qdisc del dev lo clsact 2>/dev/null
	rm -rf /sys/fs/bpf/* 2>/dev/null
	while read -r _ mp _; do
		case $mp in /run/netns/*) umount "$mp" 2>/dev/null ;; esac
	done </proc/mounts
}

for f in tests/vm/scenarios/*.sh; do
	n=$(basename "$f" .sh)
	selected "$n" || continue
	rm -f "$RES/$n".*
	work=/tmp/vm/$n
	rm -rf "$work"
	mkdir -p "$work"
	echo "[guest] t=$(up)s scenario $n"
	t0=$(up)
	# a scenario may ask for more time than the default with a "# vm-timeout: SECONDS" line
	tmo=$(sed -n 's/^# vm-timeout: \([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
	[ -n "$tmo" ] && [ "$tmo" -gt "$TMO" ] || tmo=$TMO
	# timeout puts the scenario in a process group of its own, whose id is timeout's pid
	VM_NAME=$n VM_WORK=$work VM_SKIPFILE=$RES/$n.skip \
		timeout -k 5 "$tmo" bash "$f" >"$RES/$n.log" 2>&1 </dev/null &
	pid=$!
	wait $pid
	rc=$?
	[ $rc -eq 124 ] && echo "TIMEOUT: scenario killed after ${tmo}s" >>"$RES/$n.log"
	reset_vm "$pid"
	awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.1f\n", b - a }' >"$RES/$n.time"
	echo "$rc" >"$RES/$n.rc"
	echo "[guest] t=$(up)s scenario $n: rc=$rc ($(cat "$RES/$n.time") s)"
done
echo "request_module() calls that found no module (should be empty):"
dmesg | grep modprobe-shim | sort | uniq -c
sync
