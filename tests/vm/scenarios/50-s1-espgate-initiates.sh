#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# S1 (seed 000), espgate initiates: plain site-to-site between the VNet 10.1.0.0/16 and the
# partner's LAN 192.168.88.0/24, IKEv2 PSK, ike aes256-sha256-ecp384, esp aes256-sha256 with PFS
# ecp384, against strongSwan (kernel-netlink) with real kernel SAs on both sides (the lab of
# ../lib-espgate.sh). Asserts what a user checks: espgatectl status shows the tunnel, the
# negotiated suite and its CHILD SAs; the partner agrees; an HTTP request from a VNet workload to
# a web server on the partner's LAN succeeds, and one the other way; only ESP leaves the gateway
# towards the partner and the partner towards us; the kernel SA counters rise on both sides; the
# SAs carry espgate's marks and replay window; a graceful stop deletes the SAs on both sides.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

eg_lab vm50
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: start"
eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "partner charon, then espgated (initiates at start)"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED with CHILD SAs" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_ctl gw status
vm_swanctl partner --list-sas
js=$(eg_ctl gw --json status partner)
echo "$js"
echo "$js" | grep -q '"initiator":true' || vm_fail "espgate was not the IKE initiator"
echo "$js" | grep -q '"ike_proposal":"aes256-sha256-ecp384"' || vm_fail "status: IKE suite"
echo "$js" | grep -q '"esp":"aes256-sha256"' || vm_fail "status: ESP suite"
echo "ok: espgate initiated, status shows ike aes256-sha256-ecp384, esp aes256-sha256"
vm_check "partner: IKE aes256/sha256/ecp384, ESP aes256/sha256 (PFS group in the proposal)" bash -c \
	"STRONGSWAN_CONF=$(vm_charon_dir partner)/strongswan.conf swanctl --list-sas --uri unix://$(vm_charon_dir partner)/charon.vici |
	 grep -q 'AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_384' &&
	 STRONGSWAN_CONF=$(vm_charon_dir partner)/strongswan.conf swanctl --list-sas --uri unix://$(vm_charon_dir partner)/charon.vici |
	 grep -q 'ESP:AES_CBC-256/HMAC_SHA2_256_128'"
eg_mark_standin "$G"
eg_lab_sa_checks

vm_step "HTTP through the tunnel, both ways"
eg_lab_traffic s1

vm_step "graceful stop deletes the SAs on both sides"
eg_stop gw
for i in $(seq 1 50); do
	[ -z "$(ip -n "$P" xfrm state)" ] && break
	sleep 0.2
done
vm_expect_eq "SAs left in the partner's kernel after espgated stopped" "" "$(ip -n "$P" xfrm state)"
vm_expect_eq "SAs left in the gateway's kernel" "" "$(ip -n "$G" xfrm state)"
vm_check "the gateway's policies stay: its traffic is blocked, never sent in clear" bash -c \
	"ip -n $G xfrm policy list dir out | grep -q 'mark 0x4547'"
