//! StateInfo messages: Fabric's timestamp rule, reading a received one, building the own
//! one, and the per-channel store (one entry per PKI-ID, the newest wins).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::crypto::CryptoError;
use crate::message::{is_tag_legal, state_info_msg, Content, SignedGossipMessage};
use crate::proto::gossip::{Envelope, PeerTime, Properties, StateInfo};
use crate::types::{OrgId, PkiId};

/// How a timestamp compares with the one held for the same peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Newer,
    /// Same incarnation and sequence: a duplicate.
    Same,
    Older,
}

/// Fabric's timestamp rule: within one incarnation the larger sequence wins; otherwise the
/// larger incarnation wins.
pub fn compare_time(new: &PeerTime, held: &PeerTime) -> Freshness {
    let (a, b) = if new.inc_num == held.inc_num {
        (new.seq_num, held.seq_num)
    } else {
        (new.inc_num, held.inc_num)
    };
    match a.cmp(&b) {
        std::cmp::Ordering::Greater => Freshness::Newer,
        std::cmp::Ordering::Equal => Freshness::Same,
        std::cmp::Ordering::Less => Freshness::Older,
    }
}

/// Why a message is not a usable StateInfo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateInfoError {
    #[error("not a StateInfo message")]
    NotStateInfo,
    #[error("bad tag: {0}")]
    BadTag(String),
    #[error("StateInfo has an empty PKI-ID")]
    EmptyPkiId,
    #[error("StateInfo has no timestamp")]
    NoTimestamp,
    #[error("StateInfo is not signed")]
    Unsigned,
}

/// The fields of a received StateInfo, checked for shape (not yet for MAC or signature).
#[derive(Debug, Clone, PartialEq)]
pub struct StateInfoFields {
    pub pki_id: PkiId,
    pub timestamp: PeerTime,
    pub channel_mac: Vec<u8>,
    /// Absent properties read as height 0, no chaincodes, not left.
    pub properties: Properties,
}

/// Reads the StateInfo of `sm`, checking its tag and that it is signed.
pub fn read_state_info(sm: &SignedGossipMessage) -> Result<StateInfoFields, StateInfoError> {
    let si: &StateInfo = match &sm.msg.content {
        Some(Content::StateInfo(si)) => si,
        _ => return Err(StateInfoError::NotStateInfo),
    };
    is_tag_legal(&sm.msg).map_err(|e| StateInfoError::BadTag(e.to_string()))?;
    if si.pki_id.is_empty() {
        return Err(StateInfoError::EmptyPkiId);
    }
    let timestamp = si.timestamp.ok_or(StateInfoError::NoTimestamp)?;
    if !sm.is_signed() {
        return Err(StateInfoError::Unsigned);
    }
    Ok(StateInfoFields {
        pki_id: PkiId(si.pki_id.clone()),
        timestamp,
        channel_mac: si.channel_mac.clone(),
        properties: si.properties.clone().unwrap_or_default(),
    })
}

/// Builds and signs a StateInfo: channel field empty, MAC = SHA-256(pki_id ‖ channel),
/// tag CHAN_OR_ORG.
pub fn sign_state_info(
    pki_id: &PkiId,
    channel: &str,
    timestamp: PeerTime,
    properties: Properties,
    signer: impl FnOnce(&[u8]) -> Result<Vec<u8>, CryptoError>,
) -> Result<SignedGossipMessage, CryptoError> {
    let msg = state_info_msg(pki_id, channel.as_bytes(), timestamp, properties);
    SignedGossipMessage::sign(msg, signer)
}

/// One accepted StateInfo.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStateInfo {
    pub org: OrgId,
    pub fields: StateInfoFields,
    /// As received (or as signed, for our own).
    pub envelope: Envelope,
    /// When it was stored; the node-level store of unjoined channels expires by it.
    pub stored_at: Instant,
}

/// What adding a StateInfo did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored (new peer or newer message): forward it.
    Added,
    /// No newer than the one held: dropped.
    Stale,
}

/// StateInfo entries keyed by PKI-ID; an entry is replaced only by a newer message.
#[derive(Debug, Clone, Default)]
pub struct StateInfoStore {
    entries: BTreeMap<PkiId, StoredStateInfo>,
}

impl StateInfoStore {
    pub fn add(&mut self, entry: StoredStateInfo) -> AddOutcome {
        if let Some(held) = self.entries.get(&entry.fields.pki_id) {
            if compare_time(&entry.fields.timestamp, &held.fields.timestamp) != Freshness::Newer {
                return AddOutcome::Stale;
            }
        }
        self.entries.insert(entry.fields.pki_id.clone(), entry);
        AddOutcome::Added
    }

    pub fn get(&self, pki_id: &PkiId) -> Option<&StoredStateInfo> {
        self.entries.get(pki_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &StoredStateInfo> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps the entries `keep` accepts; returns how many were dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(&StoredStateInfo) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| keep(e));
        before - self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(inc: u64, seq: u64) -> PeerTime {
        PeerTime {
            inc_num: inc,
            seq_num: seq,
        }
    }

    #[test]
    fn timestamp_rule() {
        assert_eq!(compare_time(&t(5, 2), &t(5, 1)), Freshness::Newer);
        assert_eq!(compare_time(&t(5, 1), &t(5, 1)), Freshness::Same);
        assert_eq!(compare_time(&t(5, 0), &t(5, 1)), Freshness::Older);
        // A new incarnation wins whatever its sequence.
        assert_eq!(compare_time(&t(6, 0), &t(5, 99)), Freshness::Newer);
        assert_eq!(compare_time(&t(4, 99), &t(5, 0)), Freshness::Older);
    }

    fn entry(pki: u8, inc: u64, seq: u64) -> StoredStateInfo {
        StoredStateInfo {
            org: "Org1MSP".into(),
            fields: StateInfoFields {
                pki_id: PkiId(vec![pki; 32]),
                timestamp: t(inc, seq),
                channel_mac: vec![],
                properties: Properties::default(),
            },
            envelope: Envelope::default(),
            stored_at: Instant::now(),
        }
    }

    #[test]
    fn store_keeps_newest_per_peer() {
        let mut s = StateInfoStore::default();
        assert_eq!(s.add(entry(1, 5, 1)), AddOutcome::Added);
        assert_eq!(s.add(entry(1, 5, 1)), AddOutcome::Stale);
        assert_eq!(s.add(entry(1, 5, 0)), AddOutcome::Stale);
        assert_eq!(s.add(entry(2, 1, 1)), AddOutcome::Added);
        assert_eq!(s.add(entry(1, 5, 3)), AddOutcome::Added);
        assert_eq!(
            s.get(&PkiId(vec![1; 32])).unwrap().fields.timestamp,
            t(5, 3)
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s.retain(|e| e.fields.pki_id.0[0] == 2), 1);
        assert_eq!(s.len(), 1);
    }
}
