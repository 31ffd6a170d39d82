//! Fabric's replacing rules for gossip messages (`protoext/msgcomparator.go`).
//!
//! - Alive, StateInfo and leadership: only entries with the same PKI-ID are compared; the
//!   same incarnation with a larger sequence wins, an equal timestamp is a duplicate,
//!   otherwise the larger incarnation wins.
//! - PeerIdentity: the first entry per PKI-ID wins.
//! - Data (blocks): the same sequence is a duplicate; sequences at most
//!   `max_block_count_to_store` apart are both kept; beyond that the newer block evicts the
//!   older one, so the store is a sliding window over the newest blocks.
//! - Messages of different kinds never replace each other.

use std::cmp::Ordering;
use std::sync::Arc;

use super::policy::{ReplacingPolicy, Verdict};
use crate::message::{Content, SignedGossipMessage};
use crate::proto::gossip::{GossipMessage, PeerTime};

/// Gives access to the decoded gossip message of a stored item, so a store can hold
/// envelopes together with their parsed form.
pub trait AsGossipMessage {
    fn gossip_message(&self) -> &GossipMessage;
}

impl AsGossipMessage for GossipMessage {
    fn gossip_message(&self) -> &GossipMessage {
        self
    }
}

impl AsGossipMessage for SignedGossipMessage {
    fn gossip_message(&self) -> &GossipMessage {
        &self.msg
    }
}

impl<T: AsGossipMessage + ?Sized> AsGossipMessage for Arc<T> {
    fn gossip_message(&self) -> &GossipMessage {
        (**self).gossip_message()
    }
}

/// Fabric's message comparator; `max_block_count_to_store` is `peer.gossip.maxBlockCountToStore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipComparator {
    pub max_block_count_to_store: u64,
}

impl GossipComparator {
    pub fn new(max_block_count_to_store: u64) -> Self {
        GossipComparator {
            max_block_count_to_store,
        }
    }

    fn judge_msgs(&self, new: &GossipMessage, stored: &GossipMessage) -> Verdict {
        match (&new.content, &stored.content) {
            (Some(Content::AliveMsg(a)), Some(Content::AliveMsg(b))) => {
                let pki = |m: &crate::proto::gossip::AliveMessage| {
                    m.membership.as_ref().map(|mb| mb.pki_id.clone())
                };
                same_origin_by_time(pki(a), a.timestamp, pki(b), b.timestamp)
            }
            (Some(Content::StateInfo(a)), Some(Content::StateInfo(b))) => same_origin_by_time(
                Some(a.pki_id.clone()),
                a.timestamp,
                Some(b.pki_id.clone()),
                b.timestamp,
            ),
            (Some(Content::LeadershipMsg(a)), Some(Content::LeadershipMsg(b))) => {
                same_origin_by_time(
                    Some(a.pki_id.clone()),
                    a.timestamp,
                    Some(b.pki_id.clone()),
                    b.timestamp,
                )
            }
            (Some(Content::PeerIdentity(a)), Some(Content::PeerIdentity(b))) => {
                if a.pki_id == b.pki_id {
                    Verdict::Invalidated
                } else {
                    Verdict::NoAction
                }
            }
            (Some(Content::DataMsg(a)), Some(Content::DataMsg(b))) => {
                match (&a.payload, &b.payload) {
                    (Some(pa), Some(pb)) => self.judge_blocks(pa.seq_num, pb.seq_num),
                    // Unreachable through a store (payload-less data is not admissible).
                    _ => Verdict::NoAction,
                }
            }
            _ => Verdict::NoAction,
        }
    }

    fn judge_blocks(&self, new_seq: u64, stored_seq: u64) -> Verdict {
        if new_seq == stored_seq {
            return Verdict::Invalidated;
        }
        if new_seq.abs_diff(stored_seq) <= self.max_block_count_to_store {
            return Verdict::NoAction;
        }
        if new_seq > stored_seq {
            Verdict::Invalidates
        } else {
            Verdict::Invalidated
        }
    }
}

/// Fabric's timestamp rule, applied only between messages of the same PKI-ID.
fn same_origin_by_time(
    new_pki: Option<Vec<u8>>,
    new_ts: Option<PeerTime>,
    stored_pki: Option<Vec<u8>>,
    stored_ts: Option<PeerTime>,
) -> Verdict {
    if new_pki != stored_pki {
        return Verdict::NoAction;
    }
    match (new_ts, stored_ts) {
        (Some(n), Some(s)) => compare_timestamps(&n, &s),
        _ => Verdict::NoAction,
    }
}

/// Same incarnation: a larger sequence wins and an equal one is a duplicate; otherwise the
/// larger incarnation wins.
pub fn compare_timestamps(new: &PeerTime, stored: &PeerTime) -> Verdict {
    match new.inc_num.cmp(&stored.inc_num) {
        Ordering::Equal if new.seq_num > stored.seq_num => Verdict::Invalidates,
        Ordering::Equal => Verdict::Invalidated,
        Ordering::Less => Verdict::Invalidated,
        Ordering::Greater => Verdict::Invalidates,
    }
}

/// Whether a message carries what its kind's rule reads (PKI-ID, timestamp, block payload).
fn well_formed(msg: &GossipMessage) -> bool {
    match &msg.content {
        None => false,
        Some(Content::AliveMsg(a)) => {
            a.timestamp.is_some() && a.membership.as_ref().is_some_and(|m| !m.pki_id.is_empty())
        }
        Some(Content::StateInfo(s)) => s.timestamp.is_some() && !s.pki_id.is_empty(),
        Some(Content::LeadershipMsg(l)) => l.timestamp.is_some() && !l.pki_id.is_empty(),
        Some(Content::PeerIdentity(p)) => !p.pki_id.is_empty(),
        Some(Content::DataMsg(d)) => d.payload.is_some(),
        Some(_) => true,
    }
}

impl<T: AsGossipMessage> ReplacingPolicy<T> for GossipComparator {
    fn judge(&self, new: &T, stored: &T) -> Verdict {
        self.judge_msgs(new.gossip_message(), stored.gossip_message())
    }

    fn admissible(&self, new: &T) -> bool {
        well_formed(new.gossip_message())
    }
}
