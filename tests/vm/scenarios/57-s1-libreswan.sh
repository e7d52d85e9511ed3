#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S1 (seed 000) against a Libreswan partner: the lab of ../lib-espgate.sh with pluto (Libreswan,
# unpacked by tests/vm/run.sh, never installed) as the partner's router instead of strongSwan,
# IKEv2 PSK, ike aes256-sha2_256 + ecp384 (dh20), esp aes256-sha2_256 with PFS dh20, real kernel
# SAs on both sides. espgate initiates first: HTTP both ways through the tunnel, only ESP on the
# wire, SA counters on both sides, espgatectl status. Then espgate takes the tunnel down and
# Libreswan initiates (whack --initiate): the tunnel comes up with espgate responding, traffic
# flows again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

eg_lab vm57
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: start"
CONN='conn gw
	ikev2=insist
	authby=secret
	left=192.0.2.2
	leftid=192.0.2.2
	leftsubnet=192.168.88.0/24
	right=10.1.0.4
	rightid=10.1.0.4
	rightsubnet=10.1.0.0/16
	ike=aes256-sha2_256;dh20
	esp=aes256-sha2_256;dh20
	pfs=yes
	leftupdown=/bin/true
	auto=add'

vm_step "Libreswan partner, then espgated (initiates)"
eg_pluto_start partner "$P" "$CONN" "192.0.2.2 10.1.0.4 : PSK \"$PSK\""
grep -E 'Libreswan|"gw"' "$(eg_pluto_dir partner)/pluto.log" | head -n 5
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED with CHILD SAs" eg_wait_up gw partner 60
vm_check "Libreswan: Child SA of gw established" eg_pluto_wait_child partner gw 30
eg_ctl gw status
eg_whack partner --trafficstatus
grep -E '"gw" #' "$(eg_pluto_dir partner)/pluto.log" | tail -n 6
vm_check "Libreswan: IKE SA AES_CBC_256 / HMAC_SHA2_256 / DH20" grep -qE \
	'IKE_SA_INIT reply \{cipher=AES_CBC_256 integ=HMAC_SHA2_256_128 prf=HMAC_SHA2_256 group=DH20\}' \
	"$(eg_pluto_dir partner)/pluto.log"
vm_check "Libreswan: Child SA 192.168.88.0/24 <-> 10.1.0.0/16 AES_CBC_256-HMAC_SHA2_256_128" grep -qE \
	'established Child SA .*\[192\.168\.88\.0-192\.168\.88\.255:0-65535 0\] -> \[10\.1\.0\.0-10\.1\.255\.255:0-65535 0\].*xfrm=AES_CBC_256-HMAC_SHA2_256_128' \
	"$(eg_pluto_dir partner)/pluto.log"
eg_mark_standin "$G"
eg_lab_sa_checks
eg_lab_traffic ls

vm_step "espgate down; Libreswan initiates"
vm_check "espgatectl down partner" eg_ctl gw down partner
for i in $(seq 1 50); do
	[ -z "$(ip -n "$G" xfrm state)" ] && [ -z "$(ip -n "$P" xfrm state)" ] && break
	sleep 0.2
done
vm_expect_eq "gateway SAs after down" "" "$(ip -n "$G" xfrm state)"
vm_expect_eq "Libreswan's SAs after down (it processed our DELETE)" "" "$(ip -n "$P" xfrm state)"
eg_whack partner --initiate --name gw >"$VM_WORK/initiate.out" 2>&1 || {
	cat "$VM_WORK/initiate.out"
	vm_fail "whack --initiate"
}
tail -n 3 "$VM_WORK/initiate.out"
vm_check "espgatectl status: partner ESTABLISHED again" eg_wait_up gw partner 30
vm_check "Libreswan: Child SA of gw established" eg_pluto_wait_child partner gw 30
js=$(eg_ctl gw --json status partner)
echo "$js" | grep -q '"initiator":false' || vm_fail "espgate is not the responder: $js"
echo "ok: espgate responded to Libreswan"
eg_lab_traffic ls-r 5
