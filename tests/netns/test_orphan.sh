#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Netns tier: an espgate XDP program whose pins are gone. espgated started with `ip netns exec`
# gets a private /sys, so it mounts a bpffs of its own: it warns that its pins die with it. After
# it stops (programs stay attached, as always), a second start the same way finds the program but
# no pins: it refuses with a sentence that says what it found (the interface, the program id),
# why it matters (cannot be adopted, a second datapath would leave it running a frozen
# configuration), the likely cause (`ip netns exec`) and what to do; it attaches nothing and
# leaves no pins. Following the advice (`ip link set dev eth0 xdp off`, nsenter) works, and a
# restart that way adopts the program.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
nt_private_bpffs "$@"
OUTPUT=${OUTPUT:-.output}
ESPGATED=$PWD/$OUTPUT/espgated

if [ ! -x "$ESPGATED" ]; then
	tap_fail "espgated binary present" "$ESPGATED not built"
	tap_done
	exit
fi
work=$(mktemp -d)
nt_on_exit "rm -rf $work"
nt_ns G gw
nt_ns P peer
nt_veth "$G" eth0 "$P" p0
ip -n "$G" addr add 192.0.2.1/24 dev eth0
umask 077
printf 'psk:\n  partner: "0123456789abcdef0123456789abcdef"\n' >"$work/secrets.yaml"
cat >"$work/espgate.yaml" <<EOF
global:
  interfaces: eth0
  secrets: $work/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    psk: partner
    start: none
    local_address: 192.0.2.1
    children:
      - name: lan
        local: 10.5.0.0/24
        remote: [172.31.0.0/24]
EOF

# run HOW LOG: starts espgated (HOW: netns = ip netns exec, nsenter), 15 s at most; returns its
# exit status when it stopped by itself, 0 after stopping a running one with SIGTERM
run() {
	local pid
	rm -f "$work/ctl.sock"
	if [ "$1" = netns ]; then
		ip netns exec "$G" "$ESPGATED" -d -c "$work/espgate.yaml" --record-sas \
			--ctl "$work/ctl.sock" >"$2" 2>&1 &
	else
		# nsenter itself, not the nt_in function: $! must be espgated
		nsenter --net=/run/netns/"$G" "$ESPGATED" -d -c "$work/espgate.yaml" --record-sas \
			--ctl "$work/ctl.sock" >"$2" 2>&1 &
	fi
	pid=$!
	for _ in $(seq 150); do
		# answering: the event loop runs (SIGTERM is handled from then on)
		[ -S "$work/ctl.sock" ] && "$PWD/$OUTPUT/espgatectl" -s "$work/ctl.sock" status \
			>/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	wait "$pid"
}
xdp_id() { ip -n "$G" -d link show eth0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p'; }

run netns "$work/log1"
id=$(xdp_id)
if [ -n "$id" ] && grep -q 'not mounted in this mount namespace.*ip netns exec.*nsenter' "$work/log1"; then
	tap_ok "under ip netns exec: started (XDP program $id) and warned that its pins die with it"
else
	tap_fail "first start under ip netns exec" "xdp '$id'; $(grep -v '^lib' "$work/log1" | tail -3)"
fi

run netns "$work/log2"
rc=$?
msg=$(grep 'cannot start' "$work/log2")
if [ "$rc" = 1 ] && echo "$msg" | grep -q "eth0: an espgate XDP program (id $id) is attached but its maps are not pinned under /sys/fs/bpf/espgate" &&
	echo "$msg" | grep -q 'cannot be adopted' && echo "$msg" | grep -q 'ip netns exec' &&
	echo "$msg" | grep -q 'ip link set dev eth0 xdp off' && echo "$msg" | grep -q 'nsenter --net'; then
	tap_ok "restart without pins: refused, saying what it found, why it matters and what to do"
else
	tap_fail "clear refusal" "rc $rc: $msg $(grep -v '^lib' "$work/log2" | tail -3)"
fi
if [ "$(xdp_id)" = "$id" ] && ! grep -qi 'native XDP is not available' "$work/log2"; then
	tap_ok "refusal changed nothing: the same XDP program $id, no misleading 'native XDP not available'"
else
	tap_fail "nothing changed by the refusal" "xdp $(xdp_id); $(grep -i xdp "$work/log2" | head -3)"
fi

ip -n "$G" link set dev eth0 xdp off
run nsenter "$work/log3"
rc=$?
id3=$(xdp_id)
if [ "$rc" = 0 ] && [ -n "$id3" ] && [ -e /sys/fs/bpf/espgate/eg_config ] &&
	! grep -q 'not mounted in this mount namespace' "$work/log3" && ! grep -q 'cannot start' "$work/log3"; then
	tap_ok "following the advice (xdp off, nsenter): started, pinned under /sys/fs/bpf/espgate, no warning"
else
	tap_fail "start with nsenter" "rc $rc xdp '$id3'; $(grep -v '^lib' "$work/log3" | tail -3)"
fi
run nsenter "$work/log4"
if grep -q "eth0: XDP program $id3 of the previous espgated adopted" "$work/log4"; then
	tap_ok "a restart with nsenter adopts XDP program $id3"
else
	tap_fail "adoption" "$(grep -v '^lib' "$work/log4" | tail -3)"
fi
nt_in "$G" "$ESPGATED" -d --detach -c "$work/espgate.yaml" --record-sas >/dev/null 2>&1
tap_done
