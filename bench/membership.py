#!/usr/bin/env python3
"""Membership benchmark: N peer processes of one kind (fabgossip or real Fabric gossip), each
bootstrapping to the first; prints the time until every peer sees all others alive, then idle CPU
and memory per peer (RSS, and PSS: shared code pages divided among the processes mapping them),
for each N and both kinds, with the ratios.

Both kinds speak the same peer process protocol (ready / peers / stats / shutdown on stdin and
stdout), so the same driver measures both in the same run. Timers are core.yaml's defaults.

    python3 bench/membership.py [--sizes 10,20,40] [--idle 10] [--out F.json] [--plot F.png]
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, python_peer_argv  # noqa: E402

import topology  # noqa: E402
from report import pyplot  # noqa: E402
from topology import FABRIC_NODE, fabgossip_configs  # noqa: E402
LIB = REPO / "target" / "release" / "libfabgossip.so"
C_PEER = REPO / "build" / "c" / "peer"


def fabgossip_argvs(n, workdir):
    """The C peer when built (no interpreter in the figures), else the Python peer."""
    return [[str(C_PEER), "--config", str(cfg)] if C_PEER.exists() else python_peer_argv(cfg)
            for cfg in fabgossip_configs(n, workdir)]


def fabric_argvs(n, _workdir):
    return topology.fabric_argvs(n)


def memory_kb(pid):
    """(PSS, private anonymous) of a process in kB, from /proc/PID/smaps_rollup: RSS counts the
    shared code pages (the library, the Go binary, libc) in full in every process; PSS divides
    them among the processes that map them."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[key] = int(rest.split()[0])
    return fields["Pss"], fields["Anonymous"]


def measure(kind, n, idle_s):
    """Starts the first peer, then the others (each bootstrapping to the first), and times from
    the moment the last one is ready until every view holds all N-1 others alive."""
    workdir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    argvs = (fabgossip_argvs if kind == "fabgossip" else fabric_argvs)(n, workdir)
    env = {"LD_LIBRARY_PATH": str(LIB.parent), "FABGOSSIP_LIB": str(LIB)}
    peers = []
    try:
        for argv in argvs:
            peers.append(PeerProcess(argv, env=env))
        t0 = time.monotonic()
        done = {}  # peer index -> seconds until its view was complete
        deadline = t0 + 120
        while len(done) < n and time.monotonic() < deadline:
            for i, p in enumerate(peers):
                if i not in done and sum(1 for m in p.peers() if m["state"] == "alive") >= n - 1:
                    done[i] = time.monotonic() - t0
            time.sleep(0.01)
        converge = max(done.values()) if len(done) == n else None
        time.sleep(2)
        s1 = [p.stats() for p in peers]
        time.sleep(idle_s)
        s2 = [p.stats() for p in peers]
        cpu_pct = sum(b["cpu_s"] - a["cpu_s"] for a, b in zip(s1, s2)) / n / idle_s * 100
        rss_mb = sum(s["rss_kb"] for s in s2) / n / 1024
        mem = [memory_kb(p.proc.pid) for p in peers]
        return {"kind": kind, "n": n, "converge_s": converge, "per_peer_s": sorted(done.values()),
                "idle_cpu_pct": cpu_pct, "rss_mb": rss_mb,
                "pss_mb": sum(m[0] for m in mem) / n / 1024,
                "anon_mb": sum(m[1] for m in mem) / n / 1024}
    finally:
        for p in peers:
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def plot(results, path):
    """Per-peer time to a full view (each dot a peer), idle CPU and RSS, both kinds side by side."""
    plt = pyplot()
    if plt is None:
        return
    sizes = sorted({r["n"] for r in results})
    colors = {"fabgossip": "tab:blue", "fabric": "tab:orange"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    for r in results:
        x = sizes.index(r["n"]) + (-0.15 if r["kind"] == "fabgossip" else 0.15)
        axes[0].scatter([x] * len(r["per_peer_s"]), [max(t, 1e-3) for t in r["per_peer_s"]],
                        s=12, alpha=0.6, color=colors[r["kind"]])
        axes[1].bar(x, r["idle_cpu_pct"], width=0.3, color=colors[r["kind"]])
        axes[2].bar(x, r["rss_mb"], width=0.3, color=colors[r["kind"]], alpha=0.35)
        axes[2].bar(x, r["pss_mb"], width=0.3, color=colors[r["kind"]])
    axes[0].set_yscale("log")
    titles = ["time until the peer sees all others (s, log)", "idle CPU per peer (%)",
              "memory per peer (MB): RSS pale, PSS solid"]
    for ax, title in zip(axes, titles):
        ax.set_xticks(range(len(sizes)), [f"N={n}" for n in sizes])
        ax.set_title(title, fontsize=10)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in colors.items()]
    axes[0].legend(handles=handles, labels=["fabgossip", "Fabric"])
    fig.suptitle("Membership: fabgossip beside Fabric gossip, separate processes, core.yaml timers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


def fmt(v, spec):
    return "timeout" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,20,40")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--plot", help="draw the figure into this PNG")
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
                  f"idle CPU {r['idle_cpu_pct']:.2f} %/peer  RSS {r['rss_mb']:.1f} MB/peer  "
                  f"PSS {r['pss_mb']:.1f} MB/peer  private anonymous {r['anon_mb']:.1f} MB/peer",
                  flush=True)
    print()
    print("| N | fabgossip full view (s) | Fabric full view (s) | ratio | fabgossip idle CPU (%/peer) "
          "| Fabric idle CPU (%/peer) | fabgossip RSS (MB/peer) | Fabric RSS (MB/peer) "
          "| fabgossip PSS (MB/peer) | Fabric PSS (MB/peer) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    by = {(r["kind"], r["n"]): r for r in results}
    for n in sorted({r["n"] for r in results}):
        fg, fa = by.get(("fabgossip", n)), by.get(("fabric", n))
        ratio = (f"{fa['converge_s'] / fg['converge_s']:.1f}× faster"
                 if fa and fg and fa["converge_s"] and fg["converge_s"] else "n/a")
        print(f"| {n} | {fmt(fg['converge_s'], '.2f')} | "
              f"{fmt(fa['converge_s'], '.2f') if fa else 'n/a'} | {ratio} | "
              f"{fg['idle_cpu_pct']:.2f} | {format(fa['idle_cpu_pct'], '.2f') if fa else 'n/a'} | "
              f"{fg['rss_mb']:.1f} | {format(fa['rss_mb'], '.1f') if fa else 'n/a'} | "
              f"{fg['pss_mb']:.1f} | {format(fa['pss_mb'], '.1f') if fa else 'n/a'} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
