#!/usr/bin/env python3
"""Membership benchmark: N peer processes of one kind (fabgossip or real Fabric gossip), each
bootstrapping to the first; prints the time until every peer sees all others alive, then idle CPU
and resident memory per peer, for each N and both kinds, with the ratios.

Both kinds speak the same peer process protocol (ready / peers / stats / shutdown on stdin and
stdout), so the same driver measures both in the same run. Timers are core.yaml's defaults.

    python3 bench/membership.py [--sizes 10,20,40] [--idle 10] [--out docs/membership.json]
"""

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIB = REPO / "target" / "release" / "libfabgossip.so"
C_PEER = REPO / "build" / "c" / "peer"
FABRIC_NODE = REPO / "build" / "fabricnode"


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Peer:
    """One peer process driven over its stdin/stdout."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )
        self.ready = None

    def read_event(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            raise TimeoutError("peer did not answer")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer exited with {self.proc.wait()}")
        return json.loads(line)

    def wait_ready(self, timeout=30):
        ev = self.read_event(timeout)
        if ev.get("event") != "ready":
            raise RuntimeError(f"peer failed to start: {ev}")
        self.ready = ev
        return ev

    def ask(self, cmd, event, timeout=10):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        while True:
            ev = self.read_event(timeout)
            if ev.get("event") == event:
                return ev

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("shutdown\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()


def start_fabgossip(n, workdir):
    ports = free_ports(n)
    env = dict(os.environ, LD_LIBRARY_PATH=str(LIB.parent), FABGOSSIP_LIB=str(LIB),
               PYTHONPATH=str(REPO / "bindings" / "python"))
    peers = []
    for i, port in enumerate(ports):
        boot = ports[1] if i == 0 else ports[0]
        d = Path(workdir) / f"fg{i}"
        d.mkdir()
        cfg = d / "core.yaml"
        cfg.write_text(
            "peer:\n"
            f"  id: peer{i}\n  localMspId: Org1MSP\n"
            f"  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n"
            f"  fileSystemPath: {d}\n"
            "  gossip:\n"
            f"    bootstrap: 127.0.0.1:{boot}\n"
            f"    externalEndpoint: 127.0.0.1:{port}\n"
        )
        if C_PEER.exists():
            argv = [str(C_PEER), "--config", str(cfg)]
        else:
            argv = [sys.executable, "-m", "fabgossip.peer", "--config", str(cfg)]
        peers.append(Peer(argv, env))
    return peers


def start_fabric(n, workdir):
    ports = free_ports(n)
    peers = []
    for i, port in enumerate(ports):
        boot = ports[1] if i == 0 else ports[0]
        argv = [
            str(FABRIC_NODE),
            "--listen", f"127.0.0.1:{port}",
            "--msp", "Org1MSP",
            "--bootstrap", f"127.0.0.1:{boot}",
            "--external-endpoint", f"127.0.0.1:{port}",
        ]
        peers.append(Peer(argv))
    return peers


def measure(kind, n, idle_s):
    workdir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    starter = start_fabgossip if kind == "fabgossip" else start_fabric
    peers = starter(n, workdir)
    try:
        for p in peers:
            p.wait_ready()
        t0 = time.monotonic()
        done = set()
        deadline = t0 + 120
        while len(done) < n and time.monotonic() < deadline:
            for i, p in enumerate(peers):
                if i in done:
                    continue
                view = p.ask("peers", "peers")["peers"]
                if sum(1 for m in view if m["state"] == "alive") >= n - 1:
                    done.add(i)
            time.sleep(0.02)
        converge = time.monotonic() - t0 if len(done) == n else None
        time.sleep(2)
        s1 = [p.ask("stats", "stats") for p in peers]
        time.sleep(idle_s)
        s2 = [p.ask("stats", "stats") for p in peers]
        cpu_pct = sum(b["cpu_s"] - a["cpu_s"] for a, b in zip(s1, s2)) / n / idle_s * 100
        rss_mb = sum(s["rss_kb"] for s in s2) / n / 1024
        return {"kind": kind, "n": n, "converge_s": converge, "idle_cpu_pct": cpu_pct,
                "rss_mb": rss_mb}
    finally:
        for p in peers:
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def fmt(v, spec):
    return "timeout" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,20,40")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    if not LIB.exists():
        sys.exit(f"{LIB} is missing: run `cargo build --release` first")
    kinds = ["fabgossip"]
    if FABRIC_NODE.exists():
        kinds.append("fabric")
    else:
        print(f"note: {FABRIC_NODE} is missing (make fabricnode); measuring fabgossip only")
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for kind in kinds:
            r = measure(kind, n, args.idle)
            results.append(r)
            print(f"{kind:9} N={n:3}  full view after {fmt(r['converge_s'], '.2f')} s  "
                  f"idle CPU {r['idle_cpu_pct']:.2f} %/peer  RSS {r['rss_mb']:.1f} MB/peer",
                  flush=True)
    print()
    print("| N | fabgossip full view (s) | Fabric full view (s) | ratio | fabgossip idle CPU (%/peer) "
          "| Fabric idle CPU (%/peer) | fabgossip RSS (MB/peer) | Fabric RSS (MB/peer) |")
    print("|---|---|---|---|---|---|---|---|")
    by = {(r["kind"], r["n"]): r for r in results}
    for n in sorted({r["n"] for r in results}):
        fg, fa = by.get(("fabgossip", n)), by.get(("fabric", n))
        ratio = (f"{fa['converge_s'] / fg['converge_s']:.1f}× faster"
                 if fa and fg and fa["converge_s"] and fg["converge_s"] else "n/a")
        print(f"| {n} | {fmt(fg['converge_s'], '.2f')} | "
              f"{fmt(fa['converge_s'], '.2f') if fa else 'n/a'} | {ratio} | "
              f"{fg['idle_cpu_pct']:.2f} | {format(fa['idle_cpu_pct'], '.2f') if fa else 'n/a'} | "
              f"{fg['rss_mb']:.1f} | {format(fa['rss_mb'], '.1f') if fa else 'n/a'} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
