#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/demo-xdp.sh: the datapath alone, in namespaces on this host (make demo falls back to it
# without qemu). It builds the topology of seed 000 — a VNet workload 10.1.1.66, the gateway with
# espgate's XDP and tc programs on its inside NIC, and a partner-side web server — sends an HTTP
# request across the gateway and shows what the datapath counted (bpftool reads the pinned maps by
# BTF name).
set -u
cd "$(dirname "$0")/.." || exit 1
source tests/lib/netns.sh
nt_private_bpffs "$@"
OUTPUT=${OUTPUT:-.output}
OBJ=$OUTPUT/espgate.bpf.o
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[ "$(id -u)" -eq 0 ] || {
	echo "demo: needs root (network namespaces, BPF)" >&2
	exit 1
}

say "topology: vnet (10.1.1.66) -- gw [XDP+tc on gw-in] -- partner web server (198.18.170.151)"
nt_ns VNET vnet
nt_ns GW gw
nt_ns PARTNER partner
nt_veth "$VNET" eth0 "$GW" gw-in
nt_veth "$GW" gw-out "$PARTNER" eth0
ip -n "$VNET" addr add 10.1.1.66/24 dev eth0
ip -n "$VNET" route add default via 10.1.1.1
ip -n "$GW" addr add 10.1.1.1/24 dev gw-in
ip -n "$GW" addr add 198.18.170.1/24 dev gw-out
ip -n "$PARTNER" addr add 198.18.170.151/24 dev eth0
ip -n "$PARTNER" route add default via 198.18.170.1
ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
nt_in "$VNET" ethtool -K eth0 tx off >/dev/null 2>&1

say "load espgate's BPF object and attach it natively (xdpdrv) and on tc clsact ingress"
bpftool prog loadall "$OBJ" /sys/fs/bpf/eg || exit 1
nt_in "$GW" bpftool net attach xdpdrv pinned /sys/fs/bpf/eg/xdp_eg_ingress dev gw-in || exit 1
nt_in "$GW" tc qdisc add dev gw-in clsact
nt_in "$GW" tc filter add dev gw-in ingress bpf da pinned /sys/fs/bpf/eg/tc_eg_ingress
nt_in "$GW" bpftool net show dev gw-in

say "partner web server on 198.18.170.151:80, request from the VNet workload"
mkdir -p "/tmp/eg-demo-$$" && echo "hello from the partner LAN" >"/tmp/eg-demo-$$/index.html"
nt_on_exit "rm -rf /tmp/eg-demo-$$"
ip netns exec "$PARTNER" python3 -m http.server 80 --bind 198.18.170.151 \
	--directory "/tmp/eg-demo-$$" >"/tmp/eg-demo-$$.log" 2>&1 &
nt_on_exit "kill $! ; rm -f /tmp/eg-demo-$$.log"
for _ in $(seq 50); do
	ip netns exec "$PARTNER" ss -ltn | grep -q ':80 ' && break
	sleep 0.1
done
ip netns exec "$VNET" curl -sS --max-time 5 http://198.18.170.151/
echo "server log: $(tail -1 "/tmp/eg-demo-$$.log")"

say "what the datapath counted (bpftool map dump pinned eg_stats, summed over CPUs)"
for s in RX PASS DROP_MALFORMED; do printf '  %-16s %s\n' "$s" "$(nt_stat $s)"; done
echo
echo "demo: the XDP program saw every frame of that exchange and passed it to the stack."
echo "demo: NAT, selectors and the IPsec lab arrive with the datapath and daemon issues."
