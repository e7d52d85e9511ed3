#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make demo: the IPsec lab of the scenarios, end to end, with real kernel ESP: a VNet workload,
# espgated on the gateway, a strongSwan partner router and a partner web server. It shows the
# request crossing the tunnel, what the partner sees, and `espgatectl status`.
#
# The lab is the richest scenario present: S3 (SNAT + DNAT both ways), else S2 (SNAT into the
# tunnel), else S1 (plain site-to-site). On a kernel with ESP it runs here, in namespaces, inside a
# private mount namespace with its own bpffs and /run/netns (so an espgated already running on this
# host never sees the lab's pins or namespaces, and everything vanishes with the lab). On a kernel
# without ESP (this project's development machines) it runs inside the VM tier's qemu guest, which
# boots Debian's own kernel (tests/vm/, cached after the first run; a few minutes under software
# emulation). Without qemu it falls back to scripts/demo-xdp.sh (the datapath alone).
#   DEMO_WHERE=vm|here   force where the lab runs (default: here when the kernel has ESP)
#   DEMO_LAB=NAME        run that scenario of tests/vm/scenarios/ as the lab
set -u
cd "$(dirname "$0")/.." || exit 1
OUTPUT=${OUTPUT:-.output}
export OUTPUT

[ "$(id -u)" -eq 0 ] || {
	echo "demo: needs root (network namespaces, BPF, qemu's 9p shares)" >&2
	exit 1
}
lab=${DEMO_LAB:-}
[ -z "$lab" ] || [ -f "tests/vm/scenarios/$lab.sh" ] || {
	echo "demo: DEMO_LAB=$lab: no tests/vm/scenarios/$lab.sh" >&2
	exit 2
}
[ -n "$lab" ] || for pat in '*s3*' '*s2*' '50-s1*'; do
	f=$(ls tests/vm/scenarios/$pat 2>/dev/null | head -1)
	[ -n "$f" ] && lab=$(basename "$f" .sh) && break
done
# has_esp: this kernel installs an ESP SA (probed in a scratch namespace).
has_esp() {
	local ns=eg-demo-probe-$$ rc=1
	ip netns add "$ns" 2>/dev/null || return 1
	ip -n "$ns" xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode tunnel \
		enc 'cbc(aes)' 0x00112233445566778899aabbccddeeff \
		auth-trunc 'hmac(sha256)' 0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff 128 \
		2>/dev/null && rc=0
	ip netns del "$ns"
	return $rc
}

# show LOG RC: the lab's story. A lab that tells it in "| " lines (54-s3) gets those shown, with its
# checks; the others, or a failed run (its diagnostics matter then), get the whole log.
show() {
	local log=$1 rc=$2
	[ -f "$log" ] || return 0
	if [ "$rc" -eq 0 ] && grep -q '^| ' "$log"; then
		printf '\n\033[1m== the lab, in short (all of it: %s)\033[0m\n' "$log"
		sed -n 's/^| //p' "$log"
		printf '\n\033[1m== what the lab checked\033[0m\n'
		grep -E '^(ok|FAIL|SKIP):' "$log"
	else
		printf '\n\033[1m== what happened in the lab (%s)\033[0m\n' "$log"
		cat "$log"
	fi
}

[ -n "$lab" ] || {
	echo "demo: no lab scenario in tests/vm/scenarios: showing the datapath alone instead"
	exec scripts/demo-xdp.sh "$@"
}
where=${DEMO_WHERE:-}
if [ -z "$where" ]; then
	if has_esp; then
		echo "demo: this kernel has ESP: the lab runs here, in network namespaces"
		where=here
	else
		echo "demo: this kernel has no ESP (ip xfrm state add ... proto esp fails):"
		echo "demo: running the lab inside a qemu VM with Debian's kernel instead"
		where=vm
	fi
fi
echo "demo: lab = tests/vm/scenarios/$lab.sh"
case $where in
here)
	work=$(mktemp -d /tmp/espgate-demo.XXXXXX) || exit 1
	log=$work/$lab.log
	# a private mount namespace: its own bpffs for the lab's pins, its own /run/netns
	unshare -m --propagation private bash -c '
		mount -t bpf bpf /sys/fs/bpf || exit 1
		mkdir -p /run/netns && mount -t tmpfs -o mode=755 tmpfs /run/netns || exit 1
		VM_NAME=$1 VM_WORK=$2 VM_SKIPFILE=$2/skip exec bash "tests/vm/scenarios/$1.sh"
	' demo "$lab" "$work" >"$log" 2>&1 </dev/null
	rc=$?
	[ $rc -eq 77 ] && echo "demo: the lab cannot run here: $(cat "$work/skip" 2>/dev/null)"
	;;
vm)
	if ! command -v qemu-system-x86_64 >/dev/null; then
		echo "demo: qemu is missing: showing the datapath alone instead"
		exec scripts/demo-xdp.sh "$@"
	fi
	tests/vm/run.sh "$lab"
	rc=$?
	log=$OUTPUT/vmtest-results/scenarios/$lab.log
	;;
*)
	echo "demo: DEMO_WHERE must be vm or here, not '$where'" >&2
	exit 2
	;;
esac
show "$log" "$rc"
[ $rc -eq 0 ] && echo "demo: passed" || echo "demo: FAILED (exit $rc); the log above says why"
exit $rc
