#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S2 (seed 000), literally: 10.1.1.66 is the gateway VM itself. Its own connections to the
# partner's LAN leave through the tunnel as 100.64.0.18, with the BPF datapath and real kernel SAs
# against strongSwan. espgated sees that the snat rule's inside address is one of the host's own
# and routes the child's remote selector through its eg0/eg1 veth hairpin (user/hairpin.h), where
# tc translates the VM's locally generated packets like forwarded ones; replies are decrypted on
# eth0 and reverse-translated there. Asserts: the hairpin route (192.168.88.0/24 dev eg0 src
# 10.1.1.66); HTTP from the gateway itself to the partner LAN works; the partner's LAN sees only
# 100.64.0.18; only ESP leaves the gateway towards the partner; SA counters rise on both sides;
# espgatectl nat shows the translated flow. (53-s2-snat is the other half of S2: a workload routed
# through the gateway.)
#   gw (espgate, eth0 10.1.1.66, also the IKE endpoint) --- fabric (10.1.1.1 / 192.0.2.1)
#   --- ptr (the partner's router, 192.0.2.2, lan0 192.168.88.1) --- web (192.168.88.10)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

N=vm53n G=vm53g P=vm53p W=vm53w
vm_ns "$N" "$G" "$P" "$W"
vm_veth "$G" eth0 10.1.1.66/24 "$N" n1 10.1.1.1/24
vm_veth "$N" n2 192.0.2.1/24 "$P" eth0 192.0.2.2/24
vm_veth "$P" lan0 192.168.88.1/24 "$W" eth0 192.168.88.10/24
ip netns exec "$W" ethtool -K eth0 tx off >/dev/null
ip -n "$G" route add default via 10.1.1.1
ip -n "$P" route add default via 192.0.2.1
ip -n "$W" route add default via 192.168.88.1
vm_forwarding "$N"
vm_forwarding "$P"
vm_check "underlay: gateway reaches the partner" vm_ping "$G" 10.1.1.66 192.0.2.2 1

PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
cat >"$VM_WORK/espgate.yaml" <<EOC
global:
  interfaces: eth0
  secrets: $VM_WORK/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 10.1.1.66
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
sed -i 's/10\.1\.0\.4/10.1.1.66/g' "$VM_WORK/partner.conf"

vm_step "tunnel up (espgate initiates)"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_ctl gw status
ip -n "$G" route show
vm_check "hairpin route: 192.168.88.0/24 dev eg0 src 10.1.1.66" bash -c \
	"ip -n $G route show 192.168.88.0/24 | grep -qE 'dev eg0 .*src 10\.1\.1\.66'"

vm_step "HTTP from the gateway itself (10.1.1.66): the partner sees 100.64.0.18"
eg_web "$W" 192.168.88.10 80 "partner-lan-page"
out_spi=$(vm_xfrm_spis "$G" 192.0.2.2)
in_spi=$(vm_xfrm_spis "$G" 10.1.1.66)
[ "$(echo "$out_spi" | wc -w)" = 1 ] && [ "$(echo "$in_spi" | wc -w)" = 1 ] ||
	vm_fail "expected one SA each way, got out='$out_spi' in='$in_spi'"
vm_capture_start "$W" eth0 "$VM_WORK/web.pcap"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out
vm_capture_start "$P" eth0 "$VM_WORK/ptr.pcap" -Q out
# nsenter, not ip netns exec: the same mount namespace as espgated (no difference for curl)
body=$(vm_nsx "$G" curl -sS --fail --max-time 15 http://192.168.88.10/index.html) ||
	vm_fail "curl from the gateway itself to the partner LAN"
vm_expect_eq "page from the partner LAN" partner-lan-page "$body"
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
vm_expect_eq "IPv4 packets leaving the gateway other than ESP/IKE to the partner" 0 \
	"$(grep ' IP ' "$VM_WORK/gw.pcap.txt" | grep -vcE 'IP 10\.1\.1\.66(\.[0-9]+)? > 192\.0\.2\.2(\.[0-9]+)?: (ESP|isakmp|UDP)')"
vm_expect_eq "clear packets between the sites leaving the partner" 0 \
	"$(grep -cE 'IP 192\.168\.88\.[0-9.]+ > (100\.64|10\.1)\.' "$VM_WORK/ptr.pcap.txt")"
eg_esp_seen "$VM_WORK/gw.pcap" "$VM_WORK/ptr.pcap" 10.1.1.66 192.0.2.2 "$out_spi" "$in_spi" partner
eg_ctl gw counters
