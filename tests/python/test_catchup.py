"""Catch-up through the C ABI: 8 peer processes on the embedded file ledger with state
transfer on; one adds 200 blocks through fg_add_payload as fast as it takes them; a peer
stopped after 100 blocks and restarted catches up; every ledger file ends identical."""

import hashlib
import time

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
