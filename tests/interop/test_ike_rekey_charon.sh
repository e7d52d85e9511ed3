#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: the IKE engine's rekeys against a real strongSwan charon (kernel-libipsec), through
# espgated (--record-sas, no datapath: this kernel has no ESP). Two cases, 30 s of rekeys each:
#   - charon rekeys (IKE every 12 s, CHILD every 7 s) and espgate answers (it initiated the SA);
#   - espgate rekeys (ike_lifetime 20s, lifetime 13s, rekey_margin 5s) and charon answers.
# Each asserts: charon reports IKE and CHILD rekeys, ends with exactly one IKE SA and one CHILD
# SA (the old ones were deleted), its current SPIs are the ones espgated last installed (crossed),
# and the ESP charon sends after all those rekeys verifies and decrypts with the engine's keys.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
ESPGATED=$PWD/$OUTPUT/espgated
source tests/lib/espgated.sh

charon_require "IKE rekeys vs strongSwan"
if [ ! -x "$ESPGATED" ]; then
	tap_fail "IKE rekeys vs strongSwan" "$ESPGATED not built"
	tap_done
	exit
fi
PSK="rekey-psk-0123456789abcdef"
egd_pair_lab rekey "$PSK" || {
	tap_fail "lab setup"
	tap_done
	exit
}

charon_start partner "$P" "$W/charon" || {
	tap_fail "charon starts"
	tap_done
	exit
}

# run_case NAME WHO_REKEYS (partner|espgate)
run_case() {
	local name=$1 who=$2 start=start ch_ike=1h ch_child=1h eg_life=""
	if [ "$who" = partner ]; then
		ch_ike=12s
		ch_child=7s
	else
		start=none
		eg_life="    ike_lifetime: 20s
    lifetime: 13s
    rekey_margin: 5s"
	fi
	rm -f "$W"/keys.txt "$W"/espgated.log
	cat >"$W/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 192.0.2.1
    psk: partner
    ike: aes256-sha256-ecp384
    esp: aes256gcm16-ecp384
    start: $start
$eg_life
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
		proposals = aes256-sha256-ecp384
		rekey_time = $ch_ike
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
				esp_proposals = aes256gcm16-ecp384
				rekey_time = $ch_child
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
	: >"$(charon_log partner)"
	charon_load partner "$W/swanctl.conf"
	ip netns exec "$GW" "$ESPGATED" -d -c "$W/espgate.yaml" --record-sas --no-datapath \
		--export-keys "$W/keys.txt" --ctl "$W/ctl.sock" >"$W/espgated.log" 2>&1 &
	local pid=$!
	nt_on_exit "kill $pid 2>/dev/null"
	for _ in $(seq 50); do [ -S "$W/ctl.sock" ] && break; sleep 0.1; done
	[ "$start" = none ] &&
		charon_swanctl partner --initiate --child lan --timeout 15 >"$W/init.log" 2>&1
	sleep 30
	local log raw n_ike n_child
	log=$(charon_log partner)
	raw=$(charon_swanctl partner --list-sas --raw 2>/dev/null)
	n_ike=$(grep -c 'IKE_SA gw\[[0-9]*\] rekeyed' "$log")
	n_child=$(grep -cE '\[IKE\] (inbound )?CHILD_SA lan\{[0-9]+\} established' "$log")
	if [ "$n_ike" -ge 1 ] && [ "$n_child" -ge 3 ]; then
		tap_ok "$name: $n_ike IKE and $((n_child - 1)) CHILD rekeys with strongSwan"
	else
		tap_fail "$name: rekeys happened" "IKE rekeys $n_ike, CHILD SAs established $n_child"
		grep -E 'rekey|deleting|received|error' "$log" | tail -15 | sed 's/^/#   /'
	fi
	if [ "$(echo "$raw" | grep -o 'state=ESTABLISHED' | wc -l)" = 1 ] &&
		[ "$(echo "$raw" | grep -o 'state=INSTALLED' | wc -l)" = 1 ]; then
		tap_ok "$name: one IKE SA and one CHILD SA left on strongSwan's side"
	else
		tap_fail "$name: old SAs deleted" "$(echo "$raw" | grep -oE 'state=[A-Z]+' | tr '\n' ' ')"
	fi
	local their_in their_out
	their_in=$(echo "$raw" | grep -o 'spi-in=[0-9a-f]*' | head -1 | cut -d= -f2)
	their_out=$(echo "$raw" | grep -o 'spi-out=[0-9a-f]*' | head -1 | cut -d= -f2)
	if [ -n "$their_in" ] && grep -q "spi=$their_out dir=in" "$W/keys.txt" 2>/dev/null &&
		grep -q "spi=$their_in dir=out" "$W/keys.txt" 2>/dev/null; then
		tap_ok "$name: strongSwan's current CHILD SA is one espgate installed (in=$their_out out=$their_in)"
	else
		tap_fail "$name: current SPIs match" "charon in=$their_in out=$their_out"
	fi
	# key agreement after the rekeys: charon's ESP decrypts with the engine's keys (the SPI is
	# taken from the capture: another rekey may happen between the listing and the ping)
	ip netns exec "$GW" tcpdump -nni eth0 -w "$W/esp.pcap" 'udp port 4500 or esp' 2>"$W/td.err" &
	local td=$! spi v
	for _ in $(seq 30); do grep -q listening "$W/td.err" && break; sleep 0.1; done
	ip netns exec "$P" ping -c 2 -W 1 -I 192.168.88.1 10.1.0.5 >/dev/null 2>&1
	sleep 0.5
	kill $td 2>/dev/null
	wait $td 2>/dev/null
	spi=$(tcpdump -nr "$W/esp.pcap" 2>/dev/null | grep -oE 'spi=0x[0-9a-f]+' | tail -1 | cut -c7-)
	v=$(/usr/bin/python3 tests/interop/esp_decrypt.py "$W/esp.pcap" "$W/keys.txt" "$spi" 2>&1)
	if [ -n "$spi" ] && echo "$v" | grep -q '^decrypted '; then
		tap_ok "$name: ESP on spi $spi decrypts with the engine's keys ($(echo "$v" | head -1))"
	else
		tap_fail "$name: ESP decrypts after rekeys" "spi '$spi': $v"
	fi
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
}

run_case "strongSwan rekeys" partner
run_case "espgate rekeys" espgate
tap_done
