//! Why a payload was not buffered.

use crate::crypto::CryptoError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("block {seq} is below the ledger height {height}")]
    Old { seq: u64, height: u64 },
    #[error("block {seq} is already buffered or being committed")]
    Duplicate { seq: u64 },
    /// For the deliverer: the buffer is full; offer the block again once the ledger moved.
    #[error("block {seq} is too far ahead of the ledger height {height} (window {window})")]
    TooFarAhead { seq: u64, height: u64, window: u64 },
    #[error("block {seq} failed verification: {error}")]
    Invalid { seq: u64, error: CryptoError },
    /// The block's `previous_hash` is not the header hash of block `seq - 1` (committed or
    /// buffered): it cannot extend this ledger.
    #[error("block {seq} does not chain: its previous_hash is {previous_hash}, the header hash of block {} is {expected}", seq.saturating_sub(1))]
    BrokenChain {
        seq: u64,
        /// Hex of the block's `previous_hash` ("empty" when absent).
        previous_hash: String,
        /// Hex of block `seq - 1`'s header hash.
        expected: String,
    },
    #[error("block {seq} was verified for channel {verified_for:?}, not this one")]
    WrongChannel { seq: u64, verified_for: String },
}
