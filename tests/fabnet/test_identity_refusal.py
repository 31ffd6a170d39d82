"""Scenario 7: identities the channel refuses. The session network revokes one spare Org1
identity by a CRL of Org1's CA in the genesis block's MSP config (conftest.py's
`revoked_spares`). A fabgossip peer (the Python peer) holding it dials the Fabric peers (the
genesis block's anchor peers) and a healthy fabgossip peer (its bootstrap peer): Fabric's
discovery service never lists it, the healthy peer's channel view never lists it and its
/metrics count the revocation. A fabgossip peer whose enrollment certificate expired does not start: the local
MSP refuses an expired signing identity, as a Fabric peer's does."""

import sys
from pathlib import Path

import pytest

from network import wait_until
from test_fabgossip_peer import LIB, fabgossip_env

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, free_port, python_peer_argv  # noqa: E402

# Spare Org1 identities of the session network (conftest.py): 0..2 serve test_fabgossip_peer.
HEALTHY, EXPIRED, REVOKED = 3, 4, 5


def start_peer(net, index, name, bootstrap):
    identity = net.spare_identity("Org1MSP", index)
    port = free_port()
    home = net.root / f"fabgossip-{name}"
    home.mkdir(exist_ok=True)
    env = fabgossip_env(net, identity, port, home, bootstrap)
    peer = PeerProcess(python_peer_argv(net.sampleconfig / "core.yaml"),
                       log_path=home / "peer.log", env=env, ready_timeout=60)
    peer.address, peer.log_path = f"127.0.0.1:{port}", home / "peer.log"
    return peer


def metric_value(text, sample):
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return None


@pytest.fixture(scope="module")
def healthy(net):
    if not LIB.is_file():
        pytest.fail(f"{LIB} missing: run `cargo build --release --locked`")
    peer = start_peer(net, HEALTHY, "healthy", net.peer("peer0.org1").address)
    try:
        peer.join_block(net.channel, net.genesis_block.read_bytes())
        yield peer
    finally:
        peer.stop()


def test_a_revoked_identity_is_refused_by_fabric_and_fabgossip_peers(net, healthy):
    assert net.revoked_spares.get("Org1MSP") == [REVOKED], "conftest.py revokes this spare"
    fabric = [net.peer(n) for n in ("peer0.org1", "peer1.org1", "peer0.org2")]
    # The healthy peer is a member first, so its view and theirs are complete.
    wait_until("the healthy fabgossip peer sees every Fabric peer",
               lambda: {p.address for p in fabric}
               <= {m["endpoint"] for m in healthy.peers() if m["state"] == "alive"}, 60)
    revoked = start_peer(net, REVOKED, "revoked", healthy.address)
    try:
        revoked.join_block(net.channel, net.genesis_block.read_bytes())
        # Its dials reach the healthy peer (bootstrap) and the anchor peers of both orgs; its
        # Org1 identity passes Org1's local MSPs (no CRL there, as in Fabric) but its StateInfo
        # is refused under the channel's MSPs, which carry the CRL.
        def revocations():
            text = healthy.command("metrics", "metrics")["text"]
            return sum(metric_value(text, s) or 0 for s in (
                'fabgossip_msp_identity_refused{reason="revoked"}',
                'fabgossip_msp_verify_refused{kind="signature",reason="revoked"}'))

        wait_until("the healthy peer refuses the revoked identity", lambda: revocations() > 0, 60)
        # Fabric's peers refuse it too: its StateInfo never makes it a channel member.
        def in_channel_view(peer):
            msg = peer.command(f"channel_peers {net.channel}", "channel_peers")
            return {m["endpoint"] for m in (msg["peers"] or [])}

        cn = f"CN={net.spare_identity('Org1MSP', REVOKED).name}"
        for name in ("peer0.org1", "peer0.org2"):
            wait_until(f"{name} logs the revocation (Fabric's MSP reason)",
                       lambda name=name: any("The certificate has been revoked" in line
                                             and cn in line
                                             for line in net.peer(name).log().splitlines()), 60)
        for _ in range(5):
            assert revoked.address not in in_channel_view(healthy)
            for p in fabric:
                assert revoked.address not in {d["Endpoint"] for d in net.discover_peers(p)}
        assert revocations() > 0
    finally:
        revoked.stop()


def test_a_fabgossip_peer_with_an_expired_certificate_does_not_start(net):
    identity = net.spare_identity("Org1MSP", EXPIRED)
    net.expire_identity("Org1MSP", identity)
    with pytest.raises((RuntimeError, TimeoutError)):
        start_peer(net, EXPIRED, "expired", net.peer("peer0.org1").address)
    log = (net.root / "fabgossip-expired" / "peer.log").read_text(errors="replace")
    assert "expired" in log, log[-2000:]
