# SPDX-License-Identifier: GPL-2.0-only
# strongSwan charon as a test partner, several side by side (INTEROP.md): each instance runs
# charon-systemd in its network namespace with a private /run (the pid file path is compiled
# in), its own strongswan.conf (STRONGSWAN_CONF), vici socket and file log, and — on this kernel
# without ESP — the kernel-libipsec plugin (userspace ESP over a TUN device; it forces UDP
# encapsulation, so "remote host is behind NAT" in its log is not a real NAT). Daemons stay
# children of the test and are killed at exit (tests/lib/netns.sh's cleanup).
#
#   charon_start NAME NS DIR [ESP_BACKEND]   ESP_BACKEND: libipsec (default) or netlink (VM);
#                                            again after charon_kill: a restarted partner
#   charon_kill NAME                         SIGKILL: a partner that dies without a word
#   CHARON_EXTRA="keep_alive = 2s"           (set before charon_start) more charon settings
#   charon_swanctl NAME ARGS...              swanctl against that instance
#   charon_load NAME SWANCTL_CONF            load connections and secrets
#   charon_log NAME                          its log file
#   charon_require TEST                      no charon installed: TEST is one loud SKIP, exit

declare -A CHARON_DIR CHARON_PID

charon_require() {
	[ -x /usr/sbin/charon-systemd ] && command -v swanctl >/dev/null && return 0
	tap_skip "$1" "charon-systemd/swanctl not installed (scripts/deps.sh test)"
	tap_done
	exit 0
}

charon_start() {
	local name=$1 ns=$2 dir=$3 backend=${4:-libipsec} plugins
	plugins="random nonce openssl pem pkcs1 x509 pubkey hmac sha2 sha1 aes gcm kdf"
	if [ "$backend" = libipsec ]; then
		plugins="$plugins kernel-libipsec kernel-netlink socket-default vici"
	else
		plugins="$plugins kernel-netlink socket-default vici"
	fi
	mkdir -p "$dir"
	for d in x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12; do
		mkdir -p "$dir/swanctl/$d"
	done
	cat >"$dir/strongswan.conf" <<C
charon-systemd {
	load = $plugins
	${CHARON_EXTRA:-}
	plugins {
		vici {
			socket = unix://$dir/charon.vici
		}
	}
	journal {
		default = -1
	}
	filelog {
		f {
			path = $dir/charon.log
			flush_line = yes
			default = 1
			ike = 2
			cfg = 2
			knl = 2
			time_format = %T
		}
	}
}
swanctl {
	load = pem pkcs1 x509 pubkey openssl random
}
C
	CHARON_DIR[$name]=$dir
	rm -f "$dir/charon.vici"
	ip netns exec "$ns" unshare -m sh -c "mount -t tmpfs tmpfs /run && exec env \
		STRONGSWAN_CONF=$dir/strongswan.conf /usr/sbin/charon-systemd" >"$dir/charon.out" 2>&1 &
	CHARON_PID[$name]=$!
	nt_on_exit "kill $! 2>/dev/null"
	for _ in $(seq 100); do
		[ -S "$dir/charon.vici" ] && return 0
		sleep 0.1
	done
	echo "# charon $name did not start:" && sed 's/^/#   /' "$dir/charon.out" "$dir/charon.log"
	return 1
}

charon_kill() {
	local pid=${CHARON_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	CHARON_PID[$1]=
}

charon_swanctl() {
	local name=$1 dir=${CHARON_DIR[$1]}
	shift
	STRONGSWAN_CONF=$dir/strongswan.conf swanctl "$@" --uri "unix://$dir/charon.vici"
}

charon_load() {
	local dir=${CHARON_DIR[$1]}
	cp "$2" "$dir/swanctl/swanctl.conf"
	STRONGSWAN_CONF=$dir/strongswan.conf swanctl --load-all --noprompt \
		--file "$dir/swanctl/swanctl.conf" --uri "unix://$dir/charon.vici" >/dev/null
}

charon_log() {
	echo "${CHARON_DIR[$1]}/charon.log"
}
