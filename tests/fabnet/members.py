"""fabgossip peers of each host kind as members of the stock network of network.py: the
Python peer, `build/gopeer` (cgo) and the C peer `build/c/peer`, each started from Fabric's
sampleconfig core.yaml with the CORE_PEER_* overrides a Fabric peer of the network gets and a
spare cryptogen identity, then joined with the channel's genesis block (as `peer channel join
-b` does). Used by the `make demo-fabric` demo and the stock-network benchmark."""

import os
import struct
import sys
from pathlib import Path

from network import FabnetError, block_header_hash, metric, wait_until

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, free_port, python_peer_argv  # noqa: E402

LIB = Path(os.environ.get("FABGOSSIP_LIB", REPO / "target" / "release" / "libfabgossip.so"))
GOPEER = REPO / "build" / "gopeer"
CPEER = REPO / "build" / "c" / "peer"

# Host kind: (program, how to build it).
KINDS = {"python": ("python3 -m fabgossip.peer", "make deps-python"),
         "go": (str(GOPEER), "make gopeer"),
         "c": (str(CPEER), "make -C tests/c peer")}


def argv(kind, config, ledger):
    """The command line of a peer of `kind` with the given ledger: "file" (the library's
    embedded file ledger), or the host's own ("python" for the Python peer, "go" for gopeer)."""
    if kind == "python":
        return python_peer_argv(config) + ["--ledger", ledger]
    if kind == "go":
        return [str(GOPEER), "--config", str(config), "--ledger", ledger]
    if kind == "c":
        if ledger != "file":
            raise ValueError("the C peer keeps its blocks in the embedded file ledger")
        return [str(CPEER), "--config", str(config)]
    raise ValueError(f"unknown host kind {kind!r}")


def check_programs(kinds):
    """FabnetError naming what to build when the library or a peer program is missing."""
    if not LIB.is_file():
        raise FabnetError(f"{LIB} missing: run `cargo build --release --locked`")
    for kind in kinds:
        program, make = KINDS[kind]
        if kind != "python" and not Path(program).is_file():
            raise FabnetError(f"{program} missing: run `{make}`")


def core_env(net, identity, mspid, port, home, bootstrap, ops_port=None, **overrides):
    """The overrides of Fabric's core.yaml that network.py gives a Fabric peer, for a peer
    that is not its org's leader; `overrides` are further CORE_* keys (e.g. to lead)."""
    tls = identity / "tls"
    env = {
        "FABGOSSIP_LIB": str(LIB),
        "FABRIC_CFG_PATH": str(net.sampleconfig),
        "CORE_PEER_ID": identity.name,
        "CORE_PEER_LISTENADDRESS": f"127.0.0.1:{port}",
        "CORE_PEER_ADDRESS": f"127.0.0.1:{port}",
        "CORE_PEER_LOCALMSPID": mspid,
        "CORE_PEER_MSPCONFIGPATH": str(identity / "msp"),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
        "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(tls / "ca.crt"),
        "CORE_PEER_GOSSIP_BOOTSTRAP": bootstrap,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": f"127.0.0.1:{port}",
        "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "2s",
        "CORE_PEER_GOSSIP_USELEADERELECTION": "false",
        "CORE_PEER_GOSSIP_ORGLEADER": "false",
        # Fabric's sample core.yaml turns state transfer off and warns that a peer which is
        # not an org leader may then lag for good: a Fabric peer's pull store keeps only the
        # last maxBlockCountToStore (10) blocks, so blocks pushed before the peer was known
        # as a channel member come back only by state transfer.
        "CORE_PEER_GOSSIP_STATE_ENABLED": "true",
        "CORE_PEER_FILESYSTEMPATH": str(home / "data"),
        "FABGOSSIP_LOG": "info",
    }
    if ops_port is not None:
        env["CORE_OPERATIONS_LISTENADDRESS"] = f"127.0.0.1:{ops_port}"
        env["CORE_METRICS_PROVIDER"] = "prometheus"
    env.update(overrides)
    return env


class Member:
    """One running fabgossip peer of the network."""

    def __init__(self, name, kind, mspid, ledger, home, process, port, ops_port):
        self.name, self.kind, self.mspid, self.ledger = name, kind, mspid, ledger
        self.home, self.process, self.port, self.ops_port = home, process, port, ops_port

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self):
        return self.home / "peer.log"

    @property
    def pid(self):
        return self.process.proc.pid

    def height(self, channel):
        return self.process.ledger_height(channel)

    def last_block(self, channel):
        """(height, bytes of the last committed block), read from the ledger this peer keeps:
        the Python peer's own ledger through its `ledger_block` command, the embedded file
        ledger from its files."""
        if self.ledger == "python":
            height = self.height(channel)
            got = self.process.command(f"ledger_block {channel} {height - 1}", "ledger_block")
            return height, bytes.fromhex(got["block"])
        if self.ledger == "file":
            return read_file_ledger_tail(self.home / "data" / "ledgers" / channel)
        raise FabnetError(f"{self.name}: no way to read the last block of a {self.ledger} ledger")

    def last_hash(self, channel):
        """(height, header hash of the last block) as Fabric's `getinfo` reports it."""
        height, block = self.last_block(channel)
        return height, block_header_hash(block)

    def stop(self):
        self.process.stop()


def wait_known(net, members, timeout=60):
    """Until every Fabric peer counts every other peer of the channel, the fabgossip members
    included (`gossip_membership_total_peers_known`): from then on a new block is pushed to
    them too."""
    expected = len(net.peers) - 1 + len(members)
    for p in net.peers:
        wait_until(f"{p.name} to count {expected} channel members",
                   lambda p=p: net.check_running() or metric(
                       net.metrics(p), "gossip_membership_total_peers_known",
                       channel=net.channel) == expected, timeout, interval=0.5)


def read_file_ledger_tail(folder):
    """(height, last block bytes) of the embedded file ledger in `folder` (`blocks.idx`: one
    u64 LE offset per block; `blocks.dat` record: body_len u32 | crc u32 | seq u64 | block_len
    u32 | block | ...). Read while the peer runs: only whole index entries are trusted."""
    index = (folder / "blocks.idx").read_bytes()
    height = len(index) // 8
    if height == 0:
        raise FabnetError(f"{folder}: empty ledger")
    (offset,) = struct.unpack_from("<Q", index, (height - 1) * 8)
    with open(folder / "blocks.dat", "rb") as f:
        f.seek(offset)
        head = f.read(20)
        if len(head) < 20:
            raise FabnetError(f"{folder}: record of block {height - 1} cut short")
        _body_len, _crc, seq, block_len = struct.unpack("<IIQI", head)
        if seq != height - 1:
            raise FabnetError(f"{folder}: record at {offset} carries block {seq}, "
                              f"expected {height - 1}")
        block = f.read(block_len)
    if len(block) != block_len:
        raise FabnetError(f"{folder}: block {seq} cut short")
    return height, block


def start_member(net, kind, mspid, spare_index, *, ledger="file", name=None, ops_port=None,
                 bootstrap=None, log="info", ready_timeout=60):
    """Starts a fabgossip peer of `kind` with spare identity `spare_index` of `mspid` and joins
    it to the channel with the genesis block. bootstrap: the org's Fabric peer0 by default."""
    identity = net.spare_identity(mspid, spare_index)
    short = identity.name.split(".example.com")[0]  # peerN.orgM
    name = name or short
    port = free_port()
    home = net.root / f"fabgossip-{name}"
    home.mkdir(parents=True, exist_ok=True)
    org = "org1" if mspid == "Org1MSP" else "org2"
    boot = bootstrap or net.peer(f"peer0.{org}").address
    env = core_env(net, identity, mspid, port, home, boot, ops_port)
    env["FABGOSSIP_LOG"] = log
    process = PeerProcess(argv(kind, net.sampleconfig / "core.yaml", ledger),
                          log_path=home / "peer.log", env=env, ready_timeout=ready_timeout)
    member = Member(name, kind, mspid, ledger, home, process, port, ops_port)
    try:
        process.join_block(net.channel, net.genesis_block.read_bytes())
    except BaseException:
        member.stop()
        raise
    return member
