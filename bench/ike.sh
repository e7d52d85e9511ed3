#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# IKE handshake figures (bench/ike_bench.c): full IKE_SA_INIT + IKE_AUTH handshakes with one CHILD
# SA between two in-process engines for ecp384 and modp2048: handshakes per second on one core,
# CPU per handshake per side, the share of a handshake that is not DH/ECDH, and the responder's
# memory per established IKE SA with one CHILD SA. When perf works here, the non-DH share is
# measured a second way: perf samples (DWARF call graphs) under ike_dh_* against everything
# under the engine's entry points.
set -u
cd "$(dirname "$0")/.." || exit 1
OUTPUT=${OUTPUT:-.output}
N=${IKE_BENCH_N:-300}
bin="$OUTPUT"/bench/ike_bench
[ -x "$bin" ] || { echo "bench ike: $bin missing (make OUTPUT=$OUTPUT all)" >&2; exit 1; }
"$bin" "$N" || exit 1

if command -v perf >/dev/null 2>&1; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	if perf record -q -e cpu-clock -F 1000 --call-graph dwarf -o "$tmp/perf.data" \
		"$bin" 100 ecp384 >/dev/null 2>"$tmp/err"; then
		perf report -i "$tmp/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
			awk '
			/\[\.\] ike_dh_(new|public|derive)$/ { dh += $1 }
			/\[\.\] ike_engine_(input|initiate|next_output)$/ { eng += $1 }
			/\[\.\] ike_output_free$/ { eng += $1 }
			END {
				if (eng > 0)
					printf "bench ike_nondh_share_perf_ecp384 %.1f percent\n", 100 * (1 - dh / eng)
			}'
	else
		echo "bench ike: perf record failed, perf cross-check skipped: $(head -1 "$tmp/err")" >&2
	fi
fi
