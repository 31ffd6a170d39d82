"""A fabgossip peer as Org1's static leader in a stock Fabric network.

No Fabric peer of Org1 pulls from the orderer (peer0.org1 and peer1.org1 run with
CORE_PEER_GOSSIP_ORGLEADER=false and USELEADERELECTION=false), and the orderer requires TLS
client certificates. The Python fabgossip peer, holding a spare cryptogen Org1 identity and
started with CORE_PEER_GOSSIP_ORGLEADER=true, is Org1's only way to the orderer: it reads the
orderer's endpoint and TLS CA from the genesis config block it joined with, dials it with its
cryptogen TLS certificate as client certificate, verifies each block by the channel's
/Channel/Orderer/BlockValidation policy, commits it and gossips it. Checked on Fabric's side:
both Org1 Fabric peers reach every block (`peer channel getinfo`), validate its transaction,
and their copy equals the orderer's (`peer channel fetch`) but for the metadata a Fabric
peer adds when it commits.

The Python peer is the leader here because its ledger (--ledger python) hands back every
block's bytes and it answers `is_leader` and `metrics`, so the test reads the leader's own
view as well as Fabric's; every host kind runs the same library code for delivery."""

import pytest

from fabgossip_peers import (block_fields, is_leader, ledger_block, log_tail, peer_metric,
                             start_python_peer)
from network import FabnetError, block_tx_filter, wait_until

BLOCKS = 4


@pytest.fixture(scope="module")
def leadnet(make_net):
    return make_net(org1_leadership="none", orderer_client_auth=True)


@pytest.fixture(scope="module")
def leader(leadnet):
    peer = start_python_peer(leadnet, "leader", "Org1MSP", 0,
                             leadnet.peer("peer0.org1").address,
                             CORE_PEER_GOSSIP_ORGLEADER="true")
    try:
        yield peer
    finally:
        peer.stop()


def test_the_orderer_requires_a_client_certificate(leadnet):
    # Without a client certificate the orderer's TLS handshake fails: the fabgossip leader
    # below can only be served because it presents its cryptogen TLS certificate.
    admin = leadnet.admin_env(leadnet.peer("peer0.org1"))
    with pytest.raises(FabnetError):
        leadnet.run("peer", "channel", "fetch", "0", str(leadnet.root / "no-client-cert.block"),
                    "-c", leadnet.channel, "-o", leadnet.orderer.address, "--tls",
                    "--cafile", str(leadnet.orderer_tls_ca), env=admin, timeout=60)


def test_no_fabric_peer_of_org1_leads(leadnet):
    for name in ("peer0.org1", "peer1.org1"):
        p = leadnet.peer(name)
        assert p.env["CORE_PEER_GOSSIP_ORGLEADER"] == "false"
        assert p.env["CORE_PEER_GOSSIP_USELEADERELECTION"] == "false"


def test_fabgossip_static_leader_feeds_the_fabric_peers_of_its_org(leadnet, leader):
    ch = leadnet.channel
    assert is_leader(leader, ch)
    try:
        height = leadnet.make_blocks(BLOCKS)
    except FabnetError as e:
        raise AssertionError(f"{e}\nfabgossip leader log:\n{log_tail(leader)}") from None
    # Every block came to Org1 through the fabgossip peer's delivery client.
    assert peer_metric(leader, "fabgossip_delivery_blocks_received") >= BLOCKS
    wait_until("the fabgossip leader to commit every block",
               lambda: leader.ledger_height(ch) >= height, 60, interval=0.5)
    for name in ("peer0.org1", "peer1.org1"):
        p = leadnet.peer(name)
        assert leadnet.getinfo(p)["height"] >= height
        for n in range(1, height):
            want = leadnet.fetch_orderer_block(n)
            theirs = leadnet.fetch_block(p, n)
            (h1, d1, m1), (h2, d2, m2) = block_fields(want), block_fields(theirs)
            # Header, transactions and the orderer's signatures as the orderer cut them;
            # the Fabric peer added its validation flags (all VALID) and commit hash.
            assert (h1, d1, m1[0]) == (h2, d2, m2[0]), (name, n)
            assert block_tx_filter(theirs) == b"\x00", (name, n)
            if name == "peer0.org1":
                assert ledger_block(leader, ch, n) == want, f"leader's block {n}"
