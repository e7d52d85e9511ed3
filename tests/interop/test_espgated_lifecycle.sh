#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: an SA's life with a strongSwan charon, past the first handshake.
#   - rekeys from both sides at once (espgated: lifetime 12s, ike_lifetime 14s, rekey_margin 6s,
#     no fuzz; charon: CHILD rekey_time 6s, IKE 8s, no jitter), so collisions happen
#     too, for 20 s: new SPIs keep appearing, every replaced SA is deleted, espgated never holds
#     more than 5 SAs (old pair, new pair, and in a collision the redundant SA's inbound half
#     only), the tunnel never goes down (no IKE_DOWN other than "rekeyed"), and at rest both
#     sides hold exactly one IKE SA and one CHILD SA with the same SPIs; the ESP charon sends
#     after all that decrypts with the keys of the newest SA (key agreement after rekeys);
#   - DPD (delay 2s, timeout 6s): charon killed without a word is declared dead, its SAs are
#     dropped, and the tunnel comes back by itself once charon is restarted (dpd action restart);
#   - delete from either side: `espgatectl down` removes the SAs on both sides; `swanctl
#     --terminate --child` removes only the CHILD SA; `swanctl --terminate --ike` the whole tunnel.
# (test_ike_rekey_charon.sh covers one-sided rekeys with longer lifetimes.)
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
source tests/lib/espgated.sh

charon_require "espgated SA lifecycle"
PSK="lifecycle-psk-0123456789abcdef"
egd_pair_lab life "$PSK" || {
	tap_fail "lab setup"
	tap_done
	exit
}

# swanctl_conf IKE_REKEY CHILD_REKEY (no random jitter: rekeys at exactly these times; the hard
# limits 6 s later, more than one retransmission (4 s): charon drops a response whose message ID
# equals that of a request it is still processing, which crossing rekeys produce, and must not
# expire the SA while it retransmits)
swanctl_conf() {
	cat >"$W/swanctl.conf" <<C
connections {
	gw {
		version = 2
		local_addrs = 192.0.2.2
		remote_addrs = 192.0.2.1
		proposals = aes256-sha256-ecp384
		rekey_time = $1
		rand_time = 0
		over_time = 6s
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
				esp_proposals = aes256-sha256
				rekey_time = $2
				rand_time = 0
				life_time = $(($(echo "$2" | tr -dc 0-9) + 6))s
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
}

# espgated_conf EXTRA_TUNNEL_LINES: each phase gets its own directory (logs kept apart)
espgated_conf() {
	EGW=$W/eg$((++PHASE))
	mkdir -p "$EGW"
	cat >"$EGW/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 192.0.2.1
    psk: partner
    ike: aes256-sha256-ecp384
    esp: aes256-sha256
$1
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
        direction: both
C
}

PHASE=0
raw() { charon_swanctl partner --list-sas --raw 2>/dev/null; }
n_of() { raw | grep -o "state=$1" | wc -l; }
child_installed() { raw | grep -q state=INSTALLED; }
# at rest: one IKE SA and one installed CHILD SA on charon, their SPIs crossed with espgated's 2
at_rest() {
	local r in out spis
	r=$(raw)
	[ "$(echo "$r" | grep -o 'state=ESTABLISHED' | wc -l)" = 1 ] || return 1
	[ "$(echo "$r" | grep -o 'state=INSTALLED' | wc -l)" = 1 ] || return 1
	# a deleted CHILD SA lingers a few seconds in state DELETED (charon's delete_rekeyed_delay)
	r=$(echo "$r" | grep -o 'state=INSTALLED[^}]*')
	in=$(echo "$r" | grep -o 'spi-in=[0-9a-f]*' | cut -d= -f2)
	out=$(echo "$r" | grep -o 'spi-out=[0-9a-f]*' | cut -d= -f2)
	spis=$(egd_sa_spis eg | sort | tr '\n' ' ')
	[ "$spis" = "$(printf '0x%s\n0x%s\n' "$in" "$out" | sort | tr '\n' ' ')" ]
}
# max_pairs LOG: the largest number of SAs espgated held at once, replayed from its log
max_sas() {
	awk '/: installed (inbound|outbound) SA/ { n++; if (n > m) m = n }
	     /: deleted (inbound|outbound) SA/ { n-- } END { print m + 0 }' "$1"
}

# esp_check NAME: charon pings through the tunnel; its ESP (newest SPI on the wire) must verify
# and decrypt with the keys espgated exported for that SPI
esp_check() {
	local name=$1 td spi v
	ip netns exec "$GW" tcpdump -nni eth0 -w "$W/esp.pcap" 'udp port 4500 or esp' 2>"$W/td.err" &
	td=$!
	wait_for 3 grep -q listening "$W/td.err"
	ip netns exec "$P" ping -c 2 -i 0.2 -W 1 -I 192.168.88.1 10.1.0.5 >/dev/null 2>&1
	sleep 0.3
	kill $td 2>/dev/null
	wait $td 2>/dev/null
	spi=$(tcpdump -nr "$W/esp.pcap" 2>/dev/null | grep -oE 'spi=0x[0-9a-f]+' | tail -1 | cut -c7-)
	v=$(python3 tests/interop/esp_decrypt.py "$W/esp.pcap" "$(egd_dir eg)/keys.txt" "$spi" 2>&1)
	if [ -n "$spi" ] && echo "$v" | grep -q '^decrypted '; then
		tap_ok "$name: charon's ESP on spi $spi decrypts with espgated's keys ($v)"
	else
		tap_fail "$name: ESP decrypts with espgated's keys" "spi '$spi': $v"
	fi
}

charon_start partner "$P" "$W/charon" || {
	tap_fail "charon starts"
	tap_done
	exit
}

# ---- 1. rekeys from both sides ------------------------------------------------------------
swanctl_conf 8s 6s
charon_load partner "$W/swanctl.conf"
espgated_conf "    start: start
    ike_lifetime: 14s
    lifetime: 12s
    rekey_margin: 6s
    rekey_fuzz: 0%"
egd_start eg "$GW" "$EGW"
wait_for 6 child_installed
down_seen=0
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do
	egd_ctl eg status partner | grep -qE '^partner +DOWN' && down_seen=1
	sleep 0.5
done
LOG=$(egd_log eg)
CLOG=$(charon_log partner)
n_keys=$(grep -c 'dir=in' "$(egd_dir eg)/keys.txt")
n_ike_rk=$(grep -c 'IKE_SA gw\[[0-9]*\] rekeyed' "$CLOG")
n_coll=$(grep -c 'collision' "$LOG")
n_eg_ike=$(grep -c 'initiating ike sa' "$LOG")
n_by_eg=$(grep -c 'parsed CREATE_CHILD_SA request' "$CLOG")
n_by_ch=$(grep -c 'generating CREATE_CHILD_SA request' "$CLOG")
if [ "$n_keys" -ge 4 ] && [ "$n_ike_rk" -ge 2 ] && [ "$n_by_eg" -ge 1 ] && [ "$n_by_ch" -ge 1 ]; then
	tap_ok "rekeys both ways: $((n_keys - 1)) CHILD rekeys (new inbound SPIs), $n_ike_rk IKE rekeys in 20 s; espgated started $n_by_eg rekeys, charon $n_by_ch; $n_coll collisions resolved"
else
	tap_fail "rekeys happened" "CHILD SAs $n_keys, IKE rekeys $n_ike_rk, started by espgated $n_by_eg, by charon $n_by_ch"
	grep -E 'rekey|collision|error|warning' "$LOG" | tail -15 | sed 's/^/#   /'
fi
if [ "$down_seen" = 0 ] && [ "$n_eg_ike" = 1 ] && ! grep -q 'IKE SA down' "$LOG" &&
	[ "$(grep -c 'parsed IKE_SA_INIT' "$CLOG")" = 1 ]; then
	tap_ok "rekeys both ways: the tunnel never went down, no new IKE SA from scratch"
else
	tap_fail "rekeys both ways: tunnel stays up" "down seen $down_seen, espgated initiations $n_eg_ike, $(grep 'IKE SA down' "$LOG" | head -3)"
fi
m=$(max_sas "$LOG")
if [ "$m" -le 5 ] && [ "$m" -ge 4 ]; then
	tap_ok "rekeys both ways: espgated held at most $m SAs at once (old pair + new pair + a collision's redundant inbound SA; never a redundant outbound)"
else
	tap_fail "rekeys both ways: SA count bounded" "max $m SAs at once"
fi
if wait_for 8 at_rest; then
	tap_ok "rekeys both ways: at rest one IKE SA, one CHILD SA, espgated's 2 SAs are charon's current SPIs ($(egd_sa_spis eg | tr '\n' ' '))"
else
	tap_fail "rekeys both ways: old SAs deleted on both sides" "charon $(n_of ESTABLISHED) IKE/$(n_of INSTALLED) CHILD, espgated SPIs: $(egd_sa_spis eg | tr '\n' ' '); charon: $(raw | grep -oE 'state=[A-Z]+|spi-[a-z]*=[0-9a-f]*|rekey-time=[0-9]+|life-time=[0-9]+' | tr '\n' ' ')"
fi
if grep -qE 'received (INVALID_SPI|CHILD_SA_NOT_FOUND|INVALID_SYNTAX|INVALID_MESSAGE_ID|NO_PROPOSAL_CHOSEN|TS_UNACCEPTABLE)' "$CLOG" ||
	grep -q 'warning' "$LOG"; then
	tap_fail "rekeys both ways: no errors on either side" "$(grep -E 'received (INVALID|CHILD_SA_NOT|NO_PROP|TS_)' "$CLOG" | head -3) $(grep warning "$LOG" | head -3)"
else
	tap_ok "rekeys both ways: no error notify in charon's log, no warning in espgated's"
fi
esp_check "after the rekeys"
egd_stop eg

# ---- 2. DPD ------------------------------------------------------------------------------------
swanctl_conf 1h 1h
charon_swanctl partner --terminate --ike gw >/dev/null 2>&1
charon_load partner "$W/swanctl.conf"
espgated_conf "    start: start
    dpd: { delay: 2s, timeout: 6s, action: restart }"
egd_start eg "$GW" "$EGW"
wait_for 6 child_installed
charon_kill partner
t0=$SECONDS
dead() { egd_ctl eg status partner | grep -q 'last error: peer did not answer'; }
if wait_for 14 dead && [ "$(egd_sa_count eg)" = 0 ]; then
	tap_ok "DPD: killed charon declared dead after $((SECONDS - t0)) s (delay 2s, timeout 6s), its SAs removed"
else
	tap_fail "DPD: dead peer detected" "$(egd_ctl eg status partner); SAs $(egd_sa_count eg)"
	tail -10 "$LOG" | sed 's/^/#   /'
fi
charon_start partner "$P" "$W/charon" && charon_load partner "$W/swanctl.conf"
t0=$SECONDS
if wait_for 20 child_installed && wait_for 2 at_rest; then
	tap_ok "DPD: the tunnel came back $((SECONDS - t0)) s after charon restarted (action restart)"
else
	tap_fail "DPD: re-established" "$(egd_ctl eg status partner); $(tail -5 "$(egd_log eg)")"
fi
egd_stop eg

# ---- 3. delete from either side ------------------------------------------------------------
charon_swanctl partner --terminate --ike gw >/dev/null 2>&1
espgated_conf "    start: start"
egd_start eg "$GW" "$EGW"
wait_for 6 child_installed
egd_ctl eg down partner >/dev/null
gone() { [ "$(n_of ESTABLISHED)" = 0 ] && [ "$(egd_sa_count eg)" = 0 ]; }
if wait_for 3 gone && egd_ctl eg status partner | grep -qE '^partner +DOWN'; then
	tap_ok "espgatectl down: strongSwan's IKE SA is gone, espgated shows DOWN with no SA"
else
	tap_fail "espgatectl down" "charon $(n_of ESTABLISHED) IKE SAs; espgated SAs $(egd_sa_count eg)"
fi
egd_ctl eg up partner >/dev/null
wait_for 6 child_installed
charon_swanctl partner --terminate --child lan >/dev/null 2>&1
child_gone() { [ "$(n_of INSTALLED)" = 0 ] && [ "$(egd_sa_count eg)" = 0 ]; }
if wait_for 3 child_gone && egd_ctl eg status partner | grep -q ESTABLISHED &&
	[ "$(n_of ESTABLISHED)" = 1 ]; then
	tap_ok "swanctl --terminate --child: espgated removed the CHILD SA's 2 SAs and kept the IKE SA"
else
	tap_fail "swanctl --terminate --child" "charon $(n_of ESTABLISHED)/$(n_of INSTALLED); espgated SAs $(egd_sa_count eg); $(egd_ctl eg status partner)"
fi
egd_ctl eg down partner >/dev/null
wait_for 3 gone
egd_ctl eg up partner >/dev/null
wait_for 6 child_installed
charon_swanctl partner --terminate --ike gw >/dev/null 2>&1
if wait_for 3 gone && egd_ctl eg status partner | grep -qE '^partner +DOWN'; then
	tap_ok "swanctl --terminate --ike: espgated shows DOWN with no SA"
else
	tap_fail "swanctl --terminate --ike" "$(egd_ctl eg status partner); SAs $(egd_sa_count eg)"
fi
egd_stop eg
tap_done
