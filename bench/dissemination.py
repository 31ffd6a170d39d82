#!/usr/bin/env python3
"""Dissemination benchmark: N peer processes of one kind (fabgossip or real Fabric gossip with its
state provider), one org, all bootstrapping to the first, all in `mychannel`; the first peer adds
blocks of about 10 KB at a fixed rate and every other peer reports each commit. Prints the
per-(peer, block) delivery latency p50/p99/max, the time until every block reached every peer,
CPU per block per receiving peer, for both kinds in the same run, with the ratios.

Commit times come from the peers' `watch` command ({"event":"committed","seq":N,"t_ns":T}), T read
from CLOCK_MONOTONIC like this driver's time.monotonic_ns(), so source and receivers share a clock.
The Fabric node hooks its in-memory ledger's commit; so does the fabgossip Go peer (`gopeer
--ledger go`: the library commits through the host ledger callbacks into a Go in-memory ledger),
the default host here. `--fabgossip-host c` runs the C peer (`tests/c/peer --ledger memory`, `make -C
tests/c peer`) instead: the same callbacks into a C in-memory ledger, no Go runtime in the process.
With `--fabgossip-host python` the Python peer over its file ledger polls the
ledger height every `--poll-ms` instead, which adds CPU and up to that much latency. Messages and bytes
sent per block come from the fabgossip peers' metrics (the Fabric node exposes no counters). Timers
are core.yaml's defaults for both kinds, except that state transfer (anti-entropy,
peer.gossip.state.enabled, off by default since Fabric 2.2 because peers also pull from the
orderer) is on for both: without it a Fabric peer that misses one block never commits the rest here
(`--fabric-no-state-transfer` shows that).

    python3 bench/dissemination.py [--peers 20] [--blocks 100] [--rate 100] [--out F.json] [--plot F.png]
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.blocks import block  # noqa: E402
from fabgossip.process import PeerProcess, python_peer_argv  # noqa: E402

import topology  # noqa: E402
from report import (KIND_NAMES, LATENCY_ROWS, finish, fmt, percentile,  # noqa: E402
                    plot_latency_and_cpu, print_comparison)
from topology import FABRIC_NODE, fabgossip_configs  # noqa: E402

LIB = REPO / "target" / "release" / "libfabgossip.so"
CHANNEL = "mychannel"
JOIN = {"sequence": 1, "members": ["Org1MSP"], "anchor_peers": []}


GOPEER = REPO / "build" / "gopeer"
C_PEER = REPO / "build" / "c" / "peer"
FABGOSSIP_HOST = "go"
# fabgossip.pushPolicy for the fabgossip peers; None keeps the library's default.
PUSH_POLICY = None


def fabgossip_argvs(n, workdir):
    """Go peers over a Go in-memory ledger, like the Fabric node's (the default), C peers over a C
    in-memory ledger, or Python peers over the file ledger without the fdatasync after each
    commit."""
    # Appended right after `peer.gossip.externalEndpoint`: state transfer on, as for Fabric.
    extra = "    state:\n      enabled: true\nfabgossip:\n  ledgerFsync: false\n"
    if PUSH_POLICY:
        extra += f"  pushPolicy: {PUSH_POLICY}\n"
    configs = fabgossip_configs(n, workdir, extra)
    if FABGOSSIP_HOST == "go":
        return [[str(GOPEER), "--config", str(cfg), "--ledger", "go"] for cfg in configs]
    if FABGOSSIP_HOST == "c":
        return [[str(C_PEER), "--config", str(cfg), "--ledger", "memory"] for cfg in configs]
    return [python_peer_argv(cfg) for cfg in configs]


FABRIC_LOG_SPEC = "error"
# Fabric's anti-entropy (peer.gossip.state.enabled) is off in core.yaml since 2.2, where every
# peer also takes blocks from the orderer; with one source and no orderer a Fabric peer that
# misses a block and falls more than blockBufferSize (20) behind never recovers, so it is on here.
FABRIC_STATE_TRANSFER = True


def fabric_argvs(n, _workdir):
    extra = ["--state-transfer"] if FABRIC_STATE_TRANSFER else []
    return topology.fabric_argvs(n, ["--log-spec", FABRIC_LOG_SPEC, *extra])


def make_blocks(count, block_bytes):
    """Genesis (small) then `count` blocks each holding one transaction of `block_bytes`."""
    out, prev = [], b""
    for seq in range(count + 1):
        tx = b"genesis" if seq == 0 else (f"tx {seq} ".encode() * block_bytes)[:block_bytes]
        raw, prev = block(seq, prev, [tx])
        out.append(raw)
    return out


def wait_all(peers, predicate, timeout, what):
    """Polls predicate(peer) for every peer until all hold; raises with the laggards."""
    deadline = time.monotonic() + timeout
    pending = list(range(len(peers)))
    while pending:
        pending = [i for i in pending if not predicate(peers[i])]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: peers {pending} not there after {timeout} s")
        time.sleep(0.1)


def comm_traffic(kind, peers):
    """Gossip messages and bytes sent so far by all peers together, from their metrics
    (`gossip_comm_messages_sent`, `fabgossip_comm_bytes_sent`); None for the Fabric node,
    which exposes no metrics here."""
    if kind != "fabgossip":
        return None
    total = {"messages": 0.0, "bytes": 0.0}
    for p in peers:
        for line in p.command("metrics", "metrics")["text"].splitlines():
            name, _, value = line.partition(" ")
            if name == "gossip_comm_messages_sent":
                total["messages"] += float(value)
            elif name == "fabgossip_comm_bytes_sent":
                total["bytes"] += float(value)
    return total


def measure(kind, n, count, rate, block_bytes, settle_s, timeout_s, workdir, poll_ms):
    argvs = (fabgossip_argvs if kind == "fabgossip" else fabric_argvs)(n, workdir)
    env = {"LD_LIBRARY_PATH": str(LIB.parent), "FABGOSSIP_LIB": str(LIB)}
    blocks = make_blocks(count, block_bytes)
    peers = []
    try:
        for i, argv in enumerate(argvs):
            peers.append(PeerProcess(argv, log_path=Path(workdir) / f"{kind}{i}.log", env=env))
        t0 = time.monotonic()
        wait_all(peers, lambda p: len(p.alive_ids()) >= n - 1, 180, "full membership view")
        view_s = time.monotonic() - t0
        for p in peers:
            p.join(CHANNEL, JOIN)
        # Genesis at every peer, as every peer joins with the channel's block 0; not measured.
        for p in peers:
            p.add_block(CHANNEL, 0, blocks[0])
        wait_all(peers, lambda p: p.ledger_height(CHANNEL) >= 1, 30, "genesis committed")
        t0 = time.monotonic()
        wait_all(peers, lambda p: len(p.channel_peers(CHANNEL)) >= n - 1, 120, "full channel view")
        channel_view_s = time.monotonic() - t0
        for p in peers:
            p.watch(CHANNEL, poll_ms if kind == "fabgossip" and FABGOSSIP_HOST == "python" else None)
        source, receivers = peers[0], peers[1:]
        # An idle window first: the background rate (alive, StateInfo, pull, the watch poller).
        time.sleep(settle_s)
        idle_a, idle_ta = [p.stats()["cpu_s"] for p in receivers], time.monotonic()
        time.sleep(settle_s)
        cpu_before, idle_tb = [p.stats()["cpu_s"] for p in receivers], time.monotonic()

        traffic_before = comm_traffic(kind, peers)
        lines = [f"add_block {CHANNEL} {seq} {blocks[seq].hex()}" for seq in range(1, count + 1)]
        added = {}
        start = time.monotonic_ns()
        interval_ns = int(1e9 / rate)
        for k, line in enumerate(lines):
            seq = k + 1
            due = start + k * interval_ns
            wait = due - time.monotonic_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            added[seq] = time.monotonic_ns()
            source.command(line, "added", timeout=30)
        # Rate over the add times themselves (first to last add).
        span_s = (added[count] - added[1]) / 1e9

        want = set(range(1, count + 1))

        def delivered(p):
            return {c["seq"] for c in list(p.commits) if c["channel"] == CHANNEL} >= want

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(delivered(p) for p in receivers):
            time.sleep(0.05)
        t_done = time.monotonic()
        cpu_after = [p.stats()["cpu_s"] for p in receivers]
        traffic_after = comm_traffic(kind, peers)
        traffic = None
        if traffic_before is not None:
            traffic = {k: (traffic_after[k] - traffic_before[k]) / count for k in traffic_before}
        final_heights = [p.ledger_height(CHANNEL) for p in receivers]
        # A second idle window after the blocks: the background rate is not steady (Fabric's
        # least of all), so the net figure subtracts the mean of both windows.
        time.sleep(1.0)
        after_a, after_ta = [p.stats()["cpu_s"] for p in receivers], time.monotonic()
        time.sleep(settle_s)
        after_b, after_tb = [p.stats()["cpu_s"] for p in receivers], time.monotonic()

        # Latency per (receiver, block): its commit time minus the source's add time.
        latencies, per_block_last, missing = [], {}, 0
        for p in receivers:
            first = {}
            for c in list(p.commits):
                if c["channel"] == CHANNEL and c["seq"] in want and c["seq"] not in first:
                    first[c["seq"]] = c["t_ns"]
            missing += len(want - first.keys())
            for seq, t in first.items():
                lat = (t - added[seq]) / 1e6
                latencies.append(lat)
                per_block_last[seq] = max(per_block_last.get(seq, lat), lat)
        latencies.sort()
        all_reached = None
        if missing == 0:
            last_commit = max(c["t_ns"] for p in receivers for c in p.commits
                              if c["channel"] == CHANNEL and c["seq"] in want)
            all_reached = (last_commit - added[1]) / 1e9
        cpu = sum(b - a for a, b in zip(cpu_before, cpu_after))
        # CPU seconds per second, all receivers together.
        idle_before = sum(b - a for a, b in zip(idle_a, cpu_before)) / (idle_tb - idle_ta)
        idle_after = sum(b - a for a, b in zip(after_a, after_b)) / (after_tb - after_ta)
        idle_rate = (idle_before + idle_after) / 2
        busy_s = t_done - idle_tb
        per = count * len(receivers)
        block_full = sorted(per_block_last.values())
        return {
            "kind": kind, "n": n, "sent_per_block": traffic,
            "host": (FABGOSSIP_HOST if kind == "fabgossip" else "fabricnode"),
            "poll_ms": poll_ms if kind == "fabgossip" and FABGOSSIP_HOST == "python" else None,
            "blocks": count, "rate": rate, "block_bytes": len(blocks[1]),
            "full_view_s": view_s, "channel_view_s": channel_view_s,
            "achieved_rate": (count - 1) / span_s if span_s > 0 else None,
            "missing": missing, "final_heights": final_heights,
            "latency_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                           "max": latencies[-1] if latencies else None},
            "block_to_all_ms": {"p50": percentile(block_full, 50),
                                "max": block_full[-1] if block_full else None},
            "all_blocks_everywhere_s": all_reached,
            "cpu_ms_per_block_per_peer": cpu * 1e3 / per,
            "cpu_ms_per_block_per_peer_net_of_idle": max(0.0, cpu - idle_rate * busy_s) * 1e3 / per,
            "idle_cpu_pct_per_peer": idle_rate / len(receivers) * 100,
            "idle_cpu_pct_per_peer_before_after": [idle_before / len(receivers) * 100,
                                                   idle_after / len(receivers) * 100],
            "latencies_ms": latencies,
        }
    finally:
        for p in peers:
            p.stop()


def plot(results, path):
    r0 = results[0]
    title = (f"Dissemination: {r0['n']} peers, one source, {r0['blocks']} blocks of "
             f"{r0['block_bytes'] / 1024:.0f} KB at {r0['rate']:.0f} blocks/s, core.yaml timers")
    plot_latency_and_cpu(results, path, title, "CPU per block per receiving peer (ms)")


def print_table(results):
    print_comparison(results, LATENCY_ROWS + [
        ("block reaches every peer, p50 (ms)", lambda r: r["block_to_all_ms"]["p50"], ".1f"),
        ("block reaches every peer, max (ms)", lambda r: r["block_to_all_ms"]["max"], ".1f"),
        ("every block at every peer (s after 1st add)", lambda r: r["all_blocks_everywhere_s"], ".2f"),
        ("deliveries missing at the end", lambda r: r["missing"], "d"),
        ("CPU per block per peer (ms)", lambda r: r["cpu_ms_per_block_per_peer"], ".3f"),
        ("  net of idle (ms)", lambda r: r["cpu_ms_per_block_per_peer_net_of_idle"], ".3f"),
        ("idle CPU per peer (%), mean", lambda r: r["idle_cpu_pct_per_peer"], ".2f"),
        ("  before the blocks", lambda r: r["idle_cpu_pct_per_peer_before_after"][0], ".2f"),
        ("  after the blocks", lambda r: r["idle_cpu_pct_per_peer_before_after"][1], ".2f"),
        ("source add rate achieved (blocks/s)", lambda r: r["achieved_rate"], ".1f"),
    ])
    by = {r["kind"]: r for r in results}
    fg, fa = by.get("fabgossip"), by.get("fabric")

    def traffic(r):
        t = r.get("sent_per_block") if r else None
        return f"{t['messages']:.0f} / {t['bytes'] / 1024:.0f} KB" if t else "not measured"
    print(f"| messages / bytes sent per block, all peers | {traffic(fg)} | {traffic(fa)} | "
          "(the Fabric node exposes no counters) |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", type=int, default=20, help="processes per kind (one is the source)")
    ap.add_argument("--blocks", type=int, default=100)
    ap.add_argument("--rate", type=float, default=100.0, help="blocks per second at the source")
    ap.add_argument("--block-kb", type=float, default=10.0, help="transaction bytes per block, KB")
    ap.add_argument("--kinds", default="fabgossip,fabric")
    ap.add_argument("--settle", type=float, default=2.0, help="idle seconds before measuring")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds after the last add to wait for every commit")
    ap.add_argument("--fabgossip-host", choices=["go", "c", "python"], default="go",
                    help="fabgossip peer program: gopeer or the C peer, each with an in-memory "
                         "ledger, or the Python peer")
    ap.add_argument("--poll-ms", type=float, default=0.5,
                    help="fabgossip peers' ledger-height poll interval for commit times")
    ap.add_argument("--push-policy", choices=["adaptive", "fabric"],
                    help="fabgossip.pushPolicy of the fabgossip peers (default: the library's)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (peer logs)")
    ap.add_argument("--fabric-no-state-transfer", action="store_true",
                    help="run Fabric with core.yaml's peer.gossip.state.enabled: false")
    ap.add_argument("--fabric-log-spec", default="error", help="Fabric nodes' logging spec (stderr logs)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--plot", help="draw the figure into this PNG")
    args = ap.parse_args()
    if args.peers < 2 or args.blocks < 1 or args.rate <= 0:
        sys.exit("need --peers ≥ 2, --blocks ≥ 1 and --rate > 0")
    global FABRIC_LOG_SPEC, FABRIC_STATE_TRANSFER, FABGOSSIP_HOST, PUSH_POLICY
    PUSH_POLICY = args.push_policy
    FABRIC_LOG_SPEC = args.fabric_log_spec
    FABRIC_STATE_TRANSFER = not args.fabric_no_state_transfer
    FABGOSSIP_HOST = args.fabgossip_host
    kinds = [k for k in args.kinds.split(",") if k]
    for k in kinds:
        if k not in KIND_NAMES:
            sys.exit(f"unknown kind {k!r} (fabgossip, fabric)")
    if "fabgossip" in kinds and not LIB.exists():
        sys.exit(f"{LIB} is missing: run `cargo build --release` first")
    if "fabric" in kinds and not FABRIC_NODE.exists():
        sys.exit(f"{FABRIC_NODE} is missing: run `make fabricnode` first")
    print(f"Fabric nodes: state transfer (anti-entropy, 10 s check interval) "
          f"{'on' if FABRIC_STATE_TRANSFER else 'off'}; other settings core.yaml defaults.")
    if FABGOSSIP_HOST == "go" and "fabgossip" in kinds and not GOPEER.exists():
        sys.exit(f"{GOPEER} is missing: run `make gopeer` first")
    if FABGOSSIP_HOST == "c" and "fabgossip" in kinds and not C_PEER.exists():
        sys.exit(f"{C_PEER} is missing: run `make -C tests/c peer` first")
    if FABGOSSIP_HOST == "go":
        print("fabgossip peers: gopeer over the library, committing through the host ledger "
              "callbacks into a Go in-memory ledger (like the Fabric node's); state transfer on.")
    elif FABGOSSIP_HOST == "c":
        print("fabgossip peers: the C peer over the library, committing through the host ledger "
              "callbacks into a C in-memory ledger (no Go runtime); state transfer on.")
    else:
        print(f"fabgossip commit times come from a {args.poll_ms:g} ms ledger-height poller in each "
              f"Python peer: it adds CPU to the fabgossip side and up to {args.poll_ms:g} ms of latency.")
    workdir = tempfile.mkdtemp(prefix="bench-dissemination-")
    results = []
    try:
        for kind in kinds:
            r = measure(kind, args.peers, args.blocks, args.rate, int(args.block_kb * 1024),
                        args.settle, args.timeout, workdir, args.poll_ms)
            results.append(r)
            print(f"{KIND_NAMES[kind]:9} N={args.peers}: view {r['full_view_s']:.1f} s, channel view "
                  f"{r['channel_view_s']:.1f} s; latency p50 {fmt(r['latency_ms']['p50'], '.1f')} ms "
                  f"p99 {fmt(r['latency_ms']['p99'], '.1f')} ms max {fmt(r['latency_ms']['max'], '.1f')} "
                  f"ms; missing {r['missing']}; CPU/block/peer "
                  f"{r['cpu_ms_per_block_per_peer']:.3f} ms", flush=True)
    finally:
        if args.keep:
            print(f"peer logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    finish(results, args.out, args.plot, print_table, plot)


if __name__ == "__main__":
    main()
