#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# UDP many-flows helper for tests/netns/test_datapath.sh.
#   dp_flows.py echo PORT N OUTFILE         server: echo every datagram, record distinct peers;
#                                           stops after N peers and 3 s of silence (60 s max)
#   dp_flows.py send DST PORT N SRC_PREFIX  client: N flows (distinct source ip:port), each one
#                                           datagram; prints how many got their echo back
import resource, socket, sys, time

def echo(port, n, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    s.bind(("0.0.0.0", port))
    s.settimeout(0.5)
    peers = set()
    end = time.time() + 60
    last = time.time()
    while time.time() < end:
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            if time.time() - last > (3 if len(peers) >= n else 15):
                break
            continue
        last = time.time()
        peers.add(peer)
        s.sendto(data, peer)
    with open(out, "w") as f:
        addrs = {p[0] for p in peers}
        f.write("%d %s\n" % (len(peers), ",".join(sorted(addrs))))

def send_chunk(dst, port, first, count, prefix):
    socks = []
    per_ip = 1000
    for i in range(first, first + count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.bind(("%s.%d" % (prefix, 10 + i // per_ip), 20000 + i % per_ip))
        socks.append(s)
    got = [False] * count
    for attempt in range(4):
        for i, s in enumerate(socks):
            if got[i]:
                continue
            try:
                s.sendto(b"flow %d" % (first + i), (dst, port))
            except BlockingIOError:
                pass
            if i % 100 == 99:
                time.sleep(0.002)
        deadline = time.time() + 2
        while time.time() < deadline and not all(got):
            for i, s in enumerate(socks):
                if got[i]:
                    continue
                try:
                    s.recv(2048)
                    got[i] = True
                except (BlockingIOError, ConnectionRefusedError):
                    pass
            time.sleep(0.02)
        if all(got):
            break
    for s in socks:
        s.close()
    return sum(got)

def send(dst, port, n, prefix):
    # Sockets are opened a chunk at a time (the fd limit), but every flow's translation stays
    # in the gateway's conntrack (UDP timeout 120 s): all n are concurrent there.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    chunk = max(100, min(n, hard - 64))
    total = 0
    for first in range(0, n, chunk):
        total += send_chunk(dst, port, first, min(chunk, n - first), prefix)
    print(total)

if sys.argv[1] == "echo":
    echo(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
else:
    send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
