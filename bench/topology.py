"""The network both benchmarks build: N peers of one kind in Org1 on loopback, each bootstrapping
to the first, every one publishing its endpoint. Returns command lines; the drivers start them."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bindings" / "python"))

from fabgossip.process import free_port  # noqa: E402

FABRIC_NODE = REPO / "build" / "fabricnode"


def free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return list(ports)


def fabgossip_configs(n, workdir, extra_yaml=""):
    """One config file per fabgossip peer (core.yaml keys, defaults elsewhere); `extra_yaml` is
    appended as top-level YAML."""
    ports = free_ports(n)
    paths = []
    for i, port in enumerate(ports):
        boot = f"127.0.0.1:{ports[0]}" if i else ""
        d = Path(workdir) / f"fg{i}"
        d.mkdir()
        cfg = d / "core.yaml"
        cfg.write_text(
            "peer:\n"
            f"  id: peer{i}\n  localMspId: Org1MSP\n"
            f"  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n"
            f"  fileSystemPath: {d}\n"
            "  gossip:\n"
            f"    bootstrap: '{boot}'\n"
            f"    externalEndpoint: 127.0.0.1:{port}\n"
            + extra_yaml
        )
        paths.append(cfg)
    return paths


def fabric_argvs(n, extra_flags=()):
    """Command lines of N real Fabric gossip nodes (`make fabricnode`)."""
    ports = free_ports(n)
    return [[str(FABRIC_NODE), *extra_flags,
             "--listen", f"127.0.0.1:{port}", "--msp", "Org1MSP",
             "--bootstrap", f"127.0.0.1:{ports[0]}" if i else "",
             "--external-endpoint", f"127.0.0.1:{port}"]
            for i, port in enumerate(ports)]
