#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs the native test tiers and closes with one line "N passed, N failed" (CI reads it).
#   tests/run.sh            every tier: unit, bpf, netns, interop, vm
#   tests/run.sh unit bpf   only these
# Each tier prints TAP; this script counts "ok"/"not ok" lines per tier. A tier that cannot run
# here says SKIPPED with the reason. The exit status is non-zero if any case or tier failed.
set -u
cd "$(dirname "$0")/.." || exit 1
OUTPUT=${OUTPUT:-.output}
export OUTPUT
export CMOCKA_MESSAGE_OUTPUT=TAP
tiers=("$@")
[ ${#tiers[@]} -eq 0 ] && tiers=(unit bpf netns interop vm)
logdir=$OUTPUT/test-logs
mkdir -p "$logdir"

total_pass=0
total_fail=0
total_skip=0

# count FILE: adds the TAP results in FILE to the totals; prints the tier's line.
count() {
	local f=$1 tier=$2 p f_ s
	# cmocka 1.1 prints a skipped test as "not ok N # SKIP": a skip, not a failure.
	p=$(grep -cE '^ok [0-9]+' "$f" | head -1)
	s=$(grep -cE '^(not )?ok [0-9]+.*# SKIP' "$f" | head -1)
	f_=$(grep -E '^not ok [0-9]+' "$f" | grep -cv '# SKIP' | head -1)
	p=$((p - $(grep -cE '^ok [0-9]+.*# SKIP' "$f" | head -1)))
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f_))
	total_skip=$((total_skip + s))
	printf '== tier %-8s %d passed, %d failed, %d skipped\n' "$tier" "$p" "$f_" "$s"
}

# run_one TIER LOG CMD...: runs CMD with output teed to LOG; a crash or non-zero exit with no
# "not ok" line is itself counted as one failure, so a dying binary is never a pass.
run_one() {
	local tier=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1
	local rc=$?
	cat "$log"
	if [ $rc -ne 0 ] && ! grep -E '^not ok [0-9]+' "$log" | grep -qv '# SKIP'; then
		echo "not ok 1 - $* exited with status $rc"
		echo "not ok 1 - $* exited with status $rc" >>"$log"
	fi
}

for tier in "${tiers[@]}"; do
	echo "== tier $tier"
	tlog=$logdir/$tier.tap
	: >"$tlog"
	case $tier in
	unit)
		for t in "$OUTPUT"/tests/unit/test_*; do
			[ -x "$t" ] || continue
			run_one unit "$logdir/$(basename "$t").log" "$t"
			cat "$logdir/$(basename "$t").log" >>"$tlog"
		done
		;;
	bpf)
		if [ "$(id -u)" -ne 0 ]; then
			echo "ok 1 - bpf tier # SKIP needs root (BPF_PROG_TEST_RUN)" | tee -a "$tlog"
			echo "SKIPPED: bpf tier: needs root" >&2
		else
			for t in "$OUTPUT"/tests/bpf/test_*; do
				[ -x "$t" ] || continue
				run_one bpf "$logdir/$(basename "$t").log" "$t"
				cat "$logdir/$(basename "$t").log" >>"$tlog"
			done
		fi
		;;
	netns | interop)
		for t in tests/"$tier"/test_*.sh; do
			[ -f "$t" ] || continue
			if [ "$(id -u)" -ne 0 ]; then
				echo "ok 1 - $t # SKIP needs root (network namespaces)" | tee -a "$tlog"
				continue
			fi
			run_one "$tier" "$logdir/$(basename "$t").log" bash "$t"
			cat "$logdir/$(basename "$t").log" >>"$tlog"
		done
		;;
	vm)
		if [ -x tests/vm/run.sh ]; then
			# the core set (one scenario per capability) keeps make test under 15 minutes;
			# ESPGATE_VM_SET=all runs every scenario, .ci/run runs the rest after make test
			run_one vm "$logdir/vm.log" tests/vm/run.sh "--${ESPGATE_VM_SET:-core}"
			cat "$logdir/vm.log" >>"$tlog"
		else
			echo "ok 1 - vm tier # SKIP tests/vm/run.sh not present" | tee -a "$tlog"
		fi
		;;
	*)
		echo "unknown tier $tier" >&2
		exit 2
		;;
	esac
	count "$tlog" "$tier"
done

echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
