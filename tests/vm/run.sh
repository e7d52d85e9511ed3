#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# The VM test tier (`make vmtest`): proves what this host's kernel cannot (kernel ESP/XFRM, native
# XDP on veth, marks) by booting Debian's own kernel under qemu. It resolves the current kernel ABI
# from linux-image-amd64, downloads and unpacks that package once into a cache outside the checkout,
# builds a small initramfs (static busybox + the modules in tests/vm/modules.list, ordered by their
# .modinfo "depends="), boots it with the host's /usr and /etc, the checkout and the build output
# shared read-only over 9p, and runs tests/vm/guest.sh, which runs every tests/vm/scenarios/*.sh in
# fresh namespaces. The verdict is read from the result files the guest writes into a writable 9p
# share, never from qemu's exit status, and printed as TAP ("ok N - vm/<scenario>").
#
#   tests/vm/run.sh                 run every scenario
#   tests/vm/run.sh 00 bpf          run the scenarios whose file name contains "00" or "bpf"
#   tests/vm/run.sh --core          only the core scenarios (a "# vm-set: core" line in the file):
#                                   one per capability, what `make test` runs
#   tests/vm/run.sh --rest          every scenario that is not core (.ci/run runs it after make test)
#   tests/vm/run.sh --shell         boot the same VM into an interactive bash (debugging)
#   tests/vm/run.sh --prepare       only fetch the kernel and build the initramfs
# Environment: OUTPUT (build dir, default .output), ESPGATE_VM_CACHE (default
# /var/cache/espgate-vmtest), ESPGATE_VM_ABI (force a kernel ABI, e.g. 6.1.0-56-amd64),
# ESPGATE_VM_TIMEOUT (whole VM run, s, default 120 + per scenario run 150 or its own longer
# limit), ESPGATE_VM_SCENARIO_TIMEOUT (per scenario, s, default 240; a scenario may ask for more
# with a '# vm-timeout: SECONDS' line), ESPGATE_VM_MEM (MiB, default 768), VERBOSE=1 (stream the
# VM console).
set -u
cd "$(dirname "$0")/../.." || exit 1
SRC=$(pwd -P)
# shellcheck source=tests/lib/tap.sh
. tests/lib/tap.sh

OUTPUT=${OUTPUT:-.output}
CACHE=${ESPGATE_VM_CACHE:-/var/cache/espgate-vmtest}
VM_TIMEOUT=${ESPGATE_VM_TIMEOUT:-}
SCEN_TIMEOUT=${ESPGATE_VM_SCENARIO_TIMEOUT:-240}
VM_MEM=${ESPGATE_VM_MEM:-768}
VERBOSE=${VERBOSE:-0}
MODE=run
SET=all
ONLY=()

for a in "$@"; do
	case $a in
	--shell) MODE=shell ;;
	--core) SET=core ;;
	--rest) SET=rest ;;
	--all) SET=all ;;
	--prepare) MODE=prepare ;;
	-h | --help)
		sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $a" >&2
		exit 2
		;;
	*) ONLY+=("$a") ;;
	esac
done

# selected NAME: NAME contains one of the names given (all when none was)
selected() {
	local n=$1 o
	[ ${#ONLY[@]} -eq 0 ] && return 0
	for o in "${ONLY[@]}"; do
		case $n in *"$o"*) return 0 ;; esac
	done
	return 1
}

# --core/--rest: the set becomes the list of exact scenario names (names given too narrow it further).
if [ "$SET" != all ]; then
	want=()
	for f in tests/vm/scenarios/*.sh; do
		n=$(basename "$f" .sh)
		core=0
		grep -q '^# vm-set: core$' "$f" && core=1
		{ [ "$SET" = core ] && [ $core = 1 ]; } || { [ "$SET" = rest ] && [ $core = 0 ]; } || continue
		selected "$n" || continue
		want+=("$n")
	done
	if [ ${#want[@]} -eq 0 ]; then
		tap_skip "vm tier ($SET)" "no scenario in the $SET set${ONLY[*]:+ matches ${ONLY[*]}}"
		tap_done
		exit 0
	fi
	ONLY=("${want[@]}")
fi

T0=$(date +%s.%N)
say() { echo "# vm: $*"; }
# die REASON: the tier could not run although it should have (no kernel, broken cache...): one
# failing TAP line with the reason, so CI and tests/run.sh count it.
die() {
	echo "run.sh: $*" >&2
	tap_fail "vm tier" "$*"
	tap_done
	exit 1
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# skip_all REASON: the whole tier cannot run here; say so loudly, count it as skipped.
skip_all() {
	tap_skip "vm tier" "$1"
	tap_done
	exit 0
}

# --- preconditions ---------------------------------------------------------------------------
[ "$(uname -m)" = x86_64 ] || skip_all "host is $(uname -m); the VM tier boots Debian's amd64 kernel"
command -v qemu-system-x86_64 >/dev/null ||
	skip_all "qemu-system-x86_64 not installed (scripts/deps.sh test installs qemu-system-x86)"
BUSYBOX=/bin/busybox
if ! [ -x "$BUSYBOX" ] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
	# without file(1), trust the package: busybox-static ships the only /bin/busybox we accept
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
		skip_all "busybox-static not installed (scripts/deps.sh test installs it)"
fi
[ -L /bin ] && [ -L /sbin ] && [ -L /lib ] ||
	skip_all "host is not merged-/usr; the guest takes its userspace from the host's /usr only"
for t in apt-cache apt-get dpkg-deb cpio gzip flock sha256sum; do
	command -v $t >/dev/null || die "$t not found (scripts/deps.sh test installs what the VM tier needs)"
done

if ! mkdir -p "$CACHE" 2>/dev/null || ! [ -w "$CACHE" ]; then
	CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/espgate-vmtest
	mkdir -p "$CACHE" || die "cannot create a cache directory"
fi

# --- 1. the kernel: resolve the ABI, download once per ABI, unpack, decompress modules ----------
resolve_abi() {
	local dep
	if [ -n "${ESPGATE_VM_ABI:-}" ]; then
		echo "$ESPGATE_VM_ABI"
		return 0
	fi
	dep=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$dep" ] && [ "$(id -u)" -eq 0 ]; then
		say "apt knows no linux-image-amd64; running apt-get update once" >&2
		apt-get update -qq >&2 || true
		dep=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$dep" ] || return 1
	echo "${dep#linux-image-}"
}

# fetch_kernel ABI: leaves $CACHE/kernel-ABI/{vmlinuz,modules/} (modules = lib/modules/ABI).
fetch_kernel() {
	local abi=$1 kdir=$CACHE/kernel-$1 tmp pkg=linux-image-$1 deb
	[ -f "$kdir/.complete" ] && return 0
	say "downloading Debian kernel package $pkg (once per ABI) into $CACHE" >&2
	tmp=$(mktemp -d "$CACHE/.dl.XXXXXX") || return 1
	if ! (cd "$tmp" && apt-get download "$pkg" >dl.log 2>&1); then
		if [ "$(id -u)" -eq 0 ]; then
			say "apt-get download failed; retrying after apt-get update" >&2
			apt-get update -qq >&2 || true
			(cd "$tmp" && apt-get download "$pkg" >dl.log 2>&1)
		fi || {
			sed 's/^/#   /' "$tmp/dl.log" >&2
			if grep -q 'Unable to locate package' "$tmp/dl.log"; then
				echo "run.sh: apt knows no package $pkg (stale lists? wrong ESPGATE_VM_ABI?)" >&2
			else
				echo "run.sh: cannot download $pkg: apt cannot reach the Debian archive" \
					"(check network/proxy and /etc/apt/sources.list)" >&2
			fi
			rm -rf "$tmp"
			return 1
		}
	fi
	deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || {
		rm -rf "$tmp"
		return 1
	}
	dpkg-deb -x "$deb" "$tmp/x" || {
		rm -rf "$tmp"
		return 1
	}
	mkdir -p "$tmp/k"
	mv "$tmp/x/boot/vmlinuz-$abi" "$tmp/k/vmlinuz" &&
		mv "$tmp/x/lib/modules/$abi" "$tmp/k/modules" || {
		echo "run.sh: $pkg does not contain boot/vmlinuz-$abi and lib/modules/$abi" >&2
		rm -rf "$tmp"
		return 1
	}
	# newer Debian kernels ship compressed modules; busybox insmod wants plain .ko
	find "$tmp/k/modules" -name '*.ko.xz' -exec xz -d {} + &&
		find "$tmp/k/modules" -name '*.ko.zst' -exec zstd -q -d --rm {} + &&
		find "$tmp/k/modules" -name '*.ko.gz' -exec gzip -d {} + || {
		echo "run.sh: cannot decompress modules (xz-utils/zstd missing?)" >&2
		rm -rf "$tmp"
		return 1
	}
	basename "$deb" >"$tmp/k/package"
	touch "$tmp/k/.complete"
	rm -rf "$kdir"
	mv "$tmp/k" "$kdir"
	rm -rf "$tmp"
	# drop older ABIs and their initramfs images: only the current kernel is ever booted
	for old in "$CACHE"/kernel-*; do
		[ "$old" = "$kdir" ] || rm -rf "$old"
	done
	find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "initramfs-$abi-*" -delete
}

# --- 2. the initramfs -------------------------------------------------------------------------
# mod_order MODDIR NAME...: prints the .ko paths (relative to MODDIR) in load order, each after its
# dependencies, reading "depends=" from the module's .modinfo strings. No depmod/modinfo needed.
declare -A MOD_PATH MOD_SEEN
mod_order() {
	local moddir=$1 m p
	shift
	while read -r p; do
		m=${p##*/}
		m=${m%.ko}
		MOD_PATH[${m//-/_}]=$p
	done < <(cd "$moddir" && find kernel -name '*.ko')
	for m in "$@"; do
		mod_visit "$moddir" "$m" || return 1
	done
}

mod_visit() {
	local moddir=$1 want=$2 optional=0 n p deps d
	case $want in *\?)
		optional=1
		want=${want%\?}
		;;
	esac
	n=${want//-/_}
	[ -n "${MOD_SEEN[$n]:-}" ] && return 0
	MOD_SEEN[$n]=1
	p=${MOD_PATH[$n]:-}
	if [ -z "$p" ]; then
		if grep -qE "/(${n}|${n//_/-})\.ko$" "$moddir/modules.builtin" 2>/dev/null; then
			echo "# module $want is built in" >&2
			return 0
		fi
		[ $optional -eq 1 ] && {
			echo "# optional module $want not found, skipped" >&2
			return 0
		}
		echo "run.sh: module $want not found in $moddir" >&2
		return 1
	fi
	deps=$(tr '\0' '\n' <"$moddir/$p" | sed -n 's/^depends=//p' | head -1)
	for d in ${deps//,/ }; do
		mod_visit "$moddir" "$d" || return 1
	done
	echo "$p"
}

build_initramfs() {
	local abi=$1 out=$2 moddir=$CACHE/kernel-$1/modules d mods
	d=$(mktemp -d "$CACHE/.ird.XXXXXX") || return 1
	mods=$(sed 's/#.*//' tests/vm/modules.list | tr -s ' \t\n' ' ')
	# shellcheck disable=SC2086
	mod_order "$moddir" $mods >"$d/order" || {
		rm -rf "$d"
		return 1
	}
	mkdir -p "$d/root/.busybox" "$d/root/modules" "$d/root/dev"
	cp "$BUSYBOX" "$d/root/.busybox/busybox"
	cp tests/vm/init "$d/root/init"
	chmod 755 "$d/root/init"
	while read -r p; do
		cp "$moddir/$p" "$d/root/modules/"
		basename "$p"
	done <"$d/order" >"$d/root/modules/order"
	# merged-/usr links: they dangle until init mounts the host's /usr over 9p
	for l in bin sbin lib lib64; do
		ln -s "usr/$l" "$d/root/$l"
	done
	(cd "$d/root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$d/img" &&
		mv "$d/img" "$out"
	local rc=$?
	rm -rf "$d"
	return $rc
}

ABI=$(resolve_abi) ||
	die "cannot resolve Debian's kernel ABI: apt knows no linux-image-amd64 (not a Debian archive? set ESPGATE_VM_ABI)"
exec 9>"$CACHE/.lock"
flock 9 || die "cannot lock $CACHE"
fetch_kernel "$ABI" || die "no kernel $ABI (see above)"
KDIR=$CACHE/kernel-$ABI
IRD_KEY=$(
	{
		echo "$ABI"
		cat tests/vm/modules.list tests/vm/init
		sha256sum "$BUSYBOX"
		echo v1
	} | sha256sum | cut -c1-16
)
INITRD=$CACHE/initramfs-$ABI-$IRD_KEY.cpio.gz
if ! [ -f "$INITRD" ]; then
	say "building initramfs $INITRD" >&2
	build_initramfs "$ABI" "$INITRD" || die "initramfs build failed"
	# older images (another module list or init) are garbage once nobody can still be booting them
	find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "${INITRD##*/}" -mmin +30 -delete
fi

# --- 2b. Libreswan for the partner scenarios (57-*): its package conflicts with strongSwan's, so
# it is never installed: downloaded once per version into the cache, unpacked, and copied to
# $OUTPUT/vm-libreswan/ipsec (its programs, visible in the VM), or the reason written to $OUTPUT/vm-libreswan/missing.
fetch_libreswan() {
	local ver dir=$CACHE/libreswan dst=$OUTPUT/vm-libreswan tmp deb
	ver=$(apt-cache policy libreswan 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
	rm -rf "$dst"
	mkdir -p "$dst"
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		echo "apt knows no libreswan package" >"$dst/missing"
		return 0
	fi
	if ! [ -f "$dir/$ver/.complete" ]; then
		say "downloading libreswan $ver (unpacked, never installed) into $CACHE" >&2
		rm -rf "$dir"
		tmp=$dir/$ver
		mkdir -p "$tmp"
		if (cd "$tmp" && apt-get download libreswan >dl.log 2>&1) &&
			deb=$(ls "$tmp"/*.deb 2>/dev/null | head -1) && [ -n "$deb" ] &&
			dpkg-deb -x "$deb" "$tmp/root"; then
			rm -f "$deb"
			touch "$tmp/.complete"
		else
			echo "cannot download/unpack libreswan $ver: $(tail -n 1 "$tmp/dl.log" 2>/dev/null)" >"$dst/missing"
			rm -rf "$dir"
			return 0
		fi
	fi
	# only the programs: a whole tree (etc/pam.d...) under $OUTPUT would confuse make's *.d scan
	cp -a "$dir/$ver/root/usr/libexec/ipsec" "$dst/ipsec" && echo "$ver" >"$dst/version"
}
fetch_libreswan
flock -u 9
[ "$MODE" = prepare ] && {
	say "kernel $ABI ($(cat "$KDIR/package")), initramfs $INITRD ready"
	exit 0
}

# --- 3. boot -----------------------------------------------------------------------------------
OUT_ABS=$(realpath -m "$OUTPUT")
RES=$(mktemp -d /tmp/espgate-vmtest.XXXXXX) || die "mktemp"
chmod 777 "$RES"
case "$SRC$OUT_ABS$RES" in *[[:space:]]*) die "paths with spaces are not supported" ;; esac

# host directories shared over 9p: tag=path[:ro]
SHARES=("hostusr=/usr:ro" "hostetc=/etc:ro" "src=$SRC:ro" "results=$RES")
case $OUT_ABS/ in "$SRC"/*) ;; *) [ -d "$OUT_ABS" ] && SHARES+=("output=$OUT_ABS:ro") ;; esac
QEMU_FS=()
for s in "${SHARES[@]}"; do
	tag=${s%%=*}
	path=${s#*=}
	ro=
	case $path in *:ro)
		path=${path%:ro}
		ro=,readonly=on
		;;
	esac
	QEMU_FS+=(-fsdev "local,id=fs_$tag,path=$path,security_model=none,multidevs=remap$ro"
		-device "virtio-9p-pci,fsdev=fs_$tag,mount_tag=$tag")
done

# the whole run's safety limit grows with the scenarios it runs: 120 s for the boot plus 150 s per
# scenario, or the scenario's own longer limit ("# vm-timeout: SECONDS", read by guest.sh)
if [ -z "$VM_TIMEOUT" ]; then
	VM_TIMEOUT=120
	for f in tests/vm/scenarios/*.sh; do
		selected "$(basename "$f" .sh)" || continue
		t=$(sed -n 's/^# vm-timeout: \([0-9][0-9]*\)$/\1/p' "$f" | head -n 1)
		[ "${t:-0}" -gt 150 ] || t=150
		VM_TIMEOUT=$((VM_TIMEOUT + t))
	done
fi
ONLY_CSV=$(
	IFS=,
	echo "${ONLY[*]:-}"
)
APPEND="console=ttyS0 panic=-1 oops=panic quiet loglevel=4 random.trust_cpu=on"
APPEND+=" vmtest.mode=$MODE vmtest.src=$SRC vmtest.output=$OUT_ABS vmtest.timeout=$SCEN_TIMEOUT"
[ -n "$ONLY_CSV" ] && APPEND+=" vmtest.only=$ONLY_CSV"
QEMU=(qemu-system-x86_64 -accel kvm -accel tcg -cpu max -smp 1 -m "$VM_MEM"
	-nographic -no-reboot -nodefaults -serial mon:stdio
	-kernel "$KDIR/vmlinuz" -initrd "$INITRD" -append "$APPEND"
	-device virtio-rng-pci "${QEMU_FS[@]}")

if [ "$MODE" = shell ]; then
	say "kernel $ABI; interactive shell (scenarios: bash $SRC/tests/vm/guest.sh [names]);" \
		"'exit' powers off, Ctrl-A x kills qemu; results share: $RES"
	"${QEMU[@]}"
	exit $?
fi

say "kernel $ABI ($(cat "$KDIR/package")), booting qemu ($([ -w /dev/kvm ] && echo KVM || echo TCG))"
TB=$(date +%s.%N)
if [ "$VERBOSE" = 1 ]; then
	timeout -k 10 "$VM_TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tee "$RES/console.log" >&2
else
	timeout -k 10 "$VM_TIMEOUT" "${QEMU[@]}" </dev/null >"$RES/console.log" 2>&1
fi
QRC=${PIPESTATUS[0]}
VM_SECS=$(elapsed "$TB")
[ "$QRC" -eq 124 ] && say "qemu killed after ${VM_TIMEOUT}s (ESPGATE_VM_TIMEOUT)"

# --- 4. verdicts from the result files -----------------------------------------------------------
show_log() { [ -f "$1" ] && sed 's/^/#   /' "$1"; }

if ! [ -f "$RES/boot.time" ]; then
	say "the VM never reached userspace (qemu status $QRC); console:"
	tail -n 60 "$RES/console.log" | tr -d '\r' | sed 's/^/#   /'
fi
[ -f "$RES/boot.time" ] && say "boot to userspace: $(cat "$RES/boot.time") s (guest clock)"
nsel=0
for f in tests/vm/scenarios/*.sh; do
	n=$(basename "$f" .sh)
	selected "$n" || continue
	nsel=$((nsel + 1))
	rcf=$RES/scenarios/$n.rc
	if ! [ -f "$rcf" ]; then
		tap_fail "vm/$n" "no result: the VM stopped before this scenario finished (qemu status $QRC)"
		show_log "$RES/scenarios/$n.log"
		[ -f "$RES/scenarios/$n.log" ] || tail -n 30 "$RES/console.log" | tr -d '\r' | sed 's/^/#   /'
		continue
	fi
	rc=$(cat "$rcf")
	t=$(cat "$RES/scenarios/$n.time" 2>/dev/null)
	case $rc in
	0) tap_ok "vm/$n" && say "$n: ${t:-?} s" ;;
	77) tap_skip "vm/$n" "$(cat "$RES/scenarios/$n.skip" 2>/dev/null || echo 'scenario skipped')" ;;
	*)
		tap_fail "vm/$n" "exit status $rc after ${t:-?} s; log follows"
		show_log "$RES/scenarios/$n.log"
		;;
	esac
done
[ $nsel -eq 0 ] && tap_fail "vm tier" "no scenario matches: ${ONLY[*]}"

mkdir -p "$OUTPUT" && rm -rf "$OUTPUT/vmtest-results" && cp -r "$RES" "$OUTPUT/vmtest-results" &&
	rm -rf "$RES" && RES=$OUTPUT/vmtest-results
say "total $(elapsed "$T0") s (VM $VM_SECS s); logs and console in $RES"
tap_done
