#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S4 (seed 001): a partner router misconfigured with wide selectors, 0.0.0.0/0 <-> 0.0.0.0/0,
# initiates to espgate (configured 10.1.0.0/16 <-> 192.168.88.0/24), real kernel SAs.
#  1. Default: espgate narrows. Both sides' CHILD SAs and the kernel policies cover only the
#     configured ranges (no policy wider than 10.1.0.0/16 <-> 192.168.88.0/24 on either side), and
#     HTTP through the tunnel works with only ESP on the wire.
#  2. strict_selectors: true (espgated restarted with it): the partner's next initiation is
#     refused with TS_UNACCEPTABLE, which both the partner's log and `espgatectl status` (last
#     error) show; no CHILD SA is installed; the down tunnel's traffic is dropped by the gateway,
#     never sent in clear (seed 004).
#  3. mode: initiator-only with the fixed selectors (seed 001's fixed Azure setup): the partner's
#     wide initiation is refused, nothing installed; espgate's own initiation (`espgatectl up`)
#     gets exactly 10.1.0.0/16 <-> 192.168.88.0/24 on both sides, and HTTP works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

eg_lab vm52
PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: none"
EG_PARTNER_LTS=0.0.0.0/0 EG_PARTNER_RTS=0.0.0.0/0 eg_partner_conf "$VM_WORK/partner.conf" "$PSK"

vm_step "1. default: the partner proposes 0.0.0.0/0 <-> 0.0.0.0/0, espgate narrows"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_mark_standin "$G"
vm_swanctl partner --initiate --child lan --timeout 60 >"$VM_WORK/initiate.out" 2>&1 || {
	cat "$VM_WORK/initiate.out"
	vm_fail "swanctl --initiate (narrowing)"
}
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 30
eg_ctl gw status partner
sas=$(vm_swanctl partner --list-sas)
echo "$sas"
echo "$sas" | grep -qE '^ +local +192\.168\.88\.0/24$' && echo "$sas" | grep -qE '^ +remote +10\.1\.0\.0/16$' ||
	vm_fail "the partner's CHILD SA is not narrowed to 192.168.88.0/24 === 10.1.0.0/16"
echo "ok: partner's CHILD SA narrowed to 192.168.88.0/24 === 10.1.0.0/16"
vm_check "espgate's CHILD SAs: 10.1.0.0/16 === 192.168.88.0/24" bash -c \
	"[ \$($EG_CTL -s $(eg_dir gw)/ctl.sock status partner | grep -cE ' spi .* 10\.1\.0\.0/16 === 192\.168\.88\.0/24 ') = 2 ]"
# kernel policies: no 0.0.0.0/0 selector that could carry other ranges, on either side
ip -n "$P" xfrm policy list
wide_p=$(ip -n "$P" xfrm policy list | grep -E '^src ' | grep -vcE '^src (192\.168\.88\.0/24 dst 10\.1\.0\.0/16|10\.1\.0\.0/16 dst 192\.168\.88\.0/24|0\.0\.0\.0/0 dst 0\.0\.0\.0/0 *$|::/0 dst ::/0 *$)')
vm_expect_eq "partner policies other than the narrowed pair (and socket bypasses)" 0 "$wide_p"
vm_expect_eq "partner: tunnel policies with a 0.0.0.0/0 selector" 0 \
	"$(ip -n "$P" xfrm policy list | grep -A1 '^src 0\.0\.0\.0/0 dst 0\.0\.0\.0/0' | grep -c ' dir ')"
# (besides the hairpin bypass for the gateway's own 10.1.0.4, bound to eg0: docs/DESIGN.md)
vm_expect_eq "gateway: out policies other than 10.1.0.0/16 -> 192.168.88.0/24" 0 \
	"$(ip -n "$G" xfrm policy list dir out | grep '^src ' | grep -v '^src 10\.1\.0\.4/32 dst 192\.168\.88\.0/24 dev eg0 *$' | grep -vc '^src 10\.1\.0\.0/16 dst 192\.168\.88\.0/24 *$')"
eg_lab_traffic narrowed

vm_step "2. strict_selectors: true: the wide proposal is refused"
# a restart, not `espgatectl reload`: the engine cannot yet replace a changed tunnel's config
# in place (ike_engine_reconfigure is on its way); a reload scenario belongs with it
eg_stop gw
for i in $(seq 1 50); do
	[ -z "$(ip -n "$P" xfrm state)" ] && break
	sleep 0.2
done
vm_expect_eq "SAs in the partner after espgated stopped" "" "$(ip -n "$P" xfrm state)"
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: none" "strict_selectors: true"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
eg_mark_standin "$G"
vm_swanctl partner --initiate --child lan --timeout 30 >"$VM_WORK/initiate2.out" 2>&1 &&
	vm_fail "the partner's 0.0.0.0/0 initiation succeeded in strict mode"
cat "$VM_WORK/initiate2.out"
vm_check "partner's log: TS_UNACCEPTABLE" grep -q TS_UNACCEPTABLE "$(vm_charon_dir partner)/charon.log"
st=$(eg_ctl gw status partner)
echo "$st"
echo "$st" | grep -qE 'last error: TS_UNACCEPTABLE: .*0\.0\.0\.0/0' ||
	vm_fail "espgatectl status does not say the wide selectors were refused"
echo "ok: espgatectl status: last error TS_UNACCEPTABLE naming the proposal"
vm_expect_eq "CHILD SAs in the gateway's kernel" "" "$(ip -n "$G" xfrm state)"
vm_expect_eq "CHILD SAs in the partner's kernel" "" "$(ip -n "$P" xfrm state)"
vm_capture_start "$G" eth0 "$VM_WORK/down-gw.pcap" -Q out
ip netns exec "$H" curl -sS --max-time 3 http://192.168.88.10/index.html &&
	vm_fail "HTTP to the partner LAN worked without a CHILD SA"
vm_capture_stop "$VM_WORK/down-gw.pcap"
vm_expect_eq "packets towards the partner LAN leaving the gateway without a CHILD SA" 0 \
	"$(vm_capture_grep "$VM_WORK/down-gw.pcap" '> 192\.168\.88\.')"
echo "ok: traffic of the refused tunnel dropped by the gateway, not sent in clear"

vm_step "3. mode: initiator-only: the partner cannot open the tunnel, espgate opens it with its selectors"
eg_stop gw
for i in $(seq 1 50); do
	[ -z "$(ip -n "$P" xfrm state)" ] && break
	sleep 0.2
done
eg_lab_conf "$VM_WORK/espgate.yaml" "$VM_WORK/secrets.yaml" "start: none" "mode: initiator-only"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
eg_mark_standin "$G"
vm_swanctl partner --initiate --child lan --timeout 30 >"$VM_WORK/initiate3.out" 2>&1 &&
	vm_fail "the partner opened an initiator-only tunnel"
cat "$VM_WORK/initiate3.out"
vm_expect_eq "CHILD SAs in the gateway's kernel after the partner's attempt" "" "$(ip -n "$G" xfrm state)"
vm_expect_eq "CHILD SAs in the partner's kernel after its attempt" "" "$(ip -n "$P" xfrm state)"
eg_ctl gw up partner || vm_fail "espgatectl up partner"
vm_check "espgatectl status: partner ESTABLISHED (espgate initiated)" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_ctl gw status partner
sas=$(vm_swanctl partner --list-sas)
echo "$sas" | grep -qE '^ +local +192\.168\.88\.0/24$' && echo "$sas" | grep -qE '^ +remote +10\.1\.0\.0/16$' ||
	vm_fail "the partner's CHILD SA is not 192.168.88.0/24 === 10.1.0.0/16: $sas"
echo "ok: partner's CHILD SA is espgate's fixed 192.168.88.0/24 === 10.1.0.0/16"
# (besides the hairpin bypass for the gateway's own 10.1.0.4, bound to eg0: docs/DESIGN.md)
vm_expect_eq "gateway: out policies other than 10.1.0.0/16 -> 192.168.88.0/24" 0 \
	"$(ip -n "$G" xfrm policy list dir out | grep '^src ' | grep -v '^src 10\.1\.0\.4/32 dst 192\.168\.88\.0/24 dev eg0 *$' | grep -vc '^src 10\.1\.0\.0/16 dst 192\.168\.88\.0/24 *$')"
eg_lab_traffic initiator-only
