"""Starting fabgossip peers in a fabnet network: the Python peer (`python3 -m fabgossip.peer`)
from Fabric's own sampleconfig core.yaml with the CORE_PEER_* overrides a Fabric peer of the
network gets (network.py's _peer_env), holding a spare cryptogen identity."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, free_port, python_peer_argv  # noqa: E402

from members import core_env  # noqa: E402
from network import _fields, metric, parse_metrics  # noqa: E402

LIB = Path(os.environ.get("FABGOSSIP_LIB", REPO / "target" / "release" / "libfabgossip.so"))


def start_python_peer(net, name, mspid, index, bootstrap, join=True, **overrides):
    """A Python fabgossip peer with spare identity `index` of `mspid` (its blocks kept by the
    Python ledger, so a test reads every block's bytes), joined with the channel's genesis
    block unless join=False. Its log is <network>/fabgossip-<name>/peer.log."""
    if not LIB.is_file():
        raise FileNotFoundError(f"{LIB} missing: run `cargo build --release --locked`")
    identity = net.spare_identity(mspid, index)
    port = free_port()
    home = net.root / f"fabgossip-{name}"
    home.mkdir(exist_ok=True)
    env = core_env(net, identity, mspid, port, home, bootstrap, **overrides)
    argv = python_peer_argv(net.sampleconfig / "core.yaml") + ["--ledger", "python"]
    peer = PeerProcess(argv, log_path=home / "peer.log", env=env, ready_timeout=60)
    peer.name, peer.mspid = name, mspid
    peer.address, peer.log_path = f"127.0.0.1:{port}", home / "peer.log"
    if join:
        peer.join_block(net.channel, net.genesis_block.read_bytes())
    return peer


def log_tail(peer, chars=6000):
    try:
        return peer.log_path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


def ledger_block(peer, channel, n):
    return bytes.fromhex(peer.command(f"ledger_block {channel} {n}", "ledger_block")["block"])


def is_leader(peer, channel):
    return peer.command(f"is_leader {channel}", "is_leader")["leader"]


def peer_metrics(peer):
    """The fabgossip peer's own metrics (`fg_metrics`), parsed."""
    return parse_metrics(peer.command("metrics", "metrics")["text"])


def peer_metric(peer, name, **labels):
    return metric(peer_metrics(peer), name, **labels)


def block_fields(block):
    """(header, data, [metadata entries]) of a marshaled common.Block."""
    header = data = b""
    metadata = []
    for num, value in _fields(block):
        if num == 1:
            header = bytes(value)
        elif num == 2:
            data = bytes(value)
        elif num == 3:
            metadata = [bytes(v) for _n, v in _fields(value)]
    return header, data, metadata
