"""The peer process protocol, spoken the same way by the Python peer and the C peer, and the
C++ ABI check program; the C and C++ programs are built here against the library in use."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fabgossip import _lib
from conftest import REPO, free_port, peer_config, wait_until

LIBDIR = Path(_lib.PATH).resolve().parent


@pytest.fixture(scope="module")
def c_programs(tmp_path_factory):
    if not (shutil.which("cc") and shutil.which("c++") and shutil.which("make")):
        pytest.skip("no C/C++ toolchain")
    out = tmp_path_factory.mktemp("c")
    r = subprocess.run(["make", "-C", str(REPO / "tests" / "c"), f"LIBDIR={LIBDIR}", f"OUT={out}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def peer_argv(kind, c_programs):
    if kind == "python":
        return [sys.executable, "-m", "fabgossip.peer"]
    return [str(c_programs / "peer")]


@pytest.fixture(params=["python", "c"])
def kind(request):
    return request.param


def test_peer_protocol_ready_peers_stats_shutdown(kind, c_programs, spawn_peer, tmp_path):
    argv = peer_argv(kind, c_programs)
    p0_port, p1_port = free_port(), free_port()
    p0 = spawn_peer("p0", peer_config(tmp_path / "p0", "Org1MSP", p0_port), argv)
    p1 = spawn_peer("p1", peer_config(tmp_path / "p1", "Org1MSP", p1_port, bootstrap=[f"127.0.0.1:{p0_port}"]), argv)
    assert p0.ready["endpoint"] == f"127.0.0.1:{p0_port}"
    assert p0.ready["org"] == "Org1MSP" and len(p0.pki_id) == 64
    assert wait_until(lambda: p1.pki_id in p0.alive_ids(), 15), p0.peers()
    entry = next(e for e in p0.peers() if e["pki_id"] == p1.pki_id)
    assert set(entry) >= {"pki_id", "endpoint", "internal_endpoint", "org", "state"}
    assert entry["internal_endpoint"] == f"127.0.0.1:{p1_port}"
    stats = p0.command("stats", "stats")
    assert stats["rss_kb"] > 0 and stats["cpu_s"] >= 0
    assert p0.command("shutdown", "shutdown")
    assert p0.proc.wait(timeout=10) == 0
    # EOF on stdin is a shutdown too.
    p1.proc.stdin.close()
    assert p1.expect("shutdown")
    assert p1.proc.wait(timeout=10) == 0


def test_peer_reports_a_bad_config_and_exits_1(kind, c_programs, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(peer_config(tmp_path / "d", "Org1MSP", free_port(), extra_gossip={"bogusKey": 1}))
    env = {"PYTHONPATH": str(REPO / "bindings" / "python"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(peer_argv(kind, c_programs) + ["--config", str(cfg)], capture_output=True,
                       text=True, env=env, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stdout + r.stderr
    first = json.loads(r.stdout.splitlines()[0])
    assert first["event"] == "error" and "bogusKey" in first["message"]


def test_cpp_abi_check(c_programs, tmp_path):
    cfg = tmp_path / "cpp.yaml"
    cfg.write_text(peer_config(tmp_path / "cpp", "Org1MSP", free_port()))
    r = subprocess.run([str(c_programs / "abi_check"), str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all checks passed" in r.stdout
