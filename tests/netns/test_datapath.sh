#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Netns tier, datapath with real traffic: client (10.1.0.0/24) - gateway - server (192.0.2.0/24).
# espgate's programs masquerade the client behind 198.19.0.1 (not a local address of the gateway)
# and publish 198.19.0.1:8080 -> client 10.1.0.2:80 (DNAT). First with xdp_eg_ingress attached in
# NATIVE mode on both gateway veths (senders' tx checksum offload off: XDP cannot finish a partial
# checksum): HTTP over TCP, UDP, the DNAT service, 60,000 concurrent UDP flows through the one
# SNAT address. Then with tc_eg_nat instead (the path for hosts without native XDP; through tcx
# links pinned by egdp, which has exited, on kernels >= 6.6, else clsact) and the
# senders' offload ON, so the gateway sees CHECKSUM_PARTIAL packets; its outgoing veth has tx
# checksumming off, so the kernel finishes each checksum in software from the pseudo-header seed
# tc rewrote: a wrong seed would reach the server as a bad checksum and be dropped.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
nt_private_bpffs "$@"
OUTPUT=${OUTPUT:-.output}
EGDP=${EGDP:-$OUTPUT/bench/egdp}
FLOWS=${DP_FLOWS:-60000}
PIN=/sys/fs/bpf/egdp$$

for tool in python3 curl ethtool; do
	command -v $tool >/dev/null || {
		tap_skip "datapath netns" "$tool not installed"
		tap_done
		exit
	}
done
[ -x "$EGDP" ] || {
	tap_fail "datapath netns" "$EGDP not built"
	tap_done
	exit
}

nt_ns C c
nt_ns GW gw
nt_ns S s
nt_veth "$C" c0 "$GW" g0
nt_veth "$GW" g1 "$S" s0
ip -n "$C" addr add 10.1.0.2/24 dev c0
for i in $(seq 10 80); do ip -n "$C" addr add 10.1.0.$i/24 dev c0; done
ip -n "$C" route add default via 10.1.0.1
ip -n "$GW" addr add 10.1.0.1/24 dev g0
ip -n "$GW" addr add 192.0.2.1/24 dev g1
ip -n "$S" addr add 192.0.2.2/24 dev s0
ip -n "$S" route add 198.19.0.0/24 via 192.0.2.1
nt_in "$GW" sysctl -qw net.ipv4.ip_forward=1
# The server's replies to 198.19.0.1 and DNAT'd clients must reach the gateway's XDP.
for ns in "$C" "$S"; do nt_in "$ns" sysctl -qw net.ipv4.ip_local_port_range="20000 60999"; done

offload() { # offload on|off
	nt_in "$C" ethtool -K c0 tx "$1" >/dev/null 2>&1
	nt_in "$S" ethtool -K s0 tx "$1" >/dev/null 2>&1
}

http_check() { # NAME
	local log=/tmp/egdp-http$$.log out
	: >"$log"
	# nsenter execs python, so $! is the server itself (nt_in would background a subshell).
	nsenter --net=/run/netns/"$S" python3 -u -m http.server 80 --bind 192.0.2.2 >"$log" 2>&1 &
	local pid=$!
	nt_on_exit "kill $pid"
	for _ in $(seq 50); do
		nt_in "$S" ss -ltn 2>/dev/null | grep -q '192.0.2.2:80 ' && break
		sleep 0.1
	done
	out=$(nt_in "$C" curl -s --max-time 5 http://192.0.2.2/ 2>&1)
	sleep 0.2
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	if echo "$out" | grep -qi "directory listing" && grep -q "^198.19.0.1 " "$log"; then
		tap_ok "$1: HTTP over TCP, the server sees 198.19.0.1, the reply returns"
	else
		tap_fail "$1: HTTP over TCP through the SNAT" "curl: ${out:0:80} / server log: $(head -c 200 "$log")"
	fi
	rm -f "$log"
}

udp_check() { # NAME N
	local out=/tmp/egdp-udp$$.txt got res
	nsenter --net=/run/netns/"$S" python3 tests/netns/dp_flows.py echo 9999 "$2" "$out" &
	local pid=$!
	sleep 0.5
	got=$(nt_in "$C" python3 tests/netns/dp_flows.py send 192.0.2.2 9999 "$2" 10.1.0)
	wait $pid
	res=$(cat "$out" 2>/dev/null)
	rm -f "$out"
	# The server must see every flow, from 198.19.0.1 each with its own port. Echoes may
	# rarely be lost to veth ring overruns under the burst (not the NAT: its drop counters are
	# checked to be zero below), so 0.1% of them may miss.
	if [ "${got:-0}" -ge $(($2 - $2 / 1000)) ] && [ "$res" = "$2 198.19.0.1" ]; then
		tap_ok "$1: $2 concurrent UDP flows through one SNAT address, server saw all, $got echoes back"
	else
		tap_fail "$1: $2 UDP flows" "echoes back: $got; server saw: $res"
	fi
}

dnat_check() { # NAME
	local out
	nt_in "$C" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.1.0.2", 80)); s.listen(1); s.settimeout(5)
c, peer = s.accept(); c.sendall(("published to %s\n" % peer[0]).encode()); c.close()' &
	local pid=$!
	sleep 0.5
	out=$(nt_in "$S" python3 -c '
import socket
s = socket.create_connection(("198.19.0.1", 8080), timeout=5); print(s.recv(100).decode().strip())' 2>&1)
	wait $pid
	if [ "$out" = "published to 192.0.2.2" ]; then
		tap_ok "$1: the published DNAT service 198.19.0.1:8080 -> 10.1.0.2:80 answers"
	else
		tap_fail "$1: DNAT service" "$out"
	fi
}

natt_check() { # NAME: an inside VPN client's own NAT-T and IKE through the masquerade (issue 3)
	local out=/tmp/egdp-natt$$.txt got
	nsenter --net=/run/netns/"$S" python3 -c '
import select, socket, sys, time
ss = []
for port in (4500, 500):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("192.0.2.2", port)); ss.append(s)
peers, end = set(), time.time() + 8
while time.time() < end and len(peers) < 7:
    for s in select.select(ss, [], [], 0.5)[0]:
        data, peer = s.recvfrom(2048); s.sendto(data, peer)
        peers.add("%s:%d>%d:%s" % (peer[0], peer[1], s.getsockname()[1], data[:4].hex()))
open(sys.argv[1], "w").write(" ".join(sorted(peers)))' "$out" &
	local pid=$!
	sleep 0.5
	# ESP-in-UDP (a non-zero SPI) from 10.1.0.2:4500, IKE from 10.1.0.2:500, 6 packets in a row
	got=$(nt_in "$C" python3 -c '
import socket
n = 0
for sport, dport, spis in ((4500, 4500, (0xabad1dea,)), (500, 500, range(1, 7))):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.1.0.2", sport)); s.settimeout(2)
    for spi in spis:
        s.sendto(spi.to_bytes(4, "big") + bytes(28), ("192.0.2.2", dport))
        try:
            n += len(s.recv(2048)) == 32
        except socket.timeout:
            pass
print(n)' 2>&1)
	wait $pid
	if [ "$got" = 7 ] && grep -q "198.19.0.1:[0-9]*>4500:abad1dea" "$out" &&
		[ "$(grep -o "198.19.0.1:[0-9]*>500:" "$out" | wc -l)" -eq 6 ]; then
		tap_ok "$1: an inside host's NAT-T (UDP 4500, SPI 0xabad1dea) and 6 IKE packets (UDP 500) to the server leave masqueraded, replies return"
	else
		tap_fail "$1: inside NAT-T/IKE through the masquerade" "echoes back: $got of 7; server saw: $(cat "$out" 2>/dev/null)"
	fi
	rm -f "$out"
}

# --- native XDP --------------------------------------------------------------------------------
offload off
if nt_in "$GW" "$EGDP" up $PIN xdp g0 g1 -- 10.1.0.0/24 198.19.0.1 198.19.0.1:8080=10.1.0.2:80; then
	tap_ok "egdp loads and attaches xdp_eg_ingress (+ tc_eg_ingress) on both gateway veths"
else
	tap_fail "egdp up (xdp)"
	tap_done
	exit
fi
if ip -n "$GW" -d link show g0 | grep -q "xdp.*prog/xdp id\|prog/xdp id"; then
	tap_ok "XDP attached in native (driver) mode"
else
	tap_fail "XDP native mode" "$(ip -n "$GW" -d link show g0 | head -3)"
fi
http_check "xdp"
dnat_check "xdp"
natt_check "xdp"
t0=$(date +%s)
udp_check "xdp" "$FLOWS"
t1=$(date +%s)
echo "# $FLOWS flows took $((t1 - t0)) s"
nat=$(nt_in "$GW" "$EGDP" stat $PIN NAT_PLAIN)
drops=0
for d in MALFORMED CT_FULL PORTS_EXHAUSTED INTERNAL FRAG; do
	drops=$((drops + $(nt_in "$GW" "$EGDP" stat $PIN DROP_$d)))
done
if [ "$nat" -ge $((FLOWS * 2)) ] && [ "$drops" -eq 0 ]; then
	tap_ok "xdp: NAT_PLAIN counted $nat translations, no drops"
else
	tap_fail "xdp counters" "NAT_PLAIN $nat, drops $drops"
fi
used=$(nt_in "$GW" "$EGDP" used $PIN)
swept=$(nt_in "$GW" "$EGDP" sweep $PIN)
used2=$(nt_in "$GW" "$EGDP" used $PIN)
if [ "$used" -ge "$FLOWS" ] && [ "$swept" -ge "$FLOWS" ] && [ "$used2" -eq 0 ]; then
	tap_ok "sweeper: $swept pairs collected, $used pool ports freed"
else
	tap_fail "sweeper" "used $used, swept $swept, used after $used2"
fi

# --- tc_eg_nat with CHECKSUM_PARTIAL -----------------------------------------------------------
ip -n "$GW" link set dev g0 xdp off
ip -n "$GW" link set dev g1 xdp off
for i in g0 g1; do nt_in "$GW" tc qdisc del dev $i clsact 2>/dev/null; done
offload on
nt_in "$GW" ethtool -K g0 tx off >/dev/null
nt_in "$GW" ethtool -K g1 tx off >/dev/null
rm -rf $PIN
if nt_in "$GW" "$EGDP" up $PIN tcnat g0 g1 -- 10.1.0.0/24 198.19.0.1 198.19.0.1:8080=10.1.0.2:80; then
	tap_ok "egdp attaches tc_eg_nat on tc ingress of both gateway veths (a pinned tcx link where the kernel has tcx, else clsact)"
else
	tap_fail "egdp up (tcnat)"
	tap_done
	exit
fi
# kernels >= 6.6 have tcx: the links are pinned (egdp has exited, only the pins hold them)
kv=$(uname -r | awk -F. '{ print $1 * 1000 + $2 }')
if [ "$kv" -ge 6006 ]; then
	if [ -e $PIN/tcx_g0 ] && [ -e $PIN/tcx_g1 ] && ! nt_in "$GW" tc filter show dev g0 ingress | grep -q bpf; then
		tap_ok "tc_eg_nat through tcx links pinned under the pin root (tcx_g0, tcx_g1; no clsact filter), egdp gone"
	else
		tap_fail "tcx links pinned" "$(ls $PIN) / $(nt_in "$GW" tc filter show dev g0 ingress)"
	fi
else
	if nt_in "$GW" tc filter show dev g0 ingress | grep -q tc_eg_nat; then
		tap_ok "tc_eg_nat on clsact (no tcx before Linux 6.6)"
	else
		tap_fail "clsact filter" "$(nt_in "$GW" tc filter show dev g0 ingress)"
	fi
fi
http_check "tc, CHECKSUM_PARTIAL"
dnat_check "tc, CHECKSUM_PARTIAL"
natt_check "tc, CHECKSUM_PARTIAL"
udp_check "tc, CHECKSUM_PARTIAL" 2000
csum=$(nt_in "$S" cat /proc/net/snmp | awk '/^Udp:/ {n++; if (n == 2) print $7}')
if [ "${csum:-1}" -eq 0 ]; then
	tap_ok "tc: the server saw no UDP checksum errors (InCsumErrors 0)"
else
	tap_fail "tc: UDP checksum errors at the server" "InCsumErrors $csum"
fi
tap_done
