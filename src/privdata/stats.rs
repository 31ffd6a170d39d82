//! What one channel's private data reports to metrics.

use super::responder::Answered;
use super::transient_store::TransientStoreStats;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivDataStats {
    /// Pushes received, by outcome label ([`super::Outcome::LABELS`]).
    pub received: Vec<(&'static str, u64)>,
    /// Requests' digests, by how they were answered.
    pub requests: Answered,
    /// Digests of requests from peers outside the channel, dropped unanswered.
    pub requests_unauthorized: u64,
    /// Responses to private data requests that no fetch waited for.
    pub responses_dropped: u64,
    pub transient: TransientStoreStats,
    /// Why the channel's transient store could not be opened, if it could not.
    pub store_unavailable: Option<String>,
}
