#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S10 (seed 004): both peers behind NAT, with the BPF datapath and real kernel SAs. espgate is
# "east", the initiator (examples/s10-nat-east.yaml); strongSwan is "west", the responder, which
# cannot know east's address (remote_addrs %any). They know each other only by FQDN identities
# @east / @west and a PSK. Each site sits behind a NAT router namespace, as two cloud VMs would:
#   east LAN 10.104.0.10 -- NAT-E (fabric router + NAT) -- internet -- NAT-W -- west (charon)
#                            |  172.16.1.1                 198.51.100.1   203.0.113.1 (public)
#                            espgate 172.16.1.2           203.0.113.254   172.16.2.2, LAN 10.103.0.1
# NAT-E masquerades east's traffic to 198.51.100.10 (UDP source ports remapped into 20000-29999,
# so the NAT shows in ports too); NAT-W masquerades west's and forwards UDP 500/4500 arriving at
# 203.0.113.1 to west (iptables DNAT, the EC2-style 1:1 forward). Asserts:
#   - the tunnel comes up with FQDN identities; both sides see the NAT on both sides and west sees
#     east at 198.51.100.10 with a remapped port, IKE on 4500;
#   - captured on the internet between the two NATs: only IKE_SA_INIT on UDP 500, everything
#     after it on UDP 4500 (IKE with the non-ESP marker, ESP-in-UDP), no plain ESP, nothing else;
#   - HTTP through the tunnel both ways (east LAN -> west LAN and back), ESP-in-UDP carrying it,
#     SA counters rising on both sides, the kernel SAs UDP-encapsulated;
#   - NAT-T keepalives (one 0xff byte to 4500) cross the internet from east (espgate) and west.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
command -v iptables >/dev/null || vm_skip "iptables not installed on the host (scripts/deps.sh test)"

EH=vm63eh NE=vm63ne E=vm63e I=vm63i NW=vm63nw W=vm63w
vm_ns "$EH" "$NE" "$E" "$I" "$NW" "$W"
vm_veth "$EH" eth0 10.104.0.10/24 "$NE" lan0 10.104.0.1/24
vm_veth "$NE" in0 172.16.1.1/24 "$E" eth0 172.16.1.2/24
vm_veth "$NE" out0 198.51.100.10/24 "$I" i1 198.51.100.1/24
vm_veth "$I" i2 203.0.113.254/24 "$NW" out0 203.0.113.1/24
vm_veth "$NW" in0 172.16.2.1/24 "$W" eth0 172.16.2.2/24
vm_dummy "$W" lan0 10.103.0.1/24
ip netns exec "$EH" ethtool -K eth0 tx off >/dev/null # wire-like checksums (see lib-espgate.sh)
ip -n "$EH" route add default via 10.104.0.1
ip -n "$E" route add default via 172.16.1.1
ip -n "$NE" route add default via 198.51.100.1
ip -n "$NE" route add 10.103.0.0/24 via 172.16.1.2 # the fabric sends the west LAN to espgate
ip -n "$NW" route add default via 203.0.113.254
ip -n "$W" route add default via 172.16.2.1
for ns in "$NE" "$I" "$NW" "$E"; do
	vm_forwarding "$ns"
done
ip netns exec "$E" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
ip netns exec "$NE" iptables -t nat -A POSTROUTING -o out0 -p udp -j MASQUERADE --to-ports 20000-29999 &&
	ip netns exec "$NE" iptables -t nat -A POSTROUTING -o out0 -j MASQUERADE &&
	ip netns exec "$NW" iptables -t nat -A PREROUTING -i out0 -p udp --dport 500 -j DNAT --to-destination 172.16.2.2 &&
	ip netns exec "$NW" iptables -t nat -A PREROUTING -i out0 -p udp --dport 4500 -j DNAT --to-destination 172.16.2.2 &&
	ip netns exec "$NW" iptables -t nat -A POSTROUTING -o out0 -j MASQUERADE ||
	vm_fail "iptables NAT rules (kernel modules: tests/vm/modules.list)"
ip netns exec "$NE" iptables -t nat -S
ip netns exec "$NW" iptables -t nat -S
vm_check "underlay: espgate reaches west's public address through both NATs" \
	vm_ping "$E" 172.16.1.2 203.0.113.1 1

PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" east-west "$PSK"
cat >"$VM_WORK/espgate.yaml" <<EOC
global:
  interfaces: eth0
  secrets: $VM_WORK/secrets.yaml
  natt_keepalive: 2s
tunnels:
  west:
    peer: 203.0.113.1
    local_id: "@east"
    remote_id: "@west"
    psk: east-west
    ike: aes256-sha256-ecp256
    esp: aes256-sha256
    nat_traversal: auto
    mode: initiator-only
    children:
      - name: lan
        local: 10.104.0.0/24
        remote: 10.103.0.0/24
        direction: both
EOC
cat >"$VM_WORK/west.conf" <<EOF
connections {
	east {
		version = 2
		local_addrs = 172.16.2.2
		remote_addrs = %any
		proposals = aes256-sha256-ecp256
		local {
			auth = psk
			id = @west
		}
		remote {
			auth = psk
			id = @east
		}
		children {
			lan {
				local_ts = 10.103.0.0/24
				remote_ts = 10.104.0.0/24
				esp_proposals = aes256-sha256
				mode = tunnel
				start_action = none
			}
		}
	}
}
secrets {
	ike-east {
		id-1 = @east
		id-2 = @west
		secret = "$PSK"
	}
}
EOF

vm_step "the tunnel: east (espgate) initiates to west's public address, FQDN identities"
# the whole exchange captured on the internet side of east's NAT
vm_capture_start "$I" i1 "$VM_WORK/inet.pcap" -B 4096 ip
vm_charon_start west "$W" "$VM_WORK/west.conf" "keep_alive = 2s"
eg_start gw "$E" "$VM_WORK/espgate.yaml"
vm_step "espgated started"
vm_check "espgatectl status: west ESTABLISHED" eg_wait_up gw west 90
vm_check "west: CHILD_SA lan installed" vm_wait_child west lan 30
st=$(eg_ctl gw status west)
echo "$st"
echo "$st" | grep -qE '^west +203\.0\.113\.1:4500 .*ESTABLISHED.*NAT-T' ||
	vm_fail "espgatectl status: not floated to 203.0.113.1:4500 with NAT-T"
echo "ok: espgate talks to 203.0.113.1:4500, NAT-T"
raw=$(vm_swanctl west --list-sas --raw)
echo "$raw"
for want in "local-id=west" "remote-id=east" "local-host=172.16.2.2" "local-port=4500" \
	"remote-host=198.51.100.10" "nat-local=yes" "nat-remote=yes"; do
	echo "$raw" | grep -q "$want" || vm_fail "west's IKE SA lacks $want"
done
nat_port=$(echo "$raw" | grep -oE 'remote-port=[0-9]+' | head -n 1 | cut -d= -f2)
[ "${nat_port:-0}" -ge 20000 ] && [ "$nat_port" -le 29999 ] ||
	vm_fail "west sees east from port ${nat_port:-none}, not a port NAT-E mapped"
echo "ok: west sees @east at 198.51.100.10:$nat_port, both sides behind NAT, IKE on 4500"
ip -n "$E" xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500' ||
	vm_fail "espgate's kernel SAs are not ESP-in-UDP 4500 <-> 4500"
ip -n "$W" xfrm state | grep -q "encap type espinudp sport 4500 dport $nat_port" ||
	vm_fail "west's kernel SAs are not ESP-in-UDP 4500 -> $nat_port"
echo "ok: kernel SAs UDP-encapsulated on both sides (espgate 4500<->4500, west 4500<->$nat_port)"

vm_step "HTTP through the tunnel, both ways"
eg_web "$W" 10.103.0.1 80 "west-lan-page"
eg_web "$EH" 10.104.0.10 80 "east-lan-page"
out_spi=$(vm_xfrm_spis "$E" 203.0.113.1)
in_spi=$(vm_xfrm_spis "$E" 172.16.1.2)
[ "$(echo "$out_spi" | wc -w)" = 1 ] && [ "$(echo "$in_spi" | wc -w)" = 1 ] ||
	vm_fail "expected one SA each way on espgate's side: out '$out_spi' in '$in_spi'"
body=$(eg_curl "$EH" http://10.103.0.1/index.html) || vm_fail "curl from the east LAN to the west LAN"
vm_expect_eq "page from the west LAN" west-lan-page "$body"
body=$(ip netns exec "$W" curl -sS --fail --max-time 15 --interface 10.103.0.1 \
	http://10.104.0.10/index.html) || vm_fail "curl from the west LAN to the east LAN"
vm_expect_eq "page from the east LAN" east-lan-page "$body"
for ns in "$E" "$W"; do
	for spi in $out_spi $in_spi; do
		n=$(vm_xfrm_packets "$ns" "$spi")
		[ "${n:-0}" -ge 8 ] || vm_fail "$ns: SA $spi counted ${n:-none} packets"
	done
done
echo "ok: SA counters rose on both sides"

vm_step "idle: NAT-T keepalives"
sleep 5
vm_capture_stop "$VM_WORK/inet.pcap"
pc() { vm_capture_count "$VM_WORK/inet.pcap" "$@"; }
n500=$(pc udp port 500)
init500=$(grep -E '\.500: isakmp.*ikev2_init|\.500 > .*isakmp.*ikev2_init' "$VM_WORK/inet.pcap.txt" | wc -l)
grep -E '\.500[: ]' "$VM_WORK/inet.pcap.txt"
[ "$n500" -ge 2 ] || vm_fail "IKE_SA_INIT was not seen on UDP 500 ($n500 packets)"
vm_expect_eq "UDP 500 packets that are not IKE_SA_INIT" 0 $((n500 - init500))
vm_expect_eq "plain ESP (IP proto 50) on the internet" 0 "$(pc esp)"
vm_expect_eq "packets neither UDP 500 nor 4500 on the internet" 0 \
	"$(pc not \( udp port 500 or udp port 4500 \))"
esp=$(vm_capture_grep "$VM_WORK/inet.pcap" "198\.51\.100\.10\.$nat_port > 203\.0\.113\.1\.4500: UDP-encap: ESP\(spi=$out_spi,")
espr=$(vm_capture_grep "$VM_WORK/inet.pcap" "203\.0\.113\.1\.4500 > 198\.51\.100\.10\.$nat_port: UDP-encap: ESP\(spi=$in_spi,")
[ "$esp" -ge 8 ] && [ "$espr" -ge 8 ] || vm_fail "ESP-in-UDP on the internet: east sent $esp, west sent $espr"
echo "ok: UDP 500 carried only IKE_SA_INIT ($n500 packets); ESP-in-UDP 4500 both ways (east $esp, west $espr), no plain ESP, nothing else"
ka_e=$(pc "src host 198.51.100.10 and src port $nat_port and dst port 4500 and udp[4:2] = 9 and udp[8] = 0xff")
ka_w=$(pc "src host 203.0.113.1 and src port 4500 and dst port $nat_port and udp[4:2] = 9 and udp[8] = 0xff")
[ "$ka_e" -ge 2 ] || vm_fail "espgate (east) sent $ka_e NAT-T keepalives across the NAT"
[ "$ka_w" -ge 1 ] || vm_fail "west sent $ka_w NAT-T keepalives across the NAT"
echo "ok: NAT-T keepalives crossed the internet: from east (espgate) $ka_e, from west $ka_w"
vm_check "espgatectl status: west still ESTABLISHED" eg_wait_up gw west 5
