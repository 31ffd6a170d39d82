//! Timers and sizes of one pull engine (one channel's blocks, or identities).

use std::time::Duration;

use crate::config::GossipConfig;
use crate::proto::gossip::PullMsgType;

/// Why a pull configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullConfigError {
    #[error("pull message type must be BLOCK_MSG or IDENTITY_MSG")]
    UndefinedMsgType,
    #[error("{0} must be positive")]
    Zero(&'static str),
    #[error("block pull needs a channel")]
    NoChannel,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullConfig {
    /// The channel carried in pull messages; empty for identity pull.
    pub channel: Vec<u8>,
    pub msg_type: PullMsgType,
    /// `peer.gossip.pullInterval`: time between scheduled rounds.
    pub pull_interval: Duration,
    /// `peer.gossip.pullPeerNum`: peers greeted per round.
    pub pull_peer_num: usize,
    /// `peer.gossip.digestWaitTime`: how long digests are collected after the hellos.
    pub digest_wait_time: Duration,
    /// `peer.gossip.requestWaitTime`: how long a responder honours a hello's nonce.
    pub request_wait_time: Duration,
    /// `peer.gossip.responseWaitTime`: how long updates are accepted after the requests.
    pub response_wait_time: Duration,
    /// Bound on the nonces of hellos being honoured at once; more hellos are dropped.
    pub max_incoming_nonces: usize,
    /// Bound on the missing digests taken from one `DataDigest` and on the items sent for
    /// one `DataRequest`; the rest wait for a later round (a block store holds about
    /// `maxBlockCountToStore` blocks, so real lists are short).
    pub max_digests_per_message: usize,
    /// Bound on on-demand rounds ([`Input::PullNow`](super::Input::PullNow)) running at once.
    pub max_on_demand_rounds: usize,
}

impl PullConfig {
    fn from_gossip(channel: Vec<u8>, msg_type: PullMsgType, g: &GossipConfig) -> Self {
        PullConfig {
            channel,
            msg_type,
            pull_interval: g.pull_interval,
            pull_peer_num: g.pull_peer_num as usize,
            digest_wait_time: g.digest_wait_time,
            request_wait_time: g.request_wait_time,
            response_wait_time: g.response_wait_time,
            max_incoming_nonces: 4096,
            max_digests_per_message: 4096,
            max_on_demand_rounds: 2,
        }
    }

    /// Block pull for `channel`, with the `peer.gossip` timers.
    pub fn blocks(channel: &[u8], g: &GossipConfig) -> Self {
        Self::from_gossip(channel.to_vec(), PullMsgType::BlockMsg, g)
    }

    /// Identity pull (channel empty), with the `peer.gossip` timers.
    pub fn identities(g: &GossipConfig) -> Self {
        Self::from_gossip(Vec::new(), PullMsgType::IdentityMsg, g)
    }

    pub fn validate(&self) -> Result<(), PullConfigError> {
        match self.msg_type {
            PullMsgType::Undefined => return Err(PullConfigError::UndefinedMsgType),
            PullMsgType::BlockMsg if self.channel.is_empty() => {
                return Err(PullConfigError::NoChannel)
            }
            _ => {}
        }
        let durations = [
            ("pullInterval", self.pull_interval),
            ("digestWaitTime", self.digest_wait_time),
            ("requestWaitTime", self.request_wait_time),
            ("responseWaitTime", self.response_wait_time),
        ];
        for (name, d) in durations {
            if d.is_zero() {
                return Err(PullConfigError::Zero(name));
            }
        }
        if self.max_digests_per_message == 0 {
            return Err(PullConfigError::Zero("max_digests_per_message"));
        }
        if self.max_incoming_nonces == 0 {
            return Err(PullConfigError::Zero("max_incoming_nonces"));
        }
        Ok(())
    }
}
