"""fabgossip peers as members of the stock Fabric network: a peer of each host kind (the
Python peer, gopeer, the C peer), each holding a spare cryptogen Org1 identity, started from
Fabric's own sampleconfig core.yaml with the CORE_PEER_* overrides a Fabric peer would get,
joins the channel with its genesis block and syncs every block by gossip. Checked on Fabric's
side: their blocks are byte-identical to `peer channel fetch` from the orderer (and to a Fabric
peer's copy but for the metadata a Fabric peer adds at commit), Fabric's discovery service lists
them with their heights, and the Fabric peers' /metrics count them as channel members."""

import hashlib
import os
import sys
from pathlib import Path

import pytest

from network import block_header, block_header_hash, metric, wait_until

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, free_port, python_peer_argv  # noqa: E402
from fabgossip_peers import block_fields  # noqa: E402
from members import core_env  # noqa: E402

LIB = Path(os.environ.get("FABGOSSIP_LIB", REPO / "target" / "release" / "libfabgossip.so"))
BLOCKS = 4


def fabgossip_env(net, identity, port, home, bootstrap):
    """The core.yaml overrides of an Org1 fabgossip peer that is not its org's leader."""
    return core_env(net, identity, "Org1MSP", port, home, bootstrap)


# Each host kind with its own spare Org1 identity, and what its ledger tells about its blocks:
# "bytes" (every block), "sha256" (every block's hash) or nothing but the height.
HOSTS = {
    "python": (0, lambda cfg: python_peer_argv(cfg) + ["--ledger", "python"], "bytes"),
    "go": (1, lambda cfg: [str(REPO / "build" / "gopeer"), "--config", str(cfg),
                           "--ledger", "go"], "sha256"),
    "c": (2, lambda cfg: [str(REPO / "build" / "c" / "peer"), "--config", str(cfg)], None),
}
MAKE = {"go": "make gopeer", "c": "make -C tests/c peer"}


@pytest.fixture(scope="module")
def fg_peers(net):
    """The fabgossip peers (python, go, c), each joined to the channel with its genesis block."""
    if not LIB.is_file():
        pytest.fail(f"{LIB} missing: run `cargo build --release --locked`")
    peers = {}
    try:
        for kind, (index, argv, _ledger) in HOSTS.items():
            program = Path(argv("core.yaml")[0])
            if kind != "python" and not program.is_file():
                pytest.fail(f"{program} missing: run `{MAKE[kind]}`")
            identity = net.spare_identity("Org1MSP", index)
            port = free_port()
            home = net.root / f"fabgossip-{kind}"
            home.mkdir(exist_ok=True)
            env = fabgossip_env(net, identity, port, home, net.peer("peer0.org1").address)
            peer = PeerProcess(argv(net.sampleconfig / "core.yaml"), log_path=home / "peer.log",
                               env=env, ready_timeout=60)
            peer.kind, peer.address, peer.log_path = kind, f"127.0.0.1:{port}", home / "peer.log"
            peers[kind] = peer
            peer.join_block(net.channel, net.genesis_block.read_bytes())
        yield peers
    finally:
        for peer in peers.values():
            peer.stop()


@pytest.fixture(scope="module")
def fg_peer(fg_peers):
    return fg_peers["python"]


def ledger_block(peer, channel, n):
    return bytes.fromhex(peer.command(f"ledger_block {channel} {n}", "ledger_block")["block"])


def ledger_blocks(peer, channel):
    """The SHA-256 of every block in the peer's ledger (the Python peer's --ledger python)."""
    return peer.command(f"ledger_blocks {channel}", "ledger_blocks")


def test_fabgossip_peers_join_with_the_genesis_block_and_sync(net, fg_peers):
    ch = net.channel
    height = net.make_blocks(BLOCKS)
    for peer in fg_peers.values():
        try:
            wait_until(f"the {peer.kind} fabgossip peer to reach height {height}",
                       lambda: peer.ledger_height(ch) >= height, 120, interval=0.5)
        except Exception:
            raise AssertionError(f"{peer.kind} peer log:\n{peer.log_path.read_text()[-6000:]}")
    fabric = net.peer("peer1.org1")
    wanted = [net.genesis_block.read_bytes()] + [net.fetch_orderer_block(n)
                                                 for n in range(1, height)]
    # A block taken by state transfer is the sender's committed copy: a Fabric peer's adds the
    # TRANSACTIONS_FILTER and COMMIT_HASH metadata (the same at every Fabric peer), so a block
    # is either the orderer's bytes or a Fabric peer's.
    committed = [net.fetch_block(fabric, n) for n in range(height)]
    for peer in fg_peers.values():
        if HOSTS[peer.kind][2] is None:
            continue
        got = ledger_blocks(peer, ch)
        assert got["height"] >= height
        for n, want in enumerate(wanted):
            digests = {hashlib.sha256(want).hexdigest(), hashlib.sha256(committed[n]).hexdigest()}
            assert got["sha256"][n] in digests, (peer.kind, n)
    python = fg_peers["python"]
    for n, want in enumerate(wanted):
        mine = ledger_block(python, ch, n)
        assert mine in (want, committed[n]), f"block {n} is neither the orderer's nor a Fabric peer's"
        # Whatever the source, header, data and the orderer's signatures are the orderer's.
        assert block_header_hash(mine) == block_header_hash(want), n
        (h1, d1, m1), (h2, d2, m2) = block_fields(mine), block_fields(want)
        assert (h1, d1, m1[0]) == (h2, d2, m2[0]), f"block {n}: header, data or signatures"


def test_fabric_discovery_lists_the_fabgossip_peers_with_their_heights(net, fg_peers):
    ch = net.channel
    for peer in fg_peers.values():
        height = peer.ledger_height(ch)
        assert height >= 1

        def listed(peer=peer):
            for p in net.discover_peers(net.peer("peer0.org1")):
                if p["Endpoint"] == peer.address:
                    return p
            return None
        found = wait_until(f"Fabric's discovery to list the {peer.kind} fabgossip peer", listed,
                           60, interval=1.0)
        assert found["MSPID"] == "Org1MSP"
        wait_until(f"discovery to report the {peer.kind} fabgossip peer's height",
                   lambda: (listed() or {}).get("LedgerHeight", 0) >= height, 60, interval=1.0)


def test_fabgossip_peers_see_every_fabric_peer_of_both_orgs_in_the_channel(net, fg_peers):
    # Org2's StateInfo verifies only under the channel's MSPs, which come from the config block.
    fabric = {p.address: p.mspid for p in net.peers}
    for peer in fg_peers.values():
        def seen(peer=peer):
            return {p["endpoint"]: p["org"] for p in peer.channel_peers(net.channel)
                    if p["endpoint"] in fabric}
        wait_until(f"the {peer.kind} fabgossip peer to see every Fabric peer in the channel",
                   lambda: seen() == fabric, 60, interval=0.5)


def test_fabric_peers_count_the_fabgossip_peers_as_members(net, fg_peers):
    # Each Org1 Fabric peer knows the two other Fabric peers and every fabgossip peer.
    expected = len(net.peers) - 1 + len(fg_peers)
    for name in ("peer0.org1", "peer1.org1"):
        p = net.peer(name)
        wait_until(f"{name} to count {expected} channel members",
                   lambda p=p: metric(net.metrics(p), "gossip_membership_total_peers_known",
                                      channel=net.channel) == expected, 60, interval=1.0)


def _key(num, wire):
    return _uvarint(num << 3 | wire)


def _uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes_field(num, value):
    return _key(num, 2) + _uvarint(len(value)) + value


def reheaded(block, number, previous_hash, signatures=None):
    """`block` with a new header number and previous hash (same data and data hash) and,
    when given, its SIGNATURES metadata entry replaced."""
    _header, data, metadata = block_fields(block)
    _n, _prev, data_hash = block_header(block)
    header = (_key(1, 0) + _uvarint(number) + _bytes_field(2, previous_hash)
              + _bytes_field(3, data_hash))
    if signatures is not None:
        metadata = [signatures] + metadata[1:]
    md = b"".join(_bytes_field(1, m) for m in metadata)
    return _bytes_field(1, header) + _bytes_field(2, data) + _bytes_field(3, md)


def test_blocks_without_a_valid_orderer_signature_are_refused(net, fg_peer):
    ch = net.channel
    height = fg_peer.ledger_height(ch)
    last = ledger_block(fg_peer, ch, height - 1)
    # The orderer's signature of block height-1 does not cover a header numbered `height`.
    forged = reheaded(last, height, block_header_hash(last))
    with pytest.raises(RuntimeError, match="BlockValidation"):
        fg_peer.add_block(ch, height, forged)
    unsigned = reheaded(last, height, block_header_hash(last), signatures=b"")
    with pytest.raises(RuntimeError, match="no SIGNATURES metadata"):
        fg_peer.add_block(ch, height, unsigned)
    assert fg_peer.ledger_height(ch) == height
    # The peer goes on syncing the real blocks.
    target = net.make_blocks(1)
    wait_until(f"the fabgossip peer to reach height {target}",
               lambda: fg_peer.ledger_height(ch) >= target, 60, interval=0.5)
    assert ledger_block(fg_peer, ch, target - 1) == net.fetch_orderer_block(target - 1)
