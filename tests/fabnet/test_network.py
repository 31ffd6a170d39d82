"""A stock Fabric 2.5.9 network (orderer, two Org1 peers, one Org2 peer) checked through
Fabric's own views: `peer channel getinfo` and `fetch`, `discover peers`, the peers'
operations /metrics and the orderer's channel participation API."""

import socket

import pytest

import network as fabnet
from network import (FabnetError, Network, block_header, block_header_hash, block_tx_filter,
                     metric, wait_until)

BLOCKS = 8


def test_missing_commands_are_a_clear_error(tmp_path):
    with pytest.raises(FabnetError, match="make fabric-bin"):
        Network(bin_dir=tmp_path).up()


def test_a_taken_port_is_retried_with_new_ports(monkeypatch):
    # The first port handed out (the orderer's) is taken before the orderer binds it.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real = fabnet.free_port
    monkeypatch.setattr(fabnet, "free_port", lambda: next(ports, None) or real())
    network = Network()
    try:
        network.up()
        assert network.timings["port_retries"] == 1
        assert "address already in use" not in network.orderer.log()
    finally:
        network.down()
        taken.close()
    assert network.leftovers() == []


def test_network_is_up(net):
    net.check_running()
    assert net.orderer_channel()["status"] == "active"
    assert net.orderer.health()[0] == 200
    for p in net.peers:
        # With no chaincode runtime the peers' Docker check is the one that fails.
        status, body = p.health()
        assert status == 503, (p.name, body)
        assert [c["component"] for c in body["failed_checks"]] == ["docker"], (p.name, body)
        assert net.getinfo(p)["height"] >= 1, p.name


def test_blocks_reach_every_peer_with_the_same_hashes(net):
    start = net.orderer_channel()["height"]
    height = net.make_blocks(BLOCKS)
    assert height == start + BLOCKS
    assert net.orderer_channel()["height"] == height

    infos = {p.name: net.getinfo(p) for p in net.peers}
    assert {i["height"] for i in infos.values()} == {height}, infos
    hashes = {i["currentBlockHash"] for i in infos.values()}
    assert len(hashes) == 1, infos
    (head,) = hashes

    # The chain as the gossip-fed peer stores it links up to the head every peer reports.
    follower = net.peer("peer1.org1")
    blocks = [net.fetch_block(follower, n) for n in range(height)]
    for n, raw in enumerate(blocks):
        number, prev, _ = block_header(raw)
        assert number == n
        if n:
            assert prev == block_header_hash(blocks[n - 1]), f"block {n}"
    # Each new block holds one approval, and the peer validated it (endorsed by its org).
    for n in range(start, height):
        assert block_tx_filter(blocks[n]) == b"\x00", f"block {n}"
    assert block_header_hash(blocks[-1]) == head
    for p in net.peers:
        assert net.fetch_block(p, height - 1) == blocks[-1], p.name


def test_org2_peer_learns_org1_peers_through_gossip(net):
    height = net.orderer_channel()["height"]
    org2 = net.peer("peer0.org2")
    expected = {p.address: p.mspid for p in net.peers}

    def view():
        peers = net.discover_peers(org2)
        seen = {d["Endpoint"]: (d["MSPID"], d["LedgerHeight"]) for d in peers}
        if set(seen) == set(expected) and all(h == height for _, h in seen.values()):
            return seen
        return None

    seen = wait_until("Org2's discovery to list all peers at the chain height", view, 60,
                      interval=1.0)
    assert {ep: m for ep, (m, _) in seen.items()} == expected


def test_non_leader_receives_blocks_by_gossip(net):
    follower = net.peer("peer1.org1")
    leader = net.peer("peer0.org1")
    assert not follower.org_leader and leader.org_leader
    before = metric(net.metrics(follower), "gossip_comm_messages_received")
    height = net.make_blocks(BLOCKS)

    # Only the leader pulls from the orderer: the follower's blocks can only have come by gossip.
    pulls = "will retrieve blocks from ordering service"
    assert pulls in leader.log()
    assert pulls not in follower.log()
    samples = net.metrics(follower)
    assert metric(samples, "gossip_state_height", channel=net.channel) == height
    assert metric(samples, "gossip_comm_messages_received") - before >= BLOCKS
    assert metric(net.metrics(leader), "gossip_state_height", channel=net.channel) == height
    assert metric(net.metrics(net.orderer), "consensus_etcdraft_committed_block_number",
                  channel=net.channel) == height - 1


def test_logs_are_readable(net):
    for node in net.nodes():
        assert node.log(), node.name
    assert "Beginning to serve requests" in net.orderer.log()
    for p in net.peers:
        assert "Started peer with ID" in p.log(), p.name

