"""fg_metrics across processes: the text parses as Prometheus exposition, carries Fabric's
gossip metric names, and its counters move as peers exchange messages. Also the optional
GET /metrics listener (operations.listenAddress + metrics.provider: prometheus)."""

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import free_port, peer_config, wait_until

CONVERGE_S = 20


def scrape(peer):
    return peer.command("metrics", "metrics")["text"]


def parse(text):
    """{family name: family}; raises on text the Prometheus parser refuses."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families, name, **labels):
    for s in families[name].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def two_peers(spawn_peer, tmp_path):
    p0, p1 = free_port(), free_port()
    a0 = spawn_peer("a0", peer_config(tmp_path / "a0", "Org1MSP", p0))
    a1 = spawn_peer("a1", peer_config(tmp_path / "a1", "Org1MSP", p1, bootstrap=[f"127.0.0.1:{p0}"]))
    assert wait_until(lambda: a1.pki_id in a0.alive_ids() and a0.pki_id in a1.alive_ids(),
                      CONVERGE_S, 0.25), (a0.peers(), a1.peers())
    return a0, a1


def test_metrics_parse_and_counters_move(spawn_peer, tmp_path):
    a0, a1 = two_peers(spawn_peer, tmp_path)
    first = parse(scrape(a0))
    for name in ("gossip_comm_messages_sent", "gossip_comm_messages_received",
                 "gossip_comm_overflow_count", "gossip_membership_total_peers_known",
                 "gossip_state_height", "fabgossip_comm_handshake_failures",
                 "fabgossip_messages_dropped", "fabgossip_peer_connected",
                 "fabgossip_membership_refusals", "fabgossip_ffi_refusals"):
        assert name in first, sorted(first)
    assert first["gossip_comm_messages_sent"].type == "counter"
    assert first["gossip_state_height"].type == "gauge"
    assert value(first, "fabgossip_membership_peers", state="alive") == 1
    # Two identities in the mapper (own and a1's; the snapshot follows within a tick), none
    # refused for the cap.
    assert wait_until(lambda: value(parse(scrape(a0)), "fabgossip_identities") == 2, CONVERGE_S, 0.1)
    assert value(first, "fabgossip_identity_overflow") == 0
    assert value(first, "fabgossip_peer_alive", pki_id=a1.pki_id, org="Org1MSP") == 1
    sent0 = value(first, "gossip_comm_messages_sent")
    recv0 = value(first, "gossip_comm_messages_received")
    assert sent0 > 0 and recv0 > 0

    # Alive messages keep flowing (aliveTimeInterval is 200ms): both counters grow.
    def moved():
        f = parse(scrape(a0))
        return (value(f, "gossip_comm_messages_sent") > sent0
                and value(f, "gossip_comm_messages_received") > recv0)
    assert wait_until(moved, 10, 0.25)

    # A joined channel gets its per-channel series.
    a0.join("ch1", {"sequence": 1, "members": ["Org1MSP"]})
    a1.join("ch1", {"sequence": 1, "members": ["Org1MSP"]})

    def channel_series():
        f = parse(scrape(a0))
        return (value(f, "gossip_state_height", channel="ch1") is not None
                and value(f, "gossip_membership_total_peers_known", channel="ch1") == 1)
    assert wait_until(channel_series, CONVERGE_S, 0.25), scrape(a0)


def test_dial_failures_show_by_endpoint(spawn_peer, tmp_path):
    dead_port = free_port()
    port = free_port()
    # Bootstrap to a port nobody listens on: the dial fails, repeatedly.
    a0 = spawn_peer("a0", peer_config(tmp_path / "a0", "Org1MSP", port,
                                      bootstrap=[f"127.0.0.1:{dead_port}"]))

    def failing():
        f = parse(scrape(a0))
        return value(f, "fabgossip_endpoint_failing", endpoint=f"127.0.0.1:{dead_port}",
                     reason="dial_failed")
    assert wait_until(failing, CONVERGE_S, 0.25), scrape(a0)
    assert value(parse(scrape(a0)), "fabgossip_comm_dial_failures") >= 1


def test_metrics_listener_serves_get_metrics(spawn_peer, tmp_path):
    port, ops_port = free_port(), free_port()
    cfg = json.loads(peer_config(tmp_path / "a0", "Org1MSP", port))
    cfg["operations"] = {"listenAddress": f"127.0.0.1:{ops_port}"}
    cfg["metrics"] = {"provider": "prometheus"}
    spawn_peer("a0", json.dumps(cfg))
    with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        families = parse(r.read().decode())
    assert "gossip_comm_messages_sent" in families
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/other", timeout=10)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_in_process_metrics_and_bad_explain_query(service, tmp_path):
    service.init(peer_config(tmp_path / "p", "Org1MSP", free_port()))
    families = parse(service.metrics())
    assert value(families, "gossip_comm_messages_sent") == 0
    try:
        service.explain_peer("not a peer")
        raise AssertionError("expected InvalidArgError")
    except service.InvalidArgError:
        pass
    assert service.explain_peer("127.0.0.1:1")["reason"] == "never_dialed"
