"""Shared fixtures: library path, config text, peer processes with temp dirs and OS ports.

Peers run as `python3 -m fabgossip.peer` (or the C peer when FABGOSSIP_PEER_CMD names it);
every process started here is killed at the end of its test.
"""

import json
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINDINGS = REPO / "bindings" / "python"
if str(BINDINGS) not in sys.path:
    sys.path.insert(0, str(BINDINGS))

import fabgossip  # noqa: E402

# Shortened timers so membership converges and expires within seconds.
FAST_GOSSIP = {
    "aliveTimeInterval": "200ms",
    "aliveExpirationTimeout": "1s",
    "reconnectInterval": "1s",
    "dialTimeout": "1s",
    "connTimeout": "1s",
    "publishCertPeriod": "2s",
    "pullInterval": "1s",
    "requestStateInfoInterval": "1s",
    "publishStateInfoInterval": "1s",
}


def free_port():
    """A port the OS just gave out; the peer binds it right after."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer_config(data_dir, mspid, port, *, bootstrap=(), external=True, anchors=(),
                trusted=("Org1MSP", "Org2MSP"), seed=None, peer_id=None, extra_gossip=None):
    """Config text (JSON, which is YAML) for one peer on 127.0.0.1:port."""
    addr = f"127.0.0.1:{port}"
    gossip = dict(FAST_GOSSIP)
    gossip["bootstrap"] = " ".join(bootstrap)
    gossip["externalEndpoint"] = addr if external else ""
    gossip.update(extra_gossip or {})
    cfg = {
        "peer": {
            "id": peer_id or f"peer-{port}",
            "localMspId": mspid,
            "listenAddress": addr,
            "address": addr,
            "fileSystemPath": str(data_dir),
            "gossip": gossip,
        },
        "fabgossip": {
            "trustedOrgs": list(trusted),
            "identitySeed": seed or secrets.token_hex(32),
            "anchorPeers": [{"host": h, "port": p, "mspid": m} for (h, p, m) in anchors],
        },
    }
    return json.dumps(cfg, indent=1)


def default_peer_argv():
    """The peer program: $FABGOSSIP_PEER_CMD (e.g. the C peer) or the Python peer."""
    cmd = os.environ.get("FABGOSSIP_PEER_CMD")
    return cmd.split() if cmd else [sys.executable, "-m", "fabgossip.peer"]


class PeerProcess:
    """One peer process speaking the peer process protocol."""

    def __init__(self, config_path, log_path, argv=None):
        argv = argv or default_peer_argv()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BINDINGS), env.get("PYTHONPATH")]))
        env.setdefault("FABGOSSIP_LOG", "info")
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv + ["--config", str(config_path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready = self.expect("ready", timeout=20)
        self.pki_id = self.ready["pki_id"]

    def _read(self):
        for raw in self.proc.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                self.lines.put({"event": "garbage", "line": raw.decode(errors="replace")})
        self.lines.put(None)

    def expect(self, event, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {event!r} line within {timeout}s")
            try:
                msg = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if msg is None:
                raise RuntimeError(f"peer exited (rc={self.proc.wait()}) before {event!r}")
            if msg.get("event") == event:
                return msg
            if msg.get("event") == "error":
                raise RuntimeError(f"peer error: {msg.get('message')}")

    def command(self, word, event, timeout=10):
        self.proc.stdin.write((word + "\n").encode())
        self.proc.stdin.flush()
        return self.expect(event, timeout)

    def peers(self):
        return self.command("peers", "peers")["peers"]

    def alive_ids(self):
        return {p["pki_id"] for p in self.peers() if p["state"] == "alive"}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self):
        """Graceful shutdown; falls back to kill."""
        if self.proc.poll() is None:
            try:
                self.command("shutdown", "shutdown", timeout=10)
                self.proc.wait(timeout=10)
            except Exception:
                self.kill()
        self.log.close()


@pytest.fixture
def spawn_peer(tmp_path):
    """spawn_peer(name, config_text, argv=None) -> PeerProcess; all are stopped after the test."""
    started = []

    def spawn(name, config_text, argv=None):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        cfg = d / "config.yaml"
        cfg.write_text(config_text)
        p = PeerProcess(cfg, d / "peer.log", argv)
        started.append(p)
        return p

    yield spawn
    for p in started:
        p.stop()


@pytest.fixture
def service():
    """The in-process service (this pytest process); shut down after the test."""
    fabgossip.shutdown()
    yield fabgossip
    fabgossip.shutdown()
    fabgossip.set_log(None)


def wait_until(predicate, timeout, interval=0.1):
    """Polls predicate() until it returns a true value; returns it, or the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
