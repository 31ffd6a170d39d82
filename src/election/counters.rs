//! Counters of one channel's election; bad input is counted, never fatal.

/// Monotonic counters, read with [`LeaderElection::counters`](super::LeaderElection::counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ElectionCounters {
    pub proposals_sent: u64,
    pub declarations_sent: u64,
    pub proposals_received: u64,
    pub declarations_received: u64,
    /// Messages from a peer that is not a candidate (not alive, not of our org, not in the
    /// channel): ignored, as Fabric does.
    pub not_in_view: u64,
    /// Messages carrying our own PKI-ID.
    pub from_self: u64,
    /// Messages not newer than the last one held from the same peer (replays, duplicates).
    pub stale: u64,
    /// Own proposals or declarations that could not be signed (not sent).
    pub sign_failed: u64,
    pub became_leader: u64,
    pub stopped_leading: u64,
    /// Yields carried out.
    pub yields: u64,
    /// Yields asked while not leading or already yielding.
    pub yields_ignored: u64,
}

impl ElectionCounters {
    /// Adds `other` field by field (sums over channels).
    pub fn add(&mut self, other: &ElectionCounters) {
        self.proposals_sent += other.proposals_sent;
        self.declarations_sent += other.declarations_sent;
        self.proposals_received += other.proposals_received;
        self.declarations_received += other.declarations_received;
        self.not_in_view += other.not_in_view;
        self.from_self += other.from_self;
        self.stale += other.stale;
        self.sign_failed += other.sign_failed;
        self.became_leader += other.became_leader;
        self.stopped_leading += other.stopped_leading;
        self.yields += other.yields;
        self.yields_ignored += other.yields_ignored;
    }
}
