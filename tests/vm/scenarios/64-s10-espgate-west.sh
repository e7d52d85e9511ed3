#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S10 (seed 004) with the roles of 63 swapped: espgate is "west", the responder behind NAT-W's
# DNAT of UDP 500/4500 (examples/s10-nat-west.yaml: peer any, responder-only, identities
# @west/@east); strongSwan is "east", behind NAT-E's masquerade, and initiates to west's public
# address. Same lab (tests/vm/lib-s10.sh) and assertions as 63: FQDN identities, NAT on both
# sides, IKE floated to 4500, ESP-in-UDP kernel SAs with the NAT's ports, HTTP both ways, only
# IKE_SA_INIT on UDP 500 and UDP 4500 afterwards on the internet, keepalives from both sides
# (espgate's from behind NAT-W this time).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
. "$(dirname "$0")/../lib-s10.sh"

s10_lab vm64
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" east-west "$PSK"
s10_espgate_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" west
s10_charon_conf "$VM_WORK/east.conf" "$PSK" east

vm_step "east (strongSwan) initiates to west's public address; espgate answers"
vm_capture_start "$I" i1 "$VM_WORK/inet.pcap" -B 4096 ip
eg_start gw "$W" "$VM_WORK/espgate.yaml"
vm_step "espgated started"
vm_charon_start east "$E" "$VM_WORK/east.conf" "keep_alive = 2s"
vm_swanctl east --initiate --child lan --timeout 60 >"$VM_WORK/initiate.out" 2>&1 || {
	cat "$VM_WORK/initiate.out"
	vm_fail "swanctl --initiate"
}
vm_check "east: CHILD_SA lan installed" vm_wait_child east lan 30
vm_check "espgatectl status: east ESTABLISHED" eg_wait_up gw east 30
st=$(eg_ctl gw status east)
echo "$st"
echo "$st" | grep -qE '^east +198\.51\.100\.10:[0-9]+ .*ESTABLISHED.*NAT-T' ||
	vm_fail "espgatectl status: east not seen at 198.51.100.10 with NAT-T"
eg_ctl gw --json status east | grep -q '"initiator":false' || vm_fail "espgate did not respond"
echo "ok: espgate responded to @east at 198.51.100.10, NAT-T"
s10_check_ike east

vm_step "HTTP through the tunnel, both ways"
s10_traffic

vm_step "idle for keepalives, then what crossed the internet"
sleep 5
vm_capture_stop "$VM_WORK/inet.pcap"
s10_wire_checks "$VM_WORK/inet.pcap"
vm_check "espgatectl status: east still ESTABLISHED" eg_wait_up gw east 5
