"""Config a Fabric operator brings: Fabric's sample core.yaml taken whole (from the Fabric Go
module at the pin tests/interop uses), CORE_* environment overrides, relative paths against
the config file's folder, empty documents refused, and channel names outside Fabric's rule
refused as bad arguments by every call that takes a channel."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import fabgossip
from fabgossip import process
from fabgossip.errors import ConfigError
from conftest import REPO, free_port, peer_config, wait_until

FABRIC_MODULE = "github.com/hyperledger/fabric"


def fabric_version():
    for line in (REPO / "tests" / "interop" / "go.mod").read_text().splitlines():
        fields = line.split()
        if FABRIC_MODULE in fields:
            return fields[fields.index(FABRIC_MODULE) + 1]
    raise AssertionError("tests/interop/go.mod does not require " + FABRIC_MODULE)


@pytest.fixture(scope="module")
def stock_core_yaml():
    """Fabric's sampleconfig/core.yaml in the Go module cache (downloaded when missing)."""
    if shutil.which("go") is None:
        pytest.skip("no go toolchain to find Fabric's module")
    interop = REPO / "tests" / "interop"
    cache = subprocess.run(["go", "env", "GOMODCACHE"], cwd=interop, capture_output=True,
                           text=True, check=True).stdout.strip()
    path = os.path.join(cache, FABRIC_MODULE + "@" + fabric_version(), "sampleconfig",
                        "core.yaml")
    if not os.path.exists(path):
        subprocess.run(["go", "mod", "download", FABRIC_MODULE], cwd=interop, check=True,
                       timeout=600)
    assert os.path.exists(path), path
    return path


def core_env(tmp_path, name, port, bootstrap=""):
    """CORE_* overrides that make the stock file runnable here: a loopback port, a data
    folder and MSP folder of our own, fast gossip timers."""
    addr = f"127.0.0.1:{port}"
    return {
        "CORE_PEER_LISTENADDRESS": addr,
        "CORE_PEER_ADDRESS": addr,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": addr,
        "CORE_PEER_FILESYSTEMPATH": str(tmp_path / name / "data"),
        "CORE_PEER_MSPCONFIGPATH": str(tmp_path / name / "msp"),
        "CORE_PEER_GOSSIP_BOOTSTRAP": bootstrap,
        "CORE_PEER_GOSSIP_ALIVETIMEINTERVAL": "200ms",
        "CORE_PEER_GOSSIP_ALIVEEXPIRATIONTIMEOUT": "2s",
        "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "1s",
    }


def start(config_path, log_path, env):
    """A Python peer process with `env` added to its environment."""
    argv = [sys.executable, "-m", "fabgossip.peer", "--config", str(config_path)]
    return process.PeerProcess(argv, log_path=log_path, env=env)


def test_stock_core_yaml_starts_peers(stock_core_yaml, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pa, pb = free_port(), free_port()
    a = start(stock_core_yaml, tmp_path / "a.log", core_env(tmp_path, "a", pa))
    try:
        b = start(stock_core_yaml, tmp_path / "b.log",
                  core_env(tmp_path, "b", pb, bootstrap=f"127.0.0.1:{pa}"))
        try:
            assert a.ready["org"] == "SampleOrg", a.ready
            assert a.ready["endpoint"] == f"127.0.0.1:{pa}"
            # The identity seed went where CORE_PEER_MSPCONFIGPATH says.
            assert any((tmp_path / "a" / "msp").iterdir())
            assert wait_until(lambda: b.pki_id in a.alive_ids(), 30), a.peers()
        finally:
            b.stop()
    finally:
        a.stop()


def test_stock_core_yaml_in_process_through_fg_init(stock_core_yaml, tmp_path, service,
                                                   monkeypatch):
    """fg_init on the text alone: relative paths would resolve against FABRIC_CFG_PATH."""
    port = free_port()
    for k, v in core_env(tmp_path, "p", port).items():
        monkeypatch.setenv(k, v)
    with open(stock_core_yaml, encoding="utf-8") as f:
        text = f.read()
    logs = []
    service.init(text, log=lambda lvl, target, msg: logs.append(msg))
    assert service.self_info()["endpoint"] == f"127.0.0.1:{port}"
    # The keys gossip does not use are listed at debug level.
    assert any("ignored" in m and "peer.BCCSP" in m for m in logs), logs
    assert any("peer.listenAddress 127.0.0.1:" in m for m in logs), logs


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    cfg_dir = tmp_path / "etc"
    cfg_dir.mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    text = json.loads(peer_config("data", "Org1MSP", free_port()))
    del text["fabgossip"]["identitySeed"]
    text["peer"]["mspConfigPath"] = "msp"
    (cfg_dir / "core.yaml").write_text(json.dumps(text))
    env = {"PYTHONPATH": str(REPO / "bindings" / "python")}
    p = process.PeerProcess([sys.executable, "-m", "fabgossip.peer", "--config",
                             str(cfg_dir / "core.yaml")], env=env)
    try:
        assert (cfg_dir / "msp").is_dir() and any((cfg_dir / "msp").iterdir())
        # The ledger folder appears with the first channel.
        p.join("ch", {"sequence": 1, "members": ["Org1MSP"]})
        assert (cfg_dir / "data").is_dir()
        assert not (REPO / "data").exists() and not (REPO / "msp").exists()
    finally:
        p.stop()
    # Text without a file: FABRIC_CFG_PATH is the base.
    monkeypatch.setenv("FABRIC_CFG_PATH", str(elsewhere))
    monkeypatch.chdir(tmp_path)
    text["peer"]["listenAddress"] = f"127.0.0.1:{free_port()}"
    fabgossip.shutdown()
    try:
        fabgossip.init(json.dumps(text))
        fabgossip.join_channel("ch", {"sequence": 1, "members": ["Org1MSP"]})
        assert (elsewhere / "msp").is_dir() and (elsewhere / "data").is_dir()
        assert not (tmp_path / "msp").exists() and not (tmp_path / "data").exists()
    finally:
        fabgossip.shutdown()


@pytest.mark.parametrize("text", ["", "null", "~", "# nothing\n", "42", "[1, 2]"])
def test_empty_null_and_non_mapping_configs_are_refused(service, text):
    with pytest.raises(ConfigError) as e:
        service.init(text or " ")
    assert "config" in e.value.detail and (
        "empty" in e.value.detail or "mapping" in e.value.detail), e.value.detail


def test_unknown_gossip_key_in_a_core_yaml_is_named(service, tmp_path):
    text = json.loads(peer_config(tmp_path / "d", "Org1MSP", free_port()))
    text["peer"]["BCCSP"] = {"Default": "SW"}
    text["peer"]["gossip"]["pullIntervall"] = "4s"
    with pytest.raises(ConfigError) as e:
        service.init(json.dumps(text))
    assert e.value.detail == "peer.gossip.pullIntervall: unknown key"


BAD_CHANNELS = ["..", ".", "a/b", "a\\b", "a\0b", "Upper", "1abc", "ch_1", "a" * 250]


def test_bad_channel_names_are_invalid_arguments(service, tmp_path):
    service.init(peer_config(tmp_path / "d", "Org1MSP", free_port()))
    join = {"sequence": 1, "members": ["Org1MSP"]}
    calls = [
        lambda ch: service.join_channel(ch, join),
        lambda ch: service.leave_channel(ch),
        lambda ch: service.update_ledger_height(ch, 3),
        lambda ch: service.update_chaincodes(ch, [{"name": "cc", "version": "1"}]),
        lambda ch: service.add_payload(ch, 0, b"\x0a\x00"),
        lambda ch: service.ledger_height(ch),
        lambda ch: service.peers_of_channel(ch),
        lambda ch: service.is_leader(ch),
        lambda ch: service.yield_leadership(ch),
    ]
    for ch in BAD_CHANNELS:
        for call in calls:
            with pytest.raises(fabgossip.InvalidArgError):
                call(ch)
    with pytest.raises(fabgossip.InvalidArgError) as e:
        service.join_channel("../escape", join)
    assert "lower-case letter" in e.value.detail, e.value.detail
    # A name by Fabric's rule still works, and nothing was created for the refused ones.
    service.join_channel("good-ch.1", join)
    assert service.ledger_height("good-ch.1") == 0
    assert not (tmp_path / "escape").exists()
