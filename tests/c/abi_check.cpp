// Exercises the C ABI from C++17: the header must compile as C++ with -Wall -Werror, and
// the error paths must behave as documented. Exit status 0 means every check passed.
//
// Usage: abi_check [CONFIG_FILE]. Without a file, a peer on 127.0.0.1 with a free port and a
// temporary data directory is configured; either way a peer is started, queried and restarted.

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "fabgossip.h"

namespace {

int failures = 0;

void expect(bool ok, const char *what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

std::atomic<int> log_lines{0};
std::atomic<int> reentrant_seen{0};

void on_log(void *, int32_t, const char *, size_t, const char *, size_t) {
  ++log_lines;
  fg_bytes out{nullptr, 0};
  // Calling back into the library from a callback must be refused, not deadlock.
  if (fg_peers(&out) == FG_STATUS_REENTRANT) ++reentrant_seen;
}

std::string take(fg_bytes &b) {
  std::string s = b.ptr != nullptr ? std::string(reinterpret_cast<const char *>(b.ptr), b.len) : "";
  fg_bytes_free(&b);
  return s;
}

}  // namespace

int main(int argc, char **argv) {
  std::string version = fg_version();
  std::string expected = std::to_string(FG_VERSION_MAJOR) + "." + std::to_string(FG_VERSION_MINOR) +
                         "." + std::to_string(FG_VERSION_PATCH);
  expect(version == expected, "fg_version matches the header's version macros");
  expect(std::strcmp(fg_status_str(FG_STATUS_OK), "FG_STATUS_OK") == 0, "status name of OK");
  expect(std::strcmp(fg_status_str(FG_STATUS_REENTRANT), "FG_STATUS_REENTRANT") == 0, "status name of REENTRANT");
  expect(std::strcmp(fg_status_str(0xFFFFu), "FG_STATUS_UNKNOWN") == 0, "unknown status has a name");

  fg_bytes out{nullptr, 0};
  expect(fg_peers(&out) == FG_STATUS_NOT_INITIALIZED && out.ptr == nullptr, "fg_peers before fg_init");
  expect(fg_peers(nullptr) == FG_STATUS_INVALID_ARG, "fg_peers(NULL)");
  expect(fg_init(nullptr, 0, nullptr, nullptr) == FG_STATUS_INVALID_ARG, "fg_init(NULL)");
  const char bad[] = "peer: [unclosed";
  fg_bytes err{nullptr, 0};
  expect(fg_init(bad, sizeof bad - 1, nullptr, &err) == FG_STATUS_CONFIG, "fg_init with bad YAML");
  expect(!take(err).empty(), "bad config gives error detail");
  expect(fg_shutdown() == FG_STATUS_OK && fg_shutdown() == FG_STATUS_OK, "fg_shutdown is idempotent");
  fg_bytes_free(nullptr);
  expect(fg_set_log_callback(on_log, nullptr, 99) == FG_STATUS_INVALID_ARG, "log level out of range");
  expect(fg_set_log_callback(on_log, nullptr, FG_LOG_DEBUG) == FG_STATUS_OK, "set log callback");

  std::string config;
  if (argc > 1) {
    std::ifstream f(argv[1]);
    config.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  } else {
    char dir[] = "/tmp/fabgossip-abi-check-XXXXXX";
    if (mkdtemp(dir) != nullptr) {
      config = std::string("peer:\n  id: abi-check\n  localMspId: Org1MSP\n") +
               "  listenAddress: 127.0.0.1:0\n  address: 127.0.0.1:0\n  fileSystemPath: " + dir +
               "\n  gossip:\n    bootstrap: \"\"\n";
    }
  }
  expect(!config.empty(), "config available");
  {
    for (int round = 0; round < 2; ++round) {
      fg_bytes e{nullptr, 0};
      fg_status st = fg_init(config.data(), config.size(), nullptr, &e);
      if (st != FG_STATUS_OK) std::printf("  fg_init: %s %s\n", fg_status_str(st), take(e).c_str());
      expect(st == FG_STATUS_OK, "fg_init with the given config");
      expect(fg_init(config.data(), config.size(), nullptr, nullptr) == FG_STATUS_ALREADY_INITIALIZED,
             "second fg_init");
      expect(fg_self(&out) == FG_STATUS_OK && take(out).find("\"pki_id\"") != std::string::npos, "fg_self");
      expect(fg_peers(&out) == FG_STATUS_OK && take(out).rfind('[', 0) == 0, "fg_peers gives a JSON array");
      expect(fg_shutdown() == FG_STATUS_OK, "fg_shutdown");
    }
    expect(log_lines.load() > 0, "log callback received lines");
    expect(reentrant_seen.load() == log_lines.load(), "every fg_* call from the log callback was REENTRANT");
  }
  expect(fg_set_log_callback(nullptr, nullptr, FG_LOG_OFF) == FG_STATUS_OK, "log callback removed");
  std::printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
  return failures == 0 ? 0 : 1;
}
