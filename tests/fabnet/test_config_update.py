"""A config update made with Fabric's tools reaches running fabgossip peers: the channel's
config block is fetched (`peer channel fetch config`), decoded and changed with configtxlator,
the update computed, signed by the admins its policy needs (`peer channel signconfigtx`) and
submitted (`peer channel update`). The fabgossip peer (the Python peer, Org1) commits each
config block and reconfigures its channel without a restart:

- an anchor peer added to Org1 (the org's admin signs): the fabgossip peer dials it (its
  explanation of the endpoint turns from never dialed to a failed dial while nothing listens
  there: no other peer can have told it about the address), then meets the peer started there
  afterwards, which knows nobody;
- a new org, Org3 (Org1's and Org2's admins sign: MAJORITY Admins): an Org3 fabgossip peer
  with a cryptogen Org3 identity, joined with the genesis block (where Org3 is not a member)
  as Org3's static leader, pulls the blocks from the orderer, and once the config block is
  committed on both sides, the Org1 fabgossip peer accepts its StateInfo (it lists it among the
  channel's peers with Org3MSP) and Fabric's discovery lists it too."""

import copy

import pytest

from fabgossip_peers import log_tail, peer_metric, start_python_peer
from fabgossip.process import free_port
from network import FabnetError, wait_until

DEADLINE = 120


@pytest.fixture(scope="module")
def cfgnet(make_net):
    return make_net(org3=True)


@pytest.fixture(scope="module")
def org1_peer(cfgnet):
    peer = start_python_peer(cfgnet, "org1", "Org1MSP", 0, cfgnet.peer("peer0.org1").address)
    try:
        yield peer
    finally:
        peer.stop()


def explain(peer, endpoint):
    return peer.command(f"explain {endpoint}", "explain")["result"]


def config_blocks_applied(peer):
    return peer_metric(peer, "fabgossip_config_blocks_applied") or 0


def commit_config_update(net, peer, original, updated, signers):
    """Submits the update and waits until the fabgossip peer and every Fabric peer committed
    the config block; returns its number."""
    applied = config_blocks_applied(peer)
    net.update_config(original, updated, signers)
    height = net.orderer_channel()["height"]
    for p in net.peers:
        wait_until(f"{p.name} to commit the config block",
                   lambda p=p: net.getinfo(p)["height"] >= height, DEADLINE, interval=0.5)
    wait_until("the fabgossip peer to commit the config block",
               lambda: peer.ledger_height(net.channel) >= height, DEADLINE, interval=0.5)
    wait_until("the fabgossip peer to apply the config block",
               lambda: config_blocks_applied(peer) > applied, DEADLINE, interval=0.5)
    return height - 1


def test_an_anchor_peer_added_to_org1_is_dialed_without_restart(cfgnet, org1_peer):
    net, ch = cfgnet, cfgnet.channel
    height = net.make_blocks(1)
    wait_until("the fabgossip peer to sync", lambda: org1_peer.ledger_height(ch) >= height,
               DEADLINE, interval=0.5)
    port = free_port()
    anchor = f"127.0.0.1:{port}"
    assert explain(org1_peer, anchor)["reason"] == "never_dialed"
    original = net.fetch_config()
    updated = copy.deepcopy(original)
    org1 = updated["channel_group"]["groups"]["Application"]["groups"]["Org1MSP"]
    org1["values"]["AnchorPeers"]["value"]["anchor_peers"].append(
        {"host": "127.0.0.1", "port": port})
    try:
        commit_config_update(net, org1_peer, original, updated, ["Org1MSP"])
        wait_until("the fabgossip peer to dial the new anchor peer",
                   lambda: explain(org1_peer, anchor)["reason"] == "dial_failed",
                   DEADLINE, interval=0.5)
    except (FabnetError, AssertionError) as e:
        raise AssertionError(f"{e}\nfabgossip peer log:\n{log_tail(org1_peer)}") from None
    # A peer on the anchor's address that knows nobody: the fabgossip peer keeps dialing its
    # anchor peers, so the two meet.
    newcomer = start_python_peer(net, "anchor", "Org1MSP", 1, "", join=False,
                                 CORE_PEER_LISTENADDRESS=anchor, CORE_PEER_ADDRESS=anchor,
                                 CORE_PEER_GOSSIP_EXTERNALENDPOINT=anchor)
    try:
        wait_until("the fabgossip peer to see the anchor peer alive",
                   lambda: newcomer.pki_id in org1_peer.alive_ids(), DEADLINE, interval=0.5)
        assert explain(org1_peer, anchor)["reason"] == "alive"
    except (FabnetError, AssertionError) as e:
        raise AssertionError(f"{e}\nanchor peer log:\n{log_tail(newcomer)}\n"
                             f"fabgossip peer log:\n{log_tail(org1_peer)}") from None
    finally:
        newcomer.stop()


def test_org3_added_by_a_config_update_is_accepted_without_restart(cfgnet, org1_peer):
    net, ch = cfgnet, cfgnet.channel
    original = net.fetch_config()
    updated = copy.deepcopy(original)
    updated["channel_group"]["groups"]["Application"]["groups"]["Org3MSP"] = \
        net.org_definition("Org3MSP")
    config_seq = commit_config_update(net, org1_peer, original, updated,
                                      ["Org1MSP", "Org2MSP"])
    org3 = start_python_peer(net, "org3", "Org3MSP", 0, "", join=False,
                             CORE_PEER_GOSSIP_ORGLEADER="true")
    try:
        # Joined with the config block that made Org3 a member.
        org3.join_block(ch, net.fetch_config_block().read_bytes())
        # The Org3 peer gets every block from the orderer, the config block included.
        height = net.make_blocks(1)
        wait_until("the Org3 fabgossip peer to sync every block",
                   lambda: org3.ledger_height(ch) >= height, DEADLINE, interval=0.5)
        assert config_seq < height
        # Its StateInfo verifies under the MSPs of the new config: the Org1 fabgossip peer,
        # never restarted, lists it as a channel member of Org3.
        wait_until("the Org1 fabgossip peer to list the Org3 peer in the channel",
                   lambda: any(p["endpoint"] == org3.address and p["org"] == "Org3MSP"
                               for p in org1_peer.channel_peers(ch)), DEADLINE, interval=0.5)
        wait_until("Fabric's discovery to list the Org3 peer",
                   lambda: any(p["Endpoint"] == org3.address and p["MSPID"] == "Org3MSP"
                               for p in net.discover_peers(net.peer("peer0.org1"))),
                   DEADLINE, interval=1.0)
    except (FabnetError, AssertionError) as e:
        raise AssertionError(f"{e}\nOrg3 peer log:\n{log_tail(org3)}\n"
                             f"Org1 fabgossip peer log:\n{log_tail(org1_peer)}") from None
    finally:
        org3.stop()
