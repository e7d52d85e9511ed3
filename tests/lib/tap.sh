# SPDX-License-Identifier: GPL-2.0-only
# TAP output for shell tests. Source it, call tap_ok/tap_fail/tap_skip per case and tap_done at the
# end: tap_done prints "N passed, N failed" (and skipped) and returns non-zero if anything failed.
# tests/run.sh counts the "ok"/"not ok" lines of every tier.

TAP_N=0
TAP_PASS=0
TAP_FAIL=0
TAP_SKIP=0

tap_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_PASS=$((TAP_PASS + 1))
	echo "ok $TAP_N - $1"
}

# tap_fail NAME [WHY]
tap_fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAIL=$((TAP_FAIL + 1))
	echo "not ok $TAP_N - $1"
	[ $# -gt 1 ] && echo "# $2"
	return 0
}

# tap_skip NAME REASON: loud, with the reason, never silent.
tap_skip() {
	TAP_N=$((TAP_N + 1))
	TAP_SKIP=$((TAP_SKIP + 1))
	echo "ok $TAP_N - $1 # SKIP $2"
	echo "SKIPPED: $1: $2" >&2
}

# tap_check NAME CMD...: runs CMD, ok if it exits 0.
tap_check() {
	local name=$1
	shift
	if "$@"; then tap_ok "$name"; else tap_fail "$name" "command failed: $*"; fi
}

tap_done() {
	echo "1..$TAP_N"
	echo "$TAP_PASS passed, $TAP_FAIL failed, $TAP_SKIP skipped"
	[ "$TAP_FAIL" -eq 0 ]
}
