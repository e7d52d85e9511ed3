#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# espgated --check on every example config (each must pass) and on broken copies of them (each
# must fail with exit 1 and a file:line:col message naming the problem), the secrets file
# permission rule, the promise that no secret ever reaches the output, and the exit code of the
# not-yet-built daemon mode. Needs no namespace, but needs the built binary, hence this tier.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
OUTPUT=${OUTPUT:-.output}
ESPGATED=$OUTPUT/espgated

if [ ! -x "$ESPGATED" ]; then
	tap_fail "espgated binary present" "$ESPGATED not built"
	tap_done
	exit 1
fi

work=$(mktemp -d /tmp/eg-examples.$$.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# git does not keep file modes: work on a copy whose secrets file is 0600
cp examples/*.yaml "$work"/
chmod 600 "$work"/secrets.example.yaml

out=$work/out.txt

# check NAME EXPECTED_RC FILE [GREP_PATTERN...]: runs --check, compares the exit code and
# requires each pattern (extended regex) in the combined output.
check() {
	local name=$1 want=$2 file=$3 rc pat
	shift 3
	"$ESPGATED" --check -c "$file" >"$out" 2>&1
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		tap_fail "$name" "exit $rc, wanted $want: $(head -5 "$out" | tr '\n' '|')"
		return
	fi
	for pat in "$@"; do
		if ! grep -qE -- "$pat" "$out"; then
			tap_fail "$name" "no /$pat/ in: $(head -5 "$out" | tr '\n' '|')"
			return
		fi
	done
	tap_ok "$name"
}

n_examples=0
for f in "$work"/s*.yaml; do
	case $f in *secrets*) continue ;; esac
	n_examples=$((n_examples + 1))
	check "example $(basename "$f") passes --check" 0 "$f" ": OK \("
done
if [ "$n_examples" -ge 10 ]; then
	tap_ok "examples cover S1-S10 ($n_examples files)"
else
	tap_fail "examples cover S1-S10" "only $n_examples example files"
fi
for s in 1 2 3 4 5 6 7 8 9 10; do
	if ls "$work"/s"$s"-*.yaml >/dev/null 2>&1; then
		tap_ok "scenario S$s has an example"
	else
		tap_fail "scenario S$s has an example" "no examples/s$s-*.yaml"
	fi
done

# broken NAME SRC SED_EXPR PATTERN...: a copy of SRC edited by sed must fail --check.
broken() {
	local name=$1 src=$2 expr=$3
	shift 3
	sed -e "$expr" "$work/$src" >"$work/broken.yaml"
	if cmp -s "$work/$src" "$work/broken.yaml"; then
		tap_fail "$name" "the sed edit changed nothing (test is stale)"
		return
	fi
	check "$name" 1 "$work/broken.yaml" "$@"
}

broken "bad CIDR is reported with line:col and expectation" s1-plain-s2s.yaml \
	's#local: 10.1.0.0/16#local: 10.1.0.0/33#' \
	'broken\.yaml:[0-9]+:[0-9]+: tunnels\.mikrotik-home\.children\[0\]\.local: expected a CIDR prefix like 10\.1\.0\.0/16, got .10\.1\.0\.0/33.'
broken "typo in a key is an error, not ignored" s1-plain-s2s.yaml \
	's#rekey_fuzz:#rekey_fuz:#' "unknown key 'rekey_fuz'"
broken "rekey margin longer than the lifetime" s1-plain-s2s.yaml \
	's#rekey_margin: 3m#rekey_margin: 40m#' 'must be shorter than lifetime'
broken "DPD timeout shorter than delay" s1-plain-s2s.yaml \
	's#timeout: 30s#timeout: 5s#' 'dpd.timeout \(5s\) must be at least dpd.delay \(10s\)'
broken "rekey fuzz over 100%" s1-plain-s2s.yaml 's#rekey_fuzz: 10%#rekey_fuzz: 150%#' \
	'0% to 100%'
broken "unknown PSK reference" s2-snat-into-tunnel.yaml 's#psk: mikrotik-home#psk: nosuchkey#' \
	"no PSK named 'nosuchkey'"
broken "SNAT address outside the local selectors" s2-snat-into-tunnel.yaml \
	's#outside: 100.64.0.18#outside: 100.64.0.19#' 'not inside this child.s local selectors'
broken "port out of range" s3-snat-dnat.yaml 's#100.64.0.18:8080#100.64.0.18:80800#' \
	'address:port'
broken "weak ESP refused without allow_weak_algorithms" s7-proxy-through-tunnel.yaml \
	's#allow_weak_algorithms: true#allow_weak_algorithms: false#' "weak algorithm 'md5'"
broken "bad proposal keyword" s1-plain-s2s.yaml 's#ike: aes256-sha256-ecp384#ike: aes265-sha256-ecp384#' \
	'tunnels\.mikrotik-home\.ike: expected a strongSwan proposal'
broken "netmap prefixes of different length" s5-overlap-netmap.yaml \
	's#outside: 100.64.1.0/24#outside: 100.64.0.0/16#' 'same length'
broken "two partners claiming the same traffic" s5b-overlap-shared-outside.yaml \
	's#10.202.0.0/16#10.201.0.0/16#' 'claims the same traffic'
broken "duplicate child name" s8-transport-tcp8080.yaml 's#from-host1-8080#to-host1-8080#' \
	"duplicate child name 'to-host1-8080'"
broken "transport mode needs host selectors" s8-transport-tcp8080.yaml \
	's#remote: 10.2.27.10/32:tcp:8080#remote: 10.2.27.0/24:tcp:8080#' 'must be a /32'
broken "peer any must be responder-only" s10-nat-west.yaml 's#mode: responder-only#mode: both#' \
	'set mode: responder-only'
broken "YAML syntax error has a position" s1-plain-s2s.yaml 's#remote: 192.168.88.0/24#remote: [192.168.88.0/24#' \
	'broken\.yaml:[0-9]+:[0-9]+: YAML syntax error'
broken "duplicate tunnel name" s4-two-partners-strict.yaml 's#^  blue:#  red:#' "duplicate tunnel 'red'"

check "missing config file" 1 "$work/nonexistent.yaml" 'nonexistent\.yaml: cannot open'

# every error is listed, not only the first
sed -e 's#rekey_fuzz:#rekey_fuz:#' -e 's#local: 10.1.0.0/16#local: 10.1.0.0/33#' \
	"$work/s1-plain-s2s.yaml" >"$work/broken.yaml"
check "all errors are reported at once" 1 "$work/broken.yaml" "rekey_fuz" "10\.1\.0\.0/33" \
	"NOT valid \(2 errors\)"

# secrets file permissions
chmod 644 "$work"/secrets.example.yaml
check "secrets readable by others: refused with the fix" 1 "$work/s1-plain-s2s.yaml" \
	'accessible by group or others \(mode 0644\): run chmod 600'
chmod 660 "$work"/secrets.example.yaml
check "secrets writable by group: refused" 1 "$work/s1-plain-s2s.yaml" 'chmod 600'
chmod 600 "$work"/secrets.example.yaml
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 "$work"/secrets.example.yaml
	check "secrets not owned by root: refused (as root)" 1 "$work/s1-plain-s2s.yaml" \
		'not root: run chown root:root'
	chown 0 "$work"/secrets.example.yaml
else
	tap_skip "secrets not owned by root: refused (as root)" "needs root to chown"
fi

# -s overrides global.secrets
printf 'psk:\n  mikrotik-home: "another-fake-psk-for-the-test"\n' >"$work/other.secrets"
chmod 600 "$work/other.secrets"
"$ESPGATED" --check -c "$work/s1-plain-s2s.yaml" -s "$work/other.secrets" >"$out" 2>&1
if [ $? -eq 0 ] && grep -q "secrets $work/other.secrets" "$out"; then
	tap_ok "-s FILE overrides global.secrets"
else
	tap_fail "-s FILE overrides global.secrets" "$(cat "$out")"
fi

# No secret ever reaches the output: valid, malformed, misplaced, syntax-broken.
secret_leak() {
	local name=$1 content=$2 leaked=""
	printf '%s' "$content" >"$work/leak.secrets"
	chmod 600 "$work/leak.secrets"
	"$ESPGATED" --check -d -c "$work/s1-plain-s2s.yaml" -s "$work/leak.secrets" >"$out" 2>&1
	if grep -q "SuperSekrit" "$out"; then
		leaked=$(grep "SuperSekrit" "$out" | head -1)
		tap_fail "$name" "secret printed: $leaked"
	else
		tap_ok "$name"
	fi
}
secret_leak "valid secret not printed" $'psk:\n  mikrotik-home: "SuperSekrit-0123456789"\n'
secret_leak "short secret not printed in its warning" $'psk:\n  mikrotik-home: SuperSekrit\n'
secret_leak "malformed hex secret not printed" $'psk:\n  mikrotik-home: 0xSuperSekrit\n'
secret_leak "malformed base64 secret not printed" $'psk:\n  mikrotik-home: 0sSuperSekrit!!\n'
secret_leak "secret as a list not printed" $'psk:\n  mikrotik-home: [SuperSekrit]\n'
secret_leak "secret as a key not printed" $'psk:\n  mikrotik-home: x\nSuperSekrit: 1\n'
secret_leak "secret in a broken quote not printed" $'psk:\n  mikrotik-home: "SuperSekrit\n'
secret_leak "secret under the wrong key not printed" $'psks:\n  mikrotik-home: SuperSekrit\n'

# the daemon refuses to start on an invalid file, names it, and touches nothing
printf 'tunnels:\n  x:\n    peer: 300.1.1.1\n' >"$work/broken.yaml"
"$ESPGATED" -d -c "$work/broken.yaml" >"$out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "broken.yaml" "$out" && grep -q "cannot start" "$out"; then
	tap_ok "daemon mode with an invalid file: refuses to start, names the file, exit 1"
else
	tap_fail "daemon mode with an invalid file refuses to start" "rc=$rc $(cat "$out")"
fi
# test-only key export is refused outside test mode
"$ESPGATED" -c "$work/s1-plain-s2s.yaml" --export-keys "$work/k" >"$out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "needs --record-sas" "$out" && [ ! -e "$work/k" ]; then
	tap_ok "--export-keys without --record-sas is refused (exit 2), writes nothing"
else
	tap_fail "--export-keys refused outside test mode" "rc=$rc $(cat "$out")"
fi
"$ESPGATED" --bogus >"$out" 2>&1
[ $? -eq 2 ] && grep -q usage "$out" && tap_ok "bad option: usage, exit 2" ||
	tap_fail "bad option: usage, exit 2" "$(cat "$out")"
"$ESPGATED" --version >"$out" 2>&1 && grep -q '^espgated ' "$out" && tap_ok "--version" ||
	tap_fail "--version" "$(cat "$out")"
"$ESPGATED" --help >"$out" 2>&1 && grep -q -- '--check' "$out" && tap_ok "--help" ||
	tap_fail "--help" "$(cat "$out")"

tap_done
