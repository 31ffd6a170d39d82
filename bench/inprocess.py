#!/usr/bin/env python3
"""In-process dissemination benchmark: N peers of one kind in ONE process, one source, blocks of
about 10 KB at a fixed rate; fabgossip (`cargo bench --bench inprocess`: N `GossipService`s on one
current-thread scheduler and its blocking pool) beside Fabric (`build/fabricnode --inprocess-bench`:
N Fabric 2.5.9 gossip nodes with their state providers) in the same run. This is the setting of
DESIGN.md's Fabric reference figure for CPU per block per peer (all nodes in one process); the
multi-process benchmark (`bench/dissemination.py`) is the other setting.

Both programs print one JSON object: every (receiving peer, block) latency from the source's add
to the receiver's ledger commit (in-memory ledgers on both sides), the process CPU over the block
phase (first add to last commit) and two idle windows around it. CPU per block per peer = process
CPU / (blocks × N), the source included; "net of idle" first subtracts the mean idle rate times
the block phase. State transfer is on for both (as in the multi-process benchmark: without it a
Fabric peer that misses a pushed block never commits the later ones here).

    python3 bench/inprocess.py [--peers 20] [--blocks 100] [--rate 100] [--tls] [--kinds fabgossip,fabric]
        [--out F.json] [--plot F.png]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from report import (KIND_NAMES, LATENCY_ROWS, finish, fmt, percentile, plot_latency_and_cpu,
                    print_comparison)

REPO = Path(__file__).resolve().parent.parent
FABRIC_NODE = REPO / "build" / "fabricnode"


def run_kind(kind, args):
    common = ["--blocks", str(args.blocks), "--rate", str(args.rate)]
    if kind == "fabgossip":
        argv = ["cargo", "bench", "--quiet", "--bench", "inprocess", "--", "--peers", str(args.peers),
                *common, "--block-kb", str(args.block_kb)]
        if args.tls:
            argv.append("--tls")
    else:
        if not FABRIC_NODE.exists():
            sys.exit(f"{FABRIC_NODE} is missing: run `make fabricnode` first")
        argv = [str(FABRIC_NODE), "--inprocess-bench", str(args.peers), *common,
                "--block-kb", str(int(args.block_kb)), "--state-transfer"]
        if args.tls:
            argv.append("--tls")
    out = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, text=True, check=True,
                         timeout=900).stdout
    return summarize(json.loads(out.strip().splitlines()[-1]))


def summarize(r):
    lat = sorted(r["latencies_ms"])
    per = r["blocks"] * r["n"]
    idle = (r["idle_before_cpu_per_s"] + r["idle_after_cpu_per_s"]) / 2
    r["latencies_ms"] = lat
    r["latency_ms"] = {"p50": percentile(lat, 50), "p99": percentile(lat, 99),
                       "max": lat[-1] if lat else None}
    r["cpu_ms_per_block_per_peer"] = r["cpu_block_s"] * 1e3 / per
    r["cpu_ms_per_block_per_peer_net_of_idle"] = (
        max(0.0, r["cpu_block_s"] - idle * r["block_phase_s"]) * 1e3 / per)
    r["idle_cpu_pct_per_peer"] = idle / r["n"] * 100
    r["rss_mb_per_peer"] = r["rss_kb"] / 1024 / r["n"]
    return r


def print_table(results):
    print_comparison(results, LATENCY_ROWS + [
        ("deliveries missing at the end", lambda r: r["missing"], "d"),
        ("block phase, first add to last commit (s)", lambda r: r["block_phase_s"], ".2f"),
        ("CPU per block per peer (ms)", lambda r: r["cpu_ms_per_block_per_peer"], ".3f"),
        ("  net of idle (ms)", lambda r: r["cpu_ms_per_block_per_peer_net_of_idle"], ".3f"),
        ("idle CPU per peer (%)", lambda r: r["idle_cpu_pct_per_peer"], ".2f"),
        ("process RSS per peer (MB)", lambda r: r["rss_mb_per_peer"], ".1f"),
        ("source add rate achieved (blocks/s)", lambda r: r["add_rate"], ".1f"),
    ])


def plot(results, path):
    r0 = results[0]
    title = (f"In one process: {r0['n']} peers, one source, {r0['blocks']} blocks of "
             f"{r0['block_bytes'] / 1024:.0f} KB at {r0['rate']:.0f} blocks/s, core.yaml timers"
             f"{', TLS' if r0['tls'] else ''}")
    plot_latency_and_cpu(results, path, title, "process CPU per block per peer (ms)", target_ms=0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", type=int, default=20)
    ap.add_argument("--blocks", type=int, default=100)
    ap.add_argument("--rate", type=float, default=100.0, help="blocks per second at the source")
    ap.add_argument("--block-kb", type=float, default=10.0)
    ap.add_argument("--tls", action="store_true", help="both kinds serve and dial with TLS")
    ap.add_argument("--kinds", default="fabgossip,fabric")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--plot", help="draw the figure into this PNG")
    args = ap.parse_args()
    results = []
    for kind in [k for k in args.kinds.split(",") if k]:
        if kind not in KIND_NAMES:
            sys.exit(f"unknown kind {kind!r} (fabgossip, fabric)")
        r = run_kind(kind, args)
        results.append(r)
        print(f"{KIND_NAMES[kind]:9} N={r['n']}: latency p50 {fmt(r['latency_ms']['p50'], '.1f')} ms "
              f"p99 {fmt(r['latency_ms']['p99'], '.1f')} ms; missing {r['missing']}; "
              f"CPU/block/peer {r['cpu_ms_per_block_per_peer']:.3f} ms "
              f"(net {r['cpu_ms_per_block_per_peer_net_of_idle']:.3f})", flush=True)
    finish(results, args.out, args.plot, print_table, plot)


if __name__ == "__main__":
    main()
