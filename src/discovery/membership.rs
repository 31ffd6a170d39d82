//! The membership store: every known peer, alive or dead, with its latest alive message.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::alive::{PeerTime, VerifiedAlive};
use crate::proto::gossip::Envelope;
use crate::types::{OrgId, PkiId};

/// Whether a member is currently considered alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Liveness {
    Alive,
    Dead,
}

/// A snapshot of one member, for the driver and its queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub pki_id: PkiId,
    pub org: OrgId,
    /// External endpoint (`Member.endpoint`), may be empty.
    pub endpoint: String,
    /// Internal endpoint from the secret envelope, empty when unknown.
    pub internal_endpoint: String,
    pub metadata: Vec<u8>,
    pub liveness: Liveness,
    /// When a new alive of this peer last arrived.
    pub last_seen: Instant,
    pub timestamp: PeerTime,
}

impl MemberView {
    /// The endpoint to dial: the internal one when known, else the external one (Fabric's
    /// `PreferredEndpoint`).
    pub fn preferred_endpoint(&self) -> &str {
        if self.internal_endpoint.is_empty() {
            &self.endpoint
        } else {
            &self.internal_endpoint
        }
    }
}

/// One known peer.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub view: MemberView,
    /// Its latest alive, as received (the secret kept when we got it).
    pub envelope: Envelope,
}

/// What learning an alive did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Learned {
    /// First alive of an unknown peer.
    New,
    /// A newer alive of an alive peer.
    Updated,
    /// A newer alive of a dead peer: alive again.
    Resurrected,
    /// Same timestamp as the one held.
    Duplicate,
    /// Older than the one held.
    Stale,
    /// A new member while the store is full: refused, so forged identities cannot grow it
    /// without bound.
    Full,
}

impl Learned {
    /// Only these change the store, and only these are forwarded.
    pub fn is_fresh(self) -> bool {
        matches!(self, Learned::New | Learned::Updated | Learned::Resurrected)
    }
}

/// Members keyed by PKI-ID. A BTreeMap keeps iteration order stable, so random choices
/// are reproducible from the RNG seed.
#[derive(Debug)]
pub(crate) struct Membership {
    members: BTreeMap<PkiId, Member>,
    /// Most members held, alive and dead together.
    capacity: usize,
}

impl Membership {
    pub fn with_capacity(capacity: usize) -> Self {
        Membership {
            members: BTreeMap::new(),
            capacity,
        }
    }

    pub fn get(&self, pki_id: &PkiId) -> Option<&Member> {
        self.members.get(pki_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn alive(&self) -> impl Iterator<Item = &Member> {
        self.members
            .values()
            .filter(|m| m.view.liveness == Liveness::Alive)
    }

    pub fn dead(&self) -> impl Iterator<Item = &Member> {
        self.members
            .values()
            .filter(|m| m.view.liveness == Liveness::Dead)
    }

    pub fn alive_count(&self) -> usize {
        self.alive().count()
    }

    /// Learns an alive message under Fabric's timestamp rule. A newer alive replaces the
    /// held one; the internal endpoint is kept when the new envelope has no secret.
    pub fn learn_alive(&mut self, a: &VerifiedAlive, now: Instant) -> Learned {
        let full = self.members.len() >= self.capacity;
        match self.members.get_mut(&a.pki_id) {
            None if full => Learned::Full,
            None => {
                self.members
                    .insert(a.pki_id.clone(), member_from(a, Liveness::Alive, now, ""));
                Learned::New
            }
            Some(m) => {
                if !a.timestamp.is_newer_than(&m.view.timestamp) {
                    return if a.timestamp == m.view.timestamp {
                        Learned::Duplicate
                    } else {
                        Learned::Stale
                    };
                }
                let was_dead = m.view.liveness == Liveness::Dead;
                let previous_internal = std::mem::take(&mut m.view.internal_endpoint);
                let previous_org = std::mem::take(&mut m.view.org);
                *m = member_from(a, Liveness::Alive, now, &previous_internal);
                if m.view.org.is_empty() {
                    m.view.org = previous_org;
                }
                if was_dead {
                    Learned::Resurrected
                } else {
                    Learned::Updated
                }
            }
        }
    }

    /// Learns a peer reported dead by someone else; only an unknown peer is added (Fabric
    /// ignores dead reports about peers it already knows). Returns whether it was added.
    pub fn learn_dead(&mut self, a: &VerifiedAlive, now: Instant) -> bool {
        if self.members.contains_key(&a.pki_id) || self.members.len() >= self.capacity {
            return false;
        }
        self.members
            .insert(a.pki_id.clone(), member_from(a, Liveness::Dead, now, ""));
        true
    }

    /// Marks an alive member dead; returns false if it was not alive.
    pub fn mark_dead(&mut self, pki_id: &PkiId) -> bool {
        match self.members.get_mut(pki_id) {
            Some(m) if m.view.liveness == Liveness::Alive => {
                m.view.liveness = Liveness::Dead;
                true
            }
            _ => false,
        }
    }

    /// Alive members silent for longer than `timeout`.
    pub fn silent_since(&self, now: Instant, timeout: Duration) -> Vec<PkiId> {
        self.alive()
            .filter(|m| now.saturating_duration_since(m.view.last_seen) > timeout)
            .map(|m| m.view.pki_id.clone())
            .collect()
    }

    /// Dead members not heard of for longer than `after`.
    pub fn forgotten_since(&self, now: Instant, after: Duration) -> Vec<PkiId> {
        self.dead()
            .filter(|m| now.saturating_duration_since(m.view.last_seen) > after)
            .map(|m| m.view.pki_id.clone())
            .collect()
    }

    pub fn remove(&mut self, pki_id: &PkiId) -> Option<Member> {
        self.members.remove(pki_id)
    }
}

fn member_from(
    a: &VerifiedAlive,
    liveness: Liveness,
    now: Instant,
    previous_internal: &str,
) -> Member {
    let internal_endpoint = match &a.internal_endpoint {
        Some(ep) => ep.clone(),
        None => previous_internal.to_string(),
    };
    Member {
        view: MemberView {
            pki_id: a.pki_id.clone(),
            org: a.org.clone(),
            endpoint: a.endpoint.clone(),
            internal_endpoint,
            metadata: a.metadata.clone(),
            liveness,
            last_seen: now,
            timestamp: a.timestamp,
        },
        envelope: a.envelope.clone(),
    }
}
