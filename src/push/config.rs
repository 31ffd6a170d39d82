//! Push knobs, with Fabric's defaults (`core.yaml` `peer.gossip.*`).

use std::time::Duration;

use super::error::PushError;
use super::policy::PushPolicy;
use crate::config::GossipConfig;

/// Knobs of the push emitter. `Default` gives Fabric's values and the adaptive policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// Queued messages are flushed at most this long after the first of them was queued
    /// (`maxPropagationBurstLatency`, 10 ms).
    pub max_propagation_burst_latency: Duration,
    /// Flush as soon as this many messages are queued (`maxPropagationBurstSize`, 10).
    pub max_propagation_burst_size: usize,
    /// How many flushes each message takes part in (`propagateIterations`, 1; 0 disables push).
    pub propagate_iterations: u32,
    /// Fan-out of StateInfo, alive and org messages, and of blocks under
    /// [`PushPolicy::Fabric`] (`propagatePeerNum`, 3).
    pub propagate_peer_num: usize,
    pub policy: PushPolicy,
    /// Most messages queued; adding beyond drops the oldest (Fabric's queue is unbounded).
    pub max_queue: usize,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            max_propagation_burst_latency: Duration::from_millis(10),
            max_propagation_burst_size: 10,
            propagate_iterations: 1,
            propagate_peer_num: 3,
            policy: PushPolicy::Adaptive,
            max_queue: 1000,
        }
    }
}

impl PushConfig {
    /// The push keys of a parsed `peer.gossip` section.
    pub fn from_gossip(g: &GossipConfig, policy: PushPolicy) -> Self {
        PushConfig {
            max_propagation_burst_latency: g.max_propagation_burst_latency,
            max_propagation_burst_size: g.max_propagation_burst_size as usize,
            propagate_iterations: g.propagate_iterations,
            propagate_peer_num: g.propagate_peer_num as usize,
            policy,
            ..PushConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), PushError> {
        let bad = |m: &str| Err(PushError::InvalidConfig(m.to_string()));
        if self.max_propagation_burst_latency.is_zero() {
            return bad("maxPropagationBurstLatency must be positive");
        }
        if self.max_propagation_burst_size == 0 {
            return bad("maxPropagationBurstSize must be at least 1");
        }
        if self.max_queue < self.max_propagation_burst_size {
            return bad("the push queue bound must hold at least maxPropagationBurstSize messages");
        }
        Ok(())
    }
}
