"""A larger network: FABGOSSIP_FAULTS_PEERS hosts (default 50), each running a peer process,
all bootstrapping to two of them. Membership converges to the full view and every peer joins a
channel; while one peer adds blocks, a tenth of the peers is killed -9 (some after their host's
link went down, so no FIN or RST tells anyone). Every survivor commits every block, ledgers
equal, and drops exactly the killed from its view."""

import hashlib
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fabgossip.blocks import chain
from conftest import add_blocks, figure, heights, wait_until

N = int(os.environ.get("FABGOSSIP_FAULTS_PEERS", "50"))
# Default-like membership timers: fifty processes on two cores must not be taken for dead
# because the machine is busy.
GOSSIP = {"aliveTimeInterval": "1s", "aliveExpirationTimeout": "10s", "reconnectInterval": "2s",
          "dialTimeout": "3s", "connTimeout": "3s", "pullInterval": "1s",
          "publishStateInfoInterval": "1s", "requestStateInfoInterval": "1s",
          "state": {"enabled": True, "responseTimeout": "3s"}}
CHANNEL = "large"
BLOCKS = 40


def test_a_large_network_converges_and_loses_nothing_when_peers_die(cluster):
    c = cluster(N)
    started_at = time.monotonic()
    # Started a few at a time: each process takes a moment of CPU to load.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda i: c.start(i, bootstrap=[0, 1], extra_gossip=GOSSIP), range(N)))
    ready_s = time.monotonic() - started_at
    ids = [p.pki_id for p in c.peers]
    missing = {}

    def converged(group, expect):
        missing.clear()
        for i in group:
            lacking = len(expect - {ids[i]} - c.peers[i].alive_ids())
            extra = len(c.peers[i].alive_ids() - expect)
            if lacking or extra:
                missing[i] = (lacking, extra)
        return not missing

    everyone = set(ids)
    assert wait_until(lambda: converged(range(N), everyone), 300, 0.5), missing
    view_s = time.monotonic() - started_at

    blocks = chain(BLOCKS)
    for p in c.peers:
        p.join(CHANNEL, {"sequence": 1, "members": ["Org1MSP"]})
        p.add_block(CHANNEL, 0, blocks[0])
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == N - 1 for p in c.peers), 300, 0.5)
    channel_s = time.monotonic() - started_at
    # Blocks flow (about 20/s) while the victims die.
    source = threading.Thread(target=paced, args=(c.peers[0], blocks), daemon=True)
    source.start()
    # Peer 1 (never a victim) tells the progress: peer 0's pipe belongs to the source thread.
    assert wait_until(lambda: c.peers[1].ledger_height(CHANNEL) >= BLOCKS // 3, 60, 0.05)

    rng = random.Random(N)
    victims = set(rng.sample(range(2, N), max(1, N // 10)))
    killed_at = time.monotonic()
    for i in victims:
        if i % 2:
            c.net.isolate(i)  # a host that vanishes: its connections never see a FIN
        c.peers[i].kill()
    source.join(timeout=120)
    assert not source.is_alive()
    survivors = [i for i in range(N) if i not in victims]
    live = [c.peers[i] for i in survivors]
    assert wait_until(lambda: heights(live, CHANNEL) == [BLOCKS] * len(live), 120, 0.25), \
        heights(live, CHANNEL)
    blocks_s = time.monotonic() - killed_at
    left = {ids[i] for i in survivors}
    vanished = {ids[i] for i in victims if i % 2}

    def dropped(gone):
        return all(not (c.peers[i].alive_ids() & gone) for i in survivors)

    # The processes killed on a live link first (their connections close), then the hosts
    # that vanished (only alive expiration tells).
    assert wait_until(lambda: dropped({ids[i] for i in victims} - vanished), 120, 0.5)
    closed_s = time.monotonic() - killed_at
    assert wait_until(lambda: converged(survivors, left), 120, 0.5), missing
    drop_s = time.monotonic() - killed_at
    rss = [c.peers[i].stats()["rss_kb"] for i in survivors]
    figure("large_network", peers=N, started_s=round(ready_s, 2), full_view_s=round(view_s, 2),
           channel_view_s=round(channel_s, 2), killed=len(victims), vanished=len(vanished),
           all_blocks_s=round(blocks_s, 2),
           killed_dropped_s=round(closed_s, 2), all_dropped_s=round(drop_s, 2),
           rss_mb_mean=round(sum(rss) / len(rss) / 1024, 1))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda p: p.stop(), live))
    digests = {hashlib.sha256(c.ledger_file(i, CHANNEL).read_bytes()).hexdigest() for i in survivors}
    assert len(digests) == 1, "the ledgers differ"


def paced(peer, blocks):
    for seq in range(1, len(blocks)):
        add_blocks(peer, CHANNEL, blocks, seq, seq + 1)
        time.sleep(0.05)
