"""Shared fixtures: library path, config text, peer processes with temp dirs and OS ports.

Peers run as `python3 -m fabgossip.peer` (or the C peer when FABGOSSIP_PEER_CMD names it);
every process started here is killed at the end of its test.
"""

import json
import os
import secrets
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINDINGS = REPO / "bindings" / "python"
if str(BINDINGS) not in sys.path:
    sys.path.insert(0, str(BINDINGS))

import fabgossip  # noqa: E402
from fabgossip import process  # noqa: E402
from fabgossip.process import free_port  # noqa: E402,F401

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


def peer_config(data_dir, mspid, port, *, bootstrap=(), external=True, anchors=(),
                trusted=("Org1MSP", "Org2MSP"), seed=None, peer_id=None, extra_gossip=None,
                host="127.0.0.1"):
    """Config text (JSON, which is YAML) for one peer on host:port."""
    addr = f"{host}:{port}"
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


class PeerProcess(process.PeerProcess):
    """A peer process started from a config file, its stderr in `log_path`."""

    def __init__(self, config_path, log_path, argv=None):
        argv = (argv or default_peer_argv()) + ["--config", str(config_path)]
        super().__init__(argv, log_path=log_path, env={"FABGOSSIP_LOG": os.environ.get("FABGOSSIP_LOG", "info")})


class LeadershipPeer(PeerProcess):
    """A peer process whose unsolicited leadership lines are kept in order: ``leadership``
    when the host's callback is entered, ``leadership_returned`` when a sleeping one returns."""

    def __init__(self, *args, **kwargs):
        self.leadership = []
        self.returned = []
        super().__init__(*args, **kwargs)

    def _unsolicited(self, msg):
        kind = msg.get("event")
        if kind == "leadership":
            self.leadership.append((msg["channel"], msg["leader"]))
        elif kind == "leadership_returned":
            self.returned.append((msg["channel"], msg["leader"]))
        else:
            return super()._unsolicited(msg)
        return True

    def is_leader(self, channel):
        return self.command(f"is_leader {channel}", "is_leader")["leader"]

    def yield_leadership(self, channel):
        return self.command(f"yield {channel}", "yielded")


@pytest.fixture
def spawn_peer(tmp_path):
    """spawn_peer(name, config_text, argv=None, kind=PeerProcess) -> a peer process of `kind`;
    all are stopped after the test."""
    started = []

    def spawn(name, config_text, argv=None, kind=PeerProcess):
        d = tmp_path / name
        d.mkdir(exist_ok=True)
        cfg = d / "config.yaml"
        cfg.write_text(config_text)
        p = kind(cfg, d / "peer.log", argv)
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


wait_until = process.wait_until


def leaders_of(group, channel):
    """The peers of `group` that say they lead `channel` (`is_leader`)."""
    return [p for p in group if p.is_leader(channel)]


def one_stable_leader(group, channel, threshold_s, limit_s):
    """Waits until exactly one peer of `group` leads `channel` for a whole threshold."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = leaders_of(group, channel)
        if len(found) == 1:
            time.sleep(threshold_s)
            if leaders_of(group, channel) == found:
                return found[0]
        time.sleep(0.2)
    raise AssertionError(
        f"no stable single leader: {[p.pki_id for p in leaders_of(group, channel)]}")
