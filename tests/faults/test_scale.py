"""A larger network: FABGOSSIP_FAULTS_PEERS hosts (default 50), each running a peer process,
all bootstrapping to two of them. Membership converges to the full view; then a tenth of the
peers is killed -9 (half of them after their host's link went down, so no FIN or RST tells
anyone) and every survivor drops exactly those."""

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import figure, wait_until

N = int(os.environ.get("FABGOSSIP_FAULTS_PEERS", "50"))
# Default-like membership timers: fifty processes on two cores must not be taken for dead
# because the machine is busy.
GOSSIP = {"aliveTimeInterval": "1s", "aliveExpirationTimeout": "10s", "reconnectInterval": "2s",
          "dialTimeout": "3s", "connTimeout": "3s"}


def test_membership_of_a_large_network_converges_and_drops_the_killed(cluster):
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
    assert wait_until(lambda: converged(range(N), everyone), 180, 0.5), missing
    view_s = time.monotonic() - started_at

    rng = random.Random(N)
    victims = set(rng.sample(range(2, N), max(1, N // 10)))
    killed_at = time.monotonic()
    for i in victims:
        if i % 2:
            c.net.isolate(i)  # a host that vanishes: its connections never see a FIN
        c.peers[i].kill()
    survivors = [i for i in range(N) if i not in victims]
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
    figure("large_membership", peers=N, started_s=round(ready_s, 2), full_view_s=round(view_s, 2),
           killed=len(victims), vanished=len(vanished), killed_dropped_s=round(closed_s, 2),
           all_dropped_s=round(drop_s, 2),
           rss_mb_mean=round(sum(rss) / len(rss) / 1024, 1))
