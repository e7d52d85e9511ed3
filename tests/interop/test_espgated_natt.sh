#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: NAT traversal (RFC 7296 §2.23, RFC 3948) between espgated and a strongSwan charon
# with a real NAT in between: a namespace that masquerades (iptables MASQUERADE, source ports
# remapped into 20000-29999 so a NAT cannot hide behind unchanged ports). Two cases:
#   - the partner behind the NAT initiates, with FQDN identities (seed 004); espgated answers;
#   - espgated behind the NAT initiates to the partner.
# Each asserts: both sides detect the real NAT on the right side; IKE floated to 4500 (the
# established IKE SA runs between the NATed port and 4500); the SAs espgated recorded are
# UDP-encapsulated with exactly those ports; the ESP charon sends arrives as ESP-in-UDP and
# decrypts with espgated's keys; the side behind the NAT sends 0xff keepalives across it
# (keepalive interval 1 s on that side).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
source tests/lib/espgated.sh

charon_require "espgated NAT traversal"
if ! command -v iptables >/dev/null; then
	tap_skip "espgated NAT traversal" "iptables not installed (scripts/deps.sh test)"
	tap_done
	exit
fi
W=$(mktemp -d /tmp/eg-natt.XXXXXX)
nt_on_exit "rm -rf $W"

PSK="natt-psk-0123456789abcdef"
cat >"$W/secrets.yaml" <<S
psk:
  partner: "$PSK"
S
chmod 600 "$W/secrets.yaml"

# topology INNER_IS (partner|espgate): the INNER namespace sits behind NAT (10.99.0.2, via
# 10.99.0.1); the OUTER one is on the public side (192.0.2.1); the NAT's public address is
# 192.0.2.254. Sets GW (espgated's namespace), P (charon's), NAT.
topology() {
	local inner outer
	nt_ns NAT "nat-$1"
	nt_ns inner "in-$1"
	nt_ns outer "out-$1"
	nt_veth "$inner" eth0 "$NAT" in0
	nt_veth "$outer" eth0 "$NAT" out0
	ip -n "$inner" addr add 10.99.0.2/24 dev eth0
	ip -n "$inner" route add default via 10.99.0.1
	ip -n "$NAT" addr add 10.99.0.1/24 dev in0
	ip -n "$NAT" addr add 192.0.2.254/24 dev out0
	ip -n "$outer" addr add 192.0.2.1/24 dev eth0
	ip netns exec "$NAT" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$NAT" iptables -t nat -A POSTROUTING -o out0 -p udp -j MASQUERADE --to-ports 20000-29999
	ip netns exec "$NAT" iptables -t nat -A POSTROUTING -o out0 -j MASQUERADE
	if [ "$1" = partner ]; then
		P=$inner GW=$outer
	else
		P=$outer GW=$inner
	fi
	ip -n "$P" addr add 192.168.88.1/32 dev lo
}

# configs: espgated's and charon's, for a partner at PEER_ADDR (as espgated sees it) and
# espgated at GW_ADDR (as charon sees it); espgated's own address LOCAL
configs() {
	local local=$1 peer=$2 gw=$3 charon_local=$4 start=$5
	cat >"$W/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
  natt_keepalive: 1s
tunnels:
  partner:
    peer: $peer
    local_address: $local
    local_id: "@gw.example"
    remote_id: "@partner.example"
    psk: partner
    ike: aes256-sha256-ecp384
    esp: aes256-sha256
    start: $start
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
        direction: both
C
	cat >"$W/swanctl.conf" <<C
connections {
	gw {
		version = 2
		local_addrs = $charon_local
		remote_addrs = $gw
		proposals = aes256-sha256-ecp384
		local {
			auth = psk
			id = partner.example
		}
		remote {
			auth = psk
			id = gw.example
		}
		children {
			lan {
				local_ts = 192.168.88.0/24
				remote_ts = 10.1.0.0/16
				esp_proposals = aes256-sha256
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = gw.example
		id-2 = partner.example
		secret = "$PSK"
	}
}
C
}

raw() { charon_swanctl "$CH" --list-sas --raw 2>/dev/null; }
child_installed() { raw | grep -q state=INSTALLED; }

# run_case INNER_IS
run_case() {
	local inner=$1 name td v spi their_out nat_port st encap kp
	topology "$inner"
	CH=charon-$inner
	if [ "$inner" = partner ]; then
		name="partner behind NAT"
		configs 192.0.2.1 192.0.2.254 192.0.2.1 10.99.0.2 none
		CHARON_EXTRA="keep_alive = 1s" charon_start "$CH" "$P" "$W/$CH" || return
	else
		name="espgated behind NAT"
		configs 10.99.0.2 192.0.2.1 192.0.2.254 192.0.2.1 start
		charon_start "$CH" "$P" "$W/$CH" || return
	fi
	charon_load "$CH" "$W/swanctl.conf"
	# the capture runs on the public side of the NAT for the whole case
	ip netns exec "$NAT" tcpdump -nni out0 -w "$W/$inner.pcap" udp 2>"$W/td.err" &
	td=$!
	wait_for 3 grep -q listening "$W/td.err"
	mkdir -p "$W/eg-$inner"
	cp "$W/espgate.yaml" "$W/eg-$inner/espgate.yaml"
	egd_start eg "$GW" "$W/eg-$inner" || return
	[ "$inner" = partner ] && charon_swanctl "$CH" --initiate --child lan --timeout 8 >/dev/null 2>&1
	wait_for 8 child_installed
	r=$(raw)
	st=$(egd_ctl eg status partner)
	# the NATed source port the IKE SA settled on (espgated's view of charon, or charon's of us)
	if [ "$inner" = partner ]; then
		nat_port=$(echo "$st" | grep -oE '^partner +192\.0\.2\.254:[0-9]+' | cut -d: -f2)
		if echo "$r" | grep -q 'nat-local=yes' && echo "$r" | grep -q 'local-port=4500' &&
			echo "$r" | grep -q 'remote-port=4500' && echo "$st" | grep -q 'NAT-T' &&
			[ -n "$nat_port" ] && [ "$nat_port" -ge 20000 ] && [ "$nat_port" -le 29999 ]; then
			tap_ok "$name: charon sees itself behind NAT, IKE floated to 4500; espgated talks to 192.0.2.254:$nat_port"
		else
			tap_fail "$name: NAT detected, IKE on 4500" "charon: $(echo "$r" | grep -oE '(local|remote)-(host|port)=[^ ]*|nat-[a-z]*=[a-z]*' | tr '\n' ' '); espgated: $st"
			tail -15 "$(egd_log eg)" | sed 's/^/#   /'
		fi
	else
		nat_port=$(echo "$r" | grep -oE 'remote-port=[0-9]+' | head -1 | cut -d= -f2)
		if echo "$r" | grep -q 'nat-remote=yes' && echo "$r" | grep -q 'remote-host=192.0.2.254' &&
			[ -n "$nat_port" ] && [ "$nat_port" -ge 20000 ] && [ "$nat_port" -le 29999 ] &&
			echo "$st" | grep -qE '^partner +192\.0\.2\.1:4500 .*NAT-T'; then
			tap_ok "$name: charon sees us behind NAT at 192.0.2.254:$nat_port, espgated floated to 192.0.2.1:4500"
		else
			tap_fail "$name: NAT detected, IKE on 4500" "charon: $(echo "$r" | grep -oE '(local|remote)-(host|port)=[^ ]*|nat-[a-z]*=[a-z]*' | tr '\n' ' '); espgated: $st"
			tail -15 "$(egd_log eg)" | sed 's/^/#   /'
		fi
	fi
	# the recorded SAs: UDP encapsulation with the ports seen through the NAT
	encap=$(grep -o '"encap":{"sport":[0-9]*,"dport":[0-9]*}' "$(egd_dir eg)/dump.json" | sort | tr '\n' ' ')
	if [ "$inner" = partner ]; then
		kp="\"encap\":{\"sport\":$nat_port,\"dport\":4500} \"encap\":{\"sport\":4500,\"dport\":$nat_port} "
	else
		kp="\"encap\":{\"sport\":4500,\"dport\":4500} \"encap\":{\"sport\":4500,\"dport\":4500} "
	fi
	if [ "$(egd_sa_count eg)" = 2 ] && [ "$encap" = "$kp" ]; then
		tap_ok "$name: both recorded SAs are ESP-in-UDP with the NAT's ports ($encap)"
	else
		tap_fail "$name: SAs UDP-encapsulated with the right ports" "got '$encap', want '$kp'"
	fi
	# ESP from charon, through the NAT, decrypts with espgated's keys; then stay idle for
	# keepalives
	their_out=$(echo "$r" | grep -o 'spi-out=[0-9a-f]*' | head -1 | cut -d= -f2)
	ip netns exec "$P" ping -c 2 -i 0.2 -W 1 -I 192.168.88.1 10.1.0.5 >/dev/null 2>&1
	sleep 3
	kill $td 2>/dev/null
	wait $td 2>/dev/null
	v=$(python3 tests/interop/esp_decrypt.py "$W/$inner.pcap" "$(egd_dir eg)/keys.txt" "$their_out" 2>&1)
	if echo "$v" | grep -q '^decrypted '; then
		tap_ok "$name: charon's ESP crosses the NAT in UDP 4500 and decrypts with espgated's keys ($v)"
	else
		tap_fail "$name: ESP-in-UDP decrypts with our keys" "$v"
	fi
	# keepalives: one-byte 0xff UDP payloads from the inner side's NATed 4500 to 4500
	local n_ka n_pub
	n_ka=$(tcpdump -nr "$W/$inner.pcap" "src host 192.0.2.254 and src port $nat_port and dst port 4500 and udp[4:2] = 9 and udp[8] = 0xff" 2>/dev/null | grep -c '^[0-9]')
	n_pub=$(tcpdump -nr "$W/$inner.pcap" "src host 192.0.2.1 and udp[4:2] = 9 and udp[8] = 0xff" 2>/dev/null | grep -c '^[0-9]')
	if [ "$n_ka" -ge 2 ] && [ "$n_pub" = 0 ]; then
		tap_ok "$name: the side behind the NAT sends 0xff keepalives across it ($n_ka in ~3 s idle), the public side none"
	else
		tap_fail "$name: NAT keepalives flow" "$n_ka keepalives from 192.0.2.254:$nat_port, $n_pub from the public side"
	fi
	egd_stop eg
}

run_case partner
run_case espgate
tap_done
