#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S2 (seed 000) against a Libreswan partner: SNAT into the tunnel with the BPF datapath and real
# kernel SAs, pluto (Libreswan, unpacked by tests/vm/run.sh, never installed) as the partner's
# router. The lab of ../lib-espgate.sh; espgate's child is 100.64.0.18/32 <-> 192.168.88.0/24
# with snat 10.1.1.66 -> 100.64.0.18 (one-way by default), Libreswan's conn the mirror image
# (leftsubnet 192.168.88.0/24, rightsubnet 100.64.0.18/32), IKEv2 PSK, aes256-sha2_256 + dh20
# with PFS. Asserts what 53-s2-snat asserts against strongSwan: HTTP from 10.1.1.66 to the
# partner's LAN works; the partner's LAN sees only 100.64.0.18; only ESP on the wire; the SA
# counters rise on both sides; espgatectl nat shows the translation; a connection the partner
# opens to 100.64.0.18 is dropped and counted DROP_ONEWAY.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

eg_lab vm58
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
CONN='conn gw
	ikev2=insist
	authby=secret
	left=192.0.2.2
	leftid=192.0.2.2
	leftsubnet=192.168.88.0/24
	right=10.1.0.4
	rightid=10.1.0.4
	rightsubnet=100.64.0.18/32
	ike=aes256-sha2_256;dh20
	esp=aes256-sha2_256;dh20
	pfs=yes
	leftupdown=/bin/true
	auto=add'

vm_step "Libreswan partner, then espgated (initiates)"
eg_pluto_start partner "$P" "$CONN" "192.0.2.2 10.1.0.4 : PSK \"$PSK\""
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED with CHILD SAs" eg_wait_up gw partner 60
vm_check "Libreswan: Child SA of gw established" eg_pluto_wait_child partner gw 30
eg_ctl gw status
eg_whack partner --trafficstatus
vm_check "Libreswan: Child SA 192.168.88.0/24 <-> 100.64.0.18/32" grep -qE \
	'established Child SA .*\[192\.168\.88\.0-192\.168\.88\.255:0-65535 0\] -> \[100\.64\.0\.18-100\.64\.0\.18:0-65535 0\]' \
	"$(eg_pluto_dir partner)/pluto.log"
vm_check "100.64.0.18 is not assigned to the gateway" bash -c "! ip -n $G -4 addr | grep -q 100.64.0.18"

vm_step "HTTP from 10.1.1.66: the partner sees 100.64.0.18"
eg_web "$W" 192.168.88.10 80 "partner-lan-page"
out_spi=$(vm_xfrm_spis "$G" 192.0.2.2)
in_spi=$(vm_xfrm_spis "$G" 10.1.0.4)
[ "$(echo "$out_spi" | wc -w)" = 1 ] && [ "$(echo "$in_spi" | wc -w)" = 1 ] ||
	vm_fail "expected one SA each way, got out='$out_spi' in='$in_spi'"
vm_capture_start "$W" eth0 "$VM_WORK/web.pcap"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out 'dst host 192.0.2.2'
vm_capture_start "$P" eth0 "$VM_WORK/ptr.pcap" -Q out
body=$(eg_curl "$H" http://192.168.88.10/index.html) || vm_fail "curl from 10.1.1.66 to the partner LAN"
vm_expect_eq "page from the partner LAN" partner-lan-page "$body"
# a closed flow leaves the NAT table 10 s after its FIN: look now
eg_ctl gw nat
vm_check "espgatectl nat shows 10.1.1.66 translated to 100.64.0.18" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock nat | grep -qE '10\.1\.1\.66:[0-9]+ -> 192\.168\.88\.10:80 +100\.64\.0\.18:[0-9]+ -> 192\.168\.88\.10:80'"
vm_capture_stop "$VM_WORK/web.pcap"
vm_capture_stop "$VM_WORK/gw.pcap"
vm_capture_stop "$VM_WORK/ptr.pcap"
grep ' IP ' "$VM_WORK/web.pcap.txt" | head -n 4
from_snat=$(vm_capture_grep "$VM_WORK/web.pcap" 'IP 100\.64\.0\.18\.[0-9]+ > 192\.168\.88\.10\.80:')
[ "$from_snat" -ge 3 ] || vm_fail "the web host saw $from_snat packets from 100.64.0.18"
vm_expect_eq "packets from 10.1.x.x seen on the partner's LAN" 0 \
	"$(vm_capture_grep "$VM_WORK/web.pcap" 'IP 10\.1\.')"
echo "ok: the partner's LAN saw only 100.64.0.18 ($from_snat packets)"
vm_expect_eq "clear packets leaving the gateway towards the partner" 0 \
	"$(grep -vc ': ESP\|isakmp\|UDP' "$VM_WORK/gw.pcap.txt")"
vm_expect_eq "clear packets between the sites leaving the partner" 0 \
	"$(grep -cE 'IP 192\.168\.88\.[0-9.]+ > (100\.64|10\.1)\.' "$VM_WORK/ptr.pcap.txt")"
eg_esp_seen "$VM_WORK/gw.pcap" "$VM_WORK/ptr.pcap" 10.1.0.4 192.0.2.2 "$out_spi" "$in_spi" Libreswan
eg_whack partner --trafficstatus
eg_whack partner --trafficstatus | grep -qE '"gw".*inBytes=[1-9][0-9]*, outBytes=[1-9]' ||
	vm_fail "Libreswan's trafficstatus does not count the traffic"
echo "ok: Libreswan's trafficstatus counts the traffic both ways"

vm_step "one-way: the partner cannot open a connection to 100.64.0.18"
before=$(eg_ctl gw counters | awk '$1 == "DROP_ONEWAY" { print $2 }')
spkts=$(vm_xfrm_packets "$P" "$in_spi")
ip netns exec "$W" curl -sS --max-time 4 http://100.64.0.18/index.html &&
	vm_fail "the partner opened a connection to 100.64.0.18 (one-way child)"
[ "$(vm_xfrm_packets "$P" "$in_spi")" -gt "$spkts" ] ||
	vm_fail "the partner's SYNs did not leave through its SA (the test did not test)"
after=$(eg_ctl gw counters | awk '$1 == "DROP_ONEWAY" { print $2 }')
eg_ctl gw counters
[ "${after:-0}" -gt "${before:-0}" ] || vm_fail "DROP_ONEWAY did not count the partner's SYNs (${before:-0} -> ${after:-0})"
echo "ok: partner-initiated connection dropped, DROP_ONEWAY ${before:-0} -> $after"
