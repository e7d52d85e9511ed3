#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Verifies and decrypts captured ESP with keys espgated exported in test mode.

usage: esp_decrypt.py CAPTURE.pcap KEYS.txt SPI_HEX

Reads ESP (IP protocol 50, or ESP-in-UDP on 4500 with a non-zero SPI) for SPI from a classic
pcap (Ethernet), checks the integrity (HMAC-SHA1/SHA2, truncated) or the GCM tag, decrypts
(AES-CBC, AES-GCM with the RFC 4106 salt) and parses the inner IPv4 header. Prints one line
"decrypted N packets: SRC -> DST proto P" and exits 0, or says what failed and exits 1.
"""
import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

INTEG = {2: (hashlib.sha1, 12), 12: (hashlib.sha256, 16), 13: (hashlib.sha384, 24),
         14: (hashlib.sha512, 32), 1: (hashlib.md5, 12)}


def load_keys(path, spi):
    for line in open(path):
        f = dict(kv.split("=", 1) for kv in line.split())
        if f["spi"] == spi:
            return f
    sys.exit(f"no keys for SPI {spi} in {path}")


def esp_payloads(path):
    data = open(path, "rb").read()
    if len(data) < 24 or struct.unpack("<I", data[:4])[0] != 0xA1B2C3D4:
        sys.exit("not a little-endian classic pcap")
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        proto = ip[9]
        body = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
        if proto == 50:
            yield body
        elif proto == 17 and len(body) > 16:
            sport, dport = struct.unpack("!HH", body[:4])
            udp = body[8:]
            if 4500 in (sport, dport) and udp[:4] != b"\0\0\0\0" and len(udp) > 8:
                yield udp


def main():
    pcap, keys, spi = sys.argv[1], sys.argv[2], sys.argv[3].lower().zfill(8)
    k = load_keys(keys, spi)
    encr, integ = int(k["encr"]), int(k["integ"])
    ekey, ikey = bytes.fromhex(k["encr_key"]), bytes.fromhex(k["integ_key"])
    n, inner = 0, None
    for esp in esp_payloads(pcap):
        if esp[:4].hex() != spi:
            continue
        if encr == 20:  # AES-GCM-16, RFC 4106: key || 4-byte salt, 8-byte IV, 16-byte tag
            salt, key = ekey[-4:], ekey[:-4]
            iv, ct = esp[8:16], esp[16:]
            try:
                plain = AESGCM(key).decrypt(salt + iv, ct, esp[:8])
            except Exception:
                sys.exit(f"GCM tag check failed for SPI {spi}")
        elif encr == 12:  # AES-CBC + HMAC
            h, icv_len = INTEG[integ]
            mac = hmac.new(ikey, esp[:-icv_len], h).digest()[:icv_len]
            if mac != esp[-icv_len:]:
                sys.exit(f"ICV mismatch for SPI {spi}: wrong integrity key")
            iv, ct = esp[8:24], esp[24:-icv_len]
            d = Cipher(algorithms.AES(ekey), modes.CBC(iv)).decryptor()
            plain = d.update(ct) + d.finalize()
        else:
            sys.exit(f"ENCR {encr} not supported by this checker")
        padlen, nexthdr = plain[-2], plain[-1]
        if nexthdr != 4 or padlen + 2 > len(plain):
            sys.exit(f"bad ESP trailer (next header {nexthdr}, pad {padlen}): wrong key?")
        ip = plain[:-(padlen + 2)]
        if ip[0] >> 4 != 4:
            sys.exit("inner packet is not IPv4: wrong key?")
        inner = ip
        n += 1
    if not n:
        sys.exit(f"no ESP packets with SPI {spi} captured")
    src = ".".join(map(str, inner[12:16]))
    dst = ".".join(map(str, inner[16:20]))
    print(f"decrypted {n} packets: {src} -> {dst} proto {inner[9]}")


main()
