#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: a responder-only tunnel whose peer address is unknown (peer: any), with the BPF
# datapath loaded (SAs and policies recorded: no kernel ESP here). Before anyone connects only the
# fail-closed block fallbacks of its configured selectors exist and the child is not armed in the
# datapath; when strongSwan (192.0.2.2) connects and narrows the selectors, espgated installs the
# child's out/in/fwd policies for the negotiated selectors with 192.0.2.2 as the template's
# endpoint and arms the child (EG_CHILD_UP); when strongSwan deletes the SAs the allow policies
# go and the child is disarmed, the fallbacks stay. A second connection does it all again.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
nt_private_bpffs "$@"
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
source tests/lib/espgated.sh

charon_require "responder-only tunnel"
PSK="responder-psk-0123456789abcdef"
egd_pair_lab resp "$PSK" || {
	tap_fail "lab setup"
	tap_done
	exit
}

cat >"$W/swanctl.conf" <<C
connections {
	gw {
		version = 2
		local_addrs = 192.0.2.2
		remote_addrs = 192.0.2.1
		proposals = aes256-sha256-ecp384
		local {
			auth = psk
			id = partner.example
		}
		remote {
			auth = psk
			id = 192.0.2.1
		}
		children {
			lan {
				local_ts = 192.168.88.0/25
				remote_ts = 10.1.2.0/24
				esp_proposals = aes256-sha256
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = 192.0.2.1
		id-2 = partner.example
		secret = "$PSK"
	}
}
C
mkdir -p "$W/eg"
cat >"$W/eg/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
tunnels:
  partner:
    peer: any
    mode: responder-only
    local_address: 192.0.2.1
    remote_id: "@partner.example"
    psk: partner
    ike: aes256-sha256-ecp384
    esp: aes256-sha256
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
        direction: both
C

charon_start partner "$P" "$W/charon" && charon_load partner "$W/swanctl.conf" || {
	tap_fail "charon starts"
	tap_done
	exit
}
EGD_DATAPATH=1 egd_start eg "$GW" "$W/eg" || {
	tap_fail "espgated starts with the datapath"
	tap_done
	exit
}

DUMP=$W/eg/dump.json
MOUT=$((0x45470001)) MIN=$((0x45478001)) REQID=$((0x45470001))
# pols FILTER: the recorded policies selected by a jq filter, one compact line each, sorted
pols() { jq -c ".policies[] | select($1) | [.dir, .src, .dst, .action, .mark, (.tmpl[0] // {} | .src, .dst, .reqid)]" "$DUMP" 2>/dev/null | sort; }
allow() { pols '.action == "allow"'; }
blocks() { pols '.action == "block"'; }
# child 1's flags in the pinned eg_children map (bit 1 = EG_CHILD_UP)
flags() {
	bpftool -j map lookup pinned /sys/fs/bpf/espgate/eg_children key 1 0 0 0 2>/dev/null |
		jq '(.formatted // .).value.flags'
}
armed() { [ $(($(flags) & 2)) = 2 ]; }
raw() { charon_swanctl partner --list-sas --raw 2>/dev/null; }
child_installed() { raw | grep -q state=INSTALLED; }
want_blocks=$(printf '%s\n' \
	'["fwd","192.168.88.0/24","0.0.0.0/0","block",0,null,null,null]' \
	'["in","192.168.88.0/24","0.0.0.0/0","block",0,null,null,null]' \
	'["out","10.1.0.0/16","192.168.88.0/24","block",0,null,null,null]' | sort)

check_down() { # NAME
	local a b f
	a=$(allow) b=$(blocks) f=$(flags)
	if [ -z "$a" ] && [ "$b" = "$want_blocks" ] && [ -n "$f" ] && ! armed; then
		tap_ok "$1: only the block fallbacks of the configured selectors, child not armed (flags $f)"
	else
		tap_fail "$1: fallbacks only, not armed" "allow: $a; blocks: $b; flags: '$f'"
	fi
}

check_up() { # NAME
	local want a b
	want=$(printf '%s\n' \
		"[\"out\",\"10.1.2.0/24\",\"192.168.88.0/25\",\"allow\",$MOUT,\"192.0.2.1\",\"192.0.2.2\",$REQID]" \
		"[\"in\",\"0.0.0.0/0\",\"0.0.0.0/0\",\"allow\",$MIN,\"192.0.2.2\",\"192.0.2.1\",$REQID]" \
		"[\"fwd\",\"0.0.0.0/0\",\"0.0.0.0/0\",\"allow\",$MIN,\"192.0.2.2\",\"192.0.2.1\",$REQID]" |
		sort)
	a=$(allow) b=$(blocks)
	if [ "$a" = "$want" ]; then
		tap_ok "$1: out/in/fwd policies for the negotiated selectors 10.1.2.0/24 === 192.168.88.0/25, templates to/from 192.0.2.2"
	else
		tap_fail "$1: allow policies" "got: $a"
	fi
	# the configured fallbacks stay; the negotiated pair adds its own (same or narrower)
	if echo "$b" | grep -qF '["out","10.1.0.0/16","192.168.88.0/24","block",0' &&
		echo "$b" | grep -qF '["out","10.1.2.0/24","192.168.88.0/25","block",0' &&
		armed; then
		tap_ok "$1: fallbacks still there, child armed in the datapath (flags $(flags))"
	else
		tap_fail "$1: fallbacks kept and child armed" "blocks: $b; flags: $(flags)"
	fi
}

wait_for 2 test -s "$DUMP"
check_down "before any peer connected"

for round in 1 2; do
	charon_swanctl partner --initiate --child lan --timeout 8 >"$W/init.log" 2>&1
	if wait_for 6 child_installed && wait_for 3 armed; then
		tap_ok "connection $round: strongSwan initiated, CHILD SA installed on both sides"
	else
		tap_fail "connection $round: CHILD SA up" "$(tail -3 "$W/init.log") $(egd_ctl eg status)"
	fi
	check_up "connection $round"
	charon_swanctl partner --terminate --ike gw >/dev/null 2>&1
	gone() { [ "$(egd_sa_count eg)" = 0 ] && ! armed && [ -z "$(allow)" ]; }
	wait_for 4 gone
	check_down "connection $round deleted by strongSwan"
done
egd_stop eg
tap_done
