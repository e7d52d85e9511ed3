#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Reload under traffic, real kernel ESP: espgated with two tunnels, a (to partner A's LAN
# 192.168.88.0/24) and b (partner B's LAN, 192.168.99.0/25 at first), both up, and a 60 s
# byte-counted TCP stream from a VNet workload (forwarded traffic, not the gateway's own) through
# tunnel a. While it runs:
#   1. `espgatectl reload` of an invalid file: exit 1, "reload refused, nothing changed" with the
#      file:line:col error; every SPI is the same afterwards;
#   2. `espgatectl reload` of a file that changes only b (its remote selector becomes
#      192.168.99.0/24) and adds tunnel c (partner C's LAN 192.168.77.0/24): the output names b
#      "changed" and c "added" and not a; b comes back with new SPIs and the new selectors (HTTP
#      to 192.168.99.200, outside the old /25, works through it); c comes up with HTTP through it;
#   3. SIGHUP with a file that removes c: c's SAs are deleted on both sides, b keeps its SPIs;
# and through all of it a keeps its SAs (same SPIs in espgatectl status and both kernels) and the
# stream arrives complete (byte count and SHA-256), one connection.
# vm-timeout: 400
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"

SECS=60
G=vm66g N=vm66n H=vm66h
vm_ns "$G" "$N" "$H"
vm_veth "$H" eth0 10.1.1.66/24 "$N" n1 10.1.1.1/24
vm_veth "$N" n0 10.1.0.1/24 "$G" eth0 10.1.0.4/24
ip netns exec "$H" ethtool -K eth0 tx off >/dev/null # complete checksums, as from a wire
ip -n "$H" route add default via 10.1.1.1
ip -n "$G" route add default via 10.1.0.1
vm_forwarding "$N"
vm_forwarding "$G"
ip netns exec "$G" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
# partner X: router vm66X (underlay UND.2 on N's nX), LAN LAN.0/24 with host vm66Xw at LAN.10
partner_net() {
	local x=$1 und=$2 lan=$3
	vm_ns "vm66$x" "vm66${x}w"
	vm_veth "$N" "n$x" "$und.1/24" "vm66$x" eth0 "$und.2/24"
	vm_veth "vm66$x" lan0 "$lan.1/24" "vm66${x}w" eth0 "$lan.10/24"
	ip netns exec "vm66${x}w" ethtool -K eth0 tx off >/dev/null
	ip -n "vm66$x" route add default via "$und.1"
	ip -n "vm66${x}w" route add default via "$lan.1"
	ip -n "$N" route add "$lan.0/24" via 10.1.0.4
	vm_forwarding "vm66$x"
}
partner_net a 192.0.2 192.168.88
partner_net b 198.51.100 192.168.99
partner_net c 203.0.113 192.168.77
ip -n vm66bw addr add 192.168.99.200/24 dev eth0

(
	umask 077
	printf 'psk:\n' >"$VM_WORK/secrets.yaml"
	for x in a b c; do
		printf '  %s: "%s"\n' "$x" "$(eg_psk)" >>"$VM_WORK/secrets.yaml"
	done
)
psk() { awk -v k="  $1:" 'index($0, k) == 1 { gsub(/"/, "", $2); print $2 }' "$VM_WORK/secrets.yaml"; }

# tunnel NAME PEER REMOTE: one espgated tunnel (espgate initiates)
tunnel() {
	cat <<-EOF
		  $1:
		    peer: $2
		    local_address: 10.1.0.4
		    psk: $1
		    ike: aes256-sha256-ecp384
		    esp: aes256-sha256-ecp384
		    start: start
		    children:
		      - name: lan
		        local: 10.1.0.0/16
		        remote: $3
		        direction: both
	EOF
}
# gwconf FILE TUNNEL-LINES...: "NAME PEER REMOTE" per tunnel
gwconf() {
	local f=$1 t
	shift
	printf 'global:\n  interfaces: eth0\n  secrets: %s\ntunnels:\n' "$VM_WORK/secrets.yaml" >"$f"
	for t in "$@"; do
		# shellcheck disable=SC2086
		tunnel $t >>"$f"
	done
}
A="a 192.0.2.2 192.168.88.0/24"
gwconf "$VM_WORK/v1.yaml" "$A" "b 198.51.100.2 192.168.99.0/25"
gwconf "$VM_WORK/v2.yaml" "$A" "b 198.51.100.2 192.168.99.0/24" "c 203.0.113.2 192.168.77.0/24"
gwconf "$VM_WORK/v3.yaml" "$A" "b 198.51.100.2 192.168.99.0/24"
cp "$VM_WORK/v1.yaml" "$VM_WORK/espgate.yaml"

for x in a b c; do
	case $x in
	a) und=192.0.2 lan=192.168.88 ;;
	b) und=198.51.100 lan=192.168.99 ;;
	c) und=203.0.113 lan=192.168.77 ;;
	esac
	EG_PARTNER_LTS=$lan.0/24 eg_partner_conf "$VM_WORK/$x.conf" "$(psk $x)"
	sed -i "s/192\.0\.2\.2/$und.2/g" "$VM_WORK/$x.conf"
	vm_charon_start "$x" "vm66$x" "$VM_WORK/$x.conf"
	mkdir -p "$VM_WORK/www-$x"
	echo "page-$x" >"$VM_WORK/www-$x/index.html"
	ip netns exec "vm66${x}w" busybox httpd -f -p 80 -h "$VM_WORK/www-$x" &
	VM_PIDS+=($!)
done

# spis NAME: the SPIs espgatectl status shows for tunnel NAME, sorted, one line
spis() { eg_ctl gw status "$1" | grep -oE ' spi [0-9a-f]+' | sort | tr -d '\n'; }
# kspis NS: the SPIs in a kernel, sorted, one line
kspis() { ip -n "$1" xfrm state | grep -oE 'spi 0x[0-9a-f]+' | sort | tr '\n' ' '; }
# page TUNNEL-HOST URL WANT
page() {
	local body
	body=$(eg_curl "$H" "$2") || vm_fail "$1: curl $2"
	vm_expect_eq "$1: $2" "$3" "$body"
}
# a_kept TAG: tunnel a still has its first SAs, in espgatectl status and in both kernels
a_kept() {
	vm_expect_eq "$1: tunnel a's SPIs in espgatectl status" "$A0" "$(spis a)"
	vm_expect_eq "$1: partner A's kernel SAs" "$KA0" "$(kspis vm66a)"
}

vm_step "two tunnels up (espgate initiates)"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "tunnel a ESTABLISHED" eg_wait_up gw a 60
vm_check "tunnel b ESTABLISHED" eg_wait_up gw b 60
vm_check "A: CHILD_SA lan installed" vm_wait_child a lan 30
vm_check "B: CHILD_SA lan installed" vm_wait_child b lan 30
eg_ctl gw status
page a http://192.168.88.10/ page-a
page b http://192.168.99.10/ page-b
A0=$(spis a)
B0=$(spis b)
KA0=$(kspis vm66a)
echo "a: $A0; b: $B0"

vm_step "a ${SECS}s byte-counted stream through tunnel a"
eg_sink_start vm66aw 192.168.88.10 5001 "$VM_WORK/sink.out"
eg_stream_start "$H" 10.1.1.66 192.168.88.10 5001 "$SECS" 60000 "$VM_WORK/stream.out"
sleep 3

vm_step "1. reload of an invalid file: refused, nothing changes"
cp "$VM_WORK/espgate.yaml" "$VM_WORK/good.yaml"
sed 's|remote: 192.168.99.0/25|remote: 192.168.99.0/33|' "$VM_WORK/good.yaml" >"$VM_WORK/espgate.yaml"
out=$(eg_ctl gw reload 2>&1)
rc=$?
echo "$out"
vm_expect_eq "espgatectl reload exit code (invalid file)" 1 "$rc"
echo "$out" | grep -q 'reload refused, nothing changed' || vm_fail "reload output does not say it refused"
echo "$out" | grep -qE 'espgate\.yaml:[0-9]+:[0-9]+: .*192\.168\.99\.0/33' ||
	vm_fail "reload output does not point at the bad selector"
echo "ok: reload refused, names the file, line, column and the bad value"
sleep 1
a_kept invalid
vm_expect_eq "invalid: tunnel b's SPIs" "$B0" "$(spis b)"
cp "$VM_WORK/good.yaml" "$VM_WORK/espgate.yaml"

vm_step "2. reload: b's selectors change, c is added, a is untouched"
cp "$VM_WORK/v2.yaml" "$VM_WORK/espgate.yaml"
out=$(eg_ctl gw reload 2>&1)
rc=$?
echo "$out"
vm_expect_eq "espgatectl reload exit code" 0 "$rc"
echo "$out" | grep -q 'tunnel b: changed' || vm_fail "reload output does not name b as changed"
echo "$out" | grep -q 'tunnel c: added' || vm_fail "reload output does not name c as added"
echo "$out" | grep -q 'tunnel a:' && vm_fail "reload output names the unchanged tunnel a"
echo "ok: reload: b changed, c added, a not mentioned"
vm_check "tunnel b ESTABLISHED again" eg_wait_up gw b 60
vm_check "tunnel c ESTABLISHED" eg_wait_up gw c 60
vm_check "C: CHILD_SA lan installed" vm_wait_child c lan 30
eg_ctl gw status
B1=$(spis b)
[ -n "$B1" ] && [ "$B1" != "$B0" ] || vm_fail "tunnel b was not renegotiated ($B0 -> $B1)"
echo "ok: b renegotiated: $B0 -> $B1"
eg_ctl gw status b | grep -qE ' spi .* 10\.1\.0\.0/16 === 192\.168\.99\.0/24 ' ||
	vm_fail "tunnel b's CHILD SA does not carry the new selector 192.168.99.0/24"
echo "ok: b's CHILD SA: 10.1.0.0/16 === 192.168.99.0/24"
page b-new http://192.168.99.200/ page-b
page c http://192.168.77.10/ page-c
vm_check "c's outbound SA carried the request" bash -c \
	"$EG_CTL -s $(eg_dir gw)/ctl.sock status c | grep -qE 'out +spi .* [1-9][0-9]* pkts'"
a_kept reload

vm_step "3. SIGHUP with c removed: c's SAs deleted on both sides, a and b kept"
[ -s "$VM_WORK/stream.out" ] && vm_fail "the stream ended before the SIGHUP: $(cat "$VM_WORK/stream.out")"
echo "ok: the stream is still running"
cp "$VM_WORK/v3.yaml" "$VM_WORK/espgate.yaml"
kill -HUP "$(eg_pid gw)"
for i in $(seq 1 75); do
	[ -z "$(ip -n vm66c xfrm state)" ] && ! eg_ctl gw status 2>/dev/null | grep -q '^c ' && break
	sleep 0.2
done
grep -E 'reloaded|tunnel c' "$(eg_dir gw)/espgated.log" | tail -n 5
vm_check "espgated logged the reload" grep -q 'reloaded ' "$(eg_dir gw)/espgated.log"
vm_expect_eq "partner C's SAs after c was removed" "" "$(ip -n vm66c xfrm state)"
vm_expect_eq "gateway SAs towards C" "" "$(vm_xfrm_spis "$G" 203.0.113.2)"
eg_ctl gw status
eg_ctl gw status | grep -q '^c ' && vm_fail "espgatectl status still shows tunnel c"
vm_expect_eq "sighup: tunnel b's SPIs" "$B1" "$(spis b)"
a_kept sighup
page b-after http://192.168.99.200/ page-b

vm_step "the stream through a finished byte-exact"
eg_stream_check $((SECS + 30))
a_kept end
