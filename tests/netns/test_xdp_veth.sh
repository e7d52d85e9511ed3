#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Netns tier, foundation: xdp_eg_ingress attached in NATIVE mode on a veth inside a gateway
# namespace; real pings cross it and are counted; a malformed IPv4 frame sent with a raw socket
# is dropped and counted under EG_STAT_DROP_MALFORMED; the tc program attaches to clsact.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
nt_private_bpffs "$@"
OUTPUT=${OUTPUT:-.output}
OBJ=$OUTPUT/espgate.bpf.o

for tool in bpftool unshare python3 ping; do
	command -v $tool >/dev/null || {
		tap_skip "xdp on veth" "$tool not installed"
		tap_done
		exit
	}
done

nt_ns A a
nt_ns GW gw
nt_veth "$A" va "$GW" vg
ip -n "$A" addr add 192.0.2.1/24 dev va
ip -n "$GW" addr add 192.0.2.2/24 dev vg
# XDP cannot see CHECKSUM_PARTIAL: send fully checksummed frames from the sender.
nt_in "$A" ethtool -K va tx off >/dev/null 2>&1

PIN=/sys/fs/bpf/eg
if bpftool prog loadall "$OBJ" $PIN; then
	tap_ok "espgate.bpf.o loads (maps pinned by name in a private bpffs)"
else
	tap_fail "espgate.bpf.o loads"
	tap_done
	exit
fi

nt_in "$GW" bpftool net attach xdpdrv pinned $PIN/xdp_eg_ingress dev vg
if ip -n "$GW" -d link show vg | grep -q 'prog/xdp id'; then
	tap_ok "xdp_eg_ingress attached in native (driver) mode on veth"
else
	tap_fail "xdp_eg_ingress attached in native mode" "$(ip -n "$GW" -d link show vg)"
fi

rx0=$(nt_stat RX)
pass0=$(nt_stat PASS)
if ip netns exec "$A" ping -c 5 -i 0.2 -W 2 192.0.2.2 >/dev/null; then
	tap_ok "ping crosses the XDP program"
else
	tap_fail "ping crosses the XDP program"
fi
rx=$(($(nt_stat RX) - rx0))
pass=$(($(nt_stat PASS) - pass0))
# 5 echo requests plus ARP; counters are read one after the other, so a frame arriving between
# two reads can make them differ by one: what matters is that every echo request was seen and
# passed, none dropped.
if [ "$rx" -ge 5 ] && [ "$pass" -ge 5 ] && [ "$(nt_stat DROP_MALFORMED)" -eq 0 ]; then
	tap_ok "every echo request seen and passed (RX +$rx, PASS +$pass, no drop)"
else
	tap_fail "frames counted" "RX moved by $rx, PASS by $pass"
fi

# A frame with IHL 4 from a raw packet socket: dropped by XDP and counted as malformed.
mal0=$(nt_stat DROP_MALFORMED)
mac=$(ip -n "$GW" -j link show vg | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
ip netns exec "$A" python3 - "$mac" <<'PY'
import socket, sys
dst = bytes.fromhex(sys.argv[1].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("va", 0))
ip = bytes([0x44, 0, 0, 40]) + bytes(16) + bytes(20)
s.send(dst + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip)
PY
sleep 0.3
mal=$(($(nt_stat DROP_MALFORMED) - mal0))
if [ "$mal" -eq 1 ]; then
	tap_ok "malformed IPv4 (IHL 4) from the wire dropped and counted once"
else
	tap_fail "malformed IPv4 dropped and counted" "DROP_MALFORMED moved by $mal"
fi

nt_in "$GW" tc qdisc add dev vg clsact
if nt_in "$GW" tc filter add dev vg ingress bpf da pinned $PIN/tc_eg_ingress &&
	ip netns exec "$A" ping -c 2 -i 0.2 -W 2 192.0.2.2 >/dev/null; then
	tap_ok "tc_eg_ingress attached on clsact ingress behind XDP; traffic still flows"
else
	tap_fail "tc_eg_ingress on clsact ingress"
fi

tap_done
