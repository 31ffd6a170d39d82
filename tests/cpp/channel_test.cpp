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
  ASSERT_EQ(fg_leave_channel(kChannel.data(), kChannel.size()), FG_STATUS_OK);
  EXPECT_EQ(add(0, block0), FG_STATUS_NOT_FOUND) << "left";
}

}  // namespace
}  // namespace fgtest
