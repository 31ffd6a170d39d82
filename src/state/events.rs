//! What the driver feeds the state provider and what the provider asks the driver to do.

use std::sync::Arc;

use super::payload::Source;

/// An event for the machine. Payloads go through
/// [`StateProvider::add_payload`](super::StateProvider::add_payload) instead, which says
/// why one is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed; call at least when [`next_deadline`](super::StateProvider::next_deadline)
    /// passes.
    Tick,
    /// The ledger accepted the block of the outstanding [`Output::Commit`].
    Committed { seq: u64 },
    /// The ledger refused or failed the outstanding commit; it is retried with backoff.
    CommitFailed { seq: u64, error: String },
    /// The host ledger's height, read from the ledger (at start, or after the host
    /// committed blocks by other means). Only an increase is taken.
    LedgerHeight { height: u64 },
    /// A channel member advertises this ledger height (its StateInfo, signature checked).
    RemoteHeight { height: u64 },
}

/// An action for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Commit this block to the ledger, then report `Committed` or `CommitFailed`. Only one
    /// commit is outstanding at a time, always the block numbered by the ledger height.
    Commit {
        seq: u64,
        block: Arc<[u8]>,
        private_data: Arc<[Vec<u8>]>,
    },
    /// A verified payload that was new to us, from the deliverer or gossip: push it to the
    /// org's channel peers (for gossip, the original envelope). Private data is not
    /// gossiped with the block.
    Forward {
        seq: u64,
        block: Arc<[u8]>,
        source: Source,
    },
    /// Blocks `from..=to` are missing while later ones exist: pull them now.
    PullGap { from: u64, to: u64 },
}
