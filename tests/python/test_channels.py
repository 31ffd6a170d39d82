"""Channels across processes through the C ABI: peers join a channel, publish their ledger
heights and see each other's; a query on a channel never joined is refused."""

import pytest

import fabgossip
from conftest import free_port, peer_config, wait_until

CONVERGE_S = 20
CHANNEL = "mychannel"


def test_three_peers_join_a_channel_and_see_each_others_heights(spawn_peer, tmp_path):
    ports = [free_port() for _ in range(3)]
    peers = []
    for i, port in enumerate(ports):
        boot = [] if i == 0 else [f"127.0.0.1:{ports[0]}"]
        cfg = peer_config(tmp_path / f"p{i}", "Org1MSP", port, bootstrap=boot, peer_id=f"p{i}")
        peers.append(spawn_peer(f"p{i}", cfg))
    join = {"sequence": 1, "members": ["Org1MSP"],
            "anchor_peers": [{"org": "Org1MSP", "host": "127.0.0.1", "port": ports[0]}]}
    for i, p in enumerate(peers):
        p.join(CHANNEL, join)
        p.set_height(CHANNEL, 10 + i)
    want = {p.pki_id: 10 + i for i, p in enumerate(peers)}

    seen = {}

    def heights_seen():
        for p in peers:
            entries = p.channel_peers(CHANNEL)
            seen[p.pki_id] = {e["pki_id"]: e["ledger_height"] for e in entries}
        return all(seen[p.pki_id] == {k: v for k, v in want.items() if k != p.pki_id} for p in peers)

    assert wait_until(heights_seen, CONVERGE_S, 0.25), seen
    entry = peers[1].channel_peers(CHANNEL)[0]
    assert set(entry) == {"pki_id", "endpoint", "internal_endpoint", "org", "ledger_height",
                          "chaincodes", "left_channel"}
    assert entry["org"] == "Org1MSP" and entry["left_channel"] is False

    # A channel never joined is refused with an error line; the peer keeps serving.
    with pytest.raises(RuntimeError, match="NOT_FOUND"):
        peers[0].channel_peers("nochannel")
    with pytest.raises(RuntimeError, match="INVALID_ARG"):
        peers[0].join("other", {"sequence": 1, "members": ["Org2MSP"]})
    assert len(peers[0].channel_peers(CHANNEL)) == 2


def test_channel_calls_in_process(service, tmp_path):
    cfg = peer_config(tmp_path / "solo", "Org1MSP", free_port())
    with pytest.raises(fabgossip.NotInitializedError):
        fabgossip.peers_of_channel(CHANNEL)
    service.init(cfg)
    with pytest.raises(fabgossip.NotFoundError):
        fabgossip.peers_of_channel(CHANNEL)
    with pytest.raises(fabgossip.InvalidArgError):
        fabgossip.join_channel(CHANNEL, "{not json")
    fabgossip.join_channel(CHANNEL, {"sequence": 1, "members": ["Org1MSP"]})
    assert fabgossip.peers_of_channel(CHANNEL) == []
    fabgossip.update_ledger_height(CHANNEL, 3)
    fabgossip.update_chaincodes(CHANNEL, [{"name": "mycc", "version": "1.0"}])
    fabgossip.leave_channel(CHANNEL)
    assert fabgossip.peers_of_channel(CHANNEL) == []
    with pytest.raises(fabgossip.NotFoundError):
        fabgossip.update_ledger_height(CHANNEL, 4)
