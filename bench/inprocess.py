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

REPO = Path(__file__).resolve().parent.parent
FABRIC_NODE = REPO / "build" / "fabricnode"
KIND_NAMES = {"fabgossip": "fabgossip", "fabric": "Fabric"}


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


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


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


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def ratio(fabric, fg):
    if fabric is None or fg is None or fg <= 0:
        return "n/a"
    return f"{fabric / fg:.1f}×"


def print_table(results):
    by = {r["kind"]: r for r in results}
    fg, fa = by.get("fabgossip"), by.get("fabric")
    rows = [
        ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"], ".1f"),
        ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"], ".1f"),
        ("latency max (ms)", lambda r: r["latency_ms"]["max"], ".1f"),
        ("deliveries missing at the end", lambda r: r["missing"], "d"),
        ("block phase, first add to last commit (s)", lambda r: r["block_phase_s"], ".2f"),
        ("CPU per block per peer (ms)", lambda r: r["cpu_ms_per_block_per_peer"], ".3f"),
        ("  net of idle (ms)", lambda r: r["cpu_ms_per_block_per_peer_net_of_idle"], ".3f"),
        ("idle CPU per peer (%)", lambda r: r["idle_cpu_pct_per_peer"], ".2f"),
        ("process RSS per peer (MB)", lambda r: r["rss_mb_per_peer"], ".1f"),
        ("source add rate achieved (blocks/s)", lambda r: r["add_rate"], ".1f"),
    ]
    print("| metric | fabgossip | Fabric | Fabric / fabgossip |")
    print("|---|---|---|---|")
    for name, get, spec in rows:
        a = get(fg) if fg else None
        b = get(fa) if fa else None
        print(f"| {name} | {fmt(a, spec)} | {fmt(b, spec)} | {ratio(b, a) if spec != 'd' else ''} |")


def plot(results, path):
    """Latency CDFs on a log x axis beside CPU per block per peer (total and net of idle)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install -r requirements-bench.txt): no plot")
        return
    colors = {"fabgossip": "tab:blue", "fabric": "tab:orange"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2, 1]})
    for r in results:
        lat = [max(v, 1e-2) for v in r["latencies_ms"]]
        if lat:
            ys = [(i + 1) / (len(lat) + r["missing"]) for i in range(len(lat))]
            ax1.step(lat, ys, where="post", color=colors[r["kind"]],
                     label=f"{KIND_NAMES[r['kind']]} (p99 {r['latency_ms']['p99']:.1f} ms)")
    ax1.set_xscale("log")
    ax1.set_xlabel("delivery latency per (peer, block), ms (log)")
    ax1.set_ylabel("fraction of deliveries")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(loc="lower right")
    xs = range(len(results))
    ax2.bar([x - 0.2 for x in xs], [r["cpu_ms_per_block_per_peer"] for r in results], width=0.4,
            color=[colors[r["kind"]] for r in results], label="total")
    ax2.bar([x + 0.2 for x in xs], [r["cpu_ms_per_block_per_peer_net_of_idle"] for r in results],
            width=0.4, color=[colors[r["kind"]] for r in results], alpha=0.5, hatch="//",
            label="net of idle")
    ax2.axhline(0.1, color="gray", ls="--", lw=1, label="target 0.1 ms")
    ax2.set_xticks(list(xs), [KIND_NAMES[r["kind"]] for r in results])
    ax2.set_ylabel("process CPU per block per peer (ms)")
    ax2.legend()
    r0 = results[0]
    fig.suptitle(f"In one process: {r0['n']} peers, one source, {r0['blocks']} blocks of "
                 f"{r0['block_bytes'] / 1024:.0f} KB at {r0['rate']:.0f} blocks/s, core.yaml timers"
                 f"{', TLS' if r0['tls'] else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


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
    print()
    print_table(results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
        print(f"results written to {args.out}")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
