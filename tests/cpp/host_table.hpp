// A C++ host's crypto callbacks: each fg_callbacks slot is a std::function, wrapped by a
// trampoline that copies the borrowed inputs, counts the call and turns a C++ exception
// into FG_STATUS_CALLBACK_FAILED (no exception may unwind into the library).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fabgossip.h"

namespace fgtest {

using Bytes = std::vector<uint8_t>;

// One slot per callback of fg_callbacks, for the call counters.
enum Slot {
  kSelfIdentity,
  kSign,
  kVerify,
  kVerifyByChannel,
  kVerifyBlock,
  kValidateIdentity,
  kPkiIdOf,
  kOrgOfIdentity,
  kExpiration,
  kSlotCount
};

const char* slot_name(Slot s);

struct HostFunctions {
  // When set, passed as fg_callbacks.self_identity; when empty, self_identity_fn is used.
  Bytes self_identity_bytes;
  std::function<fg_status(Bytes& out)> self_identity;
  std::function<fg_status(const Bytes& msg, Bytes& sig)> sign;
  std::function<fg_status(const Bytes& identity, const Bytes& sig, const Bytes& msg)> verify;
  std::function<fg_status(const std::string& channel, const Bytes& identity, const Bytes& sig,
                          const Bytes& msg)>
      verify_by_channel;
  std::function<fg_status(const std::string& channel, uint64_t seq, const Bytes& block)> verify_block;
  std::function<fg_status(const Bytes& identity)> validate_identity;
  // Optional (NULL in the table when empty).
  std::function<fg_status(const Bytes& identity, Bytes& pki_id)> pki_id_of;
  std::function<fg_status(const Bytes& identity, std::string& org)> org_of_identity;
  // Optional (NULL in the table when empty).
  std::function<fg_status(const Bytes& identity, int64_t& unix_s)> expiration;
};

class HostTable {
 public:
  explicit HostTable(HostFunctions fns) : fns_(std::move(fns)) {}
  // user_data must stay valid until release: a table handed out and not yet released shuts
  // the service down before it goes away.
  ~HostTable();
  HostTable(const HostTable&) = delete;
  HostTable& operator=(const HostTable&) = delete;

  // The table to pass to fg_init; user_data points at this object, which must outlive the
  // service (until release has run).
  fg_callbacks table();

  int calls(Slot s) const { return calls_[s].load(); }
  int releases() const { return releases_.load(); }
  int exceptions() const { return exceptions_.load(); }
  // Calls that arrived after release: the contract says there are none.
  int calls_after_release() const { return after_release_.load(); }

  HostFunctions& functions() { return fns_; }

  // The next `n` output callbacks claim to need one byte more than the library offered
  // (FG_STATUS_BUFFER_TOO_SMALL), to exercise the library's one retry.
  void ask_for_more(int n) { ask_for_more_ = n; }

 private:
  static HostTable* self(void* ud) { return static_cast<HostTable*>(ud); }
  // Counts the call and runs `body`, mapping any exception to FG_STATUS_CALLBACK_FAILED.
  template <typename F>
  fg_status guarded(Slot s, F&& body) noexcept;
  fg_status write_out(const Bytes& data, uint8_t* out, size_t cap, size_t* out_len);

  static void on_release(void* ud);
  static fg_status on_self_identity(void* ud, uint8_t* out, size_t cap, size_t* out_len);
  static fg_status on_sign(void* ud, const uint8_t* msg, size_t msg_len, uint8_t* out, size_t cap,
                           size_t* out_len);
  static fg_status on_verify(void* ud, const uint8_t* id, size_t id_len, const uint8_t* sig,
                             size_t sig_len, const uint8_t* msg, size_t msg_len);
  static fg_status on_verify_by_channel(void* ud, const uint8_t* ch, size_t ch_len,
                                        const uint8_t* id, size_t id_len, const uint8_t* sig,
                                        size_t sig_len, const uint8_t* msg, size_t msg_len);
  static fg_status on_verify_block(void* ud, const uint8_t* ch, size_t ch_len, uint64_t seq,
                                   const uint8_t* block, size_t block_len);
  static fg_status on_validate_identity(void* ud, const uint8_t* id, size_t id_len);
  static fg_status on_pki_id_of(void* ud, const uint8_t* id, size_t id_len, uint8_t* out,
                                size_t cap, size_t* out_len);
  static fg_status on_org_of_identity(void* ud, const uint8_t* id, size_t id_len, uint8_t* out,
                                      size_t cap, size_t* out_len);
  static fg_status on_expiration(void* ud, const uint8_t* id, size_t id_len, int64_t* out);

  HostFunctions fns_;
  std::array<std::atomic<int>, kSlotCount> calls_{};
  std::atomic<int> releases_{0};
  std::atomic<int> exceptions_{0};
  std::atomic<int> after_release_{0};
  std::atomic<int> ask_for_more_{0};
  bool handed_out_ = false;
};

}  // namespace fgtest
