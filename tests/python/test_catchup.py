"""Catch-up through the C ABI: 8 peer processes on the embedded file ledger with state
transfer on; one adds 200 blocks through fg_add_payload as fast as it takes them; a peer
stopped after 100 blocks and restarted catches up; every ledger file ends identical. With
`make fabricnode`: state transfer both ways between a Fabric gossip node and a fabgossip peer."""

import hashlib
import time
from pathlib import Path

import pytest

from fabgossip import process
from fabgossip.blocks import chain
from conftest import free_port, peer_config, wait_until

CHANNEL = "catchup"
JOIN = {"sequence": 1, "members": ["Org1MSP"]}
GOSSIP = {"digestWaitTime": "100ms", "requestWaitTime": "200ms", "responseWaitTime": "300ms",
          "pullInterval": "500ms", "publishStateInfoInterval": "200ms",
          "state": {"enabled": True, "responseTimeout": "2s"}}
N = 8


def ledger_file_digest(data_dir):
    path = data_dir / "ledgers" / CHANNEL / "blocks.dat"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_all(peer, blocks, start):
    """Adds blocks[start:] in order; a block refused because the buffer is full (FG_STATUS_BUSY)
    is retried."""
    for seq in range(start, len(blocks)):
        deadline = time.monotonic() + 30
        while True:
            try:
                peer.add_block(CHANNEL, seq, blocks[seq])
                break
            except RuntimeError as e:
                if "BUSY" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)


def test_eight_peers_end_with_the_same_200_blocks_and_a_restarted_peer_catches_up(spawn_peer, tmp_path):
    ports = [free_port() for _ in range(N)]
    configs, peers = [], []
    for i, port in enumerate(ports):
        boot = [f"127.0.0.1:{ports[1 if i == 0 else 0]}"]
        cfg = peer_config(tmp_path / f"p{i}", "Org1MSP", port, bootstrap=boot, peer_id=f"p{i}",
                          trusted=("Org1MSP",), extra_gossip=GOSSIP)
        configs.append(cfg)
        peers.append(spawn_peer(f"p{i}", cfg))
    for p in peers:
        p.join(CHANNEL, JOIN)
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == N - 1 for p in peers), 60, 0.25)
    blocks = chain(200)
    add_all(peers[0], blocks, 0)
    last = N - 1
    assert wait_until(lambda: peers[last].ledger_height(CHANNEL) >= 100, 60, 0.1)
    # Stopped after 100 blocks (or a few more), restarted once the rest was added.
    peers[last].stop()
    add_all(peers[0], blocks, 100)
    peers[last] = spawn_peer(f"p{last}-again", configs[last])
    peers[last].join(CHANNEL, JOIN)
    heights = {}

    def all_committed():
        heights.update({i: p.ledger_height(CHANNEL) for i, p in enumerate(peers)})
        return all(h == 200 for h in heights.values())

    assert wait_until(all_committed, 120, 0.25), heights
    for p in peers:
        p.stop()
    digests = {ledger_file_digest(tmp_path / f"p{i}") for i in range(N)}
    assert len(digests) == 1, "the ledgers differ"
    # The file holds the 200 blocks in order: the same bytes as the source's chain.
    data = (tmp_path / "p0" / "ledgers" / CHANNEL / "blocks.dat").read_bytes()
    assert all(b in data for b in (blocks[0], blocks[199]))
    assert data.index(blocks[0]) < data.index(blocks[100]) < data.index(blocks[199])


FABRIC_NODE = Path(__file__).resolve().parents[2] / "build" / "fabricnode"


@pytest.mark.skipif(not FABRIC_NODE.exists(), reason="build/fabricnode missing: run `make fabricnode`")
@pytest.mark.parametrize("source_kind,late_kind", [("fabric", "fabgossip"), ("fabgossip", "fabric")])
def test_state_transfer_between_fabric_and_fabgossip(spawn_peer, tmp_path, source_kind, late_kind):
    """A late peer of one kind catches up 50 blocks from a source of the other kind. Block
    pull cannot close that gap (pull offers only recent blocks, and a gossiped block more than
    blockBufferSize above the height is refused), so state transfer has to."""
    ports = [free_port() for _ in range(2)]
    blocks = chain(51)

    def start(kind, i):
        boot = [f"127.0.0.1:{ports[0]}"] if i else []
        if kind == "fabgossip":
            cfg = peer_config(tmp_path / f"p{i}", "Org1MSP", ports[i], bootstrap=boot, peer_id=f"p{i}",
                              trusted=("Org1MSP",), extra_gossip={"state": {"enabled": True}})
            return spawn_peer(f"p{i}", cfg)
        endpoint = f"127.0.0.1:{ports[i]}"
        argv = [str(FABRIC_NODE), "--log-spec", "error", "--state-transfer", "--listen", endpoint,
                "--msp", "Org1MSP", "--bootstrap", boot[0] if boot else "", "--external-endpoint", endpoint]
        p = process.PeerProcess(argv, log_path=tmp_path / f"fabric{i}.log")
        started.append(p)
        return p

    started = []
    try:
        source = start(source_kind, 0)
        source.join(CHANNEL, JOIN)
        add_all(source, blocks, 0)
        assert wait_until(lambda: source.ledger_height(CHANNEL) == 51, 30, 0.1)
        late = start(late_kind, 1)
        late.join(CHANNEL, JOIN)
        # Genesis comes with the join (Fabric's state provider needs a height of 1 or more).
        late.add_block(CHANNEL, 0, blocks[0])
        # Fabric asks every 10 s (its check interval); StateInfo takes up to 4 s to arrive.
        assert wait_until(lambda: late.ledger_height(CHANNEL) == 51, 60, 0.25)
    finally:
        for p in started:
            p.stop()
