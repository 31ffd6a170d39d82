"""A gossip peer process: ``python3 -m fabgossip.peer --config FILE``.

Speaks the peer process protocol shared with the C example peer and the Fabric-node
program: JSON lines on stdout (``ready`` or ``error`` first), plain-word commands on stdin
(``peers``, ``stats``, ``shutdown``; EOF means shutdown; and the channel commands
``join <channel> <json>``, ``join_block <channel> <hex>``, ``leave <channel>``,
``height <channel> <n>``, ``channel_peers <channel>``, ``add_block <channel> <seq> <hex>``, ``ledger_height <channel>``,
``watch <channel> [poll ms]``, ``is_leader <channel>``, ``yield <channel>``; with
``--ledger python`` also ``ledger_preload <channel> <hex>``, ``ledger_blocks <channel>`` and
``ledger_block <channel> <n>``).
Every leadership change is reported unsolicited as
``{"event":"leadership","channel":..,"leader":true|false}``, in order, when the callback is
entered; with ``--leadership-sleep S`` the callback then sleeps S seconds (a slow host) and
reports ``{"event":"leadership_returned","channel":..,"leader":..}`` as it returns.
``watch`` reports every later commit as ``{"event":"committed","channel":..,"seq":N,"t_ns":T}``
with T read from CLOCK_MONOTONIC (one clock for the whole machine). The library has no commit
callback for this, so a thread polls the ledger height every 0.5 ms (or the given interval):
it costs this process CPU and makes a reported time up to one interval late.
``--ledger python`` keeps every channel's blocks in a Python :class:`~fabgossip.MemoryLedger`
behind the host ledger callbacks instead of the embedded file ledger; ``--ledger-fail SEQ:N,...``
makes the commit of block SEQ fail N times before it succeeds.
``FABGOSSIP_LOG=<level>`` (error/warn/info/debug/trace) copies library log lines to stderr.
An input line the peer cannot take (not UTF-8, an unknown command, bad arguments, a line of
any length) is answered with ``{"event":"error","message":..}`` and the peer reads on.
The config file is read by ``fg_init_from_file``: relative paths in it resolve against its
folder and ``CORE_*`` environment variables override its keys, as for a Fabric peer.
"""

import argparse
import hashlib
import json
import os
import sys
import threading
import time

import fabgossip

_LEVELS = {"error": 1, "warn": 2, "info": 3, "debug": 4, "trace": 5}


_emit_lock = threading.Lock()  # watch threads write lines too


def emit(obj):
    line = json.dumps(obj, separators=(",", ":")) + "\n"
    with _emit_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


WATCH_POLL_S = 0.0005


class CommitWatch(threading.Thread):
    """Polls one channel's ledger height and emits a ``committed`` line per new block; blocks
    committed before the watch started are not reported."""

    def __init__(self, channel, interval_s=WATCH_POLL_S):
        super().__init__(daemon=True, name=f"watch-{channel}")
        self.channel = channel
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self.errors = 0  # failed polls (channel left, service down); the watch keeps trying
        self.height = self._height()

    def _height(self):
        try:
            return fabgossip.ledger_height(self.channel)
        except fabgossip.FabgossipError:
            self.errors += 1
            return None

    def run(self):
        while not self.stopping.wait(self.interval_s):
            h = self._height()
            if h is None:
                continue
            if self.height is None or h < self.height:
                self.height = h  # rejoined or reset ledger: start over from here
                continue
            if h > self.height:
                t = time.monotonic_ns()
                for seq in range(self.height, h):
                    emit({"event": "committed", "channel": self.channel, "seq": seq, "t_ns": t})
                self.height = h


_watches = {}


class FlakyLedger(fabgossip.MemoryLedger):
    """The peer's Python ledger: commits of the blocks named in ``fail`` ({seq: n}) fail n
    times first; every attempt is counted."""

    def __init__(self, fail):
        super().__init__()
        self.fail = dict(fail)
        self.commit_calls = 0
        self.commit_failures = 0

    def commit(self, channel, seq, block, private_data):
        self.commit_calls += 1
        if self.fail.get(seq, 0) > 0:
            self.fail[seq] -= 1
            self.commit_failures += 1
            raise OSError(f"injected commit failure of block {seq}")
        super().commit(channel, seq, block, private_data)


_ledger = None  # the FlakyLedger with --ledger python


def parse_fail(text):
    out = {}
    for item in filter(None, text.split(",")):
        seq, _, n = item.partition(":")
        out[int(seq)] = int(n or 1)
    return out


def rss_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def quoted(line, limit=80):
    """A bounded echo of an input line for an error message."""
    return repr(line[:limit]) + (f"... ({len(line)} characters)" if len(line) > limit else "")


def channel_command(line):
    """``join <channel> <json>`` → ``joined``; ``join_block <channel> <hex config block>`` →
    ``joined``; ``leave <channel>`` → ``left``;
    ``height <channel> <n>`` → ``height``; ``channel_peers <channel>`` → ``channel_peers``;
    ``add_block <channel> <seq> <hex block>`` → ``added``; ``ledger_height <channel>`` →
    ``ledger_height``; ``watch <channel>`` → ``watching``, then ``committed`` lines;
    ``is_leader <channel>`` → ``is_leader``; ``yield <channel>`` → ``yielded``;
    ``distribute <channel> <tx_id> <block height> <hex private data>`` → ``distributed``
    with the report (``incomplete`` too when a collection missed ``requiredPeerCount``);
    ``collection_config <channel> <namespace> [<hex CollectionConfigPackage>]`` →
    ``collection_config_set``; ``explain_pvt <channel> <namespace> <collection> <peer>
    [<block height>]`` → ``explain_pvt`` with the explanation.
    A refused call answers ``error``."""
    parts = line.split(None, 2)
    word = parts[0]
    try:
        if word == "join" and len(parts) == 3:
            fabgossip.join_channel(parts[1], parts[2])
            emit({"event": "joined", "channel": parts[1]})
        elif word == "join_block" and len(parts) == 3:
            fabgossip.join_channel(parts[1], bytes.fromhex(parts[2]))
            emit({"event": "joined", "channel": parts[1]})
        elif word == "leave" and len(parts) == 2:
            fabgossip.leave_channel(parts[1])
            emit({"event": "left", "channel": parts[1]})
        elif word == "height" and len(parts) == 3 and parts[2].isdigit():
            fabgossip.update_ledger_height(parts[1], int(parts[2]))
            emit({"event": "height", "channel": parts[1], "height": int(parts[2])})
        elif word == "add_block" and len(parts) == 3:
            seq, _, data = parts[2].partition(" ")
            fabgossip.add_payload(parts[1], int(seq), bytes.fromhex(data))
            emit({"event": "added", "channel": parts[1], "seq": int(seq)})
        elif word == "ledger_height" and len(parts) == 2:
            emit({"event": "ledger_height", "channel": parts[1],
                  "height": fabgossip.ledger_height(parts[1])})
        elif word == "watch" and len(parts) in (2, 3):
            interval_ms = float(parts[2]) if len(parts) == 3 else WATCH_POLL_S * 1e3
            if not 0.05 <= interval_ms <= 1000:
                raise ValueError(f"poll interval {interval_ms} ms is outside 0.05..1000")
            if parts[1] not in _watches:
                # ledger_height refuses a channel not joined: the same error as other commands.
                fabgossip.ledger_height(parts[1])
                _watches[parts[1]] = CommitWatch(parts[1], interval_ms / 1e3)
                _watches[parts[1]].start()
            emit({"event": "watching", "channel": parts[1]})
        elif word == "ledger_preload" and len(parts) == 3 and _ledger is not None:
            _ledger.preload(parts[1], bytes.fromhex(parts[2]))
            emit({"event": "preloaded", "channel": parts[1],
                  "height": _ledger.height(parts[1])})
        elif word == "ledger_blocks" and len(parts) == 2 and _ledger is not None:
            n = _ledger.height(parts[1])
            emit({"event": "ledger_blocks", "channel": parts[1], "height": n,
                  "sha256": [hashlib.sha256(_ledger.get_block(parts[1], i)).hexdigest()
                             for i in range(n)],
                  "commit_calls": _ledger.commit_calls,
                  "commit_failures": _ledger.commit_failures})
        elif word == "ledger_block" and len(parts) == 3 and _ledger is not None:
            n = int(parts[2])
            block = _ledger.get_block(parts[1], n)
            if block is None:
                raise ValueError(f"block {n} of {parts[1]} is not in the ledger")
            emit({"event": "ledger_block", "channel": parts[1], "seq": n, "block": block.hex()})
        elif word == "yield" and len(parts) == 2:
            fabgossip.yield_leadership(parts[1])
            emit({"event": "yielded", "channel": parts[1]})
        elif word == "is_leader" and len(parts) == 2:
            emit({"event": "is_leader", "channel": parts[1],
                  "leader": fabgossip.is_leader(parts[1])})
        elif word == "distribute" and len(parts) == 3:
            tx_id, height, data = parts[2].split(" ", 2)
            try:
                report = fabgossip.distribute_private_data(parts[1], tx_id, bytes.fromhex(data),
                                                           int(height))
                emit({"event": "distributed", "report": report, "incomplete": False})
            except fabgossip.IncompleteError as e:
                emit({"event": "distributed", "report": e.report, "incomplete": True,
                      "detail": e.detail})
        elif word == "collection_config" and len(parts) == 3:
            namespace, _, package = parts[2].partition(" ")
            fabgossip.set_collection_config(parts[1], namespace, bytes.fromhex(package))
            emit({"event": "collection_config_set", "channel": parts[1],
                  "namespace": namespace})
        elif word == "explain_pvt" and len(parts) == 3 and len(parts[2].split()) in (3, 4):
            namespace, collection, query, *height = parts[2].split()
            emit({"event": "explain_pvt",
                  "explanation": fabgossip.explain_private_data(
                      parts[1], namespace, collection, query, int(height[0]) if height else 0)})
        elif word == "channel_peers" and len(parts) == 2:
            emit({"event": "channel_peers", "channel": parts[1],
                  "peers": fabgossip.peers_of_channel(parts[1])})
        else:
            emit({"event": "error", "message": f"bad command: {quoted(line)}"})
    except (fabgossip.FabgossipError, ValueError, OverflowError) as e:
        emit({"event": "error", "message": f"{word}: {e}"})


_CHANNEL_COMMANDS = ("join", "join_block", "leave", "height", "channel_peers", "add_block", "ledger_height",
                     "watch", "ledger_preload", "ledger_blocks", "ledger_block", "is_leader", "yield",
                     "distribute", "collection_config", "explain_pvt")

_leadership_sleep_s = 0.0  # --leadership-sleep


def on_leadership(channel, leader):
    emit({"event": "leadership", "channel": channel, "leader": leader,
          "t_ns": time.monotonic_ns()})
    if _leadership_sleep_s > 0:
        time.sleep(_leadership_sleep_s)
        emit({"event": "leadership_returned", "channel": channel, "leader": leader,
              "t_ns": time.monotonic_ns()})


def main(argv=None):
    ap = argparse.ArgumentParser(prog="fabgossip.peer")
    ap.add_argument("--config", required=True, help="peer config file (YAML or JSON)")
    ap.add_argument("--ledger", choices=("file", "python"), default="file",
                    help="file: the embedded file ledger; python: host ledger callbacks")
    ap.add_argument("--ledger-fail", default="", metavar="SEQ:N,...",
                    help="with --ledger python: fail the commit of block SEQ N times first")
    ap.add_argument("--leadership-sleep", type=float, default=0.0, metavar="S",
                    help="the leadership callback sleeps S seconds (a slow host callback)")
    args = ap.parse_args(argv)
    global _ledger, _leadership_sleep_s
    _leadership_sleep_s = max(0.0, args.leadership_sleep)
    log = None
    level = _LEVELS.get(os.environ.get("FABGOSSIP_LOG", "").lower())
    if level:
        def log(lvl, target, msg):
            sys.stderr.write(f"[{lvl}] {target}: {msg}\n")
    try:
        # Set before init: a static leader reports its channels from the first join.
        fabgossip.set_leadership_callback(on_leadership)
        fabgossip.init_file(args.config, log=log, log_level=level or fabgossip.LOG_OFF)
        if args.ledger == "python":
            _ledger = FlakyLedger(parse_fail(args.ledger_fail))
            fabgossip.set_ledger(_ledger)
        me = fabgossip.self_info()
    except (OSError, ValueError, fabgossip.FabgossipError) as e:
        emit({"event": "error", "message": str(e)})
        return 1
    emit({"event": "ready", "pki_id": me["pki_id"], "endpoint": me["endpoint"], "org": me["org"]})
    try:
        # Bytes, so a line that is not UTF-8 is answered rather than ending the loop.
        for raw in sys.stdin.buffer:
            try:
                word = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                emit({"event": "error", "message": f"input line is not UTF-8: {e}"})
                continue
            if word == "shutdown":
                break
            try:
                command(word)
            except Exception as e:  # noqa: BLE001 - any refusal is answered, the loop goes on
                emit({"event": "error", "message": f"{quoted(word)}: {type(e).__name__}: {e}"})
    except KeyboardInterrupt:
        pass
    for w in _watches.values():
        w.stopping.set()
        w.join(timeout=1)
    fabgossip.shutdown()
    emit({"event": "shutdown"})
    return 0


def command(word):
    """Runs one input line other than ``shutdown``."""
    if word.split(" ", 1)[0] in _CHANNEL_COMMANDS:
        channel_command(word)
    elif word == "peers":
        emit({"event": "peers", "peers": fabgossip.peers()})
    elif word == "metrics":
        emit({"event": "metrics", "text": fabgossip.metrics()})
    elif word.startswith("explain "):
        try:
            emit({"event": "explain", "result": fabgossip.explain_peer(word[8:].strip())})
        except fabgossip.FabgossipError as e:
            emit({"event": "error", "message": f"explain: {e}"})
    elif word == "stats":
        t = os.times()
        emit({"event": "stats", "rss_kb": rss_kb(), "cpu_s": round(t.user + t.system, 3)})
    elif word:
        emit({"event": "error", "message": f"unknown command: {quoted(word)}"})


if __name__ == "__main__":
    sys.exit(main())
