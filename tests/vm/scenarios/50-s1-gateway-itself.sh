#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S1 from the gateway itself, a child WITHOUT NAT: the gateway's own address 10.1.0.4 lies inside
# the child's local selector 10.1.0.0/16, so its own connections to the partner LAN must go through
# the tunnel too (seed 000: the VM reaches the partner from itself). espgated routes the remote
# selector through its eg0/eg1 hairpin (with a bypass of the block fallback bound to eg0: see
# docs/DESIGN.md), where tc classifies the locally generated packets like forwarded ones and the
# kernel encrypts them. Asserts, with the BPF datapath and real kernel SAs against strongSwan: the
# hairpin route (192.168.88.0/24 dev eg0 src 10.1.0.4); HTTP from the gateway to the partner LAN;
# the partner's web host sees 10.1.0.4 (no NAT); only ESP/IKE leave the gateway towards the
# partner; the outbound SA counts the packets; and a forwarded workload (10.1.1.66) still works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (the hairpin needs it)"

eg_lab vm50i
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: start"
eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "tunnel up (espgate initiates)"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
ip -n "$G" route show
vm_check "hairpin route: 192.168.88.0/24 dev eg0 src 10.1.0.4" bash -c \
	"ip -n $G route show 192.168.88.0/24 | grep -qE 'dev eg0 .*src 10\.1\.0\.4'"

vm_step "HTTP from the gateway itself (10.1.0.4), no NAT"
eg_web "$W" 192.168.88.10 80 "partner-lan-page"
out_spi=$(vm_xfrm_spis "$G" 192.0.2.2)
[ "$(echo "$out_spi" | wc -w)" = 1 ] || vm_fail "expected one outbound SA, got '$out_spi'"
before=$(vm_xfrm_packets "$G" "$out_spi")
vm_capture_start "$W" eth0 "$VM_WORK/web.pcap"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out 'dst host 192.0.2.2'
body=$(vm_nsx "$G" curl -sS --fail --max-time 15 http://192.168.88.10/index.html) ||
	vm_fail "curl from the gateway itself to the partner LAN"
vm_expect_eq "page from the partner LAN" partner-lan-page "$body"
vm_capture_stop "$VM_WORK/web.pcap"
vm_capture_stop "$VM_WORK/gw.pcap"
seen=$(vm_capture_grep "$VM_WORK/web.pcap" 'IP 10\.1\.0\.4\.[0-9]+ > 192\.168\.88\.10\.80:')
[ "$seen" -ge 3 ] || vm_fail "the web host saw $seen packets from 10.1.0.4"
echo "ok: the partner's web host saw the gateway's own address 10.1.0.4 ($seen packets)"
vm_expect_eq "clear packets leaving the gateway towards the partner" 0 \
	"$(grep ' IP ' "$VM_WORK/gw.pcap.txt" | grep -vcE ': (ESP|isakmp|UDP)')"
esp=$(vm_capture_grep "$VM_WORK/gw.pcap" ": ESP\(spi=$out_spi,")
after=$(vm_xfrm_packets "$G" "$out_spi")
[ "$esp" -ge 3 ] && [ $((${after:-0} - ${before:-0})) -ge 3 ] ||
	vm_fail "ESP on the wire: $esp packets, outbound SA ${before:-?} -> ${after:-?}"
echo "ok: ESP on the wire ($esp packets), outbound SA ${before:-0} -> $after"

vm_step "a forwarded workload still goes through the tunnel"
body=$(eg_curl "$H" http://192.168.88.10/index.html) || vm_fail "curl from 10.1.1.66"
vm_expect_eq "page from the partner LAN, forwarded" partner-lan-page "$body"
eg_ctl gw counters
