"""Fabric's endorser pushing private data to a fabgossip peer of the stock network.

`peer lifecycle chaincode approveformyorg` endorsed by peer0.org1 writes the approval to
Org1's implicit collection `_implicit_org_Org1MSP`; Fabric's distributor disseminates that
private write set to Org1 peers of the channel, up to `implicitCollectionDisseminationPolicy.
maxPeerCount` (network.py sets it to 10 on the Fabric peers, so every Org1 peer is chosen,
the fabgossip peer included, instead of one at random). A fabgossip Org1 peer (the Python
peer, a spare cryptogen identity, joined with the genesis block) must store and ack each
push: its `fabgossip_privdata_received{result="stored"}` rises by one per approval, and the
endorser's log has no `SendByCriteria` failure naming its endpoint (before fabgossip had a
receiver, each push timed out after 3 s there). `fg_explain_private_data` evaluates the
collection's member-orgs policy under the channel's X.509 MSPs: peer0.org1 is eligible,
peer0.org2 is not."""

import sys
from pathlib import Path

import pytest

from network import CHANNEL, metric, parse_metrics, wait_until
from test_fabgossip_peer import LIB, fabgossip_env

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, free_port, python_peer_argv  # noqa: E402

NAMESPACE = "_lifecycle"
COLLECTION = "_implicit_org_Org1MSP"
APPROVALS = 3
# The spare Org1 identity no other module uses (test_fabgossip_peer takes 0..2).
SPARE = 6


@pytest.fixture(scope="module")
def pvt_peer(net):
    """The Python fabgossip peer of Org1, joined, and known to peer0.org1 as a channel peer."""
    if not LIB.is_file():
        pytest.fail(f"{LIB} missing: run `cargo build --release --locked`")
    identity = net.spare_identity("Org1MSP", SPARE)
    port = free_port()
    home = net.root / "fabgossip-privdata"
    home.mkdir(exist_ok=True)
    endorser = net.peer("peer0.org1")
    env = fabgossip_env(net, identity, port, home, endorser.address)
    peer = PeerProcess(python_peer_argv(net.sampleconfig / "core.yaml"),
                       log_path=home / "peer.log", env=env, ready_timeout=60)
    peer.address = f"127.0.0.1:{port}"
    try:
        peer.join_block(net.channel, net.genesis_block.read_bytes())
        # The endorser's distributor chooses among the peers of the channel it knows
        # (StateInfo); Fabric's discovery service answers from the same view.
        wait_until("peer0.org1 to list the fabgossip peer in the channel",
                   lambda: any(p.get("Endpoint") == peer.address
                               for p in net.discover_peers(endorser)),
                   timeout=90, interval=1)
        yield peer
    finally:
        peer.stop()


def privdata_received(peer, result):
    text = peer.command("metrics", "metrics")["text"]
    value = metric(parse_metrics(text), "fabgossip_privdata_received", channel=CHANNEL,
                   result=result)
    return int(value or 0)


def test_fabric_endorser_pushes_are_stored_and_acked(net, pvt_peer):
    endorser = net.peer("peer0.org1")
    stored_before = privdata_received(pvt_peer, "stored")
    log_before = len(endorser.log())
    for _ in range(APPROVALS):
        net.approve(endorser)
    wait_until(f"the fabgossip peer to store {APPROVALS} pushes",
               lambda: privdata_received(pvt_peer, "stored") >= stored_before + APPROVALS,
               timeout=60, interval=0.5)
    # One push per approval (its one collection), each stored once.
    assert privdata_received(pvt_peer, "stored") == stored_before + APPROVALS
    for refused in ("not_eligible", "unknown_collection", "malformed", "unauthorized",
                    "store_error", "store_full", "busy"):
        assert privdata_received(pvt_peer, refused) == 0, refused

    # Each approval returned after its dissemination: a push the fabgossip peer had not
    # acked would have been logged as a failure by now.
    log = endorser.log()[log_before:]
    failures = [line for line in log.splitlines()
                if "Failed sending to" in line and pvt_peer.address in line]
    assert failures == [], "\n".join(failures)


def test_explain_evaluates_the_collection_policy_under_the_channel_msps(net, pvt_peer):
    org1 = pvt_peer.explain_private_data(net.channel, NAMESPACE, COLLECTION,
                                         net.peer("peer0.org1").address)
    assert org1["reason"] == "eligible", org1
    assert org1["membership"] == "msp_policy" and org1["member_orgs"] == ["Org1MSP"], org1
    org2 = pvt_peer.explain_private_data(net.channel, NAMESPACE, COLLECTION,
                                         net.peer("peer0.org2").address)
    assert org2["reason"] == "not_eligible" and org2["org"] == "Org2MSP", org2
    assert "not in the member orgs" in org2["detail"], org2
