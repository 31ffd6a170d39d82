// Marshaled common.Blocks for tests, encoded by hand: header {number, previous_hash,
// data_hash = SHA-256 of the data entries end to end}, data, the five metadata slots with a
// TRANSACTIONS_FILTER marking every transaction valid. Chained by Fabric's header hash
// (SHA-256 of the ASN.1 DER SEQUENCE{number, previous_hash, data_hash}).
#pragma once

#include <vector>

#include "host_table.hpp"

namespace fgtest {

// Blocks 0..n-1 of a chain, one transaction each.
std::vector<Bytes> block_chain(size_t n);

}  // namespace fgtest
