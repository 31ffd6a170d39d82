//! Fabric's identity mapper: PKI-ID → serialized identity of every peer we heard from.
//!
//! An identity enters only when the MSP validates it, it has not expired, and its PKI-ID is
//! the one claimed. Entries leave when they expire, when they go unused for the usage
//! threshold (1 h, as in Fabric; our own identity is exempt), or when a re-validation of
//! suspected identities (revocation, config change) fails. Removal is reported by returning the
//! removed PKI-IDs from [`IdentityMapper::purge`] and [`IdentityMapper::suspect_identities`], so
//! the caller can close connections and drop membership.
//!
//! Time comes from an injected clock so tests do not sleep. All methods take `&self`; the
//! internal lock is never held while calling the `MessageCryptoService`.
//!
//! [`cert_store`] pulls identities from other peers (Fabric's `certStore`) into the mapper.

pub mod cert_store;
#[cfg(test)]
mod test_authority;

pub use cert_store::{
    CertStore, CertStoreCounters, CertStoreError, CutOffReason, IdentityDisclosure, IdentityStats,
};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::crypto::{CryptoError, MessageCryptoService};
use crate::sync::RwLockExt;
use crate::types::PkiId;

/// How long an identity may go unused before it is purged (Fabric: 1 hour).
pub const DEFAULT_USAGE_THRESHOLD: Duration = Duration::from_secs(3600);

/// Most identities a mapper holds unless told otherwise (`fabgossip.maxIdentities`): twice
/// the default membership cap, since identities of dead and pulled peers linger for the usage
/// threshold.
pub const DEFAULT_MAX_IDENTITIES: usize = 20_000;

/// The time source of a mapper.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Why the mapper refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("empty PKI-ID")]
    EmptyPkiId,
    #[error("empty identity")]
    EmptyIdentity,
    #[error("identity expired")]
    Expired,
    #[error("identity does not match the claimed PKI-ID {claimed}")]
    PkiIdMismatch { claimed: PkiId },
    #[error("no identity known for PKI-ID {0}")]
    NotFound(PkiId),
    #[error("identity mapper full ({0} identities)")]
    Full(usize),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// What the mapper refused and removed, for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IdentityCounters {
    /// `put` calls refused (invalid, expired, mismatched PKI-ID).
    pub rejected: u64,
    pub purged_expired: u64,
    pub purged_idle: u64,
    /// Suspected identities the MSP refused on re-validation.
    pub revoked: u64,
    /// New identities refused because the mapper held its maximum (also in `rejected`).
    pub overflow: u64,
}

#[derive(Default)]
struct Counters {
    rejected: AtomicU64,
    overflow: AtomicU64,
    purged_expired: AtomicU64,
    purged_idle: AtomicU64,
    revoked: AtomicU64,
}

struct Stored {
    identity: Vec<u8>,
    expires_at: Option<SystemTime>,
    /// Nanoseconds since the Unix epoch; updated under the read lock.
    last_access_ns: AtomicU64,
}

impl Stored {
    fn expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }
}

fn epoch_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// Why an identity left the mapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Its expiration date passed.
    Expired,
    /// Unused for the usage threshold.
    Idle,
    /// Re-validation refused it (revoked, org removed, malformed).
    Revoked,
}

/// An identity the mapper removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub pki_id: PkiId,
    pub identity: Vec<u8>,
    pub reason: Removal,
}

/// The PKI-ID → identity map. See the module docs.
pub struct IdentityMapper {
    mcs: Arc<dyn MessageCryptoService>,
    self_pki_id: PkiId,
    usage_threshold: Duration,
    clock: Clock,
    max_identities: usize,
    entries: RwLock<HashMap<PkiId, Stored>>,
    counters: Counters,
}

impl std::fmt::Debug for IdentityMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityMapper")
            .field("self_pki_id", &self.self_pki_id)
            .field("entries", &self.len())
            .finish()
    }
}

impl IdentityMapper {
    /// A mapper on the system clock with Fabric's 1 h usage threshold, holding our own
    /// identity (which must be valid).
    pub fn new(
        mcs: Arc<dyn MessageCryptoService>,
        self_identity: &[u8],
    ) -> Result<Self, IdentityError> {
        Self::with_clock(
            mcs,
            self_identity,
            DEFAULT_USAGE_THRESHOLD,
            Arc::new(SystemTime::now),
        )
    }

    /// As [`new`](Self::new) with a chosen usage threshold and time source.
    pub fn with_clock(
        mcs: Arc<dyn MessageCryptoService>,
        self_identity: &[u8],
        usage_threshold: Duration,
        clock: Clock,
    ) -> Result<Self, IdentityError> {
        let self_pki_id = mcs.pki_id_of(self_identity)?;
        let mapper = IdentityMapper {
            mcs,
            self_pki_id: self_pki_id.clone(),
            usage_threshold,
            clock,
            max_identities: DEFAULT_MAX_IDENTITIES,
            entries: RwLock::new(HashMap::new()),
            counters: Counters::default(),
        };
        mapper.put(&self_pki_id, self_identity)?;
        Ok(mapper)
    }

    /// Caps the identities held (our own included; at least one). Identities already held
    /// stay; new ones beyond the cap are refused with [`IdentityError::Full`] until expired or
    /// idle ones are purged.
    pub fn with_max_identities(mut self, max: usize) -> Self {
        self.max_identities = max.max(1);
        self
    }

    pub fn max_identities(&self) -> usize {
        self.max_identities
    }

    pub fn self_pki_id(&self) -> &PkiId {
        &self.self_pki_id
    }

    /// How often the owner should call [`purge`](Self::purge): a tenth of the usage
    /// threshold, as Fabric does.
    pub fn purge_interval(&self) -> Duration {
        self.usage_threshold / 10
    }

    /// Stores `identity` under `pki_id` after checking it: valid per the MSP, not expired, and
    /// hashing to `pki_id`. An identity already stored under `pki_id` is kept as is.
    pub fn put(&self, pki_id: &PkiId, identity: &[u8]) -> Result<(), IdentityError> {
        let r = self.try_put(pki_id, identity);
        if r.is_err() {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn try_put(&self, pki_id: &PkiId, identity: &[u8]) -> Result<(), IdentityError> {
        if pki_id.is_empty() {
            return Err(IdentityError::EmptyPkiId);
        }
        if identity.is_empty() {
            return Err(IdentityError::EmptyIdentity);
        }
        let expires_at = self.mcs.expiration(identity)?;
        self.mcs.validate_identity(identity)?;
        if self.mcs.pki_id_of(identity)? != *pki_id {
            return Err(IdentityError::PkiIdMismatch {
                claimed: pki_id.clone(),
            });
        }
        let now = (self.clock)();
        if expires_at.is_some_and(|t| now >= t) {
            return Err(IdentityError::Expired);
        }
        let mut entries = self.write();
        match entries.get(pki_id) {
            Some(existing) if !existing.expired(now) => return Ok(()),
            Some(_) => {}
            None if entries.len() >= self.max_identities => {
                // Expired entries make room at once; idle ones wait for the purge.
                entries.retain(|_, s| !s.expired(now));
                if entries.len() >= self.max_identities {
                    self.counters.overflow.fetch_add(1, Ordering::Relaxed);
                    return Err(IdentityError::Full(self.max_identities));
                }
            }
            None => {}
        }
        entries.insert(
            pki_id.clone(),
            Stored {
                identity: identity.to_vec(),
                expires_at,
                last_access_ns: AtomicU64::new(epoch_ns(now)),
            },
        );
        Ok(())
    }

    /// The identity stored for `pki_id`, counting as a use. Expired identities are not
    /// returned (the next [`purge`](Self::purge) removes and reports them).
    pub fn get(&self, pki_id: &PkiId) -> Option<Vec<u8>> {
        let now = (self.clock)();
        let entries = self.read();
        let stored = entries.get(pki_id)?;
        if stored.expired(now) {
            return None;
        }
        stored
            .last_access_ns
            .store(epoch_ns(now), Ordering::Relaxed);
        Some(stored.identity.clone())
    }

    /// The identity stored for `pki_id` without counting as a use (pull disclosure checks
    /// must not keep an identity alive).
    pub fn peek(&self, pki_id: &PkiId) -> Option<Vec<u8>> {
        let now = (self.clock)();
        let entries = self.read();
        let stored = entries.get(pki_id)?;
        if stored.expired(now) {
            return None;
        }
        Some(stored.identity.clone())
    }

    /// Signs with our own key.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.mcs.sign(msg)
    }

    /// Checks that `signature` over `msg` was made by the peer known as `pki_id`.
    pub fn verify(
        &self,
        pki_id: &PkiId,
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), IdentityError> {
        let identity = self
            .get(pki_id)
            .ok_or_else(|| IdentityError::NotFound(pki_id.clone()))?;
        self.mcs
            .verify(&identity, signature, msg)
            .map_err(IdentityError::from)
    }

    pub fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        self.mcs.pki_id_of(identity)
    }

    /// Every stored identity (for the identity pull); does not count as a use.
    pub fn identities(&self) -> Vec<(PkiId, Vec<u8>)> {
        let now = (self.clock)();
        self.read()
            .iter()
            .filter(|(_, s)| !s.expired(now))
            .map(|(id, s)| (id.clone(), s.identity.clone()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Forgets `pki_id` (e.g. a peer that came back under a new identity). Returns whether it
    /// was known.
    pub fn remove(&self, pki_id: &PkiId) -> bool {
        self.write().remove(pki_id).is_some()
    }

    /// Removes expired identities and those unused for the usage threshold (never our own).
    /// Returns the removed PKI-IDs.
    pub fn purge(&self) -> Vec<PkiId> {
        self.sweep(|_| false)
            .into_iter()
            .map(|r| r.pki_id)
            .collect()
    }

    /// As [`purge`](Self::purge), telling why each identity left.
    pub fn purge_detailed(&self) -> Vec<Removed> {
        self.sweep(|_| false)
    }

    /// Fabric's `SuspectPeers`: as [`purge`](Self::purge), and additionally re-checks every
    /// other peer's identity for which `is_suspected` holds: its expiration is asked again
    /// (a renewed or shortened certificate) and the MSP validates it again, removing those
    /// it now refuses (revoked, org removed from the config) or that expired. Our own
    /// identity is never re-checked. Returns the removed PKI-IDs.
    pub fn suspect_identities(&self, is_suspected: impl Fn(&[u8]) -> bool) -> Vec<PkiId> {
        self.sweep(is_suspected)
            .into_iter()
            .map(|r| r.pki_id)
            .collect()
    }

    /// As [`suspect_identities`](Self::suspect_identities) with every identity suspected,
    /// telling why each identity left.
    pub fn revalidate_detailed(&self) -> Vec<Removed> {
        self.sweep(|_| true)
    }

    fn sweep(&self, is_suspected: impl Fn(&[u8]) -> bool) -> Vec<Removed> {
        let now = (self.clock)();
        let now_ns = epoch_ns(now);
        let threshold_ns = self.usage_threshold.as_nanos().min(u64::MAX as u128) as u64;
        let mut doomed: Vec<(PkiId, Removal)> = Vec::new();
        let mut suspects = Vec::new();
        {
            let entries = self.read();
            for (pki_id, s) in entries.iter() {
                let idle = now_ns.saturating_sub(s.last_access_ns.load(Ordering::Relaxed));
                if s.expired(now) {
                    doomed.push((pki_id.clone(), Removal::Expired));
                } else if *pki_id == self.self_pki_id {
                    continue;
                } else if idle > threshold_ns {
                    doomed.push((pki_id.clone(), Removal::Idle));
                } else if is_suspected(&s.identity) {
                    suspects.push((pki_id.clone(), s.identity.clone()));
                }
            }
        }
        // Validation may call into the host: do it without holding the lock.
        let mut new_expiry = Vec::new();
        for (pki_id, identity) in suspects {
            match self.mcs.expiration(&identity) {
                Ok(Some(t)) if now >= t => {
                    doomed.push((pki_id, Removal::Expired));
                    continue;
                }
                Ok(expires_at) => new_expiry.push((pki_id.clone(), expires_at)),
                Err(_) => {
                    doomed.push((pki_id, Removal::Revoked));
                    continue;
                }
            }
            if self.mcs.validate_identity(&identity).is_err() {
                doomed.push((pki_id, Removal::Revoked));
            }
        }
        let mut entries = self.write();
        for (pki_id, expires_at) in new_expiry {
            if let Some(s) = entries.get_mut(&pki_id) {
                s.expires_at = expires_at;
            }
        }
        doomed
            .into_iter()
            .filter_map(|(pki_id, reason)| {
                let stored = entries.remove(&pki_id)?;
                let counter = match reason {
                    Removal::Expired => &self.counters.purged_expired,
                    Removal::Idle => &self.counters.purged_idle,
                    Removal::Revoked => &self.counters.revoked,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Some(Removed {
                    pki_id,
                    identity: stored.identity,
                    reason,
                })
            })
            .collect()
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> IdentityCounters {
        let c = &self.counters;
        IdentityCounters {
            rejected: c.rejected.load(Ordering::Relaxed),
            purged_expired: c.purged_expired.load(Ordering::Relaxed),
            purged_idle: c.purged_idle.load(Ordering::Relaxed),
            revoked: c.revoked.load(Ordering::Relaxed),
            overflow: c.overflow.load(Ordering::Relaxed),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<PkiId, Stored>> {
        // A poisoned lock only means a panic elsewhere while holding a plain map.
        self.entries.read_locked()
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<PkiId, Stored>> {
        self.entries.write_locked()
    }
}

#[cfg(test)]
mod tests {
    use super::test_authority::TestMcs;
    use super::*;
    use crate::crypto::ed25519::Ed25519Crypto;
    use std::sync::Mutex;

    struct Fixture {
        mcs: Arc<TestMcs>,
        now: Arc<Mutex<SystemTime>>,
        mapper: IdentityMapper,
    }

    impl Fixture {
        fn new() -> Self {
            let inner = Ed25519Crypto::new("Org1MSP".into(), [1; 32], vec!["Org2MSP".into()]);
            let self_id = inner.serialized_identity();
            let mcs = Arc::new(TestMcs {
                inner,
                auth: Arc::default(),
            });
            let now = Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
            let clock_now = now.clone();
            let mapper = IdentityMapper::with_clock(
                mcs.clone(),
                &self_id,
                DEFAULT_USAGE_THRESHOLD,
                Arc::new(move || *clock_now.lock().unwrap()),
            )
            .unwrap();
            Fixture { mcs, now, mapper }
        }
        fn advance(&self, d: Duration) {
            *self.now.lock().unwrap() += d;
        }
        fn now(&self) -> SystemTime {
            *self.now.lock().unwrap()
        }
    }

    fn peer(org: &str, n: u8) -> (Arc<Ed25519Crypto>, PkiId, Vec<u8>) {
        let c = Ed25519Crypto::new(org.into(), [n; 32], vec![]);
        let id = c.serialized_identity();
        let pki = c.pki_id_of(&id).unwrap();
        (c, pki, id)
    }

    #[test]
    fn cap_refuses_new_identities_until_purge_makes_room() {
        let f = Fixture::new();
        let now = f.now.clone();
        let mapper = f.mapper.with_max_identities(3);
        let peers: Vec<_> = (2..=6).map(|n| peer("Org2MSP", n)).collect();
        mapper.put(&peers[0].1, &peers[0].2).unwrap();
        mapper.put(&peers[1].1, &peers[1].2).unwrap();
        assert_eq!(mapper.len(), 3);
        for p in &peers[2..] {
            assert_eq!(mapper.put(&p.1, &p.2), Err(IdentityError::Full(3)));
        }
        // Known identities are still accepted (a no-op), and counted nowhere.
        mapper.put(&peers[0].1, &peers[0].2).unwrap();
        let c = mapper.counters();
        assert_eq!((c.overflow, c.rejected), (3, 3));
        assert_eq!(mapper.len(), 3);
        // Once idle ones are purged, new ones fit again.
        *now.lock().unwrap() += DEFAULT_USAGE_THRESHOLD * 2;
        assert_eq!(mapper.purge().len(), 2);
        mapper.put(&peers[2].1, &peers[2].2).unwrap();
        assert_eq!(mapper.get(&peers[2].1), Some(peers[2].2.clone()));
    }

    #[test]
    fn put_get_verify() {
        let f = Fixture::new();
        assert_eq!(f.mapper.len(), 1);
        assert!(f.mapper.get(f.mapper.self_pki_id()).is_some());
        let (c, pki, id) = peer("Org2MSP", 2);
        assert_eq!(f.mapper.get(&pki), None);
        f.mapper.put(&pki, &id).unwrap();
        assert_eq!(f.mapper.get(&pki), Some(id.clone()));
        let sig = c.sign(b"msg").unwrap();
        f.mapper.verify(&pki, &sig, b"msg").unwrap();
        assert_eq!(
            f.mapper.verify(&pki, &sig, b"other"),
            Err(IdentityError::Crypto(CryptoError::BadSignature))
        );
        let (_, unknown, _) = peer("Org2MSP", 3);
        assert_eq!(
            f.mapper.verify(&unknown, &sig, b"msg"),
            Err(IdentityError::NotFound(unknown.clone()))
        );
        // Our own signatures verify against our own entry.
        let own = f.mapper.sign(b"x").unwrap();
        f.mapper
            .verify(&f.mapper.self_pki_id().clone(), &own, b"x")
            .unwrap();
        assert_eq!(f.mapper.identities().len(), 2);
    }

    #[test]
    fn put_refuses_bad_input() {
        let f = Fixture::new();
        let (_, pki2, id2) = peer("Org2MSP", 2);
        let (_, pki3, id3) = peer("Org2MSP", 3);
        assert_eq!(
            f.mapper.put(&pki2, &id3),
            Err(IdentityError::PkiIdMismatch {
                claimed: pki2.clone()
            })
        );
        assert_eq!(
            f.mapper.put(&PkiId::default(), &id2),
            Err(IdentityError::EmptyPkiId)
        );
        assert_eq!(f.mapper.put(&pki2, &[]), Err(IdentityError::EmptyIdentity));
        assert!(matches!(
            f.mapper.put(&pki2, &[0xff, 0x01]),
            Err(IdentityError::Crypto(CryptoError::MalformedIdentity(_)))
        ));
        let (_, pki9, id9) = peer("Org9MSP", 9);
        assert!(matches!(
            f.mapper.put(&pki9, &id9),
            Err(IdentityError::Crypto(CryptoError::UntrustedIdentity(_)))
        ));
        assert_eq!(f.mapper.len(), 1);
        f.mapper.put(&pki3, &id3).unwrap();
        // A second put of a known PKI-ID is accepted and changes nothing.
        f.mapper.put(&pki3, &id3).unwrap();
        assert_eq!(f.mapper.len(), 2);
        assert_eq!(f.mapper.counters().rejected, 5);
    }

    #[test]
    fn expired_identities_are_refused_hidden_and_purged() {
        let f = Fixture::new();
        let (_, pki, id) = peer("Org2MSP", 2);
        f.mcs
            .auth
            .expiry
            .lock()
            .unwrap()
            .insert(id.clone(), f.now() + Duration::from_secs(10));
        f.mapper.put(&pki, &id).unwrap();
        f.advance(Duration::from_secs(9));
        assert!(f.mapper.get(&pki).is_some());
        assert!(f.mapper.purge().is_empty());
        f.advance(Duration::from_secs(1));
        assert_eq!(f.mapper.get(&pki), None);
        assert!(matches!(
            f.mapper.verify(&pki, &[0; 64], b"m"),
            Err(IdentityError::NotFound(_))
        ));
        assert!(f.mapper.identities().iter().all(|(p, _)| *p != pki));
        assert_eq!(f.mapper.purge(), vec![pki.clone()]);
        assert_eq!(f.mapper.len(), 1);
        assert_eq!(f.mapper.put(&pki, &id), Err(IdentityError::Expired));
        assert_eq!(f.mapper.len(), 1);
        assert_eq!(
            f.mapper.counters(),
            IdentityCounters {
                rejected: 1,
                purged_expired: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn unused_identities_are_purged_but_not_our_own() {
        let f = Fixture::new();
        let (_, used, used_id) = peer("Org2MSP", 2);
        let (_, idle, idle_id) = peer("Org2MSP", 3);
        f.mapper.put(&used, &used_id).unwrap();
        f.mapper.put(&idle, &idle_id).unwrap();
        assert_eq!(f.mapper.purge_interval(), Duration::from_secs(360));
        f.advance(Duration::from_secs(59 * 60));
        assert!(f.mapper.get(&used).is_some());
        assert!(f.mapper.purge().is_empty());
        f.advance(Duration::from_secs(2 * 60));
        assert_eq!(f.mapper.purge(), vec![idle.clone()]);
        assert!(f.mapper.get(&used).is_some());
        assert!(f.mapper.get(f.mapper.self_pki_id()).is_some());
        f.advance(Duration::from_secs(2 * 3600));
        assert_eq!(f.mapper.purge(), vec![used]);
        assert_eq!(
            f.mapper.len(),
            1,
            "own identity is never purged for idleness"
        );
        assert_eq!(f.mapper.counters().purged_idle, 2);
    }

    #[test]
    fn suspected_identities_are_revalidated() {
        let f = Fixture::new();
        let (_, a, a_id) = peer("Org2MSP", 2);
        let (_, b, b_id) = peer("Org2MSP", 3);
        f.mapper.put(&a, &a_id).unwrap();
        f.mapper.put(&b, &b_id).unwrap();
        f.mcs.auth.revoked.lock().unwrap().insert(a_id.clone());
        f.mcs.auth.revoked.lock().unwrap().insert(b_id.clone());
        // Only suspected identities are re-checked.
        let removed = f.mapper.suspect_identities(|id| id == a_id.as_slice());
        assert_eq!(removed, vec![a.clone()]);
        assert_eq!(f.mapper.get(&a), None);
        assert!(f.mapper.get(&b).is_some());
        let removed = f.mapper.suspect_identities(|_| true);
        assert_eq!(removed, vec![b]);
        assert!(f.mapper.suspect_identities(|_| true).is_empty());
        assert_eq!(f.mapper.counters().revoked, 2);
        assert!(f.mapper.remove(&f.mapper.self_pki_id().clone()));
        assert!(f.mapper.is_empty());
    }

    #[test]
    fn concurrent_use_is_safe() {
        let f = Arc::new(Fixture::new());
        let peers: Vec<_> = (10..30).map(|n| peer("Org2MSP", n)).collect();
        let handles: Vec<_> = peers
            .chunks(5)
            .map(|chunk| {
                let f = f.clone();
                let chunk = chunk.to_vec();
                std::thread::spawn(move || {
                    for (c, pki, id) in &chunk {
                        f.mapper.put(pki, id).unwrap();
                        let sig = c.sign(b"m").unwrap();
                        f.mapper.verify(pki, &sig, b"m").unwrap();
                        f.mapper.purge();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(f.mapper.len(), 21);
    }
}
