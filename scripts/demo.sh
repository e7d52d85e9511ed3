#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make demo: the IPsec lab of the scenarios, end to end, with real kernel ESP: a VNet workload,
# espgated on the gateway, a strongSwan partner router and a partner web server. It shows the
# request crossing the tunnel, what the partner sees, and `espgatectl status`.
#
# This machine's kernel may have no ESP (this project's development machines do not), so the lab
# runs inside the VM tier's qemu guest, which boots Debian's own kernel (tests/vm/, cached after the
# first run; about a minute under software emulation). The lab is the richest scenario present:
# S3 (SNAT + DNAT both ways), else S2 (SNAT into the tunnel), else S1 (plain site-to-site).
# Without qemu it falls back to scripts/demo-xdp.sh (the datapath alone, in namespaces).
set -u
cd "$(dirname "$0")/.." || exit 1
OUTPUT=${OUTPUT:-.output}
export OUTPUT

[ "$(id -u)" -eq 0 ] || {
	echo "demo: needs root (network namespaces, BPF, qemu's 9p shares)" >&2
	exit 1
}
lab=
for pat in '*s3*' '*s2*' '50-s1*'; do
	f=$(ls tests/vm/scenarios/$pat 2>/dev/null | head -1)
	[ -n "$f" ] && lab=$(basename "$f" .sh) && break
done
if ! command -v qemu-system-x86_64 >/dev/null || [ -z "$lab" ]; then
	echo "demo: qemu or the lab scenario is missing: showing the datapath alone instead"
	exec scripts/demo-xdp.sh "$@"
fi

if ip netns add eg-demo-probe 2>/dev/null; then
	if ip -n eg-demo-probe xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 \
		mode tunnel enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff \
		auth-trunc 'hmac(sha256)' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 128 \
		2>/dev/null; then
		echo "demo: this kernel has ESP; the lab still runs in the VM, which is how it is tested"
	else
		echo "demo: this kernel has no ESP (ip xfrm state add ... proto esp fails):"
		echo "demo: running the lab inside a qemu VM with Debian's kernel instead"
	fi
	ip netns del eg-demo-probe
fi
echo "demo: lab = tests/vm/scenarios/$lab.sh"
tests/vm/run.sh "$lab"
rc=$?
log=$OUTPUT/vmtest-results/scenarios/$lab.log
if [ -f "$log" ]; then
	# A lab that tells its story in "| " lines (54-s3) gets those shown, with its checks; the
	# others, or a failed run (its diagnostics matter then), get the whole log.
	if [ $rc -eq 0 ] && grep -q '^| ' "$log"; then
		printf '\n\033[1m== the lab, in short (all of it: %s)\033[0m\n' "$log"
		sed -n 's/^| //p' "$log"
		printf '\n\033[1m== what the lab checked\033[0m\n'
		grep -E '^(ok|FAIL|SKIP):' "$log"
	else
		printf '\n\033[1m== what happened in the lab (%s)\033[0m\n' "$log"
		cat "$log"
	fi
fi
exit $rc
