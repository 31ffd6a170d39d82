#include "ed25519_host.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <memory>
#include <stdexcept>

namespace fgtest {

namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

void put_varint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

bool get_varint(const Bytes& in, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    uint8_t b = in[pos++];
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

PKey private_key(const Bytes& seed) {
  PKey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()),
         &EVP_PKEY_free);
  if (!k) throw std::runtime_error("bad Ed25519 seed");
  return k;
}

}  // namespace

Bytes sha256(const Bytes& data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), out.data());
  return out;
}

Bytes SerializedIdentity::marshal() const {
  Bytes out;
  out.push_back(0x0a);  // field 1, length-delimited: mspid
  put_varint(out, mspid.size());
  out.insert(out.end(), mspid.begin(), mspid.end());
  out.push_back(0x12);  // field 2, length-delimited: id_bytes
  put_varint(out, id_bytes.size());
  out.insert(out.end(), id_bytes.begin(), id_bytes.end());
  return out;
}

bool SerializedIdentity::unmarshal(const Bytes& raw, SerializedIdentity& out) {
  size_t pos = 0;
  bool have_msp = false, have_id = false;
  while (pos < raw.size()) {
    uint64_t key = 0, len = 0;
    if (!get_varint(raw, pos, key) || (key & 7) != 2 || !get_varint(raw, pos, len) ||
        len > raw.size() - pos) {
      return false;
    }
    auto begin = raw.begin() + static_cast<std::ptrdiff_t>(pos);
    auto end = begin + static_cast<std::ptrdiff_t>(len);
    if (key >> 3 == 1) {
      out.mspid.assign(begin, end);
      have_msp = true;
    } else if (key >> 3 == 2) {
      out.id_bytes.assign(begin, end);
      have_id = true;
    }
    pos += len;
  }
  return have_msp && have_id;
}

Ed25519Signer::Ed25519Signer(std::string mspid, const Bytes& seed32) : seed_(seed32) {
  PKey k = private_key(seed_);
  Bytes pub(32);
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(k.get(), pub.data(), &len) != 1 || len != 32) {
    throw std::runtime_error("cannot derive the Ed25519 public key");
  }
  identity_ = SerializedIdentity{std::move(mspid), pub}.marshal();
}

Bytes Ed25519Signer::sign(const Bytes& msg) const {
  PKey k = private_key(seed_);
  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  Bytes sig(64);
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()) != 1) {
    throw std::runtime_error("Ed25519 signing failed");
  }
  sig.resize(len);
  return sig;
}

bool ed25519_verify(const Bytes& public_key, const Bytes& sig, const Bytes& msg) {
  if (public_key.size() != 32 || sig.size() != 64) return false;
  PKey k(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(),
                                     public_key.size()),
         &EVP_PKEY_free);
  MdCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  return k && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, k.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size()) == 1;
}

HostFunctions ed25519_host(const Ed25519Signer& signer, std::set<std::string> trusted_orgs) {
  HostFunctions h;
  h.self_identity = [id = signer.identity()](Bytes& out) {
    out = id;
    return FG_STATUS_OK;
  };
  h.sign = [signer](const Bytes& msg, Bytes& sig) {
    sig = signer.sign(msg);
    return FG_STATUS_OK;
  };
  auto trusted = [trusted_orgs](const Bytes& identity, SerializedIdentity& sid) {
    return SerializedIdentity::unmarshal(identity, sid) && trusted_orgs.count(sid.mspid) == 1 &&
           sid.id_bytes.size() == 32;
  };
  h.verify = [trusted](const Bytes& identity, const Bytes& sig, const Bytes& msg) {
    SerializedIdentity sid;
    return trusted(identity, sid) && ed25519_verify(sid.id_bytes, sig, msg) ? FG_STATUS_OK
                                                                             : FG_STATUS_CRYPTO;
  };
  // Every trusted org reads every channel in these tests.
  h.verify_by_channel = [verify = h.verify](const std::string&, const Bytes& identity,
                                            const Bytes& sig, const Bytes& msg) {
    return verify(identity, sig, msg);
  };
  h.verify_block = [](const std::string& channel, uint64_t, const Bytes& block) {
    return !channel.empty() && !block.empty() ? FG_STATUS_OK : FG_STATUS_CRYPTO;
  };
  h.validate_identity = [trusted](const Bytes& identity) {
    SerializedIdentity sid;
    return trusted(identity, sid) ? FG_STATUS_OK : FG_STATUS_CRYPTO;
  };
  h.pki_id_of = [](const Bytes& identity, Bytes& pki_id) {
    SerializedIdentity sid;
    if (!SerializedIdentity::unmarshal(identity, sid)) return FG_STATUS_CRYPTO;
    Bytes pre(sid.mspid.begin(), sid.mspid.end());
    pre.insert(pre.end(), sid.id_bytes.begin(), sid.id_bytes.end());
    pki_id = sha256(pre);
    return FG_STATUS_OK;
  };
  h.org_of_identity = [](const Bytes& identity, std::string& org) {
    SerializedIdentity sid;
    if (!SerializedIdentity::unmarshal(identity, sid)) return FG_STATUS_CRYPTO;
    org = sid.mspid;
    return FG_STATUS_OK;
  };
  // Ed25519 identities carry no certificate and so no expiry.
  h.expiration = [](const Bytes&, int64_t&) { return FG_STATUS_NOT_FOUND; };
  return h;
}

}  // namespace fgtest
