"""No peer can starve a node, across processes through the C ABI: three peer processes on a
channel, and a flooder process (`examples/flooder.rs`, a member of the org) sending valid,
signed alive messages to one of them (the victim) as fast as it can while the source adds
blocks. The victim and its channel peers commit every block; the victim counts the flood."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fabgossip.blocks import chain
from conftest import REPO, free_port, peer_config, wait_until

CHANNEL = "floodchannel"
JOIN = {"sequence": 1, "members": ["Org1MSP"]}
# The forged-member flood brings thousands of members that expire and come back: with the
# fixture's 1 s expiration the victim's real peers would expire in the churn too.
GOSSIP = {"pullInterval": "500ms", "aliveExpirationTimeout": "5s"}
FLOODER = Path(os.environ.get("FABGOSSIP_FLOODER", REPO / "target" / "release" / "examples" / "flooder"))


def metric(peer, name, **labels):
    text = peer.command("metrics", "metrics")["text"]
    for fam in text_string_to_metric_families(text):
        if fam.name == name:
            for s in fam.samples:
                if all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
    return None


def last_report(path):
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"sent": 0, "connections": 0}


@pytest.fixture
def flooder(tmp_path):
    procs = []

    def start(target, *args):
        if not FLOODER.exists():
            pytest.fail(f"{FLOODER} is missing: run `make flooder` (cargo build --release --example flooder)")
        out = tmp_path / f"flooder-{len(procs)}.jsonl"
        p = subprocess.Popen([str(FLOODER), "--target", target, *args], stdout=out.open("w"),
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        return p, out

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


@pytest.mark.parametrize("members", [1, 5000], ids=["own-identity", "forged-members"])
def test_victim_and_its_channel_peers_commit_through_a_flood(spawn_peer, flooder, tmp_path, members):
    ports = [free_port() for _ in range(3)]
    peers = []
    for i, port in enumerate(ports):
        boot = [] if i == 0 else [f"127.0.0.1:{ports[0]}"]
        cfg = json.loads(peer_config(tmp_path / f"p{i}", "Org1MSP", port, bootstrap=boot,
                                     peer_id=f"p{i}", extra_gossip=GOSSIP))
        if i == 1:
            # Below any rate the flooder reaches, even on a loaded machine: the flood is
            # certainly throttled, hence counted.
            cfg["fabgossip"]["recvRateLimit"] = 1000
        peers.append(spawn_peer(f"p{i}", json.dumps(cfg)))
    for p in peers:
        p.join(CHANNEL, JOIN)
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == 2 for p in peers), 20, 0.25)
    source, victim = peers[0], peers[1]

    proc, out = flooder(f"127.0.0.1:{ports[1]}", "--members", str(members))
    assert wait_until(lambda: last_report(out)["sent"] > 5000, 30, 0.2), out.read_text()

    blocks = chain(40)
    for seq, b in enumerate(blocks):
        source.add_block(CHANNEL, seq, b)
        time.sleep(0.05)
    heights = {}

    def all_committed():
        heights.update({i: p.ledger_height(CHANNEL) for i, p in enumerate(peers)})
        return all(h == 40 for h in heights.values())

    assert wait_until(all_committed, 60, 0.2), heights
    assert proc.poll() is None, "the flood ran until the blocks were in"
    sent = last_report(out)["sent"]
    # The victim counted what it dropped from the flood, or closed the flooder's stream.
    refused = sum(metric(victim, "fabgossip_messages_dropped", reason=r) or 0
                  for r in ("recv_rate_exceeded", "recv_buffer_full"))
    disconnects = metric(victim, "fabgossip_comm_flood_disconnects") or 0
    assert refused > 0 or disconnects > 0, (sent, refused, disconnects)
    assert sent > 5000
