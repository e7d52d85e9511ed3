#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# S12: espgated is SIGKILLed under traffic and restarted; real kernel SAs, strongSwan partner.
# A 25 s TCP stream from a VNet host to the partner's LAN runs across it. Asserts: with espgated
# dead, the kernel SAs stay and the stream keeps flowing through them (the outbound SA's counter
# still rises); the restarted espgated brings the tunnel up again (espgatectl status), traffic
# moves to the new SAs, the SAs of the killed instance are gone from the gateway's kernel (its own
# reqid/mark range: nothing is left behind), and the stream arrives byte-exact (one connection,
# never reset).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

SECS=25
eg_lab vm56
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: start"
eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "tunnel up"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_mark_standin "$G"
spi0_out=$(vm_xfrm_spis "$G" 192.0.2.2)
spi0_in=$(vm_xfrm_spis "$G" 10.1.0.4)

vm_step "a ${SECS}s TCP stream; espgated SIGKILLed in the middle of it"
eg_sink_start "$W" 192.168.88.10 5001 "$VM_WORK/sink.out"
eg_stream_start "$H" 10.1.1.66 192.168.88.10 5001 "$SECS" 40000 "$VM_WORK/stream.out"
sleep 3
eg_stop gw KILL
vm_check "espgated is gone" bash -c "! kill -0 $(eg_pid gw) 2>/dev/null"
n1=$(vm_xfrm_packets "$G" "$spi0_out")
sleep 3
n2=$(vm_xfrm_packets "$G" "$spi0_out")
[ -n "$n1" ] && [ -n "$n2" ] && [ "$n2" -gt "$n1" ] ||
	vm_fail "with espgated dead the outbound SA did not keep carrying the stream ($n1 -> $n2)"
echo "ok: espgated dead, the kernel SAs stay and carry the stream ($n1 -> $n2 packets)"

vm_step "espgated restarted"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED again" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_ctl gw status partner
eg_stream_check $((SECS + 40)) " (one connection across the restart)"

vm_step "after the restart: new SAs carry the traffic, the killed instance's SAs are gone"
ip -n "$G" -s xfrm state | grep -E '^src|spi|packets\)'
for spi in $spi0_out $spi0_in; do
	for i in $(seq 1 25); do
		[ -z "$(eg_sa_show "$G" "$spi")" ] && break
		sleep 0.2
	done
	[ -z "$(eg_sa_show "$G" "$spi")" ] ||
		vm_fail "the killed espgated's SA $spi is still in the gateway's kernel"
done
echo "ok: the killed instance's SAs ($spi0_out/$spi0_in) are gone"
eg_lab_traffic restarted 5
