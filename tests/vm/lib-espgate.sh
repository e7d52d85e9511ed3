# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Helpers for the VM tier's espgate scenarios (tests/vm/scenarios/5x-*.sh), sourced after
# ../lib.sh: start espgated in a namespace with real kernel SAs (never --record-sas), talk to it
# with espgatectl, the common lab topology of those scenarios, a web server, a long TCP stream
# whose bytes are counted at the end, and strongSwan partner configurations in seed 000's terms.
#
# The lab (eg_lab PREFIX): seed 000's cloud setup, one NIC on the gateway.
#   host  (10.1.1.66, a VNet workload) --- fabric router (10.1.1.1 / 10.1.0.1 / 192.0.2.1)
#   gw    (espgate, eth0 10.1.0.4; the fabric routes the partner LAN to it, like an Azure UDR)
#   ptr   (the partner's router: eth0 192.0.2.2, lan0 192.168.88.1)
#   web   (a host on the partner LAN, 192.168.88.10)
# The gateway receives the VNet's traffic and sends ESP on the same NIC, as in Azure. Captures on
# the gateway's eth0 "-Q out" separate what it sends towards the partner (ESP only) from what it
# forwards back into the VNet (clear, by design).
#
# Datapath: until espgated wires the BPF datapath (user/dpsync.c, see eg_datapath_wired), it runs with --no-datapath and
# nothing sets the out mark that its marked out policies select (docs/DESIGN.md: tc ingress does
# it from the XDP classification). eg_mark_standin then installs one nftables rule per out policy
# in the gateway's namespace that marks exactly the packets that policy selects - a stand-in for
# the classifier, nothing more (no NAT, no conntrack, no selector check). Scenarios that need NAT
# skip with that reason until the datapath is wired.

EG_D=${EG_D:-$OUTPUT/espgated}
EG_CTL=${EG_CTL:-$OUTPUT/espgatectl}
[ -x "$EG_D" ] && [ -x "$EG_CTL" ] || vm_skip "espgated/espgatectl not built in $OUTPUT"

# eg_datapath_wired: true if this espgated build loads and fills the BPF datapath itself
# (user/dpsync.c linked in: its eg_dp_apply symbol is in the binary). EG_VM_DATAPATH=0/1 forces.
eg_datapath_wired() {
	case ${EG_VM_DATAPATH:-auto} in
	0) return 1 ;;
	1) return 0 ;;
	esac
	grep -qa eg_dp_apply "$EG_D"
}

eg_dir() { echo "$VM_WORK/eg-$1"; }

# eg_secrets FILE NAME PSK: a secrets file with one key (mode 600, as espgated demands).
eg_secrets() {
	(
		umask 077
		printf 'psk:\n  %s: "%s"\n' "$2" "$3" >"$1"
	)
}

# eg_start NAME NS CONF [ARGS...]: start espgated NAME in NS (foreground, debug log), wait for its
# control socket. Extra ARGS go to espgated.
eg_start() {
	local name=$1 ns=$2 conf=$3 d i dp=()
	shift 3
	d=$(eg_dir "$name")
	mkdir -p "$d"
	eg_datapath_wired || dp=(--no-datapath)
	rm -f "$d/ctl.sock"
	vm_log "$d/espgated.log"
	echo "=== [$(vm_up)s] espgated ${dp[*]} $*" >>"$d/espgated.log"
	# nsenter, not `ip netns exec`: the latter gives espgated a private /sys, and the BPF pins
	# it makes there would die with it (a restarted espgated must find them: S12). Called
	# directly, not through vm_nsx, so that $! is espgated itself (nsenter execs it).
	nsenter --net="/run/netns/$ns" "$EG_D" -d -c "$conf" --ctl "$d/ctl.sock" "${dp[@]}" "$@" \
		>>"$d/espgated.log" 2>&1 &
	echo $! >"$d/pid"
	VM_PIDS+=($!)
	EG_STARTED+=("$name")
	for i in $(seq 1 300); do
		[ -S "$d/ctl.sock" ] && return 0
		kill -0 "$(cat "$d/pid")" 2>/dev/null || vm_fail "espgated $name exited at startup"
		sleep 0.1
	done
	vm_fail "espgated $name: no control socket after 30 s"
}

# eg_ctl NAME ARGS...: espgatectl against espgated NAME.
eg_ctl() {
	local d
	d=$(eg_dir "$1")
	shift
	timeout 10 "$EG_CTL" -s "$d/ctl.sock" "$@"
}

# eg_pid NAME
eg_pid() { cat "$(eg_dir "$1")/pid"; }

# eg_stop NAME [SIGNAL]: signal espgated (default TERM: graceful, deletes SAs with the peer) and
# wait for it to exit.
eg_stop() {
	local pid i
	pid=$(eg_pid "$1")
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || {
			wait "$pid" 2>/dev/null
			return 0
		}
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 1
}

# eg_child_count NAME TUNNEL: CHILD SA lines (in + out) espgatectl status shows for TUNNEL.
eg_child_count() {
	eg_ctl "$1" status "$2" 2>/dev/null | grep -cE '^  +[^ ]+ +(in|out) +spi '
}

# eg_wait_up NAME TUNNEL [SECONDS]: until espgatectl status shows TUNNEL's IKE SA ESTABLISHED
# and at least one inbound and one outbound CHILD SA.
eg_wait_up() {
	local st end=$((SECONDS + ${3:-30}))
	while [ $SECONDS -lt $end ]; do
		st=$(eg_ctl "$1" status "$2" 2>/dev/null)
		if echo "$st" | grep -qE "^$2 .* ESTABLISHED " &&
			echo "$st" | grep -qE '^  +[^ ]+ +in +spi ' &&
			echo "$st" | grep -qE '^  +[^ ]+ +out +spi '; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# eg_mark_standin NS: without the datapath, mark what each of espgate's out policies selects
# (see the header). Re-run after the policies change; it replaces its own table.
eg_mark_standin() {
	local ns=$1 rules
	eg_datapath_wired && return 0
	rules=$(ip -n "$ns" xfrm policy list dir out | awk '
		/^src / { s = $2; d = $4; proto = ""; for (i = 5; i <= NF; i++) if ($i == "proto") proto = $(i + 1) }
		/^\tmark 0x4547/ { split($2, m, "/"); printf "\t\tip saddr %s ip daddr %s %s meta mark set %s\n", s, d, proto ? "ip protocol " proto : "", m[1] }')
	[ -n "$rules" ] || vm_fail "no espgate out policy in $ns to mark for"
	ip netns exec "$ns" nft delete table ip egstandin 2>/dev/null
	ip netns exec "$ns" nft -f - <<-EOF || vm_fail "nft mark stand-in in $ns"
		table ip egstandin {
			chain pre {
				type filter hook prerouting priority -150;
		$rules
			}
			chain out {
				type route hook output priority -150;
		$rules
			}
		}
	EOF
	echo "datapath not wired: out marks set by nftables in $ns:"
	echo "$rules"
}

# --- the lab ------------------------------------------------------------------------------------
# eg_lab P: namespaces ${P}h ${P}n ${P}g ${P}p ${P}w as in the header; sets H N G P W.
eg_lab() {
	H=${1}h N=${1}n G=${1}g P=${1}p W=${1}w
	vm_ns "$H" "$N" "$G" "$P" "$W"
	vm_veth "$H" eth0 10.1.1.66/24 "$N" n1 10.1.1.1/24
	vm_veth "$N" n0 10.1.0.1/24 "$G" eth0 10.1.0.4/24
	vm_veth "$N" n2 192.0.2.1/24 "$P" eth0 192.0.2.2/24
	vm_veth "$P" lan0 192.168.88.1/24 "$W" eth0 192.168.88.10/24
	# Hosts send complete checksums, as packets arriving from a wire have them. A veth would
	# otherwise hand the gateway CHECKSUM_PARTIAL TCP/UDP from another namespace, whose checksum
	# field XDP cannot tell from a complete one: the datapath's RFC 1624 updates (MSS clamp, NAT)
	# then leave a wrong checksum (seen: SYNs clamped 1460 -> 1356 arrive off by 0x68).
	ip netns exec "$H" ethtool -K eth0 tx off >/dev/null
	ip netns exec "$W" ethtool -K eth0 tx off >/dev/null
	ip -n "$H" route add default via 10.1.1.1
	ip -n "$G" route add default via 10.1.0.1
	ip -n "$P" route add default via 192.0.2.1
	ip -n "$W" route add default via 192.168.88.1
	# the fabric: the partner's LAN is reached through the gateway (a UDR in Azure)
	ip -n "$N" route add 192.168.88.0/24 via 10.1.0.4
	vm_forwarding "$N"
	vm_forwarding "$G"
	vm_forwarding "$P"
	# the gateway forwards back out of the NIC it received on: no redirects (espgated's loader
	# sets this too once the datapath is wired)
	ip netns exec "$G" sysctl -qw net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.eth0.send_redirects=0
	vm_check "underlay: gateway reaches the partner" vm_ping "$G" 10.1.0.4 192.0.2.2 1
}

# eg_lab_conf FILE SECRETS [TUNNEL-KEYS...]: espgated config for the lab, tunnel "partner", child
# "lan" 10.1.0.0/16 <-> 192.168.88.0/24 (direction both), seed 000's proposals. Each extra
# argument is one more line of tunnel keys (e.g. "start: none"), placed before children.
eg_lab_conf() {
	local f=$1 s=$2 l
	shift 2
	{
		cat <<-EOF
			global:
			  interfaces: eth0
			  secrets: $s
			tunnels:
			  partner:
			    peer: 192.0.2.2
			    local_address: 10.1.0.4
			    psk: partner
			    ike: aes256-sha256-ecp384
			    esp: aes256-sha256-ecp384
		EOF
		for l in "$@"; do
			echo "    $l"
		done
		cat <<-EOF
			    children:
			      - name: lan
			        local: 10.1.0.0/16
			        remote: 192.168.88.0/24
			        direction: both
		EOF
	} >"$f"
}

# eg_partner_conf FILE PSK [CHILD-KEYS [CONN-KEYS]]: swanctl.conf for the lab's partner: seed
# 000's proposals, tunnel 192.168.88.0/24 <-> 10.1.0.0/16. CHILD-KEYS / CONN-KEYS are extra lines
# inside the child / connection (e.g. "start_action = none", "rekey_time = 20s").
eg_partner_conf() {
	cat >"$1" <<-EOF
		connections {
			gw {
				version = 2
				local_addrs = 192.0.2.2
				remote_addrs = 10.1.0.4
				proposals = aes256-sha256-ecp384
				${4:-}
				local {
					auth = psk
					id = 192.0.2.2
				}
				remote {
					auth = psk
					id = 10.1.0.4
				}
				children {
					lan {
						local_ts = ${EG_PARTNER_LTS:-192.168.88.0/24}
						remote_ts = ${EG_PARTNER_RTS:-10.1.0.0/16}
						esp_proposals = aes256-sha256-ecp384
						mode = tunnel
						${3:-start_action = none}
					}
				}
			}
		}
		secrets {
			ike-gw {
				id-1 = 10.1.0.4
				id-2 = 192.0.2.2
				secret = "$2"
			}
		}
	EOF
}

# eg_psk: a fresh random PSK
eg_psk() { echo "vm-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"; }

# --- traffic ------------------------------------------------------------------------------------
# eg_web NS ADDR PORT TEXT: a busybox web server in NS serving TEXT at /index.html.
eg_web() {
	local d=$VM_WORK/www-$1
	mkdir -p "$d"
	echo "$4" >"$d/index.html"
	ip netns exec "$1" busybox httpd -f -p "$2:$3" -h "$d" &
	VM_PIDS+=($!)
	sleep 0.3
}

# eg_curl NS URL [SECONDS]: the page body (curl fails the command on any error).
eg_curl() {
	ip netns exec "$1" curl -sS --fail --max-time "${3:-15}" "$2"
}

# eg_sink_start NS ADDR PORT FILE: a TCP server counting the bytes of one connection, then writing
# "<bytes> <sha256>" to FILE when the sender closes.
eg_sink_start() {
	ip netns exec "$1" /usr/bin/python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
open(sys.argv[3] + ".ready", "w").close()
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b); h.update(b)
open(sys.argv[3], "w").write("%d %s\n" % (n, h.hexdigest()))
' "$2" "$3" "$4" &
	VM_PIDS+=($!)
	local i
	for i in $(seq 1 100); do
		[ -f "$4.ready" ] && return 0
		sleep 0.1
	done
	vm_fail "TCP sink in $1 did not start"
}

# eg_stream_start NS SRC DST PORT SECONDS RATE FILE: send RATE bytes/s of pseudo-random data over
# one TCP connection for SECONDS, then write "<bytes> <sha256>" to FILE (or "ERROR ..." if the
# connection broke). Runs in the background; eg_stream_wait FILE waits for it.
eg_stream_start() {
	ip netns exec "$1" /usr/bin/python3 -c '
import hashlib, os, socket, sys, time
src, dst, port, secs, rate, out = sys.argv[1:7]
h = hashlib.sha256(); n = 0
try:
    s = socket.create_connection((dst, int(port)), timeout=30, source_address=(src, 0))
    end = time.time() + float(secs); chunk = max(1, int(rate) // 20)
    while time.time() < end:
        b = os.urandom(chunk); s.sendall(b); n += len(b); h.update(b)
        time.sleep(0.05)
    s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
    open(out, "w").write("%d %s\n" % (n, h.hexdigest()))
except Exception as e:
    open(out, "w").write("ERROR after %d bytes: %s\n" % (n, e))
' "$2" "$3" "$4" "$5" "$6" "$7" &
	VM_PIDS+=($!)
	echo $! >"$7.pid"
}

# eg_stream_wait FILE [SECONDS]
eg_stream_wait() {
	local i
	for i in $(seq 1 $((${2:-60} * 5))); do
		[ -s "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

# eg_stream_check SECS [SUFFIX]: waits up to SECS for the sender's result ($VM_WORK/stream.out)
# and 10 s more for the receiver's ($VM_WORK/sink.out), prints both, and passes only if the one
# TCP connection did not break and the receiver got the bytes and SHA-256 sent. SUFFIX ends the
# check's name.
eg_stream_check() {
	local sent got
	vm_check "the stream finished" eg_stream_wait "$VM_WORK/stream.out" "$1"
	vm_check "the receiver finished" eg_stream_wait "$VM_WORK/sink.out" 10
	sent=$(cat "$VM_WORK/stream.out")
	got=$(cat "$VM_WORK/sink.out")
	echo "sent: $sent"
	echo "received: $got"
	case $sent in ERROR*) vm_fail "the TCP stream broke: $sent" ;; esac
	vm_expect_eq "bytes and SHA-256 received = sent${2:-}" "$sent" "$got"
}

# eg_sa_show NS SPI: the `ip -s xfrm state` block of the SA with that SPI (marked SAs cannot be
# fetched with `ip xfrm state get` without their mark).
eg_sa_show() {
	ip -n "$1" -s xfrm state | awk -v spi="$(printf '0x%08x' $(($2)))" '
		/^src / { blk = $0; hit = 0; next }
		{ blk = blk "\n" $0 }
		$0 ~ "spi " spi "\\(" { hit = 1 }
		hit && /stats:/ { getline; print blk "\n" $0; hit = 0 }'
}

# eg_esp_seen GW_PCAP PTR_PCAP GW_ADDR PEER_ADDR OUT_SPI IN_SPI WHO [MIN]: at least MIN (3) ESP
# packets of the SA pair on the wire each way (the gateway's capture GW_PCAP, the partner's
# PTR_PCAP, both "-Q out"), and all four kernel SAs ($G's and $P's) counted at least MIN. WHO
# names the partner in the messages.
eg_esp_seen() {
	local gp=$1 pp=$2 ga=${3//./\\.} pa=${4//./\\.} out=$5 in=$6 who=$7 min=${8:-3} eg ep ns spi n
	eg=$(vm_capture_grep "$gp" "$ga > $pa: ESP\\(spi=$out,")
	ep=$(vm_capture_grep "$pp" "$pa > $ga: ESP\\(spi=$in,")
	[ "$eg" -ge "$min" ] && [ "$ep" -ge "$min" ] ||
		vm_fail "too few ESP packets on the wire: gateway sent $eg, $who sent $ep"
	echo "ok: ESP on the wire: gateway sent $eg, $who sent $ep"
	for ns in "$G" "$P"; do
		for spi in $out $in; do
			n=$(vm_xfrm_packets "$ns" "$spi")
			[ "${n:-0}" -ge "$min" ] || vm_fail "$ns SA $spi counted ${n:-none} packets"
		done
	done
	echo "ok: SA counters rose on both sides (gateway out $(vm_xfrm_packets "$G" "$out")," \
		"in $(vm_xfrm_packets "$G" "$in"); $who out $(vm_xfrm_packets "$P" "$in")," \
		"in $(vm_xfrm_packets "$P" "$out"))"
}

# eg_lab_traffic TAG [MIN]: through the lab's tunnel (espgated "gw", charon "partner"): HTTP from
# the VNet host to the partner LAN and back succeeds; captured "-Q out" on the gateway's and the
# partner's NIC, no clear packet between the two sites leaves either, and at least MIN (default
# 10) ESP packets do on the current SA pair, which the kernel SA counters on both sides count
# (the gateway's outbound SA exactly as many as it sent); espgatectl status shows the traffic.
# Sets OUT_SPI and IN_SPI (the gateway's view).
eg_lab_traffic() {
	local tag=$1 min=${2:-10} body clear_gw clear_p esp_gw n st
	OUT_SPI=$(vm_xfrm_spis "$G" 192.0.2.2)
	IN_SPI=$(vm_xfrm_spis "$G" 10.1.0.4)
	[ "$(echo "$OUT_SPI" | wc -w)" = 1 ] && [ "$(echo "$IN_SPI" | wc -w)" = 1 ] ||
		vm_fail "$tag: expected one kernel SA each way in the gateway, got out='$OUT_SPI' in='$IN_SPI'"
	[ -f "$VM_WORK/www-$W/index.html" ] || eg_web "$W" 192.168.88.10 80 "partner-lan-page"
	[ -f "$VM_WORK/www-$H/index.html" ] || eg_web "$H" 10.1.1.66 80 "vnet-page"
	n=$(vm_xfrm_packets "$G" "$OUT_SPI")
	vm_capture_start "$G" eth0 "$VM_WORK/$tag-gw.pcap" -Q out
	vm_capture_start "$P" eth0 "$VM_WORK/$tag-ptr.pcap" -Q out
	body=$(eg_curl "$H" http://192.168.88.10/index.html) ||
		vm_fail "$tag: curl from the VNet host to the partner LAN"
	vm_expect_eq "$tag: page from the partner LAN" partner-lan-page "$body"
	body=$(eg_curl "$W" http://10.1.1.66/index.html) ||
		vm_fail "$tag: curl from the partner LAN to the VNet host"
	vm_expect_eq "$tag: page from the VNet" vnet-page "$body"
	vm_capture_stop "$VM_WORK/$tag-gw.pcap"
	vm_capture_stop "$VM_WORK/$tag-ptr.pcap"
	clear_gw=$(grep -cE 'IP 10\.1\.[0-9.]+ > 192\.168\.88\.' "$VM_WORK/$tag-gw.pcap.txt")
	clear_p=$(grep -cE 'IP 192\.168\.88\.[0-9.]+ > 10\.1\.' "$VM_WORK/$tag-ptr.pcap.txt")
	vm_expect_eq "$tag: clear VNet->partner packets leaving the gateway" 0 "$clear_gw"
	vm_expect_eq "$tag: clear partner->VNet packets leaving the partner" 0 "$clear_p"
	esp_gw=$(vm_capture_grep "$VM_WORK/$tag-gw.pcap" "10\.1\.0\.4 > 192\.0\.2\.2: ESP\(spi=$OUT_SPI,")
	# the decrypted replies go back into the VNet in clear, out of the same NIC: forwarding
	grep -qE 'IP 192\.168\.88\.10\.80 > 10\.1\.1\.66\.' "$VM_WORK/$tag-gw.pcap.txt" ||
		vm_fail "$tag: decrypted packets were not forwarded to the VNet host"
	vm_expect_eq "$tag: gateway's outbound SA counted the ESP packets it sent" \
		$((${n:-0} + esp_gw)) "$(vm_xfrm_packets "$G" "$OUT_SPI")"
	eg_esp_seen "$VM_WORK/$tag-gw.pcap" "$VM_WORK/$tag-ptr.pcap" 10.1.0.4 192.0.2.2 "$OUT_SPI" \
		"$IN_SPI" partner "$min"
	st=$(eg_ctl gw status partner)
	echo "$st"
	echo "$st" | grep -qE "out +spi $(printf %08x $((OUT_SPI))) .* [1-9][0-9]* pkts" ||
		vm_fail "$tag: espgatectl status does not show the outbound SA's traffic"
	echo "$st" | grep -qE "in +spi $(printf %08x $((IN_SPI))) .* [1-9][0-9]* pkts" ||
		vm_fail "$tag: espgatectl status does not show the inbound SA's traffic"
	echo "ok: $tag: espgatectl status counts the traffic"
}

# eg_lab_sa_checks: the gateway's SAs carry the child's marks and the configured replay window,
# and the partner's kernel holds the same pair.
eg_lab_sa_checks() {
	local o i sa_in sa_out
	o=$(vm_xfrm_spis "$G" 192.0.2.2)
	i=$(vm_xfrm_spis "$G" 10.1.0.4)
	[ "$(vm_xfrm_spis "$P" 192.0.2.2)" = "$o" ] && [ "$(vm_xfrm_spis "$P" 10.1.0.4)" = "$i" ] ||
		vm_fail "partner's kernel SAs differ from the gateway's ($o/$i)"
	echo "ok: partner's kernel has the same SAs (out $o, in $i)"
	sa_out=$(eg_sa_show "$G" "$o")
	sa_in=$(eg_sa_show "$G" "$i")
	echo "$sa_out" | grep -qE '^\s+mark 0x4547[0-7]' || vm_fail "gateway's outbound SA lacks the out mark"
	echo "$sa_in" | grep -qE 'output-mark 0x4547[89a-f]' || vm_fail "gateway's inbound SA sets no in mark"
	echo "$sa_in" | grep -qE 'replay-window 32 ' || vm_fail "gateway's inbound SA: replay window not 32"
	echo "ok: gateway SAs: out mark, in output-mark, replay window 32"
}

# --- Libreswan (pluto) partners -----------------------------------------------------------------
# Debian's libreswan conflicts with strongSwan's packages, so tests/vm/run.sh unpacks it into
# $OUTPUT/vm-libreswan/ipsec and pluto runs from there: its own ipsec.conf, secrets, NSS database
# (certutil from libnss3-tools), rundir, and stderr log. pluto insists on its compiled-in
# /usr/libexec/ipsec/addconn, so its mount namespace gets a tmpfs on /usr/libexec with the
# unpacked ipsec directory bound there (and a private /run).
EG_LS_EXEC=${EG_LS_EXEC:-$OUTPUT/vm-libreswan/ipsec}

eg_pluto_dir() { echo "$VM_WORK/pluto-$1"; }

# eg_pluto_start NAME NS CONN-TEXT PSK-LINE: pluto NAME in NS with "config setup" + CONN-TEXT as
# ipsec.conf and PSK-LINE as ipsec.secrets; waits for its control socket and the connections.
eg_pluto_start() {
	local name=$1 ns=$2 d i x=$EG_LS_EXEC
	d=$(eg_pluto_dir "$name")
	if ! [ -x "$x/pluto" ]; then
		vm_skip "Libreswan not available: $(cat "$OUTPUT/vm-libreswan/missing" 2>/dev/null ||
			echo "no $x/pluto (tests/vm/run.sh unpacks it)")"
	fi
	command -v certutil >/dev/null || vm_skip "certutil not installed (libnss3-tools: scripts/deps.sh test)"
	mkdir -p "$d/nss" "$d/ipsec.d" "$d/run"
	certutil -N -d "sql:$d/nss" --empty-password || vm_fail "pluto $name: NSS database"
	{
		printf 'config setup\n\tdumpdir=%s\n\tnssdir=%s\n\tipsecdir=%s\n\tsecretsfile=%s\n' \
			"$d/run" "$d/nss" "$d/ipsec.d" "$d/ipsec.secrets"
		printf '\tplutodebug=none\n\tlogtime=yes\n\tuniqueids=yes\n\n'
		echo "$3"
	} >"$d/ipsec.conf"
	(
		umask 077
		echo "$4" >"$d/ipsec.secrets"
	)
	vm_log "$d/pluto.log"
	ip netns exec "$ns" sh -c "mount -t tmpfs tmpfs /usr/libexec && mkdir /usr/libexec/ipsec &&
		mount --bind $x /usr/libexec/ipsec && mount -t tmpfs tmpfs /run &&
		exec $x/pluto --config $d/ipsec.conf --nofork --stderrlog --rundir $d/run \
			--secretsfile $d/ipsec.secrets --ipsecdir $d/ipsec.d --nssdir $d/nss --no-dnssec" \
		>"$d/pluto.log" 2>&1 &
	echo $! >"$d/pid"
	VM_PIDS+=($!)
	for i in $(seq 1 600); do
		[ -S "$d/run/pluto.ctl" ] && grep -q 'listening for IKE messages' "$d/pluto.log" && return 0
		kill -0 "$(cat "$d/pid")" 2>/dev/null || vm_fail "pluto $name exited at startup"
		sleep 0.1
	done
	vm_fail "pluto $name: not listening after 60 s"
}

# eg_whack NAME ARGS...: whack against pluto NAME.
eg_whack() {
	local d
	d=$(eg_pluto_dir "$1")
	shift
	timeout 30 "$EG_LS_EXEC/whack" --ctlsocket "$d/run/pluto.ctl" "$@"
}

# eg_pluto_wait_child NAME CONN [SECONDS]: until pluto NAME shows an established Child SA of CONN.
eg_pluto_wait_child() {
	local i
	for i in $(seq 1 $((${3:-30} * 5))); do
		eg_whack "$1" --trafficstatus 2>/dev/null | grep -q "\"$2\"" && return 0
		sleep 0.2
	done
	return 1
}

# On failure, the diagnostics also hold what each espgated says about itself (status, counters,
# live NAT flows) and the BPF programs attached in the gateway namespaces.
EG_STARTED=()
eval "$(declare -f vm_dump | sed '1s/^vm_dump/vm__dump_base/')"
vm_dump() {
	local n
	for n in "${EG_STARTED[@]}"; do
		echo "----- espgated $n: status, counters, nat"
		eg_ctl "$n" status 2>&1
		eg_ctl "$n" counters 2>&1
		eg_ctl "$n" nat 2>&1 | head -n 20
	done
	vm__dump_base
}
