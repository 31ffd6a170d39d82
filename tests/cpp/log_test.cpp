// The log callback: lines arrive from library threads, fg_* calls inside it are refused, and
// once replaced it never runs again.
#include <atomic>
#include <mutex>
#include <thread>

#include "fixture.hpp"

namespace fgtest {
namespace {

struct LogSink {
  std::atomic<int> lines{0};
  std::atomic<int> reentrant{0};
  std::atomic<int> bad_level{0};
  std::mutex mu;
  std::string first_target;
};

void on_log(void* ud, int32_t level, const char* target, size_t target_len, const char* msg,
            size_t msg_len) {
  auto* sink = static_cast<LogSink*>(ud);
  (void)msg;
  (void)msg_len;
  if (level < FG_LOG_ERROR || level > FG_LOG_DEBUG) sink->bad_level++;
  fg_bytes out{nullptr, 0};
  if (fg_peers(&out) == FG_STATUS_REENTRANT) sink->reentrant++;
  {
    std::lock_guard<std::mutex> g(sink->mu);
    if (sink->first_target.empty()) sink->first_target.assign(target, target_len);
  }
  sink->lines++;
}

class LogCallback : public FabgossipTest {};

TEST_F(LogCallback, LinesArriveAndReentryIsRefused) {
  LogSink sink;
  EXPECT_EQ(fg_set_log_callback(&on_log, &sink, 9), FG_STATUS_INVALID_ARG);
  ASSERT_EQ(fg_set_log_callback(&on_log, &sink, FG_LOG_DEBUG), FG_STATUS_OK);
  ASSERT_EQ(init(config(), nullptr), FG_STATUS_OK);
  ASSERT_EQ(join(), FG_STATUS_OK);
  ASSERT_TRUE(wait_until([&] { return sink.lines > 0; }));
  EXPECT_EQ(sink.reentrant.load(), sink.lines.load()) << "every fg_* call inside is refused";
  EXPECT_EQ(sink.bad_level.load(), 0) << "no line above the requested level";
  {
    std::lock_guard<std::mutex> g(sink.mu);
    EXPECT_EQ(sink.first_target.rfind("fabgossip", 0), 0u) << sink.first_target;
  }
  ASSERT_EQ(fg_set_log_callback(nullptr, nullptr, FG_LOG_OFF), FG_STATUS_OK);
  int after = sink.lines.load();
  // Shutting down logs; none of it may reach the replaced callback.
  ASSERT_EQ(fg_shutdown(), FG_STATUS_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(sink.lines.load(), after);
}

}  // namespace
}  // namespace fgtest
