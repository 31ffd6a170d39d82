"""Hosts on one machine: one network namespace per peer, each with its own address, joined by
a Linux bridge (veth pairs) or by the userspace wire (`wire.py`, tap devices) that drops and
delays frames.

Names carry the creating process's id (`fgf<pid>-<i>` namespaces, `fgf<pid>...` links), so a
run that was killed leaves names the next run recognises as stale and removes, with the
processes still inside those namespaces.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

PREFIX = "fgf"
SUBNET = "10.213.0"
# The root namespace's address on the bridge (processes there, e.g. the orderer, use it).
HOST_ADDR = f"{SUBNET}.254"
WIRE = Path(__file__).resolve().parent / "wire.py"
HOST_INDEX = 253  # mac(HOST_INDEX) is the bridge's


def mac(i):
    """Host i's Ethernet address (locally administered), fixed so ARP entries can be static."""
    return f"02:13:00:00:00:{i + 1:02x}"


class NetnsError(RuntimeError):
    pass


def run(*argv, check=True):
    try:
        r = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise NetnsError(f"`{argv[0]}` is not installed ({e}): run `make deps-faults`") from e
    if check and r.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed ({r.returncode}): {r.stderr.strip()}")
    return r


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_available():
    """Fails (never skips) with the reason when namespaces cannot be made here."""
    if os.geteuid() != 0:
        raise NetnsError("the fault suite needs root (network namespaces, bridges, tap devices)")
    if run("ip", "-V", check=False).returncode != 0:
        raise NetnsError("`ip` (iproute2) does not run: run `make deps-faults`")
    probe = f"{PREFIX}{os.getpid()}-probe"
    r = run("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        raise NetnsError(f"cannot create a network namespace: {r.stderr.strip()}")
    run("ip", "netns", "del", probe, check=False)


def clean_stale():
    """Removes namespaces and links left by runs whose process is gone, killing what still
    runs inside those namespaces. Returns the names removed."""
    removed = []
    pat = re.compile(rf"^{PREFIX}(\d+)")
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = pat.match(name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        pids = run("ip", "netns", "pids", name, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        run("ip", "netns", "del", name, check=False)
        removed.append(name)
    for line in run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        m = pat.match(name)
        if m and not _pid_alive(int(m.group(1))):
            run("ip", "link", "del", name, check=False)
            removed.append(name)
    return removed


class Network:
    """`n` hosts `ns[0..n)` with addresses 10.213.0.1..n on one segment.

    kind="bridge": veth pairs on a bridge; `partition(groups)` moves every group but the
    first onto a bridge of its own (frames between groups go nowhere, TCP connections hang
    as on a real split), `heal()` puts them back; `isolate(i)`/`restore(i)` take one host's
    link down and up. kind="wire": tap devices served by `wire.py`, which drops each frame
    with probability `loss` and delivers the rest `delay` seconds late (both changeable).
    """

    def __init__(self, n, kind="bridge", loss=0.0, delay=0.0, seed=1, log_dir=None):
        if n > 250:
            raise ValueError("at most 250 hosts on one segment")
        self.n = n
        self.kind = kind
        self.tag = f"{PREFIX}{os.getpid()}"
        self.ns = [f"{self.tag}-{i}" for i in range(n)]
        self.addr = [f"{SUBNET}.{i + 1}" for i in range(n)]
        self.bridges = [f"{self.tag}b0"]
        self.wire = None
        self._made_ns = []
        self._made_links = []
        try:
            self._build(loss, delay, seed, log_dir)
        except BaseException:
            self.close()
            raise

    def _build(self, loss, delay, seed, log_dir):
        for name in self.ns:
            run("ip", "netns", "add", name)
            self._made_ns.append(name)
            run("ip", "-n", name, "link", "set", "lo", "up")
        if self.kind == "bridge":
            self._add_bridge(self.bridges[0])
            run("ip", "addr", "add", f"{HOST_ADDR}/24", "dev", self.bridges[0])
            for i, name in enumerate(self.ns):
                host_end = self.veth(i)
                run("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0",
                    "netns", name)
                self._made_links.append(host_end)
                run("ip", "link", "set", host_end, "master", self.bridges[0], "up")
                self._address(i)
        elif self.kind == "wire":
            taps = [f"{self.tag}t{i}" for i in range(self.n)]
            log = open(Path(log_dir) / "wire.log", "ab") if log_dir else subprocess.DEVNULL
            self.wire = subprocess.Popen(
                [sys.executable, str(WIRE), "--loss", str(loss), "--delay", str(delay),
                 "--seed", str(seed), *taps],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
            ready = self.wire.stdout.readline().strip()
            if ready != "ready":
                raise NetnsError(f"wire did not start: {ready!r} (rc={self.wire.poll()})")
            for i, (tap, name) in enumerate(zip(taps, self.ns)):
                # The wire keeps the tap's descriptor; the device itself moves into the host.
                run("ip", "link", "set", tap, "netns", name)
                run("ip", "-n", name, "link", "set", tap, "name", "eth0")
                self._address(i)
        else:
            raise ValueError(f"unknown network kind {self.kind!r}")
        self._static_neighbours()

    def _static_neighbours(self):
        """Permanent ARP entries for every pair. The kernel's ARP table is shared by all
        namespaces and holds 1024 learned entries (gc_thresh3): 33 hosts that all talk to
        each other overflow it and new connections stall. Permanent entries do not count."""
        entries = [(a, mac(i)) for i, a in enumerate(self.addr)]
        if self.kind == "bridge":
            entries.append((HOST_ADDR, mac(HOST_INDEX)))
        for i, name in enumerate(self.ns):
            lines = "".join(f"neigh replace {a} lladdr {m} dev eth0 nud permanent\n"
                            for a, m in entries if a != self.addr[i])
            r = subprocess.run(["ip", "-n", name, "-batch", "-"], input=lines, text=True,
                               capture_output=True)
            if r.returncode != 0:
                raise NetnsError(f"static neighbours of {name}: {r.stderr.strip()}")
        if self.kind == "bridge":
            lines = "".join(f"neigh replace {a} lladdr {mac(i)} dev {self.bridges[0]} nud permanent\n"
                            for i, a in enumerate(self.addr))
            r = subprocess.run(["ip", "-batch", "-"], input=lines, text=True, capture_output=True)
            if r.returncode != 0:
                raise NetnsError(f"static neighbours of the bridge: {r.stderr.strip()}")

    def _add_bridge(self, name):
        run("ip", "link", "add", name, "address", mac(HOST_INDEX), "type", "bridge",
            "stp_state", "0", "forward_delay", "0")
        self._made_links.append(name)
        run("ip", "link", "set", name, "up")

    def _address(self, i):
        run("ip", "-n", self.ns[i], "link", "set", "eth0", "address", mac(i))
        run("ip", "-n", self.ns[i], "addr", "add", f"{self.addr[i]}/24", "dev", "eth0")
        run("ip", "-n", self.ns[i], "link", "set", "eth0", "up")

    def veth(self, i):
        return f"{self.tag}v{i}"

    def prefix(self, i):
        """The argv prefix that runs a command on host i."""
        return ["ip", "netns", "exec", self.ns[i]]

    # Faults -----------------------------------------------------------------------------

    def partition(self, groups):
        """Splits the hosts: each group after the first gets a bridge of its own."""
        assert self.kind == "bridge", "partitions are made on the bridge network"
        for g, hosts in enumerate(groups[1:], start=1):
            name = f"{self.tag}b{g}"
            if name not in self.bridges:
                self._add_bridge(name)
                self.bridges.append(name)
            for i in hosts:
                run("ip", "link", "set", self.veth(i), "master", name)

    def heal(self):
        for i in range(self.n):
            run("ip", "link", "set", self.veth(i), "master", self.bridges[0])

    def isolate(self, i):
        run("ip", "link", "set", self.veth(i), "down")

    def restore(self, i):
        run("ip", "link", "set", self.veth(i), "up")

    def set_wire(self, loss, delay):
        assert self.wire is not None
        self.wire.stdin.write(f"set {loss} {delay}\n")
        self.wire.stdin.flush()
        if self.wire.stdout.readline().strip() != "set":
            raise NetnsError("wire did not take the new loss/delay")

    def wire_stats(self):
        """{"forwarded": n, "dropped": n, "flooded": n} from the wire."""
        assert self.wire is not None
        self.wire.stdin.write("stats\n")
        self.wire.stdin.flush()
        words = self.wire.stdout.readline().split()
        return {k: int(v) for k, v in zip(words[0::2], words[1::2])}

    # Tear-down --------------------------------------------------------------------------

    def close(self):
        """Kills whatever still runs in the hosts and removes every namespace and link."""
        for name in self._made_ns:
            for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        if self.wire is not None and self.wire.poll() is None:
            self.wire.kill()
            self.wire.wait(timeout=10)
        for name in self._made_ns:
            run("ip", "netns", "del", name, check=False)
        for name in reversed(self._made_links):
            run("ip", "link", "del", name, check=False)
        self._made_ns, self._made_links = [], []
        # A namespace's devices go with it; wait until the kernel has let go of the names.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
                self.tag in line for line in run("ip", "netns", "list", check=False).stdout.splitlines()):
            time.sleep(0.05)
