#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: traffic selectors when a partner proposes more than it was given (seed 001).
# espgated serves two partners, each a strongSwan charon in its own namespace:
#   partner-a 192.0.2.2     its side 192.168.88.0/24, ours 10.1.0.0/16
#   partner-b 198.51.100.2  its side 192.168.99.0/24, ours 10.2.0.0/16
# Both initiate and propose wide selectors (0.0.0.0/0 on both sides as Azure does, or
# 192.168.0.0/16 === 10.0.0.0/8, which covers the other partner's ranges). Asserted:
#   - default (narrowing): each CHILD SA is exactly its tunnel's configured pair, as strongSwan
#     ends up with it (swanctl --list-sas --raw) and as espgated recorded it (espgatectl status);
#     no SA of one partner covers the other's range;
#   - a partner proposing only the other partner's range is refused (TS_UNACCEPTABLE);
#   - strict mode: the wide proposal is refused with TS_UNACCEPTABLE, the IKE SA stays on both
#     sides, espgatectl status names the reason, nothing is recorded; the exact proposal passes.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
source tests/lib/espgated.sh

charon_require "espgated traffic selectors"
W=$(mktemp -d /tmp/eg-ts.XXXXXX)
nt_on_exit "rm -rf $W"

nt_ns GW gw
nt_ns PA pa
nt_ns PB pb
nt_veth "$GW" eth0 "$PA" eth0
nt_veth "$GW" eth1 "$PB" eth0
ip -n "$GW" addr add 192.0.2.1/24 dev eth0
ip -n "$GW" addr add 198.51.100.1/24 dev eth1
ip -n "$PA" addr add 192.0.2.2/24 dev eth0
ip -n "$PB" addr add 198.51.100.2/24 dev eth0
# kernel-libipsec routes via a local address inside its side of the selectors
ip -n "$PA" addr add 192.168.88.1/32 dev lo
ip -n "$PB" addr add 192.168.99.1/32 dev lo

PSK_A="interop-psk-a-0123456789abcdef"
PSK_B="interop-psk-b-0123456789abcdef"
cat >"$W/secrets.yaml" <<S
psk:
  a: "$PSK_A"
  b: "$PSK_B"
S
chmod 600 "$W/secrets.yaml"

charon_start a "$PA" "$W/charon-a" && charon_start b "$PB" "$W/charon-b" || {
	tap_fail "charons start"
	tap_done
	exit
}

# espgated_conf STRICT_A (true|false)
espgated_conf() {
	cat >"$W/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
tunnels:
  partner-a:
    peer: 192.0.2.2
    local_address: 192.0.2.1
    psk: a
    ike: aes256-sha256-ecp384
    esp: aes256-sha256
    start: none
    strict_selectors: $1
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
        direction: both
  partner-b:
    peer: 198.51.100.2
    local_address: 198.51.100.1
    psk: b
    ike: aes256-sha256-ecp384
    esp: aes256-sha256
    start: none
    children:
      - name: lan
        local: 10.2.0.0/16
        remote: 192.168.99.0/24
        direction: both
C
}

# charon_conf NAME ME GW PSK LOCAL_TS REMOTE_TS: loads a connection "gw" into charon NAME (its
# IKE SA terminated first unless KEEP_IKE is set)
charon_conf() {
	cat >"$W/swanctl-$1.conf" <<C
connections {
	gw {
		version = 2
		local_addrs = $2
		remote_addrs = $3
		proposals = aes256-sha256-ecp384
		local {
			auth = psk
			id = $2
		}
		remote {
			auth = psk
			id = $3
		}
		children {
			lan {
				local_ts = $5
				remote_ts = $6
				esp_proposals = aes256-sha256
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = $2
		id-2 = $3
		secret = "$4"
	}
}
C
	[ -n "${KEEP_IKE:-}" ] || charon_swanctl "$1" --terminate --ike gw >/dev/null 2>&1
	charon_load "$1" "$W/swanctl-$1.conf"
}

raw() { charon_swanctl "$1" --list-sas --raw 2>/dev/null; }
# the TS strongSwan ended up with, "local-ts=[...] remote-ts=[...]"
charon_ts() { raw "$1" | grep -o 'local-ts=\[[^]]*\] remote-ts=\[[^]]*\]' | head -1; }

# narrow_case NAME A_LOCAL A_REMOTE B_LOCAL B_REMOTE
narrow_case() {
	local name=$1 ta tb st
	espgated_conf false
	charon_conf a 192.0.2.2 192.0.2.1 "$PSK_A" "$2" "$3"
	charon_conf b 198.51.100.2 198.51.100.1 "$PSK_B" "$4" "$5"
	egd_start eg "$GW" "$W" || return
	charon_swanctl a --initiate --child lan --timeout 6 >/dev/null 2>&1
	charon_swanctl b --initiate --child lan --timeout 6 >/dev/null 2>&1
	ta=$(charon_ts a)
	tb=$(charon_ts b)
	if [ "$ta" = "local-ts=[192.168.88.0/24] remote-ts=[10.1.0.0/16]" ]; then
		tap_ok "$name: partner-a proposed $2 === $3, strongSwan got $ta"
	else
		tap_fail "$name: partner-a narrowed to its configured pair" "charon a: '$ta' $(raw a | head -c 300)"
		tail -8 "$(egd_log eg)" | sed 's/^/#   /'
	fi
	if [ "$tb" = "local-ts=[192.168.99.0/24] remote-ts=[10.2.0.0/16]" ]; then
		tap_ok "$name: partner-b proposed $4 === $5, strongSwan got $tb"
	else
		tap_fail "$name: partner-b narrowed to its configured pair" "charon b: '$tb'"
	fi
	# espgated's records: tunnel a's SAs carry only a's pair, b's only b's
	st=$(egd_ctl eg status partner-a | grep -E '^  lan +(in|out) ')
	if [ "$(echo "$st" | grep -c '10.1.0.0/16 === 192.168.88.0/24')" = 2 ] &&
		[ "$(echo "$st" | wc -l)" = 2 ] &&
		egd_ctl eg status partner-b | grep -E '^  lan +(in|out) ' | grep -c '10.2.0.0/16 === 192.168.99.0/24' | grep -qx 2 &&
		! egd_ctl eg status partner-a | grep -q '192.168.99' &&
		! egd_ctl eg status partner-b | grep -qE '192.168.88|10.1.0' && [ "$(egd_sa_count eg)" = 4 ]; then
		tap_ok "$name: espgated recorded 4 SAs, each tunnel's selectors only its own (no SA covers the other partner's range)"
	else
		tap_fail "$name: espgated's recorded selectors" "$(egd_ctl eg status | sed 's/^/#   /'); SAs: $(egd_sa_count eg)"
	fi
	egd_stop eg
}

narrow_case "Azure-style 0.0.0.0/0" 0.0.0.0/0 0.0.0.0/0 0.0.0.0/0 0.0.0.0/0
narrow_case "supernets" 192.168.0.0/16 10.0.0.0/8 192.168.0.0/16 10.0.0.0/8

# partner-a claims partner-b's range: nothing to narrow to, refused
espgated_conf false
charon_conf a 192.0.2.2 192.0.2.1 "$PSK_A" 192.168.99.0/24 10.0.0.0/8
egd_start eg "$GW" "$W"
charon_swanctl a --initiate --child lan --timeout 6 >/dev/null 2>&1
if ! raw a | grep -q state=INSTALLED && [ "$(egd_sa_count eg)" = 0 ] &&
	wait_for 2 grep -q 'received TS_UNACCEPTABLE' "$(charon_log a)" &&
	egd_ctl eg status partner-a | grep -q 'last error: TS_UNACCEPTABLE'; then
	tap_ok "partner-a proposing partner-b's range 192.168.99.0/24: TS_UNACCEPTABLE, no SA"
else
	tap_fail "partner-a proposing partner-b's range refused" "$(egd_ctl eg status partner-a); SAs $(egd_sa_count eg)"
fi
egd_stop eg

# strict mode on partner-a
espgated_conf true
charon_conf a 192.0.2.2 192.0.2.1 "$PSK_A" 0.0.0.0/0 10.0.0.0/8
: >"$(charon_log a)"
egd_start eg "$GW" "$W"
charon_swanctl a --initiate --child lan --timeout 6 >/dev/null 2>&1
r=$(raw a)
st=$(egd_ctl eg status partner-a)
if echo "$r" | grep -q state=ESTABLISHED && ! echo "$r" | grep -q state=INSTALLED &&
	wait_for 2 grep -q 'received TS_UNACCEPTABLE' "$(charon_log a)"; then
	tap_ok "strict: wide proposal refused with TS_UNACCEPTABLE; strongSwan keeps its IKE SA without CHILD SA"
else
	tap_fail "strict: refused, IKE SA kept on strongSwan's side" "$(echo "$r" | head -c 300); $(grep -i ts_ "$(charon_log a)" | tail -3)"
fi
if echo "$st" | grep -q 'ESTABLISHED' && echo "$st" | grep -q 'last error: TS_UNACCEPTABLE: .*' &&
	[ "$(egd_sa_count eg)" = 0 ]; then
	tap_ok "strict: espgated keeps the IKE SA, records no SA, status says why ($(echo "$st" | grep -o 'last error: .*' | cut -c1-120))"
else
	tap_fail "strict: espgated's status" "$st; SAs $(egd_sa_count eg)"
	tail -8 "$(egd_log eg)" | sed 's/^/#   /'
fi
# the same IKE SA then carries an exact proposal
ike_before=$(echo "$r" | grep -o 'initiator-spi=[0-9a-f]*')
KEEP_IKE=1 charon_conf a 192.0.2.2 192.0.2.1 "$PSK_A" 192.168.88.0/24 10.1.0.0/16
charon_swanctl a --initiate --child lan --timeout 6 >/dev/null 2>&1
if [ "$(charon_ts a)" = "local-ts=[192.168.88.0/24] remote-ts=[10.1.0.0/16]" ] &&
	[ "$(egd_sa_count eg)" = 2 ] && [ -n "$ike_before" ] && raw a | grep -q "$ike_before"; then
	tap_ok "strict: the exact proposal is then accepted on the same IKE SA ($(charon_ts a)), 2 SAs recorded"
else
	tap_fail "strict: exact proposal accepted" "charon: $(charon_ts a); SAs $(egd_sa_count eg)"
	tail -8 "$(egd_log eg)" | sed 's/^/#   /'
fi
egd_stop eg
tap_done
