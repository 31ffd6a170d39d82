#!/usr/bin/env python3
"""Flood benchmark: how fast may one member flood a peer before the peer's commit rate drops?

Three fabgossip peer processes (Python peer, core.yaml defaults except the bootstrap) join a
channel; peer 0 (the source) adds blocks at `--block-rate` per second; a flooder process
(`examples/flooder.rs`: one authenticated member of the org sending valid, signed alive
messages of its own identity, or of `--members` identities) sends to peer 1 (the victim) at
each rate of `--rates` in turn (0 = as fast as it can), for `--step` seconds each. For every
step it prints the rate the flooder reached, the blocks the victim and the third peer committed
per second during the step, and their ratio to the source's rate. The answer is the highest
flood rate at which the victim still commits at ≥ 90 % of the source's rate.

    cargo build --release --example flooder
    python3 bench/flood.py [--lib target/release/libfabgossip.so] [--rates 0,1000,5000,25000,0]
        [--step 8] [--block-rate 50] [--members 1] [--out F.json]

`--lib` runs the peers on another build of the library (an older one, for a before/after).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.blocks import chain  # noqa: E402
from fabgossip.process import PeerProcess, free_port, python_peer_argv  # noqa: E402

CHANNEL = "floodchannel"
JOIN = {"sequence": 1, "members": ["Org1MSP"]}


def config(data_dir, port, boot, i):
    addr = f"127.0.0.1:{port}"
    return json.dumps({
        "peer": {
            "id": f"p{i}", "localMspId": "Org1MSP", "listenAddress": addr, "address": addr,
            "fileSystemPath": str(data_dir),
            "gossip": {"bootstrap": boot, "externalEndpoint": addr},
        },
        "fabgossip": {"trustedOrgs": ["Org1MSP"], "identitySeed": os.urandom(32).hex(),
                      "ledgerFsync": False},
    })


class Flooder:
    """The flooder process; `sent()` is its last reported count."""

    def __init__(self, binary, target, rate, members):
        self.proc = subprocess.Popen(
            [str(binary), "--target", target, "--rate", str(rate), "--members", str(members)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.last = {"sent": 0, "connections": 0}
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.last = json.loads(line)
            except ValueError:
                pass

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default=str(REPO / "target" / "release" / "libfabgossip.so"))
    ap.add_argument("--flooder", default=str(REPO / "target" / "release" / "examples" / "flooder"))
    ap.add_argument("--rates", default="0,1000,2500,5000,10000,25000,0",
                    help="flood rates per step, messages/s; 0 = as fast as the flooder can (first 0: no flooder)")
    ap.add_argument("--step", type=float, default=8.0)
    ap.add_argument("--block-rate", type=float, default=50.0)
    ap.add_argument("--members", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()
    rates = [int(r) for r in a.rates.split(",")]
    env = {"FABGOSSIP_LIB": a.lib, "FABGOSSIP_LOG": "warn"}
    tmp = Path(tempfile.mkdtemp(prefix="fabgossip-flood-"))
    ports = [free_port() for _ in range(3)]
    peers = []
    try:
        for i, port in enumerate(ports):
            boot = "" if i == 0 else f"127.0.0.1:{ports[0]}"
            d = tmp / f"p{i}"
            d.mkdir()
            (d / "core.yaml").write_text(config(d / "data", port, boot, i))
            peers.append(PeerProcess(python_peer_argv(d / "core.yaml"), log_path=d / "peer.log", env=env))
        for p in peers:
            p.join(CHANNEL, JOIN)
        deadline = time.monotonic() + 60
        while not all(len(p.channel_peers(CHANNEL)) == 2 for p in peers):
            if time.monotonic() > deadline:
                sys.exit("the peers did not see each other in the channel within 60 s")
            time.sleep(0.25)
        source, victim, other = peers
        per_step = int(a.step * a.block_rate)
        blocks = chain(per_step * len(rates))
        seq = 0
        results = []
        for n, rate in enumerate(rates):
            flooder = None
            if not (n == 0 and rate == 0):
                flooder = Flooder(a.flooder, f"127.0.0.1:{ports[1]}", rate, a.members)
                time.sleep(1.0)  # let the flood get under way
            sent0 = flooder.last["sent"] if flooder else 0
            h0 = {"victim": victim.ledger_height(CHANNEL), "other": other.ledger_height(CHANNEL)}
            t0 = time.monotonic()
            for k in range(per_step):
                # Pace the source; BUSY (the victim's own host cannot add either) is retried.
                due = t0 + k / a.block_rate
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                source.add_block(CHANNEL, seq, blocks[seq])
                seq += 1
            added_in = time.monotonic() - t0
            time.sleep(0.5)  # one push/pull round for the last blocks
            elapsed = time.monotonic() - t0
            h1 = {"victim": victim.ledger_height(CHANNEL), "other": other.ledger_height(CHANNEL)}
            sent1 = flooder.last["sent"] if flooder else 0
            conns = flooder.last["connections"] if flooder else 0
            if flooder:
                flooder.stop()
            source_rate = per_step / added_in
            row = {
                "flood_rate_asked": rate if flooder else None,
                "flood_rate_sent": round((sent1 - sent0) / elapsed),
                "flooder_connections": conns,
                "source_blocks_per_s": round(source_rate, 1),
                "victim_blocks_per_s": round((h1["victim"] - h0["victim"]) / elapsed, 1),
                "other_blocks_per_s": round((h1["other"] - h0["other"]) / elapsed, 1),
            }
            row["victim_ratio"] = round(row["victim_blocks_per_s"] / (per_step / elapsed), 2)
            results.append(row)
            print(json.dumps(row), flush=True)
            # Let the victim catch up before the next step, so each step starts level.
            deadline = time.monotonic() + 60
            while victim.ledger_height(CHANNEL) < seq and time.monotonic() < deadline:
                time.sleep(0.2)
        kept = [r["flood_rate_sent"] for r in results if r["flood_rate_asked"] is not None and r["victim_ratio"] >= 0.9]
        summary = {"lib": a.lib, "members": a.members, "steps": results,
                   "highest_flood_rate_with_full_commit_rate": max(kept) if kept else 0}
        print(json.dumps({"summary": summary["highest_flood_rate_with_full_commit_rate"]}))
        if a.out:
            Path(a.out).write_text(json.dumps(summary, indent=1))
    finally:
        for p in peers:
            try:
                p.stop()
            except Exception:
                pass


if __name__ == "__main__":
    main()
