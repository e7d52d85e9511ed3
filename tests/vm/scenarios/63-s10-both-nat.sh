#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S10 (seed 004): both peers behind NAT, with the BPF datapath and real kernel SAs. espgate is
# "east", the initiator (examples/s10-nat-east.yaml); strongSwan is "west", the responder, which
# cannot know east's address (remote_addrs %any). They know each other only by the FQDN
# identities @east / @west and a PSK. Each gateway sits behind an iptables NAT router (the lab:
# tests/vm/lib-s10.sh). Asserts:
#   - the tunnel comes up; both sides see NAT on both sides, west sees east at 198.51.100.10 from
#     a remapped port, IKE on 4500, the kernel SAs are ESP-in-UDP with those ports;
#   - HTTP through the tunnel both ways (east LAN <-> west LAN), SA counters rising on both sides;
#   - captured on the internet between the NATs for the tunnel's whole life: only IKE_SA_INIT on
#     UDP 500, everything after it on UDP 4500 (IKE with the non-ESP marker, ESP-in-UDP), no
#     plain ESP, nothing else; NAT-T keepalives (0xff) from both sides.
# 64-s10-espgate-west.sh is the same lab with the roles swapped.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
. "$(dirname "$0")/../lib-s10.sh"

s10_lab vm63
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" east-west "$PSK"
s10_espgate_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" east
s10_charon_conf "$VM_WORK/west.conf" "$PSK" west

vm_step "east (espgate) initiates to west's public address"
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
s10_check_ike west

vm_step "HTTP through the tunnel, both ways"
s10_traffic

vm_step "idle for keepalives, then what crossed the internet"
sleep 5
vm_capture_stop "$VM_WORK/inet.pcap"
s10_wire_checks "$VM_WORK/inet.pcap"
vm_check "espgatectl status: west still ESTABLISHED" eg_wait_up gw west 5
