#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What espgate's mark scheme relies on, on Debian's kernel: an inbound tunnel-mode SA carrying
# XFRMA_SET_MARK (`ip xfrm state ... output-mark`) marks the packets it decrypts, the decrypted
# packet is re-injected through the receiving device with that mark (seen by the netdev ingress
# hook, i.e. where tc ingress runs, and by the forward hook), and a fwd policy that carries the
# same mark matches them. Negative control: the same SA without the mark gets its decrypted
# packets dropped by the marked-only fwd policy, counted as XfrmInNoPols.
# Topology: site A (10.31.0.1) --ESP-- gateway B --plain-- host C (10.32.0.2).
. "$(dirname "$0")/../lib.sh"

A=vm30a
B=vm30b
C=vm30c
N=4
MARK=0x42
vm_ns $A $B $C
vm_veth $A v30a 192.0.2.31/24 $B v30b 192.0.2.32/24
vm_veth $B v30c 10.32.0.1/24 $C v30d 10.32.0.2/24
vm_dummy $A site0 10.31.0.1/24
vm_forwarding $B
ip -n $A route add 10.32.0.0/24 via 192.0.2.32
ip -n $B route add 10.31.0.0/24 via 192.0.2.31
ip -n $C route add default via 10.32.0.1
vm_check "underlay ping" vm_ping $A 192.0.2.31 192.0.2.32 1

hexkey() { echo "0x$(od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n')"; }
KAB=$(hexkey 36)
KBA=$(hexkey 36)
ALGO_AB=(aead 'rfc4106(gcm(aes))' "$KAB" 128)
ALGO_BA=(aead 'rfc4106(gcm(aes))' "$KBA" 128)

# A: plain site-to-site policies and SAs
ip -n $A xfrm state add src 192.0.2.31 dst 192.0.2.32 proto esp spi 0x3001 reqid 1 mode tunnel \
	"${ALGO_AB[@]}" || vm_fail "A out SA"
ip -n $A xfrm state add src 192.0.2.32 dst 192.0.2.31 proto esp spi 0x3002 reqid 1 mode tunnel \
	"${ALGO_BA[@]}" || vm_fail "A in SA"
ip -n $A xfrm policy add dir out src 10.31.0.0/24 dst 10.32.0.0/24 \
	tmpl src 192.0.2.31 dst 192.0.2.32 proto esp reqid 1 mode tunnel || vm_fail "A out policy"
ip -n $A xfrm policy add dir in src 10.32.0.0/24 dst 10.31.0.0/24 \
	tmpl src 192.0.2.32 dst 192.0.2.31 proto esp reqid 1 mode tunnel || vm_fail "A in policy"

# B: the inbound SA sets the mark; the only fwd policy for A's site requires it
b_in_sa() { # extra args: e.g. output-mark
	ip -n $B xfrm state add src 192.0.2.31 dst 192.0.2.32 proto esp spi 0x3001 reqid 1 \
		mode tunnel "${ALGO_AB[@]}" "$@"
}
vm_check "B inbound SA with output-mark $MARK" b_in_sa output-mark $MARK mask 0xffffffff
ip -n $B xfrm state add src 192.0.2.32 dst 192.0.2.31 proto esp spi 0x3002 reqid 1 mode tunnel \
	"${ALGO_BA[@]}" || vm_fail "B out SA"
ip -n $B xfrm policy add dir fwd src 10.31.0.0/24 dst 10.32.0.0/24 mark $MARK mask 0xffffffff \
	tmpl src 192.0.2.31 dst 192.0.2.32 proto esp reqid 1 mode tunnel || vm_fail "B fwd policy"
ip -n $B xfrm policy add dir out src 10.32.0.0/24 dst 10.31.0.0/24 \
	tmpl src 192.0.2.32 dst 192.0.2.31 proto esp reqid 1 mode tunnel || vm_fail "B out policy"
vm_check "B's SA shows output-mark $MARK" bash -c "ip -n $B xfrm state | grep -q 'output-mark $MARK/'"

# B: nftables counters for A's decrypted packets, marked and unmarked, at netdev ingress of the
# underlay veth (the re-injected packet, where tc ingress also runs) and at forward
ip netns exec $B nft -f - <<-EOF || vm_fail "nft ruleset"
	table netdev vm30 {
		chain ing {
			type filter hook ingress device v30b priority 0;
			ip saddr 10.31.0.1 meta mark $MARK counter comment "ing_marked"
			ip saddr 10.31.0.1 meta mark != $MARK counter comment "ing_unmarked"
		}
	}
	table ip vm30 {
		chain forward_c {
			type filter hook forward priority 0;
			ip saddr 10.31.0.1 meta mark $MARK counter comment "fwd_marked"
			ip saddr 10.31.0.1 meta mark != $MARK counter comment "fwd_unmarked"
		}
	}
EOF
# nftc NAME: packets counted by the rule commented NAME
nftc() {
	ip netns exec $B nft list ruleset |
		sed -n "s/.* counter packets \([0-9]*\) bytes .*comment \"$1\".*/\1/p"
}

vm_step "phase 1: SA sets mark $MARK, fwd policy requires it"
nopols0=$(vm_xfrm_stat $B XfrmInNoPols)
vm_check "$N pings from site A to C through B" vm_ping $A 10.31.0.1 10.32.0.2 $N
vm_expect_eq "B inbound SA packets" $N "$(vm_xfrm_packets $B 0x3001)"
vm_expect_eq "decrypted packets with mark $MARK at B's ingress (tc/netdev hook)" $N "$(nftc ing_marked)"
vm_expect_eq "decrypted packets without the mark at B's ingress" 0 "$(nftc ing_unmarked)"
vm_expect_eq "marked packets forwarded by B" $N "$(nftc fwd_marked)"
vm_expect_eq "unmarked packets forwarded by B" 0 "$(nftc fwd_unmarked)"
vm_expect_eq "XfrmInNoPols in B" "$nopols0" "$(vm_xfrm_stat $B XfrmInNoPols)"

vm_step "phase 2 (control): same SA without the mark, fwd policy still requires it"
ip -n $B xfrm state del src 192.0.2.31 dst 192.0.2.32 proto esp spi 0x3001 ||
	vm_fail "delete B inbound SA"
vm_check "B inbound SA without mark" b_in_sa
ip netns exec $A ping -q -n -c 2 -i 0.2 -W 1 -I 10.31.0.1 10.32.0.2 &&
	vm_fail "pings passed B's fwd policy although their SA sets no mark"
echo "ok: pings from A dropped by B"
vm_expect_eq "B inbound SA (unmarked) packets" 2 "$(vm_xfrm_packets $B 0x3001)"
vm_expect_eq "unmarked decrypted packets at B's ingress" 2 "$(nftc ing_unmarked)"
vm_expect_eq "unmarked packets forwarded by B" 0 "$(nftc fwd_unmarked)"
vm_expect_eq "XfrmInNoPols in B (fwd policy did not match)" $((nopols0 + 2)) \
	"$(vm_xfrm_stat $B XfrmInNoPols)"
