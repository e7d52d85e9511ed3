#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S4 (seed 001), the core promise with a misbehaving partner, real kernel ESP: two partners, red
# (LAN 10.1.0.0/16) and blue (LAN 10.2.0.0/16), both reach our hub 172.16.1.0/24 through espgate
# and must never reach each other through it. Red's router (strongSwan) is configured with wide
# selectors, 10.0.0.0/8 <-> 0.0.0.0/0; espgate narrows them to 10.1.0.0/16 <-> 172.16.1.0/24. Red's
# router then misbehaves on purpose: extra XFRM policies in its kernel push into its tunnel
#   - traffic from its LAN to blue's LAN (10.1.0.10 -> 10.2.0.10: transit through espgate), and
#   - traffic to the hub from a source in blue's range (10.2.0.99 -> 172.16.1.10: impersonation).
# Asserts, with red initiating and again with espgate initiating: red really sent those packets
# as ESP (capture), espgate decrypted them (SA counters) and dropped every one, counted by reason
# (DROP_SELECTOR or DROP_TRANSIT); blue's LAN and router and the hub host never receive them
# (captures), nothing left espgate towards blue; and red<->hub and blue<->hub HTTP works.
# vm-timeout: 400
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (the check is BPF's)"

G=vm65g N=vm65n R=vm65r RW=vm65rw B=vm65b BW=vm65bw HB=vm65h
vm_ns "$G" "$N" "$R" "$RW" "$B" "$BW" "$HB"
# fabric router N: the gateway's subnet, the hub, and the internet towards both partners
vm_veth "$N" n0 172.16.0.1/24 "$G" eth0 172.16.0.4/24
vm_veth "$N" n1 172.16.1.1/24 "$HB" eth0 172.16.1.10/24
vm_veth "$N" n2 192.0.2.1/24 "$R" eth0 192.0.2.2/24
vm_veth "$N" n3 198.51.100.1/24 "$B" eth0 198.51.100.2/24
vm_veth "$R" lan0 10.1.0.1/24 "$RW" eth0 10.1.0.10/24
vm_veth "$B" lan0 10.2.0.1/24 "$BW" eth0 10.2.0.10/24
for ns in "$HB" "$RW" "$BW"; do
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null # complete checksums, as from a wire
done
ip -n "$G" route add default via 172.16.0.1
ip -n "$HB" route add default via 172.16.1.1
ip -n "$R" route add default via 192.0.2.1
ip -n "$B" route add default via 198.51.100.1
ip -n "$RW" route add default via 10.1.0.1
ip -n "$BW" route add default via 10.2.0.1
# the partners' LANs are reached through the gateway (a UDR in Azure)
ip -n "$N" route add 10.1.0.0/16 via 172.16.0.4
ip -n "$N" route add 10.2.0.0/16 via 172.16.0.4
for ns in "$N" "$G" "$R" "$B"; do
	vm_forwarding "$ns"
done
ip netns exec "$G" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
vm_check "underlay: gateway reaches red" vm_ping "$G" 172.16.0.4 192.0.2.2 1
vm_check "underlay: gateway reaches blue" vm_ping "$G" 172.16.0.4 198.51.100.2 1

PSK_R=$(eg_psk)
PSK_B=$(eg_psk)
(
	umask 077
	printf 'psk:\n  red: "%s"\n  blue: "%s"\n' "$PSK_R" "$PSK_B" >"$VM_WORK/secrets.yaml"
)
cat >"$VM_WORK/espgate.yaml" <<EOF
global:
  interfaces: eth0
  secrets: $VM_WORK/secrets.yaml
tunnels:
  red:
    peer: 192.0.2.2
    local_address: 172.16.0.4
    psk: red
    ike: aes256-sha256-modp2048
    esp: aes256-sha256
    start: none
    children:
      - name: hub
        local: 172.16.1.0/24
        remote: 10.1.0.0/16
        direction: both
  blue:
    peer: 198.51.100.2
    local_address: 172.16.0.4
    psk: blue
    ike: aes256-sha256-modp2048
    esp: aes256-sha256
    start: start
    children:
      - name: hub
        local: 172.16.1.0/24
        remote: 10.2.0.0/16
        direction: both
EOF
# partner NAME ADDR PSK LOCAL_TS REMOTE_TS
partner() {
	cat <<-EOF
		connections {
			gw {
				version = 2
				local_addrs = $2
				remote_addrs = 172.16.0.4
				proposals = aes256-sha256-modp2048
				local {
					auth = psk
					id = $2
				}
				remote {
					auth = psk
					id = 172.16.0.4
				}
				children {
					hub {
						local_ts = $4
						remote_ts = $5
						esp_proposals = aes256-sha256
						start_action = none
					}
				}
			}
		}
		secrets {
			ike-gw {
				id-1 = 172.16.0.4
				id-2 = $2
				secret = "$3"
			}
		}
	EOF
}
# red: the seed's misconfigured router, wide selectors
partner red 192.0.2.2 "$PSK_R" 10.0.0.0/8 0.0.0.0/0 >"$VM_WORK/red.conf"
partner blue 198.51.100.2 "$PSK_B" 10.2.0.0/16 172.16.1.0/24 >"$VM_WORK/blue.conf"

# web NS ADDR TEXT
web() {
	local d=$VM_WORK/www-$1
	mkdir -p "$d"
	echo "$3" >"$d/index.html"
	ip netns exec "$1" busybox httpd -f -p "$2:80" -h "$d" &
	VM_PIDS+=($!)
}
web "$HB" 172.16.1.10 hub-page
web "$RW" 10.1.0.10 red-page
web "$BW" 10.2.0.10 blue-page
# the misbehaving router's extra source address in blue's range
ip -n "$R" addr add 10.2.0.99/32 dev lo

vm_charon_start red "$R" "$VM_WORK/red.conf"
vm_charon_start blue "$B" "$VM_WORK/blue.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"

# legit TAG: red <-> hub and blue <-> hub HTTP work
legit() {
	local body
	body=$(eg_curl "$HB" http://10.1.0.10/index.html) || vm_fail "$1: hub -> red"
	vm_expect_eq "$1: hub -> red LAN" red-page "$body"
	body=$(eg_curl "$RW" http://172.16.1.10/index.html) || vm_fail "$1: red -> hub"
	vm_expect_eq "$1: red LAN -> hub" hub-page "$body"
	body=$(eg_curl "$HB" http://10.2.0.10/index.html) || vm_fail "$1: hub -> blue"
	vm_expect_eq "$1: hub -> blue LAN" blue-page "$body"
	body=$(eg_curl "$BW" http://172.16.1.10/index.html) || vm_fail "$1: blue -> hub"
	vm_expect_eq "$1: blue LAN -> hub" hub-page "$body"
}

# narrowed TAG: red's CHILD SA and its kernel policies are narrowed to 10.1.0.0/16 === hub
narrowed() {
	local sas
	sas=$(vm_swanctl red --list-sas)
	echo "$sas"
	echo "$sas" | grep -qE '^ +local +10\.1\.0\.0/16$' &&
		echo "$sas" | grep -qE '^ +remote +172\.16\.1\.0/24$' ||
		vm_fail "$1: red's CHILD SA is not narrowed to 10.1.0.0/16 === 172.16.1.0/24"
	echo "ok: $1: red's wide proposal narrowed to 10.1.0.0/16 === 172.16.1.0/24"
}

# egstat NAME: espgate's datapath counter NAME (packets)
egstat() { eg_ctl gw counters | awk -v n="$1" '$1 == n { print $2 }'; }

# misbehave TAG: red pushes transit and impersonating traffic into its SA; espgate drops it all
misbehave() {
	local tag=$1 rq spi_in pk0 pk1 sel0 tr0 sel1 tr1 esp_r dropped
	rq=$(ip -n "$R" xfrm policy list dir out | awk '
		/^src 10\.1\.0\.0\/16 dst 172\.16\.1\.0\/24/ { hit = 1 }
		hit && / reqid / { for (i = 1; i <= NF; i++) if ($i == "reqid") { print $(i + 1); exit } }')
	[ -n "$rq" ] || vm_fail "$tag: no narrowed out policy in red's kernel"
	ip -n "$R" xfrm policy add src 10.1.0.0/16 dst 10.2.0.0/16 dir out priority 100 \
		tmpl src 192.0.2.2 dst 172.16.0.4 proto esp reqid "$rq" mode tunnel ||
		vm_fail "$tag: red: forcing policy to blue's LAN"
	ip -n "$R" xfrm policy add src 10.2.0.0/16 dst 172.16.1.0/24 dir out priority 100 \
		tmpl src 192.0.2.2 dst 172.16.0.4 proto esp reqid "$rq" mode tunnel ||
		vm_fail "$tag: red: forcing policy from blue's range"
	spi_in=$(vm_xfrm_spis "$G" 172.16.0.4 | while read -r s; do
		eg_ctl gw status red | grep -q "in  spi $(printf %08x $((s)))" && echo "$s"
	done)
	[ "$(echo "$spi_in" | wc -w)" = 1 ] || vm_fail "$tag: red's inbound SA in the gateway: '$spi_in'"
	pk0=$(vm_xfrm_packets "$G" "$spi_in")
	sel0=$(egstat DROP_SELECTOR)
	tr0=$(egstat DROP_TRANSIT)
	vm_capture_start "$R" eth0 "$VM_WORK/$tag-r.pcap" -Q out
	vm_capture_start "$G" eth0 "$VM_WORK/$tag-g.pcap" -Q out
	vm_capture_start "$B" eth0 "$VM_WORK/$tag-b.pcap"
	vm_capture_start "$BW" eth0 "$VM_WORK/$tag-bw.pcap"
	vm_capture_start "$HB" eth0 "$VM_WORK/$tag-h.pcap"
	ip netns exec "$RW" curl -sS --max-time 4 http://10.2.0.10/index.html &&
		vm_fail "$tag: red's LAN reached blue's LAN through espgate"
	ip netns exec "$RW" ping -q -n -c 5 -i 0.2 -W 1 10.2.0.10 &&
		vm_fail "$tag: red's LAN pinged blue's LAN through espgate"
	ip netns exec "$R" ping -q -n -c 5 -i 0.2 -W 1 -I 10.2.0.99 172.16.1.10 &&
		vm_fail "$tag: red reached the hub with a source in blue's range"
	vm_capture_stop "$VM_WORK/$tag-r.pcap"
	vm_capture_stop "$VM_WORK/$tag-g.pcap"
	vm_capture_stop "$VM_WORK/$tag-b.pcap"
	vm_capture_stop "$VM_WORK/$tag-bw.pcap"
	vm_capture_stop "$VM_WORK/$tag-h.pcap"
	ip -n "$R" xfrm policy del src 10.1.0.0/16 dst 10.2.0.0/16 dir out
	ip -n "$R" xfrm policy del src 10.2.0.0/16 dst 172.16.1.0/24 dir out
	# red really sent it, as ESP to espgate, never in clear
	esp_r=$(vm_capture_grep "$VM_WORK/$tag-r.pcap" '192\.0\.2\.2 > 172\.16\.0\.4: ESP')
	[ "$esp_r" -ge 12 ] || vm_fail "$tag: red sent only $esp_r ESP packets (the forcing failed?)"
	vm_expect_eq "$tag: clear packets from red towards blue or the hub" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-r.pcap" 'IP 10\.[12]\.0\.[0-9]+(\.[0-9]+)? > (10\.2|172\.16\.1)\.')"
	echo "ok: $tag: red pushed $esp_r ESP packets into its tunnel"
	pk1=$(vm_xfrm_packets "$G" "$spi_in")
	[ $((pk1 - pk0)) -ge 12 ] || vm_fail "$tag: espgate's inbound SA decrypted only $((pk1 - pk0))"
	echo "ok: $tag: espgate decrypted $((pk1 - pk0)) packets on red's SA"
	# nothing reached blue or the hub
	vm_expect_eq "$tag: packets from red's range reaching blue's LAN host" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-bw.pcap" 'IP 10\.1\.')"
	vm_expect_eq "$tag: ESP or packets from red's LAN arriving at blue's router" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-b.pcap" 'ESP|IP 10\.1\.')"
	vm_expect_eq "$tag: packets from 10.2.0.99 reaching the hub host" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-h.pcap" 'IP 10\.2\.0\.99')"
	vm_expect_eq "$tag: ESP the gateway sent to blue, or packets to blue's LAN" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-g.pcap" '> (198\.51\.100\.2: ESP|10\.2\.)')"
	vm_expect_eq "$tag: packets the gateway forwarded to the hub" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-g.pcap" '> 172\.16\.1\.')"
	# counted by reason
	sel1=$(egstat DROP_SELECTOR)
	tr1=$(egstat DROP_TRANSIT)
	eg_ctl gw counters
	dropped=$((${sel1:-0} - ${sel0:-0} + ${tr1:-0} - ${tr0:-0}))
	[ "$dropped" -ge $((pk1 - pk0)) ] ||
		vm_fail "$tag: decrypted $((pk1 - pk0)) forced packets, DROP_SELECTOR+DROP_TRANSIT rose by $dropped"
	echo "ok: $tag: all dropped and counted: DROP_SELECTOR ${sel0:-0} -> ${sel1:-0}, DROP_TRANSIT ${tr0:-0} -> ${tr1:-0}"
}

vm_step "1. espgate initiates to blue; red (wide selectors) initiates"
vm_check "blue ESTABLISHED (espgate initiated)" eg_wait_up gw blue 60
vm_swanctl red --initiate --child hub --timeout 60 >"$VM_WORK/initiate.out" 2>&1 || {
	cat "$VM_WORK/initiate.out"
	vm_fail "red: swanctl --initiate"
}
vm_check "red: CHILD_SA hub installed" vm_wait_child red hub 30
vm_check "red ESTABLISHED" eg_wait_up gw red 30
eg_ctl gw status
narrowed red-init
legit red-init
misbehave red-init
legit red-init-after

vm_step "2. espgate initiates to red"
vm_check "espgatectl down red" eg_ctl gw down red
for i in $(seq 1 50); do
	[ -z "$(ip -n "$R" xfrm state)" ] && break
	sleep 0.2
done
vm_expect_eq "red's SAs after down" "" "$(ip -n "$R" xfrm state)"
vm_check "espgatectl up red" eg_ctl gw up red
vm_check "red ESTABLISHED again" eg_wait_up gw red 60
vm_check "red: CHILD_SA hub installed again" vm_wait_child red hub 30
js=$(eg_ctl gw --json status red)
echo "$js" | grep -q '"initiator":true' || vm_fail "espgate did not initiate to red: $js"
narrowed eg-init
legit eg-init
misbehave eg-init
legit eg-init-after
