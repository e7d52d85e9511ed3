#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S9 (seed 004): the same subnet on both sides, and an internet masquerade on the same box, with
# the BPF datapath and real kernel SAs against a strongSwan partner (the seed's VyOS router).
# Our LAN is 192.168.10.0/24 behind the gateway (inside eth1, outside eth0 203.0.113.133); the
# partner's LAN holds 192.168.10.0/24 too - its host 10.10.10.55 even owns 192.168.10.45, our
# host's address - so our 192.168.10.45 appears to it as 172.16.17.45 (child 172.16.17.45/32 <->
# 10.10.10.55/32, snat 192.168.10.45 -> 172.16.17.45, direction both). The config's masquerade
# (192.168.10.0/24 -> 203.0.113.134) is the seed's internet SNAT rule, without its "exclude". The
# masquerade address is a second public address the provider routes to the gateway: espgated
# refuses one assigned to the host (docs/CONFIG.md: a packet rewritten to a local source before
# routing would be dropped as a martian).
# Asserts:
#  - HTTP from 192.168.10.45 to 10.10.10.55 and to an internet host 198.18.0.10 at the same time:
#    the partner host sees only 172.16.17.45, the internet host only 203.0.113.134 (masqueraded);
#    towards the partner only ESP leaves the gateway (the masquerade never caught the tunnel
#    flow: nothing from 203.0.113.134 or 192.168.10.x to 10.10.10.55), and no packet leaves the
#    outside NIC with a 192.168.10.x source; espgatectl nat shows both translations.
#  - the other direction (published by "direction: both"): 10.10.10.55 opens HTTP to
#    172.16.17.45 and reaches 192.168.10.45, which sees it from 10.10.10.55.
#  - the decrypted packets passed the kernel's fwd policy after reverse NAT: the inbound SA and
#    the marked fwd policy counted/used, /proc/net/xfrm_stat's policy-check drops unchanged.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

# --- the lab ----------------------------------------------------------------------------------
#   host (192.168.10.45) --- eth1 gw eth0 (203.0.113.133) --- internet (203.0.113.1 / 192.0.2.1 /
#   198.18.0.1) --- internet host (198.18.0.10)
#                                      \--- partner router (192.0.2.150; lan0 10.10.10.1/24 and
#                                           192.168.10.1/24) --- partner host (10.10.10.55 and
#                                           192.168.10.45)
H=vm61h G=vm61g I=vm61i X=vm61x P=vm61p PH=vm61ph
vm_ns "$H" "$G" "$I" "$X" "$P" "$PH"
vm_veth "$H" eth0 192.168.10.45/24 "$G" eth1 192.168.10.1/24
vm_veth "$G" eth0 203.0.113.133/24 "$I" i0 203.0.113.1/24
vm_veth "$I" i1 192.0.2.1/24 "$P" eth0 192.0.2.150/24
vm_veth "$I" i2 198.18.0.1/24 "$X" eth0 198.18.0.10/24
vm_veth "$P" lan0 10.10.10.1/24 "$PH" eth0 10.10.10.55/24
ip -n "$P" addr add 192.168.10.1/24 dev lan0
ip -n "$PH" addr add 192.168.10.45/24 dev eth0
for ns in "$H" "$X" "$PH"; do
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null # complete checksums (see eg_lab)
done
ip -n "$H" route add default via 192.168.10.1
ip -n "$G" route add default via 203.0.113.1
ip -n "$P" route add default via 192.0.2.1
ip -n "$X" route add default via 198.18.0.1
ip -n "$PH" route add default via 10.10.10.1
for ns in "$G" "$I" "$P"; do
	vm_forwarding "$ns"
done
# the provider routes the masquerade address to the gateway
ip -n "$I" route add 203.0.113.134/32 via 203.0.113.133
vm_check "underlay: gateway reaches the partner" vm_ping "$G" 203.0.113.133 192.0.2.150 1

PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" vyos-partner "$PSK"
cat >"$VM_WORK/espgate.yaml" <<EOC
global:
  interfaces:
    outside: eth0
    inside: eth1
  secrets: $VM_WORK/secrets.yaml
masquerade:
  - inside: 192.168.10.0/24
    outside: 203.0.113.134
    ports: 1024-65535
tunnels:
  vyos-partner:
    peer: 192.0.2.150
    local_address: 203.0.113.133
    psk: vyos-partner
    ike: aes256-sha256-modp2048
    esp: aes256-sha256
    start: start
    children:
      - name: host
        local: 172.16.17.45/32
        remote: 10.10.10.55/32
        direction: both
        nat:
          - type: snat
            inside: 192.168.10.45
            outside: 172.16.17.45
EOC
cat >"$VM_WORK/partner.conf" <<EOC
connections {
	gw {
		version = 2
		local_addrs = 192.0.2.150
		remote_addrs = 203.0.113.133
		proposals = aes256-sha256-modp2048
		local {
			auth = psk
			id = 192.0.2.150
		}
		remote {
			auth = psk
			id = 203.0.113.133
		}
		children {
			host {
				local_ts = 10.10.10.55/32
				remote_ts = 172.16.17.45/32
				esp_proposals = aes256-sha256
				mode = tunnel
				start_action = none
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = 203.0.113.133
		id-2 = 192.0.2.150
		secret = "$PSK"
	}
}
EOC

XSTATS="XfrmInError XfrmInNoStates XfrmInStateMismatch XfrmInTmplMismatch XfrmInNoPols XfrmInPolBlock XfrmInPolError XfrmFwdHdrError XfrmOutNoStates XfrmOutPolBlock"
xstats() {
	local s
	for s in $XSTATS; do
		printf '%s=%s ' "$s" "$(vm_xfrm_stat "$1" "$s")"
	done
}

vm_step "tunnel up (espgate initiates)"
"$EG_D" --check -c "$VM_WORK/espgate.yaml" || vm_fail "espgated --check of the S9 config"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: vyos-partner ESTABLISHED" eg_wait_up gw vyos-partner 60
vm_check "partner: CHILD_SA host installed" vm_wait_child partner host 30
eg_ctl gw status
vm_check "172.16.17.45 is not assigned to the gateway" bash -c "! ip -n $G -4 addr | grep -q 172.16.17.45"
eg_web "$PH" 10.10.10.55 80 partner-page
eg_web "$X" 198.18.0.10 80 internet-page
eg_web "$H" 192.168.10.45 80 our-page
OUT_SPI=$(vm_xfrm_spis "$G" 192.0.2.150)
IN_SPI=$(vm_xfrm_spis "$G" 203.0.113.133)
[ "$(echo "$OUT_SPI $IN_SPI" | wc -w)" = 2 ] || vm_fail "expected one SA each way, got out '$OUT_SPI' in '$IN_SPI'"
in_mark=$(eg_sa_show "$G" "$IN_SPI" | sed -n 's/.*output-mark \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
[ -n "$in_mark" ] || vm_fail "the inbound SA sets no in mark"
xg=$(xstats "$G")
xp=$(xstats "$P")

vm_step "1. 192.168.10.45 -> 10.10.10.55 (tunnel) and -> 198.18.0.10 (internet) at the same time"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out
vm_capture_start "$PH" eth0 "$VM_WORK/ph.pcap" -Q in ip
vm_capture_start "$X" eth0 "$VM_WORK/x.pcap" -Q in ip
eg_curl "$H" http://10.10.10.55/index.html >"$VM_WORK/partner.page" 2>&1 &
p1=$!
eg_curl "$H" http://198.18.0.10/index.html >"$VM_WORK/internet.page" 2>&1 &
p2=$!
wait $p1 || vm_fail "HTTP to 10.10.10.55 through the tunnel: $(cat "$VM_WORK/partner.page")"
wait $p2 || vm_fail "HTTP to the internet host: $(cat "$VM_WORK/internet.page")"
vm_expect_eq "page from 10.10.10.55" partner-page "$(cat "$VM_WORK/partner.page")"
vm_expect_eq "page from the internet host" internet-page "$(cat "$VM_WORK/internet.page")"
eg_ctl gw nat
vm_check "espgatectl nat: 192.168.10.45 -> 10.10.10.55 translated to 172.16.17.45" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock nat | grep -qE '192\.168\.10\.45:[0-9]+ -> 10\.10\.10\.55:80 +172\.16\.17\.45:[0-9]+ -> 10\.10\.10\.55:80'"
vm_check "espgatectl nat: 192.168.10.45 -> 198.18.0.10 masqueraded to 203.0.113.134" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock nat | grep -qE '192\.168\.10\.45:[0-9]+ -> 198\.18\.0\.10:80 +203\.0\.113\.134:[0-9]+ -> 198\.18\.0\.10:80'"

vm_step "2. the partner opens a connection to 172.16.17.45 (direction: both)"
vm_capture_start "$H" eth0 "$VM_WORK/h.pcap" -Q in ip
body=$(eg_curl "$PH" http://172.16.17.45/index.html) || vm_fail "HTTP from 10.10.10.55 to 172.16.17.45"
vm_expect_eq "page from 172.16.17.45 (our 192.168.10.45)" our-page "$body"
vm_capture_stop "$VM_WORK/h.pcap"
vm_capture_stop "$VM_WORK/gw.pcap"
vm_capture_stop "$VM_WORK/ph.pcap"
vm_capture_stop "$VM_WORK/x.pcap"

vm_step "what each side saw"
n=$(vm_capture_grep "$VM_WORK/ph.pcap" 'IP 172\.16\.17\.45\.[0-9]+ > 10\.10\.10\.55\.')
[ "$n" -ge 6 ] || vm_fail "the partner host saw only $n packets from 172.16.17.45"
vm_expect_eq "packets the partner host received from other sources" 0 \
	"$(grep -vcE 'IP 172\.16\.17\.45\.[0-9]+ > 10\.10\.10\.55\.' "$VM_WORK/ph.pcap.txt")"
echo "ok: the partner host saw only 172.16.17.45 ($n packets, both directions' flows)"
n=$(vm_capture_grep "$VM_WORK/x.pcap" 'IP 203\.0\.113\.134\.[0-9]+ > 198\.18\.0\.10\.80:')
[ "$n" -ge 3 ] || vm_fail "the internet host saw only $n packets from 203.0.113.134"
vm_expect_eq "packets the internet host received from other sources" 0 \
	"$(grep -vcE 'IP 203\.0\.113\.134\.[0-9]+ > 198\.18\.0\.10\.80:' "$VM_WORK/x.pcap.txt")"
echo "ok: the internet host saw only the masquerade address 203.0.113.134 ($n packets)"
n=$(vm_capture_grep "$VM_WORK/h.pcap" 'IP 10\.10\.10\.55\.[0-9]+ > 192\.168\.10\.45\.80:')
[ "$n" -ge 3 ] || vm_fail "192.168.10.45 saw only $n packets of the partner's connection"
echo "ok: the partner's connection reached 192.168.10.45 from 10.10.10.55 ($n packets)"
vm_expect_eq "packets to 10.10.10.55 leaving the gateway in clear (masqueraded or not)" 0 \
	"$(vm_capture_grep "$VM_WORK/gw.pcap" '> 10\.10\.10\.55\.')"
vm_expect_eq "packets leaving the outside NIC with a 192.168.10.x or 172.16.17.45 source" 0 \
	"$(vm_capture_grep "$VM_WORK/gw.pcap" 'IP (192\.168\.10\.[0-9]+|172\.16\.17\.45)\.')"
vm_expect_eq "clear packets from the gateway to the partner" 0 \
	"$(grep -E '> 192\.0\.2\.150[.:]' "$VM_WORK/gw.pcap.txt" | grep -vcE ': ESP\(|isakmp')"
esp=$(vm_capture_grep "$VM_WORK/gw.pcap" "203\.0\.113\.133 > 192\.0\.2\.150: ESP\(spi=$OUT_SPI,")
n=$(vm_xfrm_packets "$G" "$OUT_SPI")
[ "$esp" -ge 8 ] && [ "${n:-0}" -ge "$esp" ] ||
	vm_fail "ESP to the partner: $esp packets on the wire, outbound SA counted ${n:-none}"
echo "ok: ESP to the partner: $esp packets, outbound SA counted $n"

vm_step "the decrypted packets passed the fwd policy after reverse NAT"
n=$(vm_xfrm_packets "$G" "$IN_SPI")
[ "${n:-0}" -ge 8 ] || vm_fail "inbound SA $IN_SPI counted ${n:-none}"
use=$(ip -n "$G" -s xfrm policy list dir fwd | awk -v m="$in_mark" '
	function done() { if (mk == m && use != "") { print use; found = 1; exit } }
	/^src / { done(); mk = ""; use = "" }
	$1 == "mark" { split($2, a, "/"); mk = a[1] }
	/ use / { use = $0; sub(/.* use /, "", use) }
	END { if (!found) done() }')
[ -n "$use" ] && [ "$use" != - ] || vm_fail "the fwd policy with the in mark $in_mark was never used ('$use')"
echo "ok: inbound SA counted $n, fwd policy (mark $in_mark) used at $use"
vm_expect_eq "gateway's XFRM drop counters" "$xg" "$(xstats "$G")"
vm_expect_eq "partner's XFRM drop counters" "$xp" "$(xstats "$P")"
eg_ctl gw counters | awk '$1 ~ /^DROP_/ && $2 != 0'
