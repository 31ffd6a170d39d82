// Private data from a C++ host: this process (built-in Ed25519 crypto) distributes a private
// write set of its org's implicit collection to the Python peer in a child process, which
// stores and acks it; implicitCollectionDisseminationPolicy requiredPeerCount 1 makes
// FG_STATUS_OK mean the ack arrived. Bad arguments get their status and err_out sentence;
// fg_set_collection_config and fg_explain_private_data answer for the same channel.
#include <fstream>

#include "fixture.hpp"

namespace fgtest {
namespace {

// One protobuf length-delimited field (every part here is shorter than 128 bytes).
Bytes field(unsigned num, const Bytes& data) {
  Bytes out{static_cast<uint8_t>(num << 3 | 2), static_cast<uint8_t>(data.size())};
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A TxPvtReadWriteSetWithConfigInfo: namespace "mycc", collection `coll`, one write.
Bytes pvt_data(const std::string& coll) {
  Bytes write = cat({field(1, text("k")), field(3, text("private value"))});
  Bytes col = cat({field(1, text(coll)), field(2, field(3, write))});
  Bytes ns = cat({field(1, text("mycc")), field(2, col)});
  return cat({Bytes{0x08, 7}, field(2, field(2, ns))});
}

// Fast acks, and one ack required for this org's implicit collection.
const std::string kPvtData =
    "    pvtData:\n"
    "      pushAckTimeout: 10s\n"
    "      implicitCollectionDisseminationPolicy:\n"
    "        requiredPeerCount: 1\n"
    "        maxPeerCount: 1\n";

std::string fabgossip_section(char seed) {
  return "fabgossip:\n"
         "  trustedOrgs: [Org1MSP]\n"
         "  identitySeed: '" + std::string(64, seed) + "'\n";
}

std::string channel_peers_json() {
  fg_bytes out{nullptr, 0};
  return fg_peers_of_channel(kChannel.data(), kChannel.size(), &out) == FG_STATUS_OK ? take(out)
                                                                                      : "";
}

fg_status distribute(const std::string& channel, const std::string& tx, const Bytes& data,
                     std::string* report, std::string* detail, bool with_result = true) {
  fg_bytes out{nullptr, 0}, err{nullptr, 0};
  fg_status st = fg_distribute_private_data(channel.data(), channel.size(), tx.data(), tx.size(),
                                            data.data(), data.size(), 1,
                                            with_result ? &out : nullptr, &err);
  *report = take(out);
  *detail = take(err);
  return st;
}

class PrivateData : public FabgossipTest {};

TEST_F(PrivateData, DistributedToAnAckingPeerAndBadArgumentsRefused) {
  int child_port = free_port();
  std::string child_endpoint = "127.0.0.1:" + std::to_string(child_port);
  std::string self_text = config(child_endpoint, kPvtData + fabgossip_section('7'));
  std::string self_endpoint = "127.0.0.1:" + std::to_string(port_);
  std::string child_cfg = dir_.path() + "/child.yaml";
  {
    std::ofstream f(child_cfg);
    f << peer_config(dir_.path() + "/child", "Org1MSP", child_port, self_endpoint,
                     fabgossip_section('8'));
  }
  Bytes data = pvt_data("_implicit_org_Org1MSP");
  std::string report, detail;
  EXPECT_EQ(distribute(kChannel, "tx0", data, &report, &detail), FG_STATUS_NOT_INITIALIZED);
  EXPECT_NE(detail.find("fg_init"), std::string::npos) << detail;

  ChildPeer child(child_cfg);
  ASSERT_FALSE(child.pki_id().empty()) << "child peer did not start: " << child.ready_line();
  ASSERT_EQ(init(self_text, nullptr), FG_STATUS_OK);
  ASSERT_EQ(join(), FG_STATUS_OK);
  ASSERT_NE(child.command("join " + kChannel + " " + kJoin, "joined").find("joined"),
            std::string::npos);
  ASSERT_TRUE(wait_until(
      [&] { return channel_peers_json().find(child.pki_id()) != std::string::npos; }))
      << channel_peers_json();

  ASSERT_EQ(distribute(kChannel, "tx1", data, &report, &detail), FG_STATUS_OK) << detail;
  EXPECT_NE(report.find("\"result\":\"acked\""), std::string::npos) << report;
  EXPECT_NE(report.find(child.pki_id()), std::string::npos) << report;
  EXPECT_TRUE(detail.empty()) << detail;
  EXPECT_TRUE(wait_until([&] {
    return child.command("metrics", "metrics")
               .find(R"(fabgossip_privdata_received{channel=\"mychannel\",result=\"stored\"} 1)") !=
           std::string::npos;
  })) << "the child never stored the write set";

  // Why the child is a target, by its PKI-ID.
  fg_bytes out{nullptr, 0}, err{nullptr, 0};
  const std::string coll = "_implicit_org_Org1MSP", ns = "mycc";
  ASSERT_EQ(fg_explain_private_data(kChannel.data(), kChannel.size(), ns.data(), ns.size(),
                                    coll.data(), coll.size(), child.pki_id().data(),
                                    child.pki_id().size(), 0, &out, &err),
            FG_STATUS_OK);
  std::string why = take(out);
  EXPECT_EQ(json_string(why, "reason"), "eligible") << why;

  // Refusals: a status, a sentence in err_out, nothing in result_out.
  EXPECT_EQ(distribute(kChannel, "tx2", data, &report, &detail, false), FG_STATUS_INVALID_ARG);
  EXPECT_NE(detail.find("result_out"), std::string::npos) << detail;
  EXPECT_EQ(distribute(kChannel, "tx2", Bytes{0xff, 0x01}, &report, &detail),
            FG_STATUS_INVALID_ARG);
  EXPECT_NE(detail.find("TxPvtReadWriteSetWithConfigInfo"), std::string::npos) << detail;
  EXPECT_TRUE(report.empty()) << report;
  EXPECT_EQ(distribute(kChannel, "", data, &report, &detail), FG_STATUS_INVALID_ARG);
  EXPECT_NE(detail.find("tx_id"), std::string::npos) << detail;
  EXPECT_EQ(distribute("other", "tx2", data, &report, &detail), FG_STATUS_NOT_FOUND);
  EXPECT_NE(detail.find("not joined"), std::string::npos) << detail;
  EXPECT_EQ(distribute("Bad Name", "tx2", data, &report, &detail), FG_STATUS_INVALID_ARG);

  const Bytes garbage{0xff, 0xff};
  EXPECT_EQ(fg_set_collection_config(kChannel.data(), kChannel.size(), ns.data(), ns.size(),
                                     garbage.data(), garbage.size(), &err),
            FG_STATUS_INVALID_ARG);
  detail = take(err);
  EXPECT_NE(detail.find("CollectionConfigPackage"), std::string::npos) << detail;
  EXPECT_EQ(fg_explain_private_data(kChannel.data(), kChannel.size(), ns.data(), ns.size(),
                                    nullptr, 0, child.pki_id().data(), child.pki_id().size(), 0,
                                    &out, &err),
            FG_STATUS_INVALID_ARG);
  detail = take(err);
  EXPECT_NE(detail.find("collection"), std::string::npos) << detail;

  EXPECT_TRUE(child.shutdown());
}

}  // namespace
}  // namespace fgtest
