//! Settings and counters of anti-entropy state transfer.

use std::time::Duration;

use crate::config::GossipConfig;

use super::config::StateProviderConfig;
use super::payload::Source;

/// How state transfer asks for missing blocks and answers others (`peer.gossip.state.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct TransferConfig {
    /// `peer.gossip.state.enabled`: request missing blocks. Serving is always on (Fabric
    /// answers state requests whatever this says).
    pub enabled: bool,
    /// `peer.gossip.state.batchSize` (default 10): blocks per request. A request spans
    /// `batch_size` blocks (`end − start = batch_size − 1`), inside Fabric's responder limit
    /// `end − start ≤ batchSize`; served requests are capped at that limit.
    pub batch_size: u64,
    /// `peer.gossip.state.responseTimeout` (default 3 s).
    pub response_timeout: Duration,
    /// `peer.gossip.state.maxRetries` (default 3): a range is asked of another peer up to
    /// this many times after its first request; then the round is given up.
    pub max_retries: u32,
    /// `peer.gossip.state.checkInterval` (default 10 s): after a round was given up, the
    /// wait before the next. Fabric also starts its rounds on this period only; here a
    /// round starts as soon as a higher height is learned.
    pub check_interval: Duration,
    /// Blocks above the ledger height that may be requested: the payload buffer's bound for
    /// state transfer, so received blocks always fit and memory stays bounded per channel.
    pub window: u64,
    /// Blocks above the height that gossip (push and pull) may still deliver: a lag within
    /// it starts a round only after `lag_grace`, a larger lag at once.
    pub gossip_window: u64,
    /// How long a small lag is left to gossip before state transfer asks for it.
    pub lag_grace: Duration,
    /// Requests in flight at once (spread over the peers that have the blocks).
    pub max_in_flight: usize,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self::from_state(&GossipConfig::default(), &StateProviderConfig::default())
    }
}

impl TransferConfig {
    /// The state keys of the peer's config, with the window of its payload buffer.
    pub fn from_gossip(g: &GossipConfig) -> Self {
        Self::from_state(g, &StateProviderConfig::from_gossip(g))
    }

    fn from_state(g: &GossipConfig, sp: &StateProviderConfig) -> Self {
        let batch_size = g.state.batch_size.max(1);
        let window = sp.window(Source::StateTransfer);
        TransferConfig {
            enabled: g.state.enabled,
            batch_size,
            response_timeout: g.state.response_timeout,
            max_retries: g.state.max_retries,
            check_interval: g.state.check_interval,
            window,
            gossip_window: sp.window(Source::Gossip),
            lag_grace: Duration::from_secs(1),
            max_in_flight: (window / batch_size).clamp(1, 64) as usize,
        }
    }
}

/// Monotonic counters of one channel's state transfer; bad input is counted, never fatal.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TransferCounters {
    /// Rounds started (the ledger fell behind a channel peer's height).
    pub rounds: u64,
    /// `RemoteStateRequest`s sent, retries included.
    pub requests_sent: u64,
    /// Ranges asked again (after a timeout, a bad or a short response).
    pub retries: u64,
    /// Requests that got no response within `responseTimeout`.
    pub timeouts: u64,
    /// Rounds given up after `maxRetries` (resumed after `checkInterval`).
    pub gave_up: u64,
    /// Ranges that found no peer with a height covering them.
    pub no_peer: u64,
    /// Responses matched to a request.
    pub responses: u64,
    /// Responses with no nonce of ours in flight, or from another peer than the one asked.
    pub unsolicited: u64,
    /// Responses without payloads.
    pub empty_responses: u64,
    /// Blocks received and taken into the payload buffer.
    pub blocks_received: u64,
    /// Received blocks that failed `VerifyBlock`: dropped, range asked of another peer.
    pub invalid_blocks: u64,
    /// Received payloads outside the range asked (or repeated): dropped.
    pub out_of_range: u64,
    /// Responses refused because the sender fails the channel's access check.
    pub refused_responses: u64,
    /// Requests answered (with whatever part of the range the ledger holds).
    pub requests_served: u64,
    /// Blocks sent in responses.
    pub blocks_served: u64,
    /// Requests refused: the requester fails the channel's access check.
    pub refused_requests: u64,
    /// Requests with `start > end`: ignored.
    pub invalid_requests: u64,
    /// Requests wider than `batchSize`: served up to the limit.
    pub capped_requests: u64,
    /// Requests dropped because too many were being served already.
    pub busy: u64,
    /// Ledger reads that failed while serving.
    pub read_errors: u64,
}
