#include "host_table.hpp"

namespace fgtest {

namespace {
Bytes copy(const uint8_t* p, size_t n) { return n == 0 ? Bytes{} : Bytes(p, p + n); }
}  // namespace

const char* slot_name(Slot s) {
  static const char* const names[kSlotCount] = {
      "self_identity_fn", "sign",     "verify",          "verify_by_channel", "verify_block",
      "validate_identity", "pki_id_of", "org_of_identity", "expiration"};
  return names[s];
}

HostTable::~HostTable() {
  if (handed_out_ && releases_.load() == 0) fg_shutdown();
}

fg_callbacks HostTable::table() {
  // An empty std::function leaves its slot NULL, so tests can also build incomplete tables.
  fg_callbacks t{};
  handed_out_ = true;
  t.user_data = this;
  t.release = &HostTable::on_release;
  if (!fns_.self_identity_bytes.empty()) {
    t.self_identity = fns_.self_identity_bytes.data();
    t.self_identity_len = fns_.self_identity_bytes.size();
  } else if (fns_.self_identity) {
    t.self_identity_fn = &HostTable::on_self_identity;
  }
  if (fns_.sign) t.sign = &HostTable::on_sign;
  if (fns_.verify) t.verify = &HostTable::on_verify;
  if (fns_.verify_by_channel) t.verify_by_channel = &HostTable::on_verify_by_channel;
  if (fns_.verify_block) t.verify_block = &HostTable::on_verify_block;
  if (fns_.validate_identity) t.validate_identity = &HostTable::on_validate_identity;
  if (fns_.pki_id_of) t.pki_id_of = &HostTable::on_pki_id_of;
  if (fns_.org_of_identity) t.org_of_identity = &HostTable::on_org_of_identity;
  if (fns_.expiration) t.expiration = &HostTable::on_expiration;
  return t;
}

template <typename F>
fg_status HostTable::guarded(Slot s, F&& body) noexcept {
  calls_[s]++;
  if (releases_.load() > 0) after_release_++;
  try {
    return body();
  } catch (...) {
    exceptions_++;
    return FG_STATUS_CALLBACK_FAILED;
  }
}

fg_status HostTable::write_out(const Bytes& data, uint8_t* out, size_t cap, size_t* out_len) {
  int more = ask_for_more_.load();
  while (more > 0 && !ask_for_more_.compare_exchange_weak(more, more - 1)) {
  }
  if (more > 0) {
    *out_len = cap + 1;
    return FG_STATUS_BUFFER_TOO_SMALL;
  }
  *out_len = data.size();
  if (data.size() > cap) return FG_STATUS_BUFFER_TOO_SMALL;
  std::copy(data.begin(), data.end(), out);
  return FG_STATUS_OK;
}

void HostTable::on_release(void* ud) { self(ud)->releases_++; }

fg_status HostTable::on_self_identity(void* ud, uint8_t* out, size_t cap, size_t* out_len) {
  HostTable* h = self(ud);
  return h->guarded(kSelfIdentity, [&] {
    Bytes id;
    fg_status st = h->fns_.self_identity(id);
    return st == FG_STATUS_OK ? h->write_out(id, out, cap, out_len) : st;
  });
}

fg_status HostTable::on_sign(void* ud, const uint8_t* msg, size_t msg_len, uint8_t* out,
                             size_t cap, size_t* out_len) {
  HostTable* h = self(ud);
  return h->guarded(kSign, [&] {
    Bytes sig;
    fg_status st = h->fns_.sign(copy(msg, msg_len), sig);
    return st == FG_STATUS_OK ? h->write_out(sig, out, cap, out_len) : st;
  });
}

fg_status HostTable::on_verify(void* ud, const uint8_t* id, size_t id_len, const uint8_t* sig,
                               size_t sig_len, const uint8_t* msg, size_t msg_len) {
  HostTable* h = self(ud);
  return h->guarded(kVerify, [&] {
    return h->fns_.verify(copy(id, id_len), copy(sig, sig_len), copy(msg, msg_len));
  });
}

fg_status HostTable::on_verify_by_channel(void* ud, const uint8_t* ch, size_t ch_len,
                                          const uint8_t* id, size_t id_len, const uint8_t* sig,
                                          size_t sig_len, const uint8_t* msg, size_t msg_len) {
  HostTable* h = self(ud);
  return h->guarded(kVerifyByChannel, [&] {
    return h->fns_.verify_by_channel(std::string(reinterpret_cast<const char*>(ch), ch_len),
                                     copy(id, id_len), copy(sig, sig_len), copy(msg, msg_len));
  });
}

fg_status HostTable::on_verify_block(void* ud, const uint8_t* ch, size_t ch_len, uint64_t seq,
                                     const uint8_t* block, size_t block_len) {
  HostTable* h = self(ud);
  return h->guarded(kVerifyBlock, [&] {
    return h->fns_.verify_block(std::string(reinterpret_cast<const char*>(ch), ch_len), seq,
                                copy(block, block_len));
  });
}

fg_status HostTable::on_validate_identity(void* ud, const uint8_t* id, size_t id_len) {
  HostTable* h = self(ud);
  return h->guarded(kValidateIdentity, [&] { return h->fns_.validate_identity(copy(id, id_len)); });
}

fg_status HostTable::on_pki_id_of(void* ud, const uint8_t* id, size_t id_len, uint8_t* out,
                                  size_t cap, size_t* out_len) {
  HostTable* h = self(ud);
  return h->guarded(kPkiIdOf, [&] {
    Bytes pki;
    fg_status st = h->fns_.pki_id_of(copy(id, id_len), pki);
    return st == FG_STATUS_OK ? h->write_out(pki, out, cap, out_len) : st;
  });
}

fg_status HostTable::on_org_of_identity(void* ud, const uint8_t* id, size_t id_len, uint8_t* out,
                                        size_t cap, size_t* out_len) {
  HostTable* h = self(ud);
  return h->guarded(kOrgOfIdentity, [&] {
    std::string org;
    fg_status st = h->fns_.org_of_identity(copy(id, id_len), org);
    return st == FG_STATUS_OK ? h->write_out(Bytes(org.begin(), org.end()), out, cap, out_len) : st;
  });
}

fg_status HostTable::on_expiration(void* ud, const uint8_t* id, size_t id_len, int64_t* out) {
  HostTable* h = self(ud);
  return h->guarded(kExpiration, [&] { return h->fns_.expiration(copy(id, id_len), *out); });
}

}  // namespace fgtest
