#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Seed inputs for fuzz_ike_auth: one short scenario script per exchange (new CHILD SA, CHILD
rekey, IKE rekey, collisions, DELETE of CHILD and IKE SAs, liveness, notifies, fragments, the
message ID window), run through the harness in record mode (FUZZ_AUTH_RECORD), which turns every
relayed message into an injection of its plaintext.

usage: auth_seeds.py FUZZ_BIN OUTDIR   (then merge OUTDIR into the corpus with -merge=1)
The op encoding is fuzz_ike_auth.c's: op = kind << 1 | engine (0 = A, the initiator; 1 = B)."""
import os
import subprocess
import sys
import tempfile

DELIVER, DROP, RELAY, TIME, INIT, SOFT, HARD, DELETE, TRAFFIC, INJECT, ACQUIRE, RECONF = range(12)
A, B = 0, 1
PLD_N, PLD_D, PLD_SA, PLD_NONCE, PLD_TSI, PLD_TSR = 41, 42, 33, 40, 44, 45
EX_INIT, EX_AUTH, EX_CCSA, EX_INFO = 0, 1, 2, 3
F_RESP, F_FLIP_I, F_TWICE, F_FRAG, F_REV = 1, 2, 4, 8, 16


def op(kind, who=A, *args):
    return bytes([kind << 1 | who, *args])


def relays(n=12):
    return op(RELAY) * n


def secs(s):  # one OP_TIME step of s seconds (10 s granularity above 12.7 s)
    return op(TIME, A, 0x80 | (s // 10)) if s > 12 else op(TIME, A, s * 10)


def notify(ntype, data=b"", proto=0, spi=b"", nxt=0):
    body = bytes([proto, len(spi), ntype >> 8, ntype & 0xFF]) + spi + data
    return bytes([nxt, 0, (4 + len(body)) >> 8, (4 + len(body)) & 0xFF]) + body


def delete(proto, spis=b"", spi_len=0, n=0, nxt=0):
    body = bytes([proto, spi_len, n >> 8, n & 0xFF]) + spis
    return bytes([nxt, 0, (4 + len(body)) >> 8, (4 + len(body)) & 0xFF]) + body


def pld(nxt, body):
    return bytes([nxt, 0, (4 + len(body)) >> 8, (4 + len(body)) & 0xFF]) + body


def sa_esp(nxt, spi=b"\x12\x34\x56\x78"):
    """SA with proposal 1: ESP aes128gcm16 (key length 128) + ecp256, no ESN."""
    trans = [(1, 20, b"\x80\x0e\x00\x80"), (4, 19, b""), (5, 0, b"")]
    tb = b""
    for i, (t, tid, attr) in enumerate(trans):
        last = 0 if i == len(trans) - 1 else 3
        tb += bytes([last, 0, 0, 8 + len(attr), t, 0, tid >> 8, tid & 0xFF]) + attr
    prop = bytes([0, 0, 0, 8 + len(spi) + len(tb), 1, 3, len(spi), len(trans)]) + spi + tb
    return pld(nxt, prop)


def nonce(nxt):
    return pld(nxt, bytes(range(32)))


def ts(nxt, ip, proto=0):
    a = bytes(int(x) for x in ip.split("."))
    sel = bytes([7, proto, 0, 16, 0, 0, 0xFF, 0xFF]) + a + a
    return pld(nxt, bytes([1, 0, 0, 0]) + sel)


MARK = b"\xfe\xed\xc0"  # fe ed c0 KK: the ESP SPI of the target's child KK >> 1 (see spi_patch)


def inject(who, exch, first, pt, flags=0, mid=0, sel=0):
    return op(INJECT, who, sel, exch, flags, mid & 0xFF, first, len(pt) >> 8, len(pt) & 0xFF) + pt


def scenarios():
    s = {}
    for suite in (0, 1):
        g = bytes([suite])
        s[f"s{suite}-new-child-a"] = g + op(INIT, A, 1) + relays(4)
        s[f"s{suite}-new-child-b"] = g + op(INIT, B, 1) + relays(4)
        s[f"s{suite}-child-rekey-a"] = g + op(SOFT, A, 0) + relays(4) + op(TRAFFIC, B, 2) + relays(6)
        s[f"s{suite}-child-rekey-b"] = g + op(SOFT, B, 0) + relays(4) + op(TRAFFIC, A, 2) + relays(6)
        s[f"s{suite}-ike-rekey"] = g + secs(100) + relays(4) + secs(120) + relays(10) + \
            secs(240) + relays(12) + secs(60) + relays(8)
        s[f"s{suite}-delete-child-a"] = g + op(DELETE, A, 1) + relays(4)
        s[f"s{suite}-delete-child-b"] = g + op(DELETE, B, 1) + relays(4)
        s[f"s{suite}-delete-ike-a"] = g + op(DELETE, A, 0) + relays(4)
        s[f"s{suite}-delete-ike-b"] = g + op(DELETE, B, 0) + relays(4)
        s[f"s{suite}-liveness"] = g + secs(11) + relays(4) + secs(12) + relays(4)
    g = b"\x00"
    s["two-children-rekey-collision"] = g + op(INIT, A, 1) + relays(4) + \
        op(SOFT, A, 0) + op(SOFT, B, 1) + relays(12)
    s["child-rekey-collision"] = g + secs(240) + relays(16)
    s["ike-rekey-collision"] = g + op(DELETE, A, 1) + relays(2) + secs(550) + relays(16)
    s["dpd-timeout"] = g + secs(11) + op(DROP) + secs(4) + op(DROP) + secs(8) + op(DROP) + \
        secs(20) + op(DROP) + secs(30) + relays(4)
    s["retransmit-dup"] = g + op(INIT, B, 1) + op(DELIVER) + secs(5) + relays(6)
    s["transport-child"] = g + op(INIT, B, 2) + relays(4) + op(SOFT, A, 2) + relays(6) + \
        op(DELETE, A, 3) + relays(4)
    s["acquire"] = g + op(ACQUIRE, A, 2 | 4 | 8 | 0x10) + relays(4) + op(ACQUIRE, B, 3) + relays(4)
    s["reconfigure"] = g + op(RECONF, A, 0) + op(INIT, A, 1) + relays(4) + op(RECONF, B, 1) + \
        relays(4) + secs(1) + op(INIT, A, 1) + relays(8)
    s["reconfigure-other-suite"] = g + op(RECONF, B, 3) + relays(4) + op(INIT, A, 1) + relays(4)
    s["hard-expire"] = g + op(HARD, A, 0) + relays(4) + op(HARD, B, 0) + relays(4)
    # hand-written injections into both engines
    for who in (A, B):
        w = "ab"[who]
        s[f"liveness-inject-{w}"] = g + inject(who, EX_INFO, 0, b"") + relays(2) + \
            inject(who, EX_INFO, 0, b"", F_TWICE, mid=0) + inject(who, EX_INFO, 0, b"", mid=1) + \
            inject(who, EX_INFO, 0, b"", mid=-1)
        s[f"notify-only-{w}"] = g + inject(who, EX_INFO, PLD_N, notify(16384, nxt=PLD_N) +
                                           notify(16394, nxt=PLD_N) + notify(11)) + relays(2)
        s[f"notify-authfailed-{w}"] = g + inject(who, EX_INFO, PLD_N, notify(24)) + relays(2)
        s[f"delete-ike-inject-{w}"] = g + inject(who, EX_INFO, PLD_D, delete(1)) + relays(2)
        s[f"delete-child-inject-{w}"] = g + inject(who, EX_INFO, PLD_D,
                                                   delete(3, MARK + b"\x00", 4, 1)) + relays(2)
        s[f"delete-child-frag-{w}"] = g + inject(who, EX_INFO, PLD_D,
                                                 delete(3, MARK + b"\x00" + MARK + b"\x02", 4, 2,
                                                        nxt=PLD_N) + notify(16395, b"x" * 120),
                                                 F_FRAG | F_REV) + relays(2)
        # the answer to our CREATE_CHILD_SA (PFS x25519) is replaced by INVALID_KE_PAYLOAD asking
        # for ecp256: retried in that group (the peer engine saw the request, keeps its window)
        # (B fragments its CREATE_CHILD_SA requests in two)
        req = op(RELAY) * (2 if who == B else 1) + op(DROP)
        s[f"child-invalid-ke-{w}"] = g + op(DELETE, who, 1) + relays(2) + op(INIT, who, 0) + req + inject(who, EX_CCSA, PLD_N, notify(17, b"\x00\x13"), F_RESP) + \
            relays(6)
        # a transport-mode child: answered with TS_UNACCEPTABLE, then without USE_TRANSPORT_MODE
        hosts = ("192.0.2.1", "192.0.2.2")[::-1 if who == B else 1]
        s[f"transport-refused-{w}"] = g + op(INIT, who, 2) + req + \
            inject(who, EX_CCSA, PLD_N, notify(38), F_RESP) + secs(1) + op(INIT, who, 2) + req + \
            inject(who, EX_CCSA, PLD_SA, sa_esp(PLD_NONCE) + nonce(PLD_TSI) +
                   ts(PLD_TSR, hosts[0], 47) + ts(0, hosts[1], 47), F_RESP) + relays(6)
        s[f"response-unasked-{w}"] = g + inject(who, EX_INFO, 0, b"", F_RESP) + \
            inject(who, EX_CCSA, PLD_N, notify(14), F_RESP)
    return s


def main():
    fuzz_bin, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, script in scenarios().items():
            for frag in (False, True):
                src = os.path.join(tmp, name)
                with open(src, "wb") as f:
                    f.write(script)
                dst = os.path.join(out, name + ("-frag" if frag else ""))
                env = dict(os.environ, FUZZ_AUTH_RECORD=dst)
                if frag:
                    if RELAY << 1 not in script[1:]:
                        continue
                    env["FUZZ_AUTH_RECORD_FRAG"] = "1"
                r = subprocess.run([fuzz_bin, src], env=env, capture_output=True, text=True)
                if r.returncode:
                    sys.exit(f"{name}: the harness failed:\n{r.stderr[-3000:]}")
                if os.environ.get("VERBOSE"):
                    ev = [l for l in r.stderr.splitlines() if l[:2] in ("A ", "B ", "  ")]
                    print(f"== {name}{'-frag' if frag else ''}\n  " + "\n  ".join(ev))


if __name__ == "__main__":
    main()
