//! Fabric's MSP as gossip's `MessageCryptoService` and `SecurityAdvisor`, as a Fabric peer's
//! `MSPMessageCryptoService` answers: sign with the local signing identity; an identity is
//! valid when the local MSP (for the local org) or one of the joined channels' MSPs validates
//! it; org = mspid; PKI-ID = SHA-256(mspid ‖ id_bytes); expiration = the certificate's NotAfter.
//!
//! Channels: each joined channel gets its MSPs (an [`MspManager`]) and, optionally, its
//! policies ([`ChannelPolicies`]: the Readers policy for `verify_by_channel`, BlockValidation
//! for `verify_block`), both from the channel's config. Until a channel has a policy checker,
//! `verify_by_channel` requires the signer to validate under one of the channel's MSPs; until a
//! channel has MSPs at all, under the local MSP or any joined channel's MSPs. `verify_block`
//! always checks the block's structure and data hash, and the BlockValidation policy when set.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use prost::Message;

use super::ed25519::CryptoCounters;
use super::{block, CryptoContext, CryptoError, MessageCryptoService, SecurityAdvisor};
use crate::msp::{pki_id, Identity, LocalMsp, Msp, MspError, MspManager, SigningIdentity};
use crate::proto::msp::SerializedIdentity;
use crate::sync::RwLockExt;
use crate::types::{OrgId, PkiId};

/// A channel's policies, evaluated by the channel-config part over the channel's MSPs.
pub trait ChannelPolicies: Send + Sync + 'static {
    /// The channel's Readers policy over one signed message.
    fn readers(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError>;
    /// The channel's Readers policy over a signer whose identity was validated and whose
    /// signature was verified by the caller: no signature is checked again.
    fn readers_of_verified(&self, identity: &[u8]) -> Result<(), CryptoError>;
    /// The channel's BlockValidation policy over a block whose structure was checked.
    fn block_validation(&self, seq: u64, block: &[u8]) -> Result<(), CryptoError>;
}

/// What the crypto knows of one joined channel.
#[derive(Clone)]
pub struct ChannelMsps {
    pub msps: MspManager,
    pub policies: Option<Arc<dyn ChannelPolicies>>,
}

/// Why the MSP crypto refused an identity, a signature or a block: the `reason` label of
/// the `fabgossip_msp_*` metrics. The first ones are [`MspError::reason`]'s.
pub const REFUSAL_REASONS: [&str; 14] = [
    "malformed",
    "unknown_msp",
    "unknown_ca",
    "expired",
    "not_yet_valid",
    "revoked",
    "wrong_role",
    "invalid",
    "bad_signature",
    "principal",
    "config",
    "not_in_channel",
    "bad_block",
    "policy",
];

/// What the MSP crypto checks, each with its outcomes: the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `ValidateIdentity`: chain, revocation, NodeOU role and validity period.
    Identity,
    /// `Verify` and `VerifyByChannel`: a message signature (and the channel's Readers).
    Signature,
    /// `VerifyBlock`: structure, data hash and the channel's BlockValidation policy.
    Block,
}

impl Check {
    pub const ALL: [Check; 3] = [Check::Identity, Check::Signature, Check::Block];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Identity => "identity",
            Check::Signature => "signature",
            Check::Block => "block",
        }
    }
}

/// The MSP crypto's decisions: per check, how many passed and how many were refused by
/// reason (in the order of [`REFUSAL_REASONS`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MspDecisions {
    pub passed: [u64; 3],
    pub refused: [[u64; REFUSAL_REASONS.len()]; 3],
}

impl MspDecisions {
    pub fn passed(&self, check: Check) -> u64 {
        self.passed[check as usize]
    }

    /// Refusals of `check` for `reason` (a name of [`REFUSAL_REASONS`]; 0 for another).
    pub fn refused(&self, check: Check, reason: &str) -> u64 {
        REFUSAL_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.refused[check as usize][i])
    }

    pub fn refused_total(&self, check: Check) -> u64 {
        self.refused[check as usize].iter().sum()
    }
}

/// A refusal with the reason it is counted under.
struct Refusal {
    reason: &'static str,
    err: CryptoError,
}

impl From<MspError> for Refusal {
    fn from(e: MspError) -> Self {
        Refusal {
            reason: e.reason(),
            err: crypto_err(e),
        }
    }
}

fn refusal(reason: &'static str, err: CryptoError) -> Refusal {
    Refusal { reason, err }
}

#[derive(Default)]
struct Counters {
    signatures_made: AtomicU64,
    passed: [AtomicU64; 3],
    refused: [[AtomicU64; REFUSAL_REASONS.len()]; 3],
}

impl Counters {
    fn tally<T>(&self, check: Check, r: Result<T, Refusal>) -> Result<T, CryptoError> {
        match r {
            Ok(v) => {
                self.passed[check as usize].fetch_add(1, Ordering::Relaxed);
                Ok(v)
            }
            Err(Refusal { reason, err }) => {
                let i = REFUSAL_REASONS
                    .iter()
                    .position(|r| *r == reason)
                    .unwrap_or(REFUSAL_REASONS.len() - 1);
                self.refused[check as usize][i].fetch_add(1, Ordering::Relaxed);
                Err(err)
            }
        }
    }
}

pub struct MspCrypto {
    mspid: String,
    local: Msp,
    signer: SigningIdentity,
    channels: RwLock<HashMap<String, ChannelMsps>>,
    counters: Counters,
}

impl std::fmt::Debug for MspCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MspCrypto")
            .field("mspid", &self.mspid)
            .finish()
    }
}

fn crypto_err(e: MspError) -> CryptoError {
    match e {
        MspError::Malformed(m) => CryptoError::MalformedIdentity(m),
        MspError::Expired => CryptoError::Expired,
        MspError::BadSignature(_) => CryptoError::BadSignature,
        other => CryptoError::UntrustedIdentity(other.to_string()),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl MspCrypto {
    /// The local MSP from an MSP folder (`peer.mspConfigPath`, `peer.localMspId`).
    pub fn open(msp_dir: &Path, mspid: &str) -> Result<Arc<MspCrypto>, CryptoError> {
        let local = LocalMsp::load(msp_dir, mspid, now_unix())
            .map_err(|e| CryptoError::MalformedIdentity(format!("local MSP: {e}")))?;
        Ok(Self::new(local))
    }

    pub fn new(local: LocalMsp) -> Arc<MspCrypto> {
        Arc::new(MspCrypto {
            mspid: local.msp.name().to_string(),
            local: local.msp,
            signer: local.signer,
            channels: RwLock::new(HashMap::new()),
            counters: Counters::default(),
        })
    }

    /// Whether `dir` is an MSP folder (it has `signcerts`), rather than the Ed25519 default's.
    pub fn is_msp_folder(dir: &Path) -> bool {
        dir.join("signcerts").is_dir()
    }

    /// This peer's crypto as gossip consumes it.
    pub fn context(self: &Arc<Self>) -> Result<CryptoContext, CryptoError> {
        CryptoContext::new(
            self.clone(),
            self.clone(),
            self.signer.serialized().to_vec(),
        )
    }

    pub fn serialized_identity(&self) -> &[u8] {
        self.signer.serialized()
    }

    /// Sets (or replaces, on a config update) a joined channel's MSPs and policies.
    pub fn set_channel(&self, channel: &str, msps: ChannelMsps) {
        self.write_channels().insert(channel.to_string(), msps);
    }

    /// What the crypto holds for `channel`, to put back when a reconfiguration fails.
    pub fn channel(&self, channel: &str) -> Option<ChannelMsps> {
        self.read_channels().get(channel).cloned()
    }

    /// Forgets a left channel.
    pub fn remove_channel(&self, channel: &str) {
        self.write_channels().remove(channel);
    }

    pub fn counters(&self) -> CryptoCounters {
        let d = self.decisions();
        CryptoCounters {
            signatures_made: self.counters.signatures_made.load(Ordering::Relaxed),
            signatures_verified: d.passed(Check::Signature),
            signatures_rejected: d.refused_total(Check::Signature),
            identities_rejected: d.refused_total(Check::Identity),
            blocks_verified: d.passed(Check::Block),
            blocks_rejected: d.refused_total(Check::Block),
        }
    }

    /// Every decision so far, by check and reason.
    pub fn decisions(&self) -> MspDecisions {
        let c = &self.counters;
        let mut d = MspDecisions::default();
        for k in 0..3 {
            d.passed[k] = c.passed[k].load(Ordering::Relaxed);
            for (o, a) in d.refused[k].iter_mut().zip(&c.refused[k]) {
                *o = a.load(Ordering::Relaxed);
            }
        }
        d
    }

    fn write_channels(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, ChannelMsps>> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        self.channels.write_locked()
    }

    fn read_channels(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ChannelMsps>> {
        self.channels.read_locked()
    }

    /// Fabric's `getValidatedIdentity`: the local MSP for the local org, else the first
    /// joined channel whose MSPs validate the identity.
    fn validated(&self, identity: &[u8]) -> Result<Identity, Refusal> {
        let sid = SerializedIdentity::decode(identity)
            .map_err(|e| MspError::Malformed(format!("not a SerializedIdentity: {e}")))?;
        Msp::is_well_formed(&sid.id_bytes)?;
        if sid.mspid == self.mspid {
            let id = self.local.deserialize_id_bytes(&sid.id_bytes)?;
            self.local.validate(&id)?;
            return Ok(id);
        }
        let channels = self.read_channels();
        let mut last = None;
        for ch in channels.values() {
            match ch.msps.validate(identity) {
                Ok(id) => return Ok(id),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => e.into(),
            None => refusal(
                "unknown_msp",
                CryptoError::UntrustedIdentity(format!(
                    "no MSP of a joined channel knows {}",
                    sid.mspid
                )),
            ),
        })
    }

    /// Validates `identity` and checks `signature` over `msg` once. With the channel's
    /// policies, the Readers policy is then evaluated over the verified signer: its
    /// signature is not verified a second time.
    fn verify_in_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), Refusal> {
        let ch = self.read_channels().get(channel).cloned();
        let Some(ch) = ch else {
            let id = self.validated(identity)?;
            return Ok(id.verify(msg, signature)?);
        };
        let id = ch.msps.validate(identity).map_err(|e| match e {
            MspError::UnknownMsp(_) => refusal(
                "not_in_channel",
                CryptoError::NotInChannel(channel.to_string()),
            ),
            e => e.into(),
        })?;
        id.verify(msg, signature)?;
        if let Some(p) = &ch.policies {
            p.readers_of_verified(identity)
                .map_err(|e| refusal("not_in_channel", e))?;
        }
        Ok(())
    }
}

impl MessageCryptoService for MspCrypto {
    fn pki_id_of(&self, identity: &[u8]) -> Result<PkiId, CryptoError> {
        let sid = SerializedIdentity::decode(identity).map_err(|e| {
            CryptoError::MalformedIdentity(format!("not a SerializedIdentity: {e}"))
        })?;
        Ok(PkiId(pki_id(&sid.mspid, &sid.id_bytes).to_vec()))
    }

    fn verify_block(&self, channel: &str, seq: u64, blk: &[u8]) -> Result<(), CryptoError> {
        let policies = self
            .read_channels()
            .get(channel)
            .and_then(|c| c.policies.clone());
        let r = block::verify_block(channel, seq, blk, &[])
            .map_err(|e| refusal("bad_block", e))
            .and_then(|_| match policies {
                Some(p) => p
                    .block_validation(seq, blk)
                    .map_err(|e| refusal("policy", e)),
                None => Ok(()),
            });
        self.counters.tally(Check::Block, r)
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.counters
            .signatures_made
            .fetch_add(1, Ordering::Relaxed);
        self.signer
            .sign(msg)
            .map_err(|e| CryptoError::Host(format!("signing with the local MSP: {e}")))
    }

    fn verify(&self, identity: &[u8], signature: &[u8], msg: &[u8]) -> Result<(), CryptoError> {
        let r = self
            .validated(identity)
            .and_then(|id| Ok(id.verify(msg, signature)?));
        self.counters.tally(Check::Signature, r)
    }

    fn verify_by_channel(
        &self,
        channel: &str,
        identity: &[u8],
        signature: &[u8],
        msg: &[u8],
    ) -> Result<(), CryptoError> {
        let r = self.verify_in_channel(channel, identity, signature, msg);
        self.counters.tally(Check::Signature, r)
    }

    /// Fabric's `ValidateIdentity`, and the certificate is within its validity period now:
    /// Fabric's identity mapper refuses an expired identity at the same point.
    fn validate_identity(&self, identity: &[u8]) -> Result<(), CryptoError> {
        let r = self.validated(identity).and_then(|id| {
            let now = now_unix();
            if now < id.cert.not_before {
                return Err(MspError::NotYetValid.into());
            }
            if now > id.cert.not_after {
                return Err(MspError::Expired.into());
            }
            Ok(())
        });
        self.counters.tally(Check::Identity, r)
    }

    fn expiration(&self, identity: &[u8]) -> Result<Option<SystemTime>, CryptoError> {
        self.validated(identity)
            .map(|id| Some(id.expires_at()))
            .map_err(|r| r.err)
    }

    fn as_msp(&self) -> Option<&MspCrypto> {
        Some(self)
    }
}

impl SecurityAdvisor for MspCrypto {
    fn org_by_peer_identity(&self, identity: &[u8]) -> Option<OrgId> {
        SerializedIdentity::decode(identity)
            .ok()
            .map(|sid| sid.mspid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msp::test_pki::*;
    use crate::proto::msp::SigningIdentityInfo;

    struct Org {
        ca: Ca,
        crypto: Arc<MspCrypto>,
    }

    fn org(mspid: &str) -> Org {
        let ca = root(&format!("ca.{mspid}"));
        let me = leaf(&ca, "peer0", &["peer"], 1);
        let mut conf = config(mspid, &[&ca], &[]);
        conf.signing_identity = Some(SigningIdentityInfo {
            public_signer: me.pem.clone().into_bytes(),
            private_signer: None,
        });
        let local = LocalMsp::new(conf, me.key, now_unix()).unwrap();
        Org {
            ca,
            crypto: MspCrypto::new(local),
        }
    }

    #[test]
    fn signs_and_verifies_within_the_org_and_across_after_join() {
        let a = org("Org1MSP");
        let b = org("Org2MSP");
        let ctx = a.crypto.context().unwrap();
        assert_eq!(ctx.self_org, "Org1MSP");
        let sig = a.crypto.sign(b"alive").unwrap();
        a.crypto
            .verify(a.crypto.serialized_identity(), &sig, b"alive")
            .unwrap();
        assert!(a
            .crypto
            .verify(a.crypto.serialized_identity(), &sig, b"other")
            .is_err());
        // Org2 knows nothing of Org1 until they share a channel.
        assert!(b
            .crypto
            .validate_identity(a.crypto.serialized_identity())
            .is_err());
        assert!(b
            .crypto
            .verify(a.crypto.serialized_identity(), &sig, b"alive")
            .is_err());
        let msps = MspManager::from_configs(&[
            config("Org1MSP", &[&a.ca], &[]),
            config("Org2MSP", &[&b.ca], &[]),
        ])
        .unwrap();
        b.crypto.set_channel(
            "ch1",
            ChannelMsps {
                msps,
                policies: None,
            },
        );
        b.crypto
            .validate_identity(a.crypto.serialized_identity())
            .unwrap();
        b.crypto
            .verify(a.crypto.serialized_identity(), &sig, b"alive")
            .unwrap();
        b.crypto
            .verify_by_channel("ch1", a.crypto.serialized_identity(), &sig, b"alive")
            .unwrap();
        let exp = b.crypto.expiration(a.crypto.serialized_identity()).unwrap();
        assert!(exp.unwrap() > SystemTime::now());
        assert_eq!(
            b.crypto.pki_id_of(a.crypto.serialized_identity()).unwrap(),
            ctx.self_pki_id
        );
        assert_eq!(b.crypto.counters().identities_rejected, 1);
        b.crypto.remove_channel("ch1");
        assert!(b
            .crypto
            .validate_identity(a.crypto.serialized_identity())
            .is_err());
    }

    #[test]
    fn channel_refuses_orgs_it_does_not_have_and_asks_its_policies() {
        struct OnlyOrg2;
        impl ChannelPolicies for OnlyOrg2 {
            fn readers(&self, identity: &[u8], _: &[u8], _: &[u8]) -> Result<(), CryptoError> {
                self.readers_of_verified(identity)
            }
            fn readers_of_verified(&self, identity: &[u8]) -> Result<(), CryptoError> {
                match SerializedIdentity::decode(identity) {
                    Ok(s) if s.mspid == "Org2MSP" => Ok(()),
                    _ => Err(CryptoError::NotInChannel("readers".into())),
                }
            }
            fn block_validation(&self, _: u64, _: &[u8]) -> Result<(), CryptoError> {
                Err(CryptoError::InvalidBlock("no orderer signature".into()))
            }
        }
        let a = org("Org1MSP");
        let b = org("Org2MSP");
        let sig = a.crypto.sign(b"m").unwrap();
        let only_b = MspManager::from_configs(&[config("Org2MSP", &[&b.ca], &[])]).unwrap();
        b.crypto.set_channel(
            "ch",
            ChannelMsps {
                msps: only_b,
                policies: None,
            },
        );
        assert_eq!(
            b.crypto
                .verify_by_channel("ch", a.crypto.serialized_identity(), &sig, b"m")
                .unwrap_err(),
            CryptoError::NotInChannel("ch".into())
        );
        let both = MspManager::from_configs(&[
            config("Org1MSP", &[&a.ca], &[]),
            config("Org2MSP", &[&b.ca], &[]),
        ])
        .unwrap();
        b.crypto.set_channel(
            "ch",
            ChannelMsps {
                msps: both,
                policies: Some(Arc::new(OnlyOrg2)),
            },
        );
        assert!(b
            .crypto
            .verify_by_channel("ch", a.crypto.serialized_identity(), &sig, b"m")
            .is_err());
        let own = b.crypto.sign(b"m").unwrap();
        b.crypto
            .verify_by_channel("ch", b.crypto.serialized_identity(), &own, b"m")
            .unwrap();
        assert!(b.crypto.verify_block("ch", 0, b"\x00").is_err());
    }

    #[test]
    fn decisions_are_counted_by_check_and_reason() {
        let a = org("Org1MSP");
        let b = org("Org2MSP");
        let mut conf = config("Org1MSP", &[&a.ca], &[]);
        conf.revocation_list = vec![crl(&a.ca, &[77])];
        b.crypto.set_channel(
            "ch",
            ChannelMsps {
                msps: MspManager::from_configs(&[conf, config("Org2MSP", &[&b.ca], &[])]).unwrap(),
                policies: None,
            },
        );
        let c = &b.crypto;
        let good = leaf(&a.ca, "peer1", &["peer"], 70);
        let expired = leaf_with(&a.ca, "old", &["peer"], 71, (2021, 2022), false);
        let future = leaf_with(&a.ca, "new", &["peer"], 72, (2085, 2089), false);
        let no_role = leaf(&a.ca, "nobody", &["finance"], 73);
        let revoked = leaf(&a.ca, "gone", &["peer"], 77);
        let stranger = leaf(&root("ca.other"), "peer0", &["peer"], 74);
        c.validate_identity(&sid("Org1MSP", &good.pem)).unwrap();
        for (pem, mspid, reason) in [
            (&expired.pem, "Org1MSP", "expired"),
            (&future.pem, "Org1MSP", "not_yet_valid"),
            (&no_role.pem, "Org1MSP", "wrong_role"),
            (&revoked.pem, "Org1MSP", "revoked"),
            (&stranger.pem, "Org1MSP", "unknown_ca"),
            (&good.pem, "Org9MSP", "unknown_msp"),
        ] {
            c.validate_identity(&sid(mspid, pem)).unwrap_err();
            assert_eq!(
                c.decisions().refused(Check::Identity, reason),
                1,
                "{reason}"
            );
        }
        c.validate_identity(b"\xff\xff").unwrap_err();
        let d = c.decisions();
        assert_eq!(d.refused(Check::Identity, "malformed"), 1);
        assert_eq!(d.passed(Check::Identity), 1);
        assert_eq!(d.refused_total(Check::Identity), 7);

        let id = sid("Org1MSP", &good.pem);
        let sig = good.key.sign_message(b"m").unwrap();
        c.verify_by_channel("ch", &id, &sig, b"m").unwrap();
        c.verify_by_channel("ch", &id, &sig, b"other").unwrap_err();
        c.verify_by_channel("ch", &sid("Org9MSP", &good.pem), &sig, b"m")
            .unwrap_err();
        c.verify_block("ch", 1, b"\xff").unwrap_err();
        let d = c.decisions();
        assert_eq!(d.passed(Check::Signature), 1);
        assert_eq!(d.refused(Check::Signature, "bad_signature"), 1);
        assert_eq!(d.refused(Check::Signature, "not_in_channel"), 1);
        assert_eq!(d.refused(Check::Block, "bad_block"), 1);
        assert_eq!(c.counters().signatures_rejected, 2);
    }
}
