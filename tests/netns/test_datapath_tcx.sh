#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Netns tier, the real espgated and its tc attachment on a kernel with tcx (>= 6.6; older kernels
# use clsact, which the VM tier covers): espgated attaches tc_eg_ingress through a tcx link pinned
# at /sys/fs/bpf/espgate/tcx_IFNAME (a private bpffs here) and says so; after SIGKILL the link,
# its program and the XDP program stay attached; a restarted espgated adopts the same link (same
# link id, new program) and logs it; `espgated --detach` removes the link, its pin and the XDP
# program, and leaves a foreign clsact filter on the same interface alone. espgated runs under
# nsenter --net (ip netns exec would give it a private /sys and hide the pins).
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/espgated.sh
nt_private_bpffs "$@"
OUTPUT=${OUTPUT:-.output}
PIN=/sys/fs/bpf/espgate

kv=$(uname -r | awk -F. '{ print $1 * 1000 + $2 }')
if [ "$kv" -lt 6006 ]; then
	tap_skip "espgated through tcx" "kernel $(uname -r) has no tcx (clsact: VM tier)"
	tap_done
	exit
fi
for tool in bpftool nsenter python3; do
	command -v $tool >/dev/null || {
		tap_fail "espgated through tcx" "$tool not installed"
		tap_done
		exit
	}
done

nt_ns GW gw
nt_ns P p
nt_veth "$GW" tg0 "$P" tp0
ip -n "$GW" addr add 192.0.2.1/24 dev tg0
ip -n "$P" addr add 192.0.2.2/24 dev tp0
W=$(mktemp -d /tmp/eg-tcx.$$.XXXXXX)
nt_on_exit "rm -rf $W"
cat >"$W/secrets.yaml" <<S
psk:
  partner: "0123456789abcdef0123"
S
chmod 600 "$W/secrets.yaml"
cat >"$W/espgate.yaml" <<C
global:
  interfaces: tg0
  secrets: $W/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 192.0.2.1
    psk: partner
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
C

egd() { # LOG ARGS...: espgated in the gateway's network namespace, our mount namespace
	local log=$1
	shift
	nsenter --net=/run/netns/"$GW" "$ESPGATED" -d -c "$W/espgate.yaml" --record-sas \
		--ctl "$W/ctl.sock" "$@" >"$log" 2>&1
}
start() { # LOG: start in the background (nsenter execs espgated: $PID is the daemon), wait for
	# its control socket
	rm -f "$W/ctl.sock"
	nsenter --net=/run/netns/"$GW" "$ESPGATED" -d -c "$W/espgate.yaml" --record-sas \
		--ctl "$W/ctl.sock" >"$1" 2>&1 &
	PID=$!
	nt_on_exit "kill -9 $PID 2>/dev/null"
	wait_for 10 test -S "$W/ctl.sock"
}
# link_info: "LINK_ID PROG_NAME" of the pinned tcx link, or nothing
link_info() {
	python3 - "$PIN/tcx_tg0" <<'P'
import json, subprocess, sys
try:
    l = json.loads(subprocess.run(["bpftool", "-j", "link", "show", "pinned", sys.argv[1]],
                                  capture_output=True, text=True).stdout)
    p = json.loads(subprocess.run(["bpftool", "-j", "prog", "show", "id", str(l["prog_id"])],
                                  capture_output=True, text=True).stdout)
    print(l["id"], p["name"])
except Exception:
    pass
P
}
xdp_on() { ip -n "$GW" link show tg0 | grep -q "prog/xdp"; }

if start "$W/run1.log" &&
	grep -q "tg0: tc_eg_ingress attached through tcx, link pinned at $PIN/tcx_tg0" "$W/run1.log"; then
	tap_ok "espgated attaches tc_eg_ingress through a tcx link pinned at $PIN/tcx_tg0 and logs it"
else
	tap_fail "tcx attach" "$(grep -E 'tg0|error|warn' "$W/run1.log" | head -5)"
fi
info1=$(link_info)
if [ "${info1#* }" = "tc_eg_ingress" ] && ! nt_in "$GW" tc filter show dev tg0 ingress | grep -q bpf; then
	tap_ok "the pinned link runs tc_eg_ingress, no clsact filter"
else
	tap_fail "pinned link" "link: '$info1'; tc: $(nt_in "$GW" tc filter show dev tg0 ingress)"
fi

kill -9 $PID
wait $PID 2>/dev/null
! kill -0 $PID 2>/dev/null || tap_fail "SIGKILL" "espgated $PID still runs"
info2=$(link_info)
if [ -n "$info1" ] && [ "$info2" = "$info1" ] && xdp_on; then
	tap_ok "after SIGKILL: the tcx link (and its program) and the XDP program stay attached"
else
	tap_fail "after SIGKILL" "link before '$info1', after '$info2', xdp $(xdp_on && echo on || echo off)"
fi

start "$W/run2.log"
info3=$(link_info)
if grep -q "tg0: tc_eg_ingress through tcx: the previous espgated's link ($PIN/tcx_tg0) adopted" "$W/run2.log" &&
	[ "${info3%% *}" = "${info1%% *}" ] && [ "${info3#* }" = "tc_eg_ingress" ]; then
	tap_ok "restart: the same tcx link adopted, its program replaced"
else
	tap_fail "restart adoption" "link '$info3' (was '$info1'): $(grep tg0 "$W/run2.log" | head -3)"
fi
kill $PID
wait $PID 2>/dev/null
if [ -n "$info3" ] && [ "$(link_info)" = "$info3" ] && xdp_on; then
	tap_ok "graceful stop: the datapath stays attached (forwarding goes on)"
else
	tap_fail "graceful stop" "link '$(link_info)'"
fi

# a foreign clsact filter on the same hook (u32 without an action: no module beyond cls_u32)
nt_in "$GW" tc qdisc add dev tg0 clsact
nt_in "$GW" tc filter add dev tg0 ingress prio 7 protocol ip u32 match u32 0 0 flowid 1:1
egd "$W/detach.log" --detach
rc=$?
if [ $rc -eq 0 ] && grep -q "tg0: tcx link detached" "$W/detach.log" && [ ! -e "$PIN" ] &&
	[ -z "$(link_info)" ] && ! xdp_on; then
	tap_ok "--detach removes the tcx link, its pin, the XDP program and the pin directory"
else
	tap_fail "--detach" "rc $rc, pins: $(ls $PIN 2>&1), log: $(grep -E 'tg0|detach' "$W/detach.log" | head -5)"
fi
if nt_in "$GW" tc filter show dev tg0 ingress | grep -q "u32" &&
	! bpftool link show id "${info1%% *}" >/dev/null 2>&1; then
	tap_ok "--detach leaves the foreign clsact filter alone; our link is gone"
else
	tap_fail "--detach leaves others alone" \
		"$(nt_in "$GW" tc filter show dev tg0 ingress; bpftool link show id "${info1%% *}" 2>&1)"
fi
tap_done
