"""Leadership through the C ABI: six peer processes of two orgs elect one leader per org
(``fg_is_leader`` from each), leadership change callbacks arrive in order, a killed
leader is replaced; in process, a static leader reports its channels."""

import time

import pytest

import fabgossip
from conftest import (LeadershipPeer, free_port, leaders_of, one_stable_leader, peer_config,
                      wait_until)

CHANNEL = "electchannel"
THRESHOLD_S = 2.0
DURATION_S = 1.0
ELECTION = {
    "useLeaderElection": True,
    "orgLeader": False,
    "election": {
        "startupGracePeriod": "3s",
        "membershipSampleInterval": "500ms",
        "leaderAliveThreshold": f"{int(THRESHOLD_S * 1000)}ms",
        "leaderElectionDuration": f"{int(DURATION_S * 1000)}ms",
    },
}


@pytest.fixture
def spawn_leader_peer(spawn_peer):
    return lambda name, config_text: spawn_peer(name, config_text, kind=LeadershipPeer)


def assert_in_order(peer):
    """Changes alternate, starting with becoming leader."""
    seq = [leader for (ch, leader) in peer.leadership if ch == CHANNEL]
    assert seq == [i % 2 == 0 for i in range(len(seq))], seq
    return seq


def test_six_processes_one_leader_per_org_and_takeover(spawn_leader_peer, tmp_path):
    ports = [free_port() for _ in range(6)]
    orgs = ["Org1MSP"] * 3 + ["Org2MSP"] * 3
    peers = []
    for i, port in enumerate(ports):
        first = 0 if i < 3 else 3
        boot = [] if i == first else [f"127.0.0.1:{ports[first]}"]
        cfg = peer_config(tmp_path / f"p{i}", orgs[i], port, bootstrap=boot,
                          peer_id=f"p{i}", extra_gossip=ELECTION)
        peers.append(spawn_leader_peer(f"p{i}", cfg))
    join = {"sequence": 1, "members": ["Org1MSP", "Org2MSP"],
            "anchor_peers": [{"org": "Org1MSP", "host": "127.0.0.1", "port": ports[0]},
                             {"org": "Org2MSP", "host": "127.0.0.1", "port": ports[3]}]}
    for p in peers:
        p.join(CHANNEL, join)
    with pytest.raises(RuntimeError, match="NOT_FOUND"):
        peers[0].is_leader("nochannel")

    org1, org2 = peers[:3], peers[3:]
    leader1 = one_stable_leader(org1, CHANNEL, THRESHOLD_S, 60)
    leader2 = one_stable_leader(org2, CHANNEL, THRESHOLD_S, 60)
    for p in peers:
        seq = assert_in_order(p)
        # Each leader's last change made it leader; nobody else ends as leader.
        assert (seq[-1:] == [True]) == (p in (leader1, leader2)), (p.pki_id, seq)

    # Kill org 1's leader: one of the other two takes over within threshold + duration
    # (plus slack for a loaded machine); org 2 keeps its leader.
    rest = [p for p in org1 if p is not leader1]
    killed_at = time.monotonic()
    leader1.kill()
    assert wait_until(lambda: len(leaders_of(rest, CHANNEL)) == 1, 30, 0.1)
    took = time.monotonic() - killed_at
    print(f"takeover after {took:.2f}s")
    assert took <= THRESHOLD_S + DURATION_S + 5, took
    new1 = one_stable_leader(rest, CHANNEL, THRESHOLD_S, 30)
    assert wait_until(lambda: new1.leadership[-1:] == [(CHANNEL, True)], 10)
    for p in rest + org2:
        assert_in_order(p)
    assert leaders_of(org2, CHANNEL) == [leader2]


def test_static_leader_callbacks_in_process(service, tmp_path):
    seen = []

    def on_change(channel, leader):
        # Library calls are refused inside a callback.
        try:
            fabgossip.is_leader(channel)
            reentry = "allowed"
        except fabgossip.FabgossipError as e:
            reentry = str(e)
        seen.append((channel, leader, reentry))

    fabgossip.set_leadership_callback(on_change)
    try:
        # The defaults: orgLeader on, no election.
        service.init(peer_config(tmp_path / "solo", "Org1MSP", free_port()))
        with pytest.raises(fabgossip.NotFoundError):
            fabgossip.is_leader("a")
        for ch in ("a", "b"):
            fabgossip.join_channel(ch, {"sequence": 1, "members": ["Org1MSP"]})
            assert fabgossip.is_leader(ch) is True
        fabgossip.leave_channel("a")
        with pytest.raises(fabgossip.NotFoundError):
            fabgossip.is_leader("a")
        # The changes reach the callback on the library's leadership thread, soon after.
        assert wait_until(lambda: len(seen) >= 3, 10)
        assert [(c, l) for (c, l, _) in seen] == [("a", True), ("b", True), ("a", False)]
        assert all("REENTRANT" in r for (_, _, r) in seen), seen
    finally:
        fabgossip.set_leadership_callback(None)
