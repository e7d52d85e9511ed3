#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Netns tier: `espgated --detach` removes exactly espgate's XFRM objects (reqid/mark ranges and the
# fail-closed block range) and leaves every other policy alone.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
OUTPUT=${OUTPUT:-.output}

nt_ns N detach
x() { ip -n "$N" xfrm policy add "$@"; }
# ours: a template reqid in range, a marked in policy, an unmarked block in the fallback range
x src 10.1.0.0/16 dst 192.168.88.0/24 dir out priority 1048576 mark 0x45470001 mask 0xffffffff \
	tmpl src 192.0.2.1 dst 192.0.2.2 proto esp reqid 0x45470001 mode tunnel
x src 0.0.0.0/0 dst 0.0.0.0/0 dir in priority 1048576 mark 0x45478001 mask 0xffffffff \
	tmpl src 192.0.2.2 dst 192.0.2.1 proto esp reqid 0x45470001 mode tunnel
x src 192.168.88.0/24 dst 0.0.0.0/0 dir fwd priority 6291456 action block
# not ours: another daemon's reqid, a foreign mark, a block policy outside our range
x src 10.9.0.0/16 dst 10.8.0.0/16 dir out priority 5 tmpl src 1.1.1.1 dst 2.2.2.2 proto esp reqid 77 mode tunnel
x src 10.7.0.0/16 dst 10.6.0.0/16 dir out priority 5 mark 0x45460001 mask 0xffffffff \
	tmpl src 1.1.1.1 dst 2.2.2.2 proto esp reqid 78 mode tunnel
x src 172.16.0.0/12 dst 0.0.0.0/0 dir fwd priority 100 action block

out=$(ip netns exec "$N" "$OUTPUT/espgated" -d --detach 2>&1)
rc=$?
left=$(ip -n "$N" xfrm policy)
if [ $rc -eq 0 ] && echo "$out" | grep -q "removed 3 XFRM policies"; then
	tap_ok "--detach removes espgate's 3 policies and says so"
else
	tap_fail "--detach removes espgate's policies" "rc=$rc: $out"
fi
if echo "$left" | grep -q 'reqid 77' && echo "$left" | grep -q 'reqid 78' &&
	echo "$left" | grep -q '172.16.0.0/12' && ! echo "$left" | grep -q '192.168.88.0/24' &&
	! echo "$left" | grep -q '0x4547'; then
	tap_ok "foreign policies (other reqid, foreign mark, block outside our range) survive"
else
	tap_fail "only ours removed" "$left"
fi
tap_done
