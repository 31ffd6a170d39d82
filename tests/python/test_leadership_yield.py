"""Leadership yield and the leadership callback's own thread, through the C ABI, and the
error detail of the channel calls.

- Three peer processes of one org elect a leader; it yields (``fg_yield_leadership``),
  another peer takes over, and both callbacks report the change.
- A leadership callback that sleeps 2 s does not stall block dissemination: blocks added at
  the new leader, whose callback sleeps, reach the other peer while it still sleeps.
- In process: refused channel calls raise errors whose ``detail`` says why.
"""


import pytest

import fabgossip
from fabgossip import blocks
from conftest import (LeadershipPeer, default_peer_argv, free_port, leaders_of, one_stable_leader,
                      peer_config, wait_until)

CHANNEL = "yieldchannel"
THRESHOLD_S = 2.0
ELECTION = {
    "useLeaderElection": True,
    "orgLeader": False,
    "election": {
        "startupGracePeriod": "2s",
        "membershipSampleInterval": "300ms",
        "leaderAliveThreshold": f"{int(THRESHOLD_S * 1000)}ms",
        "leaderElectionDuration": "600ms",
    },
}


@pytest.fixture
def spawn(spawn_peer):
    def start(name, config_text, extra_args=()):
        return spawn_peer(name, config_text, argv=default_peer_argv() + list(extra_args),
                          kind=LeadershipPeer)
    return start


def test_the_leader_yields_and_another_peer_takes_over(spawn, tmp_path):
    ports = [free_port() for _ in range(3)]
    peers = []
    for i, port in enumerate(ports):
        boot = [] if i == 0 else [f"127.0.0.1:{ports[0]}"]
        cfg = peer_config(tmp_path / f"p{i}", "Org1MSP", port, bootstrap=boot, peer_id=f"p{i}",
                          extra_gossip=ELECTION)
        peers.append(spawn(f"p{i}", cfg))
    for p in peers:
        p.join(CHANNEL, {"sequence": 1, "members": ["Org1MSP"]})
    old = one_stable_leader(peers, CHANNEL, THRESHOLD_S, 60)
    assert wait_until(lambda: old.leadership[-1:] == [(CHANNEL, True)], 10)

    old.yield_leadership(CHANNEL)
    # It steps down at once and its callback says so.
    assert old.is_leader(CHANNEL) is False
    assert wait_until(lambda: old.leadership[-1:] == [(CHANNEL, False)], 10), old.leadership
    rest = [p for p in peers if p is not old]
    new = one_stable_leader(rest, CHANNEL, THRESHOLD_S, 30)
    assert wait_until(lambda: new.leadership[-1:] == [(CHANNEL, True)], 10), new.leadership
    # The yielder stays out for a while: only the new leader leads.
    assert leaders_of(peers, CHANNEL) == [new]
    for p in peers:
        seq = [leader for (ch, leader) in p.leadership if ch == CHANNEL]
        assert seq == [i % 2 == 0 for i in range(len(seq))], (p.pki_id, seq)

    # A peer that does not lead has nothing to yield.
    follower = next(p for p in rest if p is not new)
    follower.yield_leadership(CHANNEL)
    assert leaders_of(peers, CHANNEL) == [new]
    with pytest.raises(RuntimeError, match="not joined"):
        follower.yield_leadership("nochannel")


def test_a_callback_sleeping_2s_does_not_stall_dissemination(spawn, tmp_path):
    pa, pb = free_port(), free_port()
    # Both peers' leadership callbacks sleep 2 s. The election settles after the grace
    # period, when membership and channel views have converged, so the new leader can push
    # blocks to the other peer at once.
    slow = ["--leadership-sleep", "2"]
    a = spawn("a", peer_config(tmp_path / "a", "Org1MSP", pa, peer_id="a",
                               extra_gossip=ELECTION), extra_args=slow)
    b = spawn("b", peer_config(tmp_path / "b", "Org1MSP", pb, bootstrap=[f"127.0.0.1:{pa}"],
                               peer_id="b", extra_gossip=ELECTION), extra_args=slow)
    for p in (a, b):
        p.join(CHANNEL, {"sequence": 1, "members": ["Org1MSP"]})
    assert wait_until(lambda: a.leadership or b.leadership, 60), "nobody was elected"
    # The leader's callback has just been entered and sleeps for 2 s.
    leader, other = (a, b) if a.leadership else (b, a)
    assert leader.leadership == [(CHANNEL, True)] and not leader.returned
    for seq, block in enumerate(blocks.chain(3)):
        leader.add_block(CHANNEL, seq, block)
    assert wait_until(lambda: other.ledger_height(CHANNEL) == 3 or leader.returned, 30)
    assert other.ledger_height(CHANNEL) == 3
    assert not leader.returned, "the blocks reached the other peer only after the callback returned"
    # The callback does return. (Both peers may lead for a moment before they hear each
    # other; only the changes of the peer the blocks came from matter here.)
    assert wait_until(lambda: leader.returned[:1] == [(CHANNEL, True)], 10)
    assert leader.leadership[:1] == [(CHANNEL, True)]


def test_channel_calls_say_why_they_fail(service, tmp_path):
    service.init(peer_config(tmp_path / "solo", "Org1MSP", free_port()))
    with pytest.raises(fabgossip.InvalidArgError) as e:
        fabgossip.join_channel(CHANNEL, {"sequence": 1, "members": ["Org1MSP"],
                                         "anchor_peers": [{"org": "Org1MSP", "host": "h",
                                                           "port": "7051"}]})
    assert "anchor_peers[0].port" in e.value.detail
    with pytest.raises(fabgossip.InvalidArgError) as e:
        fabgossip.join_channel(CHANNEL, '{"sequence": 1}')
    assert e.value.detail == f'channel "{CHANNEL}": members: missing'
    with pytest.raises(fabgossip.NotFoundError) as e:
        fabgossip.update_ledger_height(CHANNEL, 4)
    assert "is not joined" in e.value.detail and "is not joined" in str(e.value)

    fabgossip.join_channel(CHANNEL, {"sequence": 1, "members": ["Org1MSP"]})
    with pytest.raises(fabgossip.InvalidArgError) as e:
        fabgossip.update_chaincodes(CHANNEL, [{"name": "cc"}])
    assert "chaincodes[0].version: missing" in e.value.detail
    chain = blocks.chain(2)
    with pytest.raises(fabgossip.BusyError) as e:
        fabgossip.add_payload(CHANNEL, 900, chain[0])
    assert "block 900 is too far ahead of the ledger height 0" in e.value.detail
    with pytest.raises(fabgossip.CryptoError) as e:
        fabgossip.add_payload(CHANNEL, 0, chain[1])
    assert "block number 1 but sequence 0 was claimed" in e.value.detail
    with pytest.raises(fabgossip.NotFoundError) as e:
        fabgossip.yield_leadership(CHANNEL)
    assert "no leader election" in e.value.detail
    fabgossip.leave_channel(CHANNEL)
    fabgossip.shutdown()
    with pytest.raises(fabgossip.NotInitializedError) as e:
        fabgossip.leave_channel(CHANNEL)
    assert "not running" in e.value.detail
