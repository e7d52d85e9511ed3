#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Installs the Debian/Ubuntu packages espgate needs, in two sets, idempotently:
#   deps.sh build   - building and running espgate (what a gateway VM needs)
#   deps.sh test    - build set + what only the tests, the VM tier and the benchmarks need
# Only missing packages are installed. The strongSwan test partner is installed as
# charon-systemd + swanctl + extra plugins (never strongswan-starter), and its systemd units
# are masked *before* installation so that a test install never leaves a daemon holding
# UDP 500/4500 on a real gateway. espgate itself never needs strongSwan.
set -euo pipefail

BUILD_PKGS=(make clang llvm gcc libc6-dev pkg-config libbpf-dev libxdp-dev bpftool
	libssl-dev libmnl-dev libyaml-dev iproute2 libelf-dev zlib1g-dev)
TEST_PKGS=(libcmocka-dev libclang-rt-14-dev cppcheck clang-tidy clang-format
	charon-systemd strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins
	qemu-system-x86 busybox-static tcpdump iptables nftables ethtool xdp-tools
	iputils-ping netcat-openbsd curl python3 python3-cryptography socat util-linux procps cpio gzip xz-utils zstd
	kmod bsdextrautils
	libnss3-tools libldns3 libevent-pthreads-2.1-7 libunbound8 libcurl3-nss)
# The last line: what Libreswan's pluto needs to run from the tree the VM tier unpacks (its
# package conflicts with strongSwan's, so it is never installed; tests/vm/run.sh).

set_name=${1:-test}
case "$set_name" in
build) want=("${BUILD_PKGS[@]}") ;;
test | all) want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
*)
	echo "usage: $0 build|test" >&2
	exit 2
	;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps.sh: all ${#want[@]} packages of set '$set_name' present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}; run as root to install them (apt-get)" >&2
	exit 1
fi

# Mask strongSwan's services before they can be installed and enabled: the charon test partner is
# started by the tests themselves, never by systemd.
for unit in strongswan.service strongswan-starter.service ipsec.service; do
	[ -e "/etc/systemd/system/$unit" ] || ln -s /dev/null "/etc/systemd/system/$unit"
done
# Keep maintainer scripts from starting any daemon during this install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

echo "deps.sh: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps.sh: done"
