//! Counters of what the state provider saw and did; bad input is counted, never fatal.

/// Monotonic counters, read with [`StateProvider::counters`](super::StateProvider::counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateCounters {
    /// Payloads offered, from every source.
    pub payloads_received: u64,
    /// Payloads verified and buffered.
    pub payloads_accepted: u64,
    /// Payloads already buffered or being committed.
    pub duplicate: u64,
    /// Payloads below the ledger height.
    pub old: u64,
    /// Payloads too far above the ledger height (the buffer's bound).
    pub too_far_ahead: u64,
    /// Payloads whose block failed `VerifyBlock`: dropped, never committed or forwarded.
    pub invalid: u64,
    /// Payloads refused because their `previous_hash` does not match the block before them
    /// (at intake, or by the ledger at commit): dropped, fetched again from peers.
    pub broken_chain: u64,
    /// Pre-verified payloads verified for another channel.
    pub wrong_channel: u64,
    /// `Output::Forward` emitted.
    pub forwarded: u64,
    /// `Output::Commit` emitted, retries included.
    pub commit_requested: u64,
    pub committed: u64,
    /// Commits the host reported as failed (each is retried).
    pub commit_failed: u64,
    pub commit_retried: u64,
    /// `Committed`/`CommitFailed` reports for no outstanding commit.
    pub unexpected_report: u64,
    /// Times the host's ledger height moved past ours (blocks committed by other means).
    pub height_jumped: u64,
    /// Buffered payloads dropped because the host's ledger already had them.
    pub dropped_committed_elsewhere: u64,
    /// Host ledger heights below ours, ignored.
    pub height_behind: u64,
    /// `Output::PullGap` emitted.
    pub gaps_reported: u64,
}
