// Test plumbing: temporary directories, loopback ports, polling, config text, the JSON the
// library returns, and a second peer run as a child process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "fabgossip.h"

namespace fgtest {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A loopback port that was free a moment ago, below the kernel's ephemeral range so that no
// outgoing connection takes it before the peer meant to listen on it binds it.
int free_port();

// Polls `cond` every 50 ms until it holds or `timeout` passes (generous: the machine is shared).
bool wait_until(const std::function<bool()>& cond,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Config text for one peer of `mspid` on 127.0.0.1:port with short gossip timers; `extra`
// is appended verbatim (e.g. a `fabgossip:` section).
std::string peer_config(const std::string& data_dir, const std::string& mspid, int port,
                        const std::string& bootstrap = "", const std::string& extra = "");

// Takes the library buffer's text and frees it.
std::string take(fg_bytes& b);

// The string value of the first `"key":"..."` in `json` (no unescaping: the library's ids and
// endpoints need none), or "" when absent.
std::string json_string(const std::string& json, const std::string& key);

// The Python peer (`python3 -m fabgossip.peer`, built-in Ed25519 crypto) in a child process,
// driven through its line protocol. Killed on destruction if still running.
class ChildPeer {
 public:
  explicit ChildPeer(const std::string& config_path);
  ~ChildPeer();
  ChildPeer(const ChildPeer&) = delete;
  ChildPeer& operator=(const ChildPeer&) = delete;

  // The `ready` line's fields; empty when the peer failed to start (see `ready_line`).
  const std::string& pki_id() const { return pki_id_; }
  const std::string& ready_line() const { return ready_; }
  // Sends `command` and returns the first line with `"event":"<event>"` or an error line;
  // "" on timeout.
  std::string command(const std::string& command, const std::string& event);
  // Sends `shutdown`, waits for exit; true when it exited 0.
  bool shutdown();

 private:
  std::string read_line(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffered_;
  std::string ready_;
  std::string pki_id_;
};

}  // namespace fgtest
