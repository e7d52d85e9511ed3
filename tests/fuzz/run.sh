#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# tests/fuzz/run.sh OUTDIR SECONDS: runs every libFuzzer binary OUTDIR/fuzz_* for SECONDS each,
# starting from a scratch copy of its committed seed corpus tests/fuzz/corpus/<target>/ (the
# committed corpus is never modified), and prints one line per target:
#   fuzz <target> execs <N> exec_per_s <R> corpus <files> status ok|CRASH
# Crash reproducers stay in OUTDIR/<target>.work/. Exits non-zero if any target crashed.
set -u
out=${1:?usage: run.sh OUTDIR SECONDS}
secs=${2:?usage: run.sh OUTDIR SECONDS}
out=$(cd "$out" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
rc=0
shopt -s nullglob
bins=("$out"/fuzz_*)
if [ ${#bins[@]} -eq 0 ]; then
	echo "run.sh: no fuzz_* binaries in $out (run make fuzz)" >&2
	exit 1
fi
for bin in "${bins[@]}"; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	t=$(basename "$bin")
	work=$out/$t.work
	rm -rf "$work"
	mkdir -p "$work/corpus"
	[ -d "$here/corpus/$t" ] && cp "$here/corpus/$t"/* "$work/corpus/" 2>/dev/null
	(cd "$work" && "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
		-rss_limit_mb=2048 corpus >log 2>&1)
	st=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
	files=$(find "$work/corpus" -type f | wc -l)
	if [ $st -eq 0 ]; then
		status=ok
	else
		status=CRASH
		rc=1
		tail -30 "$work/log" >&2
	fi
	echo "fuzz $t execs ${execs:-0} exec_per_s ${rate:-0} corpus $files status $status"
done
exit $rc
