#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Packets per second through a gateway namespace (../shared/BENCH.md's method, bench/pps_bench.c):
# sender - gateway - receiver namespaces joined by veth pairs; frames are injected inside the
# gateway with BPF_PROG_RUN live frames (bench/bpf/pps.bpf.c, compiled here) and verified by an
# XDP sink on the receiver. Prints `bench NAME VALUE UNIT` lines. Needs root.
# Environment: PPS_ROUNDS (default 5), PPS_PACKETS (default 2000000).
set -u
cd "$(dirname "$0")/.." || exit 1
OUTPUT=${OUTPUT:-.output}
ARCH=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
if [ "$(id -u)" -ne 0 ]; then
	echo "bench pps skipped: needs root" >&2
	exit 0
fi
obj=$OUTPUT/bench/pps.bpf.o
mkdir -p "$OUTPUT/bench"
clang -g -O2 -target bpf -D__TARGET_ARCH_"$ARCH" -Wall -Werror -I vmlinux/"$ARCH" \
	-c bench/bpf/pps.bpf.c -o "$obj" || exit 1

S=egb-snd G=egb-gw R=egb-rcv
cleanup() {
	for n in $S $G $R; do ip netns del $n 2>/dev/null; done
	rm -f /tmp/egb-ipt.rules /tmp/egb-nft.rules
}
trap cleanup EXIT
cleanup
set -e
for n in $S $G $R; do ip netns add $n; done
ip link add eth0 netns $S type veth peer name eth0 netns $G
ip link add eth1 netns $G type veth peer name eth0 netns $R
ip -n $S addr add 10.1.0.2/24 dev eth0
ip -n $G addr add 10.1.0.1/24 dev eth0
ip -n $G addr add 10.2.0.1/24 dev eth1
ip -n $R addr add 10.2.0.2/24 dev eth0
for n in $S $G $R; do
	ip -n $n link set lo up
	for d in $(ip -n $n -o link show | awk -F': ' '/eth[01]/{print $2}' | cut -d@ -f1); do
		ip -n $n link set "$d" up
	done
done
ip -n $G route add 10.3.0.0/16 via 10.2.0.2
ip netns exec $G sysctl -qw net.ipv4.ip_forward=1
for k in all default eth0 eth1; do
	ip netns exec $G sysctl -qw net.ipv4.conf.$k.rp_filter=0
done
rmac=$(ip netns exec $R cat /sys/class/net/eth0/address)
ip -n $G neigh replace 10.2.0.2 lladdr "$rmac" dev eth1 nud permanent
set +e
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg), iptables: $(iptables -V)"
"$OUTPUT"/bench/pps_bench /run/netns/$G /run/netns/$R "$obj" "${PPS_ROUNDS:-5}" \
	"${PPS_PACKETS:-2000000}"
