"""``fabgossip.identityRevalidationInterval`` through the C ABI: this process runs a peer
with host crypto that can revoke an identity; a built-in peer process is cut off by the
periodic re-validation at the configured interval, with no call from the host. With an
hour's interval the same revocation goes unnoticed for a while, and 0 is a config error."""

import hashlib
import json
import time

import pytest

from fabgossip import errors
from conftest import free_port, peer_config, wait_until
from test_abi import Ed25519Msp, parse_identity


class RevokingMsp(Ed25519Msp):
    """Refuses the identities whose PKI-ID (hex) is in ``revoked``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.revoked = set()

    def validate_identity(self, identity):
        mspid, key = parse_identity(identity)
        if hashlib.sha256(mspid.encode() + key).hexdigest() in self.revoked:
            return False
        return super().validate_identity(identity)


def config_with_interval(tmp_path, interval, **kw):
    cfg = json.loads(peer_config(tmp_path / "inproc", "Org1MSP", free_port(), **kw))
    cfg["fabgossip"]["identityRevalidationInterval"] = interval
    return json.dumps(cfg)


def alive(service, pki_id):
    return any(p["pki_id"] == pki_id and p["state"] == "alive" for p in service.peers())


def test_the_configured_interval_cuts_off_a_revoked_peer(service, spawn_peer, tmp_path):
    remote_port = free_port()
    remote = spawn_peer("remote", peer_config(tmp_path / "remote", "Org1MSP", remote_port))
    boot = [f"127.0.0.1:{remote_port}"]

    def meet(interval):
        msp = RevokingMsp("Org1MSP")
        service.init(config_with_interval(tmp_path, interval, bootstrap=boot), crypto=msp)
        assert wait_until(lambda: alive(service, remote.pki_id), 20), service.peers()
        # Past publishCertPeriod (2 s here) alive messages no longer carry identities, so
        # only a re-validation asks the host about the remote identity again.
        time.sleep(3)
        assert alive(service, remote.pki_id), service.peers()
        msp.revoked.add(remote.pki_id)
        return msp

    # An hour: nothing re-validates the identity soon, so the revoked peer stays in view.
    meet("1h")
    time.sleep(3)
    assert alive(service, remote.pki_id), f"cut off without a re-validation: {service.peers()}"
    service.shutdown()

    # 300 ms: the periodic re-validation refuses the identity and cuts the peer off.
    msp = meet("300ms")
    assert wait_until(lambda: not alive(service, remote.pki_id), 20), service.peers()
    assert msp.calls.get("validate_identity", 0) > 0


@pytest.mark.parametrize("bad", ["0s", "-5s"])
def test_zero_or_negative_is_a_config_error_naming_the_key(service, tmp_path, bad):
    with pytest.raises(errors.ConfigError) as e:
        service.init(config_with_interval(tmp_path, bad))
    assert "fabgossip.identityRevalidationInterval" in str(e.value)
    assert "greater than zero" in e.value.detail
