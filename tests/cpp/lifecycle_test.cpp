// fg_version, fg_init/fg_shutdown and restarts, with the built-in crypto and with a host
// table whose release must run exactly once per successful fg_init.
#include <cstdio>

#include "fixture.hpp"

namespace fgtest {
namespace {

class Lifecycle : public FabgossipTest {};

TEST_F(Lifecycle, VersionEqualsTheHeaderMacros) {
  char macros[64];
  std::snprintf(macros, sizeof macros, "%d.%d.%d", FG_VERSION_MAJOR, FG_VERSION_MINOR,
                FG_VERSION_PATCH);
  EXPECT_STREQ(fg_version(), macros);
  EXPECT_STREQ(fg_status_str(FG_STATUS_REENTRANT), "FG_STATUS_REENTRANT");
}

TEST_F(Lifecycle, InitShutdownThenInitAgain) {
  fg_bytes out{nullptr, 0};
  EXPECT_EQ(fg_peers(&out), FG_STATUS_NOT_INITIALIZED);
  std::string text = config();
  ASSERT_EQ(init(text, nullptr), FG_STATUS_OK);
  EXPECT_EQ(json_string(self_json(), "internal_endpoint"), "127.0.0.1:" + std::to_string(port_));
  std::string detail;
  EXPECT_EQ(init(text, nullptr, &detail), FG_STATUS_ALREADY_INITIALIZED);
  std::string pki_id = json_string(self_json(), "pki_id");
  ASSERT_EQ(pki_id.size(), 64u);
  ASSERT_EQ(fg_shutdown(), FG_STATUS_OK);
  EXPECT_EQ(fg_shutdown(), FG_STATUS_OK) << "shutdown is idempotent";
  EXPECT_EQ(fg_peers(&out), FG_STATUS_NOT_INITIALIZED);
  // Same data directory and port: the listener was closed and the identity is kept.
  ASSERT_EQ(init(text, nullptr), FG_STATUS_OK);
  EXPECT_EQ(json_string(self_json(), "pki_id"), pki_id);
  ASSERT_EQ(fg_peers(&out), FG_STATUS_OK);
  EXPECT_EQ(take(out), "[]");
  EXPECT_EQ(json_string(self_json(), "internal_endpoint"), "127.0.0.1:" + std::to_string(port_));
}

TEST_F(Lifecycle, BadConfigFailsWithTheKeyNamed) {
  std::string text = config() + "    aliveTimeIntervall: 5s\n";
  std::string detail;
  EXPECT_EQ(init(text, nullptr, &detail), FG_STATUS_CONFIG);
  EXPECT_NE(detail.find("aliveTimeIntervall"), std::string::npos) << detail;
  fg_bytes out{nullptr, 0};
  EXPECT_EQ(fg_peers(&out), FG_STATUS_NOT_INITIALIZED);
}

TEST_F(Lifecycle, ReleaseRunsOnceAtShutdownForEachInit) {
  Ed25519Signer signer("Org1MSP", seed(1));
  std::string text = config();
  for (int round = 0; round < 2; round++) {
    HostTable host(ed25519_host(signer, {"Org1MSP"}));
    fg_callbacks cb = host.table();
    ASSERT_EQ(init(text, &cb), FG_STATUS_OK) << "round " << round;
    EXPECT_EQ(host.releases(), 0);
    EXPECT_GE(host.calls(kSelfIdentity), 1);
    ASSERT_EQ(fg_shutdown(), FG_STATUS_OK);
    EXPECT_EQ(host.releases(), 1);
    EXPECT_EQ(fg_shutdown(), FG_STATUS_OK);
    EXPECT_EQ(host.releases(), 1) << "a second shutdown must not release again";
    EXPECT_EQ(host.calls_after_release(), 0);
  }
}

}  // namespace
}  // namespace fgtest
