// fg_is_leader with the leadership callback, and a host ledger through fg_set_ledger_callbacks.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "blocks.hpp"
#include "fixture.hpp"

namespace fgtest {
namespace {

// Leadership changes as the callback reports them, in order.
struct Changes {
  std::mutex mu;
  std::vector<std::pair<std::string, int32_t>> seen;

  static void on_change(void* ud, const char* channel, size_t len, int32_t is_leader) {
    auto* self = static_cast<Changes*>(ud);
    std::lock_guard<std::mutex> lock(self->mu);
    self->seen.emplace_back(std::string(channel, len), is_leader);
  }
  std::vector<std::pair<std::string, int32_t>> snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return seen;
  }
};

class Leadership : public FabgossipTest {
 protected:
  void TearDown() override {
    FabgossipTest::TearDown();
    EXPECT_EQ(fg_set_leadership_callback(nullptr, nullptr), FG_STATUS_OK);
  }
  fg_status is_leader(const std::string& channel, int32_t* out) {
    return fg_is_leader(channel.data(), channel.size(), out);
  }
};

// core.yaml's default is a static org leader: it leads every channel it joins, and leaving
// reports the end of that.
TEST_F(Leadership, StaticOrgLeaderLeadsFromJoinToLeave) {
  Changes changes;
  ASSERT_EQ(fg_set_leadership_callback(&Changes::on_change, &changes), FG_STATUS_OK);
  ASSERT_EQ(init(config(), nullptr), FG_STATUS_OK);
  int32_t leader = -1;
  EXPECT_EQ(is_leader(kChannel, &leader), FG_STATUS_NOT_FOUND) << "not joined yet";
  EXPECT_EQ(is_leader(kChannel, nullptr), FG_STATUS_INVALID_ARG);
  ASSERT_EQ(join(), FG_STATUS_OK);
  ASSERT_TRUE(wait_until([&] { return is_leader(kChannel, &leader) == FG_STATUS_OK; }));
  EXPECT_EQ(leader, 1);
  ASSERT_EQ(fg_leave_channel(kChannel.data(), kChannel.size(), nullptr), FG_STATUS_OK);
  ASSERT_TRUE(wait_until([&] { return changes.snapshot().size() >= 2; }));
  auto seen = changes.snapshot();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(kChannel, int32_t{1}));
  EXPECT_EQ(seen[1], std::make_pair(kChannel, int32_t{0}));
}

// Neither election nor orgLeader: never a leader, and no change to report.
TEST_F(Leadership, NeverLeaderWithBothOff) {
  Changes changes;
  ASSERT_EQ(fg_set_leadership_callback(&Changes::on_change, &changes), FG_STATUS_OK);
  std::string extra = "    useLeaderElection: false\n    orgLeader: false\n";
  ASSERT_EQ(init(config("", extra), nullptr), FG_STATUS_OK);
  ASSERT_EQ(join(), FG_STATUS_OK);
  int32_t leader = -1;
  ASSERT_TRUE(wait_until([&] { return is_leader(kChannel, &leader) == FG_STATUS_OK; }));
  EXPECT_EQ(leader, 0);
  EXPECT_TRUE(changes.snapshot().empty());
}

// A leadership callback that sleeps 2 s (a slow host) does not hold up the node: join
// returns, and blocks are verified and committed while the callback still sleeps.
struct SlowCallback {
  std::atomic<int> entered{0}, returned{0};
  static void on_change(void* ud, const char*, size_t, int32_t) {
    auto* self = static_cast<SlowCallback*>(ud);
    self->entered++;
    std::this_thread::sleep_for(std::chrono::seconds(2));
    self->returned++;
  }
};

TEST_F(Leadership, ASlowCallbackDoesNotStallBlocks) {
  SlowCallback slow;
  ASSERT_EQ(fg_set_leadership_callback(&SlowCallback::on_change, &slow), FG_STATUS_OK);
  Ed25519Signer signer{"Org1MSP", seed(5)};
  HostTable host(ed25519_host(signer, {"Org1MSP"}));
  fg_callbacks cb = host.table();
  ASSERT_EQ(init(config(), &cb), FG_STATUS_OK);
  // The static org leader leads from the join on: the callback starts sleeping.
  ASSERT_EQ(join(), FG_STATUS_OK);
  ASSERT_TRUE(wait_until([&] { return slow.entered.load() == 1; }));
  std::vector<Bytes> chain = block_chain(3);
  for (uint64_t seq = 0; seq < 3; seq++) ASSERT_EQ(add(seq, chain[seq]), FG_STATUS_OK) << seq;
  ASSERT_TRUE(wait_until([&] { return height() == 3 || slow.returned.load() > 0; }));
  EXPECT_EQ(height(), 3u);
  EXPECT_EQ(slow.returned.load(), 0) << "the blocks waited for the callback";
  // Shutdown lets the running callback finish, and none runs after it.
  ASSERT_EQ(fg_shutdown(), FG_STATUS_OK);
  EXPECT_EQ(slow.returned.load(), 1);
  EXPECT_EQ(slow.entered.load(), 1);
}

// An in-memory ledger over the C table; commits of `fail_seq` fail `fail_times` times first.
struct MemoryLedger {
  std::mutex mu;
  std::map<std::string, std::vector<Bytes>> chains;
  uint64_t fail_seq = UINT64_MAX;
  int fail_times = 0;
  int commit_calls = 0;
  fg_status reentry = FG_STATUS_OK;
  std::atomic<int> releases{0};

  fg_ledger_callbacks table() {
    fg_ledger_callbacks t{};
    t.user_data = this;
    t.release = [](void* ud) { static_cast<MemoryLedger*>(ud)->releases++; };
    t.height = [](void* ud, const uint8_t* ch, size_t len, uint64_t* out) -> fg_status {
      auto* l = static_cast<MemoryLedger*>(ud);
      std::lock_guard<std::mutex> lock(l->mu);
      *out = l->chains[std::string(reinterpret_cast<const char*>(ch), len)].size();
      return FG_STATUS_OK;
    };
    t.commit = [](void* ud, const uint8_t* ch, size_t len, uint64_t seq, const uint8_t* block,
                  size_t block_len, const fg_slice*, size_t) -> fg_status {
      auto* l = static_cast<MemoryLedger*>(ud);
      // Re-entering the library from a callback is refused, never a deadlock.
      int32_t ignored = 0;
      fg_status reentry = fg_is_leader(reinterpret_cast<const char*>(ch), len, &ignored);
      std::lock_guard<std::mutex> lock(l->mu);
      l->reentry = reentry;
      l->commit_calls++;
      if (seq == l->fail_seq && l->fail_times > 0) {
        l->fail_times--;
        return FG_STATUS_CALLBACK_FAILED;
      }
      auto& chain = l->chains[std::string(reinterpret_cast<const char*>(ch), len)];
      if (seq != chain.size()) return FG_STATUS_INVALID_ARG;
      chain.emplace_back(block, block + block_len);
      return FG_STATUS_OK;
    };
    t.get_block = [](void* ud, const uint8_t* ch, size_t len, uint64_t seq, uint8_t* out,
                     size_t cap, size_t* out_len) -> fg_status {
      auto* l = static_cast<MemoryLedger*>(ud);
      std::lock_guard<std::mutex> lock(l->mu);
      auto& chain = l->chains[std::string(reinterpret_cast<const char*>(ch), len)];
      if (seq >= chain.size()) return FG_STATUS_NOT_FOUND;
      const Bytes& b = chain[seq];
      *out_len = b.size();
      if (cap < b.size()) return FG_STATUS_BUFFER_TOO_SMALL;
      std::memcpy(out, b.data(), b.size());
      return FG_STATUS_OK;
    };
    return t;
  }
};

class HostLedger : public FabgossipTest {};

TEST_F(HostLedger, BlocksCommitInOrderThroughTheHostAndAFailedCommitIsRetried) {
  MemoryLedger ledger;
  std::vector<Bytes> chain = block_chain(6);
  ledger.chains[kChannel].push_back(chain[0]);  // the host holds block 0 already
  ledger.fail_seq = 3;
  ledger.fail_times = 2;
  fg_ledger_callbacks t = ledger.table();
  EXPECT_EQ(fg_set_ledger_callbacks(&t), FG_STATUS_NOT_INITIALIZED);
  EXPECT_EQ(ledger.releases, 1) << "a refused table is released before the call returns";
  ASSERT_EQ(init(config(), nullptr), FG_STATUS_OK);
  ASSERT_EQ(fg_set_ledger_callbacks(&t), FG_STATUS_OK);
  ASSERT_EQ(join(), FG_STATUS_OK);
  EXPECT_EQ(height(), 1u) << "the height comes from the host";
  EXPECT_EQ(fg_set_ledger_callbacks(&t), FG_STATUS_BUSY) << "a channel is joined";
  EXPECT_EQ(ledger.releases, 2);
  for (uint64_t seq : {5, 4, 3, 2, 1}) ASSERT_EQ(add(seq, chain[seq]), FG_STATUS_OK) << seq;
  ASSERT_TRUE(wait_until([&] { return height() == 6; })) << height();
  {
    std::lock_guard<std::mutex> lock(ledger.mu);
    EXPECT_EQ(ledger.chains[kChannel], chain) << "every block once, in order";
    EXPECT_EQ(ledger.commit_calls, 5 + 2) << "block 3 failed twice and was retried";
    EXPECT_EQ(ledger.reentry, FG_STATUS_REENTRANT);
  }
  ASSERT_EQ(fg_shutdown(), FG_STATUS_OK);
  EXPECT_EQ(ledger.releases, 3) << "the installed table is released at shutdown";
}

}  // namespace
}  // namespace fgtest
