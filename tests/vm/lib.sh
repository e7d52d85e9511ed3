# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Shared helpers for the VM tier's scenarios (tests/vm/scenarios/*.sh, run inside the VM by
# guest.sh). A scenario sources this file, builds its namespaces with vm_ns/vm_veth/vm_dummy,
# starts partners with vm_charon_start, checks with vm_check/vm_fail, and exits 0 (pass),
# 77 via vm_skip (skip, with a reason), or anything else (fail). On failure vm_fail dumps what
# explains it: every registered log file, and per namespace `ip -s xfrm state`, `ip xfrm policy`,
# the non-zero /proc/net/xfrm_stat counters, links and routes. Everything a scenario creates
# through these helpers is removed when it exits; guest.sh also resets the VM between scenarios.
# Names: namespaces and interfaces are the caller's; keep them unique per scenario (a short
# prefix) so a leftover from an earlier scenario can never be mistaken for one's own.

set -u
VM_NAME=${VM_NAME:-$(basename "$0" .sh)}
VM_WORK=${VM_WORK:-/tmp/vm/$VM_NAME}
VM_SKIPFILE=${VM_SKIPFILE:-$VM_WORK/skip}
OUTPUT=${OUTPUT:-.output}
mkdir -p "$VM_WORK"

VM_NSS=()      # namespaces created by vm_ns, deleted on exit
VM_PIDS=()     # background processes started by helpers, killed on exit
VM_LOGS=()     # files printed by vm_dump
VM_CHARONS=()  # names of charons started by vm_charon_start
VM_CLEANUP=()  # extra commands (strings) run on exit, last first

vm_up() { cut -d' ' -f1 /proc/uptime; }

# vm_step TEXT: a timestamped progress line in the scenario log.
vm_step() { echo "=== [$(vm_up)s] $*"; }

# vm_log FILE...: register files whose content vm_dump prints.
vm_log() { VM_LOGS+=("$@"); }

# vm_on_exit CMD: run CMD (a string, eval'd) when the scenario exits.
vm_on_exit() { VM_CLEANUP+=("$1"); }

vm_dump_ns() {
	local ns=$1
	echo "----- netns $ns: links, addresses, routes"
	ip -n "$ns" -br addr
	ip -n "$ns" route show table all | grep -v -E '^(local|broadcast|multicast) ' | grep -v ' fe80::'
	echo "----- netns $ns: ip -s xfrm state"
	ip -n "$ns" -s xfrm state
	echo "----- netns $ns: ip xfrm policy"
	ip -n "$ns" xfrm policy
	echo "----- netns $ns: non-zero /proc/net/xfrm_stat"
	ip netns exec "$ns" awk '$2 != 0' /proc/net/xfrm_stat
}

# vm_dump: everything that explains a failure.
vm_dump() {
	local f ns
	echo "########## diagnostics for $VM_NAME"
	for f in "${VM_LOGS[@]}"; do
		echo "----- $f"
		[ -f "$f" ] && tail -n 200 "$f"
	done
	for ns in "${VM_NSS[@]}"; do
		vm_dump_ns "$ns"
	done
	echo "----- kernel log (last 30 lines)"
	dmesg | tail -n 30
}

# vm_fail MESSAGE: dump diagnostics and fail the scenario.
vm_fail() {
	echo "FAIL: $*"
	vm_dump
	exit 1
}

# vm_skip REASON: the scenario cannot run here; the host prints REASON with the SKIP.
vm_skip() {
	echo "SKIP: $*"
	echo "$*" >"$VM_SKIPFILE"
	exit 77
}

# vm_check TEXT CMD...: run CMD; log "ok: TEXT" or fail the scenario with TEXT.
vm_check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		vm_fail "$what (command: $*)"
	fi
}

# vm_expect_eq TEXT WANT GOT
vm_expect_eq() {
	if [ "$2" = "$3" ]; then
		echo "ok: $1 ($3)"
	else
		vm_fail "$1: expected $2, got $3"
	fi
}

vm__cleanup() {
	local rc=$? i ns p
	trap - EXIT
	for ((i = ${#VM_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${VM_CLEANUP[$i]}" 2>/dev/null
	done
	for p in "${VM_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for ns in "${VM_NSS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	exit $rc
}
trap vm__cleanup EXIT

# --- namespaces and links ------------------------------------------------------------------------
# vm_ns NAME...: fresh network namespaces with lo up.
vm_ns() {
	local ns
	for ns in "$@"; do
		ip netns del "$ns" 2>/dev/null
		ip netns add "$ns" || vm_fail "ip netns add $ns"
		VM_NSS+=("$ns")
		ip -n "$ns" link set lo up
	done
}

# vm_nsx NS CMD...: run CMD in NS's network namespace only (unlike `ip netns exec` it keeps this
# mount namespace, so /sys/fs/bpf pins stay visible: use it for bpftool and tc with pinned objects).
vm_nsx() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# vm_veth NS1 DEV1 ADDR1/LEN NS2 DEV2 ADDR2/LEN: a veth pair between two namespaces, up.
# An address may be "-" for none.
vm_veth() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" ||
		vm_fail "veth $1/$2 <-> $4/$5"
	[ "$3" = - ] || ip -n "$1" addr add "$3" dev "$2"
	[ "$6" = - ] || ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# vm_static_neigh NS1 DEV1 NS2 DEV2: permanent ARP entries for each other's IPv4 address on a veth
# pair, so no ARP packet ever crosses it (for exact packet counts).
vm_static_neigh() {
	local a1 a2 m1 m2
	a1=$(ip -n "$1" -4 -o addr show dev "$2" | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
	a2=$(ip -n "$3" -4 -o addr show dev "$4" | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
	m2=$(ip -n "$3" -o link show "$4" | sed -n 's/.*link\/ether \([^ ]*\).*/\1/p')
	m1=$(ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([^ ]*\).*/\1/p')
	ip -n "$1" neigh replace "$a2" lladdr "$m2" dev "$2" nud permanent &&
		ip -n "$3" neigh replace "$a1" lladdr "$m1" dev "$4" nud permanent ||
		vm_fail "static neighbours on $1/$2 <-> $3/$4"
}

# vm_dummy NS DEV ADDR/LEN: a dummy interface holding an address (a "site" behind a gateway).
vm_dummy() {
	ip -n "$1" link add "$2" type dummy || vm_fail "dummy $1/$2"
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$1" link set "$2" up
}

# vm_forwarding NS: turn NS into a router.
vm_forwarding() { ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1; }

# vm_ping NS SRC DST [COUNT]: COUNT (default 3) pings from SRC must all be answered.
vm_ping() {
	ip netns exec "$1" ping -q -n -c "${4:-3}" -i 0.2 -W 3 -I "$2" "$3"
}

# --- XFRM --------------------------------------------------------------------------------------
# vm_xfrm_packets NS SPI: the "packets" counter of the SA with that SPI (any address/proto) in NS,
# from `ip -s xfrm state`; empty if there is no such SA.
vm_xfrm_packets() {
	local spi pk
	while read -r spi pk; do
		[ $((spi)) -eq $(($2)) ] && echo "$pk" && return 0
	done < <(ip -n "$1" -s xfrm state | awk '
		/^src / { cur = "" }
		/ spi 0x/ { for (i = 1; i <= NF; i++) if ($i == "spi") cur = $(i + 1); sub(/\(.*/, "", cur) }
		/lifetime current:/ { getline; sub(/.*, /, ""); sub(/\(packets\).*/, ""); print cur, $0 }')
}

# vm_xfrm_spis NS DST: SPIs (hex) of the ESP SAs towards DST in NS.
vm_xfrm_spis() {
	ip -n "$1" xfrm state | awk -v d="$2" '/^src / { hit = ($4 == d) } hit && / spi 0x/ {
		for (i = 1; i <= NF; i++) if ($i == "spi") print $(i + 1) }'
}

# vm_xfrm_stat NS NAME: one counter of /proc/net/xfrm_stat (e.g. XfrmInNoPols) in NS.
vm_xfrm_stat() {
	ip netns exec "$1" awk -v n="$2" '$1 == n { print $2 }' /proc/net/xfrm_stat
}

# --- packet capture ----------------------------------------------------------------------------
# vm_capture_start NS DEV FILE [TCPDUMP-ARGS/FILTER...]: tcpdump in the background until
# vm_capture_stop FILE. NB: on the receiving side of a tunnel-mode SA the kernel re-injects the
# decrypted packet through the same device, so a capture there sees the inner packet too; to see
# only what is on the wire, capture "-Q out" on both ends.
vm_capture_start() {
	local ns=$1 dev=$2 file=$3 i
	shift 3
	# --immediate-mode: no 1 s buffering, so nothing is still in the ring when it is stopped
	ip netns exec "$ns" tcpdump -Z root -U --immediate-mode -n -i "$dev" -w "$file" "$@" \
		2>"$file.err" &
	VM_PIDS+=($!)
	echo $! >"$file.pid"
	for i in $(seq 1 300); do
		grep -q listening "$file.err" && return 0
		sleep 0.1
	done
	cat "$file.err"
	vm_fail "tcpdump did not start on $ns/$dev"
}

vm_capture_stop() {
	local pid
	pid=$(cat "$1.pid")
	sleep 0.5
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# decode once: starting tcpdump is slow under TCG, so scenarios grep this text
	tcpdump -n -r "$1" >"$1.txt" 2>/dev/null
}

# vm_capture_grep FILE REGEX: decoded packets of a stopped capture matching REGEX (grep -E), e.g.
# "ESP\(spi=0x00001001," or ": ICMP " (IPv4 ICMP only).
vm_capture_grep() { grep -cE "$2" "$1.txt"; }

# vm_capture_count FILE [FILTER...]: packets in FILE matching a pcap FILTER.
vm_capture_count() {
	local file=$1
	shift
	tcpdump -n -r "$file" "$@" 2>/dev/null | wc -l
}

# --- strongSwan (charon-systemd) partners -------------------------------------------------------
# Debian's charon-systemd runs without systemd: sd_notify() is a no-op without NOTIFY_SOCKET, its
# settings section is "charon-systemd" (falling back to "charon"), it writes no pidfile and logs to
# the journal by default, which is switched off here in favour of a filelog. Each instance gets its
# own strongswan.conf (STRONGSWAN_CONF), swanctl directory (SWANCTL_DIR), vici socket, and a private
# tmpfs /run in its namespace. Plugins are loaded from an explicit list: kernel-netlink, never
# kernel-libipsec.
VM_CHARON_PLUGINS=${VM_CHARON_PLUGINS:-"random nonce openssl pem pkcs1 x509 pubkey hmac sha2 aes gcm kdf kernel-netlink socket-default vici"}

vm_charon_dir() { echo "$VM_WORK/charon-$1"; }

# vm_swanctl NAME ARGS...: swanctl against charon NAME.
vm_swanctl() {
	local d
	d=$(vm_charon_dir "$1")
	shift
	STRONGSWAN_CONF=$d/strongswan.conf SWANCTL_DIR=$d/swanctl swanctl "$@" --uri "unix://$d/charon.vici"
}

# vm_charon_start NAME NS SWANCTL_CONF [EXTRA_STRONGSWAN_CONF]: start charon-systemd NAME in NS with
# that swanctl.conf (a file), wait for its vici socket and load the configuration. The optional
# extra text goes inside the charon-systemd { } section of its strongswan.conf.
vm_charon_start() {
	local name=$1 ns=$2 conf=$3 extra=${4:-} d i
	d=$(vm_charon_dir "$name")
	command -v charon-systemd >/dev/null || vm_skip "charon-systemd not installed on the host"
	mkdir -p "$d/swanctl"
	for i in conf.d x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss \
		pkcs8 pkcs12; do
		mkdir -p "$d/swanctl/$i"
	done
	cp "$conf" "$d/swanctl/swanctl.conf"
	cat >"$d/strongswan.conf" <<-EOF
		charon-systemd {
			load = $VM_CHARON_PLUGINS
			journal {
				default = -1
			}
			filelog {
				main {
					path = $d/charon.log
					time_format = %T
					ike_name = yes
					flush_line = yes
					default = 1
					ike = 2
					cfg = 2
					knl = 2
				}
			}
			plugins {
				vici {
					socket = unix://$d/charon.vici
				}
			}
			$extra
		}
		swanctl {
			load = pem pkcs1 x509 pubkey openssl random nonce
		}
	EOF
	vm_log "$d/charon.out" "$d/charon.log"
	ip netns exec "$ns" sh -c "mount -t tmpfs tmpfs /run && exec env STRONGSWAN_CONF=$d/strongswan.conf \
		/usr/sbin/charon-systemd" >"$d/charon.out" 2>&1 &
	echo $! >"$d/pid"
	VM_PIDS+=($!)
	VM_CHARONS+=("$name")
	# generous: under TCG on a busy host a charon takes several seconds to start
	for i in $(seq 1 600); do
		[ -S "$d/charon.vici" ] && break
		kill -0 "$(cat "$d/pid")" 2>/dev/null || vm_fail "charon $name exited at startup"
		sleep 0.1
	done
	[ -S "$d/charon.vici" ] || vm_fail "charon $name: no vici socket after 60 s"
	vm_swanctl "$name" --load-all --noprompt >"$d/load.out" 2>&1 || {
		cat "$d/load.out"
		vm_fail "swanctl --load-all for $name"
	}
}

# vm_charon_stop NAME: SIGTERM, wait for it to exit (it removes its SAs and policies).
vm_charon_stop() {
	local d pid i
	d=$(vm_charon_dir "$1")
	pid=$(cat "$d/pid")
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

# vm_wait_child NAME CHILD [SECONDS]: wait until charon NAME has CHILD installed.
vm_wait_child() {
	local i
	for i in $(seq 1 $((${3:-30} * 5))); do
		vm_swanctl "$1" --list-sas 2>/dev/null | grep -qE "^ +$2: .*INSTALLED" && return 0
		sleep 0.2
	done
	return 1
}

# --- BPF ---------------------------------------------------------------------------------------
# vm_bpf_dir: a fresh pin directory for this scenario under /sys/fs/bpf, removed on exit.
vm_bpf_dir() {
	local d=/sys/fs/bpf/vm-$VM_NAME
	rm -rf "$d"
	mkdir -p "$d"
	vm_on_exit "rm -rf $d"
	echo "$d"
}
