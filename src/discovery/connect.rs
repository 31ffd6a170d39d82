//! Joining through bootstrap and anchor peers: probe who listens at an endpoint, check its
//! org, send it a membership request, retry with backoff until it answers or attempts run out.

use std::time::{Duration, Instant};

use crate::types::{OrgId, PkiId};

/// Why we try to reach an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectKind {
    /// `peer.gossip.bootstrap`: must be of our org.
    Bootstrap,
    /// An anchor peer of a channel, claimed to be of `org`.
    Anchor { org: OrgId },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Next probe at this instant.
    Waiting { at: Instant },
    /// Probe sent; counts as failed after the deadline.
    Probing { deadline: Instant },
    /// Membership request sent with `nonce`; retried after the deadline.
    AwaitingMemRes { nonce: u64, deadline: Instant },
    /// The peer answered.
    Done,
    /// Out of attempts.
    GaveUp,
}

#[derive(Debug, Clone)]
pub(crate) struct ConnectAttempt {
    pub endpoint: String,
    pub kind: ConnectKind,
    pub phase: Phase,
    /// Probes sent so far.
    pub attempts: u32,
    backoff: Duration,
    /// Learned from the probe; used to exempt the peer from purge.
    pub pki_id: Option<PkiId>,
}

impl ConnectAttempt {
    pub fn new(endpoint: String, kind: ConnectKind, now: Instant, backoff_min: Duration) -> Self {
        ConnectAttempt {
            endpoint,
            kind,
            phase: Phase::Waiting { at: now },
            attempts: 0,
            backoff: backoff_min,
            pki_id: None,
        }
    }

    /// Schedules the next probe after a failure, doubling the wait up to `max_backoff`.
    /// Returns false when no attempt is left.
    pub fn fail(&mut self, now: Instant, max_attempts: u32, max_backoff: Duration) -> bool {
        if self.attempts >= max_attempts {
            self.phase = Phase::GaveUp;
            return false;
        }
        self.phase = Phase::Waiting {
            at: now + self.backoff,
        };
        self.backoff = (self.backoff * 2).min(max_backoff);
        true
    }

    /// When this attempt next needs attention.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { at } => Some(at),
            Phase::Probing { deadline } | Phase::AwaitingMemRes { deadline, .. } => Some(deadline),
            Phase::Done | Phase::GaveUp => None,
        }
    }
}

/// Is `endpoint` one of ours? Fabric compares with both own endpoints and with
/// 127.0.0.1/localhost at the own port.
pub(crate) fn is_own_endpoint(
    endpoint: &str,
    external: &str,
    internal: &str,
    port: Option<u16>,
) -> bool {
    if endpoint.is_empty() {
        return false;
    }
    if endpoint == external || endpoint == internal {
        return true;
    }
    match port {
        Some(p) => endpoint == format!("127.0.0.1:{p}") || endpoint == format!("localhost:{p}"),
        None => false,
    }
}

/// The port of a `host:port` endpoint.
pub(crate) fn port_of(endpoint: &str) -> Option<u16> {
    endpoint.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_then_gives_up() {
        let t0 = Instant::now();
        let mut a = ConnectAttempt::new(
            "h:1".into(),
            ConnectKind::Bootstrap,
            t0,
            Duration::from_secs(1),
        );
        let mut waits = Vec::new();
        for _ in 0..3 {
            a.attempts += 1;
            assert!(a.fail(t0, 4, Duration::from_secs(3)));
            match a.phase {
                Phase::Waiting { at } => waits.push(at - t0),
                ref p => panic!("unexpected phase {p:?}"),
            }
        }
        assert_eq!(waits, [1, 2, 3].map(Duration::from_secs));
        a.attempts += 1;
        assert!(!a.fail(t0, 4, Duration::from_secs(3)));
        assert_eq!(a.phase, Phase::GaveUp);
        assert_eq!(a.deadline(), None);
    }

    #[test]
    fn own_endpoints_are_recognised() {
        assert!(is_own_endpoint(
            "127.0.0.1:7051",
            "",
            "peer0:7051",
            Some(7051)
        ));
        assert!(is_own_endpoint(
            "localhost:7051",
            "",
            "peer0:7051",
            Some(7051)
        ));
        assert!(is_own_endpoint("peer0:7051", "", "peer0:7051", Some(7051)));
        assert!(is_own_endpoint("ext:1", "ext:1", "peer0:7051", Some(7051)));
        assert!(!is_own_endpoint(
            "127.0.0.1:7052",
            "",
            "peer0:7051",
            Some(7051)
        ));
        assert!(!is_own_endpoint("", "", "", None));
        assert_eq!(port_of("h:7051"), Some(7051));
        assert_eq!(port_of("[::1]:80"), Some(80));
        assert_eq!(port_of("nohost"), None);
    }
}
