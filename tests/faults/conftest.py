"""Fault suite fixtures: peer processes on hosts of their own (network namespaces), with the
peer-process helpers of tests/python (config text, process driving, leaders) reused as is.

Needs root and iproute2. When namespaces cannot be made the suite FAILS with the reason: a
fault suite that silently skips proves nothing.
"""

import importlib.util
import json
import secrets
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peers_support = _load("fabgossip_peer_fixtures", REPO / "tests" / "python" / "conftest.py")

import netns  # noqa: E402
from fabgossip import process  # noqa: E402

FABRIC_NODE = REPO / "build" / "fabricnode"

# Reused from tests/python: stops every peer process after its test.
spawn_peer = peers_support.spawn_peer
PeerProcess = peers_support.PeerProcess
LeadershipPeer = peers_support.LeadershipPeer
peer_config = peers_support.peer_config
default_peer_argv = peers_support.default_peer_argv
leaders_of = peers_support.leaders_of
wait_until = peers_support.wait_until
free_port = peers_support.free_port
one_stable_leader = peers_support.one_stable_leader

# Every host listens on the same port, as separate machines do.
PEER_PORT = 7051


def figure(name, **values):
    """Prints a measured figure (pytest -s shows it) and keeps it in build/faults-figures.jsonl."""
    line = {"figure": name, **values}
    print(f"FIGURE {json.dumps(line)}")
    out = REPO / "build" / "faults-figures.jsonl"
    out.parent.mkdir(exist_ok=True)
    with open(out, "a") as f:
        f.write(json.dumps({"t": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **line}) + "\n")


@pytest.fixture(scope="session", autouse=True)
def namespaces_available():
    """Checks once that hosts can be made, and removes what a killed run left behind."""
    try:
        netns.check_available()
    except netns.NetnsError as e:
        pytest.fail(f"fault suite cannot run: {e}", pytrace=False)
    stale = netns.clean_stale()
    if stale:
        print(f"removed stale hosts and links: {stale}")


class FabricNode(process.PeerProcess):
    """A Fabric gossip node process; `is_leader` as the fabgossip peers answer it."""

    def is_leader(self, channel):
        return self.command(f"is_leader {channel}", "is_leader")["leader"]


class Cluster:
    """Peers on the hosts of one `netns.Network`; peer i keeps its identity (seed) and its data
    directory across restarts, so a restarted peer reopens its file ledger."""

    def __init__(self, spawn, tmp_path, net):
        self.spawn = spawn
        self.tmp = tmp_path
        self.net = net
        self.seeds = [secrets.token_hex(32) for _ in range(net.n)]
        self.peers = [None] * net.n
        self.configs = [None] * net.n

    def endpoint(self, i):
        return f"{self.net.addr[i]}:{PEER_PORT}"

    def start(self, i, *, org="Org1MSP", bootstrap=(), extra_gossip=None, kind=None,
              trusted=("Org1MSP",), log_level=None):
        """Starts (or restarts) peer i; `log_level` overrides FABGOSSIP_LOG for this one, its
        log going to `log_path(i)`."""
        if self.configs[i] is None:
            self.configs[i] = peer_config(
                self.tmp / f"p{i}" / "data", org, PEER_PORT, host=self.net.addr[i],
                bootstrap=[self.endpoint(b) for b in bootstrap if b != i], peer_id=f"p{i}",
                seed=self.seeds[i], trusted=trusted, extra_gossip=extra_gossip)
        env = ["env", f"FABGOSSIP_LOG={log_level}"] if log_level else []
        p = self.spawn(f"p{i}", self.configs[i], argv=self.net.prefix(i) + env + default_peer_argv(),
                       kind=kind or PeerProcess)
        self.peers[i] = p
        return p

    def start_fabric(self, i, *, bootstrap=(), args=()):
        """Host i runs Fabric's gossip (`build/fabricnode`, `make fabricnode`) instead, with
        the same identity seed and the same membership timers as FAST_GOSSIP."""
        endpoint = self.endpoint(i)
        argv = self.net.prefix(i) + [
            str(FABRIC_NODE), "--log-spec", "error", "--listen", endpoint, "--msp", "Org1MSP",
            "--seed", self.seeds[i], "--external-endpoint", endpoint,
            "--bootstrap", " ".join(self.endpoint(b) for b in bootstrap if b != i),
            "--alive-interval", "200ms", "--alive-expiration", "1s", "--reconnect-interval", "1s",
            "--state-info-interval", "1s", *args]
        (self.tmp / f"fabric{i}").mkdir(exist_ok=True)
        p = FabricNode(argv, log_path=self.tmp / f"fabric{i}" / "node.log")
        self.peers[i] = p
        return p

    def running(self):
        return [p for p in self.peers if p is not None and p.proc.poll() is None]

    def log_path(self, i):
        return self.tmp / f"p{i}" / "peer.log"

    def ledger_file(self, i, channel):
        return self.tmp / f"p{i}" / "data" / "ledgers" / channel / "blocks.dat"


@pytest.fixture
def cluster(spawn_peer, tmp_path):
    """cluster(n, kind="bridge"|"wire", loss=, delay=) -> a Cluster; the peers are stopped,
    then every namespace, link and the wire removed, also when the test fails."""
    made = []

    def make(n, **net_args):
        net = netns.Network(n, log_dir=tmp_path, **net_args)
        c = Cluster(spawn_peer, tmp_path, net)
        made.append(c)
        return c

    yield make
    for c in made:
        for p in c.running():
            p.kill()
        c.net.close()


def add_blocks(peer, channel, blocks, start, end):
    """Adds blocks[start:end] in order through `fg_add_payload`; a block refused because the
    buffer is full (FG_STATUS_BUSY) is offered again."""
    for seq in range(start, end):
        deadline = time.monotonic() + 30
        while True:
            try:
                peer.add_block(channel, seq, blocks[seq])
                break
            except RuntimeError as e:
                if "BUSY" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


def heights(peers, channel):
    return [p.ledger_height(channel) for p in peers]


@pytest.fixture
def orderer():
    """orderer(*args) -> the test orderer in the root namespace (reachable from every host at
    netns.HOST_ADDR on a bridge network); stopped after the test."""
    # The test orderer driver of tests/python (it imports this module as `conftest`, so it is
    # loaded once this module is complete).
    driver = _load("fabgossip_orderer_driver", REPO / "tests" / "python" / "test_deliver.py")
    started = []

    def start(*args):
        o = driver.Orderer(*args)
        started.append(o)
        return o

    yield start
    for o in started:
        o.stop()
