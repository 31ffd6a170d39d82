"""Every peer program (the Python peer, the C peer, gopeer) answers an input line it cannot
take with an error line and reads on: a line over 1 MB, bytes that are not UTF-8, a NUL,
an unknown command, a bad channel name."""

import shutil
import subprocess
import sys

import pytest

from fabgossip import _lib
from fabgossip.process import PeerProcess
from conftest import REPO, free_port, peer_config

from pathlib import Path

LIBDIR = Path(_lib.PATH).resolve().parent


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """argv of each peer program that can be built here."""
    out = tmp_path_factory.mktemp("peers")
    found = {"python": [sys.executable, "-m", "fabgossip.peer"]}
    if shutil.which("cc") and shutil.which("make"):
        r = subprocess.run(["make", "-C", str(REPO / "tests" / "c"), "peer", f"LIBDIR={LIBDIR}",
                            f"OUT={out}"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        found["c"] = [str(out / "peer")]
    if shutil.which("go"):
        r = subprocess.run(["go", "build", "-o", str(out / "gopeer"), "./cmd/gopeer"],
                           cwd=REPO / "bindings" / "go", capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        found["go"] = [str(out / "gopeer")]
    return found


@pytest.fixture(params=["python", "c", "go"])
def peer(request, programs, tmp_path):
    if request.param not in programs:
        pytest.skip(f"no toolchain for the {request.param} peer")
    cfg = tmp_path / "peer.yaml"
    cfg.write_text(peer_config(tmp_path / "data", "Org1MSP", free_port()))
    p = PeerProcess(programs[request.param] + ["--config", str(cfg)],
                    log_path=tmp_path / "peer.log")
    yield p
    p.stop()


def send(p, raw):
    p.proc.stdin.write(raw)
    p.proc.stdin.flush()


def answers_error_then_goes_on(p, raw):
    send(p, raw)
    msg = p.expect("error", timeout=30)
    assert isinstance(msg["message"], str) and msg["message"]
    # Still reading: the next command is answered.
    assert p.command("stats", "stats")["rss_kb"] > 0
    return msg["message"]


def test_bad_input_lines_are_answered(peer):
    # A 1.5 MB block (3 MB of hex) for a channel never joined: read whole, refused by the
    # library.
    msg = answers_error_then_goes_on(peer, b"add_block mychannel 0 " + b"ab" * 1_500_000 + b"\n")
    assert "not joined" in msg or "NOT_FOUND" in msg or "NotFound" in msg, msg[:300]
    msg = answers_error_then_goes_on(peer, b"x" * 1_200_000 + b"\n")
    assert len(msg) < 1000, "the echo of a long line is bounded"
    answers_error_then_goes_on(peer, b"\xff\xfe garbage \x80\n")
    answers_error_then_goes_on(peer, b"pe\x00ers\n")
    msg = answers_error_then_goes_on(peer, b"frobnicate now\n")
    assert "frobnicate" in msg
    answers_error_then_goes_on(peer, b"join_block mychannel not-hex\n")
    # Hex, but not a config block: refused by the library with the place at fault.
    msg = answers_error_then_goes_on(peer, b"join_block mychannel 0a0208\n")
    assert "block" in msg, msg
    msg = answers_error_then_goes_on(peer, b"ledger_height ..\n")
    assert "INVALID_ARG" in msg or "InvalidArg" in msg or "invalid" in msg.lower(), msg
    assert peer.command("shutdown", "shutdown")
    assert peer.proc.wait(timeout=10) == 0
