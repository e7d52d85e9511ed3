#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S3 (seed 000): SNAT on our side, DNAT on the partner's, and a service we publish, with the BPF
# datapath and real kernel SAs against strongSwan. Addresses are the seed's: the partner's router
# (MikroTik in the seed, strongSwan + nftables here) publishes 203.0.113.10:8080 -> the web host
# 192.168.88.1:80 on its LAN; espgate's child is 100.64.0.18/32 <-> 203.0.113.0/24 with
# snat 10.1.1.66 -> 100.64.0.18 and publish 100.64.0.18:8080 -> 10.1.2.10:80. (In the seed
# 192.168.88.1 is the MikroTik itself; here it is a separate web host so that a capture on the
# partner's LAN shows what the partner's network sees. The router's LAN address is .254.)
# Asserts:
#  - `curl 203.0.113.10:8080` from 10.1.1.66 gets the partner's page; the partner's LAN sees only
#    100.64.0.18; only ESP between the sites; the SA counters rise on both sides.
#  - the partner (from 203.0.113.20, inside its selector) reaches 100.64.0.18:8080, which is
#    10.1.2.10:80; 10.1.2.10 sees the partner's own address (publish is a DNAT only: docs/CONFIG.md).
#  - everything else of ours stays closed to the partner, dropped and counted by reason: other
#    ports of 100.64.0.18 (DROP_ONEWAY), and a misbehaving partner sending to 10.1.2.10 itself
#    through its SA (DROP_SELECTOR).
#  - a second partner whose selectors also cover 100.64.0.18 cannot reach the publication, which
#    belongs to the first partner's child only.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
# Lines starting with "| " are the lab's story for `make demo` (scripts/demo.sh shows them last).
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

# The lab: eg_lab's (../lib-espgate.sh), with the partner's LAN renumbered, a second VNet host
# 10.1.2.10 (the published service) and a second partner (router 198.51.100.2, LAN 172.30.0.0/24).
H=vm54h N=vm54n G=vm54g P=vm54p W=vm54w V=vm54v Q=vm54q
vm_ns "$H" "$N" "$G" "$P" "$W" "$V" "$Q"
vm_veth "$H" eth0 10.1.1.66/24 "$N" n1 10.1.1.1/24
vm_veth "$V" eth0 10.1.2.10/24 "$N" n3 10.1.2.1/24
vm_veth "$N" n0 10.1.0.1/24 "$G" eth0 10.1.0.4/24
vm_veth "$N" n2 192.0.2.1/24 "$P" eth0 192.0.2.2/24
vm_veth "$N" n4 198.51.100.1/24 "$Q" eth0 198.51.100.2/24
vm_veth "$P" lan0 192.168.88.254/24 "$W" eth0 192.168.88.1/24
vm_dummy "$P" pub0 203.0.113.20/32 # the partner's own address inside its selector
vm_dummy "$Q" lan0 172.30.0.10/24
for ns in "$H" "$V" "$W"; do
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null # complete checksums, as from a wire
done
ip -n "$H" route add default via 10.1.1.1
ip -n "$V" route add default via 10.1.2.1
ip -n "$G" route add default via 10.1.0.1
ip -n "$P" route add default via 192.0.2.1
ip -n "$Q" route add default via 198.51.100.1
ip -n "$W" route add default via 192.168.88.254
# the fabric: the partners' ranges are reached through the gateway (a UDR in Azure)
ip -n "$N" route add 203.0.113.0/24 via 10.1.0.4
ip -n "$N" route add 172.30.0.0/24 via 10.1.0.4
for ns in "$N" "$G" "$P"; do
	vm_forwarding "$ns"
done
ip netns exec "$G" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
vm_check "underlay: gateway reaches both partners" \
	bash -c "ip netns exec $G ping -q -n -c 1 -W 3 192.0.2.2 && ip netns exec $G ping -q -n -c 1 -W 3 198.51.100.2"

# The partner router's dst-nat (the seed's MikroTik rule, in nftables).
ip netns exec "$P" nft -f - <<'EOF' || vm_fail "partner's DNAT rule (nftables nat: nft_chain_nat, nft_nat)"
table ip ptrnat {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr 203.0.113.10 tcp dport 8080 counter dnat to 192.168.88.1:80
	}
	chain post {
		type nat hook postrouting priority srcnat;
	}
}
EOF

PSK=$(eg_psk)
PSK2=$(eg_psk)
(
	umask 077
	printf 'psk:\n  partner: "%s"\n  other: "%s"\n' "$PSK" "$PSK2" >"$VM_WORK/secrets.yaml"
)
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
      - name: web
        local: 100.64.0.18/32
        remote: 203.0.113.0/24
        nat:
          - type: snat
            inside: 10.1.1.66
            outside: 100.64.0.18
          - type: publish
            proto: tcp
            outside: 100.64.0.18:8080
            inside: 10.1.2.10:80
  other:
    peer: 198.51.100.2
    local_address: 10.1.0.4
    psk: other
    ike: aes256-sha256-ecp384
    esp: aes256-sha256-ecp384
    start: start
    children:
      - name: lan
        local: 100.64.0.0/24
        remote: 172.30.0.0/24
EOC
EG_PARTNER_LTS=203.0.113.0/24 EG_PARTNER_RTS=100.64.0.18/32 \
	eg_partner_conf "$VM_WORK/partner.conf" "$PSK"
EG_PARTNER_LTS=172.30.0.0/24 EG_PARTNER_RTS=100.64.0.0/24 \
	eg_partner_conf "$VM_WORK/other.conf" "$PSK2"
sed -i 's/192\.0\.2\.2/198.51.100.2/g' "$VM_WORK/other.conf"

# story LINES...: the lab's story for make demo, as "| " lines (stdin if no argument)
story() {
	if [ $# -gt 0 ]; then printf '| %s\n' "$@"; else sed 's/^/| /'; fi
}

vm_step "tunnels up (espgate initiates both)"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
vm_charon_start other "$Q" "$VM_WORK/other.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "espgatectl status: other ESTABLISHED" eg_wait_up gw other 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
vm_check "other: CHILD_SA lan installed" vm_wait_child other lan 30

vm_step "curl 203.0.113.10:8080 from 10.1.1.66: the partner's DNAT, our SNAT"
eg_web "$W" 192.168.88.1 80 "partner-published-page"
eg_web "$V" 10.1.2.10 80 "vnet-published-page"
out_spi=$(vm_xfrm_spis "$G" 192.0.2.2)
in_spi=$(vm_xfrm_spis "$G" 10.1.0.4 | while read -r s; do
	[ "$(vm_xfrm_spis "$P" 10.1.0.4 | grep -c "^$s$")" = 1 ] && echo "$s"
done)
[ "$(echo "$out_spi" | wc -w)" = 1 ] && [ "$(echo "$in_spi" | wc -w)" = 1 ] ||
	vm_fail "expected one SA each way with the partner, got out='$out_spi' in='$in_spi'"
vm_capture_start "$W" eth0 "$VM_WORK/lan.pcap"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out 'host 192.0.2.2'
vm_capture_start "$P" eth0 "$VM_WORK/ptr.pcap" -Q out
body=$(eg_curl "$H" http://203.0.113.10:8080/index.html) ||
	vm_fail "curl 203.0.113.10:8080 from 10.1.1.66"
vm_expect_eq "page published by the partner (203.0.113.10:8080 -> 192.168.88.1:80)" \
	partner-published-page "$body"
story "" "\$ curl http://203.0.113.10:8080/index.html    # on the VNet workload 10.1.1.66" "$body"
# a closed flow leaves the NAT table 10 s after its FIN: look now, before the captures are decoded
story "" "\$ espgatectl nat    # the gateway's view of that connection"
eg_ctl gw nat | story
vm_check "espgatectl nat shows 10.1.1.66 translated to 100.64.0.18" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock nat | grep -qE '10\.1\.1\.66:[0-9]+ -> 203\.0\.113\.10:8080 +100\.64\.0\.18:[0-9]+ -> 203\.0\.113\.10:8080'"
vm_capture_stop "$VM_WORK/lan.pcap"
vm_capture_stop "$VM_WORK/gw.pcap"
vm_capture_stop "$VM_WORK/ptr.pcap"
story "" "# what the partner's web server 192.168.88.1 receives (tcpdump on the partner's LAN):"
grep ' IP ' "$VM_WORK/lan.pcap.txt" | head -n 4 | cut -c1-120 | story
story "# between the sites (tcpdump on the gateway's NIC, towards the partner):"
grep ' > 192\.0\.2\.2' "$VM_WORK/gw.pcap.txt" | head -n 3 | story
from_snat=$(vm_capture_grep "$VM_WORK/lan.pcap" 'IP 100\.64\.0\.18\.[0-9]+ > 192\.168\.88\.1\.80:')
[ "$from_snat" -ge 3 ] || vm_fail "the partner's web host saw $from_snat packets from 100.64.0.18"
vm_expect_eq "IPv4 packets on the partner's LAN other than 100.64.0.18 <-> 192.168.88.1:80" 0 \
	"$(grep -vcE 'IP (100\.64\.0\.18\.[0-9]+ > 192\.168\.88\.1\.80|192\.168\.88\.1\.80 > 100\.64\.0\.18\.[0-9]+):|ARP|IP6 ' \
		"$VM_WORK/lan.pcap.txt")"
echo "ok: the partner's LAN saw only 100.64.0.18 ($from_snat packets)"
vm_check "the partner's DNAT rule counted the connection" bash -c \
	"ip netns exec $P nft list table ip ptrnat | grep -qE 'counter packets [1-9]'"
vm_expect_eq "clear packets between the sites leaving the gateway" 0 \
	"$(grep -vcE ': ESP|isakmp|UDP' "$VM_WORK/gw.pcap.txt")"
vm_expect_eq "clear packets between the sites leaving the partner" 0 \
	"$(grep -cE 'IP (203\.0\.113|192\.168\.88)\.[0-9.]+ > (100\.64|10\.1)\.' "$VM_WORK/ptr.pcap.txt")"
eg_esp_seen "$VM_WORK/gw.pcap" "$VM_WORK/ptr.pcap" 10.1.0.4 192.0.2.2 "$out_spi" "$in_spi" partner
story "" "\$ espgatectl status"
eg_ctl gw status | story

vm_step "mirror: the partner opens 100.64.0.18:8080, published as 10.1.2.10:80"
vm_capture_start "$V" eth0 "$VM_WORK/svc.pcap"
body=$(ip netns exec "$P" curl -sS --fail --max-time 15 --interface 203.0.113.20 \
	http://100.64.0.18:8080/index.html) || vm_fail "the partner's curl to 100.64.0.18:8080"
vm_expect_eq "page of the published VNet service" vnet-published-page "$body"
story "" "\$ curl --interface 203.0.113.20 http://100.64.0.18:8080/index.html    # on the partner's router" "$body"
story "" "\$ espgatectl nat    # our publication 100.64.0.18:8080 -> 10.1.2.10:80"
eg_ctl gw nat | story
vm_check "espgatectl nat shows the published flow" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock nat | grep -qE '10\.1\.2\.10:80'"
vm_capture_stop "$VM_WORK/svc.pcap"
story "" "# what the published VNet service 10.1.2.10 receives:"
grep ' IP ' "$VM_WORK/svc.pcap.txt" | head -n 2 | cut -c1-120 | story
from_ptr=$(vm_capture_grep "$VM_WORK/svc.pcap" 'IP 203\.0\.113\.20\.[0-9]+ > 10\.1\.2\.10\.80:')
[ "$from_ptr" -ge 3 ] || vm_fail "10.1.2.10 saw $from_ptr packets from the partner's 203.0.113.20"
echo "ok: 10.1.2.10 sees the partner's own address 203.0.113.20 ($from_ptr packets; publish is DNAT only)"

vm_step "nothing else of ours is open to the partner"
ctr() { eg_ctl gw counters | awk -v r="$1" '$1 == r { print $2 }'; }
before=$(ctr DROP_ONEWAY)
story "" "# the partner tries anything else of ours: nothing answers"
for port in 80 8081; do
	ip netns exec "$P" curl -sS --max-time 2 --interface 203.0.113.20 "http://100.64.0.18:$port/" &&
		vm_fail "the partner opened 100.64.0.18:$port (not published)"
	story "\$ curl --interface 203.0.113.20 http://100.64.0.18:$port/    # on the partner's router: timed out"
done
after=$(ctr DROP_ONEWAY)
[ "${after:-0}" -ge $((${before:-0} + 2)) ] ||
	vm_fail "DROP_ONEWAY did not count the partner's SYNs to unpublished ports (${before:-0} -> ${after:-0})"
echo "ok: 100.64.0.18:80/8081 closed to the partner, DROP_ONEWAY ${before:-0} -> $after"

# A misbehaving partner: a policy of its own sends 203.0.113.20 -> 10.1.2.10 (outside the
# negotiated selectors) through its SA. espgate's tc checks the decrypted packet (fail closed).
reqid=$(ip -n "$P" xfrm state | awk '/^src 192\.0\.2\.2 dst 10\.1\.0\.4/ { hit = 1 } hit && /reqid/ {
	for (i = 1; i <= NF; i++) if ($i == "reqid") { print $(i + 1); exit } }')
[ -n "$reqid" ] || vm_fail "no reqid of the partner's outbound SA"
ip -n "$P" xfrm policy add src 203.0.113.20/32 dst 10.1.2.0/24 dir out priority 100 \
	tmpl src 192.0.2.2 dst 10.1.0.4 proto esp reqid "$reqid" mode tunnel ||
	vm_fail "the partner's rogue out policy"
before=$(ctr DROP_SELECTOR)
spkts=$(vm_xfrm_packets "$P" "$in_spi")
vm_capture_start "$V" eth0 "$VM_WORK/rogue.pcap"
ip netns exec "$P" curl -sS --max-time 2 --interface 203.0.113.20 http://10.1.2.10/ &&
	vm_fail "the partner reached 10.1.2.10 directly through its SA"
story "\$ curl --interface 203.0.113.20 http://10.1.2.10/    # its own policy sends it through the SA: timed out"
vm_capture_stop "$VM_WORK/rogue.pcap"
after=$(ctr DROP_SELECTOR)
[ "$(vm_xfrm_packets "$P" "$in_spi")" -gt "$spkts" ] ||
	vm_fail "the rogue packets did not leave through the partner's SA (the test did not test)"
vm_expect_eq "packets from the partner reaching 10.1.2.10 directly" 0 \
	"$(vm_capture_grep "$VM_WORK/rogue.pcap" 'IP 203\.0\.113\.20')"
[ "${after:-0}" -gt "${before:-0}" ] ||
	vm_fail "DROP_SELECTOR did not count the partner's packets to 10.1.2.10 (${before:-0} -> ${after:-0})"
echo "ok: the partner's packets to 10.1.2.10 through its SA dropped, DROP_SELECTOR ${before:-0} -> $after"
ip -n "$P" xfrm policy del src 203.0.113.20/32 dst 10.1.2.0/24 dir out

vm_step "the publication belongs to the partner's child only: the other partner cannot use it"
before=$(ctr DROP_ONEWAY)
ospi=$(vm_xfrm_spis "$Q" 10.1.0.4)
o1=$(vm_xfrm_packets "$Q" "$ospi")
ip netns exec "$Q" curl -sS --max-time 2 --interface 172.30.0.10 http://100.64.0.18:8080/index.html &&
	vm_fail "the other partner reached the publication 100.64.0.18:8080"
story "\$ curl --interface 172.30.0.10 http://100.64.0.18:8080/    # on the other partner's router: timed out"
[ "$(vm_xfrm_packets "$Q" "$ospi")" -gt "${o1:-0}" ] ||
	vm_fail "the other partner's SYNs did not leave through its SA (the test did not test)"
story "" "\$ espgatectl counters    # each of those counted as a drop with its reason"
eg_ctl gw counters | story
after=$(ctr DROP_ONEWAY)
[ "${after:-0}" -gt "${before:-0}" ] ||
	vm_fail "DROP_ONEWAY did not count the other partner's SYNs to 100.64.0.18:8080 (${before:-0} -> ${after:-0})"
echo "ok: the other partner's connection to 100.64.0.18:8080 dropped, DROP_ONEWAY ${before:-0} -> $after"
