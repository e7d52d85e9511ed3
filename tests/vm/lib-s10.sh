# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# S10 (seed 004) lab for the VM tier, sourced after lib.sh and lib-espgate.sh by
# scenarios/63-s10-both-nat.sh (espgate is east, the initiator) and 64-s10-espgate-west.sh
# (espgate is west, the responder): two single-NIC gateways, each behind a NAT router that is
# also its site's fabric router, as two cloud VMs behind 1:1 NAT would be.
#
#   east LAN host       NAT-E                   internet               NAT-W            west LAN host
#   10.104.0.10 --- lan0 10.104.0.1      i1 198.51.100.1        out0 203.0.113.1   lan0 10.103.0.1 --- 10.103.0.10
#                   in0  172.16.1.1  --- i2 203.0.113.254 ---   in0  172.16.2.1
#                   out0 198.51.100.10                           |
#                    |                                          west gateway 172.16.2.2
#                   east gateway 172.16.1.2
#
# NAT-E masquerades what leaves out0 (UDP source ports remapped into 20000-29999, so the NAT
# shows in ports too); NAT-W masquerades what leaves out0 and forwards UDP 500/4500 arriving at
# 203.0.113.1 to the west gateway (iptables DNAT). Each fabric routes the other site's LAN to its
# gateway. Neither gateway knows its public address; they know each other by @east / @west.

# s10_lab PREFIX: the namespaces ${P}eh ${P}ne ${P}e ${P}i ${P}nw ${P}w ${P}wh; sets EH NE E I NW W WH.
s10_lab() {
	EH=${1}eh NE=${1}ne E=${1}e I=${1}i NW=${1}nw W=${1}w WH=${1}wh
	local ns
	command -v iptables >/dev/null || vm_skip "iptables not installed on the host (scripts/deps.sh test)"
	vm_ns "$EH" "$NE" "$E" "$I" "$NW" "$W" "$WH"
	vm_veth "$EH" eth0 10.104.0.10/24 "$NE" lan0 10.104.0.1/24
	vm_veth "$NE" in0 172.16.1.1/24 "$E" eth0 172.16.1.2/24
	vm_veth "$NE" out0 198.51.100.10/24 "$I" i1 198.51.100.1/24
	vm_veth "$I" i2 203.0.113.254/24 "$NW" out0 203.0.113.1/24
	vm_veth "$NW" in0 172.16.2.1/24 "$W" eth0 172.16.2.2/24
	vm_veth "$NW" lan0 10.103.0.1/24 "$WH" eth0 10.103.0.10/24
	for ns in "$EH" "$WH"; do
		# wire-like checksums (see lib-espgate.sh)
		ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
	done
	ip -n "$EH" route add default via 10.104.0.1
	ip -n "$WH" route add default via 10.103.0.1
	ip -n "$E" route add default via 172.16.1.1
	ip -n "$W" route add default via 172.16.2.1
	ip -n "$NE" route add default via 198.51.100.1
	ip -n "$NW" route add default via 203.0.113.254
	ip -n "$NE" route add 10.103.0.0/24 via 172.16.1.2
	ip -n "$NW" route add 10.104.0.0/24 via 172.16.2.2
	for ns in "$NE" "$I" "$NW" "$E" "$W"; do
		vm_forwarding "$ns"
	done
	for ns in "$E" "$W"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.send_redirects=0 \
			net.ipv4.conf.eth0.send_redirects=0
	done
	ip netns exec "$NE" iptables -t nat -A POSTROUTING -o out0 -p udp -j MASQUERADE \
		--to-ports 20000-29999 &&
		ip netns exec "$NE" iptables -t nat -A POSTROUTING -o out0 -j MASQUERADE &&
		ip netns exec "$NW" iptables -t nat -A PREROUTING -i out0 -p udp --dport 500 \
			-j DNAT --to-destination 172.16.2.2 &&
		ip netns exec "$NW" iptables -t nat -A PREROUTING -i out0 -p udp --dport 4500 \
			-j DNAT --to-destination 172.16.2.2 &&
		ip netns exec "$NW" iptables -t nat -A POSTROUTING -o out0 -j MASQUERADE ||
		vm_fail "iptables NAT rules (kernel modules: tests/vm/modules.list)"
	ip netns exec "$NE" iptables -t nat -S
	ip netns exec "$NW" iptables -t nat -S
	vm_check "underlay: east reaches west's public address through both NATs" \
		vm_ping "$E" 172.16.1.2 203.0.113.1 1
}

# s10_espgate_conf FILE SECRETS ROLE: espgated's configuration as examples/s10-nat-east.yaml
# (ROLE east: initiator to 203.0.113.1) or s10-nat-west.yaml (ROLE west: peer any, responder).
s10_espgate_conf() {
	{
		cat <<-EOF
			global:
			  interfaces: eth0
			  secrets: $2
			  natt_keepalive: 2s
			tunnels:
		EOF
		if [ "$3" = east ]; then
			cat <<-EOF
				  west:
				    peer: 203.0.113.1
				    local_id: "@east"
				    remote_id: "@west"
				    mode: initiator-only
			EOF
		else
			cat <<-EOF
				  east:
				    peer: any
				    local_id: "@west"
				    remote_id: "@east"
				    mode: responder-only
			EOF
		fi
		cat <<-EOF
			    psk: east-west
			    ike: aes256-sha256-ecp256
			    esp: aes256-sha256
			    nat_traversal: auto
			    children:
			      - name: lan
			        local: $([ "$3" = east ] && echo 10.104.0.0/24 || echo 10.103.0.0/24)
			        remote: $([ "$3" = east ] && echo 10.103.0.0/24 || echo 10.104.0.0/24)
			        direction: both
		EOF
	} >"$1"
}

# s10_charon_conf FILE PSK ROLE: strongSwan as ROLE (east: initiates to 203.0.113.1; west:
# remote_addrs %any, responds), connection and child both named "lan".
s10_charon_conf() {
	local me=$3 other laddr raddr lts rts
	if [ "$me" = east ]; then
		other=west laddr=172.16.1.2 raddr=203.0.113.1 lts=10.104.0.0/24 rts=10.103.0.0/24
	else
		other=east laddr=172.16.2.2 raddr=%any lts=10.103.0.0/24 rts=10.104.0.0/24
	fi
	cat >"$1" <<-EOF
		connections {
			lan {
				version = 2
				local_addrs = $laddr
				remote_addrs = $raddr
				proposals = aes256-sha256-ecp256
				local {
					auth = psk
					id = @$me
				}
				remote {
					auth = psk
					id = @$other
				}
				children {
					lan {
						local_ts = $lts
						remote_ts = $rts
						esp_proposals = aes256-sha256
						mode = tunnel
						start_action = none
					}
				}
			}
		}
		secrets {
			ike-lan {
				id-1 = @east
				id-2 = @west
				secret = "$2"
			}
		}
	EOF
}

# s10_check_ike CHARON-NAME: the IKE SA as both sides see it once it is up: FQDN identities, NAT
# on both sides, IKE floated to 4500, east seen at 198.51.100.10 from a port NAT-E mapped, the
# kernel SAs UDP-encapsulated with those ports. Sets NAT_PORT (east's public source port).
s10_check_ike() {
	local raw want ens wns
	raw=$(vm_swanctl "$1" --list-sas --raw)
	echo "$raw"
	for want in "nat-local=yes" "nat-remote=yes" "local-port=4500" "remote-port="; do
		echo "$raw" | grep -q "$want" || vm_fail "strongSwan's IKE SA lacks $want"
	done
	if echo "$raw" | grep -q "local-id=west"; then
		for want in "remote-id=east" "local-host=172.16.2.2" "remote-host=198.51.100.10"; do
			echo "$raw" | grep -q "$want" || vm_fail "west's IKE SA lacks $want"
		done
		NAT_PORT=$(echo "$raw" | grep -oE 'remote-port=[0-9]+' | head -n 1 | cut -d= -f2)
	else
		for want in "local-id=east" "remote-id=west" "local-host=172.16.1.2" \
			"remote-host=203.0.113.1" "remote-port=4500"; do
			echo "$raw" | grep -q "$want" || vm_fail "east's IKE SA lacks $want"
		done
		# east's public port, as the west gateway (espgate) sees it
		NAT_PORT=$(eg_ctl gw status east | grep -oE '^east +198\.51\.100\.10:[0-9]+' | cut -d: -f2)
	fi
	[ "${NAT_PORT:-0}" -ge 20000 ] && [ "$NAT_PORT" -le 29999 ] ||
		vm_fail "east seen from port ${NAT_PORT:-none}, not a port NAT-E mapped"
	echo "ok: FQDN identities @east/@west, NAT on both sides, east at 198.51.100.10:$NAT_PORT"
	ens=$(ip -n "$E" xfrm state | grep -c 'encap type espinudp sport 4500 dport 4500')
	wns=$(ip -n "$W" xfrm state | grep -c "encap type espinudp sport 4500 dport $NAT_PORT")
	[ "$ens" = 2 ] || vm_fail "east's kernel SAs: $ens of 2 are ESP-in-UDP 4500 <-> 4500"
	[ "$wns" = 1 ] && [ "$(ip -n "$W" xfrm state | grep -c "encap type espinudp sport $NAT_PORT dport 4500")" = 1 ] ||
		vm_fail "west's kernel SAs are not ESP-in-UDP 4500 <-> $NAT_PORT"
	echo "ok: kernel SAs UDP-encapsulated (east 4500<->4500, west 4500<->$NAT_PORT)"
}

# s10_traffic: HTTP from the east LAN to the west LAN and back; sets E_OUT / E_IN (east's SPIs)
# and checks that both kernels' SAs counted it.
s10_traffic() {
	local body ns spi n
	[ -f "$VM_WORK/www-$WH/index.html" ] || eg_web "$WH" 10.103.0.10 80 "west-lan-page"
	[ -f "$VM_WORK/www-$EH/index.html" ] || eg_web "$EH" 10.104.0.10 80 "east-lan-page"
	E_OUT=$(vm_xfrm_spis "$E" 203.0.113.1)
	E_IN=$(vm_xfrm_spis "$E" 172.16.1.2)
	[ "$(echo "$E_OUT" | wc -w)" = 1 ] && [ "$(echo "$E_IN" | wc -w)" = 1 ] ||
		vm_fail "expected one SA each way at east: out '$E_OUT' in '$E_IN'"
	body=$(eg_curl "$EH" http://10.103.0.10/index.html) || vm_fail "curl east LAN -> west LAN"
	vm_expect_eq "page from the west LAN" west-lan-page "$body"
	body=$(eg_curl "$WH" http://10.104.0.10/index.html) || vm_fail "curl west LAN -> east LAN"
	vm_expect_eq "page from the east LAN" east-lan-page "$body"
	for ns in "$E" "$W"; do
		for spi in $E_OUT $E_IN; do
			n=$(vm_xfrm_packets "$ns" "$spi")
			[ "${n:-0}" -ge 8 ] || vm_fail "$ns: SA $spi counted ${n:-none} packets"
		done
	done
	echo "ok: SA counters rose on both sides"
}

# s10_wire_checks PCAP: a capture on the internet (i1, the public side of NAT-E) covering the
# whole life of the tunnel: UDP 500 carried IKE_SA_INIT only, everything else is UDP 4500 (no
# plain ESP, nothing in clear), ESP-in-UDP both ways with east's SPIs, and NAT-T keepalives
# (0xff to 4500) from east (at least 2) and from west (at least 1).
s10_wire_checks() {
	local f=$1 n500 init500 esp espr ka_e ka_w
	n500=$(vm_capture_count "$f" udp port 500)
	grep -E '\.500[: ]' "$f.txt"
	init500=$(grep -cE '\.500( >|:) .*isakmp.*ikev2_init' "$f.txt")
	[ "$n500" -ge 2 ] || vm_fail "IKE_SA_INIT was not seen on UDP 500 ($n500 packets)"
	vm_expect_eq "UDP 500 packets that are not IKE_SA_INIT" 0 $((n500 - init500))
	vm_expect_eq "plain ESP (IP proto 50) on the internet" 0 "$(vm_capture_count "$f" esp)"
	vm_expect_eq "packets neither UDP 500 nor 4500 on the internet" 0 \
		"$(vm_capture_count "$f" not \( udp port 500 or udp port 4500 \))"
	esp=$(vm_capture_grep "$f" "198\.51\.100\.10\.$NAT_PORT > 203\.0\.113\.1\.4500: UDP-encap: ESP\(spi=$E_OUT,")
	espr=$(vm_capture_grep "$f" "203\.0\.113\.1\.4500 > 198\.51\.100\.10\.$NAT_PORT: UDP-encap: ESP\(spi=$E_IN,")
	[ "$esp" -ge 8 ] && [ "$espr" -ge 8 ] ||
		vm_fail "ESP-in-UDP on the internet: east sent $esp, west sent $espr"
	echo "ok: UDP 500 carried only IKE_SA_INIT ($n500 packets); ESP-in-UDP on 4500 both ways (east $esp, west $espr); no plain ESP, nothing else"
	ka_e=$(vm_capture_count "$f" "src host 198.51.100.10 and src port $NAT_PORT and dst port 4500 and udp[4:2] = 9 and udp[8] = 0xff")
	ka_w=$(vm_capture_count "$f" "src host 203.0.113.1 and src port 4500 and dst port $NAT_PORT and udp[4:2] = 9 and udp[8] = 0xff")
	[ "$ka_e" -ge 2 ] || vm_fail "east sent $ka_e NAT-T keepalives across the NATs"
	[ "$ka_w" -ge 1 ] || vm_fail "west sent $ka_w NAT-T keepalives across the NATs"
	echo "ok: NAT-T keepalives crossed the internet: from east $ka_e, from west $ka_w"
}
