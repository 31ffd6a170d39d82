"""A minimal Python host: start a peer on the built-in defaults, join a channel, shut down."""
import time

import fabgossip

CONFIG = """
peer:
  localMspId: Org1MSP
  listenAddress: 127.0.0.1:0
  address: 127.0.0.1:0
  fileSystemPath: /tmp/fabgossip-minimal-py
  gossip:
    bootstrap: ''
"""

fabgossip.init(CONFIG)  # fabgossip.FabgossipError names the offending key
try:
    print("self:", fabgossip.self_info())
    fabgossip.join_channel("mychannel", {"sequence": 1, "members": ["Org1MSP"]})
    print("height:", fabgossip.ledger_height("mychannel"))
    time.sleep(1)
    print("peers:", fabgossip.peers())
finally:
    fabgossip.shutdown()
