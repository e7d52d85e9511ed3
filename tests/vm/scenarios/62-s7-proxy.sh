#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# S7 (seed 002): a proxy through a policy-based tunnel, with the BPF datapath and real kernel SAs
# against strongSwan. VNet clients connect to the gateway itself on TCP 10101; espgate forwards
# (DNAT) that to 185.46.212.88:10101 across the tunnel 0.0.0.0/0 <-> 185.46.212.88/32 and
# masquerades it behind its tunnel address 100.64.7.1 (a port pool). The ESP proposal is the
# seed's null-md5: NULL encryption with HMAC-MD5-96 integrity. The partner's IKE endpoint is
# 185.46.212.88 itself, so the 0/0 <-> 185.46.212.88/32 selectors cover IKE's own packets both
# ways (the seed's separate 165.225.112.12 endpoint is the easy case of the same setup).
# Asserts:
#   - espgated refuses null-md5 without allow_weak_algorithms (--check and at start, naming the
#     switch), and with it starts and warns that weak algorithms are in use;
#   - a request to 10.1.0.4:10101 reaches 185.46.212.88:10101 from 100.64.7.1 and its answer comes
#     back; the kernel SAs are ecb(cipher_null) + hmac(md5); only ESP and IKE leave the gateway
#     and the partner towards each other (with NULL encryption the payload is readable inside
#     ESP: expected);
#   - IKE is never captured by the 0/0 selector: while the tunnel is up the partner rekeys the
#     CHILD SA (its IKE request reaches espgated in clear and the new SAs carry traffic) and
#     espgate's DPD probes are answered;
#   - $FLOWS concurrent TCP flows through the one SNAT address all succeed, each from its own
#     pool port (the VM affords a few hundred in seconds under TCG; the 60,000-flow proof lives in
#     the namespace tier, tests/netns/test_datapath.sh);
#   - the pool has exactly $FLOWS ports: while those flows are open, further connections fail and
#     their SYNs are counted as DROP_PORTS_EXHAUSTED in `espgatectl counters`.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-espgate.sh"
eg_datapath_wired || vm_skip "espgated in $OUTPUT does not load the BPF datapath (NAT needs it)"

FLOWS=${S7_FLOWS:-300}
EXTRA=8
ZS=185.46.212.88
PORT0=20000

# The lab: clients (10.1.1.66) - fabric - gateway (10.1.0.4); the fabric reaches the partner
# (the Zscaler-like router, 185.46.212.88, which also runs the proxy) over the internet.
H=vm62h N=vm62n G=vm62g P=vm62p
vm_ns "$H" "$N" "$G" "$P"
vm_veth "$H" eth0 10.1.1.66/24 "$N" n1 10.1.1.1/24
vm_veth "$N" n0 10.1.0.1/24 "$G" eth0 10.1.0.4/24
vm_veth "$N" n2 185.46.212.1/24 "$P" eth0 $ZS/24
ip netns exec "$H" ethtool -K eth0 tx off >/dev/null # wire-like checksums (see lib-espgate.sh)
ip -n "$H" route add default via 10.1.1.1
ip -n "$G" route add default via 10.1.0.1
ip -n "$P" route add default via 185.46.212.1
vm_forwarding "$N"
vm_forwarding "$G"
ip netns exec "$G" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
vm_check "underlay: gateway reaches the partner" vm_ping "$G" 10.1.0.4 $ZS 1

PSK=$(eg_psk)
eg_secrets "$VM_WORK/secrets.yaml" zscaler "$PSK"
# s7_conf FILE WEAK: the seed's tunnel as examples/s7-proxy-through-tunnel.yaml has it, with a
# short DPD delay and a pool of exactly $FLOWS ports.
s7_conf() {
	cat >"$1" <<-EOC
		global:
		  interfaces: eth0
		  secrets: $VM_WORK/secrets.yaml
		$2
		tunnels:
		  zscaler:
		    peer: $ZS
		    local_address: 10.1.0.4
		    psk: zscaler
		    ike: aes256-sha256-modp2048
		    esp: null-md5
		    ike_lifetime: 24h
		    lifetime: 8h
		    start: start
		    dpd: { delay: 2s, timeout: 30s, action: restart }
		    children:
		      - name: proxy
		        local: 0.0.0.0/0
		        remote: $ZS/32
		        nat:
		          - type: forward
		            proto: tcp
		            inside: 10.1.0.4:10101
		            outside: $ZS:10101
		          - type: pool
		            inside: [10.0.0.0/8]
		            outside: 100.64.7.1
		            ports: $PORT0-$((PORT0 + FLOWS - 1))
	EOC
}
s7_conf "$VM_WORK/noweak.yaml" ""
s7_conf "$VM_WORK/espgate.yaml" "  allow_weak_algorithms: true"
cat >"$VM_WORK/partner.conf" <<EOF
connections {
	gw {
		version = 2
		local_addrs = $ZS
		remote_addrs = 10.1.0.4
		proposals = aes256-sha256-modp2048
		local {
			auth = psk
			id = $ZS
		}
		remote {
			auth = psk
			id = 10.1.0.4
		}
		children {
			proxy {
				local_ts = $ZS/32
				remote_ts = 0.0.0.0/0
				esp_proposals = null-md5
				mode = tunnel
				start_action = none
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = 10.1.0.4
		id-2 = $ZS
		secret = "$PSK"
	}
}
EOF

vm_step "null-md5 without allow_weak_algorithms: refused"
out=$("$EG_D" --check -c "$VM_WORK/noweak.yaml" 2>&1) && vm_fail "--check accepted null-md5 without the switch: $out"
echo "$out"
echo "$out" | grep -q "weak algorithm 'md5'.*refused unless weak algorithms are allowed" ||
	vm_fail "--check does not say why null-md5 is refused"
mkdir -p "$(eg_dir noweak)"
out=$(timeout 20 nsenter --net="/run/netns/$G" "$EG_D" -d -c "$VM_WORK/noweak.yaml" \
	--ctl "$(eg_dir noweak)/ctl.sock" 2>&1)
rc=$?
echo "$out" | tail -n 3
[ $rc != 0 ] && [ $rc != 124 ] || vm_fail "espgated started with null-md5 without the switch (rc $rc)"
echo "$out" | grep -q "refused unless weak algorithms are allowed" ||
	vm_fail "espgated's refusal does not name the switch"
vm_expect_eq "SAs or policies left by the refused espgated" "" \
	"$(ip -n "$G" xfrm state)$(ip -n "$G" xfrm policy)"

vm_step "with allow_weak_algorithms: tunnel up (espgate initiates), null-md5 SAs"
vm_charon_start partner "$P" "$VM_WORK/partner.conf"
eg_start gw "$G" "$VM_WORK/espgate.yaml"
vm_check "espgated warns that weak algorithms are in use" \
	grep -q "weak algorithms .* are configured and allowed" "$(eg_dir gw)/espgated.log"
vm_step "espgated started"
vm_check "espgatectl status: zscaler ESTABLISHED" eg_wait_up gw zscaler 90
vm_check "partner: CHILD_SA proxy installed" vm_wait_child partner proxy 30
eg_ctl gw status
ip -n "$G" xfrm state
for ns in "$G" "$P"; do
	vm_expect_eq "$ns: SAs with NULL encryption" 2 "$(ip -n "$ns" xfrm state | grep -c 'enc ecb(cipher_null)')"
	vm_expect_eq "$ns: SAs with HMAC-MD5-96" 2 "$(ip -n "$ns" xfrm state | grep -cE 'auth-trunc hmac\(md5\) 0x[0-9a-f]+ 96')"
done
ip -n "$G" xfrm policy | grep -q "src 0.0.0.0/0 dst $ZS/32" || vm_fail "no 0/0 -> $ZS/32 policy"
vm_check "100.64.7.1 is not assigned to the gateway" bash -c "! ip -n $G -4 addr | grep -q 100.64.7.1"
# the replies leave the tunnel reverse-translated to the gateway's own 10.1.0.4 as source
vm_expect_eq "accept_local on the gateway's eth0 (set by espgated for the forward rule)" 1 \
	"$(ip netns exec "$G" cat /proc/sys/net/ipv4/conf/eth0/accept_local)"

vm_step "the proxy on the partner"
# The proxy on the partner: accepts up to thousands of connections and answers each at once with
# the address it came from, keeping it open until the client closes; logs every peer.
ip netns exec "$P" /usr/bin/python3 -c '
import resource, selectors, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 10101)); s.listen(4096); s.setblocking(False)
log = open(sys.argv[2], "w", buffering=1)
sel = selectors.DefaultSelector(); sel.register(s, selectors.EVENT_READ)
open(sys.argv[2] + ".ready", "w").close()
while True:
    for k, _ in sel.select():
        if k.fileobj is s:
            try:
                c, a = s.accept()
            except BlockingIOError:
                continue
            c.setblocking(False)
            try:
                c.send(("%s:%d\n" % a).encode())
            except OSError:
                pass
            log.write("%s:%d\n" % a)
            sel.register(c, selectors.EVENT_READ)
        else:
            try:
                d = k.fileobj.recv(4096)
            except OSError:
                d = b""
            if not d:
                sel.unregister(k.fileobj); k.fileobj.close()
' $ZS "$VM_WORK/proxy.log" &
VM_PIDS+=($!)
for i in $(seq 1 100); do
	[ -f "$VM_WORK/proxy.log.ready" ] && break
	sleep 0.1
done
[ -f "$VM_WORK/proxy.log.ready" ] || vm_fail "proxy on the partner did not start"

# s7_clients N EXTRA OUT [WAIT]: open N connections to 10.1.0.4:10101 at once and read each one's
# answer (the address the proxy saw) for up to WAIT s (default 60); then, holding them open, try
# EXTRA more at once for 3 s; then close everything. OUT: "ok <answered> <seconds>", the answers, "extra <connected>".
s7_clients() {
	ip netns exec "$H" /usr/bin/python3 -c '
import resource, selectors, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
n, extra, out, wait = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
def opens(k):
    sel = selectors.DefaultSelector(); socks = []
    for i in range(k):
        c = socket.socket(); c.setblocking(False)
        c.connect_ex(("10.1.0.4", 10101)); socks.append(c)
        sel.register(c, selectors.EVENT_READ, i)
    return sel, socks
t0 = time.time()
sel, socks = opens(n); answers = {}
while len(answers) < n and time.time() < t0 + wait:
    for k, _ in sel.select(1):
        try:
            d = k.fileobj.recv(100)
        except OSError as e:
            d = ("ERROR %s" % e).encode()
        answers[k.data] = d.decode(errors="replace").strip() or "EOF"
        sel.unregister(k.fileobj)
t1 = time.time()
good = [a for a in answers.values() if a.count(":") == 1]
more = 0
if extra:
    sel2, socks2 = opens(extra); socks += socks2
    end = time.time() + 3
    while time.time() < end:
        for k, _ in sel2.select(0.5):
            more += 1; sel2.unregister(k.fileobj)
with open(out, "w") as f:
    f.write("ok %d %.1f\n" % (len(good), t1 - t0))
    for a in answers.values():
        f.write(a + "\n")
    f.write("extra %d\n" % more)
for c in socks:
    c.close()
' "$1" "$2" "$3" "${4:-60}"
}

HI=$((PORT0 + FLOWS - 1))
vm_step "$FLOWS concurrent flows to 10.1.0.4:10101 reach $ZS:10101 from 100.64.7.1; past the pool, drops"
out_spi=$(vm_xfrm_spis "$G" $ZS)
in_spi=$(vm_xfrm_spis "$G" 10.1.0.4)
ex0=$(eg_ctl gw counters | awk '$1 == "DROP_PORTS_EXHAUSTED" { print $2 }')
vm_capture_start "$G" eth0 "$VM_WORK/gw.pcap" -B 8192 -Q out "host $ZS"
vm_capture_start "$P" eth0 "$VM_WORK/ptr.pcap" -B 8192 -Q out
s7_clients "$FLOWS" "$EXTRA" "$VM_WORK/many.out" || vm_fail "the clients failed"
vm_capture_stop "$VM_WORK/gw.pcap"
vm_capture_stop "$VM_WORK/ptr.pcap"
eg_ctl gw counters
ex1=$(eg_ctl gw counters | awk '$1 == "DROP_PORTS_EXHAUSTED" { print $2 }')
read -r _ ok secs <"$VM_WORK/many.out"
[ "$ok" = "$FLOWS" ] || { sort "$VM_WORK/many.out" | uniq -c | sort -rn | head -n 5; }
vm_expect_eq "flows answered by the proxy" "$FLOWS" "$ok"
echo "ok: $ok concurrent flows through one SNAT address in ${secs}s"
sed -n "2,$((FLOWS + 1))p" "$VM_WORK/many.out" >"$VM_WORK/answers"
vm_expect_eq "answers not from 100.64.7.1:$PORT0-$HI" 0 \
	"$(awk -F: -v lo=$PORT0 -v hi=$HI '$1 != "100.64.7.1" || $2 < lo || $2 > hi' "$VM_WORK/answers" | wc -l)"
vm_expect_eq "distinct pool ports among the answers" "$FLOWS" "$(sort -u "$VM_WORK/answers" | wc -l)"
vm_expect_eq "connections the proxy saw from anywhere but 100.64.7.1" 0 \
	"$(grep -vc '^100\.64\.7\.1:' "$VM_WORK/proxy.log")"
vm_expect_eq "connections past the pool that got through" "extra 0" "$(tail -n 1 "$VM_WORK/many.out")"
[ "${ex1:-0}" -ge $((${ex0:-0} + EXTRA)) ] ||
	vm_fail "DROP_PORTS_EXHAUSTED did not count the $EXTRA connections past the pool (${ex0:-0} -> ${ex1:-0})"
echo "ok: $EXTRA connections past the pool dropped, DROP_PORTS_EXHAUSTED ${ex0:-0} -> $ex1"
grep -vE ": ESP\(spi=$out_spi,|\.(500|4500) > $ZS\.(500|4500): " "$VM_WORK/gw.pcap.txt" | head -n 5
vm_expect_eq "gateway -> partner: packets other than ESP and IKE" 0 \
	"$(grep -vcE ": ESP\(spi=$out_spi,|\.(500|4500) > $ZS\.(500|4500): " "$VM_WORK/gw.pcap.txt")"
grep -vE ": ESP\(spi=$in_spi,|$ZS\.(500|4500) > 10\.1\.0\.4\.(500|4500): |ARP" "$VM_WORK/ptr.pcap.txt" | head -n 5
vm_expect_eq "partner -> gateway: packets other than ESP, IKE and ARP" 0 \
	"$(grep -vcE ": ESP\(spi=$in_spi,|$ZS\.(500|4500) > 10\.1\.0\.4\.(500|4500): |ARP" "$VM_WORK/ptr.pcap.txt")"
esp_gw=$(vm_capture_grep "$VM_WORK/gw.pcap" ": ESP\(spi=$out_spi,")
esp_p=$(vm_capture_grep "$VM_WORK/ptr.pcap" ": ESP\(spi=$in_spi,")
# at least SYN + ACK each way per flow before the clients closed (the FINs may follow the capture)
[ "$esp_gw" -ge $((FLOWS * 2)) ] && [ "$esp_p" -ge $((FLOWS * 2)) ] ||
	vm_fail "too few ESP packets for $FLOWS flows: gateway $esp_gw, partner $esp_p"
echo "ok: only ESP on the wire (gateway sent $esp_gw, partner $esp_p)"
# NULL encryption: the inner TCP header is readable right after the outer IPv4 header (20), the
# ESP header (8) and the inner IPv4 header (20): the partner's answers come from port 10101.
plain=$(tcpdump -n -r "$VM_WORK/ptr.pcap" "ip[9] = 50 and ip[48:2] = 10101" 2>/dev/null | wc -l)
[ "$plain" -ge "$FLOWS" ] || vm_fail "ESP packets from the partner with inner source port 10101 readable: $plain"
echo "ok: NULL encryption: inner TCP ports readable inside ESP ($plain packets)"
n=$(vm_xfrm_packets "$G" "$out_spi")
[ "${n:-0}" -ge "$esp_gw" ] || vm_fail "the gateway's outbound SA counted ${n:-none} < $esp_gw"
echo "ok: the outbound SA counted $n packets"

vm_step "IKE is not captured by the 0/0 selector: partner-initiated CHILD rekey, espgate's DPD"
log=$(vm_charon_dir partner)/charon.log
dpd0=$(grep -cE 'parsed INFORMATIONAL request [0-9]+ \[ \]' "$log")
vm_capture_start "$G" eth0 "$VM_WORK/ike.pcap" "udp and host $ZS"
vm_swanctl partner --rekey --child proxy >"$VM_WORK/rekey.out" 2>&1 || {
	cat "$VM_WORK/rekey.out"
	vm_fail "swanctl --rekey --child proxy"
}
for i in $(seq 1 100); do
	new_out=$(vm_xfrm_spis "$G" $ZS)
	[ "$new_out" != "$out_spi" ] && [ "$(echo "$new_out" | wc -w)" = 1 ] && break
	sleep 0.2
done
[ "$new_out" != "$out_spi" ] && [ "$(echo "$new_out" | wc -w)" = 1 ] ||
	vm_fail "the CHILD SA was not rekeyed (outbound SPIs: $new_out)"
vm_check "espgatectl status: zscaler ESTABLISHED after the rekey" eg_wait_up gw zscaler 10
sleep 3 # more than a DPD delay without IKE traffic
vm_capture_stop "$VM_WORK/ike.pcap"
grep isakmp "$VM_WORK/ike.pcap.txt" | head -n 12
dpd=$(($(grep -cE 'parsed INFORMATIONAL request [0-9]+ \[ \]' "$log") - dpd0))
[ $dpd -ge 1 ] || vm_fail "the partner answered no DPD probe from espgate"
grep -qE "IP $ZS\.(500|4500) > 10\.1\.0\.4\.(500|4500): .*child_sa" "$VM_WORK/ike.pcap.txt" ||
	vm_fail "the partner's CREATE_CHILD_SA request was not seen in clear UDP"
echo "ok: the partner rekeyed the CHILD SA ($out_spi -> $new_out), espgate's DPD probes answered: $dpd"

vm_step "after the rekey: closed flows gave their ports back, a request uses the new SAs"
for i in $(seq 1 20); do
	s7_clients 1 0 "$VM_WORK/after.out" 2 && [ "$(cut -d' ' -f2 <"$VM_WORK/after.out" | head -n 1)" = 1 ] && break
	sleep 1
done
cat "$VM_WORK/after.out"
vm_expect_eq "request answered after the rekey" 1 "$(head -n 1 "$VM_WORK/after.out" | cut -d' ' -f2)"
n=$(vm_xfrm_packets "$G" "$new_out")
[ "${n:-0}" -ge 3 ] || vm_fail "the rekeyed outbound SA counted ${n:-none} packets"
echo "ok: the rekeyed outbound SA carried the request ($n packets)"
for c in XfrmInNoPols XfrmInPolBlock XfrmInTmplMismatch XfrmInNoStates XfrmOutPolBlock; do
	vm_expect_eq "gateway: $c" 0 "$(vm_xfrm_stat "$G" $c)"
done
