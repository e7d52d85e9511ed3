# SPDX-License-Identifier: GPL-2.0-only
# espgated in test mode for the interop tier: one instance per name, each in its namespace with
# its own directory holding the config (DIR/espgate.yaml, written by the caller), the record dump
# (DIR/dump.json: the SAs and policies it would have installed, rewritten on every change), the
# exported ESP keys (DIR/keys.txt), the control socket (DIR/ctl.sock) and the debug log
# (DIR/espgated.log). This kernel has no ESP, so SAs are recorded (--record-sas), never installed.
# Daemons stay children of the test and are killed at exit (tests/lib/netns.sh's cleanup).
#
#   egd_start NAME NS DIR        start (fresh keys/dump/log), wait for the control socket;
#                                with EGD_DATAPATH=1 the BPF datapath is loaded too (the test
#                                must have called nt_private_bpffs: pins under /sys/fs/bpf/espgate)
#   egd_stop NAME                SIGTERM (graceful: deletes its IKE SAs with the peers), wait
#   egd_ctl NAME ARGS...         espgatectl against that instance
#   egd_log NAME / egd_dir NAME  its log file / directory
#   egd_sa_count NAME            number of SAs in the record dump
#   egd_sa_spis NAME             SPIs in the record dump ("0x1234abcd"), one a line
#   wait_for SECONDS CMD...      poll CMD (a command or function) every 0.1 s until it succeeds;
#                                non-zero once SECONDS (one decimal allowed) have passed

ESPGATED=${ESPGATED:-$PWD/${OUTPUT:-.output}/espgated}
ESPGATECTL=${ESPGATECTL:-$PWD/${OUTPUT:-.output}/espgatectl}
declare -A EGD_DIR EGD_PID

egd_start() {
	local name=$1 ns=$2 dir=$3
	EGD_DIR[$name]=$dir
	rm -f "$dir/keys.txt" "$dir/dump.json" "$dir/espgated.log" "$dir/ctl.sock"
	if [ -n "${EGD_DATAPATH:-}" ]; then
		# nsenter keeps our /sys (and the test's private bpffs, nt_private_bpffs)
		nsenter --net=/run/netns/"$ns" "$ESPGATED" -d -c "$dir/espgate.yaml" --record-sas \
			--record-dump "$dir/dump.json" --export-keys "$dir/keys.txt" \
			--ctl "$dir/ctl.sock" >"$dir/espgated.log" 2>&1 &
	else
		ip netns exec "$ns" "$ESPGATED" -d -c "$dir/espgate.yaml" --record-sas --no-datapath \
			--record-dump "$dir/dump.json" --export-keys "$dir/keys.txt" \
			--ctl "$dir/ctl.sock" >"$dir/espgated.log" 2>&1 &
	fi
	EGD_PID[$name]=$!
	nt_on_exit "kill $! 2>/dev/null"
	if ! wait_for 5 test -S "$dir/ctl.sock"; then
		echo "# espgated $name did not start:" && sed 's/^/#   /' "$dir/espgated.log" | tail -20
		return 1
	fi
}

egd_stop() {
	local pid=${EGD_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	EGD_PID[$1]=
}

egd_ctl() {
	local name=$1
	shift
	"$ESPGATECTL" -s "${EGD_DIR[$name]}/ctl.sock" "$@"
}

egd_log() {
	echo "${EGD_DIR[$1]}/espgated.log"
}

egd_dir() {
	echo "${EGD_DIR[$1]}"
}

# (no python here: its start-up alone takes seconds on a loaded machine)
egd_sa_spis() {
	[ -f "${EGD_DIR[$1]}/dump.json" ] || return 0
	sed 's/\],"policies".*//' "${EGD_DIR[$1]}/dump.json" | grep -o '"spi":"0x[0-9a-f]*"' |
		cut -d'"' -f4
}

egd_sa_count() {
	egd_sa_spis "$1" | wc -l
}

wait_for() {
	local end t=$1
	shift
	# in microseconds; the timeout may have one decimal ("0.5")
	local sec=${t%%.*} frac=0
	[ "$t" != "$sec" ] && frac=${t#*.} && frac=${frac:0:1}
	end=$((${EPOCHREALTIME/./} + ${sec:-0} * 1000000 + frac * 100000))
	while :; do
		"$@" && return 0
		[ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# egd_pair_lab NAME PSK: the common two-host rig of the interop tests. Sets W (a scratch dir
# removed at exit), GW (espgated's namespace, eth0 192.0.2.1) and P (the partner's, eth0
# 192.0.2.2, LAN address 192.168.88.1 on lo: kernel-libipsec routes from inside its selector),
# writes W/secrets.yaml (mode 600) with the key "partner" = PSK. Non-zero if setup failed.
egd_pair_lab() {
	W=$(mktemp -d "/tmp/eg-$1.XXXXXX") || return 1
	nt_on_exit "rm -rf $W"
	nt_ns GW gw && nt_ns P partner && nt_veth "$GW" eth0 "$P" eth0 || return 1
	ip -n "$GW" addr add 192.0.2.1/24 dev eth0
	ip -n "$P" addr add 192.0.2.2/24 dev eth0
	ip -n "$P" addr add 192.168.88.1/32 dev lo
	printf 'psk:\n  partner: "%s"\n' "$2" >"$W/secrets.yaml"
	chmod 600 "$W/secrets.yaml"
}
