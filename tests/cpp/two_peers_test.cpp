// Two peers: this process on C++ host crypto (every callback in use) and the Python peer on
// the built-in Ed25519 crypto in a child process (the library holds one service per
// process). They see each other, share a channel, and a block added here reaches the child.
#include <fstream>
#include <iomanip>
#include <sstream>

#include "blocks.hpp"
#include "fixture.hpp"

namespace fgtest {
namespace {

std::string hex(const Bytes& b) {
  std::ostringstream o;
  for (uint8_t c : b) o << std::hex << std::setw(2) << std::setfill('0') << int(c);
  return o.str();
}

std::string peers_json() {
  fg_bytes out{nullptr, 0};
  return fg_peers(&out) == FG_STATUS_OK ? take(out) : "";
}

std::string channel_peers_json() {
  fg_bytes out{nullptr, 0};
  return fg_peers_of_channel(kChannel.data(), kChannel.size(), &out) == FG_STATUS_OK ? take(out)
                                                                                      : "";
}

class TwoPeers : public FabgossipTest {};

TEST_F(TwoPeers, HostCryptoPeerAndBuiltinPeerShareAChannel) {
  Ed25519Signer signer("Org1MSP", seed(4));
  HostTable host(ed25519_host(signer, {"Org1MSP"}));
  fg_callbacks cb = host.table();
  ASSERT_EQ(init(config(), &cb), FG_STATUS_OK);
  std::string self_endpoint = "127.0.0.1:" + std::to_string(port_);

  // Our PKI-ID is what our pki_id_of computed: SHA-256(mspid || public key).
  SerializedIdentity sid;
  ASSERT_TRUE(SerializedIdentity::unmarshal(signer.identity(), sid));
  Bytes pre(sid.mspid.begin(), sid.mspid.end());
  pre.insert(pre.end(), sid.id_bytes.begin(), sid.id_bytes.end());
  std::string self_pki = json_string(self_json(), "pki_id");
  EXPECT_EQ(self_pki, hex(sha256(pre)));

  std::string child_cfg = dir_.path() + "/child.yaml";
  {
    std::ofstream f(child_cfg);
    f << peer_config(dir_.path() + "/child", "Org1MSP", free_port(), self_endpoint,
                     "fabgossip:\n"
                     "  trustedOrgs: [Org1MSP]\n"
                     "  identitySeed: '" + std::string(64, '5') + "'\n");
  }
  ChildPeer child(child_cfg);
  ASSERT_FALSE(child.pki_id().empty()) << "child peer did not start: " << child.ready_line();

  ASSERT_TRUE(wait_until([&] { return peers_json().find(child.pki_id()) != std::string::npos; }))
      << peers_json();
  ASSERT_TRUE(wait_until([&] {
    return child.command("peers", "peers").find(self_pki) != std::string::npos;
  })) << "the built-in peer never accepted this host-crypto peer";

  ASSERT_EQ(join(), FG_STATUS_OK);
  ASSERT_NE(child.command("join " + kChannel + " " + kJoin, "joined").find("joined"),
            std::string::npos);
  ASSERT_TRUE(wait_until(
      [&] { return channel_peers_json().find(child.pki_id()) != std::string::npos; }))
      << channel_peers_json();
  ASSERT_TRUE(wait_until([&] {
    return child.command("channel_peers " + kChannel, "channel_peers").find(self_pki) !=
           std::string::npos;
  }));

  std::vector<Bytes> chain = block_chain(3);
  for (uint64_t seq = 0; seq < chain.size(); seq++) ASSERT_EQ(add(seq, chain[seq]), FG_STATUS_OK);
  ASSERT_TRUE(wait_until([&] { return height() == 3; }));
  EXPECT_TRUE(wait_until([&] {
    return child.command("ledger_height " + kChannel, "ledger_height").find("\"height\":3") !=
           std::string::npos;
  })) << "the block never reached the child";

  // Every callback ran: ours signed, the child's messages were verified (membership and
  // channel), its identity validated, mapped to a PKI-ID and an org, its expiry asked.
  for (int s = 0; s < kSlotCount; s++) {
    EXPECT_GT(host.calls(static_cast<Slot>(s)), 0) << slot_name(static_cast<Slot>(s));
  }
  EXPECT_EQ(host.exceptions(), 0);

  EXPECT_TRUE(child.shutdown());
  ASSERT_EQ(fg_shutdown(), FG_STATUS_OK);
  EXPECT_EQ(host.releases(), 1);
  EXPECT_EQ(host.calls_after_release(), 0);
}

}  // namespace
}  // namespace fgtest
