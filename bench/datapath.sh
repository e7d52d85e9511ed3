#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Datapath figures: BPF_PROG_TEST_RUN ns/packet per program path and espgate's new-connection
# rate with 10 vs 100,000 selectors, one BPF_PROG_TEST_RUN syscall per new flow (bench/dp_bench.c).
# The pps comparison through a gateway namespace (BENCH.md's live-frames method) and the live
# new-connection rates are bench/pps.sh.
set -u
cd "$(dirname "$0")/.." || exit 1
OUTPUT=${OUTPUT:-.output}
if [ "$(id -u)" -ne 0 ]; then
	echo "bench datapath skipped: needs root" >&2
	exit 0
fi
"$OUTPUT"/bench/dp_bench
