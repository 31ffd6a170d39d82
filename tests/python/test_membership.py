"""Membership across processes through the C ABI: two orgs meeting through anchor peers,
expiration of a killed peer and its return, and a peer without an external endpoint that
stays invisible to the other org."""

import secrets
import time

import pytest

from conftest import free_port, peer_config, wait_until

CONVERGE_S = 20
# aliveExpirationTimeout is 1s in FAST_GOSSIP; allow for scheduling on a loaded machine.
EXPIRE_S = 10


class Network:
    """Two orgs: Org1 = a0 (anchor), a1, a2 bootstrapping to a0; Org2 = b0 (anchor), b1
    bootstrapping to b0. Every peer has an external endpoint."""

    def __init__(self, spawn_peer, tmp_path):
        self.spawn_peer = spawn_peer
        self.tmp = tmp_path
        self.ports = {n: free_port() for n in ("a0", "a1", "a2", "b0", "b1")}
        self.seeds = {n: secrets.token_hex(32) for n in self.ports}
        self.anchors = [("127.0.0.1", self.ports["a0"], "Org1MSP"), ("127.0.0.1", self.ports["b0"], "Org2MSP")]
        self.peers = {}
        for name in ("a0", "b0", "a1", "a2", "b1"):
            self.start(name)

    def org(self, name):
        return "Org1MSP" if name.startswith("a") else "Org2MSP"

    def config(self, name, port=None, seed=None, external=True):
        port = port or self.ports[name]
        anchor = f"127.0.0.1:{self.ports[name[0] + '0']}"
        bootstrap = [] if anchor == f"127.0.0.1:{port}" else [anchor]
        return peer_config(self.tmp / name, self.org(name), port, bootstrap=bootstrap, external=external,
                           anchors=self.anchors, seed=seed or self.seeds[name], peer_id=name)

    def start(self, name):
        self.peers[name] = self.spawn_peer(name, self.config(name))
        return self.peers[name]

    def alive_views(self):
        return {n: p.alive_ids() for n, p in self.peers.items() if p.proc.poll() is None}


@pytest.fixture
def network(spawn_peer, tmp_path):
    return Network(spawn_peer, tmp_path)


def full_view(net):
    ids = {n: p.pki_id for n, p in net.peers.items()}
    views = net.alive_views()
    return all(views[n] == set(ids.values()) - {ids[n]} for n in views)


def test_two_orgs_form_the_full_view_through_anchor_peers(network):
    assert wait_until(lambda: full_view(network), CONVERGE_S, 0.25), network.alive_views()
    # Endpoints and orgs are reported as published.
    entries = {p["pki_id"]: p for p in network.peers["a1"].peers()}
    for name, proc in network.peers.items():
        if name == "a1":
            continue
        e = entries[proc.pki_id]
        assert e["org"] == network.org(name)
        assert e["endpoint"] == f"127.0.0.1:{network.ports[name]}"


def test_a_killed_peer_is_seen_dead_then_alive_after_restart(network):
    assert wait_until(lambda: full_view(network), CONVERGE_S, 0.25), network.alive_views()
    victim = network.peers["b1"]
    victim_id = victim.pki_id
    victim.kill()
    observers = [p for n, p in network.peers.items() if n != "b1"]

    def seen_dead_by_all():
        return all(any(e["pki_id"] == victim_id and e["state"] == "dead" for e in o.peers()) for o in observers)

    started = time.monotonic()
    assert wait_until(seen_dead_by_all, EXPIRE_S, 0.2), [o.peers() for o in observers]
    assert time.monotonic() - started >= 0.5, "declared dead faster than the expiration allows"

    restarted = network.start("b1")
    assert restarted.pki_id == victim_id, "same identity seed, same PKI-ID"
    assert wait_until(lambda: all(victim_id in o.alive_ids() for o in observers), CONVERGE_S, 0.25), \
        [o.peers() for o in observers]
    assert wait_until(lambda: full_view(network), CONVERGE_S, 0.25), network.alive_views()


def test_a_peer_without_external_endpoint_stays_inside_its_org(network):
    assert wait_until(lambda: full_view(network), CONVERGE_S, 0.25), network.alive_views()
    port = free_port()
    hidden_cfg = network.config("b2", port=port, seed=secrets.token_hex(32), external=False)
    hidden = network.spawn_peer("b2", hidden_cfg)
    org2 = [network.peers["b0"], network.peers["b1"]]
    org1 = [network.peers[n] for n in ("a0", "a1", "a2")]
    assert wait_until(lambda: all(hidden.pki_id in p.alive_ids() for p in org2), CONVERGE_S, 0.25), \
        [p.peers() for p in org2]
    # Give the other org several alive periods to (wrongly) learn about it.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for p in org1:
            assert hidden.pki_id not in {e["pki_id"] for e in p.peers()}, "leaked across orgs"
        time.sleep(0.25)
    # The hidden peer itself still sees its own org.
    assert {p.pki_id for p in org2} <= hidden.alive_ids()
