//! Where committed blocks live: the [`Ledger`] contract the state provider commits through,
//! and [`FileLedger`], the embedded default used when the host gives no ledger callbacks.
//!
//! - [`chain`]: the `previous_hash` link every commit is checked against.
//! - [`channel_name`]: which channel names are safe as a directory name.
//! - `crc32`: the record checksum.
//! - [`record`]: the on-disk record (length prefix, checksum, sequence, block, private data).
//! - [`file`](mod@file): the append-only block file with its offset index, crash recovery included.
//! - [`missing`]: the private data a committed block lacks.
//! - [`provider`]: [`LedgerProvider`], which opens a channel's ledger at join (the file
//!   ledger by default).
//! - A ledger kept by the host behind `fg_ledger_callbacks` is `ffi::host_ledger` (the C ABI's
//!   side of this contract).

pub mod chain;
pub mod channel_name;
pub(crate) mod crc32;
pub mod file;
pub mod missing;
pub mod provider;
pub mod record;

#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

pub use channel_name::validate_channel_name;
pub use file::{Damage, FileLedger, FileLedgerOptions, Recovery};
pub use missing::MissingPvtData;
pub use provider::{FileLedgerProvider, LedgerProvider};

/// Why a ledger refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The block offered is not the one the ledger expects next.
    #[error("block number {got} offered, ledger expects {expected}")]
    WrongNumber { expected: u64, got: u64 },
    /// The block bytes are not a `common.Block` with a header.
    #[error("malformed block: {0}")]
    MalformedBlock(String),
    /// The channel name cannot be used as a directory name.
    #[error("bad channel name {name:?}: {reason}")]
    BadChannelName { name: String, reason: &'static str },
    /// A read asked for blocks the ledger does not have.
    #[error("blocks {start}..={end} requested, ledger height is {height}")]
    OutOfRange { start: u64, end: u64, height: u64 },
    /// The files hold something that is not a valid record where one must be.
    #[error("ledger corrupt: {0}")]
    Corrupt(String),
    /// Another open ledger (this process or another) holds the channel's directory.
    #[error("ledger directory {0} is in use")]
    Locked(String),
    /// The block's `previous_hash` is not the header hash of the ledger's last block.
    #[error(
        "block {number} does not chain onto the ledger: its previous_hash is {}, the header hash of block {} is {}",
        hex_or_empty(previous_hash),
        number.saturating_sub(1),
        hex_or_empty(expected)
    )]
    BrokenChain {
        number: u64,
        previous_hash: Vec<u8>,
        expected: Vec<u8>,
    },
    /// A host ledger callback returned an error status (or a malformed answer).
    #[error("host ledger {call}: {status_name} ({detail})")]
    Host {
        call: &'static str,
        /// The `fg_status` the host returned; `FG_STATUS_CALLBACK_FAILED` for a malformed
        /// answer or a table already released.
        status: u32,
        status_name: &'static str,
        detail: String,
    },
    #[error("ledger I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn hex_or_empty(b: &[u8]) -> String {
    if b.is_empty() {
        "empty".into()
    } else {
        hex::encode(b)
    }
}

/// One block of a [`Ledger::commit_batch`]: the marshaled `common.Block` and its private data.
#[derive(Debug, Clone, Copy)]
pub struct BlockToCommit<'a> {
    pub block: &'a [u8],
    pub private_data: &'a [Vec<u8>],
}

/// Why a [`Ledger::commit_batch`] stopped: the first `committed` blocks of the batch are in
/// the ledger, the next one failed with `error`, and none after it was tried.
#[derive(Debug, thiserror::Error)]
#[error("{committed} block(s) of the batch committed, then: {error}")]
pub struct BatchCommitError {
    pub committed: usize,
    #[source]
    pub error: LedgerError,
}

/// A channel's block store, as the state provider uses it. Blocks are committed strictly in
/// order: the block numbered `height()` is the only one `commit` accepts, and only when its
/// `previous_hash` is the header hash of the last committed block ([`chain`]).
pub trait Ledger: Send {
    /// Number of committed blocks (the next block's number).
    fn height(&self) -> u64;

    /// Appends the block numbered `height()` and its private data; durable on return when the
    /// implementation says so (see [`FileLedger`]'s fsync policy).
    fn commit(&mut self, block_bytes: &[u8], private_data: &[Vec<u8>]) -> Result<(), LedgerError>;

    /// Appends a run of consecutive blocks, the first numbered `height()`, in order. Stops at
    /// the first block that fails: the blocks before it stay committed (and count in
    /// [`BatchCommitError::committed`]), it and the rest are not committed, so a retry
    /// starts at the new height and never commits a block twice. This default commits one
    /// block at a time; implementations batch the I/O.
    fn commit_batch(&mut self, blocks: &[BlockToCommit<'_>]) -> Result<(), BatchCommitError> {
        for (committed, b) in blocks.iter().enumerate() {
            self.commit(b.block, b.private_data)
                .map_err(|error| BatchCommitError { committed, error })?;
        }
        Ok(())
    }

    /// Records the private data block `seq` commits without. Called before that block's
    /// commit, so a crash between the two leaves a record for a block the ledger does not
    /// hold: readers ignore records at or above the height, and a later call for the same
    /// `seq` replaces it. A ledger that keeps no missing list (a test double) ignores it.
    fn record_missing(&mut self, seq: u64, missing: &[MissingPvtData]) -> Result<(), LedgerError> {
        let _ = (seq, missing);
        Ok(())
    }

    /// The private data committed with block `seq`: marshaled gossip `PvtDataPayload`s.
    /// A ledger that keeps no private data (a test double, a host without the optional
    /// read) returns none.
    fn get_private_data(&self, seq: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let _ = seq;
        Ok(Vec::new())
    }

    /// The private data committed blocks lack, in block order (blocks below the height
    /// only). A ledger that keeps no missing list returns none.
    fn missing_private_data(&self) -> Result<Vec<MissingPvtData>, LedgerError> {
        Ok(Vec::new())
    }

    /// The committed blocks `start..=end_inclusive`, in order (Fabric's state transfer
    /// ranges are end-inclusive).
    fn get_blocks(&self, start: u64, end_inclusive: u64) -> Result<Vec<Vec<u8>>, LedgerError>;

    /// What opening this ledger found damaged and repaired (the file ledger), if anything.
    fn repaired_on_open(&self) -> Option<Recovery> {
        None
    }

    /// SHA-256 over every committed block in order, each preceded by its length as a
    /// big-endian u64 (so block boundaries count). Two ledgers with the same digest hold the
    /// same blocks; tests and the demo compare peers with it.
    fn digest(&self) -> Result<[u8; 32], LedgerError> {
        ledger_digest(self)
    }
}

/// Blocks read per step by [`ledger_digest`], to bound memory on long ledgers.
const DIGEST_CHUNK: u64 = 64;

/// [`Ledger::digest`] for any ledger, reading it in chunks.
pub fn ledger_digest<L: Ledger + ?Sized>(ledger: &L) -> Result<[u8; 32], LedgerError> {
    let mut h = Sha256::new();
    let height = ledger.height();
    let mut start = 0;
    while start < height {
        let end = (start + DIGEST_CHUNK - 1).min(height - 1);
        for block in ledger.get_blocks(start, end)? {
            h.update((block.len() as u64).to_be_bytes());
            h.update(&block);
        }
        start = end + 1;
    }
    Ok(h.finalize().into())
}
