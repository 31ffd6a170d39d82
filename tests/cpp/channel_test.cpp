// A channel on one peer with host crypto: join, add_payload, ledger height, leave.
#include "blocks.hpp"
#include "fixture.hpp"

namespace fgtest {
namespace {

class Channel : public FabgossipTest {
 protected:
  void SetUp() override {
    host_ = std::make_unique<HostTable>(ed25519_host(signer_, {"Org1MSP"}));
    fg_callbacks cb = host_->table();
    ASSERT_EQ(init(config(), &cb), FG_STATUS_OK);
  }
  void TearDown() override {
    FabgossipTest::TearDown();
    EXPECT_EQ(host_->releases(), 1);
  }
  Ed25519Signer signer_{"Org1MSP", seed(3)};
  std::unique_ptr<HostTable> host_;
};

TEST_F(Channel, JoinAddPayloadAndLedgerHeight) {
  EXPECT_EQ(height(), UINT64_MAX) << "no ledger before joining";
  ASSERT_EQ(join(), FG_STATUS_OK);
  EXPECT_EQ(height(), 0u);
  std::vector<Bytes> chain = block_chain(5);
  // Out of order on purpose: commits happen in order once the gap is filled.
  for (uint64_t seq : {1, 0, 3, 2, 4}) ASSERT_EQ(add(seq, chain[seq]), FG_STATUS_OK) << seq;
  ASSERT_TRUE(wait_until([&] { return height() == 5; })) << height();
  EXPECT_EQ(add(2, chain[2]), FG_STATUS_OK) << "adding a block held already is OK";
  EXPECT_GE(host_->calls(kVerifyBlock), 5);
  fg_bytes out{nullptr, 0};
  ASSERT_EQ(fg_peers_of_channel(kChannel.data(), kChannel.size(), &out), FG_STATUS_OK);
  EXPECT_EQ(take(out), "[]") << "alone in the channel";
}

TEST_F(Channel, BadArgumentsAndUnknownChannels) {
  EXPECT_EQ(join(kChannel, "{not json"), FG_STATUS_INVALID_ARG);
  EXPECT_EQ(join(kChannel, R"({"sequence":1,"members":["Org2MSP"]})"), FG_STATUS_INVALID_ARG)
      << "own org not a member";
  Bytes block0 = block_chain(1)[0];
  EXPECT_EQ(add(0, block0, "other"), FG_STATUS_NOT_FOUND);
  EXPECT_EQ(fg_ledger_height(kChannel.data(), kChannel.size(), nullptr), FG_STATUS_INVALID_ARG);
  ASSERT_EQ(join(), FG_STATUS_OK);
  ASSERT_EQ(fg_leave_channel(kChannel.data(), kChannel.size(), nullptr), FG_STATUS_OK);
  EXPECT_EQ(add(0, block0), FG_STATUS_NOT_FOUND) << "left";
}

// Host crypto whose verify_block refuses block 7, to see a refusal's reason come back.
class ChannelRefusals : public FabgossipTest {
 protected:
  void SetUp() override {
    HostFunctions fns = ed25519_host(signer_, {"Org1MSP"});
    fns.verify_block = [](const std::string&, uint64_t seq, const Bytes& block) {
      return seq != 7 && !block.empty() ? FG_STATUS_OK : FG_STATUS_CRYPTO;
    };
    host_ = std::make_unique<HostTable>(fns);
    fg_callbacks cb = host_->table();
    ASSERT_EQ(init(config(), &cb), FG_STATUS_OK);
  }
  Ed25519Signer signer_{"Org1MSP", seed(3)};
  std::unique_ptr<HostTable> host_;
};

// A refused channel call says why in its err_out; a successful one leaves err_out alone.
TEST_F(ChannelRefusals, SayWhy) {
  std::string why;
  EXPECT_EQ(join(kChannel, R"({"sequence":1,"members":["Org1MSP"],"anchor_peers":[{"org":"Org1MSP","host":"h","port":70000}]})", &why),
            FG_STATUS_INVALID_ARG);
  EXPECT_NE(why.find("anchor_peers[0].port"), std::string::npos) << why;
  EXPECT_EQ(join(kChannel, R"({"members":["Org1MSP"]})", &why), FG_STATUS_INVALID_ARG);
  EXPECT_EQ(why, "channel \"mychannel\": sequence: missing");
  EXPECT_EQ(join(kChannel, R"({"sequence":1,"members":["Org2MSP"]})", &why), FG_STATUS_INVALID_ARG);
  EXPECT_NE(why.find("Org1MSP is not a member"), std::string::npos) << why;

  fg_bytes err{nullptr, 0};
  EXPECT_EQ(fg_update_ledger_height(kChannel.data(), kChannel.size(), 3, &err), FG_STATUS_NOT_FOUND);
  EXPECT_EQ(take(err), "channel \"mychannel\" is not joined");
  EXPECT_EQ(fg_leave_channel(nullptr, 0, &err), FG_STATUS_INVALID_ARG);
  EXPECT_EQ(take(err), "channel is NULL or empty");

  ASSERT_EQ(join(kChannel, kJoin, &why), FG_STATUS_OK) << why;
  const std::string bad_cc = R"([{"name":"mycc"}])";
  EXPECT_EQ(fg_update_chaincodes(kChannel.data(), kChannel.size(), bad_cc.data(), bad_cc.size(), &err),
            FG_STATUS_INVALID_ARG);
  EXPECT_EQ(take(err), "channel \"mychannel\": chaincodes[0].version: missing");
  const std::string cc = R"([{"name":"mycc","version":"1.0"}])";
  ASSERT_EQ(fg_update_chaincodes(kChannel.data(), kChannel.size(), cc.data(), cc.size(), &err), FG_STATUS_OK);
  EXPECT_EQ(err.ptr, nullptr) << "err_out untouched on success";

  std::vector<Bytes> chain = block_chain(8);
  EXPECT_EQ(add(4000, chain[0], kChannel, &why), FG_STATUS_BUSY);
  EXPECT_NE(why.find("block 4000 is too far ahead of the ledger height 0"), std::string::npos) << why;
  // The host's verify_block refuses block 7, and the reason comes back.
  EXPECT_EQ(add(7, chain[7], kChannel, &why), FG_STATUS_CRYPTO);
  EXPECT_NE(why.find("block 7 failed verification"), std::string::npos) << why;
  EXPECT_NE(why.find("verify_block"), std::string::npos) << why;
  // The default static org leader has no election to yield.
  EXPECT_EQ(fg_yield_leadership(kChannel.data(), kChannel.size(), &err), FG_STATUS_NOT_FOUND);
  EXPECT_NE(take(err).find("no leader election"), std::string::npos);
  EXPECT_EQ(fg_yield_leadership(kChannel.data(), kChannel.size(), nullptr), FG_STATUS_NOT_FOUND)
      << "a NULL err_out is fine";
}

}  // namespace
}  // namespace fgtest
