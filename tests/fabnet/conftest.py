"""One stock Fabric network for the whole fabnet suite (bring-up is most of its time).

The session's tear-down fails if a process or a file outlives it. A failing test's report carries the tail of every Fabric process's log. FABNET_KEEP=1 keeps
the network's files (crypto material, ledgers, logs) after the run.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from network import Network  # noqa: E402

_networks = []


@pytest.fixture(scope="session")
def net():
    # Spare Org1 identity 5 is revoked by a CRL in the channel config
    # (test_identity_refusal.py); 0..2 serve test_fabgossip_peer.py, 3 and 4 the refusal
    # tests, 6 test_privdata.py.
    network = Network(spare_peers=7, revoked_spares={"Org1MSP": [5]})
    _networks.append(network)
    try:
        network.up()
        yield network
    finally:
        network.down()
        _networks.remove(network)
    # Tear-down is part of the contract: no Fabric process and no file may outlive the suite.
    assert network.leftovers() == [], network.leftovers()


@pytest.fixture(scope="module")
def make_net():
    """A network of the module's own, with options (Network's keywords): make_net(**options)
    brings it up; it goes down after the module's tests, with the same leftover check."""
    made = []

    def make(**options):
        network = Network(**options)
        _networks.append(network)
        made.append(network)
        network.up()
        return network
    try:
        yield make
    finally:
        for network in made:
            network.down()
            _networks.remove(network)
    for network in made:
        assert network.leftovers() == [], network.leftovers()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for network in _networks:
            for node in network.nodes():
                report.sections.append((f"{node.name} log (tail)", node.log_tail(60)))
