#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier, reload: espgated with two tunnels to two strongSwan partners. `espgatectl reload`
#   - with an invalid file: refused, says why, nothing changes (same SPIs);
#   - with the same file: both tunnels keep their SAs (same SPIs, no renegotiation);
#   - with one tunnel changed: that tunnel is renegotiated (new SPIs), the other keeps its SAs;
#   - SIGHUP behaves like reload.
# And the full `espgatectl status` lists each tunnel's CHILD SAs under that tunnel's line.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
source tests/lib/espgated.sh

charon_require "espgated reload"
W=$(mktemp -d /tmp/eg-reload.XXXXXX)
nt_on_exit "rm -rf $W"
mkdir -p "$W/gw"

nt_ns GW gw
nt_ns R red
nt_ns B blue
nt_veth "$GW" e-red "$R" eth0
nt_veth "$GW" e-blue "$B" eth0
ip -n "$GW" addr add 192.0.2.1/30 dev e-red
ip -n "$R" addr add 192.0.2.2/30 dev eth0
ip -n "$GW" addr add 192.0.2.5/30 dev e-blue
ip -n "$B" addr add 192.0.2.6/30 dev eth0
# charon (kernel-libipsec) routes the tunnel from an address inside its local selector
ip -n "$R" addr add 10.10.0.1/32 dev lo
ip -n "$B" addr add 10.20.0.1/32 dev lo

printf 'psk:\n  red: "reload-red-psk-0123456789"\n  blue: "reload-blue-psk-0123456789"\n' \
	>"$W/secrets.yaml"
chmod 600 "$W/secrets.yaml"

gwconf() { # gwconf BLUE_ESP
	cat <<C
global:
  interfaces: e-red
  secrets: $W/secrets.yaml
tunnels:
  red:
    peer: 192.0.2.2
    local_address: 192.0.2.1
    psk: red
    ike: aes256-sha256-ecp384
    esp: aes256-sha256
    start: start
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 10.10.0.0/16
  blue:
    peer: 192.0.2.6
    local_address: 192.0.2.5
    psk: blue
    ike: aes256-sha256-ecp384
    esp: $1
    start: start
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 10.20.0.0/16
C
}
partner() { # partner NAME LADDR RADDR LTS PSK
	cat <<C
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
				local_ts = $4
				remote_ts = 10.1.0.0/16
				esp_proposals = aes256-sha256,aes128-sha256
			}
		}
	}
}
secrets {
	ike-1 {
		id-1 = $2
		id-2 = $3
		secret = "$5"
	}
}
C
}
partner red 192.0.2.2 192.0.2.1 10.10.0.0/16 reload-red-psk-0123456789 >"$W/red.conf"
partner blue 192.0.2.6 192.0.2.5 10.20.0.0/16 reload-blue-psk-0123456789 >"$W/blue.conf"
charon_start red "$R" "$W/red" && charon_load red "$W/red.conf" &&
	charon_start blue "$B" "$W/blue" && charon_load blue "$W/blue.conf" || {
	tap_fail "partners start"
	tap_done
	exit
}
gwconf aes256-sha256 >"$W/gw/espgate.yaml"
egd_start gw "$GW" "$W/gw" || {
	tap_fail "espgated starts"
	tap_done
	exit
}
spis() { egd_ctl gw status "$1" | grep -o 'spi [0-9a-f]*' | sort | tr '\n' ' '; }
both_up() { [ "$(egd_ctl gw status | grep -c ' spi ')" -eq 4 ]; }
if wait_for 20 both_up; then
	tap_ok "both tunnels up (4 CHILD SA directions)"
else
	tap_fail "both tunnels up" "$(egd_ctl gw status)"
fi
red0=$(spis red)
blue0=$(spis blue)
# the full status: each tunnel's line is followed by its own CHILD SA lines (which do not name
# the tunnel), so a reader can tell red's "lan" from blue's
grouped=$(egd_ctl gw status | awk '/^[a-z]/ { t = $1 } /^  +lan +(in|out) +spi / { print t }' |
	uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
if [ "$grouped" = "red:2 blue:2 " ]; then
	tap_ok "espgatectl status lists each tunnel's CHILD SAs under that tunnel"
else
	tap_fail "espgatectl status lists each tunnel's CHILD SAs under that tunnel" "got '$grouped': $(egd_ctl gw status)"
fi

# invalid file: refused, nothing changes
cp "$W/gw/espgate.yaml" "$W/good.yaml"
printf 'tunnels:\n  red:\n    peer: 300.0.0.1\n' >"$W/gw/espgate.yaml"
out=$(egd_ctl gw reload 2>&1)
rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q 'nothing changed' && [ "$(spis red)" = "$red0" ] &&
	[ "$(spis blue)" = "$blue0" ]; then
	tap_ok "reload of an invalid file: refused (exit 1), says why, SAs untouched"
else
	tap_fail "invalid reload refused" "rc=$rc $out"
fi
cp "$W/good.yaml" "$W/gw/espgate.yaml"

# same file: nothing renegotiated
out=$(egd_ctl gw reload 2>&1)
sleep 1
if [ $? -eq 0 ] && [ "$(spis red)" = "$red0" ] && [ "$(spis blue)" = "$blue0" ]; then
	tap_ok "reload of the same file: both tunnels keep their SAs"
else
	tap_fail "unchanged reload keeps SAs" "red $red0 -> $(spis red); blue $blue0 -> $(spis blue); $out"
fi

# blue changes (ESP proposal): blue renegotiated, red kept
gwconf aes128-sha256 >"$W/gw/espgate.yaml"
out=$(egd_ctl gw reload 2>&1)
wait_for 15 both_up
blue1=$(spis blue)
if echo "$out" | grep -q 'tunnel blue: changed' && [ "$(spis red)" = "$red0" ] &&
	[ -n "$blue1" ] && [ "$blue1" != "$blue0" ] && egd_ctl gw status blue | grep -q "esp aes128"; then
	tap_ok "reload with blue changed: blue renegotiated (aes128), red keeps its SAs"
else
	tap_fail "changed tunnel renegotiated, other kept" "$(egd_ctl gw status blue); $out; red $red0 -> $(spis red); blue $blue0 -> $blue1"
fi

# SIGHUP: same file again, nothing changes
kill -HUP "${EGD_PID[gw]}"
sleep 1
if [ "$(spis red)" = "$red0" ] && [ "$(spis blue)" = "$blue1" ] && grep -q 'reloaded' "$(egd_log gw)"; then
	tap_ok "SIGHUP reloads; unchanged tunnels keep their SAs"
else
	tap_fail "SIGHUP reload" "$(tail -5 "$(egd_log gw)")"
fi
egd_stop gw
tap_done
