#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# Proves the harness with two real IKE daemons: strongSwan (charon-systemd, kernel-netlink) in each
# of two namespaces, IKEv2 with a PSK, aes256-sha256-ecp384, ESP aes256-sha256 in tunnel mode
# between the sites 10.11.0.0/24 and 10.12.0.0/24. Asserts: both sides report the CHILD_SA
# INSTALLED, a ping between the sites succeeds, only ESP leaves either gateway (no clear ICMP), and
# the kernel SA counters on both sides count exactly the pings.
. "$(dirname "$0")/../lib.sh"

L=vm10l
R=vm10r
N=5
vm_ns $L $R
vm_veth $L v10l 192.0.2.11/24 $R v10r 192.0.2.12/24
vm_dummy $L site0 10.11.0.1/24
vm_dummy $R site0 10.12.0.1/24
vm_check "underlay ping" vm_ping $L 192.0.2.11 192.0.2.12 1

# swanctl_conf ME PEER MYADDR PEERADDR MYNET PEERNET
swanctl_conf() {
	cat <<-EOF
		connections {
			gw {
				version = 2
				local_addrs = $3
				remote_addrs = $4
				proposals = aes256-sha256-ecp384
				local {
					auth = psk
					id = $1
				}
				remote {
					auth = psk
					id = $2
				}
				children {
					net {
						local_ts = $5
						remote_ts = $6
						esp_proposals = aes256-sha256
						mode = tunnel
						start_action = none
					}
				}
			}
		}
		secrets {
			ike-gw {
				id-l = left.vm10
				id-r = right.vm10
				secret = "$PSK"
			}
		}
	EOF
}
PSK=vm10-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
swanctl_conf left.vm10 right.vm10 192.0.2.11 192.0.2.12 10.11.0.0/24 10.12.0.0/24 >"$VM_WORK/l.conf"
swanctl_conf right.vm10 left.vm10 192.0.2.12 192.0.2.11 10.12.0.0/24 10.11.0.0/24 >"$VM_WORK/r.conf"

vm_step "starting charon-systemd in $L and $R"
vm_charon_start left $L "$VM_WORK/l.conf"
vm_charon_start right $R "$VM_WORK/r.conf"

vm_step "initiating from left"
vm_swanctl left --initiate --child net --timeout 60 >"$VM_WORK/initiate.out" 2>&1 || {
	cat "$VM_WORK/initiate.out"
	vm_fail "swanctl --initiate"
}
vm_check "left CHILD_SA net installed" vm_wait_child left net 60
vm_check "right CHILD_SA net installed" vm_wait_child right net 60
vm_swanctl left --list-sas

out_spi=$(vm_xfrm_spis $L 192.0.2.12)
in_spi=$(vm_xfrm_spis $L 192.0.2.11)
[ -n "$out_spi" ] && [ -n "$in_spi" ] || vm_fail "no ESP SA pair in $L's kernel"
echo "SAs: $L->$R $out_spi, $R->$L $in_spi"
for ns in $L $R; do
	for spi in $out_spi $in_spi; do
		vm_expect_eq "$ns SA $spi starts at" 0 "$(vm_xfrm_packets $ns "$spi")"
	done
done

vm_step "ping through the tunnel"
vm_capture_start $L v10l "$VM_WORK/l.pcap" -Q out
vm_capture_start $R v10r "$VM_WORK/r.pcap" -Q out
vm_check "$N pings between the sites" vm_ping $L 10.11.0.1 10.12.0.1 $N
vm_capture_stop "$VM_WORK/l.pcap"
vm_capture_stop "$VM_WORK/r.pcap"
grep -m2 ESP "$VM_WORK/l.pcap.txt"
vm_expect_eq "clear ICMP leaving either gateway" 0 \
	$(($(vm_capture_grep "$VM_WORK/l.pcap" ': ICMP ') + $(vm_capture_grep "$VM_WORK/r.pcap" ': ICMP ')))
vm_expect_eq "ESP leaving $L" $N "$(vm_capture_grep "$VM_WORK/l.pcap" "ESP\(spi=$out_spi,")"
vm_expect_eq "ESP leaving $R" $N "$(vm_capture_grep "$VM_WORK/r.pcap" "ESP\(spi=$in_spi,")"
for ns in $L $R; do
	for spi in $out_spi $in_spi; do
		vm_expect_eq "$ns SA $spi packets" $N "$(vm_xfrm_packets $ns "$spi")"
	done
done

vm_step "terminate"
vm_check "swanctl --terminate" vm_swanctl left --terminate --ike gw --timeout 20
vm_charon_stop left
vm_charon_stop right
vm_expect_eq "SAs left in $L after terminate" "" "$(ip -n $L xfrm state)"
