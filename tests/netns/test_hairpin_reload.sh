#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Netns tier: the hairpin follows a reload, and carries children without NAT too. espgated (real
# datapath, SAs recorded: no kernel ESP here) starts with a config whose children the gateway does
# not source (no hairpin at all); a reload adds an SNAT child (10.1.1.66 -> 100.64.0.18) and a
# child without NAT whose local selector holds the gateway's own 10.1.2.1: the reload creates
# eg0/eg1, routes both children's remote selectors, sets eg1's sysctls, attaches tc_eg_nat to eg1
# and adds the hairpin bypass policies (out, allow, bound to eg0, EG_PRIO_HAIRPIN). The recorded
# out policies are then replayed into this kernel (templates stripped: the marked out policy,
# standing in for the real one, passes marked packets in clear to an fwmark route towards the
# partner), so the proof runs through the kernel's own policy lookup: the gateway's own UDP reaches
# the partner from 100.64.0.18 (SNAT child) and from 10.1.2.1 (child without NAT; only a packet
# that eg1 marked can take the fwmark route). Without the hairpin route the same packet meets the
# fallback block (EPERM, nothing leaves); a reload restores the route. A reload back removes the
# hairpin and its bypasses, and one more reload re-creates it and attaches the new eg1.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
nt_private_bpffs "$@"
OUTPUT=${OUTPUT:-.output}
ESPGATED=$PWD/$OUTPUT/espgated
ESPGATECTL=$PWD/$OUTPUT/espgatectl
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
ip -n "$G" addr add 10.1.2.1/24 dev eth0
ip -n "$G" route add default via 192.0.2.2 dev eth0
ip -n "$P" addr add 192.0.2.2/24 dev p0
ip -n "$P" addr add 198.18.170.151/32 dev lo
ip -n "$P" addr add 172.16.9.5/32 dev lo
# stand-in for ESP: out-marked packets (the marked out policy let them through) go to the partner
ip -n "$G" rule add fwmark 0x45470000/0xffff8000 lookup 100
ip -n "$G" route add default via 192.0.2.2 dev eth0 table 100

umask 077
printf 'psk:\n  partner: "0123456789abcdef0123456789abcdef"\n' >"$work/secrets.yaml"
conf() { # $1: more children
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
      - name: far
        local: 10.5.0.0/24
        remote: [172.31.0.0/24]
$1
EOF
}
conf "" >"$work/a.yaml"
conf "      - name: rabbitmq
        local: 100.64.0.18/32
        remote: [198.18.170.151/32]
        nat:
          - type: snat
            inside: 10.1.1.66
            outside: 100.64.0.18
      - name: plain
        local: 10.1.2.0/24
        remote: [172.16.9.0/24]" >"$work/b.yaml"
cp "$work/a.yaml" "$work/espgate.yaml"

nsenter --net=/run/netns/"$G" "$ESPGATED" -d -c "$work/espgate.yaml" --record-sas \
	--ctl "$work/ctl.sock" --record-dump "$work/dump.json" >"$work/log" 2>&1 &
PID=$!
nt_on_exit "kill $PID 2>/dev/null"
for _ in $(seq 100); do
	[ -S "$work/ctl.sock" ] && break
	sleep 0.1
done
ctl() { "$ESPGATECTL" -s "$work/ctl.sock" "$@"; }
routes() { ip -n "$G" -4 route show proto 0x45 | sort; }
reload() { # CONFIG
	cp "$1" "$work/espgate.yaml"
	ctl reload >"$work/reload.out" 2>&1
}
bypasses() {
	jq -c '.policies[] | select(.priority == 4128768) | [.dir, .src, .dst, .action, .ifindex, .mark_mask, (.tmpl | length)]' \
		"$work/dump.json" 2>/dev/null | sort
}

if [ -S "$work/ctl.sock" ] && ! ip -n "$G" link show eg0 >/dev/null 2>&1 && [ -z "$(routes)" ]; then
	tap_ok "start with children the gateway does not source: no hairpin"
else
	tap_fail "no hairpin at start" "$(ip -n "$G" -o link) $(routes) $(tail -5 "$work/log")"
fi

cfg_hairpin() { # eg_config.hairpin_ifindex (its last field)
	bpftool -j map lookup pinned "$NT_PIN_ROOT/eg_config" key 0 0 0 0 |
		python3 -c 'import json, sys; v = json.load(sys.stdin)["value"][-4:]
print(int.from_bytes(bytes(int(b, 16) for b in v), "little"))'
}
check_hairpin() { # NAME
	local want got f s idx
	want=$(printf '%s\n' "172.16.9.0/24 via 169.254.69.70 dev eg0 src 10.1.2.1 " \
		"198.18.170.151 via 169.254.69.70 dev eg0 src 10.1.1.66 " | sort)
	got=$(routes)
	f=$(nt_tc_ingress "$G" eg1) # clsact filter, or the pinned tcx link (kernels >= 6.6)
	s=$(nt_in "$G" sysctl -n net.ipv4.conf.eg1.accept_local net.ipv4.conf.eg1.rp_filter 2>&1 | tr '\n' ' ')
	if [ "$got" = "$want" ] && echo "$f" | grep -q tc_eg_nat && [ "$s" = "1 2 " ]; then
		tap_ok "$1: eg0/eg1 up, routes for the SNAT child and the child without NAT (src 10.1.2.1), eg1: tc_eg_nat, accept_local 1, rp_filter 2"
	else
		tap_fail "$1: hairpin in place" "routes: $got; eg1 filter: $f; sysctl: $s"
	fi
	idx=$(ip -n "$G" -o link show eg0 | cut -d: -f1)
	want=$(printf '%s\n' "[\"out\",\"10.1.1.66/32\",\"198.18.170.151/32\",\"allow\",$idx,0,0]" \
		"[\"out\",\"10.1.2.1/32\",\"172.16.9.0/24\",\"allow\",$idx,0,0]" | sort)
	if wait_for_eq "$want" bypasses; then
		tap_ok "$1: hairpin bypass policies: out, allow, unmarked, no template, bound to eg0 (ifindex $idx)"
	else
		tap_fail "$1: bypass policies" "$(bypasses)"
	fi
	idx=$(ip -n "$G" -o link show eg1 | cut -d: -f1)
	if [ "$(cfg_hairpin)" = "$idx" ]; then
		tap_ok "$1: eg_config.hairpin_ifindex is eg1's ($idx)"
	else
		tap_fail "$1: eg_config.hairpin_ifindex" "$(cfg_hairpin), eg1 is $idx"
	fi
}
wait_for_eq() { # WANT CMD: up to 3 s
	for _ in $(seq 30); do
		[ "$($2)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# replay the recorded out policies into this kernel, templates stripped
replay() {
	local dir src dst prio action mark mask ifx dev
	ip -n "$G" xfrm policy flush
	jq -r '.policies[] | select(.dir == "out") |
		"\(.src) \(.dst) \(.priority) \(.action) \(.mark) \(.mark_mask) \(.ifindex // 0)"' \
		"$work/dump.json" | while read -r src dst prio action mark mask ifx; do
		set -- ip -n "$G" xfrm policy add src "$src" dst "$dst"
		if [ "$ifx" != 0 ]; then
			dev=$(ip -n "$G" -o link show | awk -F': ' -v i="$ifx" '$1 == i { print $2 }' | cut -d@ -f1)
			set -- "$@" dev "$dev"
		fi
		set -- "$@" dir out priority "$prio"
		[ "$action" = block ] && set -- "$@" action block
		[ "$mask" != 0 ] && set -- "$@" mark "$mark" mask "$mask"
		"$@" || echo "replay failed: $*" >&2
	done
}

# send DST PORT [SRC]: the gateway's own UDP datagram (from SRC when given, else the route's
# source); prints "<send status> <first captured line> <error>"
send() {
	local cap=$work/cap.txt tp rc
	: >"$cap"
	# generous: on a loaded machine python alone may take seconds to start
	nt_in "$P" timeout 15 tcpdump -nli p0 -c 1 "udp and dst port $2" >"$cap" 2>"$work/td.err" &
	tp=$!
	for _ in $(seq 30); do
		grep -q listening "$work/td.err" 2>/dev/null && break
		sleep 0.1
	done
	nt_in "$G" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if len(sys.argv) > 3:
    s.bind((sys.argv[3], 0))
try:
    s.sendto(b"hairpin", (sys.argv[1], int(sys.argv[2])))
except OSError as e:
    sys.exit(e.strerror)
' "$@" 2>"$work/send.err"
	rc=$?
	for _ in $(seq 30); do # sent: the capture has it at once, or never
		grep -q ' IP ' "$cap" && break
		sleep 0.1
	done
	kill "$tp" 2>/dev/null
	wait "$tp"
	echo "$rc $(grep -E '^[0-9]' "$cap" | head -1) $(cat "$work/send.err")"
}

check_traffic() { # NAME
	local r
	r=$(send 198.18.170.151 9000)
	echo "$r" | grep -Eq '^0 .* IP 100\.64\.0\.18\.[0-9]+ > 198\.18\.170\.151\.9000: UDP' &&
		tap_ok "$1: own UDP to the SNAT child reaches the partner from 100.64.0.18" ||
		tap_fail "$1: SNAT child's own traffic" "$r"
	r=$(send 172.16.9.5 9001)
	echo "$r" | grep -Eq '^0 .* IP 10\.1\.2\.1\.[0-9]+ > 172\.16\.9\.5\.9001: UDP' &&
		tap_ok "$1: own UDP to the child without NAT passes the bypass, is marked on eg1, reaches the partner from 10.1.2.1" ||
		tap_fail "$1: own traffic of the child without NAT" "$r"
}

reload "$work/b.yaml"
if grep -q '^reloaded' "$work/reload.out"; then
	tap_ok "reload adding the SNAT child and the child without NAT accepted"
else
	tap_fail "reload accepted" "$(cat "$work/reload.out")"
fi
check_hairpin "after the reload"
replay
check_traffic "after the reload"

# fail closed without the hairpin route: the fallback blocks the same packet on eth0
ip -n "$G" route del 172.16.9.0/24 proto 0x45
r=$(send 172.16.9.5 9002 10.1.2.1)
if echo "$r" | grep -q 'Operation not permitted' && ! echo "$r" | grep -q ' IP '; then
	tap_ok "hairpin route gone: the own packet meets the fallback block (EPERM), nothing leaves"
else
	tap_fail "fail closed without the route" "$r"
fi
reload "$work/b.yaml"
r=$(send 172.16.9.5 9003)
echo "$r" | grep -Eq '^0 .* IP 10\.1\.2\.1\.[0-9]+ > 172\.16\.9\.5\.9003' &&
	tap_ok "a reload restores the route: the own packet passes again" ||
	tap_fail "route restored by reload" "$r $(routes)"

reload "$work/a.yaml"
if ! ip -n "$G" link show eg0 >/dev/null 2>&1 && [ -z "$(routes)" ] && wait_for_eq "" bypasses &&
	kill -0 "$PID" 2>/dev/null && [ "$(cfg_hairpin)" = 0 ]; then
	tap_ok "reload back: eg0/eg1, our routes and the bypass policies removed, eg_config.hairpin_ifindex 0; espgated runs on"
else
	tap_fail "reload back" "$(ip -n "$G" -o link) $(routes) $(bypasses) hairpin_ifindex $(cfg_hairpin)"
fi
reload "$work/b.yaml"
check_hairpin "second reload (new eg1)"
replay
check_traffic "second reload (new eg1)"
if grep -q 'eg1: gone, no longer attached' "$work/log" && ! grep -qi 'warning.*hairpin' "$work/log"; then
	tap_ok "the log: the old eg1 forgotten, no hairpin warning"
else
	tap_fail "log" "$(grep -i -E 'hairpin|eg1' "$work/log" | tail -8)"
fi
kill "$PID"
wait "$PID" 2>/dev/null
tap_done
