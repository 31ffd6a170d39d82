//! Counters of what discovery saw and did; bad input is counted, never fatal.

/// Monotonic counters, read with [`Discovery::counters`](super::Discovery::counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryCounters {
    /// Alive messages received (pushed, in requests and in responses).
    pub alive_received: u64,
    /// Alives about unknown peers.
    pub alive_new: u64,
    /// Newer alives about alive peers.
    pub alive_updated: u64,
    /// Alives with the timestamp already held (ignored, not forwarded).
    pub alive_duplicate: u64,
    /// Alives older than the one held (ignored, not forwarded).
    pub alive_stale: u64,
    /// New members refused because membership held `max_members` already.
    pub members_full: u64,
    /// Alives carrying our own PKI-ID.
    pub alive_about_self: u64,
    /// Alives with our PKI-ID but other endpoints: two peers share an identity.
    pub self_conflict: u64,
    /// Dead peers heard of again.
    pub resurrected: u64,
    /// Peers turned dead (silence or comm failure).
    pub expired: u64,
    /// Peers forgotten.
    pub purged: u64,
    /// Alives forwarded or pushed (one per target).
    pub alive_sent: u64,
    pub mem_req_received: u64,
    /// Membership requests whose alive PKI-ID differs from the connection's: dropped.
    pub mem_req_spoofed: u64,
    /// Membership requests from peers our alive may not be disclosed to: connection closed.
    pub mem_req_not_disclosable: u64,
    pub mem_req_sent: u64,
    pub mem_res_received: u64,
    pub mem_res_sent: u64,
    /// Dead entries learned from membership responses.
    pub dead_learned: u64,
    /// Signing the own alive failed; the message was not sent.
    pub sign_failed: u64,
    pub probe_sent: u64,
    pub probe_failed: u64,
    /// Bootstrap peers that turned out to be of another org (or anchors falsely claimed to
    /// be of ours).
    pub probe_wrong_org: u64,
    /// Bootstrap or anchor peers given up on after `maxConnectionAttempts`.
    pub connect_gave_up: u64,
    /// Bootstrap or anchor endpoints skipped because they are our own.
    pub connect_to_self: u64,
    /// Foreign anchors skipped because we have no external endpoint.
    pub anchor_skipped: u64,
    /// Probe results and pings nobody asked for.
    pub unexpected_result: u64,
    pub ping_sent: u64,
}
