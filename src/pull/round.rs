//! One pull round as seen by its initiator: the peers greeted, what they offered, what was
//! requested from whom, and which phase the round is in.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::digest::Digest;
use crate::types::PkiId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoundKind {
    /// Started by the pull interval; superseded by the next one.
    Scheduled,
    /// Started by `PullNow`; with a non-empty hint only those digests are requested.
    OnDemand { hint: BTreeSet<Digest> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Hellos sent; digests are collected until the instant given.
    Digests { until: Instant },
    /// Requests sent; updates are accepted until the instant given.
    Responses { until: Instant },
}

/// A peer greeted in this round, under the nonce that keys it.
#[derive(Debug, Clone)]
pub(crate) struct Greeted {
    pub peer: PkiId,
    pub digest_seen: bool,
    /// What we asked this peer for (empty: nothing asked).
    pub requested: BTreeSet<Digest>,
    pub answered: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Round {
    pub kind: RoundKind,
    pub phase: Phase,
    pub greeted: BTreeMap<u64, Greeted>,
    /// Missing digests offered in this round, each with the nonces of the peers offering it.
    pub owners: BTreeMap<Digest, Vec<u64>>,
    /// Set when the round is over; removed by the engine at the end of the call.
    pub finished: bool,
}

impl Round {
    pub fn new(kind: RoundKind, until: Instant) -> Self {
        Round {
            kind,
            phase: Phase::Digests { until },
            greeted: BTreeMap::new(),
            owners: BTreeMap::new(),
            finished: false,
        }
    }

    pub fn is_on_demand(&self) -> bool {
        matches!(self.kind, RoundKind::OnDemand { .. })
    }

    /// Whether the digest is worth asking for in this round (outside a non-empty hint: no).
    pub fn wants(&self, digest: &[u8]) -> bool {
        match &self.kind {
            RoundKind::OnDemand { hint } if !hint.is_empty() => hint.contains(digest),
            _ => true,
        }
    }

    /// Every greeted peer has sent its digest: nothing more to wait for.
    pub fn all_digests_in(&self) -> bool {
        self.greeted.values().all(|g| g.digest_seen)
    }

    /// Every peer we requested from has answered.
    pub fn all_answered(&self) -> bool {
        self.greeted
            .values()
            .all(|g| g.requested.is_empty() || g.answered)
    }

    pub fn deadline(&self) -> Instant {
        match self.phase {
            Phase::Digests { until } | Phase::Responses { until } => until,
        }
    }
}
