"""Driving peer processes that speak the peer process protocol.

Every peer program of this project (`python3 -m fabgossip.peer`, the C peer, the Fabric node of
the interop harness) prints JSON lines on stdout (`ready` first) and takes the words `peers`,
`stats` and `shutdown` on stdin (the Python peer also takes the channel commands `join`,
`leave`, `height`, `channel_peers`, `add_block`, `ledger_height` and `watch`, as does the
Fabric node, and `is_leader` and `yield`). `PeerProcess` starts one
and talks to it; tests, the demo and the benchmarks all use it, so they drive every kind of
peer the same way.
"""

import json
import os
import queue
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

BINDINGS = Path(__file__).resolve().parent.parent


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
            return low if low > 12000 else 32768
    except (OSError, ValueError, IndexError):
        return 32768


_handed_out = set()


def free_port():
    """A free loopback port below the kernel's ephemeral range: no outgoing connection of a
    peer already running can take it before the peer meant to listen on it binds it."""
    low = _ephemeral_low()
    for _ in range(1000):
        port = random.randrange(10000, low)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def python_peer_argv(config_path):
    return [sys.executable, "-m", "fabgossip.peer", "--config", str(config_path)]


class PeerProcess:
    """One peer process. `argv` is the whole command line; stderr goes to `log_path`."""

    def __init__(self, argv, log_path=None, env=None, ready_timeout=20):
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(BINDINGS), full_env.get("PYTHONPATH")]))
        full_env.update(env or {})
        self.log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, env=full_env)
        self.lines = queue.Queue()
        # `committed` lines (after `watch`) arrive at any time: kept here, not in `lines`.
        self.commits = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready = self.expect("ready", timeout=ready_timeout)
        self.pki_id = self.ready["pki_id"]

    def _read(self):
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = {"event": "garbage", "line": raw.decode(errors="replace")}
            if not (isinstance(msg, dict) and self._unsolicited(msg)):
                self.lines.put(msg)
        self.lines.put(None)

    def _unsolicited(self, msg):
        """Keeps a line that may arrive at any time rather than as an answer; True when it
        was kept (then it is not queued for `expect`)."""
        if msg.get("event") == "committed":
            self.commits.append(msg)
            return True
        return False

    def expect(self, event, timeout=10):
        """Waits for the next line of kind `event`; an `error` line or an exit raises."""
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

    def stats(self):
        return self.command("stats", "stats")

    def join(self, channel, join):
        """``join``: dict (sent as JSON) or JSON text."""
        text = join if isinstance(join, str) else json.dumps(join, separators=(",", ":"))
        return self.command(f"join {channel} {text}", "joined")

    def join_block(self, channel, block):
        """Joins with the channel's genesis or latest config block (bytes)."""
        return self.command(f"join_block {channel} {bytes(block).hex()}", "joined")

    def leave(self, channel):
        return self.command(f"leave {channel}", "left")

    def set_height(self, channel, height):
        return self.command(f"height {channel} {int(height)}", "height")

    def add_block(self, channel, seq, block):
        return self.command(f"add_block {channel} {int(seq)} {bytes(block).hex()}", "added")

    def ledger_height(self, channel):
        return self.command(f"ledger_height {channel}", "ledger_height")["height"]

    def watch(self, channel, poll_ms=None):
        """From now on every commit on `channel` lands in `self.commits` as
        {"event":"committed","channel":..,"seq":N,"t_ns":CLOCK_MONOTONIC ns}. `poll_ms`: the
        Python peer's ledger-height poll interval (the Fabric node needs none: leave it None)."""
        word = f"watch {channel}" if poll_ms is None else f"watch {channel} {poll_ms:g}"
        return self.command(word, "watching")

    def distribute(self, channel, tx_id, block_height, pvt_data, timeout=30):
        """``fg_distribute_private_data`` in the peer: the ``distributed`` line (``report``,
        ``incomplete``)."""
        return self.command(f"distribute {channel} {tx_id} {int(block_height)} "
                            f"{bytes(pvt_data).hex()}", "distributed", timeout)

    def set_collection_config(self, channel, namespace, package):
        """``fg_set_collection_config`` in the peer (``package``: CollectionConfigPackage
        bytes; empty removes the namespace's configs)."""
        return self.command(f"collection_config {channel} {namespace} {bytes(package).hex()}",
                            "collection_config_set")

    def explain_private_data(self, channel, namespace, collection, query, block_height=0):
        """``fg_explain_private_data`` in the peer: the explanation dict."""
        return self.command(f"explain_pvt {channel} {namespace} {collection} {query} "
                            f"{int(block_height)}", "explain_pvt")["explanation"]

    def channel_peers(self, channel):
        return self.command(f"channel_peers {channel}", "channel_peers")["peers"]

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
        if self.log is not subprocess.DEVNULL:
            self.log.close()


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate() until it returns a true value; returns it, or the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
