//! One joined channel: its member orgs, its config sequence, the own StateInfo and the
//! StateInfo of the other peers. Routing, timers and acceptance live in the registry.

use std::collections::BTreeSet;
use std::time::Instant;

use super::events::{AnchorPeer, JoinChannelMessage};
use super::state_info::{sign_state_info, StateInfoFields, StateInfoStore, StoredStateInfo};
use crate::crypto::CryptoError;
use crate::discovery::Signer;
use crate::message::{channel_mac, SignedGossipMessage};
use crate::proto::gossip::{Chaincode, PeerTime, Properties};
use crate::types::{OrgId, PkiId};

pub(crate) struct GossipChannel {
    pub name: String,
    pub orgs: BTreeSet<OrgId>,
    pub sequence: u64,
    pub anchors: Vec<AnchorPeer>,
    /// Incarnation of the own StateInfo: the channel's creation time in ns.
    inc_num: u64,
    /// The last sequence used; the next is at least one more, so a clock that stalls or
    /// goes back never produces a StateInfo the others would drop as stale.
    last_seq: u64,
    /// What the own StateInfo should say.
    pub props: Properties,
    /// The latest signed own StateInfo (also held in `store`).
    pub own: Option<SignedGossipMessage>,
    /// `props` changed and signing failed: sign again before the next publish.
    pub needs_sign: bool,
    /// The own StateInfo changed since it was last pushed.
    pub dirty: bool,
    pub left: bool,
    pub store: StateInfoStore,
    pub next_publish: Instant,
    pub next_pull: Instant,
    pub next_sweep: Instant,
}

impl GossipChannel {
    /// A new channel; the own StateInfo starts at ledger height 1.
    pub fn new(
        name: &str,
        msg: &JoinChannelMessage,
        inc_num: u64,
        now: Instant,
        next_pull: Instant,
        next_sweep: Instant,
    ) -> Self {
        GossipChannel {
            name: name.to_string(),
            orgs: msg.members.iter().cloned().collect(),
            sequence: msg.sequence,
            anchors: msg.anchor_peers.clone(),
            inc_num,
            last_seq: 0,
            props: Properties {
                ledger_height: 1,
                left_channel: false,
                chaincodes: Vec::new(),
            },
            own: None,
            needs_sign: true,
            dirty: true,
            left: false,
            store: StateInfoStore::default(),
            // The first StateInfo goes out at once; later ones on the publish timer.
            next_publish: now,
            next_pull,
            next_sweep,
        }
    }

    pub fn mac(&self, pki_id: &PkiId) -> Vec<u8> {
        channel_mac(pki_id, self.name.as_bytes())
    }

    pub fn has_org(&self, org: &str) -> bool {
        self.orgs.contains(org)
    }

    /// Applies a newer (or equal) config: new orgs and anchors; entries of orgs no longer in
    /// the channel are dropped. Returns how many were dropped.
    pub fn reconfigure(&mut self, msg: &JoinChannelMessage) -> usize {
        self.orgs = msg.members.iter().cloned().collect();
        self.sequence = msg.sequence;
        self.anchors = msg.anchor_peers.clone();
        let orgs = &self.orgs;
        self.store.retain(|e| orgs.contains(&e.org))
    }

    pub fn set_ledger_height(&mut self, height: u64) -> bool {
        if self.props.ledger_height == height {
            return false;
        }
        self.props.ledger_height = height;
        self.needs_sign = true;
        true
    }

    pub fn set_chaincodes(&mut self, chaincodes: Vec<Chaincode>) {
        self.props.chaincodes = chaincodes;
        self.needs_sign = true;
    }

    pub fn set_left(&mut self) {
        self.left = true;
        self.props.left_channel = true;
        self.needs_sign = true;
    }

    /// Signs `props` into a new own StateInfo with seq = max(last + 1, now_ns) and stores
    /// it. On failure the previous one stays current and `needs_sign` stays set.
    pub fn sign_own(
        &mut self,
        me: &PkiId,
        my_org: &OrgId,
        now: Instant,
        now_ns: u64,
        signer: &dyn Signer,
    ) -> Result<(), CryptoError> {
        let seq = now_ns.max(self.last_seq.saturating_add(1));
        let timestamp = PeerTime {
            inc_num: self.inc_num,
            seq_num: seq,
        };
        let sm = sign_state_info(me, &self.name, timestamp, self.props.clone(), |p| {
            signer.sign(p)
        })?;
        self.last_seq = seq;
        self.needs_sign = false;
        self.dirty = true;
        // Our own entry is always the newest: replace it directly.
        self.store.retain(|e| &e.fields.pki_id != me);
        self.store.add(StoredStateInfo {
            org: my_org.clone(),
            fields: StateInfoFields {
                pki_id: me.clone(),
                timestamp,
                channel_mac: self.mac(me),
                properties: self.props.clone(),
            },
            envelope: sm.envelope.clone(),
            stored_at: now,
        });
        self.own = Some(sm);
        Ok(())
    }
}
