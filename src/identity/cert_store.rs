//! Fabric's cert store (`gossip/gossip/certstore.go`): identities travel between peers as
//! signed `PeerIdentity{pki_id, cert}` messages over the IDENTITY_MSG pull (digests are raw
//! PKI-IDs, channel empty, tag EMPTY) and land in the [`IdentityMapper`].
//!
//! - The own identity is offered from the start, signed with our key, as Fabric does.
//! - A pulled `PeerIdentity` is taken only when its PKI-ID is the one the crypto contract
//!   computes from the cert, the envelope is signed by that cert, and `ValidateIdentity`
//!   accepts it; one bad item refuses the whole update (Fabric drops the whole message).
//!   The mapper then checks expiration; what it refuses is not offered on.
//! - Disclosure (Fabric's `sameOrgOrOurOrgPullFilter`): a peer of our org is offered every
//!   identity; a peer of another org only identities of our org or of its own org, of peers
//!   alive with an external endpoint; a peer whose org is unknown is offered nothing.
//! - Cut off: an identity found expired or revoked leaves the mapper and the pull, and its
//!   PKI-ID is not requested again while the crypto contract still refuses it (each
//!   re-validation asks again), so a peer that has not noticed yet cannot feed it back.
//!
//! Sans-IO: the owner calls [`CertStore::handle`] with pull inputs and sends what it returns.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use prost::Message;
use serde::Serialize;

use super::{IdentityCounters, IdentityMapper, Removal, Removed};
use crate::crypto::{MessageCryptoService, SecurityAdvisor};
use crate::message::{peer_identity_msg, Content, SignedGossipMessage};
use crate::proto::gossip::{Envelope, GossipMessage};
use crate::pull::{
    identity_envelope_digest, Digest, PullConfig, PullCounters, PullEngine, PullPolicy,
};
use crate::pull::{Input, Output};
use crate::types::{OrgId, PkiId};

/// Identities kept to re-check after being cut off; beyond it the oldest is forgotten (it
/// is then refused again by the mapper's own checks if offered).
const MAX_CUT_OFF: usize = 4096;

/// Why the cert store could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertStoreError {
    #[error("identity pull config: {0}")]
    Config(String),
    #[error("signing the own PeerIdentity: {0}")]
    Sign(String),
}

/// What the cert store did; bad input is counted, never fatal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CertStoreCounters {
    /// Identities learned by pull and stored in the mapper.
    pub learned: u64,
    /// Pulled identities the mapper refused (expired, or a check failed at store time).
    pub store_refused: u64,
    /// Identity updates refused because an item failed validation (PKI-ID mismatch, bad
    /// signature, `ValidateIdentity` refused, malformed).
    pub invalid_updates: u64,
    /// Identities cut off because they expired.
    pub cut_off_expired: u64,
    /// Identities cut off because re-validation refused them (revoked, org removed).
    pub cut_off_revoked: u64,
    /// Cut-off identities that the crypto contract accepts again: no longer refused.
    pub reinstated: u64,
    /// Offered identities of cut-off PKI-IDs, refused.
    pub refused_cut_off: u64,
    /// Messages and connections from cut-off peers, refused (counted by the owner).
    pub refused_messages: u64,
}

/// The identity side of a peer as hosts and tests read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityStats {
    /// Identities in the mapper (own included).
    pub known: usize,
    /// PKI-IDs cut off and still refused.
    pub cut_off: usize,
    pub mapper: IdentityCounters,
    pub store: CertStoreCounters,
    pub pull: PullCounters,
}

/// Why an identity was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutOffReason {
    Expired,
    Revoked,
}

/// What the disclosure rule needs from membership, lent for one call.
pub trait IdentityDisclosure {
    /// Whether `pki_id` is an alive peer with an external endpoint (ourselves: whether we
    /// publish one).
    fn has_external_endpoint(&self, pki_id: &PkiId) -> bool;
}

/// The identity pull and its validation. See the module docs.
pub struct CertStore {
    mapper: Arc<IdentityMapper>,
    mcs: Arc<dyn MessageCryptoService>,
    advisor: Arc<dyn SecurityAdvisor>,
    self_org: OrgId,
    pull: PullEngine,
    /// Cut-off PKI-IDs with the identity that was refused, re-checked on re-validation.
    cut_off: BTreeMap<PkiId, Vec<u8>>,
    counters: CertStoreCounters,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("items", &self.pull.item_count())
            .field("cut_off", &self.cut_off.len())
            .finish()
    }
}

impl CertStore {
    /// Starts the identity pull with `cfg` (see [`PullConfig::identities`]) and offers our
    /// own identity, signed.
    pub fn new(
        cfg: PullConfig,
        mapper: Arc<IdentityMapper>,
        mcs: Arc<dyn MessageCryptoService>,
        advisor: Arc<dyn SecurityAdvisor>,
        now: Instant,
        seed: u64,
    ) -> Result<Self, CertStoreError> {
        let self_pki_id = mapper.self_pki_id().clone();
        let self_identity = mapper
            .peek(&self_pki_id)
            .ok_or_else(|| CertStoreError::Sign("own identity not in the mapper".into()))?;
        let self_org = advisor
            .org_by_peer_identity(&self_identity)
            .ok_or_else(|| CertStoreError::Sign("own identity has no organization".into()))?;
        let mut pull =
            PullEngine::new(cfg, now, seed).map_err(|e| CertStoreError::Config(e.to_string()))?;
        let own = SignedGossipMessage::sign(peer_identity_msg(&self_pki_id, &self_identity), |p| {
            mapper.sign(p)
        })
        .map_err(|e| CertStoreError::Sign(e.to_string()))?;
        pull.add_item(self_pki_id.0.clone(), own.envelope);
        Ok(CertStore {
            mapper,
            mcs,
            advisor,
            self_org,
            pull,
            cut_off: BTreeMap::new(),
            counters: CertStoreCounters::default(),
        })
    }

    pub fn next_deadline(&self) -> Instant {
        self.pull.next_deadline()
    }

    /// Whether a scheduled round is due: pass the alive members to the next `Tick`.
    pub fn round_due(&self, now: Instant) -> bool {
        self.pull.round_due(now)
    }

    /// Whether the pull offers an identity for `pki_id`.
    pub fn offers(&self, pki_id: &PkiId) -> bool {
        self.pull.contains(&pki_id.0)
    }

    pub fn is_cut_off(&self, pki_id: &PkiId) -> bool {
        self.cut_off.contains_key(pki_id)
    }

    /// The owner refused a message or connection of a cut-off peer.
    pub fn count_refused_message(&mut self) {
        self.counters.refused_messages += 1;
    }

    /// Runs the identity pull on `input`. Validated identities are stored in the mapper
    /// here; the outputs left are `Send` and `UpdateRejected`.
    pub fn handle(
        &mut self,
        now: Instant,
        input: Input,
        disclosure: &dyn IdentityDisclosure,
    ) -> Vec<Output> {
        let mut policy = IdentityPullPolicy {
            mapper: &self.mapper,
            mcs: &*self.mcs,
            advisor: &*self.advisor,
            self_org: &self.self_org,
            cut_off: &self.cut_off,
            disclosure,
            refused_cut_off: 0,
        };
        let out = self.pull.handle(now, input, &mut policy);
        self.counters.refused_cut_off += policy.refused_cut_off;
        let mut rest = Vec::with_capacity(out.len());
        for o in out {
            match o {
                Output::Received { digest, item, .. } => self.store(&digest, &item),
                Output::UpdateRejected { .. } => {
                    self.counters.invalid_updates += 1;
                    rest.push(o);
                }
                Output::Send { .. } => rest.push(o),
            }
        }
        rest
    }

    /// A validated pulled identity goes to the mapper; one it refuses is not offered on.
    fn store(&mut self, digest: &[u8], item: &Envelope) {
        let parsed = GossipMessage::decode(item.payload.clone())
            .ok()
            .and_then(|m| match m.content {
                Some(Content::PeerIdentity(p)) => Some(p),
                _ => None,
            });
        let Some(p) = parsed else {
            // Validation decoded it already; unreachable in practice, but never kept.
            self.pull.remove_item(digest);
            self.counters.store_refused += 1;
            return;
        };
        let pki_id = PkiId(p.pki_id);
        match self.mapper.put(&pki_id, &p.cert) {
            Ok(()) => self.counters.learned += 1,
            Err(e) => {
                tracing::debug!(peer = %pki_id, error = %e, "pulled identity refused");
                self.pull.remove_item(digest);
                self.counters.store_refused += 1;
            }
        }
    }

    /// Cuts `pki_id` off: its identity leaves the mapper and the pull, and is not requested
    /// again while the crypto contract refuses `identity`.
    pub fn cut_off(&mut self, pki_id: &PkiId, identity: Option<Vec<u8>>, reason: CutOffReason) {
        if *pki_id == *self.mapper.self_pki_id() {
            return;
        }
        self.mapper.remove(pki_id);
        self.pull.remove_item(&pki_id.0);
        match reason {
            CutOffReason::Expired => self.counters.cut_off_expired += 1,
            CutOffReason::Revoked => self.counters.cut_off_revoked += 1,
        }
        if let Some(identity) = identity {
            if self.cut_off.len() >= MAX_CUT_OFF {
                self.cut_off.pop_first();
            }
            self.cut_off.insert(pki_id.clone(), identity);
        }
    }

    /// Drops identities the mapper purged for idleness from the pull (not cut off: they
    /// may be learned again at once).
    pub fn forget(&mut self, pki_id: &PkiId) {
        if *pki_id != *self.mapper.self_pki_id() {
            self.pull.remove_item(&pki_id.0);
        }
    }

    /// Expired identities (by the stored expiration date; cheap, no crypto call) are cut
    /// off, idle ones forgotten. Returns the cut-off PKI-IDs.
    pub fn check_expired(&mut self) -> Vec<PkiId> {
        let removed = self.mapper.purge_detailed();
        self.apply(removed)
    }

    /// Re-validates every stored identity with the crypto contract (`Expiration`,
    /// `ValidateIdentity`), as Fabric's `SuspectPeers` with every peer suspected, and gives
    /// cut-off identities that are valid again another chance. Returns the PKI-IDs cut off.
    pub fn revalidate(&mut self) -> Vec<PkiId> {
        let removed = self.mapper.revalidate_detailed();
        let cut = self.apply(removed);
        let now = SystemTime::now();
        let mcs = &self.mcs;
        let before = self.cut_off.len();
        self.cut_off.retain(|_, identity| {
            let expired = match mcs.expiration(identity) {
                Ok(Some(t)) => now >= t,
                Ok(None) => false,
                Err(_) => true,
            };
            expired || mcs.validate_identity(identity).is_err()
        });
        self.counters.reinstated += (before - self.cut_off.len()) as u64;
        cut
    }

    fn apply(&mut self, removed: Vec<Removed>) -> Vec<PkiId> {
        let mut cut = Vec::new();
        for r in removed {
            let reason = match r.reason {
                Removal::Idle => {
                    self.forget(&r.pki_id);
                    continue;
                }
                Removal::Expired => CutOffReason::Expired,
                Removal::Revoked => CutOffReason::Revoked,
            };
            self.cut_off(&r.pki_id, Some(r.identity), reason);
            cut.push(r.pki_id);
        }
        cut
    }

    /// Counters of the store, the mapper and the pull together.
    pub fn stats(&self) -> IdentityStats {
        IdentityStats {
            known: self.mapper.len(),
            cut_off: self.cut_off.len(),
            mapper: self.mapper.counters(),
            store: self.counters.clone(),
            pull: self.pull.counters().clone(),
        }
    }
}

/// The identity pull's filters and validation, for one call of the engine.
struct IdentityPullPolicy<'a> {
    mapper: &'a IdentityMapper,
    mcs: &'a dyn MessageCryptoService,
    advisor: &'a dyn SecurityAdvisor,
    self_org: &'a OrgId,
    cut_off: &'a BTreeMap<PkiId, Vec<u8>>,
    disclosure: &'a dyn IdentityDisclosure,
    refused_cut_off: u64,
}

impl IdentityPullPolicy<'_> {
    fn org_of(&self, pki_id: &PkiId) -> Option<OrgId> {
        let identity = self.mapper.peek(pki_id)?;
        self.advisor.org_by_peer_identity(&identity)
    }
}

impl PullPolicy for IdentityPullPolicy<'_> {
    fn ingress(&self, digest: &[u8]) -> bool {
        // Ingress cannot count through `&self`; refusals are counted by the engine.
        !digest.is_empty() && !self.cut_off.contains_key(&PkiId(digest.to_vec()))
    }

    fn egress(&self, peer: &PkiId, digest: &[u8]) -> bool {
        let Some(peer_org) = self.org_of(peer) else {
            return false;
        };
        if peer_org == *self.self_org {
            return true;
        }
        let item = PkiId(digest.to_vec());
        let Some(item_org) = self.org_of(&item) else {
            return false;
        };
        if !self.disclosure.has_external_endpoint(&item) {
            return false;
        }
        item_org == *self.self_org || item_org == peer_org
    }

    fn digest_of(&self, item: &Envelope) -> Option<Digest> {
        identity_envelope_digest(item)
    }

    fn validate(&mut self, _from: &PkiId, digest: &[u8], item: &Envelope) -> Result<(), String> {
        // Fabric checks tags of received messages, not of the items inside an update (its
        // own identity items carry tag EMPTY).
        let sm = SignedGossipMessage::from_envelope(item.clone()).map_err(|e| e.to_string())?;
        let Some(Content::PeerIdentity(p)) = &sm.msg.content else {
            return Err("not a PeerIdentity".into());
        };
        if p.pki_id != digest {
            return Err("digest does not name the identity's PKI-ID".into());
        }
        if self.cut_off.contains_key(&PkiId(p.pki_id.clone())) {
            self.refused_cut_off += 1;
            return Err("identity cut off".into());
        }
        let computed = self.mcs.pki_id_of(&p.cert).map_err(|e| e.to_string())?;
        if computed.0 != p.pki_id {
            return Err("PKI-ID does not match the identity".into());
        }
        sm.verify(|payload, sig| self.mcs.verify(&p.cert, sig, payload))
            .map_err(|e| e.to_string())?;
        self.mcs
            .validate_identity(&p.cert)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests;
