"""A stock Hyperledger Fabric 2.5.9 network on 127.0.0.1, without Docker.

Fabric's own `orderer` and `peer` commands (built by `make fabric-bin` into build/fabric/bin)
run as plain processes: one etcdraft orderer joined to the channel through the channel
participation API (`osnadmin channel join`, no system channel), two Org1 peers and one Org2
peer. MSPs come from `cryptogen` with NodeOUs, TLS is on everywhere, the anchor peers are in the
channel's genesis block, every port is a free one on 127.0.0.1. Configuration is Fabric's
sampleconfig (core.yaml, orderer.yaml from the Go module cache) with environment overrides.

Org1's peer0 is the static org leader (it pulls blocks from the orderer); peer1 is not and gets
every block by gossip. Org2's peer0 leads its org.

As a library:

    with Network() as net:
        net.make_blocks(10)
        net.getinfo(net.peer("peer1.org1"))

From the command line: `python3 tests/fabnet/network.py up` keeps the network running until
Ctrl-C and prints how to reach it; `--blocks N` adds N blocks first.
"""

import argparse
import base64
import concurrent.futures
import ctypes
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INTEROP = REPO / "tests" / "interop"
DEFAULT_BIN = REPO / "build" / "fabric" / "bin"
FABRIC_MODULE = "github.com/hyperledger/fabric"
CHANNEL = "fabnet"
DOMAIN = {"OrdererMSP": "example.com", "Org1MSP": "org1.example.com",
          "Org2MSP": "org2.example.com", "Org3MSP": "org3.example.com"}

# The Fabric peers: (name, MSP ID, static org leader).
FABRIC_PEERS = (("peer0.org1", "Org1MSP", True),
                ("peer1.org1", "Org1MSP", False),
                ("peer0.org2", "Org2MSP", True))


class FabnetError(Exception):
    """A Fabric command failed or a condition was not reached in time."""


class NodeExited(FabnetError):
    """An orderer or peer process ended; waiting longer cannot help."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def wait_until(what, check, timeout, interval=0.2):
    """Polls check() until it returns a true value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = check()
            if value:
                return value
        except NodeExited:
            raise
        except FabnetError as e:
            last_error = e
        if time.monotonic() > deadline:
            detail = f": {last_error}" if last_error else ""
            raise FabnetError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def sampleconfig_dir():
    """Fabric's sampleconfig folder from the Go module cache, at the pin of tests/interop/go.mod."""
    env = os.environ.get("FABNET_SAMPLECONFIG")
    if env:
        return Path(env)
    out = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", FABRIC_MODULE], cwd=INTEROP,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or not out.stdout.strip():
        raise FabnetError(f"cannot locate {FABRIC_MODULE} in the module cache: {out.stderr.strip()}")
    path = Path(out.stdout.strip()) / "sampleconfig"
    if not (path / "core.yaml").is_file():
        raise FabnetError(f"no core.yaml in {path}")
    return path


def _die_with_parent():
    """Runs in the child before exec: the kernel kills it if the test process dies first."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Node:
    """One orderer or peer process and its files."""
    name: str  # short name, e.g. "peer0.org1"
    mspid: str
    port: int
    ops_port: int
    home: Path
    crypto: Path  # the node's folder in the cryptogen output (msp/, tls/)
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def host(self):
        return f"{self.name.split('.')[0]}.{DOMAIN[self.mspid]}"

    @property
    def log_path(self):
        return self.home / f"{self.name}.log"

    @property
    def tls_ca(self):
        return self.crypto / "tls" / "ca.crt"

    def log(self):
        """The process's log so far (Fabric logs to stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def metrics_text(self):
        """The operations endpoint's /metrics page (Prometheus text)."""
        url = f"http://127.0.0.1:{self.ops_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError as e:
            raise FabnetError(f"{self.name}: GET {url}: {e}") from e

    def health(self):
        """GET /healthz: (HTTP status, JSON body), or None while the endpoint is down."""
        url = f"http://127.0.0.1:{self.ops_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")
        except (OSError, ValueError):
            return None


@dataclass
class Peer(Node):
    chaincode_port: int = 0
    org_leader: bool = False


def parse_metrics(text):
    """Prometheus text into [(name, {label: value}, float)]."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        labels = {}
        name = head
        if "{" in head:
            name, _, rest = head.partition("{")
            for part in _split_labels(rest.rstrip("}")):
                k, _, v = part.partition("=")
                labels[k] = v.strip('"')
        samples.append((name, labels, float(value)))
    return samples


def _split_labels(text):
    parts, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return parts


def metric(samples, name, **labels):
    """Sum of the samples called name whose labels include the given ones (None if none)."""
    found = [v for (n, lb, v) in samples
             if n == name and all(lb.get(k) == str(w) for k, w in labels.items())]
    return sum(found) if found else None


# A block's header, read from the protobuf bytes Fabric writes (common.Block: header = 1;
# BlockHeader: number = 1, previous_hash = 2, data_hash = 3).

def _varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf):
            raise FabnetError("truncated varint in block")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise FabnetError(f"unexpected wire type {wire} in block")
        yield num, value


def block_header(block_bytes):
    """(number, previous_hash, data_hash) of a serialized common.Block."""
    header = next((v for n, v in _fields(block_bytes) if n == 1), None)
    if header is None:
        raise FabnetError("block without header")
    fields = dict(_fields(header))
    return fields.get(1, 0), bytes(fields.get(2, b"")), bytes(fields.get(3, b""))


def block_tx_filter(block_bytes):
    """The committing peer's validation code per transaction (BlockMetadata index 2,
    TRANSACTIONS_FILTER; 0 = VALID)."""
    meta = next((v for n, v in _fields(block_bytes) if n == 3), b"")
    entries = [bytes(v) for n, v in _fields(meta) if n == 1]
    return entries[2] if len(entries) > 2 else b""


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def block_header_hash(block_bytes):
    """The block hash as Fabric computes it: SHA-256 over the header's ASN.1 DER encoding
    SEQUENCE { INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash }."""
    number, prev, data_hash = block_header(block_bytes)
    num = number.to_bytes(number.bit_length() // 8 + 1, "big")  # room for the sign bit
    der = _der(0x30, _der(0x02, num) + _der(0x04, prev) + _der(0x04, data_hash))
    return hashlib.sha256(der).digest()


class Network:
    """The network's files, processes and Fabric's views of it. up() then down(), or `with`."""

    def __init__(self, *, bin_dir=None, root=None, spare_peers=3, log_spec="info", keep=False,
                 org1_leadership="static", orderer_client_auth=False, org3=False, org1_env=None,
                 revoked_spares=None):
        """org1_leadership: "static" (peer0.org1 is Org1's static leader), "none" (no Fabric
        peer of Org1 pulls from the orderer: a peer a test adds leads Org1) or "election"
        (Org1's Fabric peers elect their leader: USELEADERELECTION=true, ORGLEADER=false).
        orderer_client_auth: the orderer requires a TLS client certificate (mutual TLS) on
        its cluster/deliver/broadcast port. org3: cryptogen also makes an Org3MSP with spare
        peers only, outside the channel's genesis config (a config update adds it).
        org1_env: further CORE_* settings of Org1's Fabric peers (e.g. election timers).
        revoked_spares: {mspid: [spare index, ...]}, spare identities a CRL of their org's CA
        revokes; the CRL is in the org's msp/crls, so the genesis block's MSP config carries it."""
        if org1_leadership not in ("static", "none", "election"):
            raise ValueError(f"org1_leadership: {org1_leadership!r}")
        self.bin = Path(bin_dir or os.environ.get("FABNET_BIN") or DEFAULT_BIN)
        self.spare_peers = spare_peers
        self.org1_leadership = org1_leadership
        self.orderer_client_auth = orderer_client_auth
        self.org3 = org3
        self.org1_env = dict(org1_env or {})
        self.revoked_spares = dict(revoked_spares or {})
        self.log_spec = log_spec
        self.keep = keep or os.environ.get("FABNET_KEEP") == "1"
        self._root_arg = root
        self.root = None
        self.channel = CHANNEL
        self.orderer = None
        self.peers = []
        self._cc_names = (f"fabnet{i}" for i in itertools.count(1))
        self.timings = {}

    # --- paths -----------------------------------------------------------------------------

    @property
    def crypto(self):
        return self.root / "crypto"

    @property
    def genesis_block(self):
        return self.root / "config" / f"{self.channel}.block"

    def org_dir(self, mspid):
        kind = "ordererOrganizations" if mspid == "OrdererMSP" else "peerOrganizations"
        return self.crypto / kind / DOMAIN[mspid]

    def admin_dir(self, mspid):
        """Admin@<domain>: msp/ (signing identity) and tls/ (client certificate)."""
        return self.org_dir(mspid) / "users" / f"Admin@{DOMAIN[mspid]}"

    def spare_identity(self, mspid, index):
        """The cryptogen folder (msp/, tls/) of peerN of an org that no Fabric peer uses:
        index 0 is the first spare one."""
        used = sum(1 for _, m, _ in FABRIC_PEERS if m == mspid)
        if not 0 <= index < self.spare_peers:
            raise FabnetError(f"only {self.spare_peers} spare identities per org")
        n = used + index
        return self.org_dir(mspid) / "peers" / f"peer{n}.{DOMAIN[mspid]}"

    def _org_ca(self, mspid):
        """The org's cryptogen CA: (certificate, private key), with `cryptography`."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        ca = self.org_dir(mspid) / "ca"
        cert = x509.load_pem_x509_certificate(next(ca.glob("*-cert.pem")).read_bytes())
        key = serialization.load_pem_private_key((ca / "priv_sk").read_bytes(), None)
        return cert, key

    @staticmethod
    def _signcert(identity):
        return next((identity / "msp" / "signcerts").iterdir())

    def write_crl(self, mspid, identities):
        """Writes `msp/crls/crl.pem` of the org: a CRL signed by the org's CA listing the
        serials of the enrollment certificates of `identities` (cryptogen folders)."""
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        ca_cert, ca_key = self._org_ca(mspid)
        now = datetime.datetime.now(datetime.timezone.utc)
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(ca_cert.subject)
                   .last_update(now - datetime.timedelta(minutes=1))
                   .next_update(now + datetime.timedelta(days=365))
                   .add_extension(x509.AuthorityKeyIdentifier
                                  .from_issuer_subject_key_identifier(ski), critical=False))
        for identity in identities:
            cert = x509.load_pem_x509_certificate(self._signcert(identity).read_bytes())
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
                .revocation_date(now - datetime.timedelta(minutes=1)).build())
        crl = builder.sign(ca_key, hashes.SHA256())
        crls = self.org_dir(mspid) / "msp" / "crls"
        crls.mkdir(exist_ok=True)
        path = crls / "crl.pem"
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return path

    def expire_identity(self, mspid, identity):
        """Re-issues the enrollment certificate of `identity` (a cryptogen folder) with the
        same subject, key and extensions, signed by the org's CA, valid for one minute after
        the CA's own NotBefore: expired since. Returns the certificate's path."""
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        ca_cert, ca_key = self._org_ca(mspid)
        path = self._signcert(identity)
        old = x509.load_pem_x509_certificate(path.read_bytes())
        start = ca_cert.not_valid_before_utc + datetime.timedelta(seconds=1)
        builder = (x509.CertificateBuilder()
                   .subject_name(old.subject)
                   .issuer_name(ca_cert.subject)
                   .public_key(old.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start)
                   .not_valid_after(start + datetime.timedelta(minutes=1)))
        for ext in old.extensions:
            builder = builder.add_extension(ext.value, ext.critical)
        cert = builder.sign(ca_key, hashes.SHA256())
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    @property
    def orderer_tls_ca(self):
        return self.org_dir("OrdererMSP") / "tlsca" / "tlsca.example.com-cert.pem"

    def peer(self, name):
        for p in self.peers:
            if p.name == name:
                return p
        raise KeyError(name)

    def nodes(self):
        return ([self.orderer] if self.orderer else []) + list(self.peers)

    # --- bring-up and tear-down -------------------------------------------------------------

    def up(self, timeout=90, attempts=3):
        """Generates the material, starts the orderer and the peers and joins them to the
        channel. Returns once every peer has the genesis block and knows the other two by
        gossip. Tears everything down if any step fails. Call it from the thread that will
        call down(): the nodes die with the thread that started them.

        A free port can be taken by another program before a node binds it; such a bring-up
        is torn down and retried with new ports (in a new temporary folder)."""
        start = time.monotonic()
        for attempt in range(attempts):
            try:
                self._up(timeout)
                break
            except BaseException:
                port_taken = any("address already in use" in n.log() for n in self.nodes())
                self.down()
                if not port_taken or self._root_arg or attempt == attempts - 1:
                    raise
                self.timings.setdefault("port_retries", 0)
                self.timings["port_retries"] += 1
        self.timings["up"] = time.monotonic() - start
        return self

    def _up(self, timeout):
        deadline = time.monotonic() + timeout

        def left():
            return max(5.0, deadline - time.monotonic())

        commands = ("orderer", "peer", "cryptogen", "configtxgen", "osnadmin", "discover")
        for cmd in commands + (("configtxlator",) if self.org3 else ()):
            if not (self.bin / cmd).is_file():
                raise FabnetError(f"{self.bin / cmd} missing: run `make fabric-bin`")
        self.sampleconfig = sampleconfig_dir()
        if self._root_arg:
            self.root = Path(self._root_arg)
            if self.root.exists() and any(self.root.iterdir()):
                raise FabnetError(f"{self.root} is not empty")
            self.root.mkdir(parents=True, exist_ok=True)
        else:
            self.root = Path(tempfile.mkdtemp(prefix="fabnet-"))
        (self.root / "config").mkdir(exist_ok=True)

        self._plan()
        self._generate()
        self._start_orderer(left())
        self._join_orderer(left())
        t = time.monotonic()
        for p in self.peers:
            self._start(p)
        for p in self.peers:
            self._wait_serving(p, left())
        self.timings["peers_start"] = time.monotonic() - t
        # Org1 joins before Org2: a peer accepts another org's peers only once it is in a
        # channel with that org, so Org2's peer, joining last, dials Org1's anchor peer when
        # Org1 already accepts it.
        t = time.monotonic()
        for mspid in ("Org1MSP", "Org2MSP"):
            org = [p for p in self.peers if p.mspid == mspid]
            with concurrent.futures.ThreadPoolExecutor(len(org)) as pool:
                list(pool.map(lambda p: self.peer_cli(p, "channel", "join", "-b",
                                                      str(self.genesis_block)), org))
        for p in self.peers:
            wait_until(f"{p.name} to commit the genesis block",
                       lambda p=p: self.getinfo(p)["height"] >= 1, left(), interval=0.5)
        self.timings["peers_join"] = time.monotonic() - t
        t = time.monotonic()
        self.wait_membership(left())
        self.timings["membership"] = time.monotonic() - t

    def _plan(self):
        ocrypto = self.org_dir("OrdererMSP") / "orderers" / "orderer.example.com"
        self.orderer = Node("orderer", "OrdererMSP", free_port(), free_port(),
                            self.root / "orderer", ocrypto)
        self.orderer.admin_port = free_port()
        self.peers = []
        for name, mspid, leader in FABRIC_PEERS:
            if mspid == "Org1MSP" and self.org1_leadership != "static":
                leader = False
            crypto = self.org_dir(mspid) / "peers" / f"{name}.example.com"
            self.peers.append(Peer(name, mspid, free_port(), free_port(), self.root / name, crypto,
                                   chaincode_port=free_port(), org_leader=leader))
        self.orderer.env = self._orderer_env()
        for p in self.peers:
            p.env = self._peer_env(p)

    def _render(self, template, dest, **values):
        text = string.Template((HERE / template).read_text()).substitute(**values)
        dest.write_text(text)
        return dest

    def _generate(self):
        t = time.monotonic()
        used = {m: sum(1 for _, mm, _ in FABRIC_PEERS if mm == m) for m in ("Org1MSP", "Org2MSP")}
        cc = self._render("crypto-config.yaml", self.root / "config" / "crypto-config.yaml",
                          org1_count=used["Org1MSP"] + self.spare_peers,
                          org2_count=used["Org2MSP"] + self.spare_peers)
        self.run("cryptogen", "generate", f"--config={cc}", f"--output={self.crypto}")
        if self.org3:
            cc3 = self._render("crypto-config-org3.yaml",
                               self.root / "config" / "crypto-config-org3.yaml",
                               org3_count=self.spare_peers)
            self.run("cryptogen", "generate", f"--config={cc3}", f"--output={self.crypto}")
        for mspid, indexes in self.revoked_spares.items():
            self.write_crl(mspid, [self.spare_identity(mspid, i) for i in indexes])
        p1, p2 = self.peer("peer0.org1"), self.peer("peer0.org2")
        self._render("configtx.yaml", self.root / "config" / "configtx.yaml",
                     crypto=self.crypto, orderer_port=self.orderer.port,
                     orderer_tls=self.orderer.crypto / "tls",
                     org1_anchor_port=p1.port, org2_anchor_port=p2.port)
        self.run("configtxgen", "-configPath", str(self.root / "config"),
                 "-profile", "FabnetChannel", "-channelID", self.channel,
                 "-outputBlock", str(self.genesis_block))
        self.timings["crypto"] = time.monotonic() - t

    def _start(self, node):
        node.home.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update({"FABRIC_CFG_PATH": str(self.sampleconfig), "FABRIC_LOGGING_SPEC": self.log_spec})
        env.update(node.env)
        cmd = ([str(self.bin / "orderer")] if node is self.orderer
               else [str(self.bin / "peer"), "node", "start"])
        with open(node.log_path, "ab") as log:
            node.proc = subprocess.Popen(cmd, env=env, cwd=node.home, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)

    def _wait_serving(self, node, timeout):
        """Until the node's operations endpoint answers and its gRPC ports accept (the
        operations server starts before them)."""
        ports = [node.port] + ([node.admin_port] if node is self.orderer else [])

        def ok():
            if not node.running():
                raise NodeExited(f"{node.name} exited ({node.proc.returncode}); log:\n"
                                  f"{node.log_tail()}")
            return node.health() is not None and all(_listening(p) for p in ports)
        try:
            wait_until(f"{node.name}'s /healthz and ports {ports}", ok, timeout)
        except NodeExited:
            raise
        except FabnetError as e:
            raise FabnetError(f"{e}; log:\n{node.log_tail()}") from None

    def _orderer_env(self):
        o = self.orderer
        tls = o.crypto / "tls"
        return {
            "ORDERER_GENERAL_LISTENADDRESS": "127.0.0.1",
            "ORDERER_GENERAL_LISTENPORT": str(o.port),
            "ORDERER_GENERAL_LOCALMSPID": o.mspid,
            "ORDERER_GENERAL_LOCALMSPDIR": str(o.crypto / "msp"),
            "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
            "ORDERER_GENERAL_TLS_ENABLED": "true",
            "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
            "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
            "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_GENERAL_TLS_CLIENTAUTHREQUIRED": "true" if self.orderer_client_auth else "false",
            # The peer orgs' TLS CAs come from the channel config as well; listed here so that
            # a client of any org is accepted from the first block on.
            "ORDERER_GENERAL_TLS_CLIENTROOTCAS": "[" + ",".join(
                str(ca) for ca in self._tls_cas("OrdererMSP", "Org1MSP", "Org2MSP")) + "]",
            "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": str(tls / "server.crt"),
            "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": str(tls / "server.key"),
            "ORDERER_GENERAL_CLUSTER_ROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
            "ORDERER_ADMIN_LISTENADDRESS": f"127.0.0.1:{o.admin_port}",
            "ORDERER_ADMIN_TLS_ENABLED": "true",
            "ORDERER_ADMIN_TLS_CERTIFICATE": str(tls / "server.crt"),
            "ORDERER_ADMIN_TLS_PRIVATEKEY": str(tls / "server.key"),
            "ORDERER_ADMIN_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
            "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{tls / 'ca.crt'}]",
            "ORDERER_FILELEDGER_LOCATION": str(o.home / "ledger"),
            "ORDERER_CONSENSUS_WALDIR": str(o.home / "etcdraft" / "wal"),
            "ORDERER_CONSENSUS_SNAPDIR": str(o.home / "etcdraft" / "snapshot"),
            "ORDERER_OPERATIONS_LISTENADDRESS": f"127.0.0.1:{o.ops_port}",
            "ORDERER_METRICS_PROVIDER": "prometheus",
        }

    def _start_orderer(self, timeout):
        self._start(self.orderer)
        self._wait_serving(self.orderer, timeout)

    def _tls_cas(self, *mspids):
        return [self.org_dir(m) / "tlsca" / f"tlsca.{DOMAIN[m]}-cert.pem" for m in mspids]

    def _mutual_tls_env(self, p):
        """A Fabric peer presents its TLS certificate to the orderer and binds its deliver
        requests to it only with peer.tls.clientAuthRequired, which makes its own port
        require client certificates as well."""
        tls = p.crypto / "tls"
        return {
            "CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true",
            "CORE_PEER_TLS_CLIENTCERT_FILE": str(tls / "server.crt"),
            "CORE_PEER_TLS_CLIENTKEY_FILE": str(tls / "server.key"),
            "CORE_PEER_TLS_CLIENTROOTCAS_FILES": " ".join(
                str(ca) for ca in self._tls_cas("OrdererMSP", "Org1MSP", "Org2MSP")),
        }

    def _peer_env(self, p):
        tls = p.crypto / "tls"
        # Org members bootstrap from each other; a peer alone in its org names itself.
        mates = [q for q in self.peers if q.mspid == p.mspid and q is not p] or [p]
        extra = self._mutual_tls_env(p) if self.orderer_client_auth else {}
        if p.mspid == "Org1MSP":
            extra |= self.org1_env
        return {
            "CORE_PEER_ID": p.host,
            "CORE_PEER_NETWORKID": "fabnet",
            "CORE_PEER_LISTENADDRESS": p.address,
            "CORE_PEER_ADDRESS": p.address,
            "CORE_PEER_CHAINCODELISTENADDRESS": f"127.0.0.1:{p.chaincode_port}",
            "CORE_PEER_CHAINCODEADDRESS": f"127.0.0.1:{p.chaincode_port}",
            "CORE_PEER_LOCALMSPID": p.mspid,
            "CORE_PEER_MSPCONFIGPATH": str(p.crypto / "msp"),
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
            "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
            "CORE_PEER_TLS_ROOTCERT_FILE": str(tls / "ca.crt"),
            "CORE_PEER_GOSSIP_BOOTSTRAP": " ".join(q.address for q in mates),
            "CORE_PEER_GOSSIP_EXTERNALENDPOINT": p.address,
            # A peer's first dial to another org's anchor peer, right at channel join, can fail
            # TLS (the channel's TLS CAs are not yet trusted) and is retried only after this
            # interval, 25s in core.yaml; 2s keeps bring-up within seconds.
            "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "2s",
            "CORE_PEER_GOSSIP_USELEADERELECTION": "true" if self._elects(p) else "false",
            "CORE_PEER_GOSSIP_ORGLEADER": "true" if p.org_leader else "false",
            # An endorser disseminates its org's implicit collection to every peer of the org
            # it knows (core.yaml: at most 1, chosen at random), so the fabgossip peers of
            # test_privdata.py are always among the targets; nothing more is required.
            "CORE_PEER_GOSSIP_PVTDATA_IMPLICITCOLLECTIONDISSEMINATIONPOLICY_MAXPEERCOUNT": "10",
            "CORE_PEER_FILESYSTEMPATH": str(p.home / "data"),
            "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(p.home / "snapshots"),
            "CORE_OPERATIONS_LISTENADDRESS": f"127.0.0.1:{p.ops_port}",
            "CORE_METRICS_PROVIDER": "prometheus",
            # No chaincode runtime: no external builders, and a Docker endpoint nothing
            # listens on (Fabric requires one of the two; _lifecycle runs in the peer).
            "CORE_CHAINCODE_EXTERNALBUILDERS": "[]",
            "CORE_VM_ENDPOINT": f"unix://{self.root / 'no-docker.sock'}",
        } | extra

    def _elects(self, p):
        return p.mspid == "Org1MSP" and self.org1_leadership == "election"

    def _join_orderer(self, timeout):
        t = time.monotonic()
        self.osnadmin("channel", "join", "--channelID", self.channel,
                      "--config-block", str(self.genesis_block))
        wait_until("the orderer to lead the channel's raft",
                   lambda: metric(parse_metrics(self.orderer.metrics_text()),
                                  "consensus_etcdraft_is_leader", channel=self.channel) == 1,
                   timeout)
        self.timings["orderer_join"] = time.monotonic() - t

    def wait_membership(self, timeout=60):
        """Until each peer's discovery service lists all three peers of the channel."""
        for p in self.peers:
            wait_until(f"{p.name} to know every peer of {self.channel}",
                       lambda p=p: (self.check_running()
                                    or len(self.discover_peers(p)) == len(self.peers)),
                       timeout, interval=1.0)

    def down(self):
        """Stops every process (SIGTERM, then SIGKILL) and removes the files. Idempotent."""
        for node in reversed(self.nodes()):
            if node.running():
                try:
                    os.killpg(node.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for node in reversed(self.nodes()):
            if node.proc is None:
                continue
            try:
                node.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                node.proc.wait(timeout=10)
        if self.root is not None and not self.keep and not self._root_arg:
            shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self):
        """What down() should have removed and has not: live process ids and the folder."""
        left = []
        for node in self.nodes():
            if node.proc is None:
                continue
            try:
                os.kill(node.proc.pid, 0)
                left.append(f"{node.name} pid {node.proc.pid}")
            except ProcessLookupError:
                pass
        if self.root is not None and self.root.exists() and not self.keep and not self._root_arg:
            left.append(str(self.root))
        return left

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    # --- commands ---------------------------------------------------------------------------

    def run(self, cmd, *args, env=None, timeout=120):
        """Runs one of Fabric's commands; its stdout on success, FabnetError otherwise."""
        full_env = dict(os.environ)
        full_env["FABRIC_CFG_PATH"] = str(self.sampleconfig)
        full_env["FABRIC_LOGGING_SPEC"] = "warning"
        full_env.update(env or {})
        argv = [str(self.bin / cmd), *args]
        try:
            out = subprocess.run(argv, env=full_env, capture_output=True, text=True,
                                 timeout=timeout, cwd=self.root)
        except subprocess.TimeoutExpired as e:
            raise FabnetError(f"{' '.join(argv)}: no answer in {timeout}s") from e
        if out.returncode != 0:
            raise FabnetError(f"{' '.join(argv)} exited {out.returncode}:\n"
                              f"{(out.stderr or out.stdout).strip()[-2000:]}")
        return out.stdout

    def admin_env(self, peer):
        """Environment for the `peer` CLI as the peer's org admin, talking to that peer
        (with the admin's TLS client certificate when the peers require one)."""
        env = {
            "CORE_PEER_LOCALMSPID": peer.mspid,
            "CORE_PEER_MSPCONFIGPATH": str(self.admin_dir(peer.mspid) / "msp"),
            "CORE_PEER_ADDRESS": peer.address,
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_ROOTCERT_FILE": str(peer.tls_ca),
        }
        if self.orderer_client_auth:
            tls = self.admin_dir(peer.mspid) / "tls"
            env.update({"CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true",
                        "CORE_PEER_TLS_CLIENTCERT_FILE": str(tls / "client.crt"),
                        "CORE_PEER_TLS_CLIENTKEY_FILE": str(tls / "client.key")})
        return env

    # --- config updates ---------------------------------------------------------------------

    def fetch_config_block(self):
        """The channel's latest config block from the orderer, as Org1's admin (`peer channel
        fetch config`): its path under config/."""
        block = self.root / "config" / "latest-config.block"
        self.peer_cli(self.peer("peer0.org1"), "channel", "fetch", "config", str(block),
                      "-c", self.channel, *self.orderer_args("Org1MSP"))
        return block

    def fetch_config(self):
        """The channel's config (`common.Config` as configtxlator's JSON) from its latest
        config block."""
        decoded = json.loads(self.run("configtxlator", "proto_decode", "--input",
                                      str(self.fetch_config_block()), "--type", "common.Block"))
        return decoded["data"]["data"][0]["payload"]["data"]["config"]

    def org_definition(self, mspid):
        """An org's channel group (`configtxgen -printOrg`), for an org outside the genesis
        config (Org3MSP)."""
        folder = self.root / "config" / mspid
        folder.mkdir(exist_ok=True)
        self._render("configtx-org3.yaml", folder / "configtx.yaml", crypto=self.crypto)
        return json.loads(self.run("configtxgen", "-configPath", str(folder),
                                   "-printOrg", mspid))

    def update_config(self, original, updated, signers):
        """Computes the config update from `original` to `updated` (configtxlator), has it
        signed by the admins of `signers` (MSP IDs, `peer channel signconfigtx`; the last one
        signs as it submits) and submits it to the orderer (`peer channel update`)."""
        work = Path(tempfile.mkdtemp(prefix="config-update-", dir=self.root / "config"))

        def encode(obj, kind, name):
            (work / f"{name}.json").write_text(json.dumps(obj))
            self.run("configtxlator", "proto_encode", "--input", str(work / f"{name}.json"),
                     "--type", kind, "--output", str(work / f"{name}.pb"))
            return work / f"{name}.pb"

        self.run("configtxlator", "compute_update", "--channel_id", self.channel,
                 "--original", str(encode(original, "common.Config", "original")),
                 "--updated", str(encode(updated, "common.Config", "updated")),
                 "--output", str(work / "update.pb"))
        update = json.loads(self.run("configtxlator", "proto_decode", "--input",
                                     str(work / "update.pb"), "--type", "common.ConfigUpdate"))
        envelope = encode({"payload": {"header": {"channel_header": {
            "channel_id": self.channel, "type": 2}}, "data": {"config_update": update}}},
            "common.Envelope", "envelope")
        by_org = {p.mspid: p for p in self.peers}
        for mspid in signers[:-1]:
            self.peer_cli(by_org[mspid], "channel", "signconfigtx", "-f", str(envelope))
        self.peer_cli(by_org[signers[-1]], "channel", "update", "-f", str(envelope),
                      "-c", self.channel, *self.orderer_args(signers[-1]))

    def orderer_args(self, mspid):
        """The `peer` CLI's flags to reach the orderer over TLS as the org's admin (with its
        TLS client certificate when the orderer requires one)."""
        args = ["-o", self.orderer.address, "--tls", "--cafile", str(self.orderer_tls_ca)]
        if self.orderer_client_auth:
            tls = self.admin_dir(mspid) / "tls"
            args += ["--clientauth", "--certfile", str(tls / "client.crt"),
                     "--keyfile", str(tls / "client.key")]
        return args

    def peer_cli(self, peer, *args, timeout=120):
        return self.run("peer", *args, env=self.admin_env(peer), timeout=timeout)

    def osnadmin(self, *args):
        admin_tls = self.admin_dir("OrdererMSP") / "tls"
        return self.run("osnadmin", *args, "-o", f"127.0.0.1:{self.orderer.admin_port}",
                        "--ca-file", str(self.orderer.tls_ca),
                        "--client-cert", str(admin_tls / "client.crt"),
                        "--client-key", str(admin_tls / "client.key"))

    def orderer_channel(self):
        """`osnadmin channel list --channelID`: the orderer's view (status, height)."""
        out = self.osnadmin("channel", "list", "--channelID", self.channel)
        return json.loads(out[out.index("{"):])

    def getinfo(self, peer):
        """`peer channel getinfo`: {"height": int, "currentBlockHash": bytes, ...}."""
        out = self.peer_cli(peer, "channel", "getinfo", "-c", self.channel)
        marker = "Blockchain info:"
        if marker not in out:
            raise FabnetError(f"{peer.name}: unexpected getinfo output {out!r}")
        info = json.loads(out.split(marker, 1)[1])
        for key in ("currentBlockHash", "previousBlockHash"):
            if key in info:
                info[key] = base64.b64decode(info[key])
        info.setdefault("height", 0)
        return info

    def fetch_block(self, peer, number):
        """`peer channel fetch <number>` from the peer's deliver service: the block's bytes."""
        dest = Path(tempfile.mkstemp(prefix=f"{peer.name}-{number}-", suffix=".block",
                                     dir=self.root)[1])
        try:
            self.peer_cli(peer, "channel", "fetch", str(number), str(dest), "-c", self.channel)
            return dest.read_bytes()
        finally:
            dest.unlink(missing_ok=True)

    def fetch_orderer_block(self, number):
        """`peer channel fetch <number>` from the orderer's deliver service, as Org1's admin:
        the block's bytes as the orderer cut them (a peer's copy also carries the validation
        flags and commit hash it added when committing)."""
        dest = Path(tempfile.mkstemp(prefix=f"orderer-{number}-", suffix=".block",
                                     dir=self.root)[1])
        try:
            self.peer_cli(self.peer("peer0.org1"), "channel", "fetch", str(number), str(dest),
                          "-c", self.channel, *self.orderer_args("Org1MSP"))
            return dest.read_bytes()
        finally:
            dest.unlink(missing_ok=True)

    def metrics(self, node):
        return parse_metrics(node.metrics_text())

    def discover_peers(self, peer):
        """`discover peers` against the peer's discovery service, as its org admin: a list of
        {"MSPID", "LedgerHeight", "Endpoint", "Identity", "Chaincodes"}."""
        admin = self.admin_dir(peer.mspid)
        keystore = admin / "msp" / "keystore"
        key = next(keystore.iterdir())
        cert = next((admin / "msp" / "signcerts").iterdir())
        out = self.run("discover", "peers", "--channel", self.channel, "--server", peer.address,
                       "--peerTLSCA", str(peer.tls_ca), "--userKey", str(key),
                       "--userCert", str(cert), "--MSP", peer.mspid,
                       "--tlsCert", str(admin / "tls" / "client.crt"),
                       "--tlsKey", str(admin / "tls" / "client.key"))
        return json.loads(out)

    # --- blocks -----------------------------------------------------------------------------

    def approve(self, peer):
        """One `peer lifecycle chaincode approveformyorg` by the peer's org admin, endorsed by
        the peer's `_lifecycle` system chaincode and sent to the orderer: one block."""
        name = next(self._cc_names)
        self.peer_cli(peer, "lifecycle", "chaincode", "approveformyorg",
                      *self.orderer_args(peer.mspid),
                      "-C", self.channel, "-n", name, "-v", "1", "--sequence", "1",
                      "--waitForEvent=false")

    def make_blocks(self, n, parallel=4, timeout=120):
        """Makes n blocks (n approvals, a block each) and waits until every peer has them.
        Returns the new height."""
        t = time.monotonic()
        target = self.orderer_channel()["height"] + n
        endorsers = self.peers
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda i: self.approve(endorsers[i % len(endorsers)]), range(n)))
        self.wait_height(target, timeout)
        self.timings.setdefault("blocks", []).append((n, time.monotonic() - t))
        return target

    def wait_height(self, height, timeout=120):
        for p in self.peers:
            wait_until(f"{p.name} to reach height {height}",
                       lambda p=p: self.check_running() or self.getinfo(p)["height"] >= height,
                       timeout, interval=0.5)

    def check_running(self):
        """FabnetError naming every process that has exited, with its log's tail."""
        dead = [n for n in self.nodes() if not n.running()]
        if dead:
            raise NodeExited("; ".join(f"{n.name} exited ({n.proc and n.proc.returncode}):\n"
                                        f"{n.log_tail()}" for n in dead))

    def describe(self):
        """How to reach the network by hand (shell exports per peer)."""
        lines = [f"fabnet: channel {self.channel}, files in {self.root}",
                 f"  export FABRIC_CFG_PATH={self.sampleconfig} PATH={self.bin}:$PATH",
                 f"  orderer  {self.orderer.address}  admin 127.0.0.1:{self.orderer.admin_port}"
                 f"  operations 127.0.0.1:{self.orderer.ops_port}  log {self.orderer.log_path}",
                 f"  orderer TLS CA {self.orderer_tls_ca}"]
        for p in self.peers:
            role = "org leader" if p.org_leader else "gets blocks by gossip"
            lines.append(f"  {p.name} ({p.mspid}, {role})  {p.address}  "
                         f"operations 127.0.0.1:{p.ops_port}  log {p.log_path}")
            exports = " ".join(f"{k}={v}" for k, v in self.admin_env(p).items())
            lines.append(f"    as its admin: export {exports}")
        for mspid in ("Org1MSP", "Org2MSP"):
            lines.append(f"  spare {mspid} identity: {self.spare_identity(mspid, 0)} "
                         f"(and {self.spare_peers - 1} more)")
        return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="A stock Fabric 2.5.9 network on 127.0.0.1.")
    ap.add_argument("command", choices=["up"], help="bring the network up until Ctrl-C")
    ap.add_argument("--blocks", type=int, default=0, help="make this many blocks once up")
    ap.add_argument("--bin", help="folder of Fabric's commands (default build/fabric/bin)")
    ap.add_argument("--root", help="folder for the network's files (kept; default a temp dir)")
    ap.add_argument("--log-spec", default="info", help="FABRIC_LOGGING_SPEC of the nodes")
    args = ap.parse_args(argv)

    net = Network(bin_dir=args.bin, root=args.root, log_spec=args.log_spec)
    stop = []

    def on_signal(signum, _frame):
        stop.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        net.up()
        print(f"up in {net.timings['up']:.1f}s", flush=True)
        if args.blocks:
            height = net.make_blocks(args.blocks)
            n, secs = net.timings["blocks"][-1]
            print(f"{n} blocks in {secs:.1f}s, height {height}", flush=True)
        print(net.describe(), flush=True)
        kept = f" (files kept in {net.root})" if args.root else " and removes its files"
        print(f"Ctrl-C stops the network{kept}.", flush=True)
        while True:
            time.sleep(2)
            net.check_running()
    except KeyboardInterrupt:
        pass
    except FabnetError as e:
        print(f"fabnet: {e}", file=sys.stderr)
        return 1
    finally:
        net.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
