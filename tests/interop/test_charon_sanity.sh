#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier, harness sanity: two strongSwan charons (kernel-libipsec, userspace ESP) in two
# namespaces bring up an IKEv2 PSK tunnel (aes256-sha256-ecp384, esp aes256-sha256, seed 000's
# proposals); a ping between the inner addresses crosses it, and the underlay carries only
# ESP-in-UDP on 4500, never the inner ICMP. This proves the partner harness espgated's interop
# tests are built on.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh

charon_require "strongSwan partner harness"
W=$(mktemp -d /tmp/eg-interop.XXXXXX)
nt_on_exit "rm -rf $W"

nt_ns L left
nt_ns R right
nt_veth "$L" vl "$R" vr
ip -n "$L" addr add 192.0.2.1/24 dev vl
ip -n "$R" addr add 192.0.2.2/24 dev vr
ip -n "$L" addr add 10.1.0.1/32 dev lo
ip -n "$R" addr add 10.2.0.1/32 dev lo

conf() { # conf ME PEER LADDR RADDR LTS RTS
	cat <<C
connections {
	gw {
		version = 2
		local_addrs = $3
		remote_addrs = $4
		proposals = aes256-sha256-ecp384
		local {
			auth = psk
			id = $1
		}
		remote {
			auth = psk
			id = $2
		}
		children {
			net {
				local_ts = $5
				remote_ts = $6
				esp_proposals = aes256-sha256-ecp384
			}
		}
	}
}
secrets {
	ike-1 {
		id-1 = left
		id-2 = right
		secret = "interop-test-psk-0123456789"
	}
}
C
}
conf left right 192.0.2.1 192.0.2.2 10.1.0.0/24 10.2.0.0/24 >"$W/left.conf"
conf right left 192.0.2.2 192.0.2.1 10.2.0.0/24 10.1.0.0/24 >"$W/right.conf"

if charon_start left "$L" "$W/left" && charon_start right "$R" "$W/right" &&
	charon_load left "$W/left.conf" && charon_load right "$W/right.conf"; then
	tap_ok "two charons (kernel-libipsec) start side by side with private /run"
else
	tap_fail "charons start"
	tap_done
	exit
fi

if charon_swanctl left --initiate --child net --timeout 20 >"$W/initiate.log" 2>&1; then
	tap_ok "IKEv2 PSK tunnel aes256-sha256-ecp384 established"
else
	tap_fail "IKEv2 tunnel established" "$(tail -5 "$W/initiate.log")"
	sed 's/^/#   /' "$(charon_log left)" | tail -30
fi

ip netns exec "$R" tcpdump -nni vr -w "$W/wire.pcap" udp port 4500 or icmp 2>/dev/null &
TD=$!
sleep 1
if ip netns exec "$L" ping -c 3 -i 0.3 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null; then
	tap_ok "ping 10.1.0.1 -> 10.2.0.1 through the tunnel"
else
	tap_fail "ping through the tunnel"
fi
sleep 0.5
kill $TD 2>/dev/null
wait $TD 2>/dev/null
esp=$(tcpdump -nr "$W/wire.pcap" 2>/dev/null | grep -c 'UDP-encap: ESP')
icmp=$(tcpdump -nr "$W/wire.pcap" icmp 2>/dev/null | grep -c 'ICMP echo')
if [ "$esp" -ge 6 ] && [ "$icmp" -eq 0 ]; then
	tap_ok "underlay carries ESP-in-UDP ($esp packets) and no clear ICMP"
else
	tap_fail "underlay carries only ESP" "esp=$esp clear icmp=$icmp"
fi
tap_done
