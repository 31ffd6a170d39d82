"""Block dissemination through the C ABI: eight peer processes of one org on the embedded
defaults (file ledger) join a channel, one of them adds 200 blocks with ``fg_add_payload``,
and every peer's ledger file ends with the same 200 blocks in order; a peer that is down
while blocks are added catches up by pull after a restart with the same data dir and seed."""

import hashlib
import secrets
import struct

from fabgossip.blocks import chain
from conftest import free_port, peer_config, wait_until

CHANNEL = "dissemination"
JOIN = {"sequence": 1, "members": ["Org1MSP"]}
PEERS = 8
# Membership must not flap while eight processes compete for two cores (FAST_GOSSIP's 1 s
# expiration does under this load: pushes then skip peers taken for dead); pull is fast.
GOSSIP = {"aliveTimeInterval": "500ms", "aliveExpirationTimeout": "10s",
          "digestWaitTime": "100ms", "requestWaitTime": "200ms", "responseWaitTime": "300ms",
          "pullInterval": "500ms"}
# Generous: eight processes and the test share a loaded 2-core machine.
MEMBERSHIP_DEADLINE = 60
COMMIT_DEADLINE = 120
ROUND = 50


def ledger_path(data_dir):
    return data_dir / "ledgers" / CHANNEL / "blocks.dat"


def ledger_blocks(data_dir):
    """(seq, block bytes) of every record of the ledger file, in file order (the record
    layout of src/ledger/record.rs: body_len, crc32, seq, then block_len and the block)."""
    data = ledger_path(data_dir).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        body_len, _crc, seq = struct.unpack_from("<IIQ", data, pos)
        body = data[pos + 16:pos + 16 + body_len]
        assert len(body) == body_len, f"torn record at offset {pos}"
        (block_len,) = struct.unpack_from("<I", body, 0)
        out.append((seq, body[4:4 + block_len]))
        pos += 16 + body_len
    return out


def ledger_digest(data_dir):
    return hashlib.sha256(ledger_path(data_dir).read_bytes()).hexdigest()


def start_peers(spawn_peer, tmp_path, seeds, ports):
    peers = []
    for i, port in enumerate(ports):
        boot = [f"127.0.0.1:{ports[1]}"] if i == 0 else [f"127.0.0.1:{ports[0]}"]
        cfg = peer_config(tmp_path / f"p{i}", "Org1MSP", port, bootstrap=boot, peer_id=f"p{i}",
                          seed=seeds[i], extra_gossip=GOSSIP)
        peers.append(spawn_peer(f"p{i}", cfg))
    for p in peers:
        p.join(CHANNEL, JOIN)
    return peers


def add_blocks(peer, blocks, start=0, deadline=COMMIT_DEADLINE):
    """Adds blocks start.. at `peer` as a host does: a block too far above the ledger height
    is refused as busy (FG_STATUS_BUSY) and offered again once commits have progressed."""
    for seq, b in enumerate(blocks, start=start):
        def offered():
            try:
                peer.add_block(CHANNEL, seq, b)
                return True
            except RuntimeError as e:
                if "FG_STATUS_BUSY" not in str(e):
                    raise
                return False
        assert wait_until(offered, deadline, 0.05), f"block {seq} still refused as busy"


def all_see_each_other(peers):
    return all(len(p.channel_peers(CHANNEL)) == len(peers) - 1 for p in peers)


def heights_reach(peers, height, seen):
    """Polls every peer's ledger height into `seen`; true when all are at `height`."""
    def check():
        for i, p in peers.items():
            seen[i] = p.ledger_height(CHANNEL)
        return all(h == height for h in seen.values())
    return check


def assert_same_ledgers(tmp_path, indices, blocks):
    """Every peer's ledger file holds exactly `blocks`, numbered 0.. in order; the files are
    byte-identical."""
    for i in indices:
        records = ledger_blocks(tmp_path / f"p{i}")
        assert [s for s, _ in records] == list(range(len(blocks))), f"peer {i}: sequence order"
        assert [b for _, b in records] == blocks, f"peer {i}: block bytes differ"
    digests = {i: ledger_digest(tmp_path / f"p{i}") for i in indices}
    assert len(set(digests.values())) == 1, digests


def test_eight_peers_commit_200_blocks_added_at_one(spawn_peer, tmp_path):
    ports = [free_port() for _ in range(PEERS)]
    seeds = [secrets.token_hex(32) for _ in range(PEERS)]
    peers = start_peers(spawn_peer, tmp_path, seeds, ports)
    assert wait_until(lambda: all_see_each_other(peers), MEMBERSHIP_DEADLINE, 0.25)

    blocks = chain(200)
    # In rounds of 50: block pull offers only the last 100 committed blocks (no state
    # transfer yet), so the source must not run more than that ahead of the slowest peer.
    seen = {}
    for start in range(0, 200, ROUND):
        add_blocks(peers[0], blocks[start:start + ROUND], start=start)
        assert wait_until(heights_reach(dict(enumerate(peers)), start + ROUND, seen),
                          COMMIT_DEADLINE, 0.5), seen
    for p in peers:
        p.stop()
    assert_same_ledgers(tmp_path, range(PEERS), blocks)


def test_survivors_commit_every_block_when_a_peer_is_killed_mid_stream(spawn_peer, tmp_path):
    """A peer killed while blocks flow is still in the others' views until it is presumed
    dead (its connection is gone): pushes to it are lost meanwhile, and the peers that
    missed a block pull it when the next one reveals the gap."""
    ports = [free_port() for _ in range(PEERS)]
    seeds = [secrets.token_hex(32) for _ in range(PEERS)]
    peers = start_peers(spawn_peer, tmp_path, seeds, ports)
    assert wait_until(lambda: all_see_each_other(peers), MEMBERSHIP_DEADLINE, 0.25)

    blocks = chain(100)
    add_blocks(peers[0], blocks[:30])
    victim = PEERS // 2
    peers[victim].kill()
    add_blocks(peers[0], blocks[30:], start=30)
    survivors = {i: p for i, p in enumerate(peers) if i != victim}
    seen = {}
    assert wait_until(heights_reach(survivors, 100, seen), COMMIT_DEADLINE, 0.5), seen
    for p in survivors.values():
        p.stop()
    assert_same_ledgers(tmp_path, survivors, blocks)


def test_a_restarted_peer_catches_up_by_pull(spawn_peer, tmp_path):
    ports = [free_port() for _ in range(PEERS)]
    seeds = [secrets.token_hex(32) for _ in range(PEERS)]
    peers = start_peers(spawn_peer, tmp_path, seeds, ports)
    assert wait_until(lambda: all_see_each_other(peers), MEMBERSHIP_DEADLINE, 0.25)

    blocks = chain(100)
    late = PEERS - 1
    add_blocks(peers[0], blocks[:50])
    seen = {}
    assert wait_until(heights_reach(dict(enumerate(peers)), 50, seen), COMMIT_DEADLINE, 0.5), seen

    # The late peer goes down; 50 more blocks are added meanwhile (a gap the block pull,
    # which offers the last 100 committed blocks, can fill).
    peers[late].stop()
    others = {i: p for i, p in enumerate(peers) if i != late}
    add_blocks(peers[0], blocks[50:], start=50)
    seen = {}
    assert wait_until(heights_reach(others, 100, seen), COMMIT_DEADLINE, 0.5), seen

    # Back with the same data dir, port and seed: the file ledger still holds 50 blocks, and
    # no block is added any more, so the other 50 can only come by pull.
    cfg = peer_config(tmp_path / f"p{late}", "Org1MSP", ports[late],
                      bootstrap=[f"127.0.0.1:{ports[0]}"], peer_id=f"p{late}", seed=seeds[late],
                      extra_gossip=GOSSIP)
    back = spawn_peer(f"p{late}", cfg)
    assert back.pki_id == peers[late].pki_id
    back.join(CHANNEL, JOIN)
    assert back.ledger_height(CHANNEL) >= 50
    seen = {}
    assert wait_until(heights_reach({late: back}, 100, seen), COMMIT_DEADLINE, 0.5), seen
    back.stop()
    for p in others.values():
        p.stop()
    assert_same_ledgers(tmp_path, range(PEERS), blocks)
