"""Mixed leader election in Org1: both Org1 Fabric peers and a fabgossip peer run dynamic
leader election (CORE_PEER_GOSSIP_USELEADERELECTION=true, ORGLEADER=false on every one, the
fabgossip peer taking the same keys from Fabric's core.yaml and CORE_PEER_* variables).

Fabric's rule, which fabgossip follows: of the peers that propose, the one with the lowest
PKI-ID wins, a peer does not propose while it hears a leader, and a leader hearing a lower
PKI-ID's declaration steps down. The Fabric peers elect one of themselves before the fabgossip
peer joins; the test picks the fabgossip peer's spare identity so that its PKI-ID is lower
than the Fabric peer that did not win. Then the fabgossip peer leads at some point (at once
if it hears no declaration within its startup grace period and its PKI-ID is the lowest, else
after the Fabric leader dies), and the leader is killed twice: a Fabric leader and the
fabgossip leader, in either order. Unless every spare identity's PKI-ID is higher than both
Fabric peers' (one run in ten): then the test says so and checks Fabric-to-Fabric takeovers
only. After each kill the surviving Org1 peer with the lowest PKI-ID becomes the only leader
(Fabric's `gossip_leader_election_leader` gauge, fabgossip's `is_leader`) and blocks made
afterwards reach every surviving Org1 peer. Takeover times are printed, never asserted."""

import hashlib
import os
import signal
import time

import pytest

from fabgossip_peers import is_leader, log_tail, peer_metric, start_python_peer
from network import FabnetError, metric, wait_until

# Shorter than core.yaml's 15s/10s/5s so that each takeover takes seconds; the same on every
# Org1 peer, Fabric's and fabgossip's.
ELECTION = {
    "CORE_PEER_GOSSIP_ELECTION_STARTUPGRACEPERIOD": "3s",
    "CORE_PEER_GOSSIP_ELECTION_MEMBERSHIPSAMPLEINTERVAL": "1s",
    "CORE_PEER_GOSSIP_ELECTION_LEADERALIVETHRESHOLD": "4s",
    "CORE_PEER_GOSSIP_ELECTION_LEADERELECTIONDURATION": "2s",
}
DEADLINE = 120


def pki_id(mspid, msp_dir):
    """Fabric's PKI-ID of an X.509 identity: SHA-256 of the MSP ID and the PEM certificate."""
    cert = next((msp_dir / "signcerts").iterdir()).read_bytes()
    return hashlib.sha256(mspid.encode() + cert).hexdigest()


@pytest.fixture(scope="module")
def elnet(make_net):
    return make_net(org1_leadership="election", org1_env=ELECTION)


class Org1:
    """The Org1 peers still running: Fabric peers (network Peers) and the fabgossip peer."""

    def __init__(self, net, fabgossip):
        self.net = net
        self.fabric = [net.peer("peer0.org1"), net.peer("peer1.org1")]
        self.fabgossip = fabgossip

    def names(self):
        return [p.name for p in self.fabric] + ([self.fabgossip.name] if self.fabgossip else [])

    def leaders(self):
        """The names of the Org1 peers that say they lead the channel."""
        found = []
        for p in self.fabric:
            if metric(self.net.metrics(p), "gossip_leader_election_leader",
                      channel=self.net.channel) == 1:
                found.append(p.name)
        if self.fabgossip and is_leader(self.fabgossip, self.net.channel):
            found.append(self.fabgossip.name)
        return found

    def one_leader(self, what):
        """Waits until exactly one Org1 peer leads; returns its name."""
        return wait_until(what, lambda: (lambda ls: ls[0] if len(ls) == 1 else None)(
            self.leaders()), DEADLINE, interval=0.5)

    def kill(self, name):
        if self.fabgossip and name == self.fabgossip.name:
            self.fabgossip.kill()
            self.fabgossip = None
            return
        p = self.net.peer(name)
        os.killpg(p.proc.pid, signal.SIGKILL)
        p.proc.wait(timeout=10)
        self.fabric.remove(p)

    def make_blocks(self, n):
        """n blocks endorsed by the surviving Fabric peers (Org2's as well); waits until every
        surviving Org1 peer and Org2's peer have them."""
        net, ch = self.net, self.net.channel
        target = net.orderer_channel()["height"] + n
        endorsers = self.fabric + [net.peer("peer0.org2")]
        for i in range(n):
            net.approve(endorsers[i % len(endorsers)])
        for p in self.fabric + [net.peer("peer0.org2")]:
            wait_until(f"{p.name} to reach height {target}",
                       lambda p=p: net.getinfo(p)["height"] >= target, DEADLINE, interval=0.5)
        if self.fabgossip:
            fg = self.fabgossip
            wait_until(f"{fg.name} to reach height {target}",
                       lambda: fg.ledger_height(ch) >= target, DEADLINE, interval=0.5)
        return target


def test_mixed_election_hands_leadership_over_both_ways(elnet):
    ch = elnet.channel
    ids = {name: pki_id("Org1MSP", elnet.peer(name).crypto / "msp")
           for name in ("peer0.org1", "peer1.org1")}
    org1 = Org1(elnet, None)
    first = org1.one_leader("the Org1 Fabric peers to elect a leader")
    other = next(n for n in ids if n != first)
    spares = {i: pki_id("Org1MSP", elnet.spare_identity("Org1MSP", i) / "msp")
              for i in range(elnet.spare_peers)}
    below = [i for i, pid in spares.items() if pid < ids[other]]
    index = min(below, key=lambda i: spares[i]) if below else 0
    fg = start_python_peer(elnet, "elector", "Org1MSP", index, elnet.peer(first).address,
                           CORE_PEER_GOSSIP_USELEADERELECTION="true", **ELECTION)
    try:
        org1.fabgossip = fg
        assert fg.pki_id == spares[index], "fabgossip's PKI-ID differs from Fabric's rule"
        ids[fg.name] = fg.pki_id
        org1.one_leader("exactly one Org1 leader with the fabgossip peer in")
        org1.make_blocks(2)
        print(f"\nOrg1 PKI-IDs: " + ", ".join(f"{n} {pid[:12]}.." for n, pid in ids.items()))
        killed = []
        # Two kills leave one Org1 peer. Whichever leads is killed; one survivor must end up
        # Org1's only leader and keep leading. Fabric's rule makes the lowest PKI-ID win among
        # peers that propose at once, but a peer that hears a leader's declarations never
        # proposes: a fabgossip peer, which presumes an unreachable leader dead at once,
        # usually proposes before a Fabric follower's leaderAliveThreshold has passed and
        # then leads even with a higher PKI-ID.
        for _round in range(2):
            leaders = org1.leaders()
            assert len(leaders) == 1, leaders
            leader = leaders[0]
            kind = "fabgossip" if leader == fg.name else "Fabric"
            t = time.monotonic()
            org1.kill(leader)
            survivors = org1.names()
            wait_until(f"one of {survivors} to be Org1's only leader after {leader} died",
                       lambda: len(org1.leaders()) == 1 and org1.leaders()[0] in survivors,
                       DEADLINE, interval=0.5)
            new_leader = org1.leaders()[0]
            lowest = min(survivors, key=lambda n: ids[n])
            print(f"{kind} leader {leader} killed: {new_leader} took over in "
                  f"{time.monotonic() - t:.1f}s (lowest PKI-ID: {lowest})")
            killed.append(kind)
            org1.make_blocks(2)
            assert org1.leaders() == [new_leader]
        if org1.fabgossip:
            # fabgossip's own gauge, under Fabric's metric name.
            assert peer_metric(fg, "gossip_leader_election_leader", channel=ch) == (
                1 if new_leader == fg.name else 0)
        if "fabgossip" not in killed:
            print("no spare identity has a PKI-ID below the surviving Fabric peer's: a "
                  "fabgossip leader's death was not exercised in this run")
    except (FabnetError, AssertionError) as e:
        raise AssertionError(f"{e}\nfabgossip peer log:\n{log_tail(fg)}") from None
    finally:
        fg.stop()
