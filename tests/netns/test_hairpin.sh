#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Netns tier: the eg0/eg1 hairpin that carries the gateway's own traffic through the datapath.
# A namespace acting as the gateway (10.1.1.66 is its own address, as in seed 000) runs the real
# espgated (datapath on, SAs recorded: no kernel ESP here) with S2's SNAT child; a second
# namespace is the partner side. Asserts the veth pair and its addresses, the routes of the
# remote selectors (via eg0, proto 0x45, src 10.1.1.66; not /0, not the peer's prefix, not a
# prefix someone else routes), that a restart re-uses everything and prunes our stale routes,
# and the proof: a packet the gateway itself sends to a remote-selector address crosses eg1,
# where tc_eg_nat translates its source to 100.64.0.18 (seen by the partner, counted NAT_OUT).
# The translated, marked packet is steered to the partner by an fwmark rule standing in for
# the XFRM out policy; ESP itself is the VM tier's. A packet to the same address that no child
# takes (UDP to another port than the selector's 9000, ICMP) would be routed back into eg0 by eg1
# and loop until its TTL ends: it crosses eg0 once and is dropped and counted (DROP_HAIRPIN_LOOP).
# Finally --detach removes exactly ours.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
nt_private_bpffs "$@"
OUTPUT=${OUTPUT:-.output}
ESPGATED=$PWD/$OUTPUT/espgated
export NT_PIN_ROOT=/sys/fs/bpf/espgate

if [ ! -x "$ESPGATED" ]; then
	tap_fail "espgated binary present" "$ESPGATED not built"
	tap_done
	exit
fi
work=$(mktemp -d)
nt_on_exit "rm -rf $work"

nt_ns G gw
nt_ns P partner
nt_veth "$G" eth0 "$P" p0
ip -n "$G" addr add 192.0.2.1/24 dev eth0
ip -n "$G" addr add 10.1.1.66/24 dev eth0
ip -n "$G" route add default via 192.0.2.2 dev eth0 # a VM has one (eg1's loose rp_filter needs it)
ip -n "$P" addr add 192.0.2.2/24 dev p0
ip -n "$P" addr add 198.18.170.151/32 dev lo
# stand-in for the child's XFRM out policy: out-marked packets go to the partner
ip -n "$G" rule add fwmark 0x45470000/0xffff8000 lookup 100
ip -n "$G" route add default via 192.0.2.2 dev eth0 table 100
# someone else's route for one remote selector, and a stale route of ours
ip -n "$G" route add 192.168.99.0/24 via 192.0.2.2 dev eth0 proto static
ip -n "$G" route add 10.99.0.0/16 via 192.0.2.2 dev eth0 proto 0x45

umask 077
cat >"$work/secrets.yaml" <<EOF
psk:
  partner: "0123456789abcdef0123456789abcdef"
EOF
conf() { # $1: extra remote selector
	cat <<EOF
global:
  interfaces: eth0
  secrets: $work/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    psk: partner
    start: on-demand
    local_address: 192.0.2.1
    children:
      - name: rabbitmq
        local: 100.64.0.18/32
        remote: [198.18.170.151/32:udp:9000, 192.0.2.0/24, 192.168.99.0/24$1]
        nat:
          - type: snat
            inside: 10.1.1.66
            outside: 100.64.0.18
      - name: plain
        local: 10.1.2.0/24
        remote: [172.16.9.0/24]
EOF
}
conf ", 192.168.88.0/24, 0.0.0.0/0" >"$work/a.yaml"
conf "" >"$work/b.yaml"

PID=
start() { # $1: config
	rm -f "$work/ctl.sock"
	nt_in "$G" "$ESPGATED" -d -c "$1" --record-sas --ctl "$work/ctl.sock" \
		--record-dump "$work/dump.json" >>"$work/log" 2>&1 &
	PID=$!
	nt_on_exit "kill $PID 2>/dev/null"
	for _ in $(seq 100); do
		[ -S "$work/ctl.sock" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# espgated did not start:" && sed 's/^/#   /' "$work/log" | tail -20
	return 1
}
stop() {
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
}
routes() { ip -n "$G" -4 route show proto 0x45 | sort; }

start "$work/a.yaml" || {
	tap_fail "espgated starts with the datapath"
	tap_done
	exit
}

l0=$(ip -n "$G" -d link show eg0 2>&1)
l1=$(ip -n "$G" -d link show eg1 2>&1)
a0=$(ip -n "$G" -4 -o addr show dev eg0 2>&1)
a1=$(ip -n "$G" -4 -o addr show dev eg1 2>&1)
if echo "$l0" | grep -q 'eg0@eg1:.*UP' && echo "$l0" | grep -q 'veth' &&
	echo "$l0" | grep -q 'alias espgate hairpin' && echo "$l1" | grep -q 'eg1@eg0:.*UP' &&
	echo "$a0" | grep -q 'inet 169.254.69.69/30' && echo "$a1" | grep -q 'inet 169.254.69.70/30'; then
	tap_ok "eg0/eg1 veth pair up with 169.254.69.69/30 and .70/30, alias marks it ours"
else
	tap_fail "eg0/eg1 veth pair" "$l0 $l1 $a0 $a1"
fi

want=$(printf '%s\n' "192.168.88.0/24 via 169.254.69.70 dev eg0 src 10.1.1.66 " \
	"198.18.170.151 via 169.254.69.70 dev eg0 src 10.1.1.66 " | sort)
got=$(routes)
if [ "$got" = "$want" ]; then
	tap_ok "routes of the SNAT child's remote selectors via eg0 proto 0x45 src 10.1.1.66 (no /0, no peer prefix, no plain child)"
else
	tap_fail "hairpin routes" "got: $got"
fi
if ! ip -n "$G" route show | grep -q '^10.99.0.0/16' &&
	ip -n "$G" route show proto static | grep -q '^192.168.99.0/24 via 192.0.2.2 dev eth0'; then
	tap_ok "our stale route removed, someone else's route for a remote selector kept"
else
	tap_fail "stale/foreign routes" "$(ip -n "$G" route show)"
fi
if grep -q "192.168.99.0/24 exists that espgate did not add" "$work/log"; then
	tap_ok "the foreign route is reported"
else
	tap_fail "foreign route reported" "$(tail -5 "$work/log")"
fi
s=$(nt_in "$G" sysctl -n net.ipv4.conf.eg1.accept_local net.ipv4.conf.eg1.rp_filter | tr '\n' ' ')
f=$(nt_tc_ingress "$G" eg1) # clsact filter, or the pinned tcx link (kernels >= 6.6)
if [ "$s" = "1 2 " ] && echo "$f" | grep -q 'tc_eg_nat'; then
	tap_ok "eg1: accept_local 1, rp_filter 2, tc_eg_nat on ingress"
else
	tap_fail "eg1 settings" "sysctl: $s; filter: $f"
fi

# the proof: the gateway's own packet leaves translated
send_and_capture() {
	local cap=$work/cap.txt before after
	: >"$cap"
	nt_in "$P" timeout 20 tcpdump -nli p0 -c 1 'udp and dst port 9000' >"$cap" 2>"$cap.err" &
	local tp=$!
	for _ in $(seq 50); do # listening (a loaded machine may take seconds)
		grep -q listening "$cap.err" 2>/dev/null && break
		sleep 0.1
	done
	before=$(nt_stat NAT_OUT)
	nt_in "$G" bash -c 'echo hairpin >/dev/udp/198.18.170.151/9000'
	for _ in $(seq 30); do
		grep -q ' IP ' "$cap" && break
		sleep 0.1
	done
	kill "$tp" 2>/dev/null
	wait "$tp"
	after=$(nt_stat NAT_OUT)
	echo "$((after - before)) $(head -1 "$cap")"
}
r=$(send_and_capture)
if echo "$r" | grep -Eq '^1 .* IP 100\.64\.0\.18\.[0-9]+ > 198\.18\.170\.151\.9000: UDP'; then
	tap_ok "the gateway's own UDP to 198.18.170.151 crosses eg1 and reaches the partner from 100.64.0.18 (NAT_OUT +1)"
else
	tap_fail "own traffic translated" "NAT_OUT delta and capture: $r"
fi

# restart with the same config: everything re-used
idx=$(ip -n "$G" -o link show eg0 | cut -d: -f1)
stop
start "$work/a.yaml"
idx2=$(ip -n "$G" -o link show eg0 | cut -d: -f1)
n0=$(ip -n "$G" -4 -o addr show dev eg0 | wc -l)
if [ "$idx" = "$idx2" ] && [ "$(routes)" = "$want" ] && [ "$n0" = 1 ] &&
	grep -q "hairpin: 2 routes via eg0 (0 stale removed)" "$work/log"; then
	tap_ok "restart: same eg0 (ifindex $idx), same routes replaced, one address"
else
	tap_fail "restart is idempotent" "ifindex $idx/$idx2 addrs $n0 routes: $(routes)"
fi
r=$(send_and_capture)
echo "$r" | grep -Eq '^1 .* IP 100\.64\.0\.18\.[0-9]+ > 198\.18\.170\.151\.9000' &&
	tap_ok "after the restart the own traffic is still translated" ||
	tap_fail "translated after restart" "$r"

# a config without 192.168.88.0/24: that route of ours goes
stop
start "$work/b.yaml"
want_b="198.18.170.151 via 169.254.69.70 dev eg0 src 10.1.1.66 "
if [ "$(routes)" = "$want_b" ]; then
	tap_ok "a remote selector removed from the config: its route is pruned"
else
	tap_fail "prune on config change" "$(routes)"
fi

# what no child takes ends on eg1 at once instead of looping eg0 -> eg1 -> eg0 (TTL 64 times)
loop_check() { # $1: description, $2: tcpdump filter, $3: command sending one packet
	local cap=$work/loop.txt before after n
	: >"$cap"
	nt_in "$G" timeout 20 tcpdump -nli eg0 -Q out "$2" >"$cap" 2>"$cap.err" &
	local tp=$!
	for _ in $(seq 50); do
		grep -q listening "$cap.err" 2>/dev/null && break
		sleep 0.1
	done
	before=$(nt_stat DROP_HAIRPIN_LOOP)
	nt_in "$G" bash -c "$3" >/dev/null 2>&1
	sleep 1 # a loop would go on for 64 rounds meanwhile
	kill "$tp" 2>/dev/null
	wait "$tp"
	after=$(nt_stat DROP_HAIRPIN_LOOP)
	n=$(grep -c ' IP ' "$cap")
	if [ "$n" = 1 ] && [ $((after - before)) = 1 ]; then
		tap_ok "$1: leaves eg0 once, dropped on eg1 (DROP_HAIRPIN_LOOP +1)"
	else
		tap_fail "$1: no hairpin loop" "seen on eg0 $n times, DROP_HAIRPIN_LOOP $before -> $after: $(head -3 "$cap")"
	fi
}
loop_check "UDP to 198.18.170.151:9001 (the child only takes udp 9000)" \
	'dst host 198.18.170.151 and udp port 9001' 'echo loop >/dev/udp/198.18.170.151/9001'
loop_check "ICMP echo to 198.18.170.151 (no child takes ICMP)" \
	'dst host 198.18.170.151 and icmp' 'ping -c 1 -W 1 198.18.170.151'
# the control: with eg_config.hairpin_ifindex cleared (the datapath before the fix) the same
# packet goes round eg0 -> eg1 -> eg0 until its TTL ends
hairpin_ifindex() { # $1: new value; prints the old one
	python3 - "$1" "$NT_PIN_ROOT/eg_config" <<'PY'
import json, subprocess, sys
pin = sys.argv[2]
v = json.loads(subprocess.check_output(["bpftool", "-j", "map", "lookup", "pinned", pin,
                                        "key", "0", "0", "0", "0"]))["value"]
raw = [int(b, 16) for b in v]
off = len(raw) - 4  # hairpin_ifindex is eg_config's last field
print(int.from_bytes(bytes(raw[off:]), "little"))
raw[off:] = list(int(sys.argv[1]).to_bytes(4, "little"))
subprocess.check_call(["bpftool", "map", "update", "pinned", pin, "key", "0", "0", "0", "0",
                       "value", *[str(b) for b in raw]])
PY
}
idx=$(hairpin_ifindex 0)
cap=$work/loop0.txt
nt_in "$G" timeout 20 tcpdump -nli eg0 -Q out 'dst host 198.18.170.151 and udp port 9002' \
	>"$cap" 2>"$cap.err" &
tp=$!
for _ in $(seq 50); do
	grep -q listening "$cap.err" 2>/dev/null && break
	sleep 0.1
done
nt_in "$G" bash -c 'echo loop >/dev/udp/198.18.170.151/9002'
sleep 1
kill "$tp" 2>/dev/null
wait "$tp"
hairpin_ifindex "$idx" >/dev/null
n=$(grep -c ' IP ' "$cap")
if [ "$n" -gt 10 ]; then
	tap_ok "control: without the hairpin drop the same UDP crosses eg0 $n times (the loop the drop ends)"
else
	tap_fail "control: the loop without the drop" "seen on eg0 $n times"
fi
stop

out=$(nt_in "$G" "$ESPGATED" -d --detach -c "$work/b.yaml" --record-sas 2>&1)
rc=$?
if [ $rc -eq 0 ] && ! ip -n "$G" link show eg0 >/dev/null 2>&1 &&
	! ip -n "$G" link show eg1 >/dev/null 2>&1 && [ -z "$(routes)" ] &&
	ip -n "$G" route show | grep -q '^192.168.99.0/24 via 192.0.2.2' &&
	ip -n "$G" route show table 100 | grep -q '^default via 192.0.2.2'; then
	tap_ok "--detach removes eg0/eg1 and our routes, nothing else"
else
	tap_fail "--detach" "rc=$rc $(ip -n "$G" -o link) $(ip -n "$G" route show) $out"
fi

# a pair that someone else created is used and never deleted
nt_ns H gw2
ip -n "$H" link add eg0 type veth peer name eg1
ip -n "$H" link set eg0 up
ip -n "$H" route add 10.98.0.0/16 dev eg0 proto 0x45
out=$(nt_in "$H" "$ESPGATED" -d --detach -c "$work/b.yaml" --record-sas 2>&1)
if ip -n "$H" link show eg0 >/dev/null 2>&1 && ! ip -n "$H" route show | grep -q 10.98.0.0 &&
	echo "$out" | grep -q "not created by espgate"; then
	tap_ok "--detach keeps an eg0/eg1 pair espgate did not create, removes our routes"
else
	tap_fail "foreign pair kept" "$(ip -n "$H" -o link) $out"
fi
tap_done
