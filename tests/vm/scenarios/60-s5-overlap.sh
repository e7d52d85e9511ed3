#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S5 (seed 001): overlapping address space, with the BPF datapath and real kernel SAs against two
# strongSwan partners. The VNet's workloads are in 10.0.0.0/16 (10.0.1.10) and BOTH partners' LANs
# are 10.0.0.0/16 too, each with a web host at 10.0.0.10. espgate maps red into
# the VNet as 10.201.0.0/16 and blue as 10.202.0.0/16 (remote-netmap), and the workload subnet
# 10.0.1.0/24 to red as 100.64.1.0/24 and to blue as 100.64.2.0/24 (netmap).
#  1. S5: two concurrent byte-counted TCP streams plus HTTP from 10.0.1.10 to 10.201.0.10 and
#     10.202.0.10 at the same time; each partner's web host sees only its 100.64.x.10, only ESP
#     leaves the gateway towards the partners, and the decrypted, reverse-NATed replies pass the
#     kernel's marked fwd policies: each child's fwd policy is used, its inbound SA counts, and
#     /proc/net/xfrm_stat's policy-check drops (XfrmInNoPols, XfrmInTmplMismatch, XfrmInPolBlock,
#     XfrmInStateMismatch...) do not move, on the gateway or on the partners.
#  2. S5b: both partners see the SAME 100.64.1.0/24 (identical selectors on both tunnels, told
#     apart by their remote-netmap prefix and the SAs' marks), switched to by `espgatectl reload`
#     (blue's tunnel is renegotiated, red's keeps its SAs): the same assertions.
# The gateway itself stays reachable from the VNet while the tunnels are up (the partners'
# 10.0.0.0/16 is also the VNet's: the fail-closed block policies must not swallow the VNet).
# vm-timeout: 400
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

# --- the lab ----------------------------------------------------------------------------------
#   host (10.0.1.10) --- fabric (10.0.1.1 / 172.20.0.1 / 192.0.2.1 / 198.51.100.1) --- gw (172.20.0.4)
# The gateway's own address lies outside 10.0.0.0/16 (the partners would route a 10.0.x.y IKE
# peer into their own LAN; in Azure they see its public address instead).
#   red router  (192.0.2.2,    lan0 10.0.0.1/16) --- red web  (10.0.0.10)
#   blue router (198.51.100.2, lan0 10.0.0.1/16) --- blue web (10.0.0.10)
H=vm60h N=vm60n G=vm60g R=vm60r RW=vm60rw B=vm60b BW=vm60bw
vm_ns "$H" "$N" "$G" "$R" "$RW" "$B" "$BW"
vm_veth "$H" eth0 10.0.1.10/24 "$N" n1 10.0.1.1/24
vm_veth "$N" n0 172.20.0.1/24 "$G" eth0 172.20.0.4/24
vm_veth "$N" n2 192.0.2.1/24 "$R" eth0 192.0.2.2/24
vm_veth "$N" n3 198.51.100.1/24 "$B" eth0 198.51.100.2/24
vm_veth "$R" lan0 10.0.0.1/16 "$RW" eth0 10.0.0.10/16
vm_veth "$B" lan0 10.0.0.1/16 "$BW" eth0 10.0.0.10/16
for ns in "$H" "$RW" "$BW"; do
	ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null # complete checksums (see eg_lab)
done
ip -n "$H" route add default via 10.0.1.1
ip -n "$G" route add default via 172.20.0.1
ip -n "$R" route add default via 192.0.2.1
ip -n "$B" route add default via 198.51.100.1
ip -n "$RW" route add default via 10.0.0.1
ip -n "$BW" route add default via 10.0.0.1
# the fabric routes the partners' mapped prefixes to the gateway (UDRs in Azure)
ip -n "$N" route add 10.201.0.0/16 via 172.20.0.4
ip -n "$N" route add 10.202.0.0/16 via 172.20.0.4
for ns in "$N" "$G" "$R" "$B"; do
	vm_forwarding "$ns"
done
ip netns exec "$G" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
vm_check "underlay: gateway reaches red" vm_ping "$G" 172.20.0.4 192.0.2.2 1
vm_check "underlay: gateway reaches blue" vm_ping "$G" 172.20.0.4 198.51.100.2 1

PSK_RED=$(eg_psk)
PSK_BLUE=$(eg_psk)
(
	umask 077
	printf 'psk:\n  red: "%s"\n  blue: "%s"\n' "$PSK_RED" "$PSK_BLUE" >"$VM_WORK/secrets.yaml"
)

# s5_conf FILE BLUE-OUTSIDE: espgated's config; blue sees the workload subnet as BLUE-OUTSIDE
# (100.64.2.0/24 for S5, 100.64.1.0/24 for S5b)
s5_conf() {
	local name addr out inside
	{
		cat <<-EOF
			global:
			  interfaces: eth0
			  secrets: $VM_WORK/secrets.yaml
			tunnels:
		EOF
		for name in red blue; do
			if [ $name = red ]; then
				addr=192.0.2.2 out=100.64.1.0/24 inside=10.201.0.0/16
			else
				addr=198.51.100.2 out=$2 inside=10.202.0.0/16
			fi
			cat <<-EOF
				  $name:
				    peer: $addr
				    local_address: 172.20.0.4
				    psk: $name
				    ike: aes256-sha256-ecp384
				    esp: aes256-sha256-ecp384
				    start: start
				    children:
				      - name: overlap
				        local: $out
				        remote: 10.0.0.0/16
				        nat:
				          - { type: netmap, inside: 10.0.1.0/24, outside: $out }
				          - { type: remote-netmap, remote: 10.0.0.0/16, inside: $inside }
			EOF
		done
	} >"$1"
}

# s5_partner_conf FILE ADDR PSK REMOTE-TS: the partner's swanctl.conf (its LAN 10.0.0.0/16 <->
# how it sees our workloads).
s5_partner_conf() {
	cat >"$1" <<-EOF
		connections {
			gw {
				version = 2
				local_addrs = $2
				remote_addrs = 172.20.0.4
				proposals = aes256-sha256-ecp384
				local {
					auth = psk
					id = $2
				}
				remote {
					auth = psk
					id = 172.20.0.4
				}
				children {
					overlap {
						local_ts = 10.0.0.0/16
						remote_ts = $4
						esp_proposals = aes256-sha256-ecp384
						mode = tunnel
						start_action = none
					}
				}
			}
		}
		secrets {
			ike-gw {
				id-1 = 172.20.0.4
				id-2 = $2
				secret = "$3"
			}
		}
	EOF
}

# policy-check drops of the kernel: none of these may rise while the tunnels carry traffic
XSTATS="XfrmInError XfrmInNoStates XfrmInStateMismatch XfrmInTmplMismatch XfrmInNoPols XfrmInPolBlock XfrmInPolError XfrmFwdHdrError XfrmOutNoStates XfrmOutPolBlock"
xstats() {
	local s
	for s in $XSTATS; do
		printf '%s=%s ' "$s" "$(vm_xfrm_stat "$1" "$s")"
	done
}

# in_mark NS PEER: the in mark (hex) of the inbound SA from PEER in NS
in_mark() {
	ip -n "$1" xfrm state | awk -v p="$2" '/^src / { hit = ($2 == p) }
		hit && /output-mark/ { for (i = 1; i <= NF; i++) if ($i == "output-mark") { print $(i + 1); exit } }' |
		sed 's,/.*,,'
}

# fwd_use NS MARK: the "use" time of the fwd policy selecting MARK ("-" if never used; the
# mark line may come before or after the lifetime lines, so each policy is read whole)
fwd_use() {
	ip -n "$1" -s xfrm policy list dir fwd | awk -v m="$2" '
		function done() { if (mk == m && use != "") { print use; found = 1; exit } }
		/^src / { done(); mk = ""; use = "" }
		$1 == "mark" { split($2, a, "/"); mk = a[1] }
		/ use / { use = $0; sub(/.* use /, "", use) }
		END { if (!found) done() }'
}

# s5_traffic TAG BLUE-OUTSIDE-ADDR: the assertions of one variant (see the header).
s5_traffic() {
	local tag=$1 bsrc=$2 xg xr xb mr mb o n pids f ok name addr spi m port clear esp red_spi blue_spi
	red_spi=$(vm_xfrm_spis "$G" 192.0.2.2)
	blue_spi=$(vm_xfrm_spis "$G" 198.51.100.2)
	[ "$(echo "$red_spi" | wc -w)" = 1 ] && [ "$(echo "$blue_spi" | wc -w)" = 1 ] ||
		vm_fail "$tag: expected one outbound SA per partner, got red '$red_spi' blue '$blue_spi'"
	mr=$(in_mark "$G" 192.0.2.2)
	mb=$(in_mark "$G" 198.51.100.2)
	[ -n "$mr" ] && [ -n "$mb" ] && [ "$mr" != "$mb" ] ||
		vm_fail "$tag: the inbound SAs must carry distinct in marks (red '$mr', blue '$mb')"
	echo "ok: $tag: inbound SAs marked red $mr, blue $mb"
	xg=$(xstats "$G")
	xr=$(xstats "$R")
	xb=$(xstats "$B")
	echo "$tag: xfrm_stat before: gw: $xg"
	rm -f "$VM_WORK/$tag"-*
	vm_capture_start "$G" eth0 "$VM_WORK/$tag-gw.pcap" -Q out
	vm_capture_start "$RW" eth0 "$VM_WORK/$tag-red.pcap" -Q in ip
	vm_capture_start "$BW" eth0 "$VM_WORK/$tag-blue.pcap" -Q in ip
	eg_sink_start "$RW" 10.0.0.10 5001 "$VM_WORK/$tag-red.sink"
	eg_sink_start "$BW" 10.0.0.10 5001 "$VM_WORK/$tag-blue.sink"
	# both streams at once, and HTTP to both while they run
	eg_stream_start "$H" 10.0.1.10 10.201.0.10 5001 6 100000 "$VM_WORK/$tag-red.sent"
	eg_stream_start "$H" 10.0.1.10 10.202.0.10 5001 6 100000 "$VM_WORK/$tag-blue.sent"
	sleep 1
	# distinct source ports: in S5b both flows leave as 100.64.1.10 to 10.0.0.10:80, and the
	# datapath's conntrack cannot tell two partners' flows with the same ports apart (docs/DESIGN.md,
	# "Known limit (S5b)"); the kernel could pick the same port for two different destinations
	# (and fresh ones per variant: no TIME_WAIT or conntrack entry of the first one is reused)
	[ "$tag" = s5 ] && port=41001 || port=41011
	ip netns exec "$H" curl -sS --fail --max-time 15 --local-port $port \
		http://10.201.0.10/index.html >"$VM_WORK/$tag-red.page" 2>&1 &
	pids=$!
	ip netns exec "$H" curl -sS --fail --max-time 15 --local-port $((port + 1)) \
		http://10.202.0.10/index.html >"$VM_WORK/$tag-blue.page" 2>&1 &
	pids="$pids $!"
	ok=1
	for f in $pids; do
		wait "$f" || ok=0
	done
	[ $ok = 1 ] || vm_fail "$tag: concurrent HTTP: red '$(cat "$VM_WORK/$tag-red.page")' blue '$(cat "$VM_WORK/$tag-blue.page")'"
	vm_expect_eq "$tag: page from red (10.201.0.10)" red-page "$(cat "$VM_WORK/$tag-red.page")"
	vm_expect_eq "$tag: page from blue (10.202.0.10)" blue-page "$(cat "$VM_WORK/$tag-blue.page")"
	for f in red blue; do
		eg_stream_wait "$VM_WORK/$tag-$f.sent" 40 && eg_stream_wait "$VM_WORK/$tag-$f.sink" 10 ||
			vm_fail "$tag: the stream to $f did not finish (gateway: $(ip netns exec "$G" nstat -az |
				awk '/IpFragFails|IcmpOutDestUnreachs|IcmpMsgOutType3 / { printf "%s %s ", $1, $2 }'))"
		grep -q ERROR "$VM_WORK/$tag-$f.sent" && vm_fail "$tag: stream to $f: $(cat "$VM_WORK/$tag-$f.sent")"
		vm_expect_eq "$tag: bytes and sha256 the $f web host received" \
			"$(cat "$VM_WORK/$tag-$f.sent")" "$(cat "$VM_WORK/$tag-$f.sink")"
	done
	vm_capture_stop "$VM_WORK/$tag-gw.pcap"
	vm_capture_stop "$VM_WORK/$tag-red.pcap"
	vm_capture_stop "$VM_WORK/$tag-blue.pcap"

	# what each partner's LAN saw: only its own view of the workload
	for f in red:100.64.1.10 blue:$bsrc; do
		o=${f#*:}
		n=$(vm_capture_grep "$VM_WORK/$tag-${f%%:*}.pcap" "IP ${o//./\\.}\.[0-9]+ > 10\.0\.0\.10\.(80|5001):")
		[ "$n" -ge 10 ] || vm_fail "$tag: the ${f%%:*} web host saw only $n packets from $o"
		vm_expect_eq "$tag: packets from other sources on the ${f%%:*} LAN" 0 \
			"$(grep -vcE "IP ${o//./\\.}\.[0-9]+ > 10\.0\.0\.10\." "$VM_WORK/$tag-${f%%:*}.pcap.txt")"
		echo "ok: $tag: the ${f%%:*} LAN saw only $o ($n packets)"
	done
	# what left the gateway: towards the partners only ESP (and IKE), back into the VNet the
	# decrypted replies under the mapped addresses
	clear=$(grep -E '> (192\.0\.2\.2|198\.51\.100\.2)[.:]' "$VM_WORK/$tag-gw.pcap.txt" | grep -vcE ': ESP\(|isakmp|NONESP-encap')
	vm_expect_eq "$tag: clear packets from the gateway to the partners" 0 "$clear"
	vm_expect_eq "$tag: packets to the partners' real LAN or from 100.64/10 in clear" 0 \
		"$(grep -cE 'IP 100\.64\.[0-9.]+ > |> 10\.0\.0\.10\.' "$VM_WORK/$tag-gw.pcap.txt")"
	for f in red:192.0.2.2:$red_spi blue:198.51.100.2:$blue_spi; do
		IFS=: read -r name addr spi <<<"$f"
		esp=$(vm_capture_grep "$VM_WORK/$tag-gw.pcap" "172\.20\.0\.4 > ${addr//./\\.}: ESP\(spi=$spi,")
		n=$(vm_xfrm_packets "$G" "$spi")
		[ "$esp" -ge 20 ] && [ "${n:-0}" -ge "$esp" ] ||
			vm_fail "$tag: ESP to $name: $esp packets on the wire, SA $spi counted ${n:-none}"
		echo "ok: $tag: ESP to $name: $esp packets, outbound SA counted $n"
	done
	for f in 10.201.0.10 10.202.0.10; do
		n=$(vm_capture_grep "$VM_WORK/$tag-gw.pcap" "IP ${f//./\\.}\.(80|5001) > 10\.0\.1\.10\.")
		[ "$n" -ge 10 ] || vm_fail "$tag: only $n decrypted replies from $f forwarded to the workload"
		echo "ok: $tag: $n decrypted replies forwarded to 10.0.1.10 as from $f"
	done
	# the replies passed the kernel's inbound policy check after reverse NAT
	for f in red:192.0.2.2:$mr blue:198.51.100.2:$mb; do
		IFS=: read -r name addr m <<<"$f"
		spi=$(ip -n "$G" xfrm state | awk -v p="$addr" '/^src / { hit = ($2 == p) }
			hit && / spi 0x/ { for (i = 1; i <= NF; i++) if ($i == "spi") { print $(i + 1); exit } }')
		n=$(vm_xfrm_packets "$G" "$spi")
		[ "${n:-0}" -ge 20 ] || vm_fail "$tag: inbound SA from $name ($spi) counted ${n:-none}"
		o=$(fwd_use "$G" "$m")
		[ -n "$o" ] && [ "$o" != - ] ||
			vm_fail "$tag: the fwd policy with $name's in mark $m was never used ('$o')"
		echo "ok: $tag: inbound SA from $name counted $n, its fwd policy (mark $m) used at $o"
	done
	vm_expect_eq "$tag: gateway's XFRM drop counters" "$xg" "$(xstats "$G")"
	vm_expect_eq "$tag: red's XFRM drop counters" "$xr" "$(xstats "$R")"
	vm_expect_eq "$tag: blue's XFRM drop counters" "$xb" "$(xstats "$B")"
	eg_ctl gw counters | awk '$1 ~ /^DROP_/ && $2 != 0'
}

# s5_up TAG: both tunnels established, with their kernel SAs, on both sides
s5_up() {
	vm_check "$1: espgatectl status: red ESTABLISHED" eg_wait_up gw red 60
	vm_check "$1: espgatectl status: blue ESTABLISHED" eg_wait_up gw blue 60
	vm_check "$1: red: CHILD_SA installed" vm_wait_child red overlap 30
	vm_check "$1: blue: CHILD_SA installed" vm_wait_child blue overlap 30
	eg_ctl gw status
}

eg_web "$RW" 10.0.0.10 80 red-page
eg_web "$BW" 10.0.0.10 80 blue-page

vm_step "1. S5: red sees 100.64.1.0/24, blue 100.64.2.0/24"
s5_conf "$VM_WORK/espgate.yaml" 100.64.2.0/24
"$EG_D" --check -c "$VM_WORK/espgate.yaml" || vm_fail "espgated --check of the S5 config"
s5_partner_conf "$VM_WORK/red.conf" 192.0.2.2 "$PSK_RED" 100.64.1.0/24
s5_partner_conf "$VM_WORK/blue.conf" 198.51.100.2 "$PSK_BLUE" 100.64.2.0/24
vm_charon_start red "$R" "$VM_WORK/red.conf"
vm_charon_start blue "$B" "$VM_WORK/blue.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
s5_up s5
ip -n "$G" xfrm policy list dir fwd
vm_check "the VNet still reaches the gateway itself" vm_ping "$H" 10.0.1.10 172.20.0.4 2
s5_traffic s5 100.64.2.10
eg_ctl gw nat | head -n 8

vm_step "2. S5b: both partners see the same 100.64.1.0/24 (espgatectl reload)"
# a reload, not a restart: blue's changed tunnel is renegotiated, red's keeps its SAs (and under
# TCG a restart would verify the BPF programs again, which takes minutes on a loaded host)
red_before=$(vm_xfrm_spis "$G" 192.0.2.2)
blue_before=$(vm_xfrm_spis "$G" 198.51.100.2)
s5_partner_conf "$(vm_charon_dir blue)/swanctl/swanctl.conf" 198.51.100.2 "$PSK_BLUE" 100.64.1.0/24
vm_swanctl blue --load-all --noprompt >/dev/null || vm_fail "reloading blue's configuration"
s5_conf "$VM_WORK/espgate.yaml" 100.64.1.0/24
"$EG_D" --check -c "$VM_WORK/espgate.yaml" || vm_fail "espgated --check of the S5b config"
eg_ctl gw reload || vm_fail "espgatectl reload to the S5b configuration"
for _ in $(seq 1 150); do
	n=$(vm_xfrm_spis "$G" 198.51.100.2)
	[ -n "$n" ] && [ "$n" != "$blue_before" ] &&
		eg_ctl gw status blue 2>/dev/null | grep -qE ' in +spi .* 100\.64\.1\.0/24 === 10\.0\.0\.0/16 ' && break
	sleep 0.2
done
s5_up s5b
vm_expect_eq "red's outbound SA kept through the reload" "$red_before" "$(vm_xfrm_spis "$G" 192.0.2.2)"
[ "$(vm_xfrm_spis "$G" 198.51.100.2)" != "$blue_before" ] || vm_fail "blue's SAs were not renegotiated"
echo "ok: s5b: blue renegotiated, red's SAs untouched"
# both tunnels' out policies: the same selector, told apart only by their marks (the unmarked
# fail-closed fallbacks are one kernel policy: the kernel keys policies by selector and mark)
marks=$(ip -n "$G" xfrm policy list dir out | awk '/^src / { hit = ($2 == "100.64.1.0/24" && $4 == "10.0.0.0/16") }
	hit && $1 == "mark" { print $2 }' | sort -u | tr '\n' ' ')
[ "$(echo "$marks" | wc -w)" = 2 ] ||
	vm_fail "S5b: expected two marked out policies 100.64.1.0/24 -> 10.0.0.0/16, got marks '$marks'"
vm_expect_eq "S5b: unmarked block fallback for 100.64.1.0/24 -> 10.0.0.0/16" 1 \
	"$(ip -n "$G" xfrm policy list dir out | grep -A1 '^src 100\.64\.1\.0/24 dst 10\.0\.0\.0/16' | grep -c 'action block')"
echo "ok: s5b: both tunnels' out policies select 100.64.1.0/24 -> 10.0.0.0/16, marks $marks"
vm_check "the VNet still reaches the gateway itself" vm_ping "$H" 10.0.1.10 172.20.0.4 2
s5_traffic s5b 100.64.1.10
