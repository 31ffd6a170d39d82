//! Counters of what the channel registry saw and did; bad input is counted, never fatal.

/// Monotonic counters over every channel, read with
/// [`Channels::counters`](super::Channels::counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelCounters {
    pub joined: u64,
    /// Join messages with a newer (or equal) sequence applied to a joined channel.
    pub reconfigured: u64,
    /// Join messages with an older sequence: ignored.
    pub join_stale: u64,
    /// Join messages refused (empty name or members, own org missing).
    pub join_invalid: u64,
    /// Anchor peers without a host or port: skipped.
    pub anchor_invalid: u64,
    pub left: u64,
    /// Own StateInfo messages signed.
    pub state_info_signed: u64,
    /// Signing the own StateInfo failed; the previous one stays current.
    pub sign_failed: u64,
    /// Own StateInfo pushes (one per target).
    pub state_info_published: u64,
    /// StateInfo messages received by push, and snapshot elements.
    pub state_info_received: u64,
    /// StateInfo (pushed or in snapshots) stored as new or newer.
    pub state_info_accepted: u64,
    /// StateInfo no newer than the one held (duplicates included).
    pub state_info_stale: u64,
    /// StateInfo whose MAC names no channel we joined (and not from our org).
    pub state_info_unknown_channel: u64,
    /// StateInfo whose MAC does not match its PKI-ID and the channel.
    pub state_info_bad_mac: u64,
    /// StateInfo whose originator's org is unknown.
    pub state_info_unknown_org: u64,
    /// StateInfo whose originator's org is not in the channel.
    pub state_info_org_not_in_channel: u64,
    /// StateInfo failing signature (or channel policy) checks.
    pub state_info_bad_signature: u64,
    /// StateInfo without PKI-ID, timestamp, or undecodable, or with a wrong tag.
    pub state_info_malformed: u64,
    /// StateInfo carrying our own PKI-ID from someone else: ignored, ours is authoritative.
    pub state_info_about_self: u64,
    /// StateInfo of channels we have not joined, from our org, stored at node level.
    pub state_info_unjoined_stored: u64,
    /// Such StateInfo refused because the node-level store is full.
    pub state_info_unjoined_full: u64,
    /// StateInfo forwards (one per target).
    pub state_info_forwarded: u64,
    /// Channel messages from a sender whose org is not in the channel: dropped.
    pub sender_not_in_channel: u64,
    /// Channel messages for a channel we left: dropped.
    pub after_leave: u64,
    /// Messages handed to the registry that are not StateInfo, pull requests or snapshots.
    pub not_channel_state: u64,
    pub pull_req_sent: u64,
    pub pull_req_received: u64,
    /// Pull requests whose MAC names no channel we joined.
    pub pull_req_unknown_channel: u64,
    pub snapshot_sent: u64,
    pub snapshot_received: u64,
    /// Snapshots for a channel we have not joined.
    pub snapshot_unknown_channel: u64,
    /// Snapshot elements of peers not in membership: skipped.
    pub snapshot_not_member: u64,
    /// Stored entries dropped on reconfiguration (org left the channel).
    pub revalidation_dropped: u64,
    /// Stored entries dropped because their peer left membership.
    pub swept: u64,
}
