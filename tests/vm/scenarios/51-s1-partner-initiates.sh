#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S1 (seed 000), the partner initiates: the same lab and proposals as 50, espgated with
# "start: none" answers strongSwan's initiation (kernel SAs on both sides). Asserts: the tunnel
# comes up with espgate as responder, HTTP both ways through it with only ESP on the wire and the
# SA counters rising; then `espgatectl down` deletes the SAs on both sides and traffic of the down
# tunnel is dropped by the gateway, never sent in clear (seed 004); `espgatectl up` brings the
# tunnel back (espgate initiating this time) and traffic flows again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

eg_lab vm51
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: none"
eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "espgated (waits), the partner initiates"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_mark_standin "$G"
vm_swanctl partner --initiate --child lan --timeout 60 >"$VM_WORK/initiate.out" 2>&1 || {
	cat "$VM_WORK/initiate.out"
	vm_fail "swanctl --initiate"
}
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
vm_check "espgatectl status: partner ESTABLISHED with CHILD SAs" eg_wait_up gw partner 30
eg_ctl gw status
js=$(eg_ctl gw --json status partner)
echo "$js" | grep -q '"initiator":false' || vm_fail "espgate is not the responder: $js"
echo "ok: espgate responded"
eg_lab_sa_checks

vm_step "HTTP through the tunnel, both ways"
eg_lab_traffic s1r

vm_step "espgatectl down: SAs deleted on both sides, traffic dropped, never in clear"
vm_check "espgatectl down partner" eg_ctl gw down partner
for i in $(seq 1 50); do
	[ -z "$(ip -n "$G" xfrm state)" ] && [ -z "$(ip -n "$P" xfrm state)" ] && break
	sleep 0.2
done
vm_expect_eq "gateway SAs after down" "" "$(ip -n "$G" xfrm state)"
vm_expect_eq "partner SAs after down" "" "$(ip -n "$P" xfrm state)"
vm_capture_start "$G" eth0 "$VM_WORK/down-gw.pcap" -Q out
ip netns exec "$H" curl -sS --max-time 3 http://192.168.88.10/index.html &&
	vm_fail "HTTP to the partner LAN worked while the tunnel was down"
ip netns exec "$H" ping -c 2 -i 0.3 -W 1 192.168.88.10 && vm_fail "ping worked while down"
vm_capture_stop "$VM_WORK/down-gw.pcap"
vm_expect_eq "packets towards the partner LAN leaving the gateway (clear or not) while down" 0 \
	"$(vm_capture_grep "$VM_WORK/down-gw.pcap" '> 192\.168\.88\.')"
echo "ok: the down tunnel's traffic was dropped by the gateway"
eg_ctl gw status partner

vm_step "espgatectl up: back, espgate initiating"
vm_check "espgatectl up partner" eg_ctl gw up partner
vm_check "espgatectl status: partner ESTABLISHED again" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed again" vm_wait_child partner lan 30
eg_lab_traffic s1up 5
