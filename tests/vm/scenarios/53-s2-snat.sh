#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# S2 (seed 000): SNAT into the tunnel, with the BPF datapath and real kernel SAs against strongSwan.
# The VNet workload 10.1.1.66 leaves through the tunnel as 100.64.0.18 (child local
# 100.64.0.18/32 <-> 192.168.88.0/24, nat snat 10.1.1.66 -> 100.64.0.18, direction one-way by
# default). Asserts: HTTP from 10.1.1.66 to the partner LAN works; the partner's LAN sees only
# 100.64.0.18 (capture on the web host: no 10.1.x.x); replies come back to 10.1.1.66; only ESP
# on the wire; espgatectl nat shows the translated flow; the partner cannot open a connection to
# 100.64.0.18 (S6, one-way), which the datapath counts as DROP_ONEWAY.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

eg_lab vm53
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
cat >"$VM_WORK/espgate.yaml" <<EOC
global:
  interfaces: eth0
  secrets: $VM_WORK/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 10.1.0.4
    psk: partner
    ike: aes256-sha256-ecp384
    esp: aes256-sha256-ecp384
    start: start
    children:
      - name: rabbitmq
        local: 100.64.0.18/32
        remote: 192.168.88.0/24
        nat:
          - type: snat
            inside: 10.1.1.66
            outside: 100.64.0.18
EOC
EG_PARTNER_RTS=100.64.0.18/32 eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "tunnel up (espgate initiates)"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_ctl gw status
vm_check "100.64.0.18 is not assigned to the gateway" bash -c "! ip -n $G -4 addr | grep -q 100.64.0.18"

vm_step "HTTP from 10.1.1.66: the partner sees 100.64.0.18"
eg_web "$W" 192.168.88.10 80 "partner-lan-page"
eg_web "$H" 10.1.1.66 80 "vnet-page"
out_spi=$(vm_xfrm_spis "$G" 192.0.2.2)
vm_capture_start "$W" eth0 "$VM_WORK/web.pcap"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out 'dst host 192.0.2.2'
body=$(eg_curl "$H" http://192.168.88.10/index.html) || vm_fail "curl from 10.1.1.66 to the partner LAN"
vm_expect_eq "page from the partner LAN" partner-lan-page "$body"
vm_capture_stop "$VM_WORK/web.pcap"
vm_capture_stop "$VM_WORK/gw.pcap"
head -n 4 "$VM_WORK/web.pcap.txt"
from_snat=$(vm_capture_grep "$VM_WORK/web.pcap" 'IP 100\.64\.0\.18\.[0-9]+ > 192\.168\.88\.10\.80:')
[ "$from_snat" -ge 3 ] || vm_fail "the web host saw $from_snat packets from 100.64.0.18"
vm_expect_eq "packets from 10.1.x.x seen on the partner's LAN" 0 \
	"$(vm_capture_grep "$VM_WORK/web.pcap" 'IP 10\.1\.')"
echo "ok: the partner's LAN saw only 100.64.0.18 ($from_snat packets)"
vm_expect_eq "clear packets leaving the gateway towards the partner" 0 \
	"$(grep -vc ': ESP\|isakmp\|UDP' "$VM_WORK/gw.pcap.txt")"
esp=$(vm_capture_grep "$VM_WORK/gw.pcap" ": ESP\(spi=$out_spi,")
n=$(vm_xfrm_packets "$G" "$out_spi")
[ "$esp" -ge 3 ] && [ "${n:-0}" -ge "$esp" ] ||
	vm_fail "ESP on the wire: $esp packets, outbound SA counted ${n:-none}"
echo "ok: ESP on the wire ($esp packets), outbound SA counted $n"
eg_ctl gw nat
vm_check "espgatectl nat shows 10.1.1.66 translated to 100.64.0.18" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock nat | grep -qE '10\.1\.1\.66:[0-9]+ -> 192\.168\.88\.10:80 +100\.64\.0\.18:[0-9]+ -> 192\.168\.88\.10:80'"

vm_step "one-way: the partner cannot open a connection to 100.64.0.18"
before=$(eg_ctl gw counters | awk '$1 == "DROP_ONEWAY" { print $2 }')
ip netns exec "$W" curl -sS --max-time 4 http://100.64.0.18/index.html &&
	vm_fail "the partner opened a connection to 100.64.0.18 (one-way child)"
after=$(eg_ctl gw counters | awk '$1 == "DROP_ONEWAY" { print $2 }')
eg_ctl gw counters
[ "${after:-0}" -gt "${before:-0}" ] || vm_fail "DROP_ONEWAY did not count the partner's SYNs (${before:-0} -> ${after:-0})"
echo "ok: partner-initiated connection dropped, DROP_ONEWAY ${before:-0} -> $after"
