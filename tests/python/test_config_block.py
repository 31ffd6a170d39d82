"""Joining with a channel's config block through the C ABI (``fg_join_channel`` given the
bytes of a block made by Fabric's configtxgen, ``tests/channelconfig``): block 0 is
committed without an orderer signature, a config update block is committed and gossiped,
and a bad block is refused with the reason."""

import pytest

from conftest import REPO, default_peer_argv, free_port, peer_config, wait_until

CHANNEL = "fixturechannel"
FIXTURES = REPO / "tests" / "channelconfig"
GENESIS = (FIXTURES / "genesis.block").read_bytes()
UPDATE = (FIXTURES / "anchor-update.block").read_bytes()


def test_in_process_join_with_the_genesis_block(service, tmp_path):
    port = free_port()
    service.init(peer_config(tmp_path, "AlphaMSP", port, trusted=("AlphaMSP",)))
    service.join_channel(CHANNEL, GENESIS)
    # Block 0 is committed without any orderer signature (none is in the block).
    assert wait_until(lambda: service.ledger_height(CHANNEL) == 1, 20, 0.05)
    service.add_payload(CHANNEL, 1, UPDATE)
    assert wait_until(lambda: service.ledger_height(CHANNEL) == 2, 20, 0.05)
    # Joining again with the older genesis block changes nothing.
    service.join_channel(CHANNEL, GENESIS)
    assert service.ledger_height(CHANNEL) == 2


def test_a_bad_config_block_is_refused_with_the_reason(service, tmp_path):
    service.init(peer_config(tmp_path, "AlphaMSP", free_port(), trusted=("AlphaMSP",)))
    with pytest.raises(service.InvalidArgError) as e:
        service.join_channel(CHANNEL, b"\x0a\x03\x08\x01\x12")
    assert "config block: block" in e.value.detail
    with pytest.raises(service.InvalidArgError) as e:
        service.join_channel("another", GENESIS)
    assert 'not "another"' in e.value.detail
    # A cut block is refused, not half read.
    with pytest.raises(service.InvalidArgError) as e:
        service.join_channel(CHANNEL, GENESIS[: len(GENESIS) // 2])
    assert "config block: " in e.value.detail
    # The JSON join message still works alongside.
    service.join_channel("jsonchannel", {"sequence": 1, "members": ["AlphaMSP"]})
    assert service.ledger_height("jsonchannel") == 0


def test_peers_joined_with_the_genesis_block_gossip_the_config_update(spawn_peer, tmp_path):
    if default_peer_argv()[-1:] != ["fabgossip.peer"]:
        pytest.skip("needs the Python peer (join_block)")
    ports = [free_port(), free_port()]
    peers = []
    for i, port in enumerate(ports):
        boot = [f"127.0.0.1:{ports[1 - i]}"]
        cfg = peer_config(tmp_path / f"a{i}", "AlphaMSP", port, bootstrap=boot,
                          trusted=("AlphaMSP",), peer_id=f"a{i}")
        peers.append(spawn_peer(f"a{i}", cfg))
    for p in peers:
        p.join_block(CHANNEL, GENESIS)
    assert wait_until(lambda: all(p.ledger_height(CHANNEL) == 1 for p in peers), 30, 0.2)
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == 1 for p in peers), 30, 0.2)
    peers[0].add_block(CHANNEL, 1, UPDATE)
    # The update reaches the other peer by gossip and is committed there.
    assert wait_until(lambda: all(p.ledger_height(CHANNEL) == 2 for p in peers), 30, 0.2)
