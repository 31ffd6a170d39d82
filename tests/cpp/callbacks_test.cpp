// Host callbacks that fail, throw, are missing or call back into the library.
#include <atomic>

#include "blocks.hpp"
#include "fixture.hpp"

namespace fgtest {
namespace {

class HostCallbacks : public FabgossipTest {
 protected:
  Ed25519Signer signer_{"Org1MSP", seed(2)};
};

TEST_F(HostCallbacks, FailingSelfIdentityFailsInitAndReleasesOnce) {
  HostFunctions fns = ed25519_host(signer_, {"Org1MSP"});
  fns.self_identity = [](Bytes&) { return FG_STATUS_CALLBACK_FAILED; };
  HostTable host(fns);
  fg_callbacks cb = host.table();
  std::string detail;
  EXPECT_EQ(init(config(), &cb, &detail), FG_STATUS_CRYPTO);
  EXPECT_NE(detail.find("self_identity"), std::string::npos) << detail;
  EXPECT_EQ(host.releases(), 1) << "release runs before a failing fg_init returns";
  fg_bytes out{nullptr, 0};
  EXPECT_EQ(fg_peers(&out), FG_STATUS_NOT_INITIALIZED);
  // The failure left nothing behind: a good table starts.
  HostTable good(ed25519_host(signer_, {"Org1MSP"}));
  fg_callbacks good_cb = good.table();
  EXPECT_EQ(init(config(), &good_cb), FG_STATUS_OK);
}

TEST_F(HostCallbacks, OutputTooSmallIsRetriedOnceThenAnError) {
  HostTable retried(ed25519_host(signer_, {"Org1MSP"}));
  retried.ask_for_more(1);
  fg_callbacks cb = retried.table();
  ASSERT_EQ(init(config(), &cb), FG_STATUS_OK);
  EXPECT_EQ(retried.calls(kSelfIdentity), 2) << "asked once more, with the size it asked for";
  ASSERT_EQ(fg_shutdown(), FG_STATUS_OK);

  HostTable greedy(ed25519_host(signer_, {"Org1MSP"}));
  greedy.ask_for_more(2);
  fg_callbacks greedy_cb = greedy.table();
  std::string detail;
  EXPECT_EQ(init(config(), &greedy_cb, &detail), FG_STATUS_CRYPTO);
  EXPECT_EQ(greedy.calls(kSelfIdentity), 2) << "one retry, not a loop";
  EXPECT_NE(detail.find("self_identity"), std::string::npos) << detail;
  EXPECT_EQ(greedy.releases(), 1);
}

TEST_F(HostCallbacks, MissingRequiredCallbackIsInvalidArgNamingIt) {
  HostFunctions fns = ed25519_host(signer_, {"Org1MSP"});
  fns.sign = nullptr;
  HostTable host(fns);
  fg_callbacks cb = host.table();
  std::string detail;
  EXPECT_EQ(init(config(), &cb, &detail), FG_STATUS_INVALID_ARG);
  EXPECT_NE(detail.find("sign"), std::string::npos) << detail;
  EXPECT_EQ(host.releases(), 1);
}

TEST_F(HostCallbacks, RefusedOrThrowingVerifyBlockFailsAddPayloadCleanly) {
  HostFunctions fns = ed25519_host(signer_, {"Org1MSP"});
  std::atomic<int> mode{0};  // 0: refuse, 1: throw, 2: accept
  fns.verify_block = [&mode](const std::string&, uint64_t, const Bytes&) -> fg_status {
    if (mode == 0) return FG_STATUS_CALLBACK_FAILED;
    if (mode == 1) throw std::runtime_error("host bug");
    return FG_STATUS_OK;
  };
  HostTable host(fns);
  fg_callbacks cb = host.table();
  ASSERT_EQ(init(config(), &cb), FG_STATUS_OK);
  ASSERT_EQ(join(), FG_STATUS_OK);
  Bytes block0 = block_chain(1)[0];
  EXPECT_EQ(add(0, block0), FG_STATUS_CRYPTO);
  mode = 1;
  EXPECT_EQ(add(0, block0), FG_STATUS_CRYPTO);
  EXPECT_EQ(host.exceptions(), 1);
  EXPECT_EQ(height(), 0u) << "a refused block is not committed";
  mode = 2;
  EXPECT_EQ(add(0, block0), FG_STATUS_OK);
  EXPECT_TRUE(wait_until([&] { return height() == 1; }));
  EXPECT_EQ(host.calls(kVerifyBlock), 3);
}

TEST_F(HostCallbacks, CallingTheLibraryFromACallbackIsReentrant) {
  HostFunctions fns = ed25519_host(signer_, {"Org1MSP"});
  struct Seen {
    std::atomic<int> calls{0};
    std::atomic<fg_status> height{FG_STATUS_OK}, peers{FG_STATUS_OK}, shutdown{FG_STATUS_OK},
        add{FG_STATUS_OK};
  };
  auto seen = std::make_shared<Seen>();
  fns.verify_block = [seen](const std::string& ch, uint64_t seq, const Bytes& block) {
    uint64_t h = 0;
    seen->height = fg_ledger_height(ch.data(), ch.size(), &h);
    fg_bytes out{nullptr, 0};
    seen->peers = fg_peers(&out);
    fg_bytes_free(&out);  // allowed anywhere, and harmless on a zeroed fg_bytes
    seen->add = fg_add_payload(ch.data(), ch.size(), seq, block.data(), block.size(), nullptr);
    seen->shutdown = fg_shutdown();
    seen->calls++;
    return FG_STATUS_OK;
  };
  HostTable host(fns);
  fg_callbacks cb = host.table();
  ASSERT_EQ(init(config(), &cb), FG_STATUS_OK);
  ASSERT_EQ(join(), FG_STATUS_OK);
  std::vector<Bytes> chain = block_chain(2);
  ASSERT_EQ(add(0, chain[0]), FG_STATUS_OK);
  ASSERT_GE(seen->calls.load(), 1);
  EXPECT_EQ(seen->height.load(), FG_STATUS_REENTRANT);
  EXPECT_EQ(seen->peers.load(), FG_STATUS_REENTRANT);
  EXPECT_EQ(seen->add.load(), FG_STATUS_REENTRANT);
  EXPECT_EQ(seen->shutdown.load(), FG_STATUS_REENTRANT);
  // The refused inner calls changed nothing: the service runs and commits.
  ASSERT_EQ(add(1, chain[1]), FG_STATUS_OK);
  EXPECT_TRUE(wait_until([&] { return height() == 2; }));
  fg_bytes out{nullptr, 0};
  EXPECT_EQ(fg_peers(&out), FG_STATUS_OK);
  fg_bytes_free(&out);
}

}  // namespace
}  // namespace fgtest
