// A C++ host: library log lines into std::clog, a channel joined, its ledger height read.
#include <atomic>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <string>

#include "fabgossip.h"

namespace {

std::mutex log_mutex;  // log lines arrive from several library threads at once

void log_line(void *user_data, int32_t level, const char *target, size_t target_len,
              const char *msg, size_t msg_len) {
  ++*static_cast<std::atomic<int> *>(user_data);
  std::lock_guard<std::mutex> lock(log_mutex);
  std::clog << '[' << level << "] " << std::string(target, target_len) << ": "
            << std::string(msg, msg_len) << '\n';
}

}  // namespace

int main() {
  std::atomic<int> lines{0};
  fg_set_log_callback(log_line, &lines, FG_LOG_INFO);
  const std::string config =
      "peer:\n"
      "  localMspId: Org1MSP\n"
      "  listenAddress: 127.0.0.1:0\n"
      "  address: 127.0.0.1:0\n"
      "  fileSystemPath: /tmp/fabgossip-minimal-cpp\n"
      "  gossip:\n"
      "    bootstrap: ''\n";
  fg_bytes err{nullptr, 0};
  fg_status st = fg_init(config.data(), config.size(), nullptr, &err);
  if (st != FG_STATUS_OK) {
    std::cerr << "fg_init: " << fg_status_str(st) << ": "
              << (err.ptr ? reinterpret_cast<const char *>(err.ptr) : "") << '\n';
    fg_bytes_free(&err);
    return 1;
  }
  const std::string channel = "mychannel";
  const std::string join = R"({"sequence":1,"members":["Org1MSP"]})";
  // A refused channel call says why in `err` (here: the field at fault in the join message).
  st = fg_join_channel(channel.data(), channel.size(), join.data(), join.size(), &err);
  uint64_t height = 0;
  if (st == FG_STATUS_OK) st = fg_ledger_height(channel.data(), channel.size(), &height);
  std::cout << channel << ": " << fg_status_str(st) << ", height " << height << ' '
            << (err.ptr ? reinterpret_cast<const char *>(err.ptr) : "") << '\n';
  fg_bytes_free(&err);
  fg_status down = fg_shutdown();  // joins the library's threads: no log line after this
  fg_set_log_callback(nullptr, nullptr, FG_LOG_OFF);
  std::cout << lines << " log lines\n";
  return st == FG_STATUS_OK && down == FG_STATUS_OK ? 0 : 1;
}
