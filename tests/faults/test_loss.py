"""A lossy, slow segment (every frame dropped with probability 20 %, the rest 50 ms late, on
the userspace wire): membership still forms, every peer commits every block, exactly once."""

import hashlib
import time

import pytest

from fabgossip.blocks import chain
from conftest import FABRIC_NODE, add_blocks, figure, heights, wait_until

CHANNEL = "lossy"
JOIN = {"sequence": 1, "members": ["Org1MSP"]}
LOSS, DELAY = 0.20, 0.050
# Retransmission under 20 % loss takes seconds: timeouts that do not mistake it for a crash.
GOSSIP = {"aliveTimeInterval": "500ms", "aliveExpirationTimeout": "10s", "dialTimeout": "5s",
          "connTimeout": "5s", "digestWaitTime": "200ms", "requestWaitTime": "500ms",
          "responseWaitTime": "1s", "pullInterval": "1s", "publishStateInfoInterval": "500ms",
          "state": {"enabled": True, "responseTimeout": "5s"}}
N = 5
BLOCKS = 40


@pytest.mark.parametrize("kind", ["fabgossip", "fabric"])
def test_every_block_reaches_every_peer_under_loss_and_delay(cluster, kind):
    """kind=fabric: Fabric's gossip nodes (build/fabricnode) on the same wire with the same
    membership timers, for the times beside fabgossip's (printed, not asserted)."""
    if kind == "fabric" and not FABRIC_NODE.exists():
        pytest.skip("build/fabricnode missing: run `make fabricnode`")
    c = cluster(N, kind="wire", loss=LOSS, delay=DELAY)
    started_at = time.monotonic()
    for i in range(N):
        boot = [0] if i else [1]
        if kind == "fabric":
            c.start_fabric(i, bootstrap=boot, args=[
                "--state-transfer", "--alive-interval", GOSSIP["aliveTimeInterval"],
                "--alive-expiration", GOSSIP["aliveExpirationTimeout"],
                "--state-info-interval", GOSSIP["publishStateInfoInterval"]])
        else:
            c.start(i, bootstrap=boot, extra_gossip=GOSSIP)
    peers = c.peers
    blocks = chain(BLOCKS)
    for p in peers:
        p.join(CHANNEL, JOIN)
        # Each peer starts from the genesis block, as a Fabric peer joins with it.
        p.add_block(CHANNEL, 0, blocks[0])
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == N - 1 for p in peers), 120, 0.25), \
        [len(p.channel_peers(CHANNEL)) for p in peers]
    membership_s = time.monotonic() - started_at
    for p in peers:
        p.watch(CHANNEL, poll_ms=2 if kind == "fabgossip" else None)
    added_at = time.monotonic()
    add_blocks(peers[0], CHANNEL, blocks, 1, BLOCKS)
    assert wait_until(lambda: heights(peers, CHANNEL) == [BLOCKS] * N, 120, 0.1), heights(peers, CHANNEL)
    all_s = time.monotonic() - added_at
    stats = c.net.wire_stats()
    # The wire did drop frames: the loss was real.
    assert stats["dropped"] > 0, stats
    for p in peers:
        seqs = [m["seq"] for m in p.commits if m["channel"] == CHANNEL]
        assert seqs == list(range(1, BLOCKS)), seqs
    figure("loss_delay", kind=kind, peers=N, blocks=BLOCKS, loss=LOSS, delay_s=DELAY,
           membership_s=round(membership_s, 2), all_committed_s=round(all_s, 2),
           frames_dropped=stats["dropped"], frames_forwarded=stats["forwarded"])
    for p in peers:
        p.stop()
    if kind == "fabric":
        return  # the Fabric node's ledger lives in its memory
    digests = {hashlib.sha256(c.ledger_file(i, CHANNEL).read_bytes()).hexdigest() for i in range(N)}
    assert len(digests) == 1, "the ledgers differ"
