"""A lossy, slow Ethernet segment in user space: ``python3 wire.py [--loss P] [--delay S]
[--seed N] TAP...``.

Creates one tap device per name and switches frames between them like a learning bridge,
dropping each frame with probability P and delivering the others S seconds after they
arrived (a link with packet loss and latency, for kernels without `netem`). The caller moves
the tap devices into network namespaces; the wire keeps their descriptors. Prints ``ready``
once the devices exist; then reads commands on stdin: ``set P S`` (answers ``set``),
``stats`` (answers ``forwarded N dropped N flooded N``). Ends at end of input.
"""

import argparse
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
MAX_FRAME = 65536


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("taps", nargs="+")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    loss, delay = args.loss, args.delay
    fds = [open_tap(n) for n in args.taps]
    port_of = {fd: i for i, fd in enumerate(fds)}
    mac_port = {}
    pending = []  # (due, seq, port, frame)
    seq = 0
    counts = {"forwarded": 0, "dropped": 0, "flooded": 0}
    stdin = sys.stdin.fileno()
    print("ready", flush=True)
    buf = b""
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, port, frame = heapq.heappop(pending)
            try:
                os.write(fds[port], frame)
                counts["forwarded"] += 1
            except (BlockingIOError, OSError):
                counts["dropped"] += 1
        timeout = max(0.0, pending[0][0] - now) if pending else 1.0
        ready, _, _ = select.select(fds + [stdin], [], [], timeout)
        for fd in ready:
            if fd == stdin:
                data = os.read(stdin, 4096)
                if not data:
                    return 0
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    words = line.decode().split()
                    if words[:1] == ["set"] and len(words) == 3:
                        loss, delay = float(words[1]), float(words[2])
                        print("set", flush=True)
                    elif words == ["stats"]:
                        print(" ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
                    else:
                        print(f"error {line!r}", flush=True)
                continue
            src = port_of[fd]
            # Drain what this tap has now: a burst is switched in one turn.
            for _ in range(64):
                try:
                    frame = os.read(fd, MAX_FRAME)
                except BlockingIOError:
                    break
                if len(frame) < 14:
                    continue
                mac_port[frame[6:12]] = src
                dst = mac_port.get(frame[0:6])
                if dst is None or frame[0] & 1:
                    targets = [p for p in range(len(fds)) if p != src]
                    counts["flooded"] += 1
                elif dst == src:
                    continue
                else:
                    targets = [dst]
                if rng.random() < loss:
                    counts["dropped"] += 1
                    continue
                due = time.monotonic() + delay
                for p in targets:
                    seq += 1
                    heapq.heappush(pending, (due, seq, p, frame))


if __name__ == "__main__":
    sys.exit(main())
