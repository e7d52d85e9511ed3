# SPDX-License-Identifier: GPL-2.0-only
# Helpers for namespace tests: unique names, cleanup on any exit, a private bpffs so that pins
# made by a test never land in (or collide with) the host's /sys/fs/bpf.
#
#   source tests/lib/netns.sh
#   nt_private_bpffs "$@"    # re-executes the script in a private mount namespace (first line)
#   nt_ns VAR NAME           # creates namespace "$NT_PREFIX-NAME" (registered for cleanup) and
#                            # stores its name in VAR (not in a subshell, so cleanup sees it)
#   nt_veth NS1 IF1 NS2 IF2  # veth pair between two namespaces
#   nt_in NS CMD...          # run CMD in NS keeping our mount namespace (bpffs pins stay visible)

NT_PREFIX=${NT_PREFIX:-eg$$}
NT_NS=()
NT_CLEANUP=()

nt_cleanup() {
	local i
	for ((i = ${#NT_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${NT_CLEANUP[$i]}" >/dev/null 2>&1 || true
	done
	for ns in "${NT_NS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
}
trap nt_cleanup EXIT

# nt_on_exit CMD: run CMD (a string) at exit, in reverse order of registration.
nt_on_exit() {
	NT_CLEANUP+=("$1")
}

nt_private_bpffs() {
	if [ -z "${NT_IN_PRIVATE_MNT:-}" ]; then
		NT_IN_PRIVATE_MNT=1 exec unshare --mount --propagation private bash "$0" "$@"
	fi
	mount -t bpf bpf /sys/fs/bpf || {
		echo "Bail out! cannot mount a private bpffs"
		exit 1
	}
}

nt_ns() {
	local ns=$NT_PREFIX-$2
	ip netns add "$ns" || return 1
	NT_NS+=("$ns")
	ip -n "$ns" link set lo up
	# No IPv6 autoconfiguration chatter: tests count packets exactly.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	printf -v "$1" '%s' "$ns"
}

nt_veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

nt_in() {
	local ns=$1
	shift
	nsenter --net=/run/netns/"$ns" "$@"
}

# nt_stat NAME: eg_stats[EG_STAT_<NAME>].packets summed over CPUs, from the pinned map; the index
# is looked up by name in the object's BTF (enum eg_stat), so it never drifts from the header.
# The maps are read under NT_PIN_ROOT (default /sys/fs/bpf; espgated pins under .../espgate).
nt_stat() {
	python3 - "$1" "${OUTPUT:-.output}/espgate.bpf.o" "${NT_PIN_ROOT:-/sys/fs/bpf}" <<'PY'
import json, subprocess, sys
name, obj = "EG_STAT_" + sys.argv[1], sys.argv[2]
btf = json.loads(subprocess.check_output(["bpftool", "-j", "btf", "dump", "file", obj]))
idx = None
for t in btf["types"]:
    if t.get("kind") == "ENUM" and t.get("name") == "eg_stat":
        for v in t["values"]:
            if v["name"] == name:
                idx = v["val"]
if idx is None:
    sys.exit("no such stat " + name)
dump = json.loads(subprocess.check_output(
    ["bpftool", "-j", "map", "lookup", "pinned", sys.argv[3] + "/eg_stats", "key",
     *[str(b) for b in idx.to_bytes(4, "little")]]))
vals = dump.get("formatted", dump)["values"]
print(sum(v["value"]["packets"] for v in vals))
PY
}

# nt_tc_ingress NS DEV: what runs on DEV's tc ingress in NS: its clsact filters (`tc filter
# show`), then "tcx: NAME" for the tcx link espgate pinned for DEV under NT_PIN_ROOT (tcx_DEV,
# kernels >= 6.6), so a test can grep for the program name whichever way it was attached.
nt_tc_ingress() {
	tc -n "$1" filter show dev "$2" ingress 2>&1
	[ -e "${NT_PIN_ROOT:-/sys/fs/bpf}/tcx_$2" ] || return 0
	python3 - "${NT_PIN_ROOT:-/sys/fs/bpf}/tcx_$2" <<'PY'
import json, subprocess, sys
try:
    l = json.loads(subprocess.run(["bpftool", "-j", "link", "show", "pinned", sys.argv[1]],
                                  capture_output=True, text=True).stdout)
    p = json.loads(subprocess.run(["bpftool", "-j", "prog", "show", "id", str(l["prog_id"])],
                                  capture_output=True, text=True).stdout)
    print("tcx:", p["name"])
except Exception as e:
    print("tcx: unreadable link:", e)
PY
}
