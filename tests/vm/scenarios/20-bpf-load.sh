#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# espgate's BPF object on Debian's kernel: every program in $OUTPUT/espgate.bpf.o loads
# (`bpftool prog loadall`, so the verifier of the oldest kernel we target accepts them), the XDP
# program (xdp_eg_ingress, or the first XDP program) attaches to a veth in native (driver) mode,
# the tc program (tc_eg_ingress, or the first sched_cls program) attaches to clsact ingress with
# direct action, and pings cross both: each program's run count (kernel.bpf_stats_enabled) rises
# by at least the number of packets received. Then the round-2 datapath BPF tests run on it.
. "$(dirname "$0")/../lib.sh"

OBJ=$OUTPUT/espgate.bpf.o
[ -f "$OBJ" ] || vm_fail "$OBJ not found: build it first (make OUTPUT=$OUTPUT)"
A=vm20a
B=vm20b
N=5
vm_ns $A $B
vm_veth $A v20a 192.0.2.21/24 $B v20b 192.0.2.22/24

PIN=$(vm_bpf_dir)
# the object may pin maps by name in /sys/fs/bpf itself: remove whatever loading it adds there
ls /sys/fs/bpf >"$VM_WORK/bpffs.before"
vm_on_exit "cd /sys/fs/bpf && ls | comm -13 $VM_WORK/bpffs.before - | xargs -r rm -rf"
sysctl -qw kernel.bpf_stats_enabled=1
vm_step "bpftool prog loadall $OBJ"
vm_check "all programs load" bpftool prog loadall "$OBJ" "$PIN"

echo "kernel $(uname -r)"
# every program of the object, by name: none may be missing from what loadall pinned
for name in xdp_eg_ingress tc_eg_ingress tc_eg_nat; do
	vm_check "$name loaded by the verifier of $(uname -r)" [ -e "$PIN/$name" ]
done

xdp=
tc=
for p in "$PIN"/*; do
	type=$(bpftool prog show pinned "$p" | awk 'NR == 1 { print $2 }')
	echo "loaded $(basename "$p"): $type"
	case $type in
	xdp) [ -z "$xdp" ] || [ "$(basename "$p")" = xdp_eg_ingress ] && xdp=$p ;;
	sched_cls) [ -z "$tc" ] || [ "$(basename "$p")" = tc_eg_ingress ] && tc=$p ;;
	esac
done
[ -n "$xdp" ] || vm_fail "no XDP program in $OBJ"
[ -n "$tc" ] || vm_fail "no tc (sched_cls) program in $OBJ"

# run_cnt of a pinned program (bpftool omits it while it is 0)
runs() {
	local n
	n=$(bpftool prog show pinned "$1" | sed -n 's/.* run_cnt \([0-9]*\).*/\1/p')
	echo "${n:-0}"
}

vm_step "attach $(basename "$xdp") natively on $B/v20b, $(basename "$tc") on clsact ingress"
vm_check "XDP attach in driver mode" vm_nsx $B bpftool net attach xdpdrv pinned "$xdp" dev v20b
vm_nsx $B bpftool net show dev v20b
vm_check "XDP shown as driver mode" \
	bash -c "nsenter --net=/run/netns/$B bpftool net show dev v20b | grep -A1 '^xdp:' | grep -q 'v20b.* driver id'"
vm_check "clsact qdisc" vm_nsx $B tc qdisc add dev v20b clsact
vm_check "tc attach (direct action)" vm_nsx $B tc filter add dev v20b ingress bpf da pinned "$tc"
vm_nsx $B tc filter show dev v20b ingress
vm_check "tc filter shown" bash -c "ip netns exec $B tc filter show dev v20b ingress | grep -q 'direct-action'"

xdp0=$(runs "$xdp")
tc0=$(runs "$tc")
vm_check "$N pings across the XDP+tc veth" vm_ping $A 192.0.2.21 192.0.2.22 $N
xdp1=$(runs "$xdp")
tc1=$(runs "$tc")
echo "run_cnt: xdp $xdp0 -> $xdp1, tc $tc0 -> $tc1"
vm_check "XDP ran for every received packet" [ $((xdp1 - xdp0)) -ge $N ]
vm_check "tc ran for every received packet" [ $((tc1 - tc0)) -ge $N ]

vm_step "detach"
vm_check "XDP detach" vm_nsx $B bpftool net detach xdpdrv dev v20b
vm_check "veth still carries traffic" vm_ping $A 192.0.2.21 192.0.2.22 1

# The round-2 datapath table (remote-netmap, ICMP errors with exact bytes, cpumap steering by
# SPI with live frames) through the real skeleton on this kernel: behaviour, not only loading.
t2=$OUTPUT/tests/bpf/test_datapath2
if [ -x "$t2" ]; then
	vm_step "$t2 on $(uname -r)"
	vm_check "test_datapath2 passes on $(uname -r)" "$t2"
fi
