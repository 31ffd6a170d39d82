//! What comm last saw of each remote peer: per endpoint and per PKI-ID, the outcome of the
//! last dial or handshake, when, and why it failed. Read by `fg_explain_peer`; also decides
//! which failures deserve a log line, so a peer failing the same way every reconnect interval
//! logs once, then again only when the reason changes or after a quiet period.
//!
//! Bounded: each map keeps at most [`HISTORY_CAP`] entries; a full map forgets its oldest.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::sync::MutexExt;
use crate::types::PkiId;

/// Entries kept per map (endpoints, PKI-IDs).
pub const HISTORY_CAP: usize = 1024;
/// A failure repeating with the same reason is logged again after this much silence.
pub const LOG_QUIET_PERIOD: Duration = Duration::from_secs(300);

/// Which side opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactDirection {
    Outbound,
    Inbound,
}

/// The outcome of one dial or handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ContactOutcome {
    /// The handshake succeeded (a probe or a registered stream).
    Handshaken,
    /// TCP connect, Ping or the transport failed before any handshake.
    DialFailed { error: String },
    /// The TLS handshake or the ConnEstablish exchange failed. `reason` is a
    /// [`HandshakeFailure`](super::HandshakeFailure) name, or `tls`.
    HandshakeFailed { reason: String, detail: String },
}

impl ContactOutcome {
    /// Short stable code: `handshaken`, `dial_failed`, `handshake_failed:<reason>`.
    pub fn code(&self) -> String {
        match self {
            ContactOutcome::Handshaken => "handshaken".into(),
            ContactOutcome::DialFailed { .. } => "dial_failed".into(),
            ContactOutcome::HandshakeFailed { reason, .. } => format!("handshake_failed:{reason}"),
        }
    }
}

/// The last contact with one remote peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The endpoint dialed, or the remote socket address of an inbound stream.
    pub endpoint: String,
    /// Known after a successful handshake, or when dialing a known PKI-ID.
    pub pki_id: Option<PkiId>,
    /// The org of the remote identity, when the handshake got that far.
    pub org: Option<String>,
    pub direction: ContactDirection,
    pub outcome: ContactOutcome,
    /// When the last contact happened.
    pub at: SystemTime,
    /// When the current streak of this outcome code began.
    pub since: SystemTime,
    /// Contacts with this outcome code in a row.
    pub repeats: u64,
    /// When the remote identity expires, when the MSP says it does.
    pub identity_expires_at: Option<SystemTime>,
    /// The failure code last logged at info/warn level, and when.
    logged: Option<(String, SystemTime)>,
}

/// Whether a recorded failure deserves a log line at its normal level. Successes are never
/// rate-limited here (their callers log state changes), and do not reset the limit: a peer
/// that connects and is refused at every reconnect logs its refusal once per quiet period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A failure logged for the first time, with another reason than the last one logged, or
    /// after the quiet period: log it.
    Log,
    /// The failure last logged, again within the quiet period (or a success): debug level.
    Repeat,
}

/// One contact to record.
#[derive(Debug, Clone)]
pub struct Contact {
    pub endpoint: String,
    pub pki_id: Option<PkiId>,
    pub org: Option<String>,
    pub direction: ContactDirection,
    pub outcome: ContactOutcome,
    pub identity_expires_at: Option<SystemTime>,
}

#[derive(Default)]
struct Maps {
    by_endpoint: HashMap<String, ContactRecord>,
    by_pki: HashMap<PkiId, ContactRecord>,
    /// Inbound failures before the remote's PKI-ID was known, by remote IP: only for
    /// rate-limiting their log lines.
    inbound_failures: HashMap<String, ContactRecord>,
}

/// Last contact per endpoint and per PKI-ID, bounded.
#[derive(Default)]
pub struct PeerHistory {
    maps: Mutex<Maps>,
}

impl PeerHistory {
    /// Records `c` at `now`; says whether it should be logged. Inbound contacts are kept only
    /// by PKI-ID: their endpoint is an ephemeral socket address nobody queries.
    pub fn record(&self, c: Contact, now: SystemTime) -> Notice {
        let mut maps = self.maps.locked();
        let mut notice = None;
        if c.direction == ContactDirection::Outbound && !c.endpoint.is_empty() {
            let key = c.endpoint.clone();
            notice = Some(upsert(&mut maps.by_endpoint, key, &c, now));
        }
        match c.pki_id.clone().filter(|p| !p.is_empty()) {
            Some(pki) => {
                let n = upsert(&mut maps.by_pki, pki, &c, now);
                notice.get_or_insert(n);
            }
            None if c.direction == ContactDirection::Inbound => {
                let ip = match c.endpoint.rsplit_once(':') {
                    Some((host, _)) => host.to_string(),
                    None => c.endpoint.clone(),
                };
                notice = Some(upsert(&mut maps.inbound_failures, ip, &c, now));
            }
            None => {}
        }
        notice.unwrap_or(Notice::Log)
    }

    pub fn by_endpoint(&self, endpoint: &str) -> Option<ContactRecord> {
        let maps = self.maps.locked();
        maps.by_endpoint.get(endpoint).cloned()
    }

    pub fn by_pki_id(&self, pki_id: &PkiId) -> Option<ContactRecord> {
        let maps = self.maps.locked();
        maps.by_pki.get(pki_id).cloned()
    }

    /// The most recent outbound contact whose handshake reached `pki_id`, by endpoint.
    pub fn endpoint_of(&self, pki_id: &PkiId) -> Option<ContactRecord> {
        let maps = self.maps.locked();
        maps.by_endpoint
            .values()
            .filter(|r| r.pki_id.as_ref() == Some(pki_id))
            .max_by_key(|r| r.at)
            .cloned()
    }

    /// Every record by PKI-ID (for per-peer metrics).
    pub fn peers(&self) -> Vec<ContactRecord> {
        let maps = self.maps.locked();
        maps.by_pki.values().cloned().collect()
    }

    /// Every record by endpoint.
    pub fn endpoints(&self) -> Vec<ContactRecord> {
        let maps = self.maps.locked();
        maps.by_endpoint.values().cloned().collect()
    }
}

fn upsert<K: Eq + Hash + Clone>(
    map: &mut HashMap<K, ContactRecord>,
    key: K,
    c: &Contact,
    now: SystemTime,
) -> Notice {
    if !map.contains_key(&key) && map.len() >= HISTORY_CAP {
        // Forget the oldest contact; O(n) only when full, and n is bounded.
        if let Some(oldest) = map.iter().min_by_key(|(_, r)| r.at).map(|(k, _)| k.clone()) {
            map.remove(&oldest);
        }
    }
    let code = c.outcome.code();
    let failure = c.outcome != ContactOutcome::Handshaken;
    let r = map.entry(key).or_insert_with(|| ContactRecord {
        endpoint: c.endpoint.clone(),
        pki_id: None,
        org: None,
        direction: c.direction,
        outcome: c.outcome.clone(),
        at: now,
        since: now,
        repeats: 0,
        identity_expires_at: None,
        logged: None,
    });
    if r.repeats > 0 && r.outcome.code() == code {
        r.repeats += 1;
    } else {
        r.repeats = 1;
        r.since = now;
    }
    r.endpoint = c.endpoint.clone();
    if c.pki_id.is_some() {
        r.pki_id = c.pki_id.clone();
    }
    if c.org.is_some() {
        r.org = c.org.clone();
    }
    if c.identity_expires_at.is_some() {
        r.identity_expires_at = c.identity_expires_at;
    }
    r.direction = c.direction;
    r.outcome = c.outcome.clone();
    r.at = now;
    if !failure {
        return Notice::Repeat;
    }
    let log = match &r.logged {
        None => true,
        Some((last, at)) => {
            *last != code || now.duration_since(*at).unwrap_or_default() >= LOG_QUIET_PERIOD
        }
    };
    if log {
        r.logged = Some((code, now));
        Notice::Log
    } else {
        Notice::Repeat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(endpoint: &str, error: &str) -> Contact {
        Contact {
            endpoint: endpoint.into(),
            pki_id: None,
            org: None,
            direction: ContactDirection::Outbound,
            outcome: ContactOutcome::DialFailed {
                error: error.into(),
            },
            identity_expires_at: None,
        }
    }

    #[test]
    fn repeats_are_quiet_until_the_reason_changes_or_time_passes() {
        let h = PeerHistory::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(h.record(failed("p:1", "refused"), t0), Notice::Log);
        let t1 = t0 + Duration::from_secs(25);
        // Same code, other text: still the same reason.
        assert_eq!(h.record(failed("p:1", "refused again"), t1), Notice::Repeat);
        let r = h.by_endpoint("p:1").unwrap();
        assert_eq!((r.repeats, r.since, r.at), (2, t0, t1));
        // A new reason is logged at once and starts a new streak.
        let hs = Contact {
            outcome: ContactOutcome::HandshakeFailed {
                reason: "tls".into(),
                detail: "x".into(),
            },
            ..failed("p:1", "")
        };
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(h.record(hs.clone(), t2), Notice::Log);
        assert_eq!(h.by_endpoint("p:1").unwrap().since, t2);
        assert_eq!(
            h.record(hs.clone(), t2 + Duration::from_secs(1)),
            Notice::Repeat
        );
        // After the quiet period the same reason is logged again.
        assert_eq!(h.record(hs.clone(), t2 + LOG_QUIET_PERIOD), Notice::Log);
        // Success and refusal alternating (a peer refused at every reconnect) stay quiet.
        let ok = Contact {
            outcome: ContactOutcome::Handshaken,
            ..failed("p:1", "")
        };
        let t3 = t2 + LOG_QUIET_PERIOD + Duration::from_secs(1);
        for i in 0..5 {
            let t = t3 + Duration::from_secs(2 * i);
            assert_eq!(h.record(ok.clone(), t), Notice::Repeat);
            assert_eq!(
                h.record(hs.clone(), t + Duration::from_secs(1)),
                Notice::Repeat
            );
        }
        assert_eq!(h.by_endpoint("p:1").unwrap().repeats, 1);
    }

    #[test]
    fn keyed_by_endpoint_and_pki_id_and_bounded() {
        let h = PeerHistory::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(5);
        let pki = PkiId(vec![7; 32]);
        h.record(
            Contact {
                pki_id: Some(pki.clone()),
                org: Some("Org2MSP".into()),
                outcome: ContactOutcome::Handshaken,
                ..failed("peer1:7051", "")
            },
            t0,
        );
        assert_eq!(h.by_pki_id(&pki).unwrap().endpoint, "peer1:7051");
        assert_eq!(h.endpoint_of(&pki).unwrap().org.as_deref(), Some("Org2MSP"));
        // Inbound contacts are not keyed by their ephemeral address.
        h.record(
            Contact {
                direction: ContactDirection::Inbound,
                pki_id: Some(PkiId(vec![8; 32])),
                outcome: ContactOutcome::Handshaken,
                ..failed("127.0.0.1:55555", "")
            },
            t0,
        );
        assert!(h.by_endpoint("127.0.0.1:55555").is_none());
        assert!(h.by_pki_id(&PkiId(vec![8; 32])).is_some());
        for i in 0..HISTORY_CAP + 10 {
            h.record(
                failed(&format!("h{i}:1"), "e"),
                t0 + Duration::from_secs(i as u64 + 1),
            );
        }
        assert_eq!(h.endpoints().len(), HISTORY_CAP);
        // The oldest went first.
        assert!(h.by_endpoint("peer1:7051").is_none());
        assert!(h.by_endpoint(&format!("h{}:1", HISTORY_CAP + 9)).is_some());
    }
}
