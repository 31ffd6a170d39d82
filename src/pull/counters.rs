//! Counters of what the pull engine saw and did; bad input is counted, never fatal.

/// Monotonic counters, read with [`PullEngine::counters`](super::PullEngine::counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullCounters {
    pub rounds_started: u64,
    /// Rounds started by [`Input::PullNow`](super::Input::PullNow).
    pub on_demand_rounds: u64,
    /// `PullNow` refused: too many on-demand rounds running.
    pub on_demand_refused: u64,
    /// Unfinished scheduled rounds cut short by the next one.
    pub rounds_superseded: u64,
    pub hellos_sent: u64,
    pub hellos_received: u64,
    /// Hellos repeating a nonce still honoured for the same peer: ignored.
    pub hello_duplicate: u64,
    /// Hellos reusing a nonce honoured for another peer: ignored.
    pub hello_nonce_conflict: u64,
    /// Hellos dropped because `max_incoming_nonces` nonces are live.
    pub hello_dropped_full: u64,
    pub digests_sent: u64,
    pub digests_received: u64,
    /// Digests for a nonce we never sent (or long forgotten).
    pub digest_unknown_nonce: u64,
    /// Digests arriving after the digest wait time of their round.
    pub digest_late: u64,
    /// Digests for our nonce from a peer other than the one greeted with it.
    pub digest_wrong_peer: u64,
    /// Second digest for the same nonce.
    pub digest_duplicate: u64,
    /// Offered digests the ingress filter declined.
    pub digests_filtered_ingress: u64,
    /// Held items not offered or sent because of the egress filter.
    pub digests_filtered_egress: u64,
    /// Digests left unread because `max_digests_per_message` was reached.
    pub digests_truncated: u64,
    pub requests_sent: u64,
    pub requests_received: u64,
    /// Requests whose nonce is not (or no longer) honoured.
    pub request_unknown_nonce: u64,
    /// Requests with a live nonce given to another peer.
    pub request_wrong_peer: u64,
    /// A second request on a nonce already answered.
    pub request_duplicate: u64,
    pub updates_sent: u64,
    pub updates_received: u64,
    pub update_unknown_nonce: u64,
    /// Updates after the response wait time of their round.
    pub update_late: u64,
    pub update_wrong_peer: u64,
    /// Updates on a nonce we sent no request with, or a second update on it.
    pub update_unsolicited: u64,
    /// Updates dropped whole because an item was malformed or failed validation.
    pub updates_rejected: u64,
    /// Items that were malformed or failed validation.
    pub bad_items: u64,
    /// Items in an update that were not requested from that peer: ignored.
    pub unrequested_items: u64,
    /// Items received while already held (pushed meanwhile): ignored.
    pub items_already_held: u64,
    /// Items accepted from updates.
    pub items_received: u64,
}
