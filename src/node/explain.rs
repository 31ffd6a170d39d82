//! Why a peer is or is not in this peer's view (`fg_explain_peer`): Fabric's most common
//! complaint is a peer missing from membership because of endpoints, anchor peers or TLS,
//! with only downstream symptoms to go by.
//!
//! [`PeerTracker`] keeps what membership knows in a form queries can read without the owner
//! task: every member with its liveness and when it last changed, recently purged members
//! (bounded), and the discovery counters. The owner task feeds it on every up/dead/purge and
//! view refresh. [`explain`] combines it with comm's last contact per endpoint and PKI-ID
//! ([`PeerHistory`]) into one reason code.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::comm::peer_history::PeerHistory;
use crate::comm::{ContactDirection, ContactOutcome, ContactRecord};
use crate::discovery::{DiscoveryCounters, Liveness, MemberView};
use crate::sync::MutexExt;
use crate::types::PkiId;

/// Purged members remembered for explanations; beyond, the oldest are forgotten.
pub const PURGED_CAP: usize = 1024;

/// One member as membership last published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFacts {
    pub pki_id: PkiId,
    pub org: String,
    pub endpoint: String,
    pub internal_endpoint: String,
    pub alive: bool,
    /// When its last new alive message arrived.
    pub last_alive: SystemTime,
    /// When it last turned alive (since this peer started), if seen.
    pub alive_since: Option<SystemTime>,
    /// When it last turned dead, while dead.
    pub dead_since: Option<SystemTime>,
}

/// A member membership forgot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedFacts {
    pub member: MemberFacts,
    pub purged_at: SystemTime,
}

#[derive(Debug, Default)]
struct TrackerState {
    members: BTreeMap<PkiId, MemberFacts>,
    /// Up/dead transitions seen, kept per PKI-ID until the member is purged.
    alive_since: HashMap<PkiId, SystemTime>,
    dead_since: HashMap<PkiId, SystemTime>,
    purged: HashMap<PkiId, PurgedFacts>,
    discovery: DiscoveryCounters,
}

/// Membership facts shared between the owner task (writer) and queries (readers).
#[derive(Debug, Default)]
pub struct PeerTracker {
    state: Mutex<TrackerState>,
}

impl PeerTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        self.state.locked()
    }

    pub fn peer_up(&self, pki_id: &PkiId, now: SystemTime) {
        let mut s = self.lock();
        s.alive_since.insert(pki_id.clone(), now);
        s.dead_since.remove(pki_id);
        s.purged.remove(pki_id);
    }

    pub fn peer_dead(&self, pki_id: &PkiId, now: SystemTime) {
        let mut s = self.lock();
        s.dead_since.insert(pki_id.clone(), now);
        if let Some(m) = s.members.get_mut(pki_id) {
            m.alive = false;
            m.dead_since = Some(now);
        }
    }

    pub fn peer_purged(&self, pki_id: &PkiId, now: SystemTime) {
        let mut s = self.lock();
        let dead_since = s.dead_since.remove(pki_id);
        let alive_since = s.alive_since.remove(pki_id);
        let Some(mut member) = s.members.remove(pki_id) else {
            return;
        };
        member.alive = false;
        member.dead_since = member.dead_since.or(dead_since);
        member.alive_since = member.alive_since.or(alive_since);
        if s.purged.len() >= PURGED_CAP {
            let oldest = s
                .purged
                .iter()
                .min_by_key(|(_, p)| p.purged_at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                s.purged.remove(&k);
            }
        }
        s.purged.insert(
            pki_id.clone(),
            PurgedFacts {
                member,
                purged_at: now,
            },
        );
    }

    /// Replaces the members with membership's current ones. `now`/`wall` convert the
    /// monotonic `last_seen` instants to wall-clock time.
    pub fn refresh(
        &self,
        members: &[MemberView],
        counters: DiscoveryCounters,
        now: Instant,
        wall: SystemTime,
    ) {
        let mut s = self.lock();
        let mut fresh = BTreeMap::new();
        for m in members {
            let ago = now.saturating_duration_since(m.last_seen);
            let alive = m.liveness == Liveness::Alive;
            fresh.insert(
                m.pki_id.clone(),
                MemberFacts {
                    pki_id: m.pki_id.clone(),
                    org: m.org.clone(),
                    endpoint: m.endpoint.clone(),
                    internal_endpoint: m.internal_endpoint.clone(),
                    alive,
                    last_alive: wall.checked_sub(ago).unwrap_or(UNIX_EPOCH),
                    alive_since: s.alive_since.get(&m.pki_id).copied(),
                    dead_since: if alive {
                        None
                    } else {
                        s.dead_since.get(&m.pki_id).copied()
                    },
                },
            );
        }
        s.members = fresh;
        s.discovery = counters;
    }

    pub fn members(&self) -> Vec<MemberFacts> {
        self.lock().members.values().cloned().collect()
    }

    pub fn member(&self, pki_id: &PkiId) -> Option<MemberFacts> {
        self.lock().members.get(pki_id).cloned()
    }

    pub fn purged(&self, pki_id: &PkiId) -> Option<PurgedFacts> {
        self.lock().purged.get(pki_id).cloned()
    }

    /// The discovery counters as of the last refresh.
    pub fn discovery_counters(&self) -> DiscoveryCounters {
        self.lock().discovery.clone()
    }

    fn find_by_endpoint(&self, endpoint: &str) -> Option<PkiId> {
        let s = self.lock();
        let matches = |m: &MemberFacts| m.endpoint == endpoint || m.internal_endpoint == endpoint;
        s.members
            .values()
            .find(|m| matches(m))
            .or_else(|| {
                s.purged
                    .values()
                    .filter(|p| matches(&p.member))
                    .max_by_key(|p| p.purged_at)
                    .map(|p| &p.member)
            })
            .map(|m| m.pki_id.clone())
    }
}

/// What this peer is: the part of the answer that explains other orgs' view of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelfFacts {
    pub org: String,
    /// Empty when this peer announces no external endpoint.
    pub external_endpoint: String,
}

/// Why a peer is or is not in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// In the view and alive.
    Alive,
    /// An endpoint this peer never dialed and never heard of.
    NeverDialed,
    /// The last dial failed before any handshake (connection refused, timeout, Ping).
    DialFailed,
    /// The last dial reached the peer but the TLS or ConnEstablish handshake failed.
    HandshakeFailed,
    /// Handshake succeeded with a peer of another org that never announced itself to this
    /// org: it publishes no external endpoint (or this peer publishes none).
    OtherOrgNoExternalEndpoint,
    /// The peer's identity has expired.
    IdentityExpired,
    /// In the view, but silent for longer than `aliveExpirationTimeout`, or unreachable.
    Dead,
    /// Was a member, forgotten after staying dead too long.
    Purged,
    /// Handshake succeeded with a peer of this org that has not announced itself (yet).
    HandshakenNotInView,
    /// A PKI-ID this peer never heard of.
    Unknown,
}

/// The answer of `fg_explain_peer`, serialized as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub query: String,
    pub reason: Reason,
    /// One sentence for a human.
    pub detail: String,
    pub in_view: bool,
    pub pki_id: Option<String>,
    pub org: Option<String>,
    pub endpoint: Option<String>,
    pub internal_endpoint: Option<String>,
    /// `alive` or `dead` while in the view.
    pub state: Option<&'static str>,
    pub alive_since_unix_ms: Option<u64>,
    pub last_alive_unix_ms: Option<u64>,
    pub dead_since_unix_ms: Option<u64>,
    pub purged_at_unix_ms: Option<u64>,
    /// The most recent dial or handshake with that peer.
    pub last_contact: Option<ContactJson>,
    #[serde(rename = "self")]
    pub self_facts: SelfFacts,
}

/// One contact record, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactJson {
    pub endpoint: String,
    pub direction: ContactDirection,
    #[serde(flatten)]
    pub outcome: ContactOutcome,
    pub pki_id: Option<String>,
    pub org: Option<String>,
    pub at_unix_ms: u64,
    /// When this outcome started repeating.
    pub since_unix_ms: u64,
    pub repeats: u64,
}

impl From<&ContactRecord> for ContactJson {
    fn from(r: &ContactRecord) -> Self {
        ContactJson {
            endpoint: r.endpoint.clone(),
            direction: r.direction,
            outcome: r.outcome.clone(),
            pki_id: r.pki_id.as_ref().map(PkiId::to_hex),
            org: r.org.clone(),
            at_unix_ms: unix_ms(r.at),
            since_unix_ms: unix_ms(r.since),
            repeats: r.repeats,
        }
    }
}

/// A query that is neither an endpoint nor a PKI-ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// What was asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Endpoint(String),
    PkiId(PkiId),
}

impl Query {
    /// `host:port` is an endpoint; hex without a colon is a PKI-ID.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(QueryError("empty query".into()));
        }
        if t.contains(':') {
            return Ok(Query::Endpoint(t.to_string()));
        }
        match hex::decode(t) {
            Ok(b) if !b.is_empty() => Ok(Query::PkiId(PkiId(b))),
            _ => Err(QueryError(format!(
                "{t:?} is neither host:port nor a hex PKI-ID"
            ))),
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ago(now: SystemTime, t: SystemTime) -> String {
    let secs = now.duration_since(t).map_or(0, |d| d.as_secs());
    format!("{secs}s ago")
}

/// The most recent of two contacts.
fn latest(a: Option<ContactRecord>, b: Option<ContactRecord>) -> Option<ContactRecord> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.at > a.at { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Explains `query` from membership facts and comm's contacts.
pub fn explain(
    query: &str,
    tracker: &PeerTracker,
    history: &PeerHistory,
    me: &SelfFacts,
    now: SystemTime,
) -> Result<Explanation, QueryError> {
    let q = Query::parse(query)?;
    let (pki, endpoint_contact) = match &q {
        Query::PkiId(p) => (Some(p.clone()), history.endpoint_of(p)),
        Query::Endpoint(e) => {
            let contact = history.by_endpoint(e);
            let pki = tracker
                .find_by_endpoint(e)
                .or_else(|| contact.as_ref().and_then(|c| c.pki_id.clone()));
            (pki, contact)
        }
    };
    let pki_contact = pki.as_ref().and_then(|p| history.by_pki_id(p));
    let member = pki.as_ref().and_then(|p| tracker.member(p));
    let purged = match (&member, &pki) {
        (None, Some(p)) => tracker.purged(p),
        _ => None,
    };
    let facts = member.as_ref().or(purged.as_ref().map(|p| &p.member));
    // Dials to a member go to its announced endpoints, which a failed dial knows no PKI-ID of.
    let mut contact = latest(endpoint_contact, pki_contact);
    if let Some(m) = facts {
        for ep in [&m.internal_endpoint, &m.endpoint] {
            if !ep.is_empty() {
                contact = latest(contact, history.by_endpoint(ep));
            }
        }
    }

    let mut e = Explanation {
        query: query.trim().to_string(),
        reason: Reason::Unknown,
        detail: String::new(),
        in_view: member.is_some(),
        pki_id: pki.as_ref().map(PkiId::to_hex),
        org: facts
            .map(|m| m.org.clone())
            .or_else(|| contact.as_ref().and_then(|c| c.org.clone())),
        endpoint: facts.map(|m| m.endpoint.clone()),
        internal_endpoint: facts.map(|m| m.internal_endpoint.clone()),
        state: member
            .as_ref()
            .map(|m| if m.alive { "alive" } else { "dead" }),
        alive_since_unix_ms: facts.and_then(|m| m.alive_since).map(unix_ms),
        last_alive_unix_ms: facts.map(|m| unix_ms(m.last_alive)),
        dead_since_unix_ms: facts.and_then(|m| m.dead_since).map(unix_ms),
        purged_at_unix_ms: purged.as_ref().map(|p| unix_ms(p.purged_at)),
        last_contact: contact.as_ref().map(ContactJson::from),
        self_facts: me.clone(),
    };
    let expired = contact
        .as_ref()
        .and_then(|c| c.identity_expires_at)
        .filter(|t| *t <= now);

    (e.reason, e.detail) = if let Some(m) = member.as_ref().filter(|m| m.alive) {
        (
            Reason::Alive,
            format!("alive; last alive message {}", ago(now, m.last_alive)),
        )
    } else if let Some(t) = expired {
        (
            Reason::IdentityExpired,
            format!("its identity expired {}", ago(now, t)),
        )
    } else if let Some(m) = &member {
        let since = m
            .dead_since
            .map_or_else(|| "since before this peer started".into(), |t| ago(now, t));
        let mut d = format!(
            "dead {since}; last alive message {}",
            ago(now, m.last_alive)
        );
        if let Some(c) = contact
            .as_ref()
            .filter(|c| c.outcome != ContactOutcome::Handshaken)
        {
            d.push_str(&format!("; last dial: {}", outcome_text(&c.outcome)));
        }
        (Reason::Dead, d)
    } else if let Some(p) = &purged {
        (
            Reason::Purged,
            format!(
                "forgotten {} after staying dead; last alive message {}",
                ago(now, p.purged_at),
                ago(now, p.member.last_alive)
            ),
        )
    } else if let Some(c) = &contact {
        contact_reason(c, me, now)
    } else {
        match q {
            Query::Endpoint(_) => (
                Reason::NeverDialed,
                "this peer never dialed that endpoint and no member announces it; check \
                 peer.gossip.bootstrap, the channel's anchor peers and the remote's \
                 externalEndpoint"
                    .into(),
            ),
            Query::PkiId(_) => (
                Reason::Unknown,
                "no member, purged member or connection has this PKI-ID".into(),
            ),
        }
    };
    Ok(e)
}

fn outcome_text(o: &ContactOutcome) -> String {
    match o {
        ContactOutcome::Handshaken => "handshake succeeded".into(),
        ContactOutcome::DialFailed { error } => format!("dial failed: {error}"),
        ContactOutcome::HandshakeFailed { reason, detail } => {
            format!("handshake failed ({reason}): {detail}")
        }
    }
}

/// The reason for a peer known only from a contact.
fn contact_reason(c: &ContactRecord, me: &SelfFacts, now: SystemTime) -> (Reason, String) {
    let when = format!(
        "{} ({} times since {})",
        ago(now, c.at),
        c.repeats,
        ago(now, c.since)
    );
    match &c.outcome {
        ContactOutcome::DialFailed { error } => (
            Reason::DialFailed,
            format!("dialing {} failed {when}: {error}", c.endpoint),
        ),
        ContactOutcome::HandshakeFailed { reason, detail } => (
            Reason::HandshakeFailed,
            format!(
                "handshake with {} failed {when}: {reason}: {detail}",
                c.endpoint
            ),
        ),
        ContactOutcome::Handshaken => match c.org.as_deref() {
            Some(org) if org != me.org => {
                let whose = if me.external_endpoint.is_empty() {
                    "this peer announces no external endpoint (peer.gossip.externalEndpoint), \
                     so peers of other orgs do not exchange membership with it"
                        .to_string()
                } else {
                    format!(
                        "the peer of {org} announced no external endpoint to this org \
                         (set its peer.gossip.externalEndpoint)"
                    )
                };
                (
                    Reason::OtherOrgNoExternalEndpoint,
                    format!(
                        "handshake with {} succeeded {when}, but {whose}",
                        c.endpoint
                    ),
                )
            }
            _ => (
                Reason::HandshakenNotInView,
                format!(
                    "handshake with {} succeeded {when}, but no alive message of it has \
                     arrived yet",
                    c.endpoint
                ),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::comm::peer_history::Contact;
    use crate::discovery::PeerTime;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    fn me() -> SelfFacts {
        SelfFacts {
            org: "Org1MSP".into(),
            external_endpoint: "127.0.0.1:7051".into(),
        }
    }

    fn view(pki: u8, org: &str, endpoint: &str, alive: bool, now: Instant) -> MemberView {
        MemberView {
            pki_id: PkiId(vec![pki; 32]),
            org: org.into(),
            endpoint: endpoint.into(),
            internal_endpoint: String::new(),
            metadata: Vec::new(),
            liveness: if alive {
                Liveness::Alive
            } else {
                Liveness::Dead
            },
            last_seen: now,
            timestamp: PeerTime::default(),
        }
    }

    fn contact(
        endpoint: &str,
        outcome: ContactOutcome,
        pki: Option<u8>,
        org: Option<&str>,
    ) -> Contact {
        Contact {
            endpoint: endpoint.into(),
            pki_id: pki.map(|b| PkiId(vec![b; 32])),
            org: org.map(Into::into),
            direction: ContactDirection::Outbound,
            outcome,
            identity_expires_at: None,
        }
    }

    fn reason(q: &str, tr: &PeerTracker, h: &PeerHistory, now: SystemTime) -> Reason {
        explain(q, tr, h, &me(), now).unwrap().reason
    }

    #[test]
    fn queries_parse() {
        assert_eq!(
            Query::parse(" peer0:7051 ").unwrap(),
            Query::Endpoint("peer0:7051".into())
        );
        assert_eq!(
            Query::parse("0a0B").unwrap(),
            Query::PkiId(PkiId(vec![10, 11]))
        );
        for bad in ["", "  ", "xyz", "abc"] {
            assert!(Query::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn alive_dead_and_purged_members() {
        let tr = PeerTracker::default();
        let h = PeerHistory::default();
        let now = Instant::now();
        let pki = PkiId(vec![1; 32]);
        tr.peer_up(&pki, t(0));
        tr.refresh(
            &[view(1, "Org1MSP", "p1:1", true, now)],
            DiscoveryCounters::default(),
            now,
            t(10),
        );
        let e = explain("p1:1", &tr, &h, &me(), t(11)).unwrap();
        assert_eq!(e.reason, Reason::Alive);
        assert_eq!(e.pki_id, Some(pki.to_hex()));
        assert!(e.in_view);
        assert_eq!(e.alive_since_unix_ms, Some(unix_ms(t(0))));
        assert_eq!(reason(&pki.to_hex(), &tr, &h, t(11)), Reason::Alive);

        tr.peer_dead(&pki, t(20));
        h.record(
            contact(
                "p1:1",
                ContactOutcome::DialFailed {
                    error: "refused".into(),
                },
                None,
                None,
            ),
            t(21),
        );
        let e = explain(&pki.to_hex(), &tr, &h, &me(), t(30)).unwrap();
        assert_eq!(e.reason, Reason::Dead);
        assert_eq!(e.state, Some("dead"));
        assert_eq!(e.dead_since_unix_ms, Some(unix_ms(t(20))));
        assert!(e.detail.contains("dead 10s ago"), "{}", e.detail);
        assert!(e.detail.contains("refused"), "{}", e.detail);
        // A refresh keeps the transition time.
        tr.refresh(
            &[view(1, "Org1MSP", "p1:1", false, now)],
            DiscoveryCounters::default(),
            now,
            t(31),
        );
        assert_eq!(tr.member(&pki).unwrap().dead_since, Some(t(20)));

        tr.peer_purged(&pki, t(40));
        tr.refresh(&[], DiscoveryCounters::default(), now, t(41));
        let e = explain("p1:1", &tr, &h, &me(), t(42)).unwrap();
        assert_eq!(e.reason, Reason::Purged);
        assert!(!e.in_view);
        assert_eq!(e.purged_at_unix_ms, Some(unix_ms(t(40))));
        // Alive again: no longer purged.
        tr.peer_up(&pki, t(50));
        tr.refresh(
            &[view(1, "Org1MSP", "p1:1", true, now)],
            DiscoveryCounters::default(),
            now,
            t(51),
        );
        assert_eq!(reason("p1:1", &tr, &h, t(52)), Reason::Alive);
    }

    #[test]
    fn reasons_from_contacts() {
        let tr = PeerTracker::default();
        let h = PeerHistory::default();
        assert_eq!(reason("127.0.0.1:1", &tr, &h, t(0)), Reason::NeverDialed);
        assert_eq!(reason("abcd", &tr, &h, t(0)), Reason::Unknown);

        h.record(
            contact(
                "d:1",
                ContactOutcome::DialFailed {
                    error: "refused".into(),
                },
                None,
                None,
            ),
            t(1),
        );
        let e = explain("d:1", &tr, &h, &me(), t(2)).unwrap();
        assert_eq!(e.reason, Reason::DialFailed);
        assert_eq!(e.last_contact.as_ref().unwrap().repeats, 1);

        let tls = ContactOutcome::HandshakeFailed {
            reason: "tls".into(),
            detail: "corrupt message".into(),
        };
        h.record(contact("t:1", tls, None, None), t(1));
        let e = explain("t:1", &tr, &h, &me(), t(2)).unwrap();
        assert_eq!(e.reason, Reason::HandshakeFailed);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["reason"], "handshake_failed");
        assert_eq!(json["last_contact"]["outcome"], "handshake_failed");
        assert_eq!(json["last_contact"]["reason"], "tls");
        assert_eq!(json["self"]["org"], "Org1MSP");

        // Another org reached by handshake but never in the view.
        h.record(
            contact("o:1", ContactOutcome::Handshaken, Some(9), Some("Org2MSP")),
            t(1),
        );
        assert_eq!(
            reason("o:1", &tr, &h, t(2)),
            Reason::OtherOrgNoExternalEndpoint
        );
        assert_eq!(
            reason(&PkiId(vec![9; 32]).to_hex(), &tr, &h, t(2)),
            Reason::OtherOrgNoExternalEndpoint
        );
        // Same org, not announced yet.
        h.record(
            contact("s:1", ContactOutcome::Handshaken, Some(8), Some("Org1MSP")),
            t(1),
        );
        assert_eq!(reason("s:1", &tr, &h, t(2)), Reason::HandshakenNotInView);
    }

    #[test]
    fn an_expired_identity_wins_over_dead() {
        let tr = PeerTracker::default();
        let h = PeerHistory::default();
        let now = Instant::now();
        tr.refresh(
            &[view(3, "Org1MSP", "x:1", false, now)],
            DiscoveryCounters::default(),
            now,
            t(10),
        );
        h.record(
            Contact {
                identity_expires_at: Some(t(5)),
                ..contact("x:1", ContactOutcome::Handshaken, Some(3), Some("Org1MSP"))
            },
            t(1),
        );
        assert_eq!(reason("x:1", &tr, &h, t(10)), Reason::IdentityExpired);
        // Not expired yet: dead.
        assert_eq!(reason("x:1", &tr, &h, t(4)), Reason::Dead);
    }

    #[test]
    fn purged_members_are_bounded() {
        let tr = PeerTracker::default();
        let now = Instant::now();
        let views: Vec<_> = (0..=PURGED_CAP as u32)
            .map(|i| {
                let mut v = view(0, "Org1MSP", &format!("h{i}:1"), false, now);
                v.pki_id = PkiId(i.to_be_bytes().to_vec());
                v
            })
            .collect();
        tr.refresh(&views, DiscoveryCounters::default(), now, t(0));
        for (i, v) in views.iter().enumerate() {
            tr.peer_purged(&v.pki_id, t(i as u64));
        }
        assert!(tr.purged(&views[0].pki_id).is_none(), "oldest forgotten");
        assert!(tr.purged(&views[PURGED_CAP].pki_id).is_some());
    }
}
