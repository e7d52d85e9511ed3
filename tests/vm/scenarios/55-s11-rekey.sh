#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# S11 (seed 000): rekeys under continuous traffic lose nothing. espgated (CHILD lifetime 20 s,
# rekey margin 8 s: it rekeys the CHILD SA every 12 s, with PFS ecp384) against strongSwan
# (IKE rekey_time 13 s: the partner rekeys the IKE SA), real kernel SAs. While a 30 s TCP stream
# runs from a VNet host to the partner's LAN, and pings alongside it:
#   - espgate initiated at least two CHILD rekeys and the partner at least two IKE rekeys (the
#     partner's log: requests it parsed / generated);
#   - the stream's byte count and SHA-256 at the receiver equal what was sent (one connection,
#     never reset), and no ping was lost;
#   - the initial SAs are gone from both kernels, the current pair carries the traffic (counters),
#     only ESP left the gateway towards the partner, and espgatectl status shows the tunnel up.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

SECS=30
eg_lab vm55
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: start" "lifetime: 20s" \
	"rekey_margin: 8s" "rekey_fuzz: 0%" "ike_lifetime: 120s"
eg_partner_conf "$VM_WORK/partner.conf" "$PSK" "start_action = none
						rekey_time = 120s" "rekey_time = 13s
				rand_time = 0"

vm_step "tunnel up (espgate initiates)"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_mark_standin "$G"
spi0_out=$(vm_xfrm_spis "$G" 192.0.2.2)
spi0_in=$(vm_xfrm_spis "$G" 10.1.0.4)
echo "initial SAs: out $spi0_out in $spi0_in"
log=$(vm_charon_dir partner)/charon.log
child0=$(grep -cE 'parsed CREATE_CHILD_SA request [0-9]+ \[ N\(REKEY_SA\)' "$log")
ike0=$(grep -cE 'generating CREATE_CHILD_SA request [0-9]+ \[ SA No KE \]' "$log")

vm_step "a ${SECS}s TCP stream and pings through the tunnel while both sides rekey"
eg_sink_start "$W" 192.168.88.10 5001 "$VM_WORK/sink.out"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out 'dst host 192.0.2.2'
eg_stream_start "$H" 10.1.1.66 192.168.88.10 5001 "$SECS" 60000 "$VM_WORK/stream.out"
ip netns exec "$H" ping -q -n -i 0.25 -c $((SECS * 4 - 8)) -W 2 192.168.88.10 >"$VM_WORK/ping.out" 2>&1 &
ping_pid=$!
vm_check "the stream finished" eg_stream_wait "$VM_WORK/stream.out" $((SECS + 30))
wait $ping_pid
ping_rc=$?
vm_check "the receiver finished" eg_stream_wait "$VM_WORK/sink.out" 10
vm_capture_stop "$VM_WORK/gw.pcap"
sent=$(cat "$VM_WORK/stream.out")
got=$(cat "$VM_WORK/sink.out")
echo "sent: $sent"
echo "received: $got"
case $sent in ERROR*) vm_fail "the TCP stream broke: $sent" ;; esac
vm_expect_eq "bytes and SHA-256 received = sent (one connection, nothing lost)" "$sent" "$got"
cat "$VM_WORK/ping.out"
[ $ping_rc = 0 ] && grep -q ' 0% packet loss' "$VM_WORK/ping.out" || vm_fail "pings were lost during the rekeys"
echo "ok: no ping lost"

vm_step "who rekeyed"
child_rk=$(($(grep -cE 'parsed CREATE_CHILD_SA request [0-9]+ \[ N\(REKEY_SA\)' "$log") - child0))
ike_rk=$(($(grep -cE 'generating CREATE_CHILD_SA request [0-9]+ \[ SA No KE \]' "$log") - ike0))
grep -E 'CREATE_CHILD_SA|rekey' "$log" | tail -n 20
[ $child_rk -ge 2 ] || vm_fail "espgate initiated $child_rk CHILD rekeys in ${SECS}s (want >= 2)"
[ $ike_rk -ge 2 ] || vm_fail "the partner initiated $ike_rk IKE rekeys in ${SECS}s (want >= 2)"
echo "ok: CHILD rekeys initiated by espgate: $child_rk, IKE rekeys initiated by the partner: $ike_rk"
grep -E 'rekeyed|collision' "$(eg_dir gw)/espgated.log" | tail -n 8
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 10
eg_ctl gw status partner

vm_step "the initial SAs are gone, only ESP went to the partner"
for ns in "$G" "$P"; do
	for spi in $spi0_out $spi0_in; do
		[ -z "$(eg_sa_show "$ns" "$spi")" ] || vm_fail "$ns still has the initial SA $spi"
	done
done
echo "ok: initial SAs $spi0_out/$spi0_in deleted on both sides"
vm_expect_eq "clear packets from the VNet to the partner LAN leaving the gateway" 0 \
	"$(vm_capture_grep "$VM_WORK/gw.pcap" 'IP 10\.1\.[0-9.]+ > 192\.168\.88\.')"
spis=$(grep -oE 'ESP\(spi=0x[0-9a-f]+' "$VM_WORK/gw.pcap.txt" | sort -u | wc -l)
[ "$spis" -ge 3 ] || vm_fail "the stream used $spis outbound SAs (want >= 3: rekeyed twice)"
echo "ok: the stream crossed $spis outbound SAs, ESP only: $(vm_capture_grep "$VM_WORK/gw.pcap" ': ESP') packets"
