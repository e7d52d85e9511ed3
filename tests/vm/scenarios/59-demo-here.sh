#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `make demo` on a kernel WITH ESP (this guest's): scripts/demo.sh must notice the kernel has ESP
# and run the lab right here, in namespaces inside a private mount namespace (its own bpffs and
# /run/netns), not in a nested VM; the lab passes, and nothing of it is left behind in this
# (the "host's") namespaces, bpffs or XFRM tables. The lab is 53-s2-snat (DEMO_LAB), the
# cheapest one with NAT; the default lab (54-s3) runs in the VM tier on its own.
. "$(dirname "$0")/../lib.sh"

[ -x "$OUTPUT/espgated" ] || vm_skip "espgated not built in $OUTPUT"
before_ns=$(ip netns list | sort | tr '\n' ' ')
mkdir -p /sys/fs/bpf/host-marker # a pin directory of "the host's": must survive the demo

vm_step "scripts/demo.sh, the lab chooses where it runs"
DEMO_LAB=53-s2-snat bash scripts/demo.sh >"$VM_WORK/demo.out" 2>&1
rc=$?
vm_log "$VM_WORK/demo.out"
sed 's/^/demo> /' "$VM_WORK/demo.out" | grep -E 'demo:|^demo> ok:' | head -40
[ $rc -eq 0 ] || vm_fail "scripts/demo.sh exited $rc"
vm_check "demo saw this kernel's ESP and ran the lab here" \
	grep -q 'this kernel has ESP: the lab runs here' "$VM_WORK/demo.out"
vm_check "the lab's checks are shown and it passed" \
	grep -q '^demo: passed' "$VM_WORK/demo.out"
vm_check "the lab's page came through the tunnel" grep -q '^ok: page from the partner LAN' \
	"$VM_WORK/demo.out"
vm_check "no qemu was started" bash -c "! grep -q 'vm: kernel' '$VM_WORK/demo.out'"

vm_step "nothing of the lab is left behind"
vm_expect_eq "namespaces in the guest's /run/netns" "$before_ns" "$(ip netns list | sort | tr '\n' ' ')"
vm_check "the lab's BPF pins never reached this bpffs" test ! -e /sys/fs/bpf/espgate
vm_check "this bpffs is untouched" test -d /sys/fs/bpf/host-marker
vm_expect_eq "XFRM states in this namespace" 0 "$(ip xfrm state | grep -c '^src')"
vm_expect_eq "espgated processes left" 0 "$(pgrep -c -x espgated)"
