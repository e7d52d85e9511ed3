#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make bench: runs every bench/*.sh piece (each prints `bench NAME VALUE UNIT` lines), so other
# parts (IKE...) add their own file here. Not a test: figures only. Needs root.
set -u
cd "$(dirname "$0")/.." || exit 1
export OUTPUT=${OUTPUT:-.output}
rc=0
for piece in bench/*.sh; do
	[ "$piece" = bench/run.sh ] && continue
	echo "== $piece"
	bash "$piece" || { echo "bench piece $piece failed" >&2; rc=1; }
done
exit $rc
