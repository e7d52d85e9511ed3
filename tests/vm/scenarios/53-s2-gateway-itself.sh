#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S2 (seed 000), literally: 10.1.1.66 is the gateway VM itself. Its own connections to the
# partner's LAN leave through the tunnel as 100.64.0.18, with the BPF datapath and real kernel SAs
# against strongSwan. espgated sees that the snat rule's inside address is one of the host's own
# and routes the child's remote selector through its eg0/eg1 veth hairpin (user/hairpin.h), where
# tc translates the VM's locally generated packets like forwarded ones; replies are decrypted on
# eth0 and reverse-translated there. Asserts: the hairpin route (192.168.88.0/24 dev eg0 src
# 10.1.1.66); HTTP from the gateway itself to the partner LAN works; the partner's LAN sees only
# 100.64.0.18; only ESP leaves the gateway towards the partner; SA counters rise on both sides;
# espgatectl nat shows the translated flow. Then EG_CFG_SA_CHECK: espgated set it and the
# decrypted replies passed it (their sec_path names the child's reqid); a forged reply (the
# gateway's own raw packet from 192.168.88.10 into the UDP flow it opened, given the child's in
# mark by an nftables rule and routed into eg0) is dropped on eg1 as DROP_NOT_DECRYPTED, never
# translated; with the check switched off (the control) the datapath would take it for the
# child's traffic (NAT_IN). (53-s2-snat is the other half of S2: a workload routed through the
# gateway.)
#   gw (espgate, eth0 10.1.1.66, also the IKE endpoint) --- fabric (10.1.1.1 / 192.0.2.1)
#   --- ptr (the partner's router, 192.0.2.2, lan0 192.168.88.1) --- web (192.168.88.10)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

N=vm53n G=vm53g P=vm53p W=vm53w
vm_ns "$N" "$G" "$P" "$W"
vm_veth "$G" eth0 10.1.1.66/24 "$N" n1 10.1.1.1/24
vm_veth "$N" n2 192.0.2.1/24 "$P" eth0 192.0.2.2/24
vm_veth "$P" lan0 192.168.88.1/24 "$W" eth0 192.168.88.10/24
ip netns exec "$W" ethtool -K eth0 tx off >/dev/null
ip -n "$G" route add default via 10.1.1.1
ip -n "$P" route add default via 192.0.2.1
ip -n "$W" route add default via 192.168.88.1
vm_forwarding "$N"
vm_forwarding "$P"
vm_check "underlay: gateway reaches the partner" vm_ping "$G" 10.1.1.66 192.0.2.2 1

PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" partner "$PSK"
cat >"$VM_WORK/espgate.yaml" <<EOC
global:
  interfaces: eth0
  secrets: $VM_WORK/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 10.1.1.66
    psk: partner
    ike: aes256-sha256-ecp384
    esp: aes256-sha256-ecp384
    start: start
    children:
      - name: rabbitmq
        local: 100.64.0.18/32
        remote: 192.168.88.0/24
        nat:
          - type: snat
            inside: 10.1.1.66
            outside: 100.64.0.18
EOC
EG_PARTNER_RTS=100.64.0.18/32 eg_partner_conf "$VM_WORK/partner.conf" "$PSK"
sed -i 's/10\.1\.0\.4/10.1.1.66/g' "$VM_WORK/partner.conf"

vm_step "tunnel up (espgate initiates)"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgatectl status: partner ESTABLISHED" eg_wait_up gw partner 60
vm_check "partner: CHILD_SA lan installed" vm_wait_child partner lan 30
eg_ctl gw status
ip -n "$G" route show
vm_check "hairpin route: 192.168.88.0/24 dev eg0 src 10.1.1.66" bash -c \
	"ip -n $G route show 192.168.88.0/24 | grep -qE 'dev eg0 .*src 10\.1\.1\.66'"

vm_step "HTTP from the gateway itself (10.1.1.66): the partner sees 100.64.0.18"
eg_web "$W" 192.168.88.10 80 "partner-lan-page"
out_spi=$(vm_xfrm_spis "$G" 192.0.2.2)
in_spi=$(vm_xfrm_spis "$G" 10.1.1.66)
[ "$(echo "$out_spi" | wc -w)" = 1 ] && [ "$(echo "$in_spi" | wc -w)" = 1 ] ||
	vm_fail "expected one SA each way, got out='$out_spi' in='$in_spi'"
vm_capture_start "$W" eth0 "$VM_WORK/web.pcap"
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -Q out
vm_capture_start "$P" eth0 "$VM_WORK/ptr.pcap" -Q out
# nsenter, not ip netns exec: the same mount namespace as espgated (no difference for curl)
body=$(vm_nsx "$G" curl -sS --fail --max-time 15 http://192.168.88.10/index.html) ||
	vm_fail "curl from the gateway itself to the partner LAN"
vm_expect_eq "page from the partner LAN" partner-lan-page "$body"
eg_ctl gw nat
vm_check "espgatectl nat shows 10.1.1.66 translated to 100.64.0.18" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock nat | grep -qE '10\.1\.1\.66:[0-9]+ -> 192\.168\.88\.10:80 +100\.64\.0\.18:[0-9]+ -> 192\.168\.88\.10:80'"
vm_capture_stop "$VM_WORK/web.pcap"
vm_capture_stop "$VM_WORK/gw.pcap"
vm_capture_stop "$VM_WORK/ptr.pcap"
grep ' IP ' "$VM_WORK/web.pcap.txt" | head -n 4
from_snat=$(vm_capture_grep "$VM_WORK/web.pcap" 'IP 100\.64\.0\.18\.[0-9]+ > 192\.168\.88\.10\.80:')
[ "$from_snat" -ge 3 ] || vm_fail "the web host saw $from_snat packets from 100.64.0.18"
vm_expect_eq "packets from 10.1.x.x seen on the partner's LAN" 0 \
	"$(vm_capture_grep "$VM_WORK/web.pcap" 'IP 10\.1\.')"
echo "ok: the partner's LAN saw only 100.64.0.18 ($from_snat packets)"
vm_expect_eq "IPv4 packets leaving the gateway other than ESP/IKE to the partner" 0 \
	"$(grep ' IP ' "$VM_WORK/gw.pcap.txt" | grep -vcE 'IP 10\.1\.1\.66(\.[0-9]+)? > 192\.0\.2\.2(\.[0-9]+)?: (ESP|isakmp|UDP)')"
vm_expect_eq "clear packets between the sites leaving the partner" 0 \
	"$(grep -cE 'IP 192\.168\.88\.[0-9.]+ > (100\.64|10\.1)\.' "$VM_WORK/ptr.pcap.txt")"
eg_esp_seen "$VM_WORK/gw.pcap" "$VM_WORK/ptr.pcap" 10.1.1.66 192.0.2.2 "$out_spi" "$in_spi" partner
eg_ctl gw counters

vm_step "EG_CFG_SA_CHECK: decrypted traffic passed, a forged in mark does not"
# espgated sets the check; the replies above were decrypted on eth0 and passed it (their
# sec_path carries the child's reqid), so nothing was dropped for want of XFRM state.
cfg_flags() { # [NEW]: prints eg_config.flags; with NEW, writes it
	python3 - "$@" <<'PY'
import json, subprocess, sys
pin = "/sys/fs/bpf/espgate/eg_config"
raw = [int(b, 16) for b in json.loads(subprocess.check_output(
    ["bpftool", "-j", "map", "lookup", "pinned", pin, "key", "0", "0", "0", "0"]))["value"]]
print(int.from_bytes(bytes(raw[4:8]), "little"))  # flags follow gen
if len(sys.argv) > 1:
    raw[4:8] = list(int(sys.argv[1]).to_bytes(4, "little"))
    subprocess.check_call(["bpftool", "map", "update", "pinned", pin, "key", "0", "0", "0", "0",
                           "value", *[str(b) for b in raw]])
PY
}
counter() { eg_ctl gw counters | awk -v n="$1" '$1 == n { print $2 }' | grep . || echo 0; }
SA_CHECK=8 # EG_CFG_SA_CHECK
flags=$(cfg_flags) || vm_fail "reading eg_config"
[ $((flags & SA_CHECK)) != 0 ] || vm_fail "espgated did not set EG_CFG_SA_CHECK (flags $flags)"
vm_expect_eq "DROP_NOT_DECRYPTED after the HTTP exchange" 0 "$(counter DROP_NOT_DECRYPTED)"
echo "ok: eg_config.flags $flags has EG_CFG_SA_CHECK; the decrypted replies passed it"

# The forgery: the partner's reply to a UDP flow the gateway opened, written in clear by the
# gateway's own stack (a raw socket, source 192.168.88.10:7777 -> 100.64.0.18:5555 as it would
# leave the SA) and given the child's in mark by an nftables rule - someone else's tool. A route
# takes it into eg0, so tc_eg_nat on eg1 sees a packet that looks decrypted by the child.
in_mark=$(ip -n "$G" xfrm state | grep -oE 'output-mark 0x4547[89a-f][0-9a-f]{3}' | head -1 |
	awk '{ print $2 }')
[ -n "$in_mark" ] || vm_fail "no in mark on the gateway's inbound SA"
ip -n "$G" route add 100.64.0.18/32 via 169.254.69.70 dev eg0 || vm_fail "route for the forgery"
ip netns exec "$G" nft -f - <<-NFT || vm_fail "nft mark rule"
	table ip forge {
		chain out {
			type filter hook output priority -150;
			ip saddr 192.168.88.10 udp sport 7777 meta mark set $in_mark
		}
	}
NFT
forge() { # prints what the flow's socket received: the forged payload, or "nothing"
	vm_nsx "$G" python3 - <<'PY'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.1.1.66", 5555))
s.settimeout(2)
s.sendto(b"open", ("192.168.88.10", 7777))  # through the tunnel: the conntrack pair
payload = b"forged"
udp = struct.pack("!HHHH", 7777, 5555, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                 socket.inet_aton("192.168.88.10"), socket.inet_aton("100.64.0.18"))
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
r.sendto(ip + udp, ("100.64.0.18", 0))
try:
    while True:
        data, src = s.recvfrom(100)
        if data == payload:
            print("received")
            break
except socket.timeout:
    print("nothing")
PY
}
# the web host takes the flow's datagrams silently: no port unreachable comes back through the
# tunnel, so NAT_IN counts only the forgery
ip netns exec "$W" timeout 60 python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.168.88.10", 7777))
while True:
    s.recv(100)' &
VM_PIDS+=($!)
sleep 0.5
d0=$(counter DROP_NOT_DECRYPTED) n0=$(counter NAT_IN)
got=$(forge) || vm_fail "the forgery script"
d1=$(counter DROP_NOT_DECRYPTED) n1=$(counter NAT_IN)
vm_expect_eq "the flow's socket got the forged reply" nothing "$got"
vm_expect_eq "DROP_NOT_DECRYPTED for the forged packet" 1 $((d1 - d0))
vm_expect_eq "NAT_IN for the forged packet (never translated)" 0 $((n1 - n0))
echo "ok: the forged in mark (${in_mark}) without XFRM state was dropped on eg1 and counted"

# The control: with the check off the same forgery is taken for the child's traffic by the
# datapath (reverse-translated, counted NAT_IN, conntrack acted on); only the kernel's template
# check at local delivery still stops it (XfrmInTmplMismatch).
cfg_flags $((flags & ~SA_CHECK)) >/dev/null || vm_fail "switching the check off"
t0=$(vm_xfrm_stat "$G" XfrmInTmplMismatch)
got=$(forge) || vm_fail "the forgery script (check off)"
d2=$(counter DROP_NOT_DECRYPTED) n2=$(counter NAT_IN)
t1=$(vm_xfrm_stat "$G" XfrmInTmplMismatch)
cfg_flags "$flags" >/dev/null || vm_fail "switching the check back on"
vm_expect_eq "check off: DROP_NOT_DECRYPTED unchanged" 0 $((d2 - d1))
vm_expect_eq "check off: the datapath reverse-translated the forgery (NAT_IN)" 1 $((n2 - n1))
echo "ok: control: without the check the datapath took it for tunnel traffic (NAT_IN +1; kernel XfrmInTmplMismatch ${t0:-?} -> ${t1:-?}, socket: $got)"
ip netns exec "$G" nft delete table ip forge
ip -n "$G" route del 100.64.0.18/32
