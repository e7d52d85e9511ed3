#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S8 (seed 003): transport mode between two hosts for TCP port 8080 only, real kernel ESP. espgate
# runs on host vm1 (10.0.1.20, the seed's Azure VM), strongSwan on the on-premises host1
# (10.2.27.10), a router between them (ExpressRoute). Two children as in
# examples/s8-transport-tcp8080.yaml: our clients to host1's 8080, host1's clients to our 8080.
# Both ways the tunnel comes up (espgate initiates; then, after a graceful stop, host1 initiates),
# and each time:
#   - both kernels hold transport-mode SAs (`ip xfrm state` mode transport) with espgate's reqids,
#     and espgatectl status shows both children;
#   - HTTP to host1:8080 from vm1 and to vm1:8080 from host1 succeeds, and the captures ("-Q out"
#     on both hosts) show those connections only as ESP between the two hosts' own addresses
#     (transport mode: no inner header), never as clear TCP 8080; the SA counters rise;
#   - other traffic stays clear and works: HTTP on port 80 both ways and ping, seen in clear on the
#     wire, not counted by any SA.
# Then host1 misbehaves: its kernel is made to send TCP to vm1:80 through the 8080 SA; vm1 drops
# it (the SA selectors name tcp/8080: XfrmInStateMismatch), nothing reaches its port 80.
# vm-timeout: 400
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

G=vm64g N=vm64n P=vm64p
vm_ns "$G" "$N" "$P"
vm_veth "$G" eth0 10.0.1.20/24 "$N" n0 10.0.1.1/24
vm_veth "$P" eth0 10.2.27.10/25 "$N" n1 10.2.27.1/25
# complete checksums, as from a wire (the datapath's XDP cannot tell CHECKSUM_PARTIAL apart)
ip netns exec "$P" ethtool -K eth0 tx off >/dev/null
ip -n "$G" route add default via 10.0.1.1
ip -n "$P" route add default via 10.2.27.1
vm_forwarding "$N"
vm_check "underlay: vm1 reaches host1" vm_ping "$G" 10.0.1.20 10.2.27.10 1

PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" host1 "$PSK"
# eg_conf START: the example's configuration with this lab's secrets and lab proposals
eg_conf() {
	sed -e "s|secrets: .*|secrets: $VM_WORK/secrets.yaml|" \
		-e "s|esp: aes256-sha256 .*|esp: aes256-sha256|" \
		-e "s|^    children:|    start: $1\n    children:|" \
		examples/s8-transport-tcp8080.yaml >"$VM_WORK/espgate.yaml"
}
cat >"$VM_WORK/partner.conf" <<-EOF
	connections {
		vm1 {
			version = 2
			local_addrs = 10.2.27.10
			remote_addrs = 10.0.1.20
			proposals = aes256-sha256-modp2048
			local {
				auth = psk
				id = 10.2.27.10
			}
			remote {
				auth = psk
				id = 10.0.1.20
			}
			children {
				out-8080 {
					local_ts = 10.2.27.10/32[tcp]
					remote_ts = 10.0.1.20/32[tcp/8080]
					esp_proposals = aes256-sha256
					mode = transport
					start_action = none
				}
				in-8080 {
					local_ts = 10.2.27.10/32[tcp/8080]
					remote_ts = 10.0.1.20/32[tcp]
					esp_proposals = aes256-sha256
					mode = transport
					start_action = none
				}
			}
		}
	}
	secrets {
		ike-vm1 {
			id-1 = 10.2.27.10
			id-2 = 10.0.1.20
			secret = "$PSK"
		}
	}
EOF

# s8_web NS ADDR PORT TEXT: like eg_web, one document root per server (two per host here)
s8_web() {
	local d=$VM_WORK/www-$1-$3
	mkdir -p "$d"
	echo "$4" >"$d/index.html"
	ip netns exec "$1" busybox httpd -f -p "$2:$3" -h "$d" &
	VM_PIDS+=($!)
}
s8_web "$P" 10.2.27.10 8080 "host1-8080"
s8_web "$P" 10.2.27.10 80 "host1-80"
s8_web "$G" 10.0.1.20 8080 "vm1-8080"
s8_web "$G" 10.0.1.20 80 "vm1-80"

# s8_up TAG: both children up on both sides, in transport mode
s8_up() {
	local tag=$1 st n
	vm_check "$tag: espgatectl status: host1 ESTABLISHED" eg_wait_up gw host1 60
	for i in $(seq 1 100); do
		[ "$(eg_child_count gw host1)" = 4 ] && break
		sleep 0.2
	done
	st=$(eg_ctl gw status host1)
	echo "$st"
	vm_expect_eq "$tag: CHILD SA directions in espgatectl status" 4 "$(eg_child_count gw host1)"
	for c in to-host1-8080 from-host1-8080; do
		echo "$st" | grep -qE "^ +$c +in +spi " && echo "$st" | grep -qE "^ +$c +out +spi " ||
			vm_fail "$tag: espgatectl status lacks child $c in both directions"
	done
	vm_check "$tag: host1: CHILD_SA out-8080 installed" vm_wait_child partner out-8080 30
	vm_check "$tag: host1: CHILD_SA in-8080 installed" vm_wait_child partner in-8080 30
	vm_swanctl partner --list-sas
	for ns in "$G" "$P"; do
		ip -n "$ns" xfrm state
		n=$(ip -n "$ns" xfrm state | grep -c 'proto esp')
		vm_expect_eq "$tag: $ns: ESP SAs" 4 "$n"
		vm_expect_eq "$tag: $ns: ESP SAs in transport mode" 4 \
			"$(ip -n "$ns" xfrm state | grep -c 'mode transport')"
	done
	vm_expect_eq "$tag: vm1: transport SAs with espgate's reqids (0x4547....)" 4 \
		"$(ip -n "$G" xfrm state | awk '/ reqid [0-9]+ mode transport/ {
			for (i = 1; i <= NF; i++) if ($i == "reqid" && int($(i + 1) / 65536) == 17735) n++ }
			END { print n + 0 }')"
	ip -n "$G" xfrm policy list
	# the kernel selectors name TCP port 8080 (the protocol and port made it into the policies)
	vm_check "$tag: gateway: out policy 10.0.1.20 -> 10.2.27.10 tcp dport 8080" bash -c \
		"ip -n $G xfrm policy list dir out | grep -qE '^src 10\.0\.1\.20/32 dst 10\.2\.27\.10/32 proto tcp dport 8080'"
	vm_check "$tag: gateway: out policy 10.0.1.20 tcp sport 8080 -> 10.2.27.10" bash -c \
		"ip -n $G xfrm policy list dir out | grep -qE '^src 10\.0\.1\.20/32 dst 10\.2\.27\.10/32 proto tcp sport 8080'"
}

# s8_traffic TAG: 8080 both ways through ESP, 80 and ping both ways in clear
s8_traffic() {
	local tag=$1 body spis0 pk0 pk spi esp_g esp_p
	spis0=$(vm_xfrm_spis "$G" 10.2.27.10)
	pk0=0
	for spi in $spis0; do
		pk0=$((pk0 + $(vm_xfrm_packets "$G" "$spi")))
	done
	vm_capture_start "$G" eth0 "$VM_WORK/$tag-g.pcap" -Q out
	vm_capture_start "$P" eth0 "$VM_WORK/$tag-p.pcap" -Q out
	body=$(eg_curl "$G" http://10.2.27.10:8080/index.html) || vm_fail "$tag: vm1 -> host1:8080"
	vm_expect_eq "$tag: vm1 -> host1:8080" host1-8080 "$body"
	body=$(eg_curl "$P" http://10.0.1.20:8080/index.html) || vm_fail "$tag: host1 -> vm1:8080"
	vm_expect_eq "$tag: host1 -> vm1:8080" vm1-8080 "$body"
	body=$(eg_curl "$G" http://10.2.27.10/index.html) || vm_fail "$tag: vm1 -> host1:80"
	vm_expect_eq "$tag: vm1 -> host1:80 (clear)" host1-80 "$body"
	body=$(eg_curl "$P" http://10.0.1.20/index.html) || vm_fail "$tag: host1 -> vm1:80"
	vm_expect_eq "$tag: host1 -> vm1:80 (clear)" vm1-80 "$body"
	vm_check "$tag: ping vm1 -> host1 (clear)" vm_ping "$G" 10.0.1.20 10.2.27.10 3
	vm_check "$tag: ping host1 -> vm1 (clear)" vm_ping "$P" 10.2.27.10 10.0.1.20 3
	vm_capture_stop "$VM_WORK/$tag-g.pcap"
	vm_capture_stop "$VM_WORK/$tag-p.pcap"
	cat "$VM_WORK/$tag-g.pcap.txt"
	# port 8080 never in clear, from either host
	vm_expect_eq "$tag: clear TCP 8080 leaving vm1" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-g.pcap" 'IP 10\.0\.1\.20\.[0-9]+ > 10\.2\.27\.10\.8080: |IP 10\.0\.1\.20\.8080 > 10\.2\.27\.10\.[0-9]+: ')"
	vm_expect_eq "$tag: clear TCP 8080 leaving host1" 0 \
		"$(vm_capture_grep "$VM_WORK/$tag-p.pcap" 'IP 10\.2\.27\.10\.[0-9]+ > 10\.0\.1\.20\.8080: |IP 10\.2\.27\.10\.8080 > 10\.0\.1\.20\.[0-9]+: ')"
	esp_g=$(vm_capture_grep "$VM_WORK/$tag-g.pcap" '10\.0\.1\.20 > 10\.2\.27\.10: ESP\(spi=')
	esp_p=$(vm_capture_grep "$VM_WORK/$tag-p.pcap" '10\.2\.27\.10 > 10\.0\.1\.20: ESP\(spi=')
	# two connections of at least 5 packets each way (SYN, ACK, request/response, FINs)
	[ "$esp_g" -ge 8 ] && [ "$esp_p" -ge 8 ] ||
		vm_fail "$tag: too few ESP packets: vm1 sent $esp_g, host1 sent $esp_p"
	echo "ok: $tag: 8080 went as ESP between the hosts: vm1 sent $esp_g, host1 sent $esp_p"
	# both of espgate's outbound SAs carried packets (one per child)
	for spi in $spis0; do
		vm_check "$tag: vm1's outbound SA $spi used" \
			test "$(vm_xfrm_packets "$G" "$spi")" -gt 0
	done
	pk=0
	for spi in $spis0; do
		pk=$((pk + $(vm_xfrm_packets "$G" "$spi")))
	done
	vm_expect_eq "$tag: vm1's outbound SAs counted exactly the ESP it sent" $((pk0 + esp_g)) "$pk"
	# the other traffic: in clear on the wire both ways
	vm_check "$tag: clear TCP 80 vm1 -> host1 on the wire" \
		test "$(vm_capture_grep "$VM_WORK/$tag-g.pcap" 'IP 10\.0\.1\.20\.[0-9]+ > 10\.2\.27\.10\.80: ')" -ge 3
	vm_check "$tag: clear TCP 80 host1 -> vm1 on the wire" \
		test "$(vm_capture_grep "$VM_WORK/$tag-p.pcap" 'IP 10\.2\.27\.10\.[0-9]+ > 10\.0\.1\.20\.80: ')" -ge 3
	vm_check "$tag: clear ICMP echo both ways" bash -c \
		"[ \$(grep -cE 'IP 10\.0\.1\.20 > 10\.2\.27\.10: ICMP echo request' $VM_WORK/$tag-g.pcap.txt) -ge 3 ] &&
		 [ \$(grep -cE 'IP 10\.2\.27\.10 > 10\.0\.1\.20: ICMP echo request' $VM_WORK/$tag-p.pcap.txt) -ge 3 ]"
}

vm_step "1. espgate initiates (start: start)"
eg_conf start
cat "$VM_WORK/espgate.yaml"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
s8_up init
js=$(eg_ctl gw --json status host1)
echo "$js" | grep -q '"initiator":true' || vm_fail "espgate was not the IKE initiator: $js"
s8_traffic init
eg_ctl gw counters

vm_step "graceful stop: SAs gone on both sides"
eg_stop gw
for i in $(seq 1 50); do
	[ -z "$(ip -n "$P" xfrm state)" ] && break
	sleep 0.2
done
vm_expect_eq "SAs left in host1's kernel after espgated stopped" "" "$(ip -n "$P" xfrm state)"
vm_expect_eq "SAs left in vm1's kernel" "" "$(ip -n "$G" xfrm state)"

vm_step "2. host1 initiates (espgate start: none)"
eg_conf none
eg_start gw "$G" "$VM_WORK/espgate.yaml"
for c in out-8080 in-8080; do
	vm_swanctl partner --initiate --child "$c" --timeout 60 >"$VM_WORK/initiate-$c.out" 2>&1 || {
		cat "$VM_WORK/initiate-$c.out"
		vm_fail "swanctl --initiate --child $c"
	}
done
s8_up resp
js=$(eg_ctl gw --json status host1)
echo "$js" | grep -q '"initiator":false' || vm_fail "espgate was not the IKE responder: $js"
s8_traffic resp
eg_ctl gw counters

vm_step "3. host1 misbehaves: it sends its TCP 80 into the 8080 SA; vm1 drops it"
# host1's kernel is told to put TCP to vm1:80 into the SA of its child out-8080 (the reqid of its
# policy for TCP to vm1:8080). vm1 decrypts it, but the SA's selector names TCP port 8080: the
# kernel drops the packet (XfrmInStateMismatch) and nothing reaches vm1's port 80.
rq=$(ip -n "$P" xfrm policy list dir out | awk '
	/^src 10\.2\.27\.10\/32 dst 10\.0\.1\.20\/32 proto tcp dport 8080/ { hit = 1 }
	hit && / reqid / { for (i = 1; i <= NF; i++) if ($i == "reqid") { print $(i + 1); exit } }')
[ -n "$rq" ] || vm_fail "no out policy of host1 for TCP to vm1:8080"
ip -n "$P" xfrm policy add src 10.2.27.10/32 dst 10.0.1.20/32 proto tcp dport 80 dir out \
	priority 100 tmpl proto esp reqid "$rq" mode transport ||
	vm_fail "host1: forcing policy for TCP 80"
mm0=$(vm_xfrm_stat "$G" XfrmInStateMismatch)
vm_capture_start "$P" eth0 "$VM_WORK/force-p.pcap" -Q out
ip netns exec "$P" curl -sS --max-time 4 http://10.0.1.20/index.html &&
	vm_fail "host1's TCP 80 sent through the 8080 SA was accepted by vm1"
vm_capture_stop "$VM_WORK/force-p.pcap"
vm_check "host1 sent it as ESP (the forcing worked)" \
	test "$(vm_capture_grep "$VM_WORK/force-p.pcap" '10\.2\.27\.10 > 10\.0\.1\.20: ESP')" -ge 2
vm_expect_eq "host1 sent no clear TCP 80" 0 \
	"$(vm_capture_grep "$VM_WORK/force-p.pcap" 'IP 10\.2\.27\.10\.[0-9]+ > 10\.0\.1\.20\.80: ')"
mm=$(vm_xfrm_stat "$G" XfrmInStateMismatch)
[ "${mm:-0}" -ge $((${mm0:-0} + 2)) ] ||
	vm_fail "vm1 did not drop the forced packets as SA selector mismatches ($mm0 -> $mm)"
echo "ok: vm1 dropped host1's forced TCP 80 (XfrmInStateMismatch ${mm0:-0} -> $mm)"
ip -n "$P" xfrm policy del src 10.2.27.10/32 dst 10.0.1.20/32 proto tcp dport 80 dir out
body=$(eg_curl "$P" http://10.0.1.20/index.html) || vm_fail "host1 -> vm1:80 after the forcing"
vm_expect_eq "host1 -> vm1:80 in clear again" vm1-80 "$body"
