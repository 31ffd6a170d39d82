"""Blocks through the C ABI: one peer process adds blocks, every peer commits them in order
to its file ledger (same bytes everywhere); in process, bad and too-far blocks are refused."""

import hashlib
import time

import pytest

import fabgossip
from fabgossip.blocks import chain
from conftest import free_port, peer_config, wait_until

CHANNEL = "blockchannel"
JOIN = {"sequence": 1, "members": ["Org1MSP"]}
FAST_PULL = {"digestWaitTime": "100ms", "requestWaitTime": "200ms", "responseWaitTime": "300ms",
             "pullInterval": "500ms"}


def ledger_file_digest(data_dir):
    path = data_dir / "ledgers" / CHANNEL / "blocks.dat"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_three_peers_commit_the_blocks_one_of_them_adds(spawn_peer, tmp_path):
    ports = [free_port() for _ in range(3)]
    peers = []
    for i, port in enumerate(ports):
        boot = [] if i == 0 else [f"127.0.0.1:{ports[0]}"]
        cfg = peer_config(tmp_path / f"p{i}", "Org1MSP", port, bootstrap=boot, peer_id=f"p{i}",
                          extra_gossip=FAST_PULL)
        peers.append(spawn_peer(f"p{i}", cfg))
    for p in peers:
        p.join(CHANNEL, JOIN)
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == 2 for p in peers), 20, 0.25)
    blocks = chain(10)
    for seq, b in enumerate(blocks):
        peers[0].add_block(CHANNEL, seq, b)
    heights = {}

    def all_committed():
        heights.update({i: p.ledger_height(CHANNEL) for i, p in enumerate(peers)})
        return all(h == 10 for h in heights.values())

    assert wait_until(all_committed, 20, 0.2), heights
    # Their StateInfo carries the new height.
    assert wait_until(lambda: all(e["ledger_height"] == 10 for e in peers[1].channel_peers(CHANNEL)), 10, 0.2)
    for p in peers:
        p.stop()
    digests = {ledger_file_digest(tmp_path / f"p{i}") for i in range(3)}
    assert len(digests) == 1, "the ledgers differ"


def test_block_calls_in_process(service, tmp_path):
    service.init(peer_config(tmp_path / "solo", "Org1MSP", free_port()))
    blocks = chain(2)
    with pytest.raises(fabgossip.NotFoundError):
        fabgossip.add_payload(CHANNEL, 0, blocks[0])
    fabgossip.join_channel(CHANNEL, JOIN)
    assert fabgossip.ledger_height(CHANNEL) == 0
    with pytest.raises(fabgossip.CryptoError):
        fabgossip.add_payload(CHANNEL, 1, blocks[0])  # header says 0
    with pytest.raises(fabgossip.BusyError):
        fabgossip.add_payload(CHANNEL, 1000, blocks[0])
    fabgossip.add_payload(CHANNEL, 0, blocks[0])
    fabgossip.add_payload(CHANNEL, 1, blocks[1])
    assert wait_until(lambda: fabgossip.ledger_height(CHANNEL) == 2, 10)


def test_watch_reports_every_commit_once_with_a_monotonic_time(spawn_peer, tmp_path):
    port = free_port()
    p = spawn_peer("w0", peer_config(tmp_path / "w0", "Org1MSP", port, peer_id="w0"))
    with pytest.raises(RuntimeError, match="watch"):
        p.watch(CHANNEL)  # not joined yet
    p.join(CHANNEL, JOIN)
    with pytest.raises(RuntimeError, match="poll interval"):
        p.watch(CHANNEL, 5000)
    blocks = chain(4)
    p.add_block(CHANNEL, 0, blocks[0])
    assert wait_until(lambda: p.ledger_height(CHANNEL) == 1, 10)
    p.watch(CHANNEL)
    p.watch(CHANNEL)  # a second watch of the same channel does not double the lines
    before = time.monotonic_ns()
    for seq in range(1, 4):
        p.add_block(CHANNEL, seq, blocks[seq])
    assert wait_until(lambda: len(p.commits) >= 3, 10), p.commits
    time.sleep(0.05)
    # Genesis came before the watch: not reported. Replies still flow between the lines.
    assert [c["seq"] for c in p.commits] == [1, 2, 3]
    assert all(c["channel"] == CHANNEL and before <= c["t_ns"] <= time.monotonic_ns()
               for c in p.commits)
    assert p.ledger_height(CHANNEL) == 4
