"""The C ABI through the Python binding: version, statuses, init/shutdown life cycle,
argument checks, log routing, host crypto callbacks, errors in callbacks, re-entrancy."""

import ctypes
import hashlib
import re
import secrets
import time
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import fabgossip
from fabgossip import _lib, errors
from conftest import REPO, free_port, peer_config, wait_until


# ---------------------------------------------------------------------------------------
# A real Ed25519 MSP in Python, identities laid out as the built-in crypto lays them out:
# msp.SerializedIdentity{mspid = 1, id_bytes = 2 (raw 32-byte public key)}.

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf):
    """Top-level protobuf fields: {number: [value, ...]} (varints as int, others as bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(buf, i)
        elif wire == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            v, i = buf[i:i + n], i + n
        elif wire == 1:
            v, i = buf[i:i + 8], i + 8
        elif wire == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        out.setdefault(num, []).append(v)
    return out


def serialized_identity(mspid, public_key):
    m = mspid.encode()
    return b"\x0a" + _varint(len(m)) + m + b"\x12" + _varint(len(public_key)) + public_key


def parse_identity(identity):
    f = _fields(identity)
    mspid = f[1][0].decode()
    key = f[2][0]
    if len(key) != 32:
        raise ValueError("not an Ed25519 key")
    return mspid, key


class Ed25519Msp(fabgossip.HostCrypto):
    """Host crypto with real Ed25519 signatures; counts calls per method."""

    def __init__(self, mspid="Org1MSP", trusted=("Org1MSP", "Org2MSP"), seed=None):
        self.key = Ed25519PrivateKey.from_private_bytes(seed or secrets.token_bytes(32))
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.mspid = mspid
        self.trusted = set(trusted)
        self.self_identity = serialized_identity(mspid, self.public)
        self.calls = {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def sign(self, msg):
        self._count("sign")
        return self.key.sign(msg)

    def verify(self, identity, signature, msg):
        self._count("verify")
        _, key = parse_identity(identity)
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, msg)
            return True
        except InvalidSignature:
            return False

    def verify_block(self, channel, seq, block):
        self._count("verify_block")
        header = _fields(_fields(block)[1][0])
        return header.get(1, [0])[0] == seq

    def validate_identity(self, identity):
        self._count("validate_identity")
        mspid, _ = parse_identity(identity)
        return mspid in self.trusted

    def org_of_identity(self, identity):
        self._count("org_of_identity")
        return parse_identity(identity)[0]


def in_process_config(tmp_path, mspid="Org1MSP", **kw):
    return peer_config(tmp_path / "inproc", mspid, free_port(), **kw)


# ---------------------------------------------------------------------------------------

def test_version_matches_cargo_and_header():
    cargo = (REPO / "Cargo.toml").read_text()
    version = re.search(r'^version\s*=\s*"([^"]+)"', cargo, re.M).group(1)
    assert fabgossip.version() == version
    header = (REPO / "include" / "fabgossip.h").read_text()
    macros = [re.search(rf"#define FG_VERSION_{p} (\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    assert ".".join(macros) == version


def test_status_strings_are_static_names():
    for name in ("OK", "INVALID_ARG", "NOT_INITIALIZED", "ALREADY_INITIALIZED", "NOT_FOUND", "TIMEOUT",
                 "SHUTDOWN", "REENTRANT", "PANIC", "CONFIG", "IO", "CRYPTO", "INTERNAL",
                 "BUFFER_TOO_SMALL", "CALLBACK_FAILED", "BUSY"):
        assert _lib.status_str(getattr(errors, name)) == f"FG_STATUS_{name}"
    assert _lib.status_str(4242) == "FG_STATUS_UNKNOWN"


def test_bad_config_is_a_config_error_naming_the_key(service, tmp_path):
    text = in_process_config(tmp_path, extra_gossip={"aliveTimeIntervall": "1s"})
    with pytest.raises(errors.ConfigError) as e:
        service.init(text)
    assert e.value.status == errors.CONFIG
    assert "peer.gossip.aliveTimeIntervall" in str(e.value)
    with pytest.raises(errors.ConfigError) as e:
        service.init(in_process_config(tmp_path, extra_gossip={"aliveTimeInterval": "soon"}))
    assert "aliveTimeInterval" in str(e.value)
    with pytest.raises(errors.NotInitializedError):
        service.peers()


def worker_threads():
    """Threads of this process named by the library's runtime."""
    names = []
    for comm in Path("/proc/self/task").glob("*/comm"):
        try:
            names.append(comm.read_text().strip())
        except OSError:  # the thread ended meanwhile
            pass
    return [n for n in names if n in ("fg-worker", "fg-blocking")]


def test_lifecycle_double_init_shutdown_twice_restart(service, tmp_path):
    text = in_process_config(tmp_path)
    service.init(text)
    # A new thread takes its name a moment after it starts.
    assert wait_until(lambda: "fg-worker" in worker_threads(), 5), "the runtime's named driver"
    me = service.self_info()
    assert me["org"] == "Org1MSP" and re.fullmatch(r"[0-9a-f]{64}", me["pki_id"])
    with pytest.raises(errors.AlreadyInitializedError):
        service.init(text)
    assert service.self_info() == me, "a refused init leaves the running service alone"
    service.shutdown()
    assert worker_threads() == [], "fg_shutdown joined the runtime's threads"
    service.shutdown()
    with pytest.raises(errors.NotInitializedError):
        service.self_info()
    for _ in range(2):  # restart in the same process, same identity seed
        service.init(text)
        assert service.self_info()["pki_id"] == me["pki_id"]
        assert isinstance(service.peers(), list)
        service.shutdown()


def test_null_and_empty_arguments_are_invalid(service):
    lib = _lib.lib
    err = _lib.fg_bytes()
    assert lib.fg_init(None, 0, None, ctypes.byref(err)) == errors.INVALID_ARG
    assert b"NULL or empty" in _lib.take_bytes(err)
    assert lib.fg_init(ctypes.c_char_p(b"peer: {}"), 0, None, None) == errors.INVALID_ARG
    bad_utf8 = ctypes.create_string_buffer(b"\xff\xfe", 2)
    assert lib.fg_init(ctypes.cast(bad_utf8, ctypes.c_void_p), 2, None, None) == errors.INVALID_ARG
    assert lib.fg_peers(None) == errors.INVALID_ARG
    assert lib.fg_self(None) == errors.INVALID_ARG
    assert lib.fg_set_log_callback(_lib.LOG_FN(), None, 6) == errors.INVALID_ARG
    assert lib.fg_set_log_callback(_lib.LOG_FN(), None, -1) == errors.INVALID_ARG
    lib.fg_bytes_free(None)  # accepted
    freed = _lib.fg_bytes()
    lib.fg_bytes_free(ctypes.byref(freed))  # zeroed buffer accepted
    with pytest.raises(errors.InvalidArgError):
        service.init("")


def test_log_callback_receives_lines_and_can_be_removed(service, tmp_path):
    lines = []
    service.set_log(lambda level, target, msg: lines.append((level, target, msg)), fabgossip.LOG_DEBUG)
    with pytest.raises(errors.ConfigError):
        service.init(in_process_config(tmp_path, extra_gossip={"noSuchKey": 1}))
    failed = [l for l in lines if l[1] == "fabgossip::ffi" and "noSuchKey" in l[2]]
    assert failed and failed[0][0] == fabgossip.LOG_WARN
    service.init(in_process_config(tmp_path))
    service.shutdown()
    assert all(1 <= level <= fabgossip.LOG_DEBUG for level, _, _ in lines)
    service.set_log(None)
    count = len(lines)
    with pytest.raises(errors.ConfigError):
        service.init(in_process_config(tmp_path, extra_gossip={"noSuchKey": 1}))
    assert len(lines) == count, "no line after the callback was removed"


def test_host_crypto_callbacks_run_a_peer_that_meets_a_builtin_peer(service, spawn_peer, tmp_path):
    # A peer process with the built-in Ed25519 crypto, and this process with the same
    # identity scheme implemented by host callbacks: they must verify each other.
    remote_port = free_port()
    remote = spawn_peer("remote", peer_config(tmp_path / "remote", "Org1MSP", remote_port))
    msp = Ed25519Msp("Org1MSP")
    table = service.init(in_process_config(tmp_path, bootstrap=[f"127.0.0.1:{remote_port}"]), crypto=msp)
    me = service.self_info()
    assert me["pki_id"] == hashlib.sha256(b"Org1MSP" + msp.public).hexdigest()
    assert me["org"] == "Org1MSP"
    seen = wait_until(lambda: [p for p in service.peers() if p["pki_id"] == remote.pki_id and p["state"] == "alive"], 15)
    assert seen, f"host-crypto peer never saw the built-in peer: {service.peers()}"
    assert wait_until(lambda: me["pki_id"] in remote.alive_ids(), 15), "built-in peer never saw the host-crypto peer"
    assert msp.calls.get("sign", 0) > 0 and msp.calls.get("verify", 0) > 0, msp.calls
    assert not table.errors, table.errors
    service.shutdown()
    assert table.release_count == 1
    calls = dict(msp.calls)
    time.sleep(0.5)
    assert msp.calls == calls, "no callback runs after fg_shutdown returned"


def test_a_callback_that_raises_is_an_error_status(service, tmp_path):
    class Broken(Ed25519Msp):
        def org_of_identity(self, identity):
            raise RuntimeError("MSP unavailable")

    with pytest.raises(errors.CryptoError) as e:
        service.init(in_process_config(tmp_path), crypto=Broken())
    assert "organization" in str(e.value)
    assert fabgossip._callbacks is None, "the table of a failed init is not kept"

    # The same through the table object, to see the exception and the release.
    broken = Broken()
    t = fabgossip.CallbackTable(broken)
    err = _lib.fg_bytes()
    text = in_process_config(tmp_path).encode()
    st = _lib.lib.fg_init(text, len(text), ctypes.byref(t.table), ctypes.byref(err))
    assert st == errors.CRYPTO, _lib.status_str(st)
    _lib.take_bytes(err)
    assert any(isinstance(x, RuntimeError) for x in t.errors)
    assert t.release_count == 1, "release runs once when fg_init fails"

    class Missing(Ed25519Msp):
        pass

    t = fabgossip.CallbackTable(Missing())
    t.table.verify_block = _lib.VERIFY_BLOCK_FN()  # NULL
    st = _lib.lib.fg_init(text, len(text), ctypes.byref(t.table), ctypes.byref(err))
    assert st == errors.INVALID_ARG
    assert b"verify_block" in _lib.take_bytes(err)
    assert t.release_count == 1


def test_a_callback_that_reenters_gets_reentrant(service, tmp_path):
    outcomes = []

    class Reentering(Ed25519Msp):
        def org_of_identity(self, identity):
            for call in (service.peers, service.shutdown, lambda: service.init("peer: {}")):
                try:
                    call()
                    outcomes.append("ok")
                except errors.FabgossipError as e:
                    outcomes.append(e.status)
            return super().org_of_identity(identity)

    service.init(in_process_config(tmp_path), crypto=Reentering())
    assert outcomes[:3] == [errors.REENTRANT] * 3, outcomes
    assert service.self_info()["org"] == "Org1MSP"

    log_outcomes = []

    def log(level, target, msg):
        try:
            service.peers()
            log_outcomes.append("ok")
        except errors.FabgossipError as e:
            log_outcomes.append(e.status)

    service.set_log(log, fabgossip.LOG_TRACE)
    service.shutdown()
    with pytest.raises(errors.ConfigError):
        service.init("peer: {bogus: 1}")
    service.set_log(None)
    assert log_outcomes and set(log_outcomes) == {errors.REENTRANT}, log_outcomes
