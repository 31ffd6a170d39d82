#!/usr/bin/env python3
"""Stock-network benchmark: blocks cut by a real Fabric orderer reach N Fabric peers and N
fabgossip peers of Org1, all of them non-leaders fed by gossip from the Fabric Org1 leader
(peer0.org1), in the stock network of tests/fabnet (Fabric 2.5.9's own orderer and peer
commands, cryptogen X.509 identities, TLS, Fabric's sample core.yaml).

Per (peer, block): the time from the orderer having the block to the peer having committed it
(the reference is the earlier of the orderer's and the Fabric leader's sighting: the orderer's
/metrics page renders slowly under load and the leader cannot have a block before it). Heights
come from each process's operations endpoint (`/metrics`): the orderer's and the Fabric peers'
`ledger_blockchain_height` (set by their block store's commit), the fabgossip peers'
`gossip_state_height` (set after the ledger commit). Two phases of --blocks blocks each: CPU
(heights polled every --cpu-poll-ms, 1 s, since rendering /metrics costs the polled process CPU;
CPU seconds per block per follower process from /proc, also net of the process's rate over an
idle window before it; RSS and PSS), then latency (polled every --poll-ms). Last, what
VerifyBlock costs per block: the real orderer-signed block through the library's Fabric MSP
(X.509, ECDSA P-256) beside an Ed25519-signed block of the same transactions
(`examples/verify_cost.rs`, CPU time per call).

fabgossip peers are the C peer (`build/c/peer`, embedded file ledger); endorsements of the
approveformyorg transactions that make the blocks go to peer0.org1 and peer0.org2 only, so the
measured followers do no endorsing. State transfer is on for every follower of both kinds
(Fabric's sample core.yaml turns it off; a non-leader then never recovers a block it missed).

    python3 bench/fabnet.py [--peers 3] [--blocks 100] [--poll-ms 10] [--out docs/fabnet.json]
                            [--txt docs/fabnet.txt] [--plot docs/fabnet.png]
"""

import argparse
import concurrent.futures
import datetime
import http.client
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fabnet"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from members import check_programs, start_member, wait_known  # noqa: E402
from network import FabnetError, Network, Peer, free_port, metric, parse_metrics  # noqa: E402
from report import COLORS, KIND_NAMES, fmt, percentile, pyplot, ratio  # noqa: E402

VERIFY_COST = REPO / "target" / "release" / "examples" / "verify_cost"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The height metric of the orderer's and the Fabric peers' block store.
ORDERER_METRIC = "ledger_blockchain_height"


class BenchNetwork(Network):
    """The stock network with `followers - 1` more Fabric Org1 peers beside peer1.org1 (from
    the first spare identities; the fabgossip peers take the next ones), and state transfer on
    for every Org1 peer that is not the leader."""

    def __init__(self, followers, fabgossip_peers, **kw):
        self.extra_fabric = followers - 1
        super().__init__(spare_peers=self.extra_fabric + fabgossip_peers, **kw)

    def _plan(self):
        super()._plan()
        for i in range(self.extra_fabric):
            crypto = self.spare_identity("Org1MSP", i)
            name = crypto.name.split(".example.com")[0]
            self.peers.append(Peer(name, "Org1MSP", free_port(), free_port(), self.root / name,
                                   crypto, chaincode_port=free_port(), org_leader=False))
        for p in self.peers:
            p.env = self._peer_env(p)
            if not p.org_leader:
                p.env["CORE_PEER_GOSSIP_STATE_ENABLED"] = "true"


class HeightPoller(threading.Thread):
    """Polls one operations endpoint's /metrics for a height metric; records, for each block
    number, the monotonic time the height first covered it."""

    def __init__(self, name, port, metric, channel, interval, stop):
        super().__init__(daemon=True, name=f"poll-{name}")
        self.node, self.port, self.interval, self.stop = name, port, interval, stop
        self.pattern = re.compile(
            rb"^" + metric.encode() + rb'\{channel="' + channel.encode() + rb'"\} (\S+)$', re.M)
        self.height = 0
        self.seen = {}  # block number -> time.monotonic()
        self.polls = 0
        self.errors = 0
        self._conn = None

    def _get(self):
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            self._conn.request("GET", "/metrics")
            resp = self._conn.getresponse()
            body = resp.read()
            if resp.getheader("Connection", "").lower() == "close":
                self._conn.close()
                self._conn = None
            return body
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._conn = None
            raise

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                body = self._get()
                now = time.monotonic()
                self.polls += 1
                m = self.pattern.search(body)
                if m:
                    h = int(float(m.group(1)))
                    for n in range(self.height, h):
                        self.seen.setdefault(n, now)
                    self.height = max(self.height, h)
            except (OSError, http.client.HTTPException):
                self.errors += 1
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mb(pid):
    """(VmRSS, PSS) in MB."""
    rss = pss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, pss


FG_COUNTERS = ("fabgossip_blocks_pushed_in", "fabgossip_blocks_pulled",
               "fabgossip_blocks_forwarded",
               "fabgossip_blocks_committed", "fabgossip_state_gaps_reported",
               "gossip_state_commit_duration_sum", "gossip_state_commit_duration_count")


def fabgossip_counters(member, channel):
    """How a fabgossip peer got its blocks and what its commits took, from its /metrics."""
    samples = parse_metrics(urllib.request.urlopen(
        f"http://127.0.0.1:{member.ops_port}/metrics", timeout=5).read().decode())
    return {name: metric(samples, name, channel=channel) for name in FG_COUNTERS}


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def wait_for(what, check, timeout, pollers, interval=0.05):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            heights = ", ".join(f"{p.node} {p.height} ({p.polls} polls, {p.errors} errors)"
                                for p in pollers)
            raise FabnetError(f"timed out after {timeout:.0f}s waiting for {what}: {heights}")
        time.sleep(interval)


def verify_cost(net, block_number, iterations):
    """examples/verify_cost on a real orderer-signed block of the network."""
    if not VERIFY_COST.is_file():
        raise FabnetError(f"{VERIFY_COST} missing: run "
                          "`cargo build --release --locked --example verify_cost`")
    block_path = net.root / "verify-block.block"
    block_path.write_bytes(net.fetch_orderer_block(block_number))
    identity = net.spare_identity("Org1MSP", net.spare_peers - 1)
    out = subprocess.run([str(VERIFY_COST), str(net.genesis_block), str(block_path),
                          str(identity / "msp"), "Org1MSP", str(iterations)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise FabnetError(f"verify_cost failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def summarize(kind, pollers, orderer_seen, blocks, cpu, mem):
    lat = []
    missing = 0
    per_peer = []
    for p in pollers:
        mine = []
        for n in blocks:
            if n in p.seen and n in orderer_seen:
                mine.append((p.seen[n] - orderer_seen[n]) * 1000)
            else:
                missing += 1
        lat.extend(mine)
        mine.sort()
        c = cpu[p.node]
        rss, pss = mem[p.node]
        per_peer.append({
            "name": p.node, "polls": p.polls, "poll_errors": p.errors,
            "latency_ms": {"p50": percentile(mine, 50), "p99": percentile(mine, 99),
                           "max": mine[-1] if mine else None},
            "cpu_ms_per_block": c["per_block_ms"],
            "cpu_ms_per_block_net_of_idle": c["net_per_block_ms"],
            "idle_cpu_percent": c["idle_percent"], "rss_mb": rss, "pss_mb": pss,
        })
    lat.sort()
    n = len(per_peer)
    return {
        "kind": kind,
        "peers": per_peer,
        "latencies_ms": lat,
        "missing": missing,
        "latency_ms": {"p50": percentile(lat, 50), "p99": percentile(lat, 99),
                       "max": lat[-1] if lat else None},
        "cpu_ms_per_block_per_peer": sum(p["cpu_ms_per_block"] for p in per_peer) / n,
        "cpu_ms_per_block_per_peer_net_of_idle":
            sum(p["cpu_ms_per_block_net_of_idle"] for p in per_peer) / n,
        "rss_mb_per_peer": sum(p["rss_mb"] for p in per_peer) / n,
        "pss_mb_per_peer": (sum(p["pss_mb"] for p in per_peer) / n
                            if all(p["pss_mb"] is not None for p in per_peer) else None),
    }


ROWS = [
    ("commit after the orderer, p50 (ms)", lambda r: r["latency_ms"]["p50"], ".1f"),
    ("commit after the orderer, p99 (ms)", lambda r: r["latency_ms"]["p99"], ".1f"),
    ("commit after the orderer, max (ms)", lambda r: r["latency_ms"]["max"], ".1f"),
    ("(peer, block) pairs not seen", lambda r: r["missing"], "d"),
    ("CPU per block per peer (ms)", lambda r: r["cpu_ms_per_block_per_peer"], ".2f"),
    ("CPU per block per peer, net of idle (ms)",
     lambda r: r["cpu_ms_per_block_per_peer_net_of_idle"], ".2f"),
    ("RSS per peer (MB)", lambda r: r["rss_mb_per_peer"], ".1f"),
    ("PSS per peer (MB)", lambda r: r["pss_mb_per_peer"], ".1f"),
]


VERIFY_ROWS = (
    ("ecdsa_p256_x509_us", "VerifyBlock, Fabric MSP (X.509, ECDSA P-256, BlockValidation)"),
    ("ed25519_us", "VerifyBlock, built-in Ed25519"),
    ("structure_only_us", "structure only (decode, number, data hash), in both"),
    ("msp_validate_orderer_identity_us", "of which: orderer identity against the channel MSPs"),
    ("p256_verify_us", "of which: one P-256 signature check, as the MSP does it (low-S, ring)"),
    ("ring_p256_verify_us", "for comparison: ring's check alone"),
)


def print_report(res):
    by = {r["kind"]: r for r in res["results"]}
    fg, fa = by["fabgossip"], by["fabric"]
    print(f"stock network, {res['peers']} Fabric + {res['peers']} fabgossip Org1 followers; "
          f"latency phase: {res['blocks']} blocks in {res['blocks_seconds']:.1f}s "
          f"({res['blocks'] / res['blocks_seconds']:.1f}/s), heights polled every "
          f"{res['poll_ms']:g} ms; CPU phase: {res['blocks']} more blocks in "
          f"{res['cpu_phase']['blocks_seconds']:.1f}s, polled every {res['cpu_poll_ms']:g} ms")
    print(f"orderer polled {res['orderer_polls']} times; the leader peer0.org1 was seen with "
          f"{res['leader_seen_before_orderer']} of the {res['blocks']} blocks before the orderer "
          "(the reference is the earlier sighting)")
    print(f"leader peer0.org1 after the reference: p50 {fmt(res['leader_ms']['p50'], '.1f')} ms, "
          f"p99 {fmt(res['leader_ms']['p99'], '.1f')} ms")
    print()
    print("| metric | fabgossip | Fabric | Fabric / fabgossip |")
    print("|---|---|---|---|")
    for name, get, spec in ROWS:
        a, b = get(fg), get(fa)
        r = ratio(b, a) if spec != "d" else ""
        print(f"| {name} | {fmt(a, spec)} | {fmt(b, spec)} | {r} |")
    print()
    print("| peer | kind | p50 (ms) | p99 (ms) | max (ms) | CPU/block (ms) | net of idle (ms) "
          "| idle CPU (%) | RSS (MB) | PSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in (fg, fa):
        for p in r["peers"]:
            lat = p["latency_ms"]
            print(f"| {p['name']} | {KIND_NAMES[r['kind']]} | {fmt(lat['p50'], '.1f')} | "
                  f"{fmt(lat['p99'], '.1f')} | {fmt(lat['max'], '.1f')} | "
                  f"{p['cpu_ms_per_block']:.2f} | {p['cpu_ms_per_block_net_of_idle']:.2f} | "
                  f"{p['idle_cpu_percent']:.2f} | {fmt(p['rss_mb'], '.1f')} | "
                  f"{fmt(p['pss_mb'], '.1f')} |")
    v = res.get("verify")
    if v:
        print()
        print(f"VerifyBlock per block ({v['iterations']} calls each, block {v['block']}, "
              f"{v['ecdsa_block_bytes']} bytes):")
        print("| check (CPU µs of the calling thread) | mean | p50 | p99 | first call |")
        print("|---|---|---|---|---|")
        for key, label in VERIFY_ROWS:
            s = v[key]
            print(f"| {label} | {s['mean']:.1f} | {s['p50']:.1f} | {s['p99']:.1f} | "
                  f"{s['first']:.1f} |")
        print(f"ECDSA / Ed25519: {v['ecdsa_p256_x509_us']['p50'] / v['ed25519_us']['p50']:.1f}× "
              "(p50)")


def plot(res, path):
    plt = pyplot()
    if plt is None:
        return
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.8),
                                        gridspec_kw={"width_ratios": [2, 1, 1]})
    for r in res["results"]:
        lat = [max(v, 1.0) for v in r["latencies_ms"]]
        if lat:
            ys = [(i + 1) / (len(lat) + r["missing"]) for i in range(len(lat))]
            ax1.step(lat, ys, where="post", color=COLORS[r["kind"]],
                     label=f"{KIND_NAMES[r['kind']]} ×{len(r['peers'])} "
                           f"(p50 {r['latency_ms']['p50']:.0f} ms, "
                           f"p99 {r['latency_ms']['p99']:.0f} ms)")
    leader = sorted(res["leader_latencies_ms"])
    if leader:
        ax1.step([max(v, 1.0) for v in leader], [(i + 1) / len(leader) for i in range(len(leader))],
                 where="post", color="gray", ls="--", label="Fabric leader peer0.org1 (source)")
    ax1.set_xscale("log")
    ax1.set_xlabel("commit after the orderer has the block, per (peer, block), "
                   "ms (log; ≤ 1 ms drawn at 1)")
    ax1.set_ylabel("fraction of (peer, block)")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(loc="lower right", fontsize=8)
    rs = res["results"]
    xs = range(len(rs))
    colors = [COLORS[r["kind"]] for r in rs]
    ax2.bar([x - 0.2 for x in xs], [r["cpu_ms_per_block_per_peer"] for r in rs], width=0.4,
            color=colors, label="total")
    ax2.bar([x + 0.2 for x in xs], [r["cpu_ms_per_block_per_peer_net_of_idle"] for r in rs],
            width=0.4, color=colors, alpha=0.5, hatch="//", label="net of idle")
    ax2.set_xticks(list(xs), [KIND_NAMES[r["kind"]] for r in rs])
    ax2.set_ylabel("CPU ms per block per follower process")
    ax2.legend(fontsize=8)
    v = res.get("verify")
    if v:
        labels = ["ECDSA P-256\n+ X.509 (MSP)", "Ed25519", "structure\nonly"]
        vals = [v[k]["p50"] for k in ("ecdsa_p256_x509_us", "ed25519_us", "structure_only_us")]
        ax3.bar(labels, vals, color=["tab:red", "tab:green", "tab:gray"])
        for i, val in enumerate(vals):
            ax3.text(i, val, f"{val:.0f}", ha="center", va="bottom", fontsize=8)
        ax3.set_ylabel("VerifyBlock, CPU µs per block (p50)")
        ax3.set_title(f"{v['ecdsa_block_bytes']}-byte block", fontsize=9)
    fig.suptitle(f"Stock Fabric 2.5.9 network: {res['blocks']} blocks to {res['peers']} Fabric + "
                 f"{res['peers']} fabgossip followers ({res['date']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}")


class Phase:
    """Pollers of every node's height at one interval, and how to make blocks under them."""

    def __init__(self, net, members, interval):
        ch = net.channel
        self.stop = threading.Event()
        self.orderer = HeightPoller("orderer", net.orderer.ops_port, ORDERER_METRIC, ch,
                                    interval, self.stop)
        leader = net.peer("peer0.org1")
        # A Fabric peer sets gossip_state_height only at its first commit through gossip
        # state; ledger_blockchain_height is set by the ledger's commit itself, from block 0.
        self.lead = HeightPoller(leader.name, leader.ops_port, ORDERER_METRIC, ch, interval,
                                 self.stop)
        self.fabric = [HeightPoller(p.name, p.ops_port, ORDERER_METRIC, ch, interval, self.stop)
                       for p in net.peers if p.mspid == "Org1MSP" and not p.org_leader]
        self.fg = [HeightPoller(m.name, m.ops_port, "gossip_state_height", ch, interval,
                                self.stop) for m in members]
        self.pollers = [self.orderer, self.lead] + self.fabric + self.fg
        for p in self.pollers:
            p.start()
        self.start_height = net.orderer_channel()["height"]
        wait_for("every peer at the orderer's height",
                 lambda: all(p.height >= self.start_height for p in self.pollers), 120,
                 self.pollers)

    def make_blocks(self, net, n, parallel, timeout):
        """n approvals endorsed by the org leaders only; returns (seconds to make them,
        seconds until every follower has them)."""
        endorsers = [net.peer("peer0.org1"), net.peer("peer0.org2")]
        target = self.start_height + n
        t = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda i: net.approve(endorsers[i % len(endorsers)]), range(n)))
        made = time.monotonic() - t
        wait_for(f"every follower at height {target}",
                 lambda: net.check_running() or all(p.height >= target for p in self.pollers),
                 timeout, self.pollers)
        return made, time.monotonic() - t

    def close(self):
        self.stop.set()
        for p in self.pollers:
            p.join(timeout=10)


def cpu_phase(net, members, args, pids, watched):
    """CPU per block per follower, with heights polled once a second only (a Fabric peer's
    /metrics page costs it CPU to render): an idle window, then the blocks."""
    ph = Phase(net, members, args.cpu_poll_ms / 1000)
    try:
        time.sleep(1)
        t0, c0 = time.monotonic(), {n: cpu_seconds(pids[n]) for n in watched}
        time.sleep(args.idle_secs)
        t1, c1 = time.monotonic(), {n: cpu_seconds(pids[n]) for n in watched}
        print(f"CPU phase: {args.blocks} blocks, heights polled every {args.cpu_poll_ms:g} ms",
              flush=True)
        tb, cb = time.monotonic(), {n: cpu_seconds(pids[n]) for n in watched}
        made, done = ph.make_blocks(net, args.blocks, args.parallel, args.timeout)
        te, ce = time.monotonic(), {n: cpu_seconds(pids[n]) for n in watched}
    finally:
        ph.close()
    cpu = {}
    for n in watched:
        idle = (c1[n] - c0[n]) / (t1 - t0)
        used = ce[n] - cb[n]
        cpu[n] = {"per_block_ms": used / args.blocks * 1000,
                  "net_per_block_ms": (used - idle * (te - tb)) / args.blocks * 1000,
                  "idle_percent": idle * 100}
    return cpu, {"blocks_seconds": made, "all_committed_seconds": done}


def run(args):
    net = BenchNetwork(args.peers, args.peers)
    members = []
    ph = None
    try:
        check_programs({"c"})
        load_before = load_average()
        net.up(timeout=180)
        ch = net.channel
        for i in range(args.peers):
            members.append(start_member(net, "c", "Org1MSP", net.extra_fabric + i,
                                        ops_port=free_port(), log=args.log))
        wait_known(net, members, timeout=120)
        if f'{ORDERER_METRIC}{{channel="{ch}"}}' not in net.orderer.metrics_text():
            raise FabnetError(f"the orderer's /metrics has no {ORDERER_METRIC} for {ch}")
        pids = {p.name: p.proc.pid for p in net.peers}
        pids.update({m.name: m.pid for m in members})
        watched = [p.name for p in net.peers if p.mspid == "Org1MSP" and not p.org_leader]
        watched += [m.name for m in members]

        cpu, cpu_times = cpu_phase(net, members, args, pids, watched)

        ph = Phase(net, members, args.poll_ms / 1000)
        print(f"latency phase: {args.blocks} blocks (approveformyorg, {args.parallel} at a time, "
              f"endorsed by peer0.org1 and peer0.org2), heights polled every {args.poll_ms:g} ms",
              flush=True)
        made, done = ph.make_blocks(net, args.blocks, args.parallel, args.timeout)
        ph.close()
        mem = {n: memory_mb(pids[n]) for n in watched}
        fg_counters = {m.name: fabgossip_counters(m, ch) for m in members}
        orderer, lead = ph.orderer, ph.lead
        blocks = range(ph.start_height, ph.start_height + args.blocks)
        # The orderer's /metrics page takes long to render under load, so its poll may see a
        # block after the leader, which cannot commit a block before the orderer has it: the
        # reference is the earlier of the two sightings.
        ref = {n: min(t for t in (orderer.seen.get(n), lead.seen.get(n)) if t is not None)
               for n in blocks if n in orderer.seen or n in lead.seen}
        results = [summarize("fabgossip", ph.fg, ref, blocks, cpu, mem),
                   summarize("fabric", ph.fabric, ref, blocks, cpu, mem)]
        leader_lat = sorted((lead.seen[n] - ref[n]) * 1000 for n in blocks
                            if n in lead.seen and n in ref)
        leader_first = sum(1 for n in blocks if n in lead.seen and n in orderer.seen
                           and lead.seen[n] < orderer.seen[n])
        seen = {p.node: {str(n): round((p.seen[n] - ref[n]) * 1000, 3) for n in blocks
                         if n in p.seen and n in ref} for p in ph.pollers}
        verify = verify_cost(net, blocks[-1], args.iterations) if args.iterations else None
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": {"cpus": os.cpu_count(), "load_before": load_before,
                        "load_after": load_average()},
            "peers": args.peers, "blocks": args.blocks, "poll_ms": args.poll_ms,
            "cpu_poll_ms": args.cpu_poll_ms, "parallel": args.parallel,
            "idle_secs": args.idle_secs,
            "blocks_seconds": made, "all_committed_seconds": done, "cpu_phase": cpu_times,
            "orderer_polls": orderer.polls,
            "leader_seen_before_orderer": leader_first,
            "seen_after_reference_ms": seen,
            "leader_ms": {"p50": percentile(leader_lat, 50), "p99": percentile(leader_lat, 99)},
            "leader_latencies_ms": leader_lat,
            "results": results,
            "verify": verify,
            "fabgossip_counters": fg_counters,
        }
    finally:
        if ph is not None:
            ph.close()
        for m in members:
            m.stop()
        net.down()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", type=int, default=3, help="Fabric and fabgossip followers each")
    ap.add_argument("--blocks", type=int, default=100)
    ap.add_argument("--parallel", type=int, default=2, help="approvals in flight")
    ap.add_argument("--poll-ms", type=float, default=10, help="height polling, latency phase")
    ap.add_argument("--cpu-poll-ms", type=float, default=1000, help="height polling, CPU phase")
    ap.add_argument("--idle-secs", type=float, default=10, help="idle window for CPU net of idle")
    ap.add_argument("--iterations", type=int, default=2000,
                    help="VerifyBlock calls per kind (0: skip)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for the blocks")
    ap.add_argument("--log", default="info", help="fabgossip peers' log level")
    ap.add_argument("--out", help="JSON results")
    ap.add_argument("--txt", help="the printed report, also to this file")
    ap.add_argument("--plot", help="PNG figure")
    args = ap.parse_args(argv)
    if args.peers < 1 or args.blocks < 1:
        ap.error("--peers and --blocks must be at least 1")
    try:
        res = run(args)
    except FabnetError as e:
        print(f"bench/fabnet: {e}", file=sys.stderr)
        return 1
    text = io.StringIO()
    with redirect_stdout(text):
        print_report(res)
    print()
    print(text.getvalue(), end="")
    if args.txt:
        Path(args.txt).write_text(f"{res['date']}, load {res['machine']['load_before']} before, "
                                  f"{res['machine']['load_after']} after\n\n" + text.getvalue())
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
        print(f"results written to {args.out}")
    if args.plot:
        plot(res, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
