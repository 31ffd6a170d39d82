#!/usr/bin/env python3
"""Catch-up benchmark: a peer joins a channel whose other peer already holds N blocks of about
10 KB, and catches up by state transfer (RemoteStateRequest/Response), fabgossip and real Fabric
gossip (its state provider with `--state-transfer`) in the same run. Prints, from the join of the
late peer: the time to its first block committed, to the last, and the sustained blocks/s
between them, with the ratios.

Also printed: when the late peer first lists the source's height among its channel peers
(polled every 10 ms: StateInfo arrives by the periodic StateInfo pull or publication, 4 s in
core.yaml), and the first commit after that.

Both kinds run core.yaml's defaults except peer.gossip.state.enabled (on for both) and, for
fabgossip, no fdatasync per commit (the Fabric node keeps its ledger in memory). Commit times
come from the peers' `watch` command (CLOCK_MONOTONIC, this driver's clock); the fabgossip
Python peer polls its ledger height every 0.5 ms. In the `fabgossip` and `fabric` runs blocks
carry no orderer signature, so block verification is the structural check (header, data hash,
chain) for both kinds.

The `fabgossip-ed25519` run is the fabgossip run with real block verification: every block is
signed by an Ed25519 orderer key that both peers get in the join message (`orderers`, with
`orgLeader: false` so no peer dials the orderer endpoint), so each block costs an Ed25519
verification on the source when added and on the late peer when received. Its rate is printed
beside the no-op one and beside single-core verification rates measured on this machine with
the library's own code (`cargo test --release --lib state::tests::verification_rate_on_one_core
-- --ignored`: bare Ed25519 strict verifications, and the built-in VerifyBlock on signed blocks
of the benchmark's size); without cargo, OpenSSL's Ed25519 rate through the `cryptography`
package stands in (marked so).

    python3 bench/catchup.py [--blocks 900] [--block-kb 10] [--kinds fabgossip,fabgossip-ed25519,fabric]
        [--out F.json] [--plot F.png]
"""

import argparse
import hashlib
import json
import os
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import PeerProcess, python_peer_argv  # noqa: E402

import topology  # noqa: E402
from dissemination import make_blocks, wait_all  # noqa: E402
from fabgossip.blocks import _bytes_field, _header_der, _varint  # noqa: E402
from topology import FABRIC_NODE, fabgossip_configs  # noqa: E402

LIB = REPO / "target" / "release" / "libfabgossip.so"
CHANNEL = "mychannel"
JOIN = {"sequence": 1, "members": ["Org1MSP"], "anchor_peers": []}
KIND_NAMES = {"fabgossip": "fabgossip", "fabgossip-ed25519": "fg+Ed25519", "fabric": "Fabric"}
# Appended right after `peer.gossip.externalEndpoint` by topology.fabgossip_configs.
FG_EXTRA = "    state:\n      enabled: true\nfabgossip:\n  ledgerFsync: false\n"
# The Ed25519 run names an orderer (for its key) that no peer may dial: no static leader.
FG_EXTRA_ED25519 = "    orgLeader: false\n" + FG_EXTRA
ORDERER_MSP = b"OrdererMSP"


def argvs(kind, workdir, log_spec):
    if kind == "fabgossip":
        return [python_peer_argv(c) for c in fabgossip_configs(2, workdir, FG_EXTRA)]
    if kind == "fabgossip-ed25519":
        return [python_peer_argv(c) for c in fabgossip_configs(2, workdir, FG_EXTRA_ED25519)]
    return topology.fabric_argvs(2, ["--log-spec", log_spec, "--state-transfer"])


def signed_block(number, previous_hash, txs, key, creator):
    """(block bytes, header hash) as fabgossip.blocks.block, plus the orderer's signature in
    metadata[SIGNATURES]: Metadata{value: OrdererBlockMetadata{last_config{index 0}},
    signatures: [{signature_header: SignatureHeader{creator, nonce}, signature}]}, the signature
    over value || signature_header || the header's DER bytes (src/crypto/block.rs)."""
    data_hash = hashlib.sha256(b"".join(txs)).digest()
    header = b""
    if number:
        header += _varint(1 << 3 | 0) + _varint(number)
    if previous_hash:
        header += _bytes_field(2, previous_hash)
    header += _bytes_field(3, data_hash)
    header_der = _header_der(number, previous_hash, data_hash)
    value = _bytes_field(1, b"")
    sig_header = _bytes_field(1, creator) + _bytes_field(2, number.to_bytes(8, "big"))
    signature = key.sign(value + sig_header + header_der)
    metadata_sig = _bytes_field(1, sig_header) + _bytes_field(2, signature)
    slots = [_bytes_field(1, value) + _bytes_field(2, metadata_sig), b"", b"\x00" * len(txs), b"", b""]
    data = b"".join(_bytes_field(1, t) for t in txs)
    metadata = b"".join(_bytes_field(1, m) for m in slots)
    blk = _bytes_field(1, header) + _bytes_field(2, data) + _bytes_field(3, metadata)
    return blk, hashlib.sha256(header_der).digest()


def make_signed_blocks(count, block_bytes, key):
    """As dissemination.make_blocks, each block signed by `key` (an orderer of ORDERER_MSP)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    creator = _bytes_field(1, ORDERER_MSP) + _bytes_field(2, public)
    out, prev = [], b""
    for seq in range(count + 1):
        tx = b"genesis" if seq == 0 else (f"tx {seq} ".encode() * block_bytes)[:block_bytes]
        raw, prev = signed_block(seq, prev, [tx], key, creator)
        out.append(raw)
    return out, public


def verify_rates(block_bytes):
    """Single-core verification rates: the library's own (its ignored measuring test), or
    OpenSSL's Ed25519 rate when cargo cannot run it."""
    cmd = ["cargo", "test", "--release", "--quiet", "--lib", "state::tests::verification_rate_on_one_core",
           "--", "--ignored", "--exact", "--nocapture"]
    try:
        run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800,
                             env=dict(os.environ, FG_VERIFY_BLOCK_BYTES=str(block_bytes)))
        for line in run.stdout.splitlines():
            if line.startswith("VERIFY_RATE "):
                return dict(json.loads(line.split(" ", 1)[1]), implementation="ed25519-dalek (library)")
        print(f"verification rate test gave no result (exit {run.returncode}): {run.stderr[-500:]}",
              file=sys.stderr)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"cannot run the verification rate test: {e}", file=sys.stderr)
    return {"ed25519_verify_per_s": ed25519_verify_rate(), "verify_block_per_s": None,
            "block_bytes": block_bytes, "implementation": "OpenSSL via cryptography"}


def ed25519_verify_rate(seconds=1.0):
    """Ed25519 verifications per second on one core (OpenSSL, through `cryptography`), over a
    message the size of what a block signature covers."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    msg = b"m" * 200
    sig = key.sign(msg)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(200):
            public.verify(sig, msg)
        n += 200
    return n / (time.perf_counter() - t0)


def add_block(peer, seq, raw):
    """Adds one block; a block the full buffer refuses (FG_STATUS_BUSY) is offered again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return peer.command(f"add_block {CHANNEL} {seq} {raw.hex()}", "added", timeout=30)
        except RuntimeError as e:
            if "BUSY" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def measure(kind, count, block_bytes, timeout_s, workdir, poll_ms, log_spec):
    env = {"LD_LIBRARY_PATH": str(LIB.parent), "FABGOSSIP_LIB": str(LIB)}
    source_argv, late_argv = argvs(kind, workdir, log_spec)
    join = JOIN
    if kind == "fabgossip-ed25519":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        blocks, public = make_signed_blocks(count, block_bytes, Ed25519PrivateKey.generate())
        # Nothing listens there (and nobody dials it): the entry only carries the key.
        join = dict(JOIN, orderers=[{"endpoint": "127.0.0.1:9", "public_key": public.hex()}])
    else:
        blocks = make_blocks(count, block_bytes)
    peers = []
    try:
        source = PeerProcess(source_argv, log_path=Path(workdir) / f"{kind}-source.log", env=env)
        peers.append(source)
        source.join(CHANNEL, join)
        for seq, raw in enumerate(blocks):
            add_block(source, seq, raw)
        wait_all([source], lambda p: p.ledger_height(CHANNEL) >= count + 1, 120, "source ledger")
        late = PeerProcess(late_argv, log_path=Path(workdir) / f"{kind}-late.log", env=env)
        peers.append(late)
        wait_all([late], lambda p: len(p.alive_ids()) >= 1, 120, "membership")
        # The clock starts at the join; the late peer joins with the genesis block, as a
        # peer joining a channel does (Fabric's state provider needs a height of at least 1).
        t0 = time.monotonic_ns()
        late.join(CHANNEL, join)
        late.watch(CHANNEL, poll_ms if kind != "fabric" else None)
        late.add_block(CHANNEL, 0, blocks[0])
        deadline = time.monotonic() + timeout_s
        # When the late peer learns the source's height (its StateInfo), polled every 10 ms.
        learned_ns = None
        while learned_ns is None and time.monotonic() < deadline:
            if any(e["ledger_height"] > count for e in late.channel_peers(CHANNEL)):
                learned_ns = time.monotonic_ns()
            else:
                time.sleep(0.01)
        commits = {}
        while time.monotonic() < deadline:
            # The peer's reader thread files `committed` lines in `late.commits`.
            commits = {c["seq"]: c["t_ns"] for c in list(late.commits) if c.get("seq", 0) >= 1}
            if len(commits) >= count:
                break
            time.sleep(0.05)
        missing = count - len(commits)
        times = sorted(commits.values())
        first_s = (times[0] - t0) / 1e9 if times else None
        last_s = (times[-1] - t0) / 1e9 if times and not missing else None
        span = (times[-1] - times[0]) / 1e9 if len(times) > 1 else None
        rate = (len(times) - 1) / span if span else None
        return {
            "kind": kind, "blocks": count, "block_bytes": block_bytes,
            "height_learned_s": (learned_ns - t0) / 1e9 if learned_ns else None,
            "first_block_s": first_s, "last_block_s": last_s, "blocks_per_s": rate,
            "missing": missing,
            "commit_offsets_s": [(t - t0) / 1e9 for t in times],
        }
    finally:
        for p in peers:
            p.stop()


def fmt(v, spec, unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "n/a"


def print_table(results, rates=None):
    by = {r["kind"]: r for r in results}
    both = "fabgossip" in by and "fabric" in by
    print(f"{'':26}" + "".join(f"{KIND_NAMES[k]:>14}" for k in by) + ("     ratio" if both else ""))
    for r in results:
        # Negative: the first commit came within the 10 ms poll that saw the height.
        r["start_after_learned_s"] = (max(0.0, r["first_block_s"] - r["height_learned_s"])
                                      if r["first_block_s"] is not None and r["height_learned_s"] is not None
                                      else None)
    rows = [("source height learned", "height_learned_s", ".3f", " s", None),
            ("first block committed", "first_block_s", ".3f", " s", False),
            ("  after height learned", "start_after_learned_s", ".3f", " s", None),
            ("last block committed", "last_block_s", ".3f", " s", False),
            ("sustained", "blocks_per_s", ",.0f", " blk/s", True),
            ("blocks missing at timeout", "missing", "d", "", None)]
    for name, key, spec, unit, higher_better in rows:
        line = f"{name:26}" + "".join(f"{fmt(by[k][key], spec, unit):>14}" for k in by)
        if both and higher_better is not None:
            fab, fg = by["fabric"][key], by["fabgossip"][key]
            line += "  " + (ratio(fg, fab) if higher_better else ratio(fab, fg))
        print(line)
    if both:
        print("ratio: Fabric time / fabgossip time; fabgossip rate / Fabric rate (no-op verification)")
    if rates:
        ed25519, verify = rates["ed25519_verify_per_s"], rates["verify_block_per_s"]
        print(f"{'Ed25519 verify, 1 core':26}{ed25519:>14,.0f}/s  ({rates['implementation']})")
        if verify:
            kb = rates["block_bytes"] / 1000
            print(f"{f'VerifyBlock {kb:g} KB, 1 core':26}{verify:>14,.0f}/s")
        ed = by.get("fabgossip-ed25519", {}).get("blocks_per_s")
        noop = by.get("fabgossip", {}).get("blocks_per_s")
        if ed:
            parts = [f"{ed / ed25519:.0%} of the Ed25519 rate"]
            if verify:
                parts.append(f"{ed / verify:.0%} of the VerifyBlock rate")
            if noop:
                parts.append(f"{ed / noop:.0%} of the no-op rate")
            print("fg+Ed25519 sustained: " + ", ".join(parts))


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        xs = r["commit_offsets_s"]
        ax.plot(xs, range(1, len(xs) + 1), label=KIND_NAMES[r["kind"]])
    ax.set_xlabel("seconds since the late peer joined")
    ax.set_ylabel("blocks committed")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_title(f"Catch-up of {results[0]['blocks']} blocks of {results[0]['block_bytes'] // 1000} KB")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, default=900)
    ap.add_argument("--block-kb", type=float, default=10.0)
    ap.add_argument("--kinds", default="fabgossip,fabgossip-ed25519,fabric")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the last block")
    ap.add_argument("--poll-ms", type=float, default=0.5)
    ap.add_argument("--fabric-log-spec", default="error")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (peer logs)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--plot", help="draw the figure into this PNG")
    a = ap.parse_args()
    kinds = [k for k in a.kinds.split(",") if k]
    if "fabric" in kinds and not FABRIC_NODE.exists():
        sys.exit(f"{FABRIC_NODE} is missing: run `make fabricnode` first")
    if any(k.startswith("fabgossip") for k in kinds) and not LIB.exists():
        sys.exit(f"{LIB} is missing: run `cargo build --release` first")
    unknown = [k for k in kinds if k not in KIND_NAMES]
    if unknown:
        sys.exit(f"unknown kinds {unknown}; known: {', '.join(KIND_NAMES)}")
    if "fabgossip-ed25519" in kinds:
        try:
            import cryptography  # noqa: F401  (signs the blocks of the Ed25519 run)
        except ImportError:
            sys.exit("the fabgossip-ed25519 run signs blocks with the `cryptography` package: "
                     "pip install -r requirements-bench.txt, or leave the kind out with --kinds")
    # Measured first, before any peer runs, so the peers do not share the core with it.
    rates = verify_rates(int(a.block_kb * 1000)) if "fabgossip-ed25519" in kinds else None
    workdir = tempfile.mkdtemp(prefix="fg-catchup-")
    results = []
    try:
        for kind in kinds:
            d = Path(workdir) / kind
            d.mkdir()
            results.append(measure(kind, a.blocks, int(a.block_kb * 1000), a.timeout, d,
                                   a.poll_ms, a.fabric_log_spec))
    finally:
        if a.keep:
            print(f"work directory: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, rates)
    if a.out:
        Path(a.out).write_text(json.dumps({"results": results, "verify_rates": rates}, indent=1) + "\n")
    if a.plot:
        plot(results, a.plot)


if __name__ == "__main__":
    main()
