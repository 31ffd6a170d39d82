//! Counters of what the push emitter did; bad input is counted, never fatal.

/// Monotonic counters, read with [`PushEmitter::counters`](super::PushEmitter::counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushCounters {
    /// Messages queued.
    pub queued: u64,
    /// Messages refused because `propagateIterations` is 0 (push disabled).
    pub disabled: u64,
    /// Oldest messages dropped because the queue was full.
    pub overflow_dropped: u64,
    /// Flushes because `maxPropagationBurstSize` messages were queued.
    pub flush_by_size: u64,
    /// Flushes because `maxPropagationBurstLatency` passed.
    pub flush_by_latency: u64,
    /// Flushes of a message that found the emitter idle (sent at once).
    pub flush_leading: u64,
    /// Message sends, one per target.
    pub sent: u64,
    /// Sends whose envelope lost its secret (alives to other orgs).
    pub secret_stripped: u64,
    /// Routed messages that found no eligible target this flush.
    pub no_targets: u64,
    /// Blocks or leadership messages of channels this peer is not in.
    pub not_in_channel: u64,
    /// Messages of a kind push does not route, or malformed ones.
    pub unroutable: u64,
}
