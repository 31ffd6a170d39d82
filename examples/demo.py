#!/usr/bin/env python3
"""fabgossip demo: an ordering service, five peer processes in two organizations, leader
election, a leader failure and a late peer, on the built-in defaults (Ed25519 identities
generated into each peer's data directory, no host callbacks, the embedded file ledger).

The test orderer (`examples/orderer`) serves `mychannel`, its blocks signed with its Ed25519 key.
Org1 has three peers, Org2 two; the first peer of each org is its anchor peer. The demo prints the
views as they form; then every peer joins `mychannel` with a join message that names the orderer
(endpoint and public key, so the built-in crypto verifies the orderer's signature on each block).
Leader election picks one peer per org; only the leaders pull blocks from the orderer, and gossip
carries them to the rest of their org. While the orderer keeps cutting blocks the demo shows every
peer's height and who leads; it kills Org1's leader and shows another Org1 peer take over and
resume from its height; it starts a late Org1 peer that catches up by state transfer; it ends with
a table of every running peer's height and ledger hash, all identical.

    make demo          (builds the library and the test orderer, then runs this)
"""

import hashlib
import json
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, free_port, python_peer_argv, wait_until  # noqa: E402

CHANNEL = "mychannel"
ORGS = ["Org1MSP", "Org2MSP"]
PEERS = [  # (name, org); the late peer is started after the takeover
    ("peer0.org1", "Org1MSP"),
    ("peer1.org1", "Org1MSP"),
    ("peer2.org1", "Org1MSP"),
    ("peer0.org2", "Org2MSP"),
    ("peer1.org2", "Org2MSP"),
]
LATE = ("peer3.org1", "Org1MSP")
FIRST_BLOCKS = 20  # in the orderer's chain before any peer joins
CUT = 2  # blocks the orderer cuts ...
CUT_EVERY_S = 0.25  # ... this often while the demo runs
# Shorter than core.yaml so the demo shows an election, a takeover and a catch-up within seconds.
LEADER_ALIVE_THRESHOLD_S = 2.0
GOSSIP = {
    "aliveTimeInterval": "500ms", "aliveExpirationTimeout": "2s", "reconnectInterval": "1s",
    "dialTimeout": "1s", "connTimeout": "1s", "pullInterval": "1s",
    "requestStateInfoInterval": "1s", "publishStateInfoInterval": "500ms",
    "useLeaderElection": True, "orgLeader": False,
    "election": {
        "startupGracePeriod": "3s", "membershipSampleInterval": "500ms",
        "leaderAliveThreshold": f"{int(LEADER_ALIVE_THRESHOLD_S * 1000)}ms",
        "leaderElectionDuration": "1s",
    },
    "state": {"enabled": True, "checkInterval": "1s", "responseTimeout": "2s"},
}
ORDERER_BIN = REPO / "target" / "release" / "examples" / "orderer"


class Orderer:
    """The test orderer process: a JSON `ready` line first, then one JSON line per command."""

    def __init__(self, log_path):
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [str(ORDERER_BIN), "--channel", CHANNEL, "--blocks", str(FIRST_BLOCKS),
             "--listen", f"127.0.0.1:{free_port()}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.lines = queue.Queue()
        self.lock = threading.Lock()  # one command and its answer at a time
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self._expect("ready")
        self.height = self.ready["height"]

    def _read(self):
        for raw in self.proc.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                pass
        self.lines.put(None)

    def _expect(self, event, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"the orderer gave no {event!r} line within {timeout} s")
            if msg is None:
                raise RuntimeError(f"the orderer exited before {event!r}")
            if msg.get("event") == "error":
                raise RuntimeError(f"orderer: {msg.get('error')}")
            if msg.get("event") == event:
                return msg

    def cut(self, n):
        with self.lock:
            self.proc.stdin.write(f"cut {n}\n".encode())
            self.proc.stdin.flush()
            self.height = self._expect("cut")["height"]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # end of input stops it
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class Cutter(threading.Thread):
    """Cuts CUT blocks every CUT_EVERY_S until stopped, as a running ordering service does."""

    def __init__(self, orderer):
        super().__init__(daemon=True)
        self.orderer = orderer
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stopping.wait(CUT_EVERY_S):
                self.orderer.cut(CUT)
        except Exception as e:  # reported by the main thread
            self.error = e


def config(name, org, port, boot, anchors, data):
    addr = f"127.0.0.1:{port}"
    gossip = dict(GOSSIP, bootstrap=" ".join(boot), externalEndpoint=addr)
    return json.dumps({
        "peer": {"id": name, "localMspId": org, "listenAddress": addr, "address": addr,
                 "fileSystemPath": str(data), "gossip": gossip},
        "fabgossip": {"trustedOrgs": ORGS, "anchorPeers": anchors, "ledgerFsync": False},
    }, indent=1)


def metric(text, name):
    """The sum of `name`'s samples for CHANNEL (or unlabelled) in Prometheus text."""
    total = 0
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == name or (key.startswith(name + "{") and f'channel="{CHANNEL}"' in key):
            total += float(value)
    return int(total)


def ledger_hash(data_dir):
    path = data_dir / "ledgers" / CHANNEL / "blocks.dat"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "-"


class Demo:
    def __init__(self, work, lib):
        self.work = work
        self.lib = lib
        self.procs = {}  # name -> PeerProcess, running peers only
        self.orgs = {}
        self.ports = {}
        self.t0 = time.monotonic()

    def clock(self):
        return f"t={time.monotonic() - self.t0:5.1f}s"

    def start_peer(self, name, org, boot):
        d = self.work / name
        d.mkdir()
        cfg = d / "core.yaml"
        anchors = [{"host": "127.0.0.1", "port": self.ports[n], "mspid": o}
                   for n, o in PEERS if n.startswith("peer0.")]
        cfg.write_text(config(name, org, self.ports[name], boot, anchors, d))
        p = PeerProcess(python_peer_argv(cfg), log_path=d / "peer.log",
                        env={"FABGOSSIP_LIB": str(self.lib)}, ready_timeout=60)
        self.procs[name] = p
        self.orgs[name] = org
        return p

    def join(self, name, orderer):
        msg = {"sequence": 1, "members": ORGS,
               "orderers": [{"endpoint": orderer.ready["endpoint"],
                             "public_key": orderer.ready["public_key"]}]}
        self.procs[name].join(CHANNEL, msg)

    def heights(self):
        return {n: p.ledger_height(CHANNEL) for n, p in self.procs.items()}

    def leaders(self):
        return {n for n, p in self.procs.items()
                if p.command(f"is_leader {CHANNEL}", "is_leader", timeout=30)["leader"]}

    def leader_of(self, org, leaders):
        found = sorted(n for n in leaders if self.orgs[n] == org)
        return ", ".join(found) if found else "(none)"

    def progress_line(self, heights, leaders, target):
        cells = "  ".join(f"{n}={h}{'*' if n in leaders else ''}" for n, h in heights.items())
        print(f"  {self.clock()}  orderer={target}  {cells}")

    def watch(self, until, limit_s, what, every_s=1.0):
        """Prints heights (leaders starred) about once a second until `until(heights, leaders)`
        holds; exits with `what` when it does not within `limit_s`."""
        deadline = time.monotonic() + limit_s
        next_print = 0.0
        while True:
            heights, leaders = self.heights(), self.leaders()
            done = until(heights, leaders)
            if done or time.monotonic() >= next_print:
                self.progress_line(heights, leaders, self.orderer.height)
                next_print = time.monotonic() + every_s
            if done:
                return heights, leaders
            if self.cutter is not None and self.cutter.error is not None:
                sys.exit(f"the orderer failed: {self.cutter.error}")
            if time.monotonic() > deadline:
                sys.exit(f"{what} did not happen within {limit_s:.0f} s")
            time.sleep(0.2)

    def one_leader_per_org(self, leaders):
        return all(sum(1 for n in leaders if self.orgs[n] == org) == 1 for org in ORGS)

    def run(self):
        self.orderer = Orderer(self.work / "orderer.log")
        self.cutter = None
        print(f"test orderer at {self.orderer.ready['endpoint']} serving {CHANNEL} "
              f"({FIRST_BLOCKS} blocks), public key {self.orderer.ready['public_key'][:16]}...")

        for name, _ in PEERS + [LATE]:
            self.ports[name] = free_port()
        for name, org in PEERS:
            first = next(n for n, o in PEERS if o == org)
            self.start_peer(name, org, [] if name == first else [f"127.0.0.1:{self.ports[first]}"])
        print(f"{self.clock()}  started {len(self.procs)} peers "
              f"({', '.join(self.procs)}); data under {self.work}")

        others = len(self.procs) - 1
        ok = wait_until(lambda: all(len(p.alive_ids()) == others for p in self.procs.values()),
                        timeout=40, interval=0.1)
        if not ok:
            sys.exit("membership did not converge within 40 s")
        print(f"{self.clock()}  every peer sees the other {others}")

        for name in self.procs:
            self.join(name, self.orderer)
        print(f"{self.clock()}  all peers joined {CHANNEL} (the join message names the orderer); "
              f"electing one leader per org, which pulls from the orderer (* = leader)")
        self.cutter = Cutter(self.orderer)
        self.cutter.start()
        _, leaders = self.watch(
            lambda h, l: self.one_leader_per_org(l) and min(h.values()) >= FIRST_BLOCKS,
            60, "one leader per org and every peer at the orderer's first blocks")
        for org in ORGS:
            print(f"  {org} leader: {self.leader_of(org, leaders)}")

        # A few seconds of steady state: the leaders pull, gossip spreads within each org.
        until = time.monotonic() + 3
        self.watch(lambda h, l: time.monotonic() >= until, 30, "the steady state")

        victim = self.leader_of("Org1MSP", leaders)
        print(f"\n{self.clock()}  killing {victim}, Org1's leader (leaderAliveThreshold "
              f"{LEADER_ALIVE_THRESHOLD_S:g}s) ...")
        killed_at = time.monotonic()
        self.procs.pop(victim).kill()
        _, leaders = self.watch(
            lambda h, l: any(self.orgs[n] == "Org1MSP" for n in l), 60, "the takeover")
        print(f"{self.clock()}  {self.leader_of('Org1MSP', leaders)} took over Org1 after "
              f"{time.monotonic() - killed_at:.1f} s")
        target = self.orderer.height
        self.watch(lambda h, l: min(h.values()) >= target, 60,
                   "the resumption at the new leader")

        name, org = LATE
        boot = [f"127.0.0.1:{self.ports[n]}" for n in self.procs if self.orgs[n] == org]
        late = self.start_peer(name, org, boot[:1])
        self.join(name, self.orderer)
        behind = self.orderer.height
        print(f"\n{self.clock()}  started {name} late and joined it at height 0, "
              f"{behind} blocks behind; it catches up by state transfer")
        started = time.monotonic()
        self.watch(lambda h, l: h[name] >= behind, 60, "the late peer's catch-up")
        print(f"{self.clock()}  {name} caught up {behind} blocks in "
              f"{time.monotonic() - started:.1f} s")
        text = late.command("metrics", "metrics", timeout=30)["text"]
        committed, pushed, pulled = (metric(text, f"fabgossip_blocks_{m}")
                                     for m in ("committed", "pushed_in", "pulled"))
        # Push and pull only carry the newest blocks; the rest came by state transfer.
        print(f"  its metrics: {committed} blocks committed, {pushed} received by push, "
              f"{pulled} by pull")

        self.cutter.stopping.set()
        self.cutter.join(timeout=30)
        final = self.orderer.height
        print(f"\n{self.clock()}  the orderer stops at height {final}")
        heights, leaders = self.watch(lambda h, l: all(v == final for v in h.values()), 60,
                                      "every peer at the orderer's height")

        print(f"\n{'peer':12} {'org':8} {'leader':6} {'height':>6}  ledger hash "
              f"(SHA-256 of the block file)")
        hashes = set()
        for n, p in self.procs.items():
            h = ledger_hash(self.work / n)
            hashes.add(h)
            print(f"{n:12} {self.orgs[n]:8} {'yes' if n in leaders else '':6} "
                  f"{heights[n]:>6}  {h}")
        print(f"{victim:12} {'Org1MSP':8} {'':6} {'-':>6}  (killed)")
        if len(hashes) != 1:
            sys.exit("LEDGERS DIFFER")
        print(f"all {len(self.procs)} ledgers identical; demo done in "
              f"{time.monotonic() - self.t0:.1f} s")


def main():
    lib = REPO / "target" / "release" / "libfabgossip.so"
    for f in (lib, ORDERER_BIN):
        if not f.exists():
            sys.exit(f"{f} is missing: run `make demo` (it builds the library and the orderer)")
    work = Path(tempfile.mkdtemp(prefix="fabgossip-demo-"))
    demo = Demo(work, lib)
    try:
        demo.run()
    finally:
        if getattr(demo, "cutter", None) is not None:
            demo.cutter.stopping.set()
        for p in demo.procs.values():
            p.stop()
        if getattr(demo, "orderer", None) is not None:
            demo.orderer.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
