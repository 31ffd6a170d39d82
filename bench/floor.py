#!/usr/bin/env python3
"""Floor benchmark: what this machine charges for the cheapest possible gossip hop.

`bench/floor/relay.c` receives 10 KB frames over loopback TCP (one epoll wake-up and a read
loop per frame) and writes each to K other processes; no protocol, no crypto, no allocation.
A source sends it 1000 frames at 100 per second (the dissemination benchmark's rate and block
size). Printed: the relay's CPU per frame for K = 0 (receive only), 1 and 3 copies out, and a
receive-only sink's. No real peer can spend less per block than a hop like this with as many
copies, so the figures bound from below what the dissemination benchmark's "CPU per block per
peer" can reach on this machine.

    python3 bench/floor.py [--frames 1000] [--rate 100] [--runs 3] [--out F.json]
"""

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "bench" / "floor" / "relay.c"
BINARY = REPO / "build" / "floor-relay"


def build():
    if BINARY.exists() and BINARY.stat().st_mtime >= SOURCE.stat().st_mtime:
        return
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("floor: no C compiler (cc or gcc) on PATH")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([cc, "-O2", "-Wall", "-o", str(BINARY), str(SOURCE)], check=True)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def hop(copies, frames, rate):
    """One run: source -> relay -> `copies` sinks. Returns (relay µs/frame, mean sink µs/frame)."""
    relay_port, *sink_ports = free_ports(1 + copies)
    sinks = [subprocess.Popen([str(BINARY), str(p)], stdout=subprocess.PIPE, text=True)
             for p in sink_ports]
    relay = subprocess.Popen([str(BINARY), str(relay_port), *map(str, sink_ports)],
                             stdout=subprocess.PIPE, text=True)
    try:
        subprocess.run([str(BINARY), "--source", str(relay_port), str(frames), str(rate)],
                       check=True, timeout=frames / rate + 30)
        out = [json.loads(p.communicate(timeout=30)[0]) for p in [relay, *sinks]]
    finally:
        for p in [relay, *sinks]:
            if p.poll() is None:
                p.kill()
    for o in out:
        if o["frames"] != frames:
            raise RuntimeError(f"frames lost: {o}")
    sink = statistics.mean(o["cpu_us_per_frame"] for o in out[1:]) if copies else None
    return out[0]["cpu_us_per_frame"], sink


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=100.0, help="frames per second")
    ap.add_argument("--runs", type=int, default=3, help="runs per K; the median is printed")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    build()
    rows = []
    for copies in (0, 1, 3):
        runs = [hop(copies, args.frames, args.rate) for _ in range(args.runs)]
        relay = statistics.median(r[0] for r in runs)
        sinks = [r[1] for r in runs if r[1] is not None]
        rows.append({"copies_out": copies, "relay_us": relay,
                     "relay_runs_us": [r[0] for r in runs],
                     "sink_us": statistics.median(sinks) if sinks else None})
    print(f"{args.frames} frames of 10 KB at {args.rate:g}/s over loopback TCP, "
          f"median of {args.runs} runs, CPU per frame (µs):\n")
    print("| copies out | relay (µs/frame) | runs | receive-only sink (µs/frame) |")
    print("|---|---|---|---|")
    for r in rows:
        sink = f"{r['sink_us']:.1f}" if r["sink_us"] is not None else "—"
        runs = ", ".join(f"{v:.1f}" for v in r["relay_runs_us"])
        print(f"| {r['copies_out']} | {r['relay_us']:.1f} | {runs} | {sink} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"frames": args.frames, "rate": args.rate,
                                              "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
