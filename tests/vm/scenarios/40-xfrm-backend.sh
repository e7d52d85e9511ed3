#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# vm-set: core
# The XFRM backend (user/xfrm.c) on a kernel with ESP: runs $OUTPUT/tests/unit/test_xfrm_live, the
# same binary the native unit tier runs, where every case now has to run and pass. On this kernel
# that proves what the host cannot: the ESP probe says yes and leaves nothing behind; SAs built by
# the backend (cbc(aes)+hmac(sha256) with NAT-T encap, mark and set-mark, lifetimes; AES-GCM with
# ESN and a 128-packet window; NULL encryption in transport mode) install, list back field by field,
# match `ip xfrm state`, update and delete with the kernel's errors on duplicates and unknown
# algorithms; soft then hard expire events arrive for a 1 s / 2 s SA; flush removes only our SAs
# and policies; and a ping through an ESP tunnel installed by the backend succeeds only while the
# inbound SA marks decrypted packets with EG_MARK_IN (the one in policy matches that mark).
. "$(dirname "$0")/../lib.sh"

BIN=$OUTPUT/tests/unit/test_xfrm_live
[ -x "$BIN" ] || vm_fail "$BIN not built (make OUTPUT=$OUTPUT)"
command -v ping >/dev/null || vm_skip "no ping on the host"

LOG=$VM_WORK/test_xfrm_live.tap
vm_log "$LOG"
vm_step "running $BIN"
CMOCKA_MESSAGE_OUTPUT=TAP "$BIN" >"$LOG" 2>&1
rc=$?
cat "$LOG"

# every case ran: no SKIP except the one that exists for kernels without ESP
skips=$(grep -E '^ok [0-9]+ .*# SKIP' "$LOG" | grep -v ' t_sa_without_esp ' || true)
[ -z "$skips" ] || vm_fail "cases skipped on a kernel that should have ESP: $skips"
grep -q '^# kernel ESP for IPv4: ok' "$LOG" || vm_fail "the ESP probe did not report ok"
for t in t_probe_esp t_pol_roundtrip t_pol_dump_large t_sa_roundtrip t_sa_variants t_flush_ours t_socket_bypass \
	t_acquire t_expire t_esp_traffic_set_mark; do
	grep -qE "^ok [0-9]+ - $t\$" "$LOG" || vm_fail "$t did not pass"
done
grep -qE '^not ok' "$LOG" && vm_fail "a case failed"
[ "$rc" -eq 0 ] || vm_fail "test_xfrm_live exited with $rc"
echo "ok: all test_xfrm_live cases ran and passed with kernel ESP"
