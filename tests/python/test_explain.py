"""fg_explain_peer gives the right reason in each scenario: an endpoint never dialed, a
handshake failing on TLS or on an untrusted org, a peer of another org without an external
endpoint, a peer dead after a kill, and an alive peer."""

import json

from conftest import free_port, peer_config, wait_until

CONVERGE_S = 20


def explain(peer, query):
    return peer.command(f"explain {query}", "explain")["result"]


def reason_becomes(peer, query, reason, timeout=CONVERGE_S):
    """Polls until the explanation has `reason`; returns the last explanation."""
    last = {}

    def check():
        last.update(explain(peer, query))
        return last["reason"] == reason
    wait_until(check, timeout, 0.25)
    return last


def test_never_dialed_endpoint_and_unknown_pki_id(spawn_peer, tmp_path):
    a0 = spawn_peer("a0", peer_config(tmp_path / "a0", "Org1MSP", free_port()))
    e = explain(a0, f"127.0.0.1:{free_port()}")
    assert e["reason"] == "never_dialed", e
    assert e["in_view"] is False and e["last_contact"] is None
    assert e["self"]["org"] == "Org1MSP"
    assert explain(a0, "ab" * 32)["reason"] == "unknown"


def test_alive_then_dead_after_kill(spawn_peer, tmp_path):
    p0, p1 = free_port(), free_port()
    a0 = spawn_peer("a0", peer_config(tmp_path / "a0", "Org1MSP", p0))
    a1 = spawn_peer("a1", peer_config(tmp_path / "a1", "Org1MSP", p1, bootstrap=[f"127.0.0.1:{p0}"]))
    e = reason_becomes(a0, a1.pki_id, "alive")
    assert e["reason"] == "alive", e
    assert e["in_view"] and e["state"] == "alive"
    assert e["org"] == "Org1MSP" and e["endpoint"] == f"127.0.0.1:{p1}"
    # The endpoint names the same peer.
    assert explain(a0, f"127.0.0.1:{p1}")["pki_id"] == a1.pki_id

    a1.kill()
    e = reason_becomes(a0, a1.pki_id, "dead")
    assert e["reason"] == "dead", e
    assert e["state"] == "dead" and e["in_view"]
    assert e["dead_since_unix_ms"] >= e["last_alive_unix_ms"] > 0


def test_handshake_failed_because_of_tls(spawn_peer, tmp_path):
    plain_port, tls_port = free_port(), free_port()
    spawn_peer("plain", peer_config(tmp_path / "plain", "Org1MSP", plain_port))
    cfg = json.loads(peer_config(tmp_path / "tls", "Org1MSP", tls_port,
                                 bootstrap=[f"127.0.0.1:{plain_port}"]))
    cfg["peer"]["tls"] = {"enabled": True}
    tls = spawn_peer("tls", json.dumps(cfg))
    e = reason_becomes(tls, f"127.0.0.1:{plain_port}", "handshake_failed")
    assert e["reason"] == "handshake_failed", e
    assert e["last_contact"]["outcome"] == "handshake_failed"
    assert e["last_contact"]["reason"] == "tls", e


def test_handshake_failed_because_of_an_untrusted_org(spawn_peer, tmp_path):
    org2_port, org1_port = free_port(), free_port()
    spawn_peer("b0", peer_config(tmp_path / "b0", "Org2MSP", org2_port))
    a0 = spawn_peer("a0", peer_config(tmp_path / "a0", "Org1MSP", org1_port,
                                      bootstrap=[f"127.0.0.1:{org2_port}"], trusted=("Org1MSP",)))
    e = reason_becomes(a0, f"127.0.0.1:{org2_port}", "handshake_failed")
    assert e["reason"] == "handshake_failed", e
    assert e["last_contact"]["reason"] == "invalid_identity", e
    assert "Org2MSP" in e["last_contact"]["detail"], e


def test_other_org_without_external_endpoint(spawn_peer, tmp_path):
    hidden_port, a_port = free_port(), free_port()
    spawn_peer("b0", peer_config(tmp_path / "b0", "Org2MSP", hidden_port, external=False))
    # Org1's peer is told the Org2 peer is an anchor: it reaches it, but never gets its alive.
    a0 = spawn_peer("a0", peer_config(tmp_path / "a0", "Org1MSP", a_port,
                                      anchors=[("127.0.0.1", hidden_port, "Org2MSP")]))
    e = reason_becomes(a0, f"127.0.0.1:{hidden_port}", "other_org_no_external_endpoint")
    assert e["reason"] == "other_org_no_external_endpoint", e
    assert e["org"] == "Org2MSP" and e["in_view"] is False
