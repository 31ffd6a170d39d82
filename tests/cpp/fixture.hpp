// The fixture every test uses: the service is shut down and logging turned off after each
// test, so tests also pass when run one after another in one process.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "ed25519_host.hpp"
#include "support.hpp"

namespace fgtest {

inline const std::string kChannel = "mychannel";
inline const std::string kJoin = R"({"sequence":1,"members":["Org1MSP"]})";

// A fixed seed per test program keeps identities reproducible.
inline Bytes seed(uint8_t fill) { return Bytes(32, fill); }

class FabgossipTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_EQ(fg_shutdown(), FG_STATUS_OK);
    EXPECT_EQ(fg_set_log_callback(nullptr, nullptr, FG_LOG_OFF), FG_STATUS_OK);
  }

  // Config for this process's peer on a fresh port and data directory.
  std::string config(const std::string& bootstrap = "", const std::string& extra = "") {
    port_ = free_port();
    return peer_config(dir_.path() + "/self", "Org1MSP", port_, bootstrap, extra);
  }

  // fg_init; on failure the error detail goes to `*detail` (when given).
  fg_status init(const std::string& text, const fg_callbacks* cb, std::string* detail = nullptr) {
    fg_bytes err{nullptr, 0};
    fg_status st = fg_init(text.data(), text.size(), cb, &err);
    std::string d = take(err);
    if (detail != nullptr) *detail = d;
    return st;
  }

  // fg_join_channel; on failure the error detail goes to `*detail` (when given).
  fg_status join(const std::string& channel = kChannel, const std::string& json = kJoin,
                 std::string* detail = nullptr) {
    fg_bytes err{nullptr, 0};
    fg_status st = fg_join_channel(channel.data(), channel.size(), json.data(), json.size(), &err);
    std::string d = take(err);
    if (detail != nullptr) *detail = d;
    return st;
  }

  uint64_t height(const std::string& channel = kChannel) {
    uint64_t h = 0;
    return fg_ledger_height(channel.data(), channel.size(), &h) == FG_STATUS_OK ? h : UINT64_MAX;
  }

  // fg_add_payload; on failure the error detail goes to `*detail` (when given).
  fg_status add(uint64_t seq, const Bytes& block, const std::string& channel = kChannel,
                std::string* detail = nullptr) {
    fg_bytes err{nullptr, 0};
    fg_status st =
        fg_add_payload(channel.data(), channel.size(), seq, block.data(), block.size(), &err);
    std::string d = take(err);
    if (detail != nullptr) *detail = d;
    return st;
  }

  std::string self_json() {
    fg_bytes b{nullptr, 0};
    return fg_self(&b) == FG_STATUS_OK ? take(b) : "";
  }

  TempDir dir_;
  int port_ = 0;
};

}  // namespace fgtest
