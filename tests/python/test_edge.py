"""Bounded resources at the network edge across processes through the C ABI: silent TCP
connections to a peer are closed at its handshake deadline and counted in fg_metrics, and an
honest peer joins while they are held."""

import json
import re
import selectors
import socket
import time

from conftest import free_port, peer_config, wait_until

LIMIT_S = 30


def refused(peer, reason):
    text = peer.command("metrics", "metrics")["text"]
    m = re.search(rf'^fabgossip_comm_connections_refused{{reason="{reason}"}} (\d+)', text, re.M)
    assert m, f"no refusal counter for {reason}"
    return int(m.group(1))


def silent(port, n, sources):
    conns = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((f"127.0.2.{1 + i % sources}", 0))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        conns.append(s)
    return conns


def wait_closed(conns, limit_s):
    """How many of `conns` the remote closed within `limit_s` seconds."""
    sel = selectors.DefaultSelector()
    for s in conns:
        sel.register(s, selectors.EVENT_READ)
    open_ = set(conns)
    deadline = time.monotonic() + limit_s
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            try:
                data = key.fileobj.recv(1024)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                open_.discard(key.fileobj)
    sel.close()
    return len(conns) - len(open_)


def test_silent_connections_are_closed_and_an_honest_peer_still_joins(spawn_peer, tmp_path):
    pa, pb = free_port(), free_port()
    cfg = json.loads(peer_config(tmp_path / "a", "Org1MSP", pa, peer_id="a"))
    cfg["fabgossip"]["admission"] = {"handshakeTimeout": "2s", "maxUnauthenticated": 64,
                                     "maxPerAddress": 8}
    a = spawn_peer("a", json.dumps(cfg))
    # 8 sources × 5: under the per-address cap, under the unauthenticated cap.
    conns = silent(pa, 40, 8)
    try:
        b = spawn_peer("b", peer_config(tmp_path / "b", "Org1MSP", pb,
                                        bootstrap=[f"127.0.0.1:{pa}"], peer_id="b"))
        assert wait_until(lambda: b.pki_id in a.alive_ids() and a.pki_id in b.alive_ids(),
                          LIMIT_S), "the honest peer did not join"
        assert wait_closed(conns, LIMIT_S) == len(conns)
        assert wait_until(lambda: refused(a, "handshake_deadline") >= len(conns), LIMIT_S)
        # The per-address cap refuses the ninth connection from one address at once.
        extra = silent(pa, 9, 1)
        assert wait_until(lambda: refused(a, "per_address") >= 1, LIMIT_S)
        assert wait_closed(extra, LIMIT_S) == len(extra)
    finally:
        for s in conns:
            s.close()
