#include "support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace fgtest {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/fabgossip-cpp-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
int ephemeral_low() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  f >> low;
  return low;
}
}  // namespace

int free_port() {
  static std::mt19937 rng(std::random_device{}());
  const int low = ephemeral_low();
  for (int attempt = 0; attempt < 1000; attempt++) {
    int port = std::uniform_int_distribution<int>(10000, low - 1)(rng);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(s);
    if (ok) return port;
  }
  throw std::runtime_error("no free loopback port below the ephemeral range");
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

std::string peer_config(const std::string& data_dir, const std::string& mspid, int port,
                        const std::string& bootstrap, const std::string& extra) {
  std::string addr = "127.0.0.1:" + std::to_string(port);
  return "peer:\n"
         "  id: cpp-" + std::to_string(port) + "\n"
         "  localMspId: " + mspid + "\n"
         "  listenAddress: " + addr + "\n"
         "  address: " + addr + "\n"
         "  fileSystemPath: " + data_dir + "\n"
         "  gossip:\n"
         "    bootstrap: '" + bootstrap + "'\n"
         "    externalEndpoint: " + addr + "\n"
         "    aliveTimeInterval: 500ms\n"
         "    aliveExpirationTimeout: 5s\n"
         "    reconnectInterval: 1s\n"
         "    pullInterval: 1s\n"
         "    requestStateInfoInterval: 1s\n"
         "    publishStateInfoInterval: 1s\n" +
         extra;
}

std::string take(fg_bytes& b) {
  std::string s = b.ptr ? std::string(reinterpret_cast<const char*>(b.ptr), b.len) : "";
  fg_bytes_free(&b);
  return s;
}

std::string json_string(const std::string& json, const std::string& key) {
  std::string pat = "\"" + key + "\":\"";
  size_t start = json.find(pat);
  if (start == std::string::npos) return "";
  start += pat.size();
  size_t end = json.find('"', start);
  return end == std::string::npos ? "" : json.substr(start, end - start);
}

ChildPeer::ChildPeer(const std::string& config_path) {
  // A child that died must fail the test, not kill it with SIGPIPE on the next command.
  signal(SIGPIPE, SIG_IGN);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    setenv("PYTHONPATH", FABGOSSIP_ROOT "/bindings/python", 1);
    setenv("FABGOSSIP_LIB", FABGOSSIP_LIB, 1);
    execl(FABGOSSIP_PYTHON, FABGOSSIP_PYTHON, "-m", "fabgossip.peer", "--config",
          config_path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  to_child_ = in[1];
  from_child_ = out[0];
  ready_ = read_line(std::chrono::seconds(60));
  if (ready_.find("\"event\":\"ready\"") != std::string::npos) pki_id_ = json_string(ready_, "pki_id");
}

ChildPeer::~ChildPeer() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (to_child_ >= 0) close(to_child_);
  if (from_child_ >= 0) close(from_child_);
}

std::string ChildPeer::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return "";
    pollfd p{from_child_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = read(from_child_, buf, sizeof buf);
    if (n <= 0) return "";
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

std::string ChildPeer::command(const std::string& command, const std::string& event) {
  std::string line = command + "\n";
  if (write(to_child_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return "";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string got = read_line(std::chrono::seconds(30));
    if (got.empty()) return "";
    if (got.find("\"event\":\"" + event + "\"") != std::string::npos ||
        got.find("\"event\":\"error\"") != std::string::npos) {
      return got;
    }
  }
  return "";
}

bool ChildPeer::shutdown() {
  if (pid_ <= 0) return false;
  command("shutdown", "shutdown");
  int status = 0;
  bool exited = wait_until(
      [&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, std::chrono::seconds(30));
  if (!exited) return false;
  pid_ = -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace fgtest
