#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S12 for a responder-only tunnel (peer: any): its policies come from its SAs' negotiated
# selectors and the address the peer connected from, which a restarted espgated's engine does not
# know until the peer negotiates again. espgated is SIGKILLed under a TCP stream and restarted;
# real kernel SAs, strongSwan partner (which initiates, with no DPD: it will not notice the
# restart by itself). Asserts: the restarted espgated keeps the previous instance's allow
# policies (logged) and the child stays armed, so the stream keeps flowing through the old SAs
# after the restart and arrives byte-exact; when the partner negotiates again, the new SAs carry
# the traffic and the old SAs are gone.
# vm-timeout: 400
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath"

SECS=25
eg_lab vm56r
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
cat >"$VM_WORK/espgate.yaml" <<EOC
global:
  interfaces: eth0
  secrets: $VM_WORK/secrets.yaml
tunnels:
  partner:
    peer: any
    mode: responder-only
    local_address: 10.1.0.4
    remote_id: 192.0.2.2
    psk: partner
    ike: aes256-sha256-ecp384
    esp: aes256-sha256-ecp384
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
        direction: both
EOC
eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "the partner opens the tunnel"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_swanctl partner --initiate --child lan --timeout 60 >"$VM_WORK/initiate.out" 2>&1 || {
	cat "$VM_WORK/initiate.out"
	vm_fail "swanctl --initiate"
}
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
spi0_out=$(vm_xfrm_spis "$G" 192.0.2.2)
spi0_in=$(vm_xfrm_spis "$G" 10.1.0.4)
pol0=$(ip -n "$G" xfrm policy list | grep -c 'tmpl src')
[ "$pol0" -ge 2 ] || vm_fail "expected the child's out/in/fwd policies, found $pol0 with templates"
body=$(eg_curl "$H" http://192.168.88.10/index.html 2>/dev/null) || {
	eg_web "$W" 192.168.88.10 80 "partner-lan-page"
	body=$(eg_curl "$H" http://192.168.88.10/index.html) || vm_fail "curl through the tunnel"
}
vm_expect_eq "page from the partner LAN" partner-lan-page "$body"

vm_step "a ${SECS}s TCP stream; espgated SIGKILLed and restarted in the middle of it"
eg_sink_start "$W" 192.168.88.10 5001 "$VM_WORK/sink.out"
eg_stream_start "$H" 10.1.1.66 192.168.88.10 5001 "$SECS" 40000 "$VM_WORK/stream.out"
sleep 3
eg_stop gw KILL
vm_check "espgated is gone" bash -c "! kill -0 $(eg_pid gw) 2>/dev/null"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
for i in $(seq 1 100); do
	grep -q "keeping the previous espgated's" "$(eg_dir gw)/espgated.log" && break
	sleep 0.2
done
vm_expect_eq "policies with templates after the restart" "$pol0" \
	"$(ip -n "$G" xfrm policy list | grep -c 'tmpl src')"
n1=$(vm_xfrm_packets "$G" "$spi0_out")
sleep 4
n2=$(vm_xfrm_packets "$G" "$spi0_out")
[ -n "$n1" ] && [ -n "$n2" ] && [ "$n2" -gt "$n1" ] ||
	vm_fail "after the restart the old outbound SA stopped carrying the stream ($n1 -> $n2)"
echo "ok: after the restart the old SAs still carry the stream ($n1 -> $n2 packets)"
vm_check "the restarted espgated says it keeps the previous instance's policies" \
	grep -q "child lan: keeping the previous espgated's" "$(eg_dir gw)/espgated.log"
eg_stream_check $((SECS + 40)) " (one connection across the restart)"

vm_step "the partner negotiates again: new SAs, the old ones and their policies replaced"
vm_swanctl partner --terminate --ike gw --force --timeout 10 >/dev/null 2>&1
vm_swanctl partner --initiate --child lan --timeout 60 >"$VM_WORK/initiate2.out" 2>&1 || {
	cat "$VM_WORK/initiate2.out"
	vm_fail "swanctl --initiate after the restart"
}
vm_check "espgatectl status: partner ESTABLISHED with the restarted espgated" eg_wait_up gw partner 60
for spi in $spi0_out $spi0_in; do
	for i in $(seq 1 25); do
		[ -z "$(eg_sa_show "$G" "$spi")" ] && break
		sleep 0.2
	done
	[ -z "$(eg_sa_show "$G" "$spi")" ] ||
		vm_fail "the killed espgated's SA $spi is still in the gateway's kernel"
done
echo "ok: the killed instance's SAs ($spi0_out/$spi0_in) are gone"
body=$(eg_curl "$H" http://192.168.88.10/index.html) || vm_fail "curl through the new SAs"
vm_expect_eq "page from the partner LAN over the new SAs" partner-lan-page "$body"
vm_expect_eq "policies with templates" "$pol0" "$(ip -n "$G" xfrm policy list | grep -c 'tmpl src')"
eg_ctl gw status partner
