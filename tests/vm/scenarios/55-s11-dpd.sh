#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S11 (seed 000), dead peer detection: espgated (dpd delay 2 s, timeout 6 s, action restart)
# with a tunnel to strongSwan and real kernel SAs. The partner's charon is killed (SIGKILL: no
# DELETE) and its link goes down (a router powered off). Asserts: espgate declares the peer dead
# within the DPD timeout (espgatectl status says so in words, the log has it) and removes its
# SAs; traffic of the dead tunnel is dropped, never sent in clear; when the partner comes back (a
# rebooted router: no SAs, charon restarted, not initiating), espgate's restart re-establishes
# the tunnel by itself and HTTP works again through new SAs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

eg_lab vm55d
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: start" \
	"dpd: { delay: 2s, timeout: 6s, action: restart }"
eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "tunnel up"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_mark_standin "$G"
eg_web "$W" 192.168.88.10 80 "partner-lan-page"
body=$(eg_curl "$H" http://192.168.88.10/index.html) || vm_fail "curl through the tunnel"
vm_expect_eq "page through the tunnel" partner-lan-page "$body"
spi0=$(vm_xfrm_spis "$G" 192.0.2.2)

vm_step "the partner vanishes (charon SIGKILLed, its link down: a router powered off)"
kill -KILL "$(cat "$(vm_charon_dir partner)/pid")"
ip -n "$P" link set eth0 down
t0=$(vm_up)
dead=
for i in $(seq 1 150); do
	if eg_ctl gw status partner | grep -q 'last error: peer did not answer (dead peer detection)'; then
		dead=$(vm_up)
		break
	fi
	sleep 0.2
done
[ -n "$dead" ] || vm_fail "espgate did not declare the partner dead within 30 s"
echo "ok: dead peer detected after $(awk -v a="$t0" -v b="$dead" 'BEGIN { printf "%.1f", b - a }') s"
eg_ctl gw status partner
vm_check "espgated's log: IKE SA down (dead peer)" grep -q 'IKE SA down (dead peer)' "$(eg_dir gw)/espgated.log"
for i in $(seq 1 25); do
	[ -z "$(eg_sa_show "$G" "$spi0")" ] && break
	sleep 0.2
done
[ -z "$(eg_sa_show "$G" "$spi0")" ] || vm_fail "the dead tunnel's outbound SA $spi0 is still installed"
echo "ok: the dead tunnel's SAs were removed from the gateway's kernel"
vm_capture_start "$G" eth0 "$VM_WORK/dead-gw.pcap" -Q out
ip netns exec "$H" curl -sS --max-time 3 http://192.168.88.10/index.html &&
	vm_fail "HTTP to the partner LAN worked with the partner dead"
vm_capture_stop "$VM_WORK/dead-gw.pcap"
vm_expect_eq "clear packets towards the partner LAN leaving the gateway while the peer is dead" 0 \
	"$(vm_capture_grep "$VM_WORK/dead-gw.pcap" 'IP 10\.1\.[0-9.]+ > 192\.168\.88\.')"
init_sent=$(vm_capture_grep "$VM_WORK/dead-gw.pcap" '10\.1\.0\.4\.(500|4500) > 192\.0\.2\.2\.(500|4500): .*isakmp')
echo "IKE packets towards the partner meanwhile (restart attempts): $init_sent"

vm_step "the partner comes back (rebooted: no SAs, charon restarted, waits)"
ip -n "$P" xfrm state flush
ip -n "$P" xfrm policy flush
rm -f "$(vm_charon_dir partner)/charon.vici"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
# the link comes up once the router is configured (charon answering IKE before its connection
# is loaded would refuse espgate with NO_PROPOSAL_CHOSEN, which ends espgate's restart attempts)
ip -n "$P" link set eth0 up
ip -n "$P" route replace default via 192.0.2.1
vm_check "espgate re-established the tunnel by itself" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_ctl gw status partner
vm_swanctl partner --list-sas
[ "$(vm_xfrm_spis "$G" 192.0.2.2)" != "$spi0" ] || vm_fail "still the old SA"
n=$(grep -c 'initiating ike sa' "$(eg_dir gw)/espgated.log")
[ "$n" -ge 2 ] || vm_fail "espgated initiated $n IKE SAs (want the first and the restart)"
echo "ok: espgate initiated the new IKE SA (dpd action restart; $n initiations in all)"
eg_lab_traffic back 5
