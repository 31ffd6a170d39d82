#!/usr/bin/env python3
"""fabgossip demo: six peer processes in two organizations, on the built-in defaults (Ed25519
identities generated into each peer's data directory, no host callbacks).

Org1 has four peers that bootstrap to their first peer; Org2 has two; the first peer of each org
is its anchor peer, which is how the orgs find each other. One Org1 peer publishes no external
endpoint, so Org2 never learns of it. The demo prints the views as they form and the final table; then
every peer joins `mychannel`, the first peer of each org adds 100 blocks (as an org's leader does
with the blocks it pulls from the ordering service), and gossip carries them to the others, which
commit them in order to their file ledgers; the demo shows the progress and ends the part with a
table of heights and ledger hashes. Last, it stops a peer and shows the others declaring it dead.

    make demo          (builds the library, then runs this)
"""

import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.blocks import chain  # noqa: E402
from fabgossip.process import PeerProcess, free_port, python_peer_argv, wait_until  # noqa: E402

CHANNEL = "mychannel"
BLOCKS = 100

PEERS = [  # (name, org, publishes an external endpoint)
    ("peer0.org1", "Org1MSP", True),
    ("peer1.org1", "Org1MSP", True),
    ("peer2.org1", "Org1MSP", True),
    ("peer3.org1", "Org1MSP", False),
    ("peer0.org2", "Org2MSP", True),
    ("peer1.org2", "Org2MSP", True),
]


def config(name, org, external, port, ports, data):
    first_of_org = next(i for i, p in enumerate(PEERS) if p[1] == org)
    me = next(i for i, p in enumerate(PEERS) if p[0] == name)
    boot = [] if me == first_of_org else [f"127.0.0.1:{ports[first_of_org]}"]
    anchors = [{"host": "127.0.0.1", "port": ports[i], "mspid": o}
               for i, (n, o, _) in enumerate(PEERS) if n.startswith("peer0.")]
    addr = f"127.0.0.1:{port}"
    return json.dumps({
        "peer": {
            "id": name, "localMspId": org, "listenAddress": addr, "address": addr,
            "fileSystemPath": str(data),
            "gossip": {
                "bootstrap": " ".join(boot),
                "externalEndpoint": addr if external else "",
                # Shorter than core.yaml so the demo shows a death within seconds.
                "aliveTimeInterval": "1s", "aliveExpirationTimeout": "3s",
                "reconnectInterval": "2s",
            },
        },
        "fabgossip": {"trustedOrgs": ["Org1MSP", "Org2MSP"], "anchorPeers": anchors},
    }, indent=1)


def expected_view(i):
    """What disclosure lets peer i see: its org, plus foreign peers with external endpoints
    when it has one itself."""
    _, org, ext = PEERS[i]
    return sum(1 for j, (_, o, e) in enumerate(PEERS)
               if j != i and (o == org or (ext and e)))


def show_table(procs, names):
    print(f"\n{'peer':12} {'org':8} {'endpoint':16} {'PKI-ID':10} sees")
    for (name, org, _), p in zip(PEERS, procs):
        if p is None:
            continue
        view = p.peers()
        alive = sorted(names.get(m["pki_id"], m["pki_id"][:8]) for m in view if m["state"] == "alive")
        dead = sorted(names.get(m["pki_id"], m["pki_id"][:8]) for m in view if m["state"] == "dead")
        line = f"{name:12} {org:8} {p.ready['endpoint'] or '(none)':16} {p.pki_id[:8]:10} {', '.join(alive)}"
        if dead:
            line += f"   dead: {', '.join(dead)}"
        print(line)


def ledger_hash(data_dir):
    path = data_dir / "ledgers" / CHANNEL / "blocks.dat"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "-"


def disseminate(procs, work):
    join = json.dumps({"sequence": 1, "members": ["Org1MSP", "Org2MSP"], "anchor_peers": []})
    for p in procs:
        p.join(CHANNEL, join)
    blocks = chain(BLOCKS)
    sources = [i for i, (n, _, _) in enumerate(PEERS) if n.startswith("peer0.")]
    print(f"\nall peers joined {CHANNEL}; {', '.join(PEERS[i][0] for i in sources)} add "
          f"{BLOCKS} blocks; gossip brings them to the rest of each org")
    t0 = time.monotonic()
    for seq, b in enumerate(blocks):
        for i in sources:
            procs[i].add_block(CHANNEL, seq, b)
    last = None
    while True:
        heights = [p.ledger_height(CHANNEL) for p in procs]
        if heights != last:
            print(f"  t={time.monotonic() - t0:5.2f}s  heights: "
                  + "  ".join(f"{n}={h}" for (n, _, _), h in zip(PEERS, heights)))
            last = heights
        if all(h == BLOCKS for h in heights):
            break
        if time.monotonic() - t0 > 60:
            sys.exit("the blocks did not reach every peer within 60 s")
        time.sleep(0.1)
    print(f"every peer committed {BLOCKS} blocks after {time.monotonic() - t0:.2f} s")
    print(f"\n{'peer':12} {'height':>6}  ledger hash (SHA-256 of the block file)")
    hashes = set()
    for (name, _, _), p in zip(PEERS, procs):
        h = ledger_hash(work / name)
        hashes.add(h)
        print(f"{name:12} {p.ledger_height(CHANNEL):>6}  {h}")
    print("all ledgers identical" if len(hashes) == 1 else "LEDGERS DIFFER")
    if len(hashes) != 1:
        sys.exit(1)


def main():
    lib = REPO / "target" / "release" / "libfabgossip.so"
    if not lib.exists():
        sys.exit(f"{lib} is missing: run `make demo` (it builds the library first)")
    work = Path(tempfile.mkdtemp(prefix="fabgossip-demo-"))
    ports = [free_port() for _ in PEERS]
    procs = []
    try:
        t0 = time.monotonic()
        for i, (name, org, ext) in enumerate(PEERS):
            d = work / name
            d.mkdir()
            cfg = d / "core.yaml"
            cfg.write_text(config(name, org, ext, ports[i], ports, d))
            procs.append(PeerProcess(python_peer_argv(cfg), log_path=d / "peer.log",
                                     env={"FABGOSSIP_LIB": str(lib)}))
        names = {p.pki_id: n for (n, _, _), p in zip(PEERS, procs)}
        print(f"started {len(procs)} peers in {time.monotonic() - t0:.2f} s; data under {work}")

        t0 = time.monotonic()
        last = None
        while True:
            counts = [len(p.alive_ids()) for p in procs]
            if counts != last:
                print(f"  t={time.monotonic() - t0:5.2f}s  alive members seen: "
                      + "  ".join(f"{n}={c}/{expected_view(i)}"
                                  for i, ((n, _, _), c) in enumerate(zip(PEERS, counts))))
                last = counts
            if all(c == expected_view(i) for i, c in enumerate(counts)):
                break
            if time.monotonic() - t0 > 30:
                sys.exit("membership did not converge within 30 s")
            time.sleep(0.05)
        print(f"every view complete after {time.monotonic() - t0:.2f} s "
              f"(peer3.org1 has no external endpoint: Org2 never sees it, and it sees no Org2 peer)")
        show_table(procs, names)

        disseminate(procs, work)

        victim = 2
        print(f"\nstopping {PEERS[victim][0]} ...")
        t0 = time.monotonic()
        procs[victim].stop()
        victim_id = procs[victim].pki_id
        procs[victim] = None
        seen = wait_until(lambda: all(
            any(m["pki_id"] == victim_id and m["state"] == "dead" for m in p.peers())
            for p in procs if p is not None), timeout=20)
        if not seen:
            sys.exit("the stopped peer was not declared dead within 20 s")
        print(f"every remaining peer declared it dead after {time.monotonic() - t0:.2f} s "
              f"(aliveExpirationTimeout 3s)")
        show_table(procs, names)
    finally:
        for p in procs:
            if p is not None:
                p.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
