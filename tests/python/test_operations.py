"""The operations listener of a peer process, as a Fabric operator uses a peer's: GET /healthz
(200, and 503 naming the failed check), GET /version, and GET/PUT /logspec changing the log
level at run time (Fabric's spec syntax)."""

import json
import urllib.error
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import fabgossip
from conftest import free_port, peer_config, wait_until

CHANNEL = "opsch"


def ops_peer(spawn_peer, tmp_path, name):
    ops_port = free_port()
    cfg = json.loads(peer_config(tmp_path / name, "Org1MSP", free_port()))
    cfg["operations"] = {"listenAddress": f"127.0.0.1:{ops_port}"}
    cfg["metrics"] = {"provider": "prometheus"}
    return spawn_peer(name, json.dumps(cfg)), f"http://127.0.0.1:{ops_port}"


def call(url, method="GET", body=None):
    """(status, parsed JSON or None) of one request; HTTP errors are answers too."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw, ctype = r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers["Content-Type"]
    if not raw:
        return status, None
    assert ctype == "application/json", ctype
    return status, json.loads(raw)


def test_healthz_ok_then_delivery_check_fails(spawn_peer, tmp_path):
    peer, base = ops_peer(spawn_peer, tmp_path, "p0")
    status, body = call(base + "/healthz")
    assert status == 200, body
    assert body["status"] == "OK" and body["time"].endswith("Z") and "failed_checks" not in body

    # Alone in its org the peer leads the channel; its only orderer listens nowhere, so the
    # delivery client cannot reach any orderer and /healthz says so.
    dead = free_port()
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    peer.join(CHANNEL, {"sequence": 1, "members": ["Org1MSP"],
                        "orderers": [{"endpoint": f"127.0.0.1:{dead}", "public_key": key.hex()}]})
    component = f"deliveryclient:{CHANNEL}"

    def unavailable():
        s, b = call(base + "/healthz")
        return s == 503 and any(c["component"] == component for c in b.get("failed_checks", []))
    assert wait_until(unavailable, 30, 0.25), call(base + "/healthz")
    status, body = call(base + "/healthz")
    assert body["status"] == "Service Unavailable"
    check = next(c for c in body["failed_checks"] if c["component"] == component)
    assert f"127.0.0.1:{dead}" in check["reason"], check


def test_version(spawn_peer, tmp_path):
    _, base = ops_peer(spawn_peer, tmp_path, "p0")
    status, body = call(base + "/version")
    assert status == 200
    assert set(body) == {"CommitSHA", "Version"}
    assert body["Version"] == fabgossip.version()


def test_logspec_get_put_changes_the_level(spawn_peer, tmp_path):
    peer, base = ops_peer(spawn_peer, tmp_path, "p0")
    log = tmp_path / "p0" / "peer.log"
    # The peer logs at info (FABGOSSIP_LOG from conftest): no debug lines yet.
    assert call(base + "/logspec") == (200, {"spec": "info"})
    assert "[4] " not in log.read_text()

    status, body = call(base + "/logspec", "PUT", {"spec": "gossip=loud"})
    assert status == 400 and "loud" in body["error"], body
    status, body = call(base + "/logspec", "PUT", b"goo")
    assert status == 400 and body["error"].startswith("invalid request body"), body
    status, body = call(base + "/logspec", "POST", {"spec": "debug"})
    assert (status, body) == (400, {"error": "invalid request method: POST"})
    assert call(base + "/logspec") == (200, {"spec": "info"})

    status, _ = call(base + "/logspec", "PUT", {"spec": "gossip=debug:info"})
    assert status == 204
    assert call(base + "/logspec") == (200, {"spec": "gossip=debug:info"})
    # Joining a channel logs at debug (the delivery service's decision): those lines now appear.
    peer.join(CHANNEL, {"sequence": 1, "members": ["Org1MSP"]})
    assert wait_until(lambda: any(line.startswith("[4] fabgossip")
                                  for line in log.read_text().splitlines()), 20, 0.2), \
        log.read_text()[-2000:]

    # Back to warn: joining another channel (info and debug lines at info or debug) adds none.
    assert call(base + "/logspec", "PUT", {"spec": "warn"})[0] == 204
    assert call(base + "/logspec") == (200, {"spec": "warn"})
    mark = len(log.read_text().splitlines())
    peer.join(CHANNEL + "2", {"sequence": 1, "members": ["Org1MSP"]})
    later = log.read_text().splitlines()[mark:]
    assert not [line for line in later if line.startswith(("[3] ", "[4] "))], later
