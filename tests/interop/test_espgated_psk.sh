#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: espgated against a real strongSwan charon (kernel-libipsec) in two namespaces, for
# the proposals of issue 5 and both roles. This kernel has no ESP, so espgated records its SAs
# (--record-sas) and exports their keys (test mode only). Each case asserts:
#   - both sides report the IKE SA and the CHILD SA established, with the same algorithms;
#   - the SPIs espgated recorded are charon's, crossed (our inbound = its outbound);
#   - key agreement on the wire: the ESP packets charon sends through the tunnel are captured and
#     verified (HMAC) and decrypted with the keys espgated derived; the inner packet is the ping.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
source tests/lib/espgated.sh

charon_require "espgated vs strongSwan"
PSK="interop-psk-0123456789abcdef"
egd_pair_lab psk "$PSK" || {
	tap_fail "lab setup"
	tap_done
	exit
}

charon_start partner "$P" "$W/charon" || {
	tap_fail "charon starts"
	tap_done
	exit
}

child_installed() { charon_swanctl partner --list-sas --raw 2>/dev/null | grep -q state=INSTALLED; }
ike_gone() { ! charon_swanctl partner --list-sas --raw 2>/dev/null | grep -q state=ESTABLISHED; }

# run_case NAME IKE ESP WHO_INITIATES (espgate|partner)
run_case() {
	local name=$1 ike=$2 esp=$3 who=$4 start=none ok=1
	[ "$who" = espgate ] && start=start
	cat >"$W/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 192.0.2.1
    psk: partner
    ike: $ike
    esp: $esp
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
		local_addrs = 192.0.2.2
		remote_addrs = 192.0.2.1
		proposals = ${ike%!}
		local {
			auth = psk
			id = 192.0.2.2
		}
		remote {
			auth = psk
			id = 192.0.2.1
		}
		children {
			lan {
				local_ts = 192.168.88.0/24
				remote_ts = 10.1.0.0/16
				esp_proposals = ${esp%!}
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = 192.0.2.1
		id-2 = 192.0.2.2
		secret = "$PSK"
	}
}
C
	charon_swanctl partner --terminate --ike gw >/dev/null 2>&1
	charon_load partner "$W/swanctl.conf"
	egd_start eg "$GW" "$W"
	if [ "$who" = partner ]; then
		charon_swanctl partner --initiate --child lan --timeout 15 >"$W/init.log" 2>&1
	fi
	wait_for 10 child_installed
	local raw
	raw=$(charon_swanctl partner --list-sas --raw 2>/dev/null)
	if echo "$raw" | grep -q 'state=ESTABLISHED' && echo "$raw" | grep -q 'state=INSTALLED'; then
		tap_ok "$name: $who initiates; IKE and CHILD SA established on strongSwan's side"
	else
		tap_fail "$name: SAs established" "charon: $(echo "$raw" | head -c 300)"
		sed 's/^/#   /' "$(egd_log eg)" | tail -20
		ok=0
	fi
	local st
	st=$(egd_ctl eg status partner 2>&1)
	if echo "$st" | grep -q ESTABLISHED; then
		tap_ok "$name: espgatectl status shows the tunnel ESTABLISHED"
	else
		tap_fail "$name: espgatectl status" "$(echo "$st" | head -5)"
		ok=0
	fi
	# SPIs: strongSwan's raw output names them spi-in/spi-out
	local their_in their_out
	their_in=$(echo "$raw" | grep -o 'spi-in=[0-9a-f]*' | head -1 | cut -d= -f2)
	their_out=$(echo "$raw" | grep -o 'spi-out=[0-9a-f]*' | head -1 | cut -d= -f2)
	if [ -n "$their_in" ] && grep -q "spi=$their_out dir=in" "$W/keys.txt" 2>/dev/null &&
		grep -q "spi=$their_in dir=out" "$W/keys.txt" 2>/dev/null; then
		tap_ok "$name: recorded SPIs are strongSwan's, crossed (in=$their_out out=$their_in)"
	else
		tap_fail "$name: SPIs match" "charon in=$their_in out=$their_out; ours: $(cut -c1-40 "$W/keys.txt" 2>/dev/null | tr '\n' ' ')"
		ok=0
	fi
	# Key agreement on the wire: charon encrypts a ping towards our side.
	if [ $ok = 1 ]; then
		ip netns exec "$GW" tcpdump -nni eth0 -w "$W/esp.pcap" 'udp port 4500 or esp' \
			2>"$W/td.err" &
		local td=$!
		for _ in $(seq 30); do grep -q listening "$W/td.err" && break; sleep 0.1; done
		ip netns exec "$P" ping -c 2 -W 1 -I 192.168.88.1 10.1.0.5 >/dev/null 2>&1
		sleep 0.5
		kill $td 2>/dev/null
		wait $td 2>/dev/null
		local v
		v=$(/usr/bin/python3 tests/interop/esp_decrypt.py "$W/esp.pcap" "$W/keys.txt" "$their_out" 2>&1)
		if echo "$v" | grep -q '^decrypted '; then
			tap_ok "$name: ESP from strongSwan verifies and decrypts with espgated's keys ($(echo "$v" | head -1))"
		else
			tap_fail "$name: ESP decrypts with our keys" "$v"
		fi
	fi
	egd_stop eg
	# graceful stop deleted the IKE SA with the peer
	wait_for 2 ike_gone
}

run_case "aes256-sha256-ecp384" aes256-sha256-ecp384 aes256-sha256 espgate
run_case "aes256-sha256-ecp384 (responder)" aes256-sha256-ecp384 aes256-sha256-ecp384 partner
run_case "aes128-sha256-modp2048" aes128-sha256-modp2048 aes128-sha256 espgate
run_case "aes256-sha256-modp2048s256" aes256-sha256-modp2048s256 aes256-sha1 partner
run_case "aes256gcm16-prfsha384-ecp384" aes256gcm16-prfsha384-ecp384 aes256gcm16-ecp384 espgate
tap_done
