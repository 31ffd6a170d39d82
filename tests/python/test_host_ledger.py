"""Host ledger callbacks through the C ABI: peer processes whose ledger is a Python object
(``fg_set_ledger_callbacks``) take their height from it at join, receive every block in
order through its ``commit``, and a commit that fails is retried until it succeeds, never
skipped; in process, the registration rules (before join only, release exactly once)."""

import ctypes
import hashlib

import pytest

import fabgossip
from fabgossip.blocks import chain
from fabgossip.errors import BUSY
from conftest import default_peer_argv, free_port, peer_config, wait_until

CHANNEL = "hostledger"
JOIN = {"sequence": 1, "members": ["Org1MSP"]}
FAST_PULL = {"digestWaitTime": "100ms", "requestWaitTime": "200ms", "responseWaitTime": "300ms",
             "pullInterval": "500ms"}
PRELOADED = 2  # blocks every host ledger holds before the join
TOTAL = 40
# Peer 2's ledger fails these commits this many times each before taking the block.
FAILS = {5: 3, 11: 2, 30: 1}


def python_ledger_argv(fail=None):
    argv = default_peer_argv() + ["--ledger", "python"]
    if fail:
        argv += ["--ledger-fail", ",".join(f"{s}:{n}" for s, n in fail.items())]
    return argv


def test_python_ledgers_commit_every_block_in_order_despite_failing_commits(spawn_peer, tmp_path):
    if default_peer_argv()[-1:] != ["fabgossip.peer"]:
        pytest.skip("needs the Python peer (--ledger python)")
    blocks = chain(TOTAL)
    expected = [hashlib.sha256(b).hexdigest() for b in blocks]
    ports = [free_port() for _ in range(4)]
    peers = []
    for i, port in enumerate(ports):
        boot = [] if i == 0 else [f"127.0.0.1:{ports[0]}"]
        cfg = peer_config(tmp_path / f"h{i}", "Org1MSP", port, bootstrap=boot, peer_id=f"h{i}",
                          extra_gossip=FAST_PULL)
        peers.append(spawn_peer(f"h{i}", cfg, python_ledger_argv(FAILS if i == 2 else None)))
    for p in peers:
        for seq in range(PRELOADED):
            assert p.command(f"ledger_preload {CHANNEL} {blocks[seq].hex()}",
                             "preloaded")["height"] == seq + 1
        p.join(CHANNEL, JOIN)
        # The height comes from the host's ledger, not from a file ledger (which is empty).
        assert p.ledger_height(CHANNEL) == PRELOADED
    assert not any((tmp_path / f"h{i}" / "ledgers" / CHANNEL).exists() for i in range(4)), \
        "no file ledger is opened when the host gives ledger callbacks"
    assert wait_until(lambda: all(len(p.channel_peers(CHANNEL)) == 3 for p in peers), 30, 0.25)

    for seq in range(PRELOADED, TOTAL):
        peers[0].add_block(CHANNEL, seq, blocks[seq])
    heights = {}

    def all_committed():
        heights.update({i: p.ledger_height(CHANNEL) for i, p in enumerate(peers)})
        return all(h == TOTAL for h in heights.values())

    assert wait_until(all_committed, 60, 0.25), heights
    for i, p in enumerate(peers):
        got = p.command(f"ledger_blocks {CHANNEL}", "ledger_blocks")
        assert got["height"] == TOTAL
        assert got["sha256"] == expected, f"peer {i}: blocks differ from the source's chain"
        failures = sum(FAILS.values()) if i == 2 else 0
        assert got["commit_failures"] == failures
        # Every block handed over exactly once, plus one attempt per injected failure.
        assert got["commit_calls"] == TOTAL - PRELOADED + failures, got
    flaky = peers[2]
    flaky.stop()
    log = (tmp_path / "h2" / "peer.log").read_text(errors="replace")
    assert "commit failed" in log and "FG_STATUS_CALLBACK_FAILED" in log, \
        "failed host commits are reported through the log callback"


class Recording(fabgossip.MemoryLedger):
    """Counts height reads; the first `fail` commits raise."""

    def __init__(self, fail=0):
        super().__init__()
        self.height_calls = 0
        self.fail = fail

    def height(self, channel):
        self.height_calls += 1
        return super().height(channel)

    def commit(self, channel, seq, block, private_data):
        if self.fail:
            self.fail -= 1
            raise fabgossip.FabgossipError(10, "disk full")  # FG_STATUS_IO
        super().commit(channel, seq, block, private_data)


def test_set_ledger_rules_in_process(service, tmp_path):
    with pytest.raises(fabgossip.NotInitializedError):
        fabgossip.set_ledger(fabgossip.MemoryLedger())
    service.init(peer_config(tmp_path / "solo", "Org1MSP", free_port()))
    blocks = chain(3)
    first = Recording(fail=2)
    first.preload(CHANNEL, blocks[0])
    table = fabgossip.set_ledger(first)
    fabgossip.join_channel(CHANNEL, JOIN)
    assert first.height_calls >= 1
    assert fabgossip.ledger_height(CHANNEL) == 1

    # Not while a channel is joined: refused, and the refused table is released at once.
    other = fabgossip.LedgerTable(fabgossip.MemoryLedger())
    status = fabgossip._lib.lib.fg_set_ledger_callbacks(ctypes.byref(other.table))
    assert status == BUSY
    assert other.release_count == 1
    with pytest.raises(fabgossip.BusyError):
        fabgossip.set_ledger(fabgossip.MemoryLedger())

    fabgossip.add_payload(CHANNEL, 1, blocks[1])
    fabgossip.add_payload(CHANNEL, 2, blocks[2])
    assert wait_until(lambda: fabgossip.ledger_height(CHANNEL) == 3, 30), \
        fabgossip.ledger_height(CHANNEL)
    assert [b for b, _ in first.blocks[CHANNEL]] == blocks
    assert len(table.errors) == 2 and all(e.status == 10 for e in table.errors)
    assert table.release_count == 0

    # After leaving, the ledger may change; the replaced table is released exactly once.
    fabgossip.leave_channel(CHANNEL)
    second = fabgossip.set_ledger(fabgossip.MemoryLedger())
    assert table.release_count == 1
    fabgossip.set_ledger(None)
    assert second.release_count == 1
    third = fabgossip.set_ledger(fabgossip.MemoryLedger())
    fabgossip.shutdown()
    assert third.release_count == 1
    assert table.release_count == 1 and second.release_count == 1
