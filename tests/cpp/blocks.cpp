#include "blocks.hpp"

#include <string>

#include "ed25519_host.hpp"

namespace fgtest {

namespace {

void varint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void bytes_field(Bytes& out, uint32_t field, const Bytes& data) {
  varint(out, field << 3 | 2);
  varint(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
}

void der_length(Bytes& out, size_t n) {
  if (n < 0x80) {
    out.push_back(static_cast<uint8_t>(n));
    return;
  }
  Bytes be;
  for (; n > 0; n >>= 8) be.insert(be.begin(), static_cast<uint8_t>(n & 0xff));
  out.push_back(static_cast<uint8_t>(0x80 | be.size()));
  out.insert(out.end(), be.begin(), be.end());
}

// DER INTEGER content of a non-negative number: big-endian, minimal, with a leading 0 when
// the top bit is set.
Bytes der_uint(uint64_t v) {
  Bytes be;
  do {
    be.insert(be.begin(), static_cast<uint8_t>(v & 0xff));
    v >>= 8;
  } while (v > 0);
  if (be[0] & 0x80) be.insert(be.begin(), 0);
  return be;
}

Bytes header_hash(uint64_t number, const Bytes& previous, const Bytes& data_hash) {
  Bytes body;
  Bytes num = der_uint(number);
  body.push_back(0x02);
  der_length(body, num.size());
  body.insert(body.end(), num.begin(), num.end());
  for (const Bytes* b : {&previous, &data_hash}) {
    body.push_back(0x04);
    der_length(body, b->size());
    body.insert(body.end(), b->begin(), b->end());
  }
  Bytes seq{0x30};
  der_length(seq, body.size());
  seq.insert(seq.end(), body.begin(), body.end());
  return sha256(seq);
}

}  // namespace

std::vector<Bytes> block_chain(size_t n) {
  std::vector<Bytes> out;
  Bytes previous;
  for (uint64_t i = 0; i < n; i++) {
    std::string tx_text = "tx " + std::to_string(i);
    Bytes tx(tx_text.begin(), tx_text.end());
    Bytes data_hash = sha256(tx);
    Bytes header;
    if (i > 0) {
      varint(header, 1 << 3);  // number, varint
      varint(header, i);
    }
    if (!previous.empty()) bytes_field(header, 2, previous);
    bytes_field(header, 3, data_hash);
    Bytes data;
    bytes_field(data, 1, tx);
    Bytes metadata;
    const Bytes slots[5] = {{}, {}, Bytes(1, 0), {}, {}};
    for (const Bytes& s : slots) bytes_field(metadata, 1, s);
    Bytes block;
    bytes_field(block, 1, header);
    bytes_field(block, 2, data);
    bytes_field(block, 3, metadata);
    out.push_back(block);
    previous = header_hash(i, previous, data_hash);
  }
  return out;
}

}  // namespace fgtest
