"""`make demo-fabric` cannot rot: its main runs here with a few blocks and must end with every
peer, Fabric and fabgossip, at the same height and last block hash, and leave no process and
no file behind."""

import os
import re
from pathlib import Path

import demo


def test_demo_fabric_ends_with_every_peer_agreeing(capsys):
    rc = demo.main(["--blocks", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert re.search(r"^all 8 agree: height 4, last block [0-9a-f]{16}$", out, re.M), out
    rows = [line for line in out.splitlines()
            if re.match(r"^(orderer|peer\d\.org\d) ", line)]
    assert len(rows) == 8, out
    assert sum("fabgossip" in r for r in rows) == 4, out
    assert all(r.rstrip().endswith("yes") for r in rows), out
    root = Path(re.search(r"files in (\S+)", out).group(1))
    assert not root.exists(), f"{root} left behind"
    pids = [int(p) for p in re.findall(r"pid (\d+)", out)]
    for pid in pids:
        try:
            os.kill(pid, 0)
            raise AssertionError(f"pid {pid} outlived the demo")
        except ProcessLookupError:
            pass


def test_table_says_which_peer_disagrees():
    good = {"height": 4, "hash": b"\x01" * 32}
    rows = [dict(good, name="orderer", kind="Fabric orderer", org="OrdererMSP"),
            dict(good, name="peer0.org1", kind="Fabric peer", org="Org1MSP"),
            {"name": "peer2.org1", "kind": "fabgossip", "org": "Org1MSP", "height": 4,
             "hash": b"\x02" * 32}]
    lines, agree = demo.table(rows)
    assert not agree
    assert lines[-1].startswith("DISAGREE")
    assert lines[2].endswith("yes") and lines[4].endswith("NO")
    lines, agree = demo.table(rows[:2])
    assert agree and lines[-1].startswith("all 2 agree: height 4")
