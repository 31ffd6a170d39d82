//! Channel timers and fan-outs, with Fabric's defaults (`core.yaml` `peer.gossip.*`).

use std::time::Duration;

use super::error::ChannelError;
use crate::config::GossipConfig;

/// Knobs of the per-channel StateInfo protocol. `Default` gives Fabric's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// How often a changed own StateInfo is pushed (`publishStateInfoInterval`, 4 s).
    pub publish_state_info_interval: Duration,
    /// How often StateInfo snapshots are pulled (`requestStateInfoInterval`, 4 s).
    pub request_state_info_interval: Duration,
    /// Entries of peers that left membership are swept every `pullInterval` × 5 (20 s).
    pub pull_interval: Duration,
    /// Peers asked for a snapshot each round (`pullPeerNum`, 3).
    pub pull_peer_num: usize,
    /// Fan-out of StateInfo pushes and forwards (`propagatePeerNum`, 3).
    pub propagate_peer_num: usize,
    /// How long a StateInfo of a channel we have not joined is kept (Fabric's node-level
    /// store: `publishStateInfoInterval` × 100).
    pub unjoined_ttl: Duration,
    /// At most this many StateInfo of channels we have not joined are held, so a flood of
    /// them cannot grow memory without bound.
    pub unjoined_max: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        let publish = Duration::from_secs(4);
        ChannelConfig {
            publish_state_info_interval: publish,
            request_state_info_interval: Duration::from_secs(4),
            pull_interval: Duration::from_secs(4),
            pull_peer_num: 3,
            propagate_peer_num: 3,
            unjoined_ttl: publish * 100,
            unjoined_max: 4096,
        }
    }
}

impl ChannelConfig {
    /// The channel keys of a parsed `peer.gossip` section.
    pub fn from_gossip(g: &GossipConfig) -> Self {
        ChannelConfig {
            publish_state_info_interval: g.publish_state_info_interval,
            request_state_info_interval: g.request_state_info_interval,
            pull_interval: g.pull_interval,
            pull_peer_num: g.pull_peer_num as usize,
            propagate_peer_num: g.propagate_peer_num as usize,
            unjoined_ttl: g.publish_state_info_interval.saturating_mul(100),
            ..ChannelConfig::default()
        }
    }

    /// How often entries of peers gone from membership are swept.
    pub fn sweep_interval(&self) -> Duration {
        self.pull_interval.saturating_mul(5)
    }

    /// Rejects values that would make the timers spin.
    pub fn validate(&self) -> Result<(), ChannelError> {
        let positive = [
            ("publishStateInfoInterval", self.publish_state_info_interval),
            ("requestStateInfoInterval", self.request_state_info_interval),
            ("pullInterval", self.pull_interval),
            ("unjoinedTtl", self.unjoined_ttl),
        ];
        for (name, d) in positive {
            if d.is_zero() {
                return Err(ChannelError::InvalidConfig(format!(
                    "{name} must be positive"
                )));
            }
        }
        Ok(())
    }
}
