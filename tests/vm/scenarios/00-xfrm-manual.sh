#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# Kernel ESP with hand-made SAs: two namespaces joined by a veth (192.0.2.1 <-> 192.0.2.2), each
# with a "site" address on a dummy (10.1.0.1, 10.2.0.1), an ESP tunnel-mode SA pair and the
# out/in policies installed with `ip xfrm`. For aes-cbc + hmac-sha256 and then rfc4106(gcm(aes)):
# a ping between the site addresses succeeds, the underlay carries only ESP (one packet per ping
# and direction, no ICMP: captured leaving both ends, since the receiving end re-injects the
# decrypted packet through the same veth), and every SA's packet counter rises by exactly the
# number of pings.
. "$(dirname "$0")/../lib.sh"

A=vm00a
B=vm00b
N=5
vm_ns $A $B
vm_veth $A v00a 192.0.2.1/24 $B v00b 192.0.2.2/24
vm_dummy $A site0 10.1.0.1/24
vm_dummy $B site0 10.2.0.1/24
ip -n $A route add 10.2.0.0/24 via 192.0.2.2
ip -n $B route add 10.1.0.0/24 via 192.0.2.1
vm_check "underlay ping" vm_ping $A 192.0.2.1 192.0.2.2 1

hexkey() { echo "0x$(od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n')"; }

# policies: site-to-site tunnel, the same for both variants (reqid ties them to the SAs)
pol() { # NS LOCAL_NET REMOTE_NET LOCAL_GW REMOTE_GW
	ip -n "$1" xfrm policy add dir out src "$2" dst "$3" \
		tmpl src "$4" dst "$5" proto esp reqid 1 mode tunnel || vm_fail "policy out $1"
	ip -n "$1" xfrm policy add dir in src "$3" dst "$2" \
		tmpl src "$5" dst "$4" proto esp reqid 1 mode tunnel || vm_fail "policy in $1"
}
pol $A 10.1.0.0/24 10.2.0.0/24 192.0.2.1 192.0.2.2
pol $B 10.2.0.0/24 10.1.0.0/24 192.0.2.2 192.0.2.1

# variant LABEL SPI_AB SPI_BA ALGO-ARGS...: one SA pair with these algorithms, then the checks.
variant() {
	local label=$1 sab=$2 sba=$3 ns spi capa=$VM_WORK/$1-a.pcap capb=$VM_WORK/$1-b.pcap
	shift 3
	vm_step "$label: SA pair $sab (A->B), $sba (B->A)"
	for ns in $A $B; do
		ip -n $ns xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi "$sab" reqid 1 \
			mode tunnel "$@" || vm_fail "$label: xfrm state add $sab in $ns"
		ip -n $ns xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi "$sba" reqid 1 \
			mode tunnel "$@" || vm_fail "$label: xfrm state add $sba in $ns"
	done
	for ns in $A $B; do
		for spi in "$sab" "$sba"; do
			vm_expect_eq "$label: $ns SA $spi starts at" 0 "$(vm_xfrm_packets $ns "$spi")"
		done
	done
	vm_capture_start $A v00a "$capa" -Q out
	vm_capture_start $B v00b "$capb" -Q out
	vm_check "$label: $N pings through the tunnel" vm_ping $A 10.1.0.1 10.2.0.1 $N
	vm_capture_stop "$capa"
	vm_capture_stop "$capb"
	head -n 2 "$capa.txt" "$capb.txt"
	vm_expect_eq "$label: ICMP sent in clear by A or B" 0 \
		$(($(vm_capture_grep "$capa" ': ICMP ') + $(vm_capture_grep "$capb" ': ICMP ')))
	vm_expect_eq "$label: ESP packets A->B with SPI $sab" $N \
		"$(vm_capture_grep "$capa" "ESP\(spi=$(printf '0x%08x' $((sab))),")"
	vm_expect_eq "$label: ESP packets B->A with SPI $sba" $N \
		"$(vm_capture_grep "$capb" "ESP\(spi=$(printf '0x%08x' $((sba))),")"
	for ns in $A $B; do
		for spi in "$sab" "$sba"; do
			vm_expect_eq "$label: $ns SA $spi packets" $N "$(vm_xfrm_packets $ns "$spi")"
		done
	done
	for ns in $A $B; do
		ip -n $ns xfrm state flush
	done
}

variant cbc-hmac 0x1001 0x1002 \
	enc 'cbc(aes)' "$(hexkey 32)" auth-trunc 'hmac(sha256)' "$(hexkey 32)" 128
variant gcm 0x2001 0x2002 \
	aead 'rfc4106(gcm(aes))' "$(hexkey 36)" 128

vm_step "no XFRM errors"
for ns in $A $B; do
	bad=$(ip netns exec $ns awk '$2 != 0 { printf "%s=%s ", $1, $2 }' /proc/net/xfrm_stat)
	vm_expect_eq "$ns: non-zero xfrm_stat counters" "" "$bad"
done
