//! What the driver feeds the state provider and what the provider asks the driver to do.

use super::commit::CommitBatch;
use super::payload::Source;

/// An event for the machine. Payloads go through
/// [`StateProvider::add_payload`](super::StateProvider::add_payload) instead, which says
/// why one is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed; call at least when [`next_deadline`](super::StateProvider::next_deadline)
    /// passes.
    Tick,
    /// The ledger took the whole outstanding [`Output::Commit`] batch starting at `first`;
    /// `height` is the ledger's height after it (the batch's end, or more when the host
    /// committed further blocks by other means).
    Committed { first: u64, height: u64 },
    /// The ledger committed blocks `first..height` of the outstanding batch (none when
    /// `height == first`) and failed block `height`; the rest waits and is retried with
    /// backoff, starting at the new height.
    CommitFailed {
        first: u64,
        height: u64,
        error: String,
    },
    /// The ledger committed blocks `first..height` of the outstanding batch and refused
    /// block `height` for good (it does not chain onto the ledger): that payload is dropped,
    /// not retried, and the gap it leaves is fetched again; the rest of the batch waits.
    CommitRefused {
        first: u64,
        height: u64,
        error: String,
    },
    /// The host ledger's height, read from the ledger (at start, or after the host
    /// committed blocks by other means). Only an increase is taken.
    LedgerHeight { height: u64 },
    /// A channel member advertises this ledger height (its StateInfo, signature checked).
    RemoteHeight { height: u64 },
}

/// An action for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Commit this run of consecutive blocks, the first numbered by the ledger height, with
    /// one ledger call ([`Ledger::commit_batch`](crate::ledger::Ledger::commit_batch)),
    /// then report `Committed` or `CommitFailed` once. Only one batch is outstanding at a
    /// time; [`commit_batch`](super::commit_batch) does the ledger call and the report.
    Commit(CommitBatch),
    /// A verified payload that was new to us, from the deliverer or gossip: push it to the
    /// org's channel peers (for gossip, the original envelope). Private data is not
    /// gossiped with the block.
    Forward {
        seq: u64,
        block: bytes::Bytes,
        source: Source,
    },
    /// Blocks `from..=to` are missing while later ones exist: pull them now.
    PullGap { from: u64, to: u64 },
}
