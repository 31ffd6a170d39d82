// Host crypto in C++ over OpenSSL's Ed25519, byte-compatible with the library's built-in
// default: the identity is msp.SerializedIdentity{mspid, raw 32-byte public key}, signatures
// are plain Ed25519 over the message, PKI-ID = SHA-256(mspid || id_bytes). So a peer using
// these callbacks and a peer on the built-in crypto verify each other.
#pragma once

#include <set>
#include <string>

#include "host_table.hpp"

namespace fgtest {

Bytes sha256(const Bytes& data);

// The two fields of msp.SerializedIdentity.
struct SerializedIdentity {
  std::string mspid;
  Bytes id_bytes;
  Bytes marshal() const;
  // False when `raw` is not a SerializedIdentity with both fields.
  static bool unmarshal(const Bytes& raw, SerializedIdentity& out);
};

class Ed25519Signer {
 public:
  Ed25519Signer(std::string mspid, const Bytes& seed32);
  const Bytes& identity() const { return identity_; }
  Bytes sign(const Bytes& msg) const;

 private:
  Bytes seed_;
  Bytes identity_;
};

bool ed25519_verify(const Bytes& public_key, const Bytes& sig, const Bytes& msg);

// Callbacks for `signer`'s peer that trust identities of `trusted_orgs` and accept any
// block whose bytes are non-empty (block signatures are the orderer's business, not this
// test's). The self identity comes from self_identity_fn; pki_id_of and expiration are set.
HostFunctions ed25519_host(const Ed25519Signer& signer, std::set<std::string> trusted_orgs);

}  // namespace fgtest
