#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Which hooks on a gateway's underlay device see a tunnel-mode ESP packet and which see its
# decrypted inner packet, with espgate's own programs attached to the receiving veth: the kernel
# re-injects the decrypted packet through the same device, so tc ingress (clsact) runs twice per
# ESP packet (ESP, then inner), native XDP once (ESP only), and generic XDP twice. Asserted with
# exact program run counts (kernel.bpf_stats_enabled) for N pings; IPv6 is off on the links and
# the ARP entries are static, so that nothing but the pings crosses the veth.
. "$(dirname "$0")/../lib.sh"

OBJ=$OUTPUT/espgate.bpf.o
[ -f "$OBJ" ] || vm_fail "$OBJ not found: build it first (make OUTPUT=$OUTPUT)"
A=vm25a
B=vm25b
N=4
vm_ns $A $B
for ns in $A $B; do
	ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
vm_veth $A v25a 192.0.2.51/24 $B v25b 192.0.2.52/24
vm_static_neigh $A v25a $B v25b
vm_dummy $A site0 10.51.0.1/24
vm_dummy $B site0 10.52.0.1/24
ip -n $A route add 10.52.0.0/24 via 192.0.2.52
ip -n $B route add 10.51.0.0/24 via 192.0.2.51

hexkey() { echo "0x$(od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n')"; }
AB=(aead 'rfc4106(gcm(aes))' "$(hexkey 36)" 128)
BA=(aead 'rfc4106(gcm(aes))' "$(hexkey 36)" 128)
for ns in $A $B; do
	ip -n $ns xfrm state add src 192.0.2.51 dst 192.0.2.52 proto esp spi 0x5001 reqid 1 \
		mode tunnel "${AB[@]}" || vm_fail "SA A->B in $ns"
	ip -n $ns xfrm state add src 192.0.2.52 dst 192.0.2.51 proto esp spi 0x5002 reqid 1 \
		mode tunnel "${BA[@]}" || vm_fail "SA B->A in $ns"
done
ip -n $A xfrm policy add dir out src 10.51.0.0/24 dst 10.52.0.0/24 \
	tmpl src 192.0.2.51 dst 192.0.2.52 proto esp reqid 1 mode tunnel
ip -n $A xfrm policy add dir in src 10.52.0.0/24 dst 10.51.0.0/24 \
	tmpl src 192.0.2.52 dst 192.0.2.51 proto esp reqid 1 mode tunnel
ip -n $B xfrm policy add dir out src 10.52.0.0/24 dst 10.51.0.0/24 \
	tmpl src 192.0.2.52 dst 192.0.2.51 proto esp reqid 1 mode tunnel
ip -n $B xfrm policy add dir in src 10.51.0.0/24 dst 10.52.0.0/24 \
	tmpl src 192.0.2.51 dst 192.0.2.52 proto esp reqid 1 mode tunnel

PIN=$(vm_bpf_dir)
ls /sys/fs/bpf >"$VM_WORK/bpffs.before"
vm_on_exit "cd /sys/fs/bpf && ls | comm -13 $VM_WORK/bpffs.before - | xargs -r rm -rf"
sysctl -qw kernel.bpf_stats_enabled=1
vm_check "load $OBJ" bpftool prog loadall "$OBJ" "$PIN"
xdp=
tc=
for p in "$PIN"/*; do
	case $(bpftool prog show pinned "$p" | awk 'NR == 1 { print $2 }') in
	xdp) [ -z "$xdp" ] || [ "$(basename "$p")" = xdp_eg_ingress ] && xdp=$p ;;
	sched_cls) [ -z "$tc" ] || [ "$(basename "$p")" = tc_eg_ingress ] && tc=$p ;;
	esac
done
[ -n "$xdp" ] && [ -n "$tc" ] || vm_fail "need one XDP and one tc program in $OBJ"
runs() {
	local n
	n=$(bpftool prog show pinned "$1" | sed -n 's/.* run_cnt \([0-9]*\).*/\1/p')
	echo "${n:-0}"
}
vm_check "clsact on $B/v25b" vm_nsx $B tc qdisc add dev v25b clsact
vm_check "tc ingress attach" vm_nsx $B tc filter add dev v25b ingress bpf da pinned "$tc"
vm_check "underlay ping" vm_ping $A 192.0.2.51 192.0.2.52 1

# measure MODE: N pings through the tunnel with XDP attached in MODE on B's underlay veth
measure() {
	local mode=$1 x0 t0 x1 t1
	vm_check "XDP attach ($mode)" vm_nsx $B bpftool net attach "$mode" pinned "$xdp" dev v25b
	x0=$(runs "$xdp")
	t0=$(runs "$tc")
	vm_check "$N pings through the tunnel ($mode)" vm_ping $A 10.51.0.1 10.52.0.1 $N
	x1=$(runs "$xdp")
	t1=$(runs "$tc")
	vm_nsx $B bpftool net detach "$mode" dev v25b
	XDP_RUNS=$((x1 - x0))
	TC_RUNS=$((t1 - t0))
	echo "$mode: xdp ran $XDP_RUNS times, tc ran $TC_RUNS times for $N ESP packets received"
}

vm_step "native XDP"
measure xdpdrv
vm_expect_eq "native XDP runs (ESP only)" $N "$XDP_RUNS"
vm_expect_eq "tc ingress runs (ESP + re-injected inner packet)" $((2 * N)) "$TC_RUNS"
vm_step "generic XDP"
measure xdpgeneric
vm_expect_eq "generic XDP runs (ESP + re-injected inner packet)" $((2 * N)) "$XDP_RUNS"
vm_expect_eq "tc ingress runs" $((2 * N)) "$TC_RUNS"
vm_expect_eq "B inbound SA packets" $((2 * N)) "$(vm_xfrm_packets $B 0x5001)"
