"""`make demo-fabric`: fabgossip peers as members of a stock Fabric 2.5.9 network.

Brings up the network of network.py (Fabric's own orderer and peers, cryptogen MSPs, TLS),
adds one fabgossip peer of each host kind to Org1 — the Python peer (its blocks in a Python
ledger behind the host ledger callbacks), gopeer (Go, through cgo) and the C peer (both with the
library's embedded file ledger) — and a C peer to Org2, each with a spare cryptogen identity and
Fabric's sample core.yaml, joined with the channel's genesis block. Then makes blocks with
`peer lifecycle chaincode approveformyorg`, waits until every peer has them, and prints every
peer, Fabric and fabgossip side by side: height and the hash of its last block. Exits 1 when
they do not all agree. Ctrl-C stops every process and removes the files.

    python3 tests/fabnet/demo.py [--blocks 20] [--keep DIR]
"""

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from members import check_programs, start_member, wait_known  # noqa: E402
from network import (FabnetError, Network, NodeExited, block_header_hash,  # noqa: E402
                     wait_until)

# The fabgossip peers: (host kind, MSP ID, spare identity index, ledger).
MEMBERS = (("python", "Org1MSP", 0, "python"),
           ("go", "Org1MSP", 1, "file"),
           ("c", "Org1MSP", 2, "file"),
           ("c", "Org2MSP", 0, "file"))

KIND_LABEL = {"python": "fabgossip, Python host", "go": "fabgossip, Go host (cgo)",
              "c": "fabgossip, C host"}


def say(text):
    print(text, flush=True)


def table(rows):
    """rows: dicts with name, kind, org, height, hash (bytes), the first row the reference
    (the orderer). Returns the lines of the table and whether every height and hash agree."""
    heights = {r["height"] for r in rows}
    hashes = {r["hash"] for r in rows}
    agree = len(heights) == 1 and len(hashes) == 1
    ref = rows[0]
    head = ("peer", "kind", "org", "height", "last block hash", f"same as {ref['name']}")
    cells = [(r["name"], r["kind"], r["org"], str(r["height"]), r["hash"].hex()[:16],
              "yes" if (r["height"], r["hash"]) == (ref["height"], ref["hash"]) else "NO")
             for r in rows]
    widths = [max(len(c[i]) for c in [head] + cells) for i in range(len(head))]

    def line(c):
        return "  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip()
    lines = [line(head), line(tuple("-" * w for w in widths))] + [line(c) for c in cells]
    if agree:
        verdict = (f"all {len(rows)} agree: height {heights.pop()}, "
                   f"last block {hashes.pop().hex()[:16]}")
    else:
        verdict = f"DISAGREE: heights {sorted(heights)}, {len(hashes)} distinct hashes"
    return lines + ["", verdict], agree


def reached(net, member, height):
    net.check_running()
    if member.process.proc.poll() is not None:
        raise NodeExited(f"{member.name} exited; log:\n{member.log_path.read_text()[-3000:]}")
    return member.height(net.channel) >= height


def run(net, blocks, members, log="info"):
    ch = net.channel
    say(f"stock Fabric network up in {net.timings['up']:.1f}s, channel {ch}, files in {net.root}")
    for n in net.nodes():
        what = "Fabric orderer" if n is net.orderer else (
            "Fabric peer, org leader" if n.org_leader else "Fabric peer")
        say(f"  {n.name} ({n.mspid}): {what}, {n.address}, pid {n.proc.pid}")
    for kind, mspid, index, ledger in MEMBERS:
        m = start_member(net, kind, mspid, index, ledger=ledger, log=log)
        members.append(m)
        say(f"  {m.name} ({mspid}): {KIND_LABEL[kind]}, {ledger} ledger, {m.address}, "
            f"pid {m.pid}, joined with the genesis block; log {m.log_path}")
    t = time.monotonic()
    wait_known(net, members)
    say(f"every Fabric peer counts {len(net.peers) - 1 + len(members)} channel members "
        f"({time.monotonic() - t:.1f}s)")
    t = time.monotonic()
    say(f"making {blocks} blocks (peer lifecycle chaincode approveformyorg) ...")
    height = net.make_blocks(blocks)
    for m in members:
        wait_until(f"{m.name} ({m.kind}) to reach height {height}",
                   lambda m=m: reached(net, m, height), 120, interval=0.3)
    say(f"every peer at height {height} {time.monotonic() - t:.1f}s later")

    rows = []
    last = net.fetch_orderer_block(height - 1)
    rows.append({"name": "orderer", "kind": "Fabric orderer", "org": "OrdererMSP",
                 "height": net.orderer_channel()["height"], "hash": block_header_hash(last)})
    for p in net.peers:
        info = net.getinfo(p)
        role = "org leader" if p.org_leader else "by gossip"
        rows.append({"name": p.name, "kind": f"Fabric peer ({role})", "org": p.mspid,
                     "height": info["height"], "hash": info["currentBlockHash"]})
    for m in members:
        h, digest = m.last_hash(ch)
        rows.append({"name": m.name, "kind": KIND_LABEL[m.kind], "org": m.mspid,
                     "height": h, "hash": digest})
    lines, agree = table(rows)
    say("")
    for line in lines:
        say(line)
    return agree, rows


def main(argv=None):
    ap = argparse.ArgumentParser(description="fabgossip peers of every host kind in a stock "
                                             "Fabric network, side by side with Fabric's peers")
    ap.add_argument("--blocks", type=int, default=20, help="blocks to make (default 20)")
    ap.add_argument("--log", default="info",
                    help="log level of the fabgossip peers (error, warn, info, debug, trace)")
    ap.add_argument("--keep", help="keep the network's files in this (new or empty) folder")
    args = ap.parse_args(argv)
    if args.blocks < 1:
        ap.error("--blocks must be at least 1")

    def on_term(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    net = Network(root=args.keep, spare_peers=3)
    members = []
    try:
        check_programs({k for k, *_ in MEMBERS})
        net.up()
        agree, _rows = run(net, args.blocks, members, args.log)
        return 0 if agree else 1
    except KeyboardInterrupt:
        say("interrupted: stopping every peer")
        return 130
    except (FabnetError, RuntimeError, TimeoutError) as e:
        print(f"demo-fabric: {e}", file=sys.stderr)
        return 1
    finally:
        for m in members:
            m.stop()
        net.down()
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
