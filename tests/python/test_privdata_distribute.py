"""Private data distribution through the C ABI (``fg_distribute_private_data``): a peer
process pushes a collection's private write set to one peer of each member org, which store
and ack it; the call is incomplete when a collection's ``requiredPeerCount`` cannot be met.
Refusals: unknown channel, undecodable data, a collection with too few eligible peers.
The host's collection configs (``fg_set_collection_config``) decide at the receiver over the
config a push carries; ``fg_explain_private_data`` says why a peer is or is not a target."""

import pytest

import fabgossip
from conftest import free_port, peer_config, wait_until

CHANNEL = "pvtchannel"
FAST_ACK = {"pvtData": {"pushAckTimeout": "1s"}}


# ---- a minimal protobuf writer for the endorser's input ------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, value):
    """A varint (int) or length-delimited (bytes/str) field."""
    if isinstance(value, int):
        return _varint(num << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def collection_config(name, members, required, maximum):
    """A ``protos.CollectionConfig`` whose member orgs policy names ``members``."""
    principals = b"".join(
        _field(3, _field(1, 0) + _field(2, _field(1, m) + _field(2, 0))) for m in members)
    policy = _field(1, principals)  # CollectionPolicyConfig.signature_policy
    static = (_field(1, name) + _field(2, policy) + _field(3, required) + _field(4, maximum))
    return _field(1, static)


def pvt_data(namespace, collections):
    """A ``transientstore.TxPvtReadWriteSetWithConfigInfo``: ``collections`` is a list of
    (name, CollectionConfig bytes or None)."""
    # Each collection's write set: a KVRWSet with one write (key 1, value 3).
    cols = b"".join(
        _field(2, _field(1, name) + _field(2, _field(3, _field(1, f"key of {name}")
                                                     + _field(3, f"value of {name}"))))
        for name, _ in collections)
    rwset = _field(2, _field(1, namespace) + cols)
    package = b"".join(_field(1, c) for _, c in collections if c is not None)
    entry = _field(1, namespace) + _field(2, package)
    return _field(1, 7) + _field(2, rwset) + _field(3, entry)


def package(*configs):
    """A ``protos.CollectionConfigPackage`` of CollectionConfig bytes."""
    return b"".join(_field(1, c) for c in configs)


# ---- tests ----------------------------------------------------------------------------------

def three_peers(spawn_peer, tmp_path):
    """p0 and p1 of Org1, p2 of Org2, each seeing the two others in the channel."""
    ports = [free_port() for _ in range(3)]
    orgs = ["Org1MSP", "Org1MSP", "Org2MSP"]
    anchors = [("127.0.0.1", ports[0], "Org1MSP"), ("127.0.0.1", ports[2], "Org2MSP")]
    peers = []
    for i, port in enumerate(ports):
        boot = [f"127.0.0.1:{ports[1 - i]}"] if i < 2 else []
        cfg = peer_config(tmp_path / f"p{i}", orgs[i], port, bootstrap=boot, anchors=anchors,
                          peer_id=f"p{i}", extra_gossip=FAST_ACK)
        peers.append(spawn_peer(f"p{i}", cfg))
    join = {"sequence": 1, "members": ["Org1MSP", "Org2MSP"],
            "anchor_peers": [{"org": m, "host": h, "port": p} for (h, p, m) in anchors]}
    for p in peers:
        p.join(CHANNEL, join)
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == 2 for p in peers), 30, 0.25)
    return peers


def test_pushes_go_one_per_member_org_and_are_acked(spawn_peer, tmp_path):
    peers = three_peers(spawn_peer, tmp_path)
    data = pvt_data("marbles", [
        ("both", collection_config("both", ["Org1MSP", "Org2MSP"], 1, 2)),
        ("_implicit_org_Org1MSP", None),
        # Org2 has one peer: two required cannot be met, so nothing is sent for it.
        ("org2", collection_config("org2", ["Org2MSP"], 2, 2)),
    ])
    line = peers[0].distribute(CHANNEL, "tx1", 4, data)
    assert line["incomplete"] is True, line
    report = line["report"]
    assert report["tx_id"] == "tx1" and report["required_met"] is False
    both, own, org2 = report["collections"]
    assert both["collection"] == "both" and both["required_met"] is True, both
    assert sorted(p["org"] for p in both["acked"]) == ["Org1MSP", "Org2MSP"], both
    assert both["failed"] == []
    assert [p["ack_required"] for p in both["acked"]].count(True) == 1
    # The endorser's own implicit collection: implicitCollectionDisseminationPolicy (0, 1).
    assert own["required_met"] is True and own["required_peer_count"] == 0
    assert [p["pki_id"] for p in own["acked"]] == [peers[1].pki_id], own
    assert org2["required_met"] is False and "know of only 1" in org2["error"], org2
    assert "requiredPeerCount not met for marbles/org2" in line["detail"]

    # Each receiver stored what it acked: p1 "both" and the implicit one, p2 "both".
    def stored(peer):
        text = peer.command("metrics", "metrics")["text"]
        return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
                   if line.startswith("fabgossip_privdata_received{")
                   and 'result="stored"' in line)
    assert wait_until(lambda: [stored(p) for p in peers] == [0, 2, 1], 10, 0.2), \
        [stored(p) for p in peers]


def test_refusals_in_process(service, tmp_path):
    data = pvt_data("marbles", [("solo", collection_config("solo", ["Org1MSP"], 1, 1))])
    with pytest.raises(fabgossip.NotInitializedError):
        fabgossip.distribute_private_data(CHANNEL, "tx", data, 1)
    service.init(peer_config(tmp_path / "solo", "Org1MSP", free_port(), extra_gossip=FAST_ACK))
    with pytest.raises(fabgossip.NotFoundError):
        fabgossip.distribute_private_data(CHANNEL, "tx", data, 1)
    fabgossip.join_channel(CHANNEL, {"sequence": 1, "members": ["Org1MSP"]})
    with pytest.raises(fabgossip.InvalidArgError):
        fabgossip.distribute_private_data(CHANNEL, "tx", b"\xff\x01", 1)
    with pytest.raises(fabgossip.InvalidArgError):
        fabgossip.distribute_private_data(CHANNEL, "", data, 1)
    with pytest.raises(fabgossip.IncompleteError) as e:
        fabgossip.distribute_private_data(CHANNEL, "tx", data, 1)
    col = e.value.report["collections"][0]
    assert "at least 1 peers, but know of only 0" in col["error"]
    assert e.value.status == 16
    # Nothing required, nowhere to send: complete.
    free = pvt_data("marbles", [("free", collection_config("free", ["Org1MSP"], 0, 2))])
    report = fabgossip.distribute_private_data(CHANNEL, "tx", free, 1)
    assert report["required_met"] is True and report["collections"][0]["failed"] == []


def test_the_receivers_collection_config_decides_and_explain_says_why(spawn_peer, tmp_path):
    peers = three_peers(spawn_peer, tmp_path)
    # p1's host says "secret" is Org2's only; the endorser p0 says Org1 and Org2.
    org2_only = package(collection_config("secret", ["Org2MSP"], 0, 2))
    peers[1].set_collection_config(CHANNEL, "marbles", org2_only)
    data = pvt_data("marbles", [
        ("secret", collection_config("secret", ["Org1MSP", "Org2MSP"], 0, 2))])
    line = peers[0].distribute(CHANNEL, "tx9", 4, data)
    secret = line["report"]["collections"][0]
    assert [p["pki_id"] for p in secret["acked"]] == [peers[2].pki_id], secret
    (refused,) = secret["failed"]
    assert refused["pki_id"] == peers[1].pki_id and refused["result"] == "nacked", refused
    assert "not eligible" in refused["error"], refused

    # p0 has no config of "secret" to explain by; with p1's config it has the reasons.
    p1, p2 = peers[1].pki_id, peers[2].pki_id
    assert peers[0].explain_private_data(CHANNEL, "marbles", "secret", p1)["reason"] == \
        "unknown_collection"
    peers[0].set_collection_config(CHANNEL, "marbles", org2_only)
    e = peers[0].explain_private_data(CHANNEL, "marbles", "secret", p1)
    assert e["reason"] == "not_eligible" and e["org"] == "Org1MSP", e
    assert e["member_orgs"] == ["Org2MSP"] and e["membership"] == "msp_id", e
    e = peers[0].explain_private_data(CHANNEL, "marbles", "secret", p2)
    assert e["reason"] == "eligible" and e["pki_id"] == peers[2].pki_id, e
    assert peers[0].explain_private_data(CHANNEL, "marbles", "secret", p2, 10**6)["reason"] \
        == "below_block_height"

    # Removed again, and refusals of bad input.
    peers[0].set_collection_config(CHANNEL, "marbles", b"")
    assert peers[0].explain_private_data(CHANNEL, "marbles", "secret", p2)["reason"] == \
        "unknown_collection"
    with pytest.raises(RuntimeError, match="CollectionConfigPackage"):
        peers[0].set_collection_config(CHANNEL, "marbles", b"\xff\xff")
    with pytest.raises(RuntimeError, match="not joined"):
        peers[0].set_collection_config("other", "marbles", org2_only)
