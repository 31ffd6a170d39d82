//! The built-in crypto: Ed25519 identities that need no host callbacks.
//!
//! An identity is `msp.SerializedIdentity{mspid, id_bytes = raw 32-byte Ed25519 public key}`,
//! its PKI-ID is SHA-256(mspid ‖ id_bytes), its organization is the MSP ID, and a signature is
//! Ed25519 over the exact bytes given. Fabric's `internal/peer/gossip/mcs.go` computes the PKI-ID
//! the same way, so a Fabric node fitted with an Ed25519 MSP sees the same PKI-IDs.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use sha2::{Digest, Sha256};

use super::{block, CryptoContext, CryptoError, MessageCryptoService, SecurityAdvisor};
use crate::proto::msp::SerializedIdentity;
use crate::sync::RwLockExt;
use crate::types::{OrgId, PkiId};

/// Name of the file, in the MSP directory, that holds this peer's Ed25519 seed (64 hex digits).
pub const SEED_FILE: &str = "ed25519.seed";

/// Encodes `msp.SerializedIdentity{mspid, id_bytes = public_key}`.
pub fn serialize_identity(mspid: &str, public_key: &[u8; 32]) -> Vec<u8> {
    SerializedIdentity {
        mspid: mspid.to_string(),
        id_bytes: public_key.to_vec(),
    }
    .encode_to_vec()
}

/// Decodes a serialized identity without judging the key inside it.
/// Fails on undecodable bytes and on an empty MSP ID (no organization to route by).
pub fn decode_identity(identity: &[u8]) -> Result<SerializedIdentity, CryptoError> {
    if identity.is_empty() {
        return Err(CryptoError::MalformedIdentity("empty identity".into()));
    }
    let sid = SerializedIdentity::decode(identity)
        .map_err(|e| CryptoError::MalformedIdentity(format!("not a SerializedIdentity: {e}")))?;
    if sid.mspid.is_empty() {
        return Err(CryptoError::MalformedIdentity("empty mspid".into()));
    }
    Ok(sid)
}

/// Fabric's PKI-ID of a serialized identity: SHA-256(mspid ‖ id_bytes).
/// Works for any `id_bytes` (X.509 certificates included), not only Ed25519 keys.
pub fn pki_id_of_identity(identity: &[u8]) -> Result<PkiId, CryptoError> {
    let sid = decode_identity(identity)?;
    let mut h = Sha256::new();
    h.update(sid.mspid.as_bytes());
    h.update(&sid.id_bytes);
    Ok(PkiId(h.finalize().to_vec()))
}

/// The Ed25519 public key inside `id_bytes`, refusing anything that is not a usable key
/// (wrong length, not a curve point, or a small-order point that any signature would match).
pub fn verifying_key(id_bytes: &[u8]) -> Result<VerifyingKey, CryptoError> {
    let raw: [u8; 32] = id_bytes.try_into().map_err(|_| {
        CryptoError::MalformedIdentity(format!(
            "id_bytes is {} bytes, an Ed25519 public key is 32",
            id_bytes.len()
        ))
    })?;
    let key = VerifyingKey::from_bytes(&raw)
        .map_err(|_| CryptoError::MalformedIdentity("id_bytes is not an Ed25519 point".into()))?;
    if key.is_weak() {
        return Err(CryptoError::MalformedIdentity(
            "id_bytes is a small-order Ed25519 point".into(),
        ));
    }
    Ok(key)
}

/// Checks an Ed25519 signature strictly (canonical encodings only, no weak keys).
pub fn verify_signature(
    key: &VerifyingKey,
    signature: &[u8],
    msg: &[u8],
) -> Result<(), CryptoError> {
    let sig = Signature::from_slice(signature).map_err(|_| CryptoError::BadSignature)?;
    key.verify_strict(msg, &sig)
        .map_err(|_| CryptoError::BadSignature)
}

/// Parses 64 hex digits (surrounding whitespace allowed) into an Ed25519 seed.
pub fn parse_seed_hex(text: &str) -> io::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("Ed25519 seed is not hex: {e}"),
        )
    })?;
    bytes.as_slice().try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("Ed25519 seed has {} bytes, expected 32", bytes.len()),
        )
    })
}

/// Reads this peer's seed from `dir/ed25519.seed`, or creates it (random from the OS,
/// file mode 0600) when it does not exist yet. `dir` is created if needed.
pub fn load_or_generate_seed(dir: &Path) -> io::Result<[u8; 32]> {
    let path = dir.join(SEED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return parse_seed_hex(&text)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {}", path.display(), e)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("{}: {}", path.display(), e),
            ))
        }
    }
    std::fs::create_dir_all(dir)?;

    let mut seed = [0u8; 32];
    rand::RngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut seed)
        .map_err(|e| io::Error::other(format!("OS random source failed: {e}")))?;

    // Write a private temporary file, then link it into place: a crash never leaves a
    // half-written seed, and of two processes racing, both end up with the same seed.
    let tmp = dir.join(format!("{SEED_FILE}.tmp-{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(hex::encode(seed).as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(seed),
        // Someone else created it first: theirs wins.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            parse_seed_hex(&std::fs::read_to_string(&path)?)
        }
        Err(e) => Err(e),
    }
}

/// What the peer trusts; changed at run time as channels are joined.
#[derive(Default)]
struct Trust {
    /// Orgs from the config (and our own).
    orgs: HashSet<OrgId>,
    /// Channel name → member orgs. Channel orgs are trusted as well.
    channels: HashMap<String, HashSet<OrgId>>,
    /// Channel name → orderer public keys checked by `verify_block`.
    orderer_keys: HashMap<String, Vec<[u8; 32]>>,
}

impl Trust {
    fn trusts(&self, org: &str) -> bool {
        self.orgs.contains(org) || self.channels.values().any(|orgs| orgs.contains(org))
    }
}

/// What the built-in crypto has done and refused, for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CryptoCounters {
    pub signatures_made: u64,
    pub signatures_verified: u64,
    /// Bad signatures, undecodable identities and non-members in `verify`/`verify_by_channel`.
    pub signatures_rejected: u64,
    /// Identities refused by `validate_identity`.
    pub identities_rejected: u64,
    pub blocks_verified: u64,
    pub blocks_rejected: u64,
}

#[derive(Default)]
struct Counters {
    signatures_made: AtomicU64,
    signatures_verified: AtomicU64,
    signatures_rejected: AtomicU64,
    identities_rejected: AtomicU64,
    blocks_verified: AtomicU64,
    blocks_rejected: AtomicU64,
}

/// Counts the outcome of `r` in `ok` or `err`, passing it through.
fn tally<T, E>(r: Result<T, E>, ok: &AtomicU64, err: &AtomicU64) -> Result<T, E> {
    match &r {
        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
        Err(_) => err.fetch_add(1, Ordering::Relaxed),
    };
    r
}

/// The built-in `MessageCryptoService` and `SecurityAdvisor`.
pub struct Ed25519Crypto {
    mspid: String,
    key: SigningKey,
    identity: Vec<u8>,
    trust: RwLock<Trust>,
    counters: Counters,
}

impl std::fmt::Debug for Ed25519Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the signing key.
        f.debug_struct("Ed25519Crypto")
            .field("mspid", &self.mspid)
            .field("public_key", &hex::encode(self.public_key()))
            .finish()
    }
}

impl Ed25519Crypto {
    /// A peer of `mspid` (non-empty) signing with the key derived from `seed`. Its own org
    /// is always trusted, in addition to `trusted_orgs`.
    pub fn new(mspid: String, seed: [u8; 32], trusted_orgs: Vec<String>) -> Arc<Self> {
        let key = SigningKey::from_bytes(&seed);
        let identity = serialize_identity(&mspid, &key.verifying_key().to_bytes());
        let mut trust = Trust::default();
        trust.orgs.extend(trusted_orgs);
        trust.orgs.insert(mspid.clone());
        Arc::new(Ed25519Crypto {
            mspid,
            key,
            identity,
            trust: RwLock::new(trust),
            counters: Counters::default(),
        })
    }

    /// The peer's crypto from its config: the seed is `identity_seed_hex` (`fabgossip.identitySeed`,
    /// 64 hex digits) when non-empty, else the seed file in `msp_dir` (created on first start).
    pub fn open(
        mspid: &str,
        msp_dir: &Path,
        identity_seed_hex: &str,
        trusted_orgs: Vec<String>,
    ) -> io::Result<Arc<Self>> {
        if mspid.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "localMspId is empty",
            ));
        }
        let seed = if identity_seed_hex.trim().is_empty() {
            load_or_generate_seed(msp_dir)?
        } else {
            parse_seed_hex(identity_seed_hex)
                .map_err(|e| io::Error::new(e.kind(), format!("fabgossip.identitySeed: {e}")))?
        };
        Ok(Self::new(mspid.to_string(), seed, trusted_orgs))
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> CryptoCounters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CryptoCounters {
            signatures_made: get(&c.signatures_made),
            signatures_verified: get(&c.signatures_verified),
            signatures_rejected: get(&c.signatures_rejected),
            identities_rejected: get(&c.identities_rejected),
            blocks_verified: get(&c.blocks_verified),
            blocks_rejected: get(&c.blocks_rejected),
        }
    }

    /// This peer's crypto as gossip consumes it.
    pub fn context(self: &Arc<Self>) -> CryptoContext {
        let pki_id = PkiId(pki_id_digest(
            &self.mspid,
            self.key.verifying_key().as_bytes(),
        ));
        CryptoContext {
            mcs: self.clone(),
            advisor: self.clone(),
            self_identity: self.identity.clone(),
            self_pki_id: pki_id,
            self_org: self.mspid.clone(),
        }
    }

    /// This peer's `msp.SerializedIdentity` bytes.
    pub fn serialized_identity(&self) -> Vec<u8> {
        self.identity.clone()
    }

    pub fn mspid(&self) -> &str {
        &self.mspid
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Trusts one more organization.
    pub fn add_trusted_org(&self, org: impl Into<OrgId>) {
        self.write_trust().orgs.insert(org.into());
    }

    /// Sets the member orgs of `channel` (used by `verify_by_channel`); they become trusted.
    pub fn set_channel_orgs(&self, channel: &str, orgs: Vec<OrgId>) {
        self.write_trust()
            .channels
            .insert(channel.to_string(), orgs.into_iter().collect());
    }

    /// Sets the orderer public keys whose signature `verify_block` requires on `channel`'s
    /// blocks. An empty list turns the signature check off again.
    pub fn set_orderer_keys(&self, channel: &str, keys: Vec<[u8; 32]>) {
        let mut t = self.write_trust();
        if keys.is_empty() {
            t.orderer_keys.remove(channel);
        } else {
            t.orderer_keys.insert(channel.to_string(), keys);
        }
    }

    /// Signs `block` as an orderer with this identity (for test chains and the embedded
    /// orderer), with a random 24-byte nonce as Fabric's orderers use.
    pub fn sign_block(&self, blk: &mut crate::proto::common::Block) -> Result<(), CryptoError> {
        let mut nonce = [0u8; 24];
        rand::RngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut nonce)
            .map_err(|e| CryptoError::InvalidBlock(format!("no randomness for the nonce: {e}")))?;
        let header = block::signature_header(&self.identity, &nonce);
        block::sign_block(blk, block::orderer_block_metadata(0), header, |m| {
            Ok(self.key.sign(m).to_bytes().to_vec())
        })
    }

    fn write_trust(&self) -> std::sync::RwLockWriteGuard<'_, Trust> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        self.trust.write_locked()
    }

    fn read_trust(&self) -> std::sync::RwLockReadGuard<'_, Trust> {
        self.trust.read_locked()
    }
}

fn pki_id_digest(mspid: &str, id_bytes: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(mspid.as_bytes());
    h.update(id_bytes);
    h.finalize().to_vec()
}

impl MessageCryptoService for Ed25519Crypto {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        pki_id_of_identity(identity)
    }

    fn verify_block(&self, channel: &str, seq: u64, blk: &[u8]) -> Result<(), CryptoError> {
        let keys = self
            .read_trust()
            .orderer_keys
            .get(channel)
            .cloned()
            .unwrap_or_default();
        let c = &self.counters;
        tally(
            block::verify_block(channel, seq, blk, &keys).map(|_| ()),
            &c.blocks_verified,
            &c.blocks_rejected,
        )
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.counters
            .signatures_made
            .fetch_add(1, Ordering::Relaxed);
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }

    fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        let r = decode_identity(identity)
            .and_then(|sid| verifying_key(&sid.id_bytes))
            .and_then(|key| verify_signature(&key, signature, msg));
        tally(
            r,
            &self.counters.signatures_verified,
            &self.counters.signatures_rejected,
        )
    }

    fn verify_by_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        let r = decode_identity(identity).and_then(|sid| {
            let member = self
                .read_trust()
                .channels
                .get(channel)
                .is_some_and(|orgs| orgs.contains(&sid.mspid));
            if !member {
                return Err(CryptoError::NotInChannel(channel.to_string()));
            }
            verify_signature(&verifying_key(&sid.id_bytes)?, signature, msg)
        });
        tally(
            r,
            &self.counters.signatures_verified,
            &self.counters.signatures_rejected,
        )
    }

    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        let r = decode_identity(identity).and_then(|sid| {
            verifying_key(&sid.id_bytes)?;
            if !self.read_trust().trusts(&sid.mspid) {
                return Err(CryptoError::UntrustedIdentity(format!(
                    "org {} is not trusted",
                    sid.mspid
                )));
            }
            Ok(())
        });
        if r.is_err() {
            self.counters
                .identities_rejected
                .fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        // Raw keys carry no validity period.
        decode_identity(identity).map(|_| None)
    }
}

impl SecurityAdvisor for Ed25519Crypto {
    fn org_by_peer_identity(&self, identity: &[u8]) -> Option<OrgId> {
        decode_identity(identity).ok().map(|sid| sid.mspid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(mspid: &str, n: u8, trusted: &[&str]) -> Arc<Ed25519Crypto> {
        Ed25519Crypto::new(
            mspid.to_string(),
            [n; 32],
            trusted.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let a = peer("Org1MSP", 1, &[]);
        let b = peer("Org2MSP", 2, &["Org1MSP"]);
        let sig = a.sign(b"hello").unwrap();
        b.verify(&a.serialized_identity(), &sig, b"hello").unwrap();
        assert_eq!(
            b.verify(&a.serialized_identity(), &sig, b"hellp"),
            Err(CryptoError::BadSignature)
        );
        let mut bad = sig.clone();
        bad[3] ^= 1;
        assert_eq!(
            b.verify(&a.serialized_identity(), &bad, b"hello"),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            b.verify(&a.serialized_identity(), &sig[..63], b"hello"),
            Err(CryptoError::BadSignature)
        );
        // Signed by a, claimed by b.
        assert_eq!(
            b.verify(&b.serialized_identity(), &sig, b"hello"),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn validate_identity_rules() {
        let a = peer("Org1MSP", 1, &["Org2MSP"]);
        let org2 = peer("Org2MSP", 2, &[]).serialized_identity();
        let org3 = peer("Org3MSP", 3, &[]).serialized_identity();
        a.validate_identity(&a.serialized_identity()).unwrap();
        a.validate_identity(&org2).unwrap();
        assert!(matches!(
            a.validate_identity(&org3),
            Err(CryptoError::UntrustedIdentity(_))
        ));
        a.add_trusted_org("Org3MSP");
        a.validate_identity(&org3).unwrap();

        let short = serialize_identity_raw("Org1MSP", &[7; 31]);
        assert!(matches!(
            a.validate_identity(&short),
            Err(CryptoError::MalformedIdentity(_))
        ));
        // The identity point (a small-order key) is refused.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let weak = serialize_identity_raw("Org1MSP", &weak);
        assert!(matches!(
            a.validate_identity(&weak),
            Err(CryptoError::MalformedIdentity(_))
        ));
        assert!(matches!(
            a.validate_identity(&[0xff, 0xff]),
            Err(CryptoError::MalformedIdentity(_))
        ));
        assert!(matches!(
            a.validate_identity(&[]),
            Err(CryptoError::MalformedIdentity(_))
        ));
    }

    fn serialize_identity_raw(mspid: &str, id_bytes: &[u8]) -> Vec<u8> {
        SerializedIdentity {
            mspid: mspid.into(),
            id_bytes: id_bytes.to_vec(),
        }
        .encode_to_vec()
    }

    #[test]
    fn channel_orgs_gate_verify_by_channel_and_trust() {
        let a = peer("Org1MSP", 1, &[]);
        let c = peer("Org3MSP", 3, &[]);
        let sig = c.sign(b"m").unwrap();
        let id = c.serialized_identity();
        assert_eq!(
            a.verify_by_channel("ch", &id, &sig, b"m"),
            Err(CryptoError::NotInChannel("ch".into()))
        );
        assert!(a.validate_identity(&id).is_err());
        a.set_channel_orgs("ch", vec!["Org1MSP".into(), "Org3MSP".into()]);
        a.verify_by_channel("ch", &id, &sig, b"m").unwrap();
        a.validate_identity(&id).unwrap();
        assert_eq!(
            a.verify_by_channel("other", &id, &sig, b"m"),
            Err(CryptoError::NotInChannel("other".into()))
        );
        assert_eq!(
            a.verify_by_channel("ch", &id, &sig, b"x"),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn context_and_advisor() {
        let a = peer("Org1MSP", 1, &[]);
        let ctx = a.context();
        assert_eq!(ctx.self_org, "Org1MSP");
        assert_eq!(ctx.self_pki_id, a.pki_id_of(&ctx.self_identity).unwrap());
        assert_eq!(ctx.self_pki_id.0.len(), 32);
        assert_eq!(
            a.org_by_peer_identity(&ctx.self_identity).as_deref(),
            Some("Org1MSP")
        );
        assert_eq!(a.org_by_peer_identity(b"\xff\xff"), None);
        assert_eq!(a.expiration(&ctx.self_identity), Ok(None));
        assert!(a.expiration(b"").is_err());
        // Checked against the trait object too.
        let via = CryptoContext::new(
            ctx.mcs.clone(),
            ctx.advisor.clone(),
            ctx.self_identity.clone(),
        )
        .unwrap();
        assert_eq!(via.self_pki_id, ctx.self_pki_id);
    }

    #[test]
    fn seed_file_is_created_private_and_reused() {
        let dir = std::env::temp_dir().join(format!(
            "fg-seed-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let s1 = load_or_generate_seed(&dir.join("msp")).unwrap();
        let s2 = load_or_generate_seed(&dir.join("msp")).unwrap();
        assert_eq!(s1, s2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("msp").join(SEED_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.join("msp").join(SEED_FILE), "abcd").unwrap();
        let err = load_or_generate_seed(&dir.join("msp")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("expected 32"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn counters_count_outcomes() {
        let a = peer("Org1MSP", 1, &[]);
        let sig = a.sign(b"m").unwrap();
        a.verify(&a.serialized_identity(), &sig, b"m").unwrap();
        let _ = a.verify(&a.serialized_identity(), &sig, b"x");
        let _ = a.verify(b"\xff", &sig, b"m");
        let _ = a.verify_by_channel("none", &a.serialized_identity(), &sig, b"m");
        let _ = a.validate_identity(&peer("Org7MSP", 7, &[]).serialized_identity());
        let _ = a.verify_block("ch", 1, b"\xff");
        let c = a.counters();
        assert_eq!(
            c,
            CryptoCounters {
                signatures_made: 1,
                signatures_verified: 1,
                signatures_rejected: 3,
                identities_rejected: 1,
                blocks_verified: 0,
                blocks_rejected: 1,
            }
        );
    }

    #[test]
    fn open_prefers_the_configured_seed() {
        let dir = std::env::temp_dir().join(format!("fg-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let fixed = Ed25519Crypto::open("Org1MSP", &dir, &"11".repeat(32), vec![]).unwrap();
        assert_eq!(fixed.public_key(), peer("Org1MSP", 0x11, &[]).public_key());
        assert!(
            !dir.join(SEED_FILE).exists(),
            "a configured seed writes no file"
        );
        let generated = Ed25519Crypto::open("Org1MSP", &dir, "", vec![]).unwrap();
        let again = Ed25519Crypto::open("Org1MSP", &dir, "  ", vec![]).unwrap();
        assert_eq!(generated.public_key(), again.public_key());
        assert!(Ed25519Crypto::open("", &dir, "", vec![]).is_err());
        let bad = Ed25519Crypto::open("Org1MSP", &dir, "xyz", vec![]).unwrap_err();
        assert!(bad.to_string().contains("identitySeed"), "{bad}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parse_seed_hex_accepts_only_32_bytes() {
        assert_eq!(
            parse_seed_hex(&format!(" {}\n", "ab".repeat(32))).unwrap(),
            [0xab; 32]
        );
        assert!(parse_seed_hex("zz").is_err());
        assert!(parse_seed_hex(&"ab".repeat(33)).is_err());
    }
}
