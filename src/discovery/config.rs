//! Membership timers and fan-outs, with Fabric's defaults (`core.yaml` `peer.gossip.*`).

use std::time::Duration;

use super::error::DiscoveryError;

/// Knobs of the membership protocol. `Default` gives Fabric's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// How often the own alive is signed and pushed (`aliveTimeInterval`, 5 s).
    pub alive_time_interval: Duration,
    /// Silence after which a peer is dead (`aliveExpirationTimeout`, 25 s).
    pub alive_expiration_timeout: Duration,
    /// How often silence is checked (Fabric: expiration / 10).
    pub alive_expiration_check_interval: Duration,
    /// How often dead peers are pinged (`reconnectInterval`, 25 s).
    pub reconnect_interval: Duration,
    /// A dead peer silent for expiration × factor is forgotten (`msgExpirationFactor`, 20).
    pub msg_expiration_factor: u32,
    /// Probe attempts per bootstrap or anchor peer (`maxConnectionAttempts`, 120).
    pub max_connection_attempts: u32,
    /// The own alive carries the identity during this period after start (`publishCertPeriod`, 10 s).
    pub publish_cert_period: Duration,
    /// How often a membership request goes to random alive peers (`pullInterval`, 4 s).
    pub mem_req_interval: Duration,
    /// How many alive peers get that request (`pullPeerNum`, 3).
    pub mem_req_peers: usize,
    /// Fan-out of alive pushes and forwards (`propagatePeerNum`, 3).
    pub propagate_peer_num: usize,
    /// How long a bootstrap or anchor peer has to answer a membership request (Fabric: 5 s).
    pub mem_res_timeout: Duration,
    /// How long the driver may take to report a probe before it counts as failed
    /// (dial 3 s + handshake 10 s in Fabric's comm, with margin).
    pub probe_timeout: Duration,
    /// First wait before re-probing a bootstrap or anchor peer; doubles up to
    /// `reconnect_interval`. Fabric always waits `reconnect_interval`; starting small lets
    /// peers started together find each other at once.
    pub connect_backoff_min: Duration,
    /// Most members (alive and dead) held; new ones beyond it are refused and counted.
    pub max_members: usize,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        let alive = Duration::from_secs(5);
        let expiration = alive * 5;
        DiscoveryConfig {
            alive_time_interval: alive,
            alive_expiration_timeout: expiration,
            alive_expiration_check_interval: expiration / 10,
            reconnect_interval: expiration,
            msg_expiration_factor: 20,
            max_connection_attempts: 120,
            publish_cert_period: Duration::from_secs(10),
            mem_req_interval: Duration::from_secs(4),
            mem_req_peers: 3,
            propagate_peer_num: 3,
            mem_res_timeout: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(15),
            connect_backoff_min: Duration::from_millis(500),
            max_members: 10_000,
        }
    }
}

impl DiscoveryConfig {
    /// A dead peer not heard of for this long is purged (expiration × factor, 500 s).
    pub fn purge_after(&self) -> Duration {
        self.alive_expiration_timeout
            .saturating_mul(self.msg_expiration_factor)
    }

    /// Rejects values that would make the timers spin or never fire.
    pub fn validate(&self) -> Result<(), DiscoveryError> {
        let positive = [
            ("aliveTimeInterval", self.alive_time_interval),
            ("aliveExpirationTimeout", self.alive_expiration_timeout),
            (
                "aliveExpirationCheckInterval",
                self.alive_expiration_check_interval,
            ),
            ("reconnectInterval", self.reconnect_interval),
            ("memReqInterval", self.mem_req_interval),
            ("memResTimeout", self.mem_res_timeout),
            ("probeTimeout", self.probe_timeout),
            ("connectBackoffMin", self.connect_backoff_min),
        ];
        for (name, d) in positive {
            if d.is_zero() {
                return Err(DiscoveryError::InvalidConfig(format!(
                    "{name} must be positive"
                )));
            }
        }
        if self.max_members == 0 {
            return Err(DiscoveryError::InvalidConfig(
                "maxMembers must be positive".into(),
            ));
        }
        if self.alive_expiration_timeout <= self.alive_time_interval {
            return Err(DiscoveryError::InvalidConfig(format!(
                "aliveExpirationTimeout ({:?}) must exceed aliveTimeInterval ({:?})",
                self.alive_expiration_timeout, self.alive_time_interval
            )));
        }
        if self.msg_expiration_factor == 0 {
            return Err(DiscoveryError::InvalidConfig(
                "msgExpirationFactor must be positive".into(),
            ));
        }
        if self.max_connection_attempts == 0 {
            return Err(DiscoveryError::InvalidConfig(
                "maxConnectionAttempts must be positive".into(),
            ));
        }
        Ok(())
    }
}
