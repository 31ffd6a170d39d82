#!/usr/bin/env python3
"""Silent-connection flood: opens N plain TCP connections to one fabgossip peer process that never
send a byte, holds them, and reports how many the peer closed and when, the peer's open file
descriptors and RSS before, during and after, its admission counters, and whether an honest peer
still joins during the flood.

The connections come from `--sources` loopback addresses (127.0.1.1, 127.0.1.2, ...), as a
flood from many hosts would. The peer runs with the library's admission defaults unless
`--admission` gives other `fabgossip.admission` keys (YAML flow map).

    cargo build --release --locked
    python3 bench/connflood.py [--counts 1000,5000] [--sources 64] [--hold 15]
        [--admission '{handshakeTimeout: 10s}'] [--out F.json]
"""

import argparse
import json
import re
import resource
import selectors
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, python_peer_argv, wait_until  # noqa: E402
from topology import fabgossip_configs  # noqa: E402

LIB = REPO / "target" / "release" / "libfabgossip.so"


def open_fds(pid):
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sample(pid):
    return {"fds": open_fds(pid), "rss_kb": rss_kb(pid)}


def refusals(peer):
    """The peer's admission counters and gauges, from its Prometheus text."""
    text = peer.command("metrics", "metrics")["text"]
    out = {}
    for m in re.finditer(r'^fabgossip_comm_connections_refused\{reason="(\w+)"\} (\d+)', text, re.M):
        out[m.group(1)] = int(m.group(2))
    for name in ("inbound_connections", "unauthenticated_connections"):
        m = re.search(rf"^fabgossip_comm_{name} (\d+)", text, re.M)
        if m:
            out[name] = int(m.group(1))
    return out


def flood(n, sources, hold_s, addr, peer, join_cfg, log_dir):
    """Opens n silent connections, watches them for hold_s seconds, then closes the rest."""
    pid = peer.proc.pid
    result = {"n": n, "before": sample(pid), "refused_before": refusals(peer)}
    sel = selectors.DefaultSelector()
    opened_at = {}
    closed_after = []

    def drain(timeout):
        """Records the connections the peer closed, as seen now (after `timeout` at most)."""
        for key, _ in sel.select(timeout=timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                continue
            closed_after.append(time.monotonic() - opened_at.pop(s))
            sel.unregister(s)
            s.close()

    failed_connect = 0
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((f"127.0.1.{1 + i % sources}", 0))
            s.connect(addr)
        except OSError:
            failed_connect += 1
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        opened_at[s] = time.monotonic()
        if i % 50 == 49:
            drain(0)
    result["open_s"] = round(time.monotonic() - t0, 3)
    result["connect_failed"] = failed_connect
    result["during"] = sample(pid)

    # An honest peer joins while the flood is held.
    honest = PeerProcess(python_peer_argv(join_cfg), log_path=log_dir / f"honest{n}.log",
                         env={"FABGOSSIP_LIB": str(LIB)})
    t_join = time.monotonic()
    joined = wait_until(lambda: drain(0) or (peer.pki_id in honest.alive_ids()
                                            and honest.pki_id in peer.alive_ids()),
                        timeout=max(hold_s, 10))
    result["honest_join_s"] = round(time.monotonic() - t_join, 3) if joined else None

    # Held for hold_s after the last connection opened.
    deadline = t0 + result["open_s"] + hold_s
    peak = result["during"]
    while opened_at and time.monotonic() < deadline:
        drain(0.2)
        cur = sample(pid)
        peak = {k: max(peak[k], cur[k]) for k in cur}
    result["peak_during"] = peak
    result["at_end_of_hold"] = sample(pid)
    result["refused_during"] = refusals(peer)
    result["closed_by_peer"] = len(closed_after)
    result["still_open"] = len(opened_at)
    closed_after.sort()
    for label, limit in (("closed_within_1s", 1), ("closed_within_5s", 5),
                         ("closed_within_12s", 12)):
        result[label] = sum(1 for t in closed_after if t <= limit)
    if closed_after:
        result["close_time_p50_s"] = round(closed_after[len(closed_after) // 2], 3)
        result["close_time_max_s"] = round(closed_after[-1], 3)
    for s in list(opened_at):
        sel.unregister(s)
        s.close()
    honest.stop()
    wait_until(lambda: refusals(peer).get("inbound_connections", 1) == 0, timeout=15)
    time.sleep(1)
    result["after"] = sample(pid)
    result["refused_after"] = refusals(peer)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="1000,5000")
    ap.add_argument("--sources", type=int, default=64,
                    help="loopback source addresses the connections come from")
    ap.add_argument("--hold", type=float, default=15.0,
                    help="seconds to hold each flood after its last connection opened")
    ap.add_argument("--rounds", type=int, default=1, help="floods of each size, one after another")
    ap.add_argument("--admission", default="",
                    help="fabgossip.admission keys as a YAML flow map")
    ap.add_argument("--out")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = max(counts) + 256
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    workdir = Path(tempfile.mkdtemp(prefix="bench-connflood-"))
    extra = f"fabgossip:\n  admission: {args.admission}\n" if args.admission else ""
    cfgs = fabgossip_configs(2, workdir, extra)
    results = {"rlimit_nofile": soft, "sources": args.sources, "hold_s": args.hold,
               "admission": args.admission or "defaults", "runs": []}
    peer = PeerProcess(python_peer_argv(cfgs[0]), log_path=workdir / "peer0.log",
                       env={"FABGOSSIP_LIB": str(LIB)})
    try:
        port = int(re.search(r"listenAddress: 127\.0\.0\.1:(\d+)", cfgs[0].read_text()).group(1))
        time.sleep(1)
        for n in [c for c in counts for _ in range(args.rounds)]:
            r = flood(n, args.sources, args.hold, ("127.0.0.1", port), peer, cfgs[1], workdir)
            results["runs"].append(r)
            print(json.dumps(r), flush=True)
    finally:
        peer.stop()
    print()
    print(f"RLIMIT_NOFILE {soft}, {args.sources} source addresses, hold {args.hold:g} s, "
          f"admission {results['admission']}")
    print(f"{'N':>6} {'fds before/peak/after':>22} {'RSS MiB before/peak/after':>27} "
          f"{'closed ≤1s/≤5s/≤12s/open':>26} {'join s':>7}  refused")
    for r in results["runs"]:
        mib = [round(r[k]["rss_kb"] / 1024, 1) for k in ("before", "peak_during", "after")]
        fds = [r[k]["fds"] for k in ("before", "peak_during", "after")]
        closed = [r["closed_within_1s"], r["closed_within_5s"], r["closed_within_12s"],
                  r["still_open"]]
        refused = {k: v - r["refused_before"].get(k, 0) for k, v in r["refused_after"].items()
                   if k not in ("inbound_connections", "unauthenticated_connections")}
        print(f"{r['n']:>6} {'/'.join(map(str, fds)):>22} {'/'.join(map(str, mib)):>27} "
              f"{'/'.join(map(str, closed)):>26} {str(r['honest_join_s']):>7}  {refused}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
