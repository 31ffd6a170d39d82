"""The delivery service through the C ABI: a Python peer process, static leader of its org,
joins a channel whose orderer is the test orderer binary (`examples/orderer`) and commits the
chain it serves, through cut, garbage (a block failing verification) and a restart."""

import json
import queue
import subprocess
import threading

import pytest

from conftest import REPO, free_port, peer_config, wait_until

CHANNEL = "deliverchannel"
ORDERER = REPO / "target" / "release" / "examples" / "orderer"


class Orderer:
    """The test orderer binary: JSON lines out, commands in."""

    def __init__(self, *args):
        if not ORDERER.exists():
            subprocess.run(["cargo", "build", "--release", "--example", "orderer"], cwd=REPO,
                           check=True)
        self.proc = subprocess.Popen([str(ORDERER), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self.expect("ready")

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(json.loads(raw))
        self.lines.put(None)

    def expect(self, event, timeout=20):
        while True:
            msg = self.lines.get(timeout=timeout)
            if msg is None:
                raise RuntimeError(f"orderer exited before {event!r}")
            if msg["event"] == "error":
                raise RuntimeError(msg["error"])
            if msg["event"] == event:
                return msg

    def command(self, line, event):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.expect(event)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.command("stop", "stopped")
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def orderer():
    started = []

    def start(*args):
        o = Orderer(*args)
        started.append(o)
        return o

    yield start
    for o in started:
        o.stop()


def join_message(o, **extra):
    entry = {"endpoint": o.ready["endpoint"], "public_key": o.ready["public_key"]}
    entry.update(extra)
    return {"sequence": 1, "members": ["Org1MSP"], "orderers": [entry]}


def test_static_leader_commits_what_the_orderer_serves(spawn_peer, orderer, tmp_path):
    o = orderer("--channel", CHANNEL, "--blocks", "20", "--listen", f"127.0.0.1:{free_port()}")
    assert o.ready["height"] == 20 and len(o.ready["public_key"]) == 64
    p = spawn_peer("leader", peer_config(tmp_path / "leader", "Org1MSP", free_port()))
    p.join(CHANNEL, join_message(o))
    assert wait_until(lambda: p.ledger_height(CHANNEL) == 20, 30, 0.2)
    o.command("cut 5", "cut")
    assert wait_until(lambda: p.ledger_height(CHANNEL) == 25, 30, 0.2)
    # A block failing verification is dropped; the peer reconnects and gets it intact.
    o.command("garbage", "garbage_armed")
    o.command("cut 1", "cut")
    assert wait_until(lambda: p.ledger_height(CHANNEL) == 26, 30, 0.2)
    assert o.command("stats", "stats")["sessions"] >= 2
    # A restart of the orderer: the peer seeks again from its height.
    o.command("restart", "restarted")
    o.command("cut 4", "cut")
    assert wait_until(lambda: p.ledger_height(CHANNEL) == 30, 30, 0.2)
    seeks = o.command("stats", "stats")["seeks"]
    assert seeks[0] == 0 and seeks[-1] >= 26, seeks


def test_bad_orderer_entries_are_refused(spawn_peer, tmp_path):
    p = spawn_peer("bad", peer_config(tmp_path / "bad", "Org1MSP", free_port()))
    msg = {"sequence": 1, "members": ["Org1MSP"],
           "orderers": [{"endpoint": "127.0.0.1:7050", "public_key": "0102"}]}
    with pytest.raises(RuntimeError):
        p.join(CHANNEL, msg)
    msg["orderers"] = [{"endpoint": "127.0.0.1:7050", "public_key": "zz" * 32}]
    with pytest.raises(RuntimeError):
        p.join(CHANNEL, msg)
